//! What each fuzz target asserts, as library functions: `fuzz/fuzz_targets/<name>.rs` is
//! `fuzz_target!(|data| fuzz_props::<name>::check(data))`, and the unit test below runs the
//! same functions on every committed seed (`fuzz/corpus/<name>/`), every regression input
//! (`fuzz/regressions/<name>-*`) and a fixed set of mutations of each (truncations, byte
//! flips, insertions, deletions, splices; a fixed-seed generator, so a failure reproduces).
//! That runs on every `cargo test` on stable, without libFuzzer; coverage-guided runs of the
//! same functions are `scripts/fuzz.sh` (nightly, outside CI; figures in docs/reliability.md).
//!
//! Each `check` panics when a property the target promises does not hold; a panic anywhere
//! below it is a finding. Not part of the product's interface.

pub mod chat_template;
pub mod config;
pub mod hf_json;
pub mod huge_pages;
pub mod kv_events;
pub mod live_color;
pub mod log_reader;
pub mod prompt_yaml;
pub mod ratelimit_headers;
pub mod sentencepiece;
pub mod split_blocks;
pub mod tekken;
pub mod tiktoken;
pub mod usage_batch;

/// A target's property check: panics when a property does not hold.
pub type Check = fn(&[u8]);

/// Every fuzz target by name, with its property check. `scripts/fuzz.sh` lists the same names.
pub const TARGETS: [(&str, Check); 14] = [
    ("config", config::check),
    ("prompt_yaml", prompt_yaml::check),
    ("tiktoken", tiktoken::check),
    ("tekken", tekken::check),
    ("sentencepiece", sentencepiece::check),
    ("hf_json", hf_json::check),
    ("chat_template", chat_template::check),
    ("usage_batch", usage_batch::check),
    ("ratelimit_headers", ratelimit_headers::check),
    ("live_color", live_color::check),
    ("log_reader", log_reader::check),
    ("kv_events", kv_events::check),
    ("huge_pages", huge_pages::check),
    ("split_blocks", split_blocks::check),
];

/// `n` deterministic variants of `seed`: 4 truncations, then edits drawn from a fixed-seed
/// xorshift generator (`salt` makes each seed's sequence its own).
pub fn mutations(seed: &[u8], n: usize, salt: u64) -> Vec<Vec<u8>> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ salt.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let len = seed.len();
    let mut out: Vec<Vec<u8>> = (1..=4).map(|k| seed[..len * k / 5].to_vec()).collect();
    while out.len() < n {
        let mut v = seed.to_vec();
        let at = |r: u64, len: usize| {
            if len == 0 {
                0
            } else {
                (r % len as u64) as usize
            }
        };
        match next() % 5 {
            0 if !v.is_empty() => {
                let i = at(next(), v.len());
                v[i] = next() as u8;
            }
            1 => {
                let i = at(next(), v.len() + 1);
                v.insert(
                    i,
                    [b'{', b'}', b'"', b'\\', b'\n', 0, 0xff, b'%'][at(next(), 8)],
                );
            }
            2 if !v.is_empty() => {
                let i = at(next(), v.len());
                let j = (i + 1 + at(next(), 64)).min(v.len());
                v.drain(i..j);
            }
            3 if !v.is_empty() => {
                // Splice: a slice of the input copied to another place (repeats structure).
                let i = at(next(), v.len());
                let j = (i + 1 + at(next(), 256)).min(v.len());
                let piece = v[i..j].to_vec();
                let k = at(next(), v.len() + 1);
                v.splice(k..k, piece);
            }
            _ => {
                let i = at(next(), v.len() + 1);
                v.truncate(i);
                v.extend_from_slice(&seed[len - (len - i).min(len / 2)..]);
            }
        }
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn inputs(target: &str) -> Vec<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("corpus").join(target))
            .unwrap_or_else(|e| panic!("fuzz/corpus/{target}: {e}"))
            .map(|e| e.expect("a readable directory entry").path())
            .collect();
        for e in std::fs::read_dir(root.join("regressions")).expect("fuzz/regressions") {
            let p = e.expect("a readable directory entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name
                .strip_prefix(target)
                .is_some_and(|rest| rest.starts_with('-'))
            {
                files.push(p);
            }
        }
        files.sort();
        files
    }

    /// Runs one target's check on each input and its mutations, naming the input that broke it.
    fn run(target: &str, check: Check, variants: usize) -> usize {
        let mut ran = 0;
        for (i, path) in inputs(target).iter().enumerate() {
            let seed = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let all = std::iter::once(seed.clone()).chain(mutations(&seed, variants, i as u64));
            for (m, data) in all.enumerate() {
                let r = std::panic::catch_unwind(|| check(&data));
                assert!(
                    r.is_ok(),
                    "{target}: {} (variant {m} of mutations(seed, {variants}, {i}))",
                    path.display()
                );
                ran += 1;
            }
        }
        ran
    }

    #[test]
    fn mutations_are_deterministic_and_distinct_from_the_seed() {
        let seed = b"{\"a\": [1, 2, 3], \"b\": \"text\"}";
        assert_eq!(mutations(seed, 24, 7), mutations(seed, 24, 7));
        assert_ne!(mutations(seed, 24, 7), mutations(seed, 24, 8));
        let m = mutations(seed, 24, 7);
        assert_eq!(m.len(), 24);
        assert!(m.iter().filter(|v| v.as_slice() != seed).count() >= 20);
        assert!(mutations(b"", 8, 0).iter().all(|v| v.len() <= 1));
    }

    /// Every committed seed and regression input, and 64 mutations of each, hold their target's
    /// properties. The chat template target renders three templates per input, the hostile
    /// seeds up to their fuel: fewer mutations there keep this test to seconds.
    #[test]
    fn every_target_holds_its_properties_on_its_seeds_and_their_mutations() {
        for (target, check) in TARGETS {
            let variants = if target == "chat_template" { 16 } else { 64 };
            let ran = run(target, check, variants);
            assert!(ran > variants, "{target}: only {ran} inputs");
        }
    }

    /// The list in scripts/fuzz.sh, the [[bin]]s of fuzz/Cargo.toml and the files in
    /// fuzz/fuzz_targets/ are the targets here, each a one-line call of its check.
    #[test]
    fn the_fuzz_package_runs_exactly_these_checks() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let script =
            std::fs::read_to_string(root.join("scripts/fuzz.sh")).expect("scripts/fuzz.sh");
        let list = script
            .lines()
            .find_map(|l| l.strip_prefix("ALL_TARGETS=("))
            .and_then(|l| l.strip_suffix(')'))
            .expect("ALL_TARGETS=(...) in scripts/fuzz.sh");
        let names: Vec<&str> = TARGETS.iter().map(|t| t.0).collect();
        assert_eq!(list.split(' ').collect::<Vec<_>>(), names);
        let manifest =
            std::fs::read_to_string(root.join("fuzz/Cargo.toml")).expect("fuzz/Cargo.toml");
        for name in &names {
            assert!(
                manifest.contains(&format!(
                    "name = \"{name}\"\npath = \"fuzz_targets/{name}.rs\""
                )),
                "{name}"
            );
            let body = std::fs::read_to_string(root.join(format!("fuzz/fuzz_targets/{name}.rs")))
                .unwrap_or_else(|e| panic!("fuzz/fuzz_targets/{name}.rs: {e}"));
            assert!(
                body.contains(&format!("fuzz_props::{name}::check(")),
                "{name}.rs does not call its check"
            );
        }
        assert_eq!(
            std::fs::read_dir(root.join("fuzz/fuzz_targets"))
                .expect("fuzz_targets")
                .count(),
            names.len()
        );
    }
}
