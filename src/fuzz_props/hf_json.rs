//! HF `tokenizer.json` files: `tokenizer::HfJson::from_bytes` (our native BPE, else the
//! `tokenizers` crate, plus our byte-level vocabulary decoding), then encoding a short fixed
//! text.
//!
//! Must hold: no panic, no OOM, bounded time (the `tokenizers` crate is the slow part);
//! ids and offsets pair up. The `tokenizers` crate panics on some malformed files
//! (fuzz/regressions/hf_json-*); `HfJson` turns those into errors, so none escapes here. Under
//! libFuzzer a caught panic still aborts, so fuzz/fuzz_targets/hf_json.rs tolerates panics
//! located inside that crate (see its doc).

use crate::tokenizer::HfJson;

const TEXT: &str = "Hello, world! The cache is warm: 42 tokens\n\tüñí 日本 🦀. <think>";

pub fn check(data: &[u8]) {
    let Ok(tok) = HfJson::from_bytes(data) else {
        return;
    };
    if let Ok((ids, offsets)) = tok.encode_with_offsets(TEXT) {
        assert_eq!(ids.len(), offsets.len());
    }
    let _ = tok.encode(TEXT);
    let _ = tok.vocab().count();
    let _ = tok.special_tokens().len();
}
