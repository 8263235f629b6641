//! The `prefix` binary driven like a user: exit codes, output formats, bad input, and the rule
//! that prompt text never appears without `--show-text`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::{assert_no_prompt_text, root, run_in, scratch, stderr, stdout};

fn json(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

/// The reference ids of a corpus text, from the committed expected-ids files.
fn reference_ids(label: &str, text_file: &str) -> Vec<u32> {
    let p = root()
        .join("tests/data/expected_ids")
        .join(format!("{}.json.gz", label.replace('/', "__")));
    let v: Value =
        serde_json::from_slice(&prefix_warden::tokenizer::read_maybe_gzip(&p).unwrap()).unwrap();
    serde_json::from_value(v["ids"][text_file].clone()).unwrap()
}

fn prompt_entry<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["prompt"] == id)
        .unwrap()
}

/// An error run: exit 2, one `error:` line, no panic.
fn assert_error(o: &std::process::Output, needle: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    err
}

#[test]
fn check_passes_on_the_shipped_config() {
    let o = run_in(&root(), &["check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ok: 18 tokenizer(s), 5 prompt(s)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn new_vocabulary_diff_says_nothing_survives() {
    let d = scratch();
    let o = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "openai/cl100k_base",
            "--to",
            "openai/o200k_base",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["same_vocabulary"], false);
    assert_eq!(r["summary"]["changed"], 5);
    for p in r["prompts"].as_array().unwrap() {
        assert_eq!(p["fingerprint_changed"], true);
        assert_eq!(p["first_divergent_token"], 0);
        assert_ne!(
            p["from_tokens"], p["to_tokens"],
            "token counts are reported and differ"
        );
        for rule in p["rules"].as_array().unwrap() {
            assert_eq!(rule["surviving"], 0, "{rule}");
            assert!(rule["rewrite"].as_u64().unwrap() > 0);
        }
    }
    // The counts are the reference tokenizers' counts for the single-segment prompts.
    let bu = prompt_entry(&r, "browser-use-agent");
    let f = "browser-use__browser-use__system_prompt.txt";
    assert_eq!(
        bu["from_tokens"],
        reference_ids("openai/cl100k_base", f).len()
    );
    assert_eq!(bu["to_tokens"], reference_ids("openai/o200k_base", f).len());
    let table = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "openai/cl100k_base",
            "--to",
            "openai/o200k_base",
        ],
    );
    assert!(
        stdout(&table).contains("vocabulary: different"),
        "{}",
        stdout(&table)
    );
    assert_no_prompt_text(
        d.path(),
        &(stdout(&table) + &stderr(&table) + &stdout(&o)),
        "diff",
    );
}

#[test]
fn same_vocabulary_diff_pinpoints_the_divergence() {
    let d = scratch();
    let o = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "qwen/qwen2.5-qwen3",
            "--to",
            "qwen/qwen3",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["same_vocabulary"], true);
    // Expected divergence from the reference implementations' ids.
    let f = "browser-use__browser-use__system_prompt.txt";
    let (a, b) = (
        reference_ids("qwen/qwen2.5-qwen3", f),
        reference_ids("qwen/qwen3", f),
    );
    let lcp = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    assert!(lcp > 1000, "the divergence is deep inside the prompt");
    let bu = prompt_entry(&r, "browser-use-agent");
    assert_eq!(bu["fingerprint_changed"], true);
    assert_eq!(bu["first_divergent_token"], lcp);
    assert_eq!(bu["from_tokens"], a.len());
    assert_eq!(bu["to_tokens"], b.len());
    let ranges = bu["divergent_ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 1);
    // vLLM keeps the full 16-token blocks before the divergence.
    let vllm = bu["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "vllm")
        .unwrap();
    assert_eq!(vllm["surviving"], lcp / 16 * 16);
    // Counted in the engine's 16-token blocks too (issue #22).
    assert_eq!(vllm["engine_blocks"]["block_size"], 16);
    assert_eq!(vllm["engine_blocks"]["surviving"], lcp / 16);
    assert_eq!(
        vllm["engine_blocks"]["cached_before"],
        vllm["cached_before"].as_u64().unwrap() / 16
    );
    // Only models the `from` tokenizer serves are priced: not OpenAI's or Gemini's.
    assert_eq!(bu["rules"].as_array().unwrap().len(), 1, "{bu}");
    assert_eq!(
        bu["models_not_served"],
        serde_json::json!(["openai/gpt-5.5", "gemini/gemini-2.5-flash"])
    );
    // Prompts without the affected text keep everything.
    let same = prompt_entry(&r, "cline-claude-sonnet-4");
    assert_eq!(same["fingerprint_changed"], false);
    assert!(same["first_divergent_token"].is_null());
    for rule in same["rules"].as_array().unwrap() {
        assert_eq!(rule["rewrite"], 0);
        assert_eq!(rule["surviving"], rule["cached_before"]);
    }
}

#[test]
fn negative_controls_exit_zero() {
    for (from, to) in [
        ("openai/o200k_base", "openai/o200k_base"),
        ("openai/o200k_base", "openai/o200k_harmony"),
        ("mistral/tekken-240718", "mistral/tekken-240911"),
        ("mistral/spm-v3", "mistral/spm-v7"),
    ] {
        let o = run_in(
            &root(),
            &["diff", "--from", from, "--to", to, "--format", "json"],
        );
        assert_eq!(o.status.code(), Some(0), "{from} -> {to}: {}", stderr(&o));
        let r = json(&o);
        assert_eq!(r["summary"]["changed"], 0);
        assert_eq!(r["same_vocabulary"], true);
    }
}

#[test]
fn mistral_spm_v1_to_v3_moves_every_id_and_keeps_every_count() {
    // The SentencePiece upgrade pair: v3 puts 768 control tokens in front, so every text id
    // moves while the segmentation stays the same. Also through --to-file, the format guessed
    // from the `.model` name.
    for to in [
        &["--to", "mistral/spm-v3"][..],
        &["--to-file", "tokenizers/mistral/spm-v3.model"][..],
    ] {
        let mut args = vec!["diff", "--from", "mistral/spm-v1", "--format", "json"];
        args.extend_from_slice(to);
        let o = run_in(&root(), &args);
        assert_eq!(o.status.code(), Some(1), "{to:?}: {}", stderr(&o));
        let r = json(&o);
        assert_eq!(r["same_vocabulary"], false, "{to:?}");
        let prompts = r["prompts"].as_array().unwrap();
        assert!(!prompts.is_empty());
        for p in prompts {
            assert_eq!(p["fingerprint_changed"], true, "{to:?}: {p}");
            assert_eq!(
                p["from_tokens"], p["to_tokens"],
                "{to:?}: ids moved, counts did not"
            );
            assert_eq!(
                p["first_divergent_token"], 0,
                "{to:?}: the first id already moved"
            );
        }
    }
}

#[test]
fn deepseek_v4_changes_only_prompts_with_special_token_text() {
    let o = run_in(
        &root(),
        &[
            "diff",
            "--from",
            "deepseek/v3",
            "--to",
            "deepseek/v4",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let r = json(&o);
    let changed: Vec<&str> = r["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["fingerprint_changed"] == true)
        .map(|p| p["prompt"].as_str().unwrap())
        .collect();
    // Exactly the prompts whose text contains `<think>`.
    let prompts = prefix_warden::prompt::load_dir(&root().join("prompts")).unwrap();
    let want: Vec<&str> = prompts
        .iter()
        .filter(|p| p.text.expose().contains("<think>"))
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(changed, want);
    for p in r["prompts"].as_array().unwrap() {
        assert_eq!(
            p["from_tokens"], p["to_tokens"],
            "ids moved, counts did not"
        );
    }
}

#[test]
fn diff_to_file_and_markdown() {
    let o = run_in(
        &root(),
        &[
            "diff",
            "--from",
            "qwen/qwen2.5-qwen3",
            "--to-file",
            "tokenizers/qwen/qwen3.tokenizer.json.gz",
            "--format",
            "markdown",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("# prefix diff: qwen/qwen2.5-qwen3 -> file:"),
        "{out}"
    );
    assert!(out.contains("| PROMPT |"), "{out}");
    assert!(out.contains("vocabulary: same"), "{out}");
}

#[test]
fn unknown_ids_exit_2() {
    let o = run_in(
        &root(),
        &[
            "diff",
            "--from",
            "openai/no_such",
            "--to",
            "openai/o200k_base",
        ],
    );
    assert_error(&o, "unknown tokenizer `openai/no_such`");
    let o = run_in(&root(), &["fingerprint", "--prompt", "nope"]);
    assert_error(&o, "unknown prompt `nope`");
    let o = run_in(&root(), &["tokenize", "--tokenizer", "x/y", "README.md"]);
    assert_error(&o, "unknown tokenizer `x/y`");
}

#[test]
fn bad_input_is_one_clear_line_and_exit_2() {
    // Missing tokenizer file.
    let d = scratch();
    std::fs::remove_file(d.path().join("tokenizers/openai/cl100k_base.tiktoken.gz")).unwrap();
    let e = assert_error(&run_in(d.path(), &["check"]), "cl100k_base.tiktoken.gz");
    assert!(e.contains("daemon.toml:"), "names the config line: {e}");

    // Corrupt tokenizer file (not gzip data any more, and not a rank file): unpinned so the
    // parser, not the sha check, has to catch it.
    let d = scratch();
    std::fs::write(
        d.path().join("tokenizers/qwen/qwen3.tokenizer.json.gz"),
        b"\x1f\x8b\x08\x00garbage",
    )
    .unwrap();
    // Two entries read this file (qwen/qwen3 and qwen/qwen3-chat): one line each (issue #19:
    // check lists every failing entry), each naming its entry and config line.
    let o = run_in(d.path(), &["check"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "one line per entry: {err}");
    for (line, id) in lines.iter().zip(["`qwen/qwen3`", "`qwen/qwen3-chat`"]) {
        assert!(line.starts_with("error: "), "{err}");
        assert!(line.contains(id), "{id} in {line}");
        assert!(line.contains("corrupt gzip data"), "{line}");
        assert!(line.contains("daemon.toml:"), "{line}");
    }
    let d = scratch();
    std::fs::write(
        d.path().join("tokenizers/openai/cl100k_base.tiktoken.gz"),
        "not a rank file\n",
    )
    .unwrap();
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    std::fs::write(
        d.path().join("daemon.toml"),
        cfg.replace(
            "sha256 = \"223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7\"\n",
            "sha256 = \"unpinned\"\n",
        ),
    )
    .unwrap();
    assert_error(
        &run_in(d.path(), &["check"]),
        "line 1: expected `<base64 token> <rank>`",
    );

    // sha256 mismatch names both hashes.
    let d = scratch();
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    let bad = "0".repeat(64);
    std::fs::write(
        d.path().join("daemon.toml"),
        cfg.replace(
            "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
            &bad,
        ),
    )
    .unwrap();
    let e = assert_error(&run_in(d.path(), &["check"]), "sha256 mismatch");
    assert!(
        e.contains(&bad)
            && e.contains("223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
        "{e}"
    );

    // Malformed YAML.
    let d = scratch();
    std::fs::write(
        d.path().join("prompts/broken.yaml"),
        "id: broken\ntext: [unclosed\n",
    )
    .unwrap();
    assert_error(&run_in(d.path(), &["check"]), "broken.yaml:");

    // A breakpoint past the end of the text.
    let d = scratch();
    let p = d.path().join("prompts/cline-hermes-4.yaml");
    let y = std::fs::read_to_string(&p).unwrap();
    let end_line = y
        .lines()
        .position(|l| l.trim_start().starts_with("end:"))
        .unwrap()
        + 1;
    let y2: String = y
        .lines()
        .map(|l| {
            if l.trim_start().starts_with("end:") {
                "    end: 99999999".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&p, y2).unwrap();
    let e = assert_error(
        &run_in(d.path(), &["fingerprint"]),
        "past the end of the text",
    );
    assert!(
        e.contains(&format!("cline-hermes-4.yaml:{end_line}: segments[0].end")),
        "{e}"
    );

    // Unknown field in daemon.toml.
    let d = scratch();
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    std::fs::write(
        d.path().join("daemon.toml"),
        cfg.replacen("block_size = 16", "block_size = 16\nblock_sise = 4", 1),
    )
    .unwrap();
    assert_error(&run_in(d.path(), &["check"]), "unknown field `block_sise`");

    // No config at all.
    let d = tempfile::tempdir().unwrap();
    assert_error(&run_in(d.path(), &["check"]), "daemon.toml");
}

#[test]
fn no_command_prints_prompt_text_without_show_text() {
    let d = scratch();
    let mut all = String::new();
    for args in [
        vec!["check"],
        vec!["fingerprint"],
        vec!["fingerprint", "--format", "json"],
        vec!["diff", "--from", "qwen/qwen2.5-qwen3", "--to", "qwen/qwen3"],
        vec![
            "diff",
            "--from",
            "qwen/qwen2.5-qwen3",
            "--to",
            "qwen/qwen3",
            "--format",
            "json",
        ],
        vec![
            "diff",
            "--from",
            "deepseek/v3",
            "--to",
            "deepseek/v4",
            "--format",
            "markdown",
        ],
    ] {
        let o = run_in(d.path(), &args);
        assert!(o.status.code().unwrap() < 2, "{args:?}: {}", stderr(&o));
        all.push_str(&stdout(&o));
        all.push_str(&stderr(&o));
    }
    assert_no_prompt_text(d.path(), &all, "default output");
    // The probe is sharp: with --show-text the text does appear.
    let o = run_in(
        d.path(),
        &["fingerprint", "--prompt", "cline-hermes-4", "--show-text"],
    );
    let shown = stdout(&o);
    let leaked = std::panic::catch_unwind(|| assert_no_prompt_text(d.path(), &shown, "x"));
    assert!(leaked.is_err(), "--show-text prints the text");
}

#[test]
fn tokenize_prints_reference_ids() {
    let f = "lobehub__lobe-chat-agents__thinking_claude_ja_JP.txt";
    let path = root().join("tests/data/corpus").join(f);
    let o = run_in(
        &root(),
        &[
            "tokenize",
            "--tokenizer",
            "openai/o200k_base",
            path.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["tokenizer"], "openai/o200k_base");
    let ids: Vec<u32> = serde_json::from_value(v["ids"].clone()).unwrap();
    assert_eq!(ids, reference_ids("openai/o200k_base", f));
    assert_eq!(v["count"], ids.len());
    // Standard input.
    let mut child = crate::support::prefix()
        .current_dir(root())
        .args(["tokenize", "--tokenizer", "mistral/tekken-240718", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&path).unwrap())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let ids: Vec<u32> = serde_json::from_value(json(&o)["ids"].clone()).unwrap();
    assert_eq!(ids, reference_ids("mistral/tekken-240718", f));
}

#[test]
fn second_fingerprint_run_tokenizes_nothing() {
    let d = scratch();
    let cold = run_in(d.path(), &["fingerprint", "--format", "json"]);
    assert!(cold.status.success(), "{}", stderr(&cold));
    let warm = run_in(d.path(), &["fingerprint", "--format", "json"]);
    let (c, w) = (json(&cold), json(&warm));
    assert_eq!(c["tokenized"], 90, "5 prompts x 18 tokenizers");
    assert_eq!(w["tokenized"], 0);
    assert_eq!(w["from_cache"], 90);
    assert_eq!(
        c["pairs"], w["pairs"],
        "cached fingerprints equal computed ones"
    );
    // Editing a prompt's text invalidates only that prompt's entries.
    let t = d
        .path()
        .join("prompts/texts/cline__cline__system_hermes_4.txt");
    let mut text = std::fs::read_to_string(&t).unwrap();
    text.push_str("\nOne more rule.\n");
    std::fs::write(&t, text).unwrap();
    let again = json(&run_in(d.path(), &["fingerprint", "--format", "json"]));
    assert_eq!(again["tokenized"], 18, "that prompt under each tokenizer");
    let by_pair = |v: &Value| -> BTreeMap<(String, String), String> {
        v["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    (
                        p["prompt"].as_str().unwrap().into(),
                        p["tokenizer"].as_str().unwrap().into(),
                    ),
                    p["fingerprint"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let (before, after) = (by_pair(&c), by_pair(&again));
    for (k, fp) in &before {
        assert_eq!(fp != &after[k], k.0 == "cline-hermes-4", "{k:?}");
    }
}

#[test]
fn status_without_a_daemon_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = run_in(
        &root(),
        &["status", "--url", &format!("http://127.0.0.1:{port}")],
    );
    assert_error(&o, "is the daemon running?");
}

#[test]
fn help_documents_exit_codes() {
    let o = run_in(&root(), &["diff", "--help"]);
    let h = stdout(&o);
    assert!(
        h.contains("Exit codes:") && h.contains("1  at least one prompt's fingerprint changed"),
        "{h}"
    );
}
