//! Counting tokenizers (anthropic-count, openai-count, gemini-count) against `prefix emulate`'s
//! count endpoints: the exact count of the request a prompt describes, cached per day, never
//! called by `check`, only with `--remote`; and a provider's count that moves raises
//! PromptFingerprintChanged with kind="count" in Alertmanager.

use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::daemon::{metric, write_config, Alertmanager, Running};
use crate::support::{free_port, prefix, run_in, scratch, stderr, stdout};

/// `prefix emulate` (hosted APIs, o200k_base) on a free loopback port; killed on drop.
pub(crate) struct Emulator {
    child: Child,
    pub base: String,
}

impl Emulator {
    pub fn start(dir: &std::path::Path) -> Emulator {
        let port = free_port();
        let mut child = prefix()
            .current_dir(dir)
            .args([
                "emulate",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--tokenizer",
                "openai/o200k_base",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..300 {
            if crate::support::get(&format!("{base}/admin/stats")).is_some() {
                return Emulator { child, base };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the emulator did not come up");
    }

    fn set_offset(&self, offset: i64) {
        let (code, body) = crate::daemon::post(
            &format!("{}/admin/count", self.base),
            &format!("{{\"offset\": {offset}}}"),
            None,
        );
        assert_eq!(code, 200, "{body}");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const KEY_VAR: &str = "PW_COUNT_TEST_KEY";

fn count_entries(base: &str) -> String {
    [
        ("anthropic/sonnet-4-5-count", "anthropic", "anthropic-count", "claude-sonnet-4-5"),
        ("openai/gpt-4.1-count", "openai", "openai-count", "gpt-4.1"),
        ("gemini/2.5-flash-count", "gemini", "gemini-count", "gemini-2.5-flash"),
    ]
    .iter()
    .map(|(id, provider, format, model)| {
        format!("\n[[tokenizer]]\nid = \"{id}\"\nprovider = \"{provider}\"\nformat = \"{format}\"\nmodel = \"{model}\"\nendpoint = \"{base}\"\napi_key_env = \"{KEY_VAR}\"\n")
    })
    .collect()
}

fn append(dir: &std::path::Path, s: &str) {
    let p = dir.join("daemon.toml");
    let mut c = std::fs::read_to_string(&p).unwrap();
    c.push_str(s);
    std::fs::write(&p, c).unwrap();
}

fn run_with_key(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    prefix()
        .current_dir(dir)
        .env(KEY_VAR, "test-key")
        .args(args)
        .output()
        .unwrap()
}

/// What the emulator's count must be: its tokenizer's ids of each text of the request.
fn expected_counts(dir: &std::path::Path, prompt: &str) -> (usize, usize) {
    let tok = crate::support::shipped_tokenizer("openai/o200k_base");
    let prompts = prefix_warden::prompt::load_dir(&dir.join("prompts")).unwrap();
    let p = prompts.iter().find(|p| p.id == prompt).unwrap();
    let user = tok.encode(prefix_warden::count::USER).unwrap().len();
    // Anthropic and Gemini: one system block per segment; OpenAI: the whole text.
    let per_segment: usize = p
        .segment_texts()
        .map(|t| tok.encode(t).unwrap().len())
        .sum();
    let whole = tok.encode(p.text.expose()).unwrap().len();
    (per_segment + user, whole + user)
}

#[test]
fn fingerprint_remote_counts_each_provider_and_caches_the_day() {
    let d = scratch();
    let emu = Emulator::start(d.path());
    append(d.path(), &count_entries(&emu.base));
    let ids = [
        "anthropic/sonnet-4-5-count",
        "openai/gpt-4.1-count",
        "gemini/2.5-flash-count",
    ];
    let mut args = vec![
        "fingerprint",
        "--remote",
        "--prompt",
        "cline-hermes-4",
        "--format",
        "json",
    ];
    for id in &ids {
        args.extend(["--tokenizer", id]);
    }
    let o = run_with_key(d.path(), &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let (segments, whole) = expected_counts(d.path(), "cline-hermes-4");
    let pair = |t: &str| {
        v["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["tokenizer"] == t)
            .unwrap()
            .clone()
    };
    for (id, model, want) in [
        (ids[0], "claude-sonnet-4-5", segments),
        (ids[1], "gpt-4.1", whole),
        (ids[2], "gemini-2.5-flash", segments),
    ] {
        let p = pair(id);
        assert_eq!(p["kind"], "count", "{p}");
        assert_eq!(p["token_count"], want, "{id}: {p}");
        assert_eq!(p["fingerprint"], format!("count:{model}:{want}"));
    }
    assert_eq!(v["tokenized"], 3);

    // Cached for the day: the same run with the provider gone answers the same.
    drop(emu);
    let again = run_with_key(d.path(), &args);
    assert!(again.status.success(), "{}", stderr(&again));
    let w: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(w["from_cache"], 3);
    assert_eq!(w["pairs"], v["pairs"]);
}

#[test]
fn counting_tokenizers_need_remote_and_check_never_calls_them() {
    let d = scratch();
    // Nothing listens on port 1: a call would fail.
    append(d.path(), &count_entries("http://127.0.0.1:1"));
    let o = run_in(d.path(), &["check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("count by http://127.0.0.1:1, model claude-sonnet-4-5"),
        "{out}"
    );
    assert!(out.contains("ok: 21 tokenizer(s)"), "{out}");

    let o = run_in(
        d.path(),
        &["fingerprint", "--tokenizer", "anthropic/sonnet-4-5-count"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--remote"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // All tokenizers: the counting ones are skipped with a note, the others fingerprinted.
    let o = run_in(
        d.path(),
        &[
            "fingerprint",
            "--prompt",
            "cline-hermes-4",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("3 counting tokenizer(s) skipped"),
        "{}",
        stderr(&o)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pairs"].as_array().unwrap().len(), 18);

    // --remote without a key: one error line naming the variable, no call made.
    let o = run_in(
        d.path(),
        &[
            "fingerprint",
            "--remote",
            "--tokenizer",
            "anthropic/sonnet-4-5-count",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(KEY_VAR), "{err}");

    // A provider that cannot be reached is an error, not a count.
    let o = run_with_key(
        d.path(),
        &[
            "fingerprint",
            "--remote",
            "--tokenizer",
            "openai/gpt-4.1-count",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_config_mixing_count_and_file_fields_is_refused_with_its_line() {
    let d = scratch();
    append(d.path(), "\n[[tokenizer]]\nid = \"anthropic/x\"\nprovider = \"anthropic\"\nformat = \"anthropic-count\"\nmodel = \"claude-sonnet-4-5\"\nfile = \"x.json\"\n");
    let o = run_in(d.path(), &["check"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("daemon.toml:")
            && err.contains("].file: a anthropic-count tokenizer has no local file"),
        "{err}"
    );
    let d = scratch();
    append(d.path(), "\n[[tokenizer]]\nid = \"anthropic/x\"\nprovider = \"anthropic\"\nformat = \"anthropic-count\"\n");
    let err = stderr(&run_in(d.path(), &["check"]));
    assert!(err.contains(".model: missing"), "{err}");
}

#[test]
fn a_count_that_moves_raises_the_fingerprint_alert_with_kind_count() {
    let am = Alertmanager::start();
    let d = scratch();
    let emu = Emulator::start(d.path());
    // Only the Anthropic counting tokenizer (and o200k_base, which the emulator uses).
    let all = count_entries(&emu.base);
    let anthropic = all.split("\n[[tokenizer]]").nth(1).unwrap();
    write_config(
        d.path(),
        &["openai/o200k_base"],
        &format!(
            "watch_interval_secs = 3600\nschedule = \"0 0 * * * *\"\nalertmanager_url = \"{}\"",
            am.url()
        ),
        |c| {
            c.replacen(
                "\n[daemon]",
                &format!("\n[[tokenizer]]{anthropic}\n[daemon]"),
                1,
            )
        },
    );
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    assert!(cfg.contains("anthropic-count"), "{cfg}");
    let mut r = Running::start_with(d.path(), &[(KEY_VAR, "test-key")]);
    let (segments, _) = expected_counts(d.path(), "cline-hermes-4");
    let key = "prefix_warden_prompt_tokens{prompt=\"cline-hermes-4\",tokenizer=\"anthropic/sonnet-4-5-count\"}";
    r.wait_until("the first count", |r| {
        metric(&r.get("/metrics").1, key) == Some(segments as f64)
    });

    // The provider changes its framing: the count moves by 5. Today's count is cached, so
    // the daemon sees it once the cache is gone (tomorrow, or here: removed).
    emu.set_offset(5);
    std::fs::remove_dir_all(d.path().join("state/counts")).unwrap();
    r.hup();
    r.wait_log(
        |l| l.contains("fingerprint changed") && l.contains("\"kind\":\"count\""),
        Duration::from_secs(60),
    );
    r.wait_until("the new count", |r| {
        metric(&r.get("/metrics").1, key) == Some(segments as f64 + 5.0)
    });
    r.wait_until("the alert in Alertmanager", |_| {
        am.alerts().iter().any(|a| {
            a["labels"]["alertname"] == "PromptFingerprintChanged"
                && a["labels"]["kind"] == "count"
                && a["labels"]["tokenizer"] == "anthropic/sonnet-4-5-count"
        })
    });
}
