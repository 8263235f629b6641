//! Fuzzes Mistral tekken JSON files: `tokenizer::load_tekken` (config sizes, base64 vocab,
//! the split pattern), then encoding a short fixed text with what loaded.
//!
//! Must hold: no panic, no abort, no OOM (vocab sizes and ranks are bounded before any table
//! is allocated), bounded time; every id is at least the special-token count, and the offsets
//! cover the text exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prefix_warden::tokenizer::load_tekken;

const TEXT: &str = "Hello, world! The cache is warm: 42 tokens\n\tüñí 日本 🦀.";

fuzz_target!(|data: &[u8]| {
    let Ok(bpe) = load_tekken(data) else {
        return;
    };
    if let Ok((ids, offsets)) = bpe.encode_with_offsets(TEXT) {
        assert_eq!(ids.len(), offsets.len());
        assert_eq!(offsets.last().map_or(0, |o| o.1), TEXT.len(), "offsets do not cover the text");
    }
    let _ = bpe.vocab().count();
    let _ = bpe.special_tokens().len();
});
