//! SentencePiece's BPE model (`bpe_model.cc`): start from characters (user-defined symbols
//! whole and frozen), repeatedly merge the adjacent pair whose concatenation is the
//! highest-scoring piece (leftmost on ties), then split any unused piece back into the pair
//! that made it.
//!
//! Merges may span the whole text (SentencePiece has no pre-tokenizer), but when no piece has
//! `▁` after another character, no merge can cross the start of a `▁`-run that follows other
//! text; the text is then encoded in those chunks, which gives the same result (each chunk's
//! merges happen in the same order) with a heap per chunk instead of one over the whole text.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::normalizer::{PrefixMatcher, SPACE};
use super::Pieces;

#[derive(Clone, Copy)]
struct Candidate {
    score: f32,
    left: u32,
    right: u32,
    size: u32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// Higher score first; on equal scores the leftmost pair first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

/// A score as an ordered key: -0.0 equals 0.0 and NaN sorts last, as `<` would treat them.
fn key(score: f32) -> f32 {
    if score.is_nan() {
        f32::NEG_INFINITY
    } else if score == 0.0 {
        0.0
    } else {
        score
    }
}

#[derive(Clone, Copy)]
struct Symbol {
    start: u32,
    len: u32,
    prev: i32,
    next: i32,
    freeze: bool,
}

/// Whether the text may be encoded in chunks split before each `▁`-run that follows other
/// text: true when no mergeable piece has `▁` after a character that is not `▁` (then no
/// piece can span such a boundary, for BPE merges and unigram paths alike).
pub fn chunkable(pieces: &Pieces) -> bool {
    pieces.mergeable().all(|p| {
        let rest = p.trim_start_matches(SPACE);
        !rest.contains(SPACE)
    })
}

/// Emits (start, end, id) for one chunk of normalized text (`base`: where the chunk starts).
pub fn encode_chunk(
    text: &str,
    base: usize,
    users: &PrefixMatcher,
    pieces: &Pieces,
    emit: &mut dyn FnMut(usize, usize, u32),
) {
    encode_inner(text, base, users, pieces, emit)
}

fn encode_inner(
    text: &str,
    base: usize,
    users: &PrefixMatcher,
    pieces: &Pieces,
    emit: &mut dyn FnMut(usize, usize, u32),
) {
    if text.is_empty() {
        return;
    }
    let bytes = text.as_bytes();
    let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
    let mut pos = 0;
    while pos < bytes.len() {
        let (len, freeze) = match users.longest(&bytes[pos..]) {
            Some(n) => (n, true),
            None => (
                super::normalizer::char_len(&bytes[pos..]).unwrap_or(1),
                false,
            ),
        };
        let i = symbols.len() as i32;
        symbols.push(Symbol {
            start: pos as u32,
            len: len as u32,
            prev: i - 1,
            next: if pos + len >= bytes.len() { -1 } else { i + 1 },
            freeze,
        });
        pos += len;
    }

    let mut heap = BinaryHeap::with_capacity(symbols.len());
    let mut rev_merge: FxHashMap<&str, usize> = FxHashMap::default();
    let mut add = |symbols: &[Symbol], heap: &mut BinaryHeap<Candidate>, l: i32, r: i32| {
        if l < 0 || r < 0 {
            return;
        }
        let (a, b) = (symbols[l as usize], symbols[r as usize]);
        if a.freeze || b.freeze {
            return;
        }
        let size = a.len + b.len;
        let piece = &text[a.start as usize..(a.start + size) as usize];
        let Some(id) = pieces.mergeable_id(piece) else {
            return;
        };
        heap.push(Candidate {
            score: key(pieces.score(id)),
            left: l as u32,
            right: r as u32,
            size,
        });
        if pieces.is_unused(id) {
            rev_merge.insert(piece, a.len as usize);
        }
    };
    for i in 1..symbols.len() as i32 {
        add(&symbols, &mut heap, i - 1, i);
    }
    while let Some(top) = heap.pop() {
        let (l, r) = (top.left as usize, top.right as usize);
        // Stale: one side was merged away or grew since this pair was queued.
        if symbols[l].len == 0 || symbols[r].len == 0 || symbols[l].len + symbols[r].len != top.size
        {
            continue;
        }
        symbols[l].len += symbols[r].len;
        symbols[l].next = symbols[r].next;
        let next = symbols[r].next;
        if next >= 0 {
            symbols[next as usize].prev = l as i32;
        }
        symbols[r].len = 0;
        add(&symbols, &mut heap, symbols[l].prev, l as i32);
        add(&symbols, &mut heap, l as i32, symbols[l].next);
    }

    let mut i = 0i32;
    while i >= 0 {
        let s = symbols[i as usize];
        resegment(
            text,
            s.start as usize,
            (s.start + s.len) as usize,
            base,
            pieces,
            &rev_merge,
            emit,
        );
        i = s.next;
    }
}

/// Emits the piece text[start..end], split back into its parts when it is an unused piece.
fn resegment(
    text: &str,
    start: usize,
    end: usize,
    base: usize,
    pieces: &Pieces,
    rev_merge: &FxHashMap<&str, usize>,
    emit: &mut dyn FnMut(usize, usize, u32),
) {
    let w = &text[start..end];
    let id = pieces.piece_to_id(w);
    if pieces.is_unused(id) {
        if let Some(&left) = rev_merge.get(w) {
            resegment(text, start, start + left, base, pieces, rev_merge, emit);
            resegment(text, start + left, end, base, pieces, rev_merge, emit);
            return;
        }
    }
    emit(base + start, base + end, id);
}

/// Calls `f(start, end)` for each chunk of `text` that can be encoded alone: split before each
/// `▁`-run that follows other text when `chunked`, else the whole text.
pub fn for_each_chunk(text: &str, chunked: bool, mut f: impl FnMut(usize, usize)) {
    if !chunked {
        return f(0, text.len());
    }
    let bytes = text.as_bytes();
    let sp = SPACE.as_bytes();
    let mut start = 0;
    let mut i = 0;
    // Only `▁`'s first byte can start one.
    while let Some(k) = memchr::memchr(sp[0], &bytes[i..]) {
        i += k;
        if bytes[i..].starts_with(sp) {
            if i > start && !bytes[..i].ends_with(sp) {
                f(start, i);
                start = i;
            }
            i += sp.len();
        } else {
            i += 1;
        }
    }
    f(start, text.len());
}
