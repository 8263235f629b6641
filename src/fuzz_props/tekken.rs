//! Mistral tekken JSON files: `tokenizer::load_tekken` (config sizes, base64 vocab, the split
//! pattern), then encoding a short fixed text with what loaded.
//!
//! Must hold: no panic, no OOM (vocab sizes and ranks are bounded before any table is
//! allocated), bounded time; ids and offsets pair up, and the offsets are contiguous and within
//! the text.
//!
//! Known finding, not asserted here: the offsets need not cover the text. The split pattern
//! comes from the file, and text that no alternative of it matches (pattern
//! `[^\r\n\p{L}\p{N}\n/]*|\s*[\r\n]+|\s+(?!\S)|s\+` skips letters) gets no token, as in
//! tiktoken's `encode_ordinary`; `RankBpe::encode_with_offsets` then lays the offsets end to end
//! from 0, so they point at the wrong bytes (fuzz/regressions/tekken-pattern-skips-text).

use crate::tokenizer::load_tekken;

const TEXT: &str = "Hello, world! The cache is warm: 42 tokens\n\tüñí 日本 🦀.";

pub fn check(data: &[u8]) {
    let Ok(bpe) = load_tekken(data) else {
        return;
    };
    if let Ok((ids, offsets)) = bpe.encode_with_offsets(TEXT) {
        assert_eq!(ids.len(), offsets.len());
        let mut pos = 0;
        for &(a, b) in &offsets {
            assert!(a == pos && a < b, "offsets not contiguous: {offsets:?}");
            pos = b;
        }
        assert!(pos <= TEXT.len(), "offsets past the text: {offsets:?}");
    }
    let _ = bpe.vocab().count();
    let _ = bpe.special_tokens().len();
}
