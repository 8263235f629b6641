//! libFuzzer target `huge_pages`: what it feeds and what must hold are in src/fuzz_props/huge_pages.rs, which
//! `cargo test` also runs on the committed seeds (fuzz/corpus/huge_pages/) and their mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prefix_warden::fuzz_props::huge_pages::check(data));
