//! Model retirement dates (data/model-lifecycle.toml): `prefix check` warns about a registered
//! or warmed model within 30 days of its date and fails past it; the shipped config uses
//! current models.

use serde_json::Value;

use crate::support::{run_in, scratch, stderr, stdout};

/// A scratch project whose Anthropic warm-up group and Cline prompt use claude-sonnet-4-5,
/// which retired on 2026-11-30.
fn with_sonnet_4_5() -> tempfile::TempDir {
    let d = scratch();
    for f in ["daemon.toml", "prompts/cline-claude-sonnet-4.yaml"] {
        let p = d.path().join(f);
        let s = std::fs::read_to_string(&p)
            .unwrap()
            .replace("claude-sonnet-4-6", "claude-sonnet-4-5");
        std::fs::write(p, s).unwrap();
    }
    d
}

#[test]
fn check_warns_within_thirty_days_and_fails_past_the_date() {
    let d = with_sonnet_4_5();
    let o = run_in(d.path(), &["check", "--today", "2026-11-15"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let warning = err
        .lines()
        .find(|l| l.contains("anthropic/claude-sonnet-4-5"))
        .unwrap_or_else(|| panic!("a warning: {err}"));
    assert!(
        warning.starts_with("warning: model `anthropic/claude-sonnet-4-5` (prompt cline-claude-sonnet-4, warmup cline-anthropic) retires on 2026-11-30 (15 day(s) left); source: https://"),
        "{warning}"
    );
    assert!(
        stdout(&o).contains("RETIRING in 15 day(s)"),
        "{}",
        stdout(&o)
    );

    let o = run_in(d.path(), &["check", "--today", "2026-12-01"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {err}");
    assert!(
        errors[0].starts_with("error: 1 retired model(s) in use: anthropic/claude-sonnet-4-5 (prompt cline-claude-sonnet-4, warmup cline-anthropic)"),
        "{err}"
    );
    assert!(stdout(&o).contains("RETIRED 1 day(s) ago"));
    // Long before the date: nothing to say.
    let o = run_in(d.path(), &["check", "--today", "2026-06-01"]);
    assert!(o.status.success());
    assert!(!stderr(&o).contains("claude-sonnet-4-5"), "{}", stderr(&o));
}

#[test]
fn check_json_lists_every_model_in_use_with_its_date() {
    let d = with_sonnet_4_5();
    let o = run_in(
        d.path(),
        &["check", "--format", "json", "--today", "2026-11-29"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let m = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "anthropic/claude-sonnet-4-5")
        .unwrap()
        .clone();
    assert_eq!(m["status"], "retiring");
    assert_eq!(m["retires"], "2026-11-30");
    assert_eq!(m["days"], 1);
    assert!(m["source"].as_str().unwrap().contains("model-deprecations"));
    assert_eq!(
        m["used_by"],
        serde_json::json!(["prompt cline-claude-sonnet-4", "warmup cline-anthropic"])
    );
    assert!(v["tokenizers"].as_array().unwrap().len() >= 10);
    assert!(v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w.as_str().unwrap().contains("claude-sonnet-4-5")));
}

#[test]
fn the_shipped_config_uses_no_retiring_model() {
    let d = scratch();
    let o = run_in(
        d.path(),
        &["check", "--format", "json", "--today", "2026-12-01"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let not_current: Vec<&Value> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["status"] != "current" && m["status"] != "unknown")
        .collect();
    assert!(not_current.is_empty(), "{not_current:#?}");
    // Issue #20: models of providers the data does not cover (Gemini, vLLM, SGLang) are
    // `unknown`, never `current`; hosted Anthropic and OpenAI models are covered.
    for m in v["models"].as_array().unwrap() {
        let name = m["model"].as_str().unwrap();
        let covered = name.starts_with("anthropic/") || name.starts_with("openai/");
        let want = if covered { "current" } else { "unknown" };
        assert_eq!(m["status"], want, "{name}");
    }
    assert!(
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["status"] == "unknown"),
        "the shipped config has self-hosted models"
    );
}

/// The value of the first `/metrics` line of `name` that carries every label in `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn the_daemon_exports_retirement_days_and_alerts_on_a_watched_page_change() {
    use crate::daemon::{write_config, Running};
    let d = with_sonnet_4_5();
    let page = d.path().join("deprecations.html");
    std::fs::write(&page, "<p>claude-sonnet-4-5: retires 2026-11-30</p>").unwrap();
    write_config(
        d.path(),
        &["openai/o200k_base"],
        "source_poll_secs = 1",
        |c| {
            format!("{c}\n[[watch]]\nname = \"anthropic-deprecations\"\nsource = \"deprecations.html\"\n")
        },
    );
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let m = r.get("/metrics").1;
    assert_eq!(
        sample(
            &m,
            "prefix_warden_model_retirement_timestamp_seconds",
            &["model=\"anthropic/claude-sonnet-4-5\""]
        ),
        Some(1_795_996_800.0),
        "2026-11-30 00:00 UTC"
    );
    // A model without a known date has no series.
    assert!(
        !m.contains("prefix_warden_model_retirement_timestamp_seconds{model=\"openai/gpt-5.5\"}")
    );
    let fetches = |m: &str, result: &str| {
        sample(
            m,
            "prefix_warden_watch_fetches_total",
            &[
                "watch=\"anthropic-deprecations\"",
                &format!("result=\"{result}\""),
            ],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(fetches(&m, "first"), 1.0, "{m}");
    assert!(!m.contains("prefix_warden_watch_last_change_timestamp_seconds{"));
    // The page is amended in place: the next poll sees it.
    std::fs::write(&page, "<p>claude-sonnet-4-5: retires 2027-01-05</p>").unwrap();
    r.wait_until("the change", |r| {
        fetches(&r.get("/metrics").1, "changed") == 1.0
    });
    let m = r.get("/metrics").1;
    let at = sample(
        &m,
        "prefix_warden_watch_last_change_timestamp_seconds",
        &["watch=\"anthropic-deprecations\""],
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - at).abs() < 60.0, "stamped now: {at} vs {now}");
    // Unchanged reads after that are counted as such, not as changes.
    r.wait_until("an unchanged read", |r| {
        fetches(&r.get("/metrics").1, "unchanged") >= 1.0
    });
    assert_eq!(fetches(&r.get("/metrics").1, "changed"), 1.0);
    // Only the hash is kept.
    let kept =
        std::fs::read_to_string(d.path().join("state/watch/anthropic-deprecations")).unwrap();
    assert!(!kept.contains("retires"), "{kept}");
    // Moving off the model ends its series' alerting: NaN matches no rule.
    let p = d.path().join("prompts/cline-claude-sonnet-4.yaml");
    let y = std::fs::read_to_string(&p)
        .unwrap()
        .replace("claude-sonnet-4-5", "claude-sonnet-4-6");
    std::fs::write(&p, y).unwrap();
    r.hup();
    r.wait_until("the retired model's series to end", |r| {
        sample(
            &r.get("/metrics").1,
            "prefix_warden_model_retirement_timestamp_seconds",
            &["model=\"anthropic/claude-sonnet-4-5\""],
        )
        .is_some_and(f64::is_nan)
    });
}

#[test]
fn a_bad_watch_entry_is_one_line_naming_file_line_and_field() {
    let d = scratch();
    let cfg = d.path().join("daemon.toml");
    let base = std::fs::read_to_string(&cfg).unwrap();
    for (entry, want) in [
        (
            "[[watch]]\nname = \"p\"\nsource = \"http://example.com/deprecations\"\n",
            "watch[0].source: plain http is allowed only on loopback; use https",
        ),
        (
            "[[watch]]\nname = \"a page\"\nsource = \"x.html\"\n",
            "watch[0].name: `a page` is not a label",
        ),
        (
            "[[watch]]\nname = \"p\"\nsource = \"x.html\"\n[[watch]]\nname = \"p\"\nsource = \"y.html\"\n",
            "watch[1].name: duplicate watch `p`",
        ),
        (
            "[[watch]]\nname = \"p\"\nsource = \"x.html\"\nurl = \"y\"\n",
            "watch[0].url: unknown field `url`",
        ),
    ] {
        std::fs::write(&cfg, format!("{base}\n{entry}")).unwrap();
        let o = run_in(d.path(), &["check"]);
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("daemon.toml:") && err.contains(want), "{err}");
        assert!(!err.contains("serde"), "{err}");
    }
}

#[test]
fn a_config_without_lifecycle_data_still_works_unless_it_names_the_file() {
    let d = scratch();
    let cfg = d.path().join("daemon.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::remove_file(d.path().join("data/model-lifecycle.toml")).unwrap();
    // An older config: no `model_lifecycle`, no data file. Dates are simply unknown.
    let older: String = text
        .lines()
        .filter(|l| !l.starts_with("model_lifecycle"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&cfg, older).unwrap();
    let o = run_in(
        d.path(),
        &["fingerprint", "--tokenizer", "openai/o200k_base"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Named but missing: an error naming the file.
    std::fs::write(&cfg, text).unwrap();
    let o = run_in(
        d.path(),
        &["fingerprint", "--tokenizer", "openai/o200k_base"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("model-lifecycle.toml"),
        "{}",
        stderr(&o)
    );
}
