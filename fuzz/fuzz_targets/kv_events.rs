//! libFuzzer target `kv_events`: what it feeds and what must hold are in src/fuzz_props/kv_events.rs, which
//! `cargo test` also runs on the committed seeds (fuzz/corpus/kv_events/) and their mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prefix_warden::fuzz_props::kv_events::check(data));
