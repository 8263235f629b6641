//! SentencePiece `.model` files: `tokenizer::SentencePiece::from_bytes` (the protobuf reader,
//! piece table, precompiled charsmap, model type), then encoding a short fixed text and the
//! input itself (as lossy UTF-8) with what loaded.
//!
//! Must hold: no panic, no OOM (lengths are checked against the bytes left before anything is
//! sliced or allocated; the piece count is bounded), bounded time; ids and offsets pair up, and
//! the offsets tile the text on character boundaries.

use crate::tokenizer::SentencePiece;

const TEXT: &str = "Hello,  world! The cache is warm: 42 tokens\n\tüñí 日本 🦀. [INST] <think>";

fn encode(sp: &SentencePiece, text: &str) {
    let Ok((ids, offsets)) = sp.encode_with_offsets(text) else {
        return;
    };
    assert_eq!(ids.len(), offsets.len());
    let mut pos = 0;
    for &(a, b) in &offsets {
        assert!(a == pos && a <= b, "offsets do not tile: {offsets:?}");
        assert!(text.is_char_boundary(a) && text.is_char_boundary(b));
        pos = b;
    }
    assert!(
        offsets.is_empty() || pos == text.len(),
        "offsets short of the text: {offsets:?}"
    );
}

pub fn check(data: &[u8]) {
    let Ok(sp) = SentencePiece::from_bytes(data) else {
        return;
    };
    encode(&sp, TEXT);
    encode(&sp, &String::from_utf8_lossy(&data[..data.len().min(256)]));
    let _ = sp.vocab().count();
    let _ = sp.special_tokens().len();
}
