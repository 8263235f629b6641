//! SentencePiece's unigram model (`unigram_model.cc` of sentencepiece 0.2.3, `EncodeOptimized`):
//! the Viterbi path through every piece that matches at each character, scored by the pieces'
//! log probabilities in single precision; a user-defined symbol of n bytes scores
//! `0.1 * (n - 1)`, a character no piece starts with becomes `<unk>` at the lowest score minus
//! 10, and once the running score passes ±100,000 it is rebased to 0 (as the reference does:
//! the rounding of near-ties depends on it, so it is reproduced exactly).

use rustc_hash::FxHashMap;

use super::Pieces;

/// Nodes with at least this many children look them up in a table by byte.
const DENSE_CHILDREN: u32 = 12;

/// A byte trie over the mergeable pieces (normal, user-defined, unused).
pub struct Trie {
    /// node -> the range of its children in `children`, or `u32::MAX` and the index of its
    /// table in `dense` when it has many.
    spans: Vec<(u32, u32)>,
    /// (byte, child node), sorted by byte within each node's range.
    children: Vec<(u8, u32)>,
    /// Child tables by byte (0: none) of the root and of nodes with many children.
    dense: Vec<[u32; 256]>,
    /// node -> the id of the piece ending there.
    ids: Vec<Option<u32>>,
    min_score: f32,
}

impl Trie {
    pub fn new(pieces: &Pieces) -> Result<Self, String> {
        if pieces.scores().any(|s| !s.is_finite()) {
            return Err("a piece's score is NaN or infinite".into());
        }
        let mut edges = FxHashMap::default();
        let mut ids = vec![None];
        for (piece, id) in pieces.mergeable_with_ids() {
            let mut node = 0u32;
            for &b in piece.as_bytes() {
                let next = ids.len() as u32;
                node = *edges.entry((node, b)).or_insert_with(|| {
                    ids.push(None);
                    next
                });
            }
            ids[node as usize] = Some(id);
        }
        let min_score = pieces.normal_scores().fold(f32::MAX, f32::min);
        let mut flat: Vec<(u32, u8, u32)> =
            edges.into_iter().map(|((n, b), c)| (n, b, c)).collect();
        flat.sort_unstable();
        let mut spans = vec![(0u32, 0u32); ids.len()];
        let mut children = Vec::with_capacity(flat.len());
        for (i, &(n, b, c)) in flat.iter().enumerate() {
            let span = &mut spans[n as usize];
            if span.1 == span.0 {
                *span = (i as u32, i as u32);
            }
            span.1 += 1;
            children.push((b, c));
        }
        // Nodes with many children (the root, first characters) get a table by byte.
        let mut dense = Vec::new();
        for (node, span) in spans.iter_mut().enumerate() {
            if node == 0 || span.1 - span.0 >= DENSE_CHILDREN {
                let mut table = [0u32; 256];
                for &(b, c) in &children[span.0 as usize..span.1 as usize] {
                    table[b as usize] = c;
                }
                *span = (u32::MAX, dense.len() as u32);
                dense.push(table);
            }
        }
        Ok(Self {
            spans,
            children,
            dense,
            ids,
            min_score,
        })
    }
}

/// The best path ending at a position (reused between chunks).
#[derive(Clone, Copy)]
pub struct Best {
    id: u32,
    score: f32,
    starts_at: usize,
    set: bool,
}

/// Emits (start, end, id) for one chunk of normalized text (`base`: where the chunk starts).
/// `score` is the best path's score where the chunk starts and becomes its score at the end:
/// scores are f32 sums, so a chunk must start from the very value the whole-text Viterbi
/// would hold there for near-ties to round the same way.
pub fn encode_chunk(
    text: &str,
    base: usize,
    trie: &Trie,
    pieces: &Pieces,
    score: &mut f32,
    scratch: &mut Vec<Best>,
    emit: &mut dyn FnMut(usize, usize, u32),
) {
    let bytes = text.as_bytes();
    let size = bytes.len();
    if size == 0 {
        return;
    }
    let unk_score = trie.min_score - 10.0;
    let best = scratch;
    best.clear();
    best.resize(
        size + 1,
        Best {
            id: 0,
            score: 0.0,
            starts_at: 0,
            set: false,
        },
    );
    best[0].score = *score;
    const RESET: f32 = 100_000.0;
    let mut max_frontier = 0;
    let mut starts_at = 0;
    while starts_at < size {
        let mut till_here = best[starts_at].score;
        if !(-RESET..=RESET).contains(&till_here) {
            let offset = till_here;
            let last = max_frontier.max(starts_at);
            for (i, b) in best[starts_at..=last].iter_mut().enumerate() {
                if i == 0 || b.set {
                    b.score -= offset;
                }
            }
            till_here = 0.0;
        }
        let mblen = super::normalizer::char_len(&bytes[starts_at..])
            .unwrap_or(1)
            .min(size - starts_at);
        let mut has_single = false;
        let mut node = 0u32;
        let mut key_pos = starts_at;
        while key_pos < size {
            let byte = bytes[key_pos];
            let next = match trie.spans[node as usize] {
                (u32::MAX, table) => trie.dense[table as usize][byte as usize],
                (a, b) => trie.children[a as usize..b as usize]
                    .iter()
                    .find(|&&(k, _)| k == byte)
                    .map_or(0, |&(_, c)| c),
            };
            if next == 0 {
                break;
            }
            node = next;
            key_pos += 1;
            let Some(id) = trie.ids[node as usize] else {
                continue;
            };
            if pieces.is_unused(id) {
                continue;
            }
            max_frontier = max_frontier.max(key_pos);
            let length = key_pos - starts_at;
            let score = if pieces.is_user_defined(id) {
                (0.1 * (length as f64 - 1.0)) as f32
            } else {
                pieces.score(id)
            };
            let candidate = score + till_here;
            let target = &mut best[key_pos];
            if !target.set || candidate > target.score {
                *target = Best {
                    id,
                    score: candidate,
                    starts_at,
                    set: true,
                };
            }
            if length == mblen {
                has_single = true;
            }
        }
        if !has_single {
            max_frontier = max_frontier.max(starts_at + mblen);
            let target = &mut best[starts_at + mblen];
            let candidate = unk_score + till_here;
            if !target.set || candidate > target.score {
                *target = Best {
                    id: pieces.unk_id(),
                    score: candidate,
                    starts_at,
                    set: true,
                };
            }
        }
        starts_at += mblen;
    }
    *score = best[size].score;
    // Backtrack, marking each path node by pointing it forward, then emit in order.
    let mut ends_at = size;
    let mut next_end = usize::MAX;
    while ends_at > 0 {
        let start = best[ends_at].starts_at;
        best[ends_at].starts_at = next_end;
        next_end = ends_at;
        ends_at = start;
    }
    let mut at = 0;
    while next_end != usize::MAX {
        let b = best[next_end];
        emit(base + at, base + next_end, b.id);
        at = next_end;
        next_end = b.starts_at;
    }
}
