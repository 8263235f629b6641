//! A reload reaches every part of the daemon (regressions): the prompt set and the bearer
//! token of `/v1/usage`, and alert deliveries still being retried when the generation swaps.
//! (Warm-ups across a reload are in `warmup`.)

use std::time::Duration;

use crate::daemon::{metric, post, write_config, Alertmanager, Running};
use crate::support::{free_port, scratch};

const SONNET: &str = r#"{"prompt": "PROMPT", "provider": "anthropic", "usage": {"input_tokens": 7, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}}"#;

fn record(prompt: &str) -> String {
    format!("[{}]", SONNET.replace("PROMPT", prompt))
}

#[test]
fn a_reload_reaches_ingest_and_keeps_alerts_in_retry() {
    let d = scratch();
    let am_port = free_port();
    std::fs::write(d.path().join("ingest.token"), "old-token\n").unwrap();
    write_config(
        d.path(),
        &["openai/o200k_base"],
        &format!(
            "watch_interval_secs = 3600\nschedule = \"0 0 * * * *\"\ningest_token_file = \"ingest.token\"\nalertmanager_url = \"http://127.0.0.1:{am_port}\""
        ),
        |c| c,
    );
    let mut r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let url = format!("http://{}/v1/usage", r.addr);
    let m = |r: &Running, key: &str| metric(&r.get("/metrics").1, key).unwrap_or(0.0);

    // Reload 1: a prompt edit changes a fingerprint; its alert goes to an Alertmanager that is
    // not up yet, so the delivery is retrying.
    crate::support::edit_hermes_prompt(d.path());
    r.hup();
    r.wait_until("a failed delivery", |r| {
        m(
            r,
            "prefix_warden_alert_deliveries_total{sink=\"alertmanager\",result=\"failure\"}",
        ) >= 1.0
    });

    // Reload 2, while that delivery is retrying: a new prompt and a rotated token.
    let yaml = std::fs::read_to_string(d.path().join("prompts/cline-hermes-4.yaml")).unwrap();
    std::fs::write(
        d.path().join("prompts/added-later.yaml"),
        yaml.replace("id: cline-hermes-4", "id: added-later"),
    )
    .unwrap();
    assert_eq!(post(&url, &record("added-later"), Some("old-token")).0, 200);
    let unregistered = "prefix_warden_cache_read_tokens_total{prompt=\"unregistered\",provider=\"anthropic\",source=\"traffic\"}";
    assert_eq!(m(&r, unregistered), 100.0, "not registered yet");
    std::fs::write(d.path().join("ingest.token"), "new-token\n").unwrap();
    r.hup();
    r.wait_log(
        |l| l.contains("config reloaded") && l.contains("\"generation\":3"),
        Duration::from_secs(60),
    );

    assert_eq!(
        post(&url, &record("added-later"), Some("old-token")).0,
        401,
        "the old token is revoked"
    );
    let (code, body) = post(&url, &record("added-later"), Some("new-token"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        m(&r, "prefix_warden_cache_read_tokens_total{prompt=\"added-later\",provider=\"anthropic\",source=\"traffic\"}"),
        100.0,
        "a prompt added by a reload is counted under its id"
    );
    assert_eq!(m(&r, unregistered), 100.0);

    // Alertmanager comes up: the delivery begun before reload 2 arrives.
    let am = Alertmanager::start_on(am_port);
    r.wait_until("the alert in Alertmanager", |_| {
        am.alerts().iter().any(|a| {
            a["labels"]["alertname"] == "PromptFingerprintChanged"
                && a["labels"]["prompt"] == "cline-hermes-4"
        })
    });
    assert!(
        m(
            &r,
            "prefix_warden_alert_deliveries_total{sink=\"alertmanager\",result=\"success\"}"
        ) >= 1.0
    );
    assert_eq!(
        m(
            &r,
            "prefix_warden_alert_deliveries_total{sink=\"alertmanager\",result=\"dropped\"}"
        ),
        0.0
    );
}

/// Issue: an Alertmanager down for longer than the delivery retries lost the alert. Firing
/// alerts are now re-sent until they expire, as Prometheus does.
#[test]
fn an_alertmanager_down_for_a_while_gets_the_alert_when_it_is_back() {
    let d = scratch();
    let am_port = free_port();
    write_config(
        d.path(),
        &["openai/o200k_base"],
        &format!(
            "watch_interval_secs = 3600\nschedule = \"0 0 * * * *\"\nalert_resend_secs = 1\nalertmanager_url = \"http://127.0.0.1:{am_port}\""
        ),
        |c| c,
    );
    let mut r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    crate::support::edit_hermes_prompt(d.path());
    r.hup();
    // Every retry of the first delivery fails.
    r.wait_log(
        |l| l.contains("alert not delivered yet"),
        Duration::from_secs(60),
    );
    let am = Alertmanager::start_on(am_port);
    r.wait_until("the alert in Alertmanager", |_| {
        am.alerts().iter().any(|a| {
            a["labels"]["alertname"] == "PromptFingerprintChanged"
                && a["labels"]["prompt"] == "cline-hermes-4"
        })
    });
    let m = r.get("/metrics").1;
    assert_eq!(
        metric(
            &m,
            "prefix_warden_alert_deliveries_total{sink=\"alertmanager\",result=\"dropped\"}"
        ),
        Some(0.0)
    );
    assert!(
        metric(
            &m,
            "prefix_warden_alert_deliveries_total{sink=\"alertmanager\",result=\"failure\"}"
        )
        .unwrap()
            >= 6.0
    );
}
