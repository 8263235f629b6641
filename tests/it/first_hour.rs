//! Issue #20, "the first hour, second pass": what a new user still tripped on, one test per
//! item whose behaviour changed.

use std::time::Duration;

use crate::daemon::{write_config, Running};
use crate::support::{free_port, run_in, scratch, stderr, stdout};

/// Item 5: after a failed reload, `prefix status` re-read the broken `daemon.toml` to find the
/// daemon and printed only the parse error; the daemon itself still ran the old config.
#[test]
fn status_after_a_failed_reload_printed_only_the_parse_error() {
    let d = scratch();
    let port = free_port();
    write_config(d.path(), &["openai/o200k_base"], "", |c| {
        c.replace(
            "listen = \"127.0.0.1:0\"",
            &format!("listen = \"127.0.0.1:{port}\""),
        )
    });
    let mut r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    for broken in ["\n[daemon\nlisten = 1\n", "\nblock_size = \"sixteen\"\n"] {
        let cfg = d.path().join("daemon.toml");
        let good = std::fs::read_to_string(&cfg).unwrap();
        std::fs::write(&cfg, format!("{good}{broken}")).unwrap();
        r.hup();
        r.wait_log(
            |l| l.contains("config reload failed"),
            Duration::from_secs(30),
        );
        let o = run_in(d.path(), &["status"]);
        assert!(o.status.success(), "{broken:?}: {}", stderr(&o));
        assert!(
            stdout(&o).contains("last reload failed (running config kept)"),
            "{}",
            stdout(&o)
        );
        assert!(
            stderr(&o).contains(&format!("asking the daemon at 127.0.0.1:{port}")),
            "{}",
            stderr(&o)
        );
        std::fs::write(&cfg, good).unwrap();
    }
}

/// Item 6: `check` passed a warm-up whose lookup file does not exist (the daemon failed at its
/// next tick), and said nothing of a 20-token prompt for a model that caches 1,024 at least.
#[test]
fn check_missed_what_the_daemon_would_hit() {
    let d = scratch();
    let cfg = d.path().join("daemon.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("path = \"deploy/live-color.json\""));
    std::fs::write(
        &cfg,
        text.replacen(
            "path = \"deploy/live-color.json\"",
            "path = \"deploy/nope.json\"",
            1,
        ),
    )
    .unwrap();
    let o = run_in(d.path(), &["check"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("warmup[0].lookup") && err.contains("nope.json"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let d = scratch();
    std::fs::write(
        d.path().join("prompts/tiny.yaml"),
        "id: tiny\ndescription: too short to cache\nowner: x@example.com\ntext: \"You are terse. Answer in one word.\"\nmodels:\n  - openai/gpt-5.5\n",
    )
    .unwrap();
    let o = run_in(d.path(), &["check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        all.contains("prompt `tiny` is ")
            && all.contains("shorter than the 1024-token minimum openai/gpt-5.5 caches"),
        "{all}"
    );
    assert!(!all.contains("prompt `browser-use-agent` is "), "{all}");

    // Issue #22: on an engine, a prefix shorter than one block (and the token after it) is
    // never cached (vLLM never serves the block holding the last token).
    let d = scratch();
    std::fs::write(
        d.path().join("prompts/tiny.yaml"),
        "id: tiny\ndescription: too short to cache\nowner: x@example.com\ntext: \"Be terse.\"\nmodels:\n  - vllm/Qwen3-8B\n",
    )
    .unwrap();
    let o = run_in(d.path(), &["check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        all.contains("prompt `tiny` is ")
            && all.contains("shorter than one 16-token block of vllm/Qwen3-8B"),
        "{all}"
    );
}

/// Item 7: errors that lost their place or suggested what the next run refuses.
#[test]
fn config_errors_name_their_place_and_suggest_what_works() {
    for (from, to, want) in [
        (
            "tokenizer = \"openai/o200k_base\"\n\n# ----",
            "tokenizer = \"openai/o200k\"\n\n# ----",
            "emulator.tokenizer: `openai/o200k` is not a registered tokenizer with local ids",
        ),
        (
            "cache_rules = \"data/cache-rules.toml\"",
            "cache_rules = \"data/nope.toml\"",
            "daemon.toml:6: cache_rules: ",
        ),
        (
            "provider = \"openai-chat\"",
            "provider = \"openai_chat\"",
            "warmup[1].provider: unknown provider `openai_chat` (warm-ups send: ",
        ),
    ] {
        let d = scratch();
        let cfg = d.path().join("daemon.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(text.contains(from), "{from}");
        std::fs::write(&cfg, text.replacen(from, to, 1)).unwrap();
        let o = run_in(d.path(), &["check"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{want:?} in {err}");
        assert!(err.contains("daemon.toml:"), "{err}");
        if want.contains("warm-ups send") {
            assert!(!err.contains("gemini"), "{err}");
        }
    }
}

/// Item 8: help a newcomer can follow. Examples never wrap mid-command (each fits in 100
/// columns, clap's width when the output is not a terminal); `prefix --help` names lint's exit
/// 1; `emulate --engine` lists its values; the examples of `simulate --help` that use shipped
/// files run on the shipped config.
#[test]
fn help_examples_fit_and_run() {
    let d = scratch();
    crate::support::copy_recursive(
        &crate::support::root().join("examples"),
        &d.path().join("examples"),
    );
    let top = stdout(&run_in(d.path(), &["--help"]));
    assert!(top.contains("`lint`: findings above --fail-over"), "{top}");
    for sub in [
        "check",
        "tokenize",
        "fingerprint",
        "diff",
        "discover",
        "simulate",
        "lint",
        "daemon",
        "status",
        "backup",
        "emulate",
        "completions",
        "man",
    ] {
        let help = stdout(&run_in(d.path(), &[sub, "--help"]));
        let examples: Vec<&str> = help
            .lines()
            .skip_while(|l| !l.starts_with("Examples:"))
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .collect();
        assert!(!examples.is_empty(), "{sub}: no examples");
        for l in &examples {
            // A wrapped command leaves a tail line without the command on it.
            assert!(l.contains("prefix "), "{sub}: a wrapped example line {l:?}");
            assert!(l.len() <= 100, "{sub}: {l:?} is {} columns", l.len());
        }
        if sub == "emulate" {
            assert!(
                help.contains("hosted") && help.contains("vllm") && help.contains("sglang"),
                "{help}"
            );
            assert!(help.contains("possible values"), "{help}");
        }
        if sub == "simulate" {
            let first = examples[0].split_whitespace().skip(1).collect::<Vec<_>>();
            let o = run_in(d.path(), &first);
            assert!(o.status.success(), "{first:?}: {}", stderr(&o));
        }
    }
}

/// Item 3: the README's headline `diff` example (in "Run it") prices something: the cl100k
/// example priced nothing once its models retired. The command is read from the README and run
/// as written; the cold cost it reports is the one the README quotes, and not zero.
#[test]
fn the_headline_diff_example_shows_a_cost() {
    let readme = std::fs::read_to_string(crate::support::root().join("README.md")).unwrap();
    let run_it = &readme[readme.find("## Run it").unwrap()..readme.find("## Test it").unwrap()];
    let line = run_it
        .lines()
        .find(|l| l.starts_with("cargo run --release -- diff "))
        .expect("a diff example in Run it");
    let args: Vec<String> = line["cargo run --release -- ".len()..]
        .split_whitespace()
        .map(|a| a.trim_matches('\'').to_string())
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let d = scratch();
    let o = run_in(d.path(), &args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    let row = out
        .lines()
        .find(|l| l.starts_with("browser-use-agent "))
        .expect("a browser-use-agent row");
    let cold: f64 = row.split_whitespace().last().unwrap().parse().unwrap();
    assert!(cold > 0.0, "{row}");
    assert!(
        run_it.contains(&format!("${cold:.2} a day")),
        "README quotes another cost than {cold:.2}"
    );
    assert!(
        stderr(&o).contains("priced at $0.3/M input tokens (--price): vllm/Qwen3-32B"),
        "{}",
        stderr(&o)
    );
    let bad = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "qwen/qwen2.5-qwen3",
            "--to",
            "qwen/qwen3",
            "--price",
            "vllm/*=-1",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("must be 0 to"), "{}", stderr(&bad));
}

/// Item 8: `tokenize --format`: the JSON object (default), one id per line, or the count alone,
/// all the same ids.
#[test]
fn tokenize_prints_json_ids_or_a_count() {
    let d = scratch();
    std::fs::write(d.path().join("t.txt"), "Hello, cache! 日本 🦀\n").unwrap();
    let tokenize = |format: &str| {
        run_in(
            d.path(),
            &[
                "tokenize",
                "--tokenizer",
                "openai/o200k_base",
                "t.txt",
                "--format",
                format,
            ],
        )
    };
    let run = |format: &str| {
        let o = tokenize(format);
        assert!(o.status.success(), "{format}: {}", stderr(&o));
        stdout(&o)
    };
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let ids: Vec<u64> = json["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(ids.len() > 3, "{json}");
    let lines: Vec<u64> = run("ids").lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(lines, ids);
    assert_eq!(run("count").trim(), ids.len().to_string());
    assert_eq!(json["count"].as_u64(), Some(ids.len() as u64));
    let bad = tokenize("table");
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("possible values: json, ids, count"),
        "{}",
        stderr(&bad)
    );
}

/// Item 9: `diff --to-template` printed empty byte ranges (`[0, 0)`) where the template's own
/// text was inserted; a place is named as one, and every range shown holds text.
#[test]
fn diff_to_template_printed_empty_ranges() {
    let d = scratch();
    let o = run_in(
        d.path(),
        &[
            "diff",
            "--from",
            "mistral/nemo-chat",
            "--to-template",
            "templates/mistral/Mistral-Small-3.1-24B-Instruct-2503.jinja",
        ],
    );
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(out.contains("template text at byte 0"), "{out}");
    for part in out.split('[').skip(1) {
        let Some((range, _)) = part.split_once(')') else {
            continue;
        };
        if let Some((a, b)) = range.split_once(", ") {
            if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                assert!(a < b, "an empty range [{a}, {b}) in {out}");
            }
        }
    }
}
