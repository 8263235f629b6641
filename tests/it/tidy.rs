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
