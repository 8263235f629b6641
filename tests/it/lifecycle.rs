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
        .filter(|m| m["status"] != "current")
        .collect();
    assert!(not_current.is_empty(), "{not_current:#?}");
}
