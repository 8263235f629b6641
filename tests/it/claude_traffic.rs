//! Claude traffic without Claude's tokenizer (issue #21): `simulate` and `discover` on Anthropic
//! Message Batches logs for a model no registered tokenizer serves, with block lengths from the
//! logs' usage, from the count endpoint (`--remote`, against `prefix emulate`) or from a
//! stand-in tokenizer, the source and the calibration error against usage in the report, and
//! exit 2 with one line when no source covers a block.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::count::Emulator;
use crate::support::{prefix, run_in, scratch, stderr, stdout};

const MODEL: &str = "anthropic/claude-sonnet-4-6";
const KEY_VAR: &str = "PW_CLAUDE_TRAFFIC_KEY";

/// One request: its timestamp (seconds from the log's start) and its Messages body.
struct Req {
    t: u64,
    body: Value,
}

/// A system prompt past the 1,024-token minimum, a breakpoint on it, and two conversations of
/// four turns each (a user turn, then the assistant's answer and the next user turn), one
/// request a minute, conversation B resuming after an idle gap past the 5-minute TTL. With
/// `tool`, every request also carries one tool (before the system prompt, always with it).
fn requests(tool: bool) -> Vec<Req> {
    let system = "You are a careful release engineer. Check every changelog entry against the \
        merged pull requests, name the missing ones, and never invent a version number. "
        .repeat(60);
    let mut out = Vec::new();
    for (conv, start) in [("A", 0u64), ("B", 30)] {
        let mut messages: Vec<Value> = Vec::new();
        for turn in 0..4u64 {
            if turn > 0 {
                messages.push(json!({"role": "assistant", "content": format!("Conversation {conv}, answer {turn}: three entries lack a pull request.")}));
            }
            messages.push(json!({"role": "user", "content": format!("Conversation {conv}, question {turn}: what changed in module {}?", turn * 7 + 3)}));
            // B's last two turns come 10 minutes after its second: past the TTL.
            let t = start * 60 + turn * 60 + if conv == "B" && turn >= 2 { 600 } else { 0 };
            let mut body = json!({
                "model": "claude-sonnet-4-6",
                "max_tokens": 1,
                "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
                "messages": messages,
            });
            if tool {
                body["tools"] = json!([{"description": "Read a file of the repository", "input_schema": {"properties": {"path": {"type": "string"}}, "type": "object"}, "name": "read_file"}]);
            }
            out.push(Req { t, body });
        }
    }
    out.sort_by_key(|r| r.t);
    out
}

/// Sends the requests to a fresh emulator in time order (its clock advanced to each one) and
/// writes the Message Batches log: `{custom_id, timestamp, params, result: {message: {usage}}}`
/// (with `usage` false, no result). Returns the log and the emulator's cache reads per hour.
fn log_via_emulator(dir: &Path, reqs: &[Req], name: &str, usage: bool) -> (PathBuf, u64) {
    let emu = Emulator::start(dir);
    let mut lines = String::new();
    let mut read_total = 0;
    let mut prev = 0;
    for (i, r) in reqs.iter().enumerate() {
        if r.t > prev {
            let (c, b) = crate::daemon::post(
                &format!("{}/admin/clock", emu.base),
                &format!("{{\"advance_ms\": {}}}", (r.t - prev) * 1000),
                None,
            );
            assert_eq!(c, 200, "{b}");
            prev = r.t;
        }
        let (c, b) = crate::daemon::post(
            &format!("{}/v1/messages", emu.base),
            &r.body.to_string(),
            Some("test-key"),
        );
        assert_eq!(c, 200, "{b}");
        let resp: Value = serde_json::from_str(&b).unwrap();
        read_total += resp["usage"]["cache_read_input_tokens"].as_u64().unwrap();
        let ts = chrono::DateTime::from_timestamp(1_796_032_800 + r.t as i64, 0)
            .unwrap()
            .to_rfc3339();
        let mut line = json!({"custom_id": format!("req-{i}"), "timestamp": ts, "params": r.body});
        if usage {
            line["result"] = json!({"type": "succeeded", "message": {"usage": resp["usage"]}});
        }
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    let path = dir.join(name);
    std::fs::write(&path, lines).unwrap();
    (path, read_total)
}

fn json_of(o: &std::process::Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn simulate(dir: &Path, log: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "simulate",
        "--model",
        MODEL,
        "--breakpoints",
        "as-sent",
        log.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    prefix()
        .current_dir(dir)
        .env(KEY_VAR, "test-key")
        .args(&args)
        .output()
        .unwrap()
}

#[test]
fn simulate_takes_lengths_from_usage_and_matches_the_emulator() {
    let d = scratch();
    let (log, emulated) = log_via_emulator(d.path(), &requests(false), "batch.jsonl", true);
    assert!(emulated > 0, "the emulator served cache reads");
    let v = json_of(&simulate(d.path(), &log, &["--format", "json"]));
    assert_eq!(v["tokenizer"], "lengths:usage");
    let l = &v["lengths"];
    assert_eq!(l["source"], "usage", "{l}");
    assert_eq!(l["requests"], 8);
    assert_eq!(l["requests_pinned"], 8);
    assert_eq!(l["approximate"], false);
    assert_eq!(l["calibration"]["requests"], 8);
    assert_eq!(l["calibration"]["mean_abs_pct_error"], 0.0);
    // Exact lengths and whole-block breakpoints: the emulator's reads, request by request.
    assert_eq!(v["without_warmup"]["read"], emulated);
    let fit = &v["requests_fit"];
    assert_eq!(fit["requests_with_usage"], 8);
    assert_eq!(fit["exact"], 8, "{fit}");
    let text = stdout(&simulate(d.path(), &log, &[]));
    assert!(
        text.contains(&format!(
            "block lengths of {MODEL} (no tokenizer serves it): usage"
        )),
        "{text}"
    );
    assert!(
        text.contains("calibration against usage: 8 request(s), predicted total input tokens off by 0.00% on average"),
        "{text}"
    );
    assert!(!text.contains("approximate"), "{text}");
    crate::support::assert_no_prompt_text(&crate::support::root(), &text, "simulate");
}

/// The distinct request prefixes counting needs: for each distinct block, its first request's
/// prefix up to its end and up to its start.
fn boundaries(reqs: &[Req]) -> usize {
    let mut seen = BTreeSet::new();
    let mut prefixes = BTreeSet::new();
    for r in reqs {
        let mut blocks = vec![r.body["system"][0]["text"].to_string()];
        for m in r.body["messages"].as_array().unwrap() {
            blocks.push(m["content"].to_string());
        }
        for i in 0..blocks.len() {
            if seen.insert(blocks[i].clone()) {
                prefixes.insert(blocks[..i].to_vec());
                prefixes.insert(blocks[..=i].to_vec());
            }
        }
    }
    prefixes.len()
}

#[test]
fn remote_counts_each_distinct_boundary_once_then_serves_from_the_cache() {
    let d = scratch();
    let reqs = requests(false);
    let (with_usage, _) = log_via_emulator(d.path(), &reqs, "usage.jsonl", true);
    let (bare, _) = log_via_emulator(d.path(), &reqs, "bare.jsonl", false);
    // Without usage nothing pins a length, and nothing is sent without --remote; --remote
    // without a counting tokenizer for the model says what to add.
    let o = simulate(d.path(), &bare, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = simulate(d.path(), &bare, &["--remote"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a [[tokenizer]] of format anthropic-count"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let emu = Emulator::start(d.path());
    let config = d.path().join("daemon.toml");
    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str(&format!(
        "\n[[tokenizer]]\nid = \"anthropic/sonnet-4-6-count\"\nprovider = \"anthropic\"\nformat = \"anthropic-count\"\nmodel = \"claude-sonnet-4-6\"\nendpoint = \"{}\"\napi_key_env = \"{KEY_VAR}\"\n",
        emu.base
    ));
    std::fs::write(&config, toml).unwrap();
    let calls = || -> u64 {
        let (_, b) = crate::support::get(&format!("{}/admin/stats", emu.base)).unwrap();
        let v: Value = serde_json::from_str(&b).unwrap();
        v["requests"]["/v1/messages/count_tokens"]["200"]
            .as_u64()
            .unwrap_or(0)
    };
    let counted = json_of(&simulate(
        d.path(),
        &bare,
        &["--remote", "--format", "json"],
    ));
    assert_eq!(calls() as usize, boundaries(&reqs), "one call per boundary");
    assert_eq!(counted["lengths"]["source"], "count");
    // Counted requests frame every block as text in one user message: approximate.
    assert_eq!(counted["tokenizer"], "lengths:count (approximate)");
    assert_eq!(counted["lengths"]["approximate"], true);
    // The counts give the lengths usage gives: the same replay.
    let pinned = json_of(&simulate(d.path(), &with_usage, &["--format", "json"]));
    assert_eq!(counted["without_warmup"], pinned["without_warmup"]);
    assert_eq!(counted["placements"], pinned["placements"]);
    // A second run is served from state_dir/counts: no call.
    let before = calls();
    let again = json_of(&simulate(
        d.path(),
        &bare,
        &["--remote", "--format", "json"],
    ));
    assert_eq!(calls(), before, "served from the cache");
    assert_eq!(again["without_warmup"], counted["without_warmup"]);
    // discover counts the same way (here: all from the cache).
    let o = prefix()
        .current_dir(d.path())
        .env(KEY_VAR, "test-key")
        .args([
            "discover",
            "--remote",
            "--format",
            "json",
            bare.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let v = json_of(&o);
    assert_eq!(v["lengths"][MODEL]["source"], "count", "{v}");
    assert_eq!(v["unserved_models"], json!({}));
    assert_eq!(calls(), before);
    // Usage first: with it, --remote has nothing left to count.
    let _ = json_of(&simulate(
        d.path(),
        &with_usage,
        &["--remote", "--format", "json"],
    ));
    assert_eq!(calls(), before);
}

#[test]
fn unpinned_blocks_exit_2_in_one_line_and_a_stand_in_is_marked_approximate() {
    let d = scratch();
    // The tool always comes with the system prompt under one breakpoint: usage pins their
    // sum only.
    let (log, _) = log_via_emulator(d.path(), &requests(true), "tools.jsonl", true);
    let o = simulate(d.path(), &log, &[]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    for want in [
        MODEL,
        "2 of 16 distinct block(s) have no length",
        "--remote",
        "--stand-in TOKENIZER",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    let v = json_of(&simulate(
        d.path(),
        &log,
        &["--stand-in", "openai/o200k_base", "--format", "json"],
    ));
    let l = &v["lengths"];
    assert_eq!(l["approximate"], true, "{l}");
    assert_eq!(l["by_source"]["stand-in:openai/o200k_base"], 2, "{l}");
    assert_eq!(l["by_source"]["usage"], 14, "{l}");
    assert_eq!(l["source"], "stand-in:openai/o200k_base+usage");
    let c = &l["calibration"];
    assert_eq!(c["requests"], 8);
    // The stand-in reads the tool's JSON in the client's key order, the emulator sorted: a
    // few tokens off in about 1,700.
    let err = c["mean_abs_pct_error"].as_f64().unwrap();
    assert!(err < 2.0, "{c}");
    let text = stdout(&simulate(
        d.path(),
        &log,
        &["--stand-in", "openai/o200k_base"],
    ));
    assert!(text.contains("figures approximate"), "{text}");
    assert!(
        text.contains("(tokenizer lengths:stand-in:openai/o200k_base+usage (approximate))"),
        "{text}"
    );
    assert!(
        text.contains("calibration against usage: 8 request(s)"),
        "{text}"
    );
    // An unknown tokenizer cannot stand in.
    let o = simulate(d.path(), &log, &["--stand-in", "anthropic/claude-count"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn discover_works_on_claude_logs_from_usage_and_lists_what_stays_open() {
    let d = scratch();
    let (log, _) = log_via_emulator(d.path(), &requests(false), "batch.jsonl", true);
    let o = run_in(
        d.path(),
        &["discover", "--format", "json", log.to_str().unwrap()],
    );
    let v = json_of(&o);
    assert_eq!(v["unserved_models"], json!({}));
    assert_eq!(v["lengths"][MODEL]["source"], "usage");
    let c = v["candidates"].as_array().unwrap();
    let tok = crate::support::shipped_tokenizer("openai/o200k_base");
    let system = requests(false)[0].body["system"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let want = tok.encode(&system).unwrap().len();
    let shared: BTreeMap<u64, u64> = c
        .iter()
        .map(|x| {
            (
                x["tokens"].as_u64().unwrap(),
                x["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(shared.get(&(want as u64)), Some(&8), "{c:#?}");
    assert!(c.iter().all(|x| x["tokenizer"] == "lengths:usage"
        && x["model"] == MODEL
        && x["registered"].is_null()));
    // Lengths left open: the model is skipped and the note names the flags.
    let (tools, _) = log_via_emulator(d.path(), &requests(true), "tools.jsonl", true);
    let o = run_in(
        d.path(),
        &["discover", "--format", "json", tools.to_str().unwrap()],
    );
    let v = json_of(&o);
    assert_eq!(v["unserved_models"][MODEL], 8);
    let err = stderr(&o);
    assert!(
        err.contains("have no length") && err.contains("--stand-in"),
        "{err}"
    );
    // ... and a stand-in brings it in.
    let o = run_in(
        d.path(),
        &[
            "discover",
            "--stand-in",
            "openai/o200k_base",
            tools.to_str().unwrap(),
        ],
    );
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(text.contains("figures approximate"), "{text}");
    // Every row carries the mark.
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("discovered-"))
        .collect();
    assert!(!rows.is_empty(), "{text}");
    assert!(
        rows.iter()
            .all(|r| r.contains("lengths:stand-in:openai/o200k_base+usage (approximate)")),
        "{text}"
    );
}

/// Usage that claims billions of cached tokens for a one-character block: the lengths it pins
/// are refused before any id is made (they were the only bound on a pseudo-id vector: a line of
/// a few hundred bytes asked for 16 GB).
#[test]
fn usage_claiming_more_tokens_than_a_block_can_hold_is_refused_not_allocated() {
    let d = scratch();
    let line = |i: u32, read: u64| {
        json!({"custom_id": format!("c{i}"), "timestamp": format!("2026-12-01T10:0{i}:00Z"),
               "params": {"model": "claude-sonnet-4-6", "max_tokens": 1,
                          "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
                          "messages": [{"role": "user", "content": "u"}]},
               "result": {"type": "succeeded", "message": {"id": format!("msg_{i}"),
                          "usage": {"input_tokens": 1, "cache_read_input_tokens": read, "cache_creation_input_tokens": 0}}}})
        .to_string()
    };
    let log = d.path().join("huge.jsonl");
    std::fs::write(
        &log,
        format!("{}\n{}\n", line(1, 4_000_000_000), line(2, 4_000_000_000)),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let o = simulate(d.path(), &log, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("the usage is inconsistent"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
