//! libFuzzer target `ratelimit_headers`: what it feeds and what must hold are in src/fuzz_props/ratelimit_headers.rs, which
//! `cargo test` also runs on the committed seeds (fuzz/corpus/ratelimit_headers/) and their mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prefix_warden::fuzz_props::ratelimit_headers::check(data));
