//! libFuzzer target `sentencepiece`: what it feeds and what must hold are in src/fuzz_props/sentencepiece.rs, which
//! `cargo test` also runs on the committed seeds (fuzz/corpus/sentencepiece/) and their mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prefix_warden::fuzz_props::sentencepiece::check(data));
