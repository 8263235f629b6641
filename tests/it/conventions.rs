//! CLI conventions a newcomer relies on: `--version` with the commit and build day, examples in
//! every subcommand's `--help`, shell completions and man pages, argument errors that name the
//! alternatives, and a progress display only at a terminal.

use std::process::Command;

use crate::support::{prefix, root, run_in, scratch, stderr, stdout};

const SUBCOMMANDS: &[&str] = &[
    "check",
    "tokenize",
    "fingerprint",
    "diff",
    "discover",
    "simulate",
    "lint",
    "daemon",
    "status",
    "emulate",
    "completions",
    "man",
];

#[test]
fn version_names_the_commit_and_the_build_day() {
    let o = run_in(&root(), &["--version"]);
    assert!(o.status.success());
    let v = stdout(&o);
    let rest = v
        .strip_prefix(concat!("prefix ", env!("CARGO_PKG_VERSION"), " (commit "))
        .unwrap_or_else(|| panic!("{v}"));
    let (commit, day) = rest.split_once(", built ").unwrap_or_else(|| panic!("{v}"));
    assert!(
        commit == "unknown" || commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{v}"
    );
    let day = day.strip_suffix(")\n").unwrap_or_else(|| panic!("{v}"));
    assert!(
        chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok(),
        "{v}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    if head.status.success() {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        assert!(v.contains(&head[..7]), "{v} vs HEAD {head}");
    }
}

#[test]
fn every_subcommand_help_has_examples_that_use_it() {
    for sub in SUBCOMMANDS {
        let o = run_in(&root(), &[sub, "--help"]);
        assert!(o.status.success(), "{sub}: {}", stderr(&o));
        let h = stdout(&o);
        let examples = h
            .split_once("Examples:")
            .unwrap_or_else(|| panic!("`prefix {sub} --help` has no Examples:\n{h}"))
            .1;
        assert!(
            examples.contains(&format!("prefix {sub}")),
            "`prefix {sub} --help` examples do not use it:\n{examples}"
        );
        // Every option says what it is for.
        for l in h.lines().filter(|l| l.trim_start().starts_with("--format")) {
            let i = h.find(l).unwrap();
            let after = &h[i + l.len()..];
            let next = after.lines().nth(1).unwrap_or_default();
            assert!(
                l.split_whitespace().count() > 2 || !next.trim().is_empty(),
                "`prefix {sub}`: --format without a description"
            );
        }
    }
}

#[test]
fn completions_and_man_pages() {
    for shell in ["bash", "zsh", "fish"] {
        let o = run_in(&root(), &["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let s = stdout(&o);
        for sub in ["discover", "simulate", "diff"] {
            assert!(s.contains(sub), "{shell} completions lack {sub}");
        }
    }
    let o = run_in(&root(), &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("possible values"), "{}", stderr(&o));

    let o = run_in(&root(), &["man"]);
    assert!(o.status.success());
    let page = stdout(&o);
    assert!(page.contains(".TH prefix 1"), "{page}");
    assert!(page.contains("simulate"));
    let d = tempfile::tempdir().unwrap();
    let o = run_in(&root(), &["man", "--dir", d.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "prefix.1",
        "prefix-diff.1",
        "prefix-discover.1",
        "prefix-check.1",
    ] {
        let p = d.path().join(f);
        let t = std::fs::read_to_string(&p).unwrap_or_else(|_| panic!("{f} not written"));
        assert!(t.contains(".TH"), "{f}");
    }
}

#[test]
fn diff_without_a_target_names_every_alternative() {
    let o = run_in(&root(), &["diff", "--from", "openai/o200k_base"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    for alt in ["--to <TO>", "--to-file", "--to-template"] {
        assert!(e.contains(alt), "{e}");
    }
}

/// Runs `prefix ARGS` under a pseudo-terminal (`script` from util-linux) and returns what the
/// terminal showed.
fn at_a_terminal(dir: &std::path::Path, args: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_prefix");
    let o = Command::new("script")
        .args(["-qec", &format!("{bin} {args} > /dev/null"), "/dev/null"])
        .current_dir(dir)
        .env_remove("PREFIX_WARDEN_CONFIG")
        .output()
        .expect("script (util-linux) runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn progress_shows_at_a_terminal_only_and_not_with_quiet() {
    let d = scratch();
    let shown = at_a_terminal(d.path(), "check --today 2026-12-01");
    assert!(
        shown.contains("loading and verifying every tokenizer"),
        "{shown:?}"
    );
    let quiet = at_a_terminal(d.path(), "--quiet check --today 2026-12-01");
    assert!(!quiet.contains("loading and verifying"), "{quiet:?}");
    // Piped (no terminal): nothing but the report and warnings.
    let o = prefix()
        .current_dir(d.path())
        .args(["check", "--today", "2026-12-01"])
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(
        !stderr(&o).contains("loading and verifying"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn daemon_once_reports_what_the_pass_did() {
    let d = scratch();
    crate::daemon::write_config(d.path(), &["openai/o200k_base"], "", |c| c);
    let o = run_in(d.path(), &["daemon", "--once"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ready"], true, "a completed pass is ready");
    assert!(v["last_evaluation"].as_f64().unwrap() > 0.0);
    assert_eq!(v["last_evaluation_errors"], serde_json::json!([]));
    assert_eq!(
        v["pairs"].as_array().unwrap().len(),
        5,
        "5 prompts x 1 tokenizer"
    );
}
