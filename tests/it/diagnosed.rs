//! Fidelity of the miss reasons (issue #21) on `examples/logs/diagnosed.jsonl.gz`: two agents'
//! conversations with injected causes (system edit, tool reorder, model switch, idle gap past
//! the TTL, an edited message, a new `prompt_cache_key`), answered by `prefix emulate` with both
//! providers' diagnostics (`scripts/gen_diagnosed_logs.py`). Three views must agree: what the
//! emulator reported (the log is checked against a fresh emulator), what `simulate` predicts, and
//! what the daemon counts when the same responses reach `/v1/usage`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::daemon::{metric, post, write_config, Running};
use crate::support::*;

fn log() -> std::path::PathBuf {
    root().join("examples/logs/diagnosed.jsonl.gz")
}

fn lines() -> Vec<Value> {
    let text =
        String::from_utf8(prefix_warden::tokenizer::read_maybe_gzip(&log()).unwrap()).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The response a line carries, and its provider for `/v1/usage`.
fn response(v: &Value) -> (&Value, &'static str) {
    match v.get("result") {
        Some(r) => (&r["message"], "anthropic"),
        None => (&v["response"]["body"], "openai-responses"),
    }
}

#[test]
fn the_example_log_is_what_the_emulator_answers() {
    let o = std::process::Command::new("python3")
        .arg(root().join("scripts/gen_diagnosed_logs.py"))
        .arg("--check")
        .arg("--prefix")
        .arg(env!("CARGO_BIN_EXE_prefix"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn simulate_predicts_the_reasons_the_providers_report() {
    let d = crate::discover::claude_served();
    for (model, agree, not_compared, causes) in [
        (
            "anthropic/claude-sonnet-4-6",
            12,
            2,
            &[
                "first_request",
                "system_changed",
                "tools_changed",
                "model_changed",
                "ttl_expired",
                "messages_changed",
            ][..],
        ),
        (
            "openai/gpt-5.6",
            9,
            1,
            &[
                "first_request",
                "system_changed",
                "tools_changed",
                "model_changed",
                "cache_key_changed",
                "ttl_expired",
            ][..],
        ),
    ] {
        let o = run_in(
            d.path(),
            &[
                "simulate",
                "--model",
                model,
                "--per-request",
                "--format",
                "json",
                log().to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        let r = &v["reasons"];
        assert_eq!(r["disagree"], 0, "{model}: {r:#}");
        assert_eq!(r["agree"], agree, "{model}: {r:#}");
        assert_eq!(r["not_compared"], not_compared, "{model}: {r:#}");
        let predicted: BTreeMap<&str, u64> = r["predicted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["predicted"].as_str().unwrap(),
                    c["requests"].as_u64().unwrap(),
                )
            })
            .collect();
        for cause in causes {
            assert_eq!(
                predicted.get(cause),
                Some(&1),
                "{model}: {cause} in {predicted:?}"
            );
        }
        // Every request is listed, with the line it came from.
        let per = v["per_request_reasons"].as_array().unwrap();
        assert_eq!(per.len() as u64, predicted.values().sum::<u64>());
        // The cached tokens too: each request within 10% of what the emulator served.
        let fit = &v["requests_fit"];
        assert_eq!(fit["close"], fit["requests_with_usage"], "{model}: {fit:#}");
        // The table form says the same, without prompt text.
        let text = stdout(&run_in(
            d.path(),
            &["simulate", "--model", model, log().to_str().unwrap()],
        ));
        assert!(
            text.contains(&format!(
                "agree, 0 disagree, {not_compared} not compared by the provider"
            )),
            "{text}"
        );
        assert_no_prompt_text(&root(), &text, "simulate");
    }
}

#[test]
fn a_disagreement_is_listed_first() {
    // The same log with one diagnosis forged: the provider says the tools changed where the
    // request only grew the conversation.
    let d = crate::discover::claude_served();
    let mut text = String::new();
    let mut forged = None;
    for (i, mut v) in lines().into_iter().enumerate() {
        if forged.is_none() && v["custom_id"] == "claude-02" {
            v["result"]["message"]["diagnostics"] = serde_json::json!({"cache_miss_reason": {"type": "tools_changed", "cache_missed_input_tokens": 12600}});
            forged = Some(i + 1);
        }
        text.push_str(&v.to_string());
        text.push('\n');
    }
    let path = d.path().join("forged.jsonl");
    std::fs::write(&path, text).unwrap();
    let o = run_in(
        d.path(),
        &[
            "simulate",
            "--model",
            "anthropic/claude-sonnet-4-6",
            "--per-request",
            "--format",
            "json",
            path.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["reasons"]["disagree"], 1);
    let first = &v["reasons"]["pairs"][0];
    assert_eq!(
        (&first["predicted"], &first["reported"], &first["agrees"]),
        (
            &Value::from("hit"),
            &Value::from("tools_changed"),
            &Value::from(false)
        )
    );
    let per = &v["per_request_reasons"][0];
    assert_eq!(per["line"], forged.unwrap());
    assert_eq!(per["agrees"], false);
}

#[test]
fn discover_lint_and_the_daemon_count_the_reported_reasons_alike() {
    // What the log reports, by provider and outcome, as discover and lint read it.
    let d = crate::discover::claude_served();
    let o = run_in(
        d.path(),
        &["discover", "--format", "json", log().to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let reported: BTreeMap<(String, String), (u64, u64)> = v["read"]["reported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                (
                    r["provider"].as_str().unwrap().to_string(),
                    r["reported"].as_str().unwrap().to_string(),
                ),
                (
                    r["requests"].as_u64().unwrap(),
                    r["missed_tokens"].as_u64().unwrap(),
                ),
            )
        })
        .collect();
    let lines = lines();
    assert_eq!(
        reported.values().map(|r| r.0).sum::<u64>(),
        lines.len() as u64 - 2,
        "every line carries diagnostics but the first Responses request and the gpt-5.5 one"
    );
    for (key, n) in [
        (("anthropic", "system_changed"), 1),
        (("anthropic", "tools_changed"), 1),
        (("anthropic", "model_changed"), 2),
        (("anthropic", "messages_changed"), 1),
        (("anthropic", "no_comparison"), 1),
        (("anthropic", "unavailable"), 1),
        (("openai", "input_changed"), 1),
        (("openai", "tools_changed"), 1),
        (("openai", "model_changed"), 1),
        (("openai", "cache_key_changed"), 1),
        (("openai", "no_comparison"), 1),
    ] {
        assert_eq!(
            reported
                .get(&(key.0.to_string(), key.1.to_string()))
                .map(|r| r.0),
            Some(n),
            "{key:?} in {reported:?}"
        );
    }
    let lint = stdout(&run_in(d.path(), &["lint", log().to_str().unwrap()]));
    assert!(
        lint.contains("cache diagnostics the providers reported in the logs:"),
        "{lint}"
    );

    // The same responses, posted to the daemon as usage records.
    write_config(d.path(), &["openai/o200k_base"], "", |c| c);
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let records: Vec<Value> = lines
        .iter()
        .map(|v| {
            let (resp, provider) = response(v);
            let mut rec = serde_json::json!({"prompt": "cline-claude-sonnet-4", "provider": provider, "usage": resp["usage"]});
            for field in ["diagnostics", "prompt_cache_diagnostics"] {
                if let Some(x) = resp.get(field) {
                    rec[field] = x.clone();
                }
            }
            rec
        })
        .collect();
    let (code, body) = post(
        &format!("http://{}/v1/usage", r.addr),
        &Value::from(records).to_string(),
        None,
    );
    assert_eq!(code, 200, "{body}");
    let m = r.get("/metrics").1;
    for ((provider, outcome), (n, missed)) in &reported {
        let is_result =
            ["hit", "no_reason", "no_comparison", "unavailable"].contains(&outcome.as_str());
        if is_result {
            let series = format!(
                r#"prefix_warden_cache_diagnoses_total{{prompt="cline-claude-sonnet-4",provider="{provider}",source="traffic",result="{outcome}"}}"#
            );
            assert_eq!(metric(&m, &series), Some(*n as f64), "{series}");
        } else {
            for (family, want) in [
                ("prefix_warden_cache_misses_total", *n),
                ("prefix_warden_cache_missed_tokens_total", *missed),
            ] {
                let series = format!(
                    r#"{family}{{prompt="cline-claude-sonnet-4",provider="{provider}",source="traffic",reason="{outcome}"}}"#
                );
                assert_eq!(metric(&m, &series), Some(want as f64), "{series}");
            }
        }
    }
}
