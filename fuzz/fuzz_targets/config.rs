//! libFuzzer target `config`: what it feeds and what must hold are in src/fuzz_props/config.rs, which
//! `cargo test` also runs on the committed seeds (fuzz/corpus/config/) and their mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prefix_warden::fuzz_props::config::check(data));
