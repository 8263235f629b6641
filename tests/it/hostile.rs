//! Hostile input and faults, one test per row of the table that once aborted, exhausted or
//! fooled the daemon: each must now be a one-line error (exit 2), a 400, or a recovery that is
//! counted and shown.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::daemon::{metric, post, write_config, Running};
use crate::support::{run_in, scratch, stderr};

/// One `error:` line, exit 2, quickly, and no abort.
fn assert_refused(args: &[&str], dir: &std::path::Path, needle: &str) {
    let started = Instant::now();
    let o = run_in(dir, args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{args:?} took {:?}",
        started.elapsed()
    );
}

/// Points the `openai/cl100k_base` entry at `file`, unpinned.
fn cl100k_file(dir: &std::path::Path, file: &str) {
    let cfg = std::fs::read_to_string(dir.join("daemon.toml")).unwrap();
    let cfg = cfg
        .replace(
            "file = \"tokenizers/openai/cl100k_base.tiktoken.gz\"",
            &format!("file = \"{file}\""),
        )
        .replace(
            "sha256 = \"223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7\"",
            "sha256 = \"unpinned\"",
        );
    std::fs::write(dir.join("daemon.toml"), cfg).unwrap();
}

#[test]
fn a_rank_of_four_billion_aborted_the_process() {
    let d = scratch();
    let mut ranks = String::new();
    for b in 0..=255u8 {
        use base64::Engine as _;
        let t = base64::engine::general_purpose::STANDARD.encode([b]);
        ranks.push_str(&format!("{t} {b}\n"));
    }
    ranks.push_str("YWI= 4000000000\n");
    std::fs::write(d.path().join("huge-rank.tiktoken"), ranks).unwrap();
    cl100k_file(d.path(), "huge-rank.tiktoken");
    assert_refused(&["check"], d.path(), "rank 4000000000 is out of range");
}

#[test]
fn dev_zero_was_read_until_memory_ran_out() {
    let d = scratch();
    cl100k_file(d.path(), "/dev/zero");
    assert_refused(
        &["check"],
        d.path(),
        "/dev/zero: not a regular file (a character device)",
    );
    let d = scratch();
    let y = d.path().join("prompts/cline-hermes-4.yaml");
    let yaml = std::fs::read_to_string(&y).unwrap();
    let tf = yaml.lines().find(|l| l.starts_with("text_file:")).unwrap();
    std::fs::write(&y, yaml.replace(tf, "text_file: zero")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", d.path().join("prompts/zero")).unwrap();
    assert_refused(&["check"], d.path(), "text_file");
    assert_refused(
        &["tokenize", "--tokenizer", "openai/o200k_base", "/dev/zero"],
        d.path(),
        "/dev/zero: not a regular file (a character device)",
    );
}

#[test]
fn a_gzip_bomb_was_fully_decompressed_before_the_sha_check() {
    let d = scratch();
    let f = std::fs::File::create(d.path().join("bomb.tiktoken.gz")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::best());
    let zeros = vec![b'A'; 1 << 20];
    for _ in 0..300 {
        gz.write_all(&zeros).unwrap(); // 300 MiB, about 300 KiB compressed
    }
    gz.finish().unwrap();
    cl100k_file(d.path(), "bomb.tiktoken.gz");
    assert_refused(&["check"], d.path(), "expands to more than the");
}

#[test]
fn a_text_file_outside_the_prompts_directory_was_accepted() {
    let d = scratch();
    let y = d.path().join("prompts/cline-hermes-4.yaml");
    let yaml = std::fs::read_to_string(&y).unwrap();
    let tf = yaml.lines().find(|l| l.starts_with("text_file:")).unwrap();
    std::fs::write(
        &y,
        // Enough `..` to reach / from any scratch directory (TMPDIR may be deep).
        yaml.replace(tf, &format!("text_file: {}etc/passwd", "../".repeat(64))),
    )
    .unwrap();
    assert_refused(
        &["check"],
        d.path(),
        "resolves outside the prompts directory",
    );
    // A symlink out of the directory is the same thing.
    std::os::unix::fs::symlink("/etc/passwd", d.path().join("prompts/texts/passwd")).unwrap();
    std::fs::write(&y, yaml.replace(tf, "text_file: texts/passwd")).unwrap();
    assert_refused(
        &["check"],
        d.path(),
        "resolves outside the prompts directory",
    );
}

#[test]
fn absurd_config_numbers_were_accepted() {
    for (from, to, needle) in [
        (
            "jitter_secs = 5",
            "jitter_secs = 18446744073709551615",
            "jitter_secs",
        ),
        (
            "block_size = 16",
            "block_size = 9223372036854775807",
            "block_size",
        ),
    ] {
        let d = scratch();
        let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
        assert!(cfg.contains(from), "the shipped config has `{from}`");
        std::fs::write(d.path().join("daemon.toml"), cfg.replacen(from, to, 1)).unwrap();
        assert_refused(&["check"], d.path(), needle);
    }
}

#[test]
fn a_tokenizer_without_sha256_was_accepted_as_not_pinned() {
    let d = scratch();
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    std::fs::write(
        d.path().join("daemon.toml"),
        cfg.replace(
            "sha256 = \"223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7\"\n",
            "",
        ),
    )
    .unwrap();
    assert_refused(&["check"], d.path(), "tokenizer[0].sha256: missing: pin");
}

#[test]
fn usage_of_u64_max_twice_wrapped_the_counter() {
    let d = scratch();
    write_config(d.path(), &["openai/o200k_base"], "", |c| c);
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let url = format!("http://{}/v1/usage", r.addr);
    let body = r#"[{"prompt": "cline-hermes-4", "provider": "anthropic", "usage": {"input_tokens": 1, "cache_read_input_tokens": 18446744073709551615}}]"#;
    for _ in 0..2 {
        let (code, resp) = post(&url, body, None);
        assert_eq!(code, 400, "{resp}");
        assert!(
            resp.contains(
                "records[0].usage: `cache_read_input_tokens` = 18446744073709551615 is more than"
            ),
            "{resp}"
        );
    }
    let m = r.get("/metrics").1;
    assert_eq!(
        metric(&m, "prefix_warden_cache_read_tokens_total{prompt=\"cline-hermes-4\",provider=\"anthropic\",source=\"traffic\"}"),
        None,
        "nothing counted"
    );
}

#[test]
fn a_deleted_or_overwritten_database_went_unnoticed() {
    let d = scratch();
    write_config(
        d.path(),
        &["openai/o200k_base"],
        "watch_interval_secs = 3600",
        |c| c,
    );
    let db = d.path().join("state/prefix-warden.sqlite");
    // Start on a corrupt file: moved aside, a new one, ready with every pair.
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::write(&db, vec![0x5a; 32768]).unwrap();
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let st = |r: &Running| serde_json::from_str::<serde_json::Value>(&r.get("/status").1).unwrap();
    let s = st(&r);
    assert_eq!(s["pairs"].as_array().unwrap().len(), 5, "{s}");
    assert_eq!(s["store"]["recoveries"], 1, "{s}");
    assert!(
        s["store"]["last_problem"]
            .as_str()
            .unwrap()
            .contains("corrupt"),
        "{s}"
    );
    let moved: Vec<_> = std::fs::read_dir(db.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("prefix-warden.sqlite.bad-")
        })
        .collect();
    assert!(!moved.is_empty(), "the bad file is kept for forensics");
    let recoveries = |r: &Running, reason: &str| {
        metric(
            &r.get("/metrics").1,
            &format!("prefix_warden_store_recoveries_total{{reason=\"{reason}\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(recoveries(&r, "corrupt"), 1.0);
    let failures = |r: &Running| {
        metric(
            &r.get("/metrics").1,
            "prefix_warden_evaluations_total{result=\"failure\"}",
        )
        .unwrap_or(0.0)
    };

    // Deleted while running: the next pass notices, starts a new file, and is not a success.
    std::fs::remove_file(&db).unwrap();
    let before = failures(&r);
    r.hup();
    r.wait_until("the deletion noticed", |r| recoveries(r, "deleted") == 1.0);
    assert!(db.exists(), "a new database file");
    r.wait_until("the pass counted as a failure", |r| failures(r) > before);
    let s = st(&r);
    assert!(
        s["store"]["last_problem"]
            .as_str()
            .unwrap()
            .contains("deleted"),
        "{s}"
    );
    assert!(
        s["last_evaluation_errors"]
            .to_string()
            .contains("history database"),
        "{s}"
    );

    // Overwritten with random bytes: noticed too.
    std::fs::write(&db, vec![0xa5; 16384]).unwrap();
    r.hup();
    r.wait_until("the corruption noticed", |r| {
        recoveries(r, "corrupt") + recoveries(r, "replaced") >= 2.0
    });
    // And the next pass on the new file succeeds again.
    let ok = |r: &Running| {
        metric(
            &r.get("/metrics").1,
            "prefix_warden_evaluations_total{result=\"success\"}",
        )
        .unwrap_or(0.0)
    };
    let before = ok(&r);
    r.hup();
    r.wait_until("a clean pass", |r| ok(r) > before);
}
