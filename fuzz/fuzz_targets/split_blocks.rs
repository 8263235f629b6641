//! libFuzzer target `split_blocks`: what it feeds and what must hold are in src/fuzz_props/split_blocks.rs, which
//! `cargo test` also runs on the committed seeds (fuzz/corpus/split_blocks/) and their mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prefix_warden::fuzz_props::split_blocks::check(data));
