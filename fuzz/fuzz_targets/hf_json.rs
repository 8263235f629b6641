//! Fuzzes HF `tokenizer.json` files: `tokenizer::HfJson::from_bytes` (the `tokenizers` crate
//! plus our byte-level vocabulary decoding), then encoding a short fixed text.
//!
//! Must hold: no panic, no abort, no OOM, bounded time (the `tokenizers` crate is the slow
//! part: a timeout here is a finding, reported with the input size); ids and offsets pair up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prefix_warden::tokenizer::HfJson;

const TEXT: &str = "Hello, world! The cache is warm: 42 tokens\n\tüñí 日本 🦀. <think>";

fuzz_target!(|data: &[u8]| {
    let Ok(tok) = HfJson::from_bytes(data) else {
        return;
    };
    if let Ok((ids, offsets)) = tok.encode_with_offsets(TEXT) {
        assert_eq!(ids.len(), offsets.len());
    }
    let _ = tok.encode(TEXT);
    let _ = tok.vocab().count();
    let _ = tok.special_tokens().len();
});
