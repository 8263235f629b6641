//! One test per defect found by trying the product as a user would, named after the bug.

use std::io::Read;

use serde_json::Value;

use crate::support::{root, run_in, scratch, stderr, stdout};

/// `claude-legacy` with its NFKC normalizer replaced by NFC: a same-vocabulary "upgrade".
fn claude_legacy_nfc(dir: &std::path::Path) -> std::path::PathBuf {
    let gz =
        std::fs::read(root().join("tokenizers/anthropic/claude-legacy.tokenizer.json.gz")).unwrap();
    let mut json = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json)
        .unwrap();
    let edited = json.replacen(r#""type":"NFKC""#, r#""type":"NFC""#, 1);
    assert_ne!(edited, json, "the normalizer was found and replaced");
    let p = dir.join("claude-legacy-nfc.tokenizer.json");
    std::fs::write(&p, edited).unwrap();
    p
}

#[test]
fn diff_priced_models_the_from_tokenizer_does_not_serve() {
    let d = scratch();
    let to = claude_legacy_nfc(d.path());
    let o = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "anthropic/claude-legacy",
            "--to-file",
            to.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        stderr(&o)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    for p in v["prompts"].as_array().unwrap() {
        // claude-legacy serves anthropic/claude-2* and claude-instant*; no shipped prompt
        // names those, so nothing may be priced.
        assert_eq!(p["rules"].as_array().unwrap().len(), 0, "{}", p["prompt"]);
        let not_served: Vec<&str> = p["models_not_served"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap())
            .collect();
        assert!(!not_served.is_empty(), "{}", p["prompt"]);
    }
    let bu = v["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["prompt"] == "browser-use-agent")
        .unwrap();
    assert!(bu["models_not_served"]
        .as_array()
        .unwrap()
        .contains(&Value::from("openai/gpt-5.5")));
    assert_eq!(
        v["summary"]["cold_cost_per_day_usd"], 0.0,
        "{}",
        v["summary"]
    );
    let o = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "anthropic/claude-legacy",
            "--to-file",
            to.to_str().unwrap(),
        ],
    );
    assert!(
        stdout(&o).contains("no model of this prompt is served by anthropic/claude-legacy"),
        "{}",
        stdout(&o)
    );
    // A tokenizer that does serve a prompt's model still prices it.
    let o = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "openai/o200k_base",
            "--to",
            "openai/o200k_harmony",
            "--format",
            "json",
        ],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let bu = v["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["prompt"] == "browser-use-agent")
        .unwrap();
    let priced: Vec<&str> = bu["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    assert_eq!(priced, ["openai/gpt-5.5"], "{bu}");
}

#[test]
fn check_exited_0_on_an_empty_config() {
    let d = scratch();
    std::fs::write(d.path().join("daemon.toml"), "").unwrap();
    let o = run_in(d.path(), &["check"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("daemon.toml:1: tokenizer: no [[tokenizer]] is registered"),
        "{err}"
    );
}

#[test]
fn check_did_not_validate_warmup_lookups() {
    let d = scratch();
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    let cfg = cfg.replacen(
        "lookup = { backend = \"file\", path = \"deploy/live-color.json\" }",
        "lookup = { backend = \"http\", url = \"ftp://deploy.example/live\" }",
        1,
    );
    assert!(
        cfg.contains("ftp://"),
        "the shipped config has a file lookup to replace"
    );
    std::fs::write(d.path().join("daemon.toml"), cfg).unwrap();
    let o = run_in(d.path(), &["check"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("warmup[0].lookup: live color lookup (http): url"),
        "{err}"
    );
    assert!(err.contains("daemon.toml:"), "{err}");
}

#[test]
fn show_text_panicked_on_multibyte_text() {
    let d = scratch();
    // Text where tokens that differ between the two tokenizers sit next to multi-byte
    // characters: CJK, emoji, halfwidth and circled forms that NFKC folds and NFC keeps.
    let unit = "漢字<think>😀ｱ①é\u{301}ﬁ字<think>🧑‍💻 ";
    let text = unit.repeat(200);
    std::fs::write(d.path().join("prompts/texts/mixed.txt"), &text).unwrap();
    std::fs::write(
        d.path().join("prompts/mixed.yaml"),
        "id: mixed\ntext_file: texts/mixed.txt\nmodels:\n  - vllm/Qwen3-32B\n  - anthropic/claude-2.1\n",
    )
    .unwrap();
    let to = claude_legacy_nfc(d.path());
    for format in ["table", "markdown"] {
        for args in [
            vec!["diff", "--from", "qwen/qwen2.5-qwen3", "--to", "qwen/qwen3"],
            vec![
                "diff",
                "--from",
                "anthropic/claude-legacy",
                "--to-file",
                to.to_str().unwrap(),
            ],
        ] {
            let mut args = args.clone();
            args.extend(["--prompt", "mixed", "--show-text", "--format", format]);
            let o = run_in(d.path(), &args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
            assert!(
                !err.contains("panicked") && !err.contains("internal error"),
                "{err}"
            );
            assert!(
                stdout(&o).contains("tokenizes differently"),
                "{}",
                stdout(&o)
            );
        }
    }
}

#[test]
fn a_missing_config_gave_no_hint() {
    let d = tempfile::tempdir().unwrap();
    let o = run_in(d.path(), &["check"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("daemon.toml: no such config file")
            && err.contains("--config")
            && err.contains("PREFIX_WARDEN_CONFIG"),
        "{err}"
    );
}

/// Issue #19: one entry whose chat template cannot load (here a statement the renderer does
/// not know) made the whole `prefix fingerprint` run exit 2 with no fingerprint for any other
/// entry. Now that entry's pairs are errors, one line each, and every other pair is reported.
#[test]
fn one_unloadable_template_hid_every_other_fingerprint() {
    let d = scratch();
    let path = d.path().join("templates/qwen/Qwen3-0.6B.jinja");
    let src = std::fs::read_to_string(&path).unwrap();
    let bad = src.replacen("{%- if tools %}", "{%- frobnicate %}{%- if tools %}", 1);
    assert_ne!(bad, src, "the template has a tools block to break");
    std::fs::write(&path, &bad).unwrap();
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    let old = prefix_warden::tokenizer::sha256_hex(src.as_bytes());
    assert!(cfg.contains(&old), "the shipped config pins the template");
    let cfg = cfg.replace(&old, &prefix_warden::tokenizer::sha256_hex(bad.as_bytes()));
    std::fs::write(d.path().join("daemon.toml"), cfg).unwrap();

    let o = run_in(d.path(), &["fingerprint", "--format", "json"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("a JSON report");
    let rows = v["pairs"].as_array().expect("the report lists pairs");
    let toks: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter_map(|r| r["tokenizer"].as_str())
        .collect();
    assert!(!toks.contains("qwen/qwen3-chat"), "{toks:?}");
    assert!(
        toks.len() >= 3,
        "every other tokenizer is reported: {toks:?}"
    );
    let prompts = crate::support::yaml_files(&d.path().join("prompts"));
    let failed: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("qwen/qwen3-chat"))
        .collect();
    assert_eq!(failed.len(), prompts, "one line per failed pair: {err}");
    for l in &failed {
        assert!(l.contains("unknown statement frobnicate"), "{l}");
        assert!(l.contains("line "), "{l}");
    }
    assert!(
        err.lines().last().unwrap().contains("pair(s) failed"),
        "{err}"
    );
}

/// Pins a scratch config's qwen3-chat template to `text` (written in place of the shipped one).
fn replace_qwen_template(dir: &std::path::Path, edit: impl FnOnce(&str) -> String) {
    let path = dir.join("templates/qwen/Qwen3-0.6B.jinja");
    let src = std::fs::read_to_string(&path).unwrap();
    let bad = edit(&src);
    assert_ne!(bad, src, "the edit changed the template");
    std::fs::write(&path, &bad).unwrap();
    let cfg = std::fs::read_to_string(dir.join("daemon.toml")).unwrap();
    let old = prefix_warden::tokenizer::sha256_hex(src.as_bytes());
    assert!(cfg.contains(&old), "the shipped config pins the template");
    let cfg = cfg.replace(&old, &prefix_warden::tokenizer::sha256_hex(bad.as_bytes()));
    std::fs::write(dir.join("daemon.toml"), cfg).unwrap();
}

/// The ids of the shipped prompts.
fn prompt_ids(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    std::fs::read_dir(dir.join("prompts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_string())
        .collect()
}

/// Issue #19: in `prefix diff`, one prompt the `to` template refuses to render (here by
/// `raise_exception` on a marker only that prompt's text carries) made the whole diff exit 2
/// with no report for any other prompt. Now that prompt is its own error line and every other
/// prompt is diffed.
#[test]
fn one_prompt_that_cannot_render_hid_every_other_diff() {
    let d = scratch();
    let texts = d.path().join("prompts/texts");
    let victim = std::fs::read_dir(d.path().join("prompts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_stem().is_some_and(|s| s == "github-mcp-issue-tools"))
        .expect("the shipped prompt");
    let yaml = std::fs::read_to_string(&victim).unwrap();
    let text_file = yaml
        .lines()
        .find_map(|l| l.strip_prefix("text_file: texts/"))
        .expect("the prompt's text is a file");
    let text_path = texts.join(text_file.trim());
    let mut text = std::fs::read_to_string(&text_path).unwrap();
    text.push_str("\nzz-refused-by-template-zz\n");
    std::fs::write(&text_path, text).unwrap();
    let bad = d.path().join("refusing.jinja");
    let src = std::fs::read_to_string(d.path().join("templates/qwen/Qwen3-0.6B.jinja")).unwrap();
    std::fs::write(
        &bad,
        format!(
            "{{%- if 'zz-refused-by-template-zz' in (messages | tojson) %}}{{{{ raise_exception('this request is refused') }}}}{{%- endif %}}\n{src}"
        ),
    )
    .unwrap();

    let o = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "qwen/qwen3-chat",
            "--to-template",
            bad.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let v: Value = serde_json::from_str(&stdout(&o)).expect("a JSON report");
    let diffed: std::collections::BTreeSet<String> = v["prompts"]
        .as_array()
        .expect("the report lists prompts")
        .iter()
        .map(|p| p["prompt"].as_str().unwrap().to_string())
        .collect();
    let mut others = prompt_ids(d.path());
    assert!(others.remove("github-mcp-issue-tools"));
    assert_eq!(diffed, others, "every other prompt is diffed");
    assert_eq!(v["summary"]["failed"], 1);
    assert_eq!(v["failed"][0]["prompt"], "github-mcp-issue-tools");
    assert_eq!(v["failed"][0]["side"], "to");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("github-mcp-issue-tools"))
        .collect();
    assert_eq!(lines.len(), 1, "one line for the failed prompt: {err}");
    assert!(lines[0].contains("this request is refused"), "{}", lines[0]);
    assert!(lines[0].contains("side `to`"), "{}", lines[0]);
    // The pair's line names the prompt once (the error under it named it again).
    assert_eq!(
        lines[0].matches("`github-mcp-issue-tools`").count(),
        1,
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("github-mcp-issue-tools.yaml:1"),
        "{}",
        lines[0]
    );
    assert!(
        err.lines()
            .last()
            .unwrap()
            .contains("1 of 5 pair(s) failed"),
        "{err}"
    );
    assert!(!err.contains("zz-refused"), "prompt text stays out: {err}");
}

/// Issue #19: `prefix check` stopped at the first entry that failed to load, so a config with
/// two broken entries took two runs to fix. Now every failing tokenizer and template entry is
/// one line, the others are still checked and listed, and the check exits 2.
#[test]
fn check_reported_only_the_first_failing_entry() {
    let d = scratch();
    replace_qwen_template(d.path(), |s| {
        s.replacen("{%- if tools %}", "{%- frobnicate %}{%- if tools %}", 1)
    });
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    let pin = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7";
    assert!(cfg.contains(pin), "the shipped config pins cl100k_base");
    std::fs::write(
        d.path().join("daemon.toml"),
        cfg.replace(pin, &"0".repeat(64)),
    )
    .unwrap();

    let o = run_in(d.path(), &["check", "--format", "json"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let v: Value = serde_json::from_str(&stdout(&o)).expect("a JSON report");
    let listed: Vec<&str> = v["tokenizers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(!listed.contains(&"openai/cl100k_base"), "{listed:?}");
    assert!(!listed.contains(&"qwen/qwen3-chat"), "{listed:?}");
    assert!(listed.contains(&"openai/o200k_base"), "{listed:?}");
    assert!(listed.contains(&"qwen/qwen3"), "{listed:?}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error: ")).collect();
    let cl100k: Vec<&&str> = errors
        .iter()
        .filter(|l| l.contains("openai/cl100k_base"))
        .collect();
    let qwen: Vec<&&str> = errors
        .iter()
        .filter(|l| l.contains("qwen/qwen3-chat"))
        .collect();
    assert_eq!(cl100k.len(), 1, "{err}");
    assert_eq!(qwen.len(), 1, "{err}");
    assert!(cl100k[0].contains("sha256"), "{}", cl100k[0]);
    assert!(
        qwen[0].contains("unknown statement frobnicate"),
        "{}",
        qwen[0]
    );
    assert!(qwen[0].contains("line "), "{}", qwen[0]);
    assert_eq!(
        errors.len(),
        2,
        "one line per failing entry, nothing else: {err}"
    );
}

/// A SIGHUP while the daemon was still starting (listening, first pass running) killed it:
/// SIGHUP's default action applied until the reload handler was installed after the first
/// pass. Two integration tests that reloaded soon after start failed with "connection reset"
/// on a loaded machine.
#[test]
fn a_sighup_during_start_up_killed_the_daemon() {
    let d = scratch();
    crate::daemon::write_config(d.path(), &["openai/o200k_base"], "", |c| c);
    let mut r = crate::daemon::Running::start(d.path());
    r.hup();
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    r.wait_log(
        |l| l.contains("config reloaded"),
        std::time::Duration::from_secs(30),
    );
    assert!(
        r.child.try_wait().unwrap().is_none(),
        "the daemon is running"
    );
}
