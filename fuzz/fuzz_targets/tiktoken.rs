//! libFuzzer target `tiktoken`: what it feeds and what must hold are in src/fuzz_props/tiktoken.rs, which
//! `cargo test` also runs on the committed seeds (fuzz/corpus/tiktoken/) and their mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prefix_warden::fuzz_props::tiktoken::check(data));
