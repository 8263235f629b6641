//! tiktoken `.tiktoken` rank files: `tokenizer::parse_rank_file`, then building a `RankBpe` from
//! the ranks (tiktoken's usual split regex) and encoding a short fixed text.
//!
//! Must hold: no panic, no OOM (the decoder table is sized by the largest rank, which must be
//! checked first), bounded time; encoding the text gives ids whose offsets cover it exactly.

use crate::tokenizer::{parse_rank_file, RankBpe};

const TEXT: &str = "Hello, world! The cache is warm: 42 tokens\n\tüñí 日本 🦀.";

pub fn check(data: &[u8]) {
    let Ok(ranks) = parse_rank_file(data) else {
        return;
    };
    let Ok(bpe) = RankBpe::new(ranks, r"\w+|\s+|[^\w\s]+", 0, Default::default()) else {
        return;
    };
    if let Ok((ids, offsets)) = bpe.encode_with_offsets(TEXT) {
        assert_eq!(ids.len(), offsets.len());
        assert_eq!(
            offsets.last().map_or(0, |o| o.1),
            TEXT.len(),
            "offsets do not cover the text"
        );
        assert_eq!(bpe.encode(TEXT).ok(), Some(ids));
    }
    let _ = bpe.vocab().count();
}
