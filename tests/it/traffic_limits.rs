//! Request logs at the edges (issue #18): `discover`, `lint` and `simulate` on a device or a
//! FIFO, logs of several zstd frames and gzip members, a conversation of 200,000 messages, and
//! `simulate`'s limits on what it holds. Each must finish promptly with the whole log read or a
//! one-line error; a run that hangs is killed at a deadline and fails the test.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use prefix_warden::analyzer::Analyzer;
use prefix_warden::traffic::simulate::{self, Limits, Placement};
use serde_json::Value;

use crate::support::{root, run_deadline, stderr};

/// The three commands that read logs, on `log`.
fn commands(log: &str) -> [Vec<String>; 3] {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    [
        v(&["discover", log]),
        v(&["lint", log]),
        v(&["simulate", "--model", "openai/gpt-5.5", log]),
    ]
}

#[test]
fn discover_lint_and_simulate_on_dev_zero_or_a_fifo_ran_until_killed() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("log.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    for (log, kind) in [
        ("/dev/zero", "a character device"),
        (fifo.to_str().unwrap(), "a FIFO"),
    ] {
        for args in commands(log) {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let started = Instant::now();
            let o = run_deadline(&root(), &args, 60);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            assert!(
                err.contains(&format!("{log}: not a regular file ({kind})")),
                "{args:?}: {err}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{args:?}: {:?}",
                started.elapsed()
            );
        }
    }
}

/// The example log (70 requests, 2 bad lines) as one zstd frame the `zstd` tool made:
/// `zcat examples/logs/agents.jsonl.gz | zstd -19 > tests/data/traffic/agents.jsonl.zst`.
fn agents_zst() -> Vec<u8> {
    std::fs::read(root().join("tests/data/traffic/agents.jsonl.zst")).unwrap()
}

fn discover_json(log: &Path) -> Value {
    let o = run_deadline(
        &root(),
        &["discover", "--format", "json", log.to_str().unwrap()],
        120,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn a_log_of_two_zstd_frames_was_read_to_the_end_of_the_first() {
    let d = tempfile::tempdir().unwrap();
    let gz = std::fs::read(root().join("examples/logs/agents.jsonl.gz")).unwrap();
    // Two frames (`cat a.zst a.zst`), a gzip member after a frame and a frame after a member.
    for (name, bytes) in [
        (
            "two-frames.jsonl.zst",
            [agents_zst(), agents_zst()].concat(),
        ),
        ("zst-then-gz.jsonl.zst", [agents_zst(), gz.clone()].concat()),
        ("gz-then-zst.jsonl.gz", [gz.clone(), agents_zst()].concat()),
    ] {
        let log = d.path().join(name);
        std::fs::write(&log, bytes).unwrap();
        let v = discover_json(&log);
        assert_eq!(v["read"]["records"], 140, "{name}");
        assert_eq!(v["read"]["bad_lines"], 4, "{name}");
        let lines: Vec<u64> = v["read"]["bad"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["line"].as_u64().unwrap())
            .collect();
        assert_eq!(
            lines,
            [11, 31, 83, 103],
            "{name}: one stream, lines counted on"
        );
    }
    // Bytes after the frame that start no frame: a bad line naming the byte offset.
    let n = agents_zst().len();
    let log = d.path().join("garbage.jsonl.zst");
    std::fs::write(
        &log,
        [agents_zst(), b"PK\x03\x04 not a frame".to_vec()].concat(),
    )
    .unwrap();
    let v = discover_json(&log);
    assert_eq!(v["read"]["records"], 70);
    let last = &v["read"]["bad"][2];
    assert_eq!(last["line"], 73);
    let reason = last["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("byte {n}: neither a gzip member nor a zstd frame")),
        "{reason}"
    );
}

#[test]
fn discover_on_a_conversation_of_200000_messages_was_quadratic_in_depth() {
    // Two requests (so every node is shared) of 200,000 messages, 1,000 distinct texts.
    let n = 200_000;
    let mut line = String::from(r#"{"model": "gpt-4.1", "messages": ["#);
    for i in 0..n {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&format!(
            r#"{{"role": "user", "content": "message {}"}}"#,
            i % 1000
        ));
    }
    line.push_str("]}\n");
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("long.jsonl");
    std::fs::write(&log, line.repeat(2)).unwrap();
    let tok = crate::support::shipped_tokenizer("openai/o200k_base");
    let per_text: Vec<usize> = (0..1000)
        .map(|i| tok.encode(&format!("message {i}")).unwrap().len())
        .collect();
    let tokens: usize = (0..n).map(|i| per_text[i % 1000]).sum();
    let started = Instant::now();
    let v = discover_json(&log);
    let took = started.elapsed();
    assert_eq!(v["requests"], 2);
    let c = &v["candidates"][0];
    assert_eq!(c["requests"], 2);
    assert_eq!(c["blocks"], n);
    assert_eq!(c["tokens"], tokens);
    assert_eq!(v["candidates"].as_array().unwrap().len(), 1);
    eprintln!("discover, 2 x {n} messages: {took:?}");
}

/// `n` requests of gpt-5.5 a second apart, each the same system block (about 1,200 tokens:
/// past the rule's minimum, so it is cached) and a distinct user message.
fn small_log(dir: &Path, n: usize) -> std::path::PathBuf {
    let system = "You are terse. ".repeat(300);
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            r#"{{"model": "gpt-5.5", "timestamp": {}, "messages": [{{"role": "system", "content": "{system}"}}, {{"role": "user", "content": "question {i}"}}]}}"#,
            1_796_032_800 + i
        ));
        s.push('\n');
    }
    let p = dir.join("small.jsonl");
    std::fs::write(&p, s).unwrap();
    p
}

fn simulate_with(log: &Path, limits: Limits) -> prefix_warden::error::Result<simulate::Simulation> {
    let a = Analyzer::load(&root().join("daemon.toml")).unwrap();
    simulate::simulate(
        &a,
        &[log],
        "openai/gpt-5.5",
        simulate::Options {
            warmup: None,
            placement: Placement::Auto,
            per_request: false,
            limits,
            lengths: None,
        },
    )
}

#[test]
fn simulate_held_every_request_until_memory_ran_out() {
    let d = tempfile::tempdir().unwrap();
    let log = small_log(d.path(), 50);
    let ok = simulate_with(&log, Limits::default()).unwrap();
    assert_eq!(ok.without_warmup.requests, 50);
    let at = |l: Limits| simulate_with(&log, l).unwrap_err().to_string();
    let e = at(Limits {
        requests: 20,
        ..Limits::default()
    });
    assert_eq!(e.lines().count(), 1);
    assert!(
        e.contains("small.jsonl: line 21: simulate holds at most 20 requests of one model"),
        "{e}"
    );
    let e = at(Limits {
        block_refs: 31,
        ..Limits::default()
    });
    assert!(
        e.contains("line 16: simulate holds at most 31 block references"),
        "{e}"
    );
    // Distinct blocks' ids: the system block alone is more than 1,000.
    let e = at(Limits {
        token_ids: 1000,
        ..Limits::default()
    });
    assert!(
        e.contains("small.jsonl: line 1: more than 1000 token ids of distinct blocks"),
        "{e}"
    );
    // One replay's cache may hold a quarter of them: the first entry is more.
    let e = at(Limits {
        token_ids: 4000,
        ..Limits::default()
    });
    assert!(
        e.contains("the simulated cache would hold more than 1000 token ids at once"),
        "{e}"
    );
}
