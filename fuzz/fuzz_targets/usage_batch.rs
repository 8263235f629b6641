//! libFuzzer target `usage_batch`: what it feeds and what must hold are in src/fuzz_props/usage_batch.rs, which
//! `cargo test` also runs on the committed seeds (fuzz/corpus/usage_batch/) and their mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prefix_warden::fuzz_props::usage_batch::check(data));
