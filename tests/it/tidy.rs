//! Repository hygiene, checked as a normal test: every source file says what it is for, and the
//! shipped tokenizer files match their published checksums.

use crate::support::root;

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    for d in [
        "src",
        "tests",
        "benches",
        "crates/core/src",
        "fuzz/fuzz_targets",
    ] {
        rust_files(&root().join(d), &mut files);
    }
    assert!(files.len() > 10);
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.strip_prefix(root()).unwrap().display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a `//!` doc: {missing:?}");
}

#[test]
fn shipped_tokenizers_match_sha256sums() {
    let sums = std::fs::read_to_string(root().join("tokenizers/SHA256SUMS")).unwrap();
    let mut n = 0;
    for line in sums.lines().filter(|l| !l.trim().is_empty()) {
        let (sha, path) = line.split_once("  ").unwrap();
        let bytes =
            prefix_warden::tokenizer::read_maybe_gzip(&root().join("tokenizers").join(path))
                .unwrap();
        assert_eq!(prefix_warden::tokenizer::sha256_hex(&bytes), sha, "{path}");
        n += 1;
    }
    assert_eq!(n, 13);
}

/// Issue #22: the emulator's layering, checked instead of a crate boundary. It may use the
/// core (tokenizers, cache rules, KV-event wire, provider kinds, config, errors) and the root
/// crate's HTTP server, nothing of the daemon; and only the CLI and the daemon's worker start
/// it (`[emulator]`).
#[test]
fn the_emulator_uses_only_the_core_and_the_server_and_only_the_cli_and_workers_use_it() {
    let allowed = [
        "cache_rules",
        "config",
        "error",
        "kv_events",
        "provider",
        "tokenizer",
        "server",
        "emulator",
    ];
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut wrong = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(root()).unwrap().display().to_string();
        let text = std::fs::read_to_string(f).unwrap();
        let in_emulator = rel.starts_with("src/emulator/");
        for (i, _) in text.match_indices("crate::") {
            let module: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if in_emulator && !allowed.contains(&module.as_str()) {
                wrong.push(format!("{rel}: the emulator uses crate::{module}"));
            }
            if !in_emulator
                && module == "emulator"
                && !["src/cli.rs", "src/daemon/workers.rs", "src/lib.rs"].contains(&rel.as_str())
            {
                wrong.push(format!("{rel}: uses the emulator"));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
