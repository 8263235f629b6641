//! libFuzzer target `chat_template`: what it feeds and what must hold are in src/fuzz_props/chat_template.rs, which
//! `cargo test` also runs on the committed seeds (fuzz/corpus/chat_template/) and their mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prefix_warden::fuzz_props::chat_template::check(data));
