//! libFuzzer target `prompt_yaml`: what it feeds and what must hold are in src/fuzz_props/prompt_yaml.rs, which
//! `cargo test` also runs on the committed seeds (fuzz/corpus/prompt_yaml/) and their mutations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| prefix_warden::fuzz_props::prompt_yaml::check(data));
