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

/// A byte trie over the mergeable pieces (normal, user-defined, unused), walked edge by edge:
/// an edge carries what the walk needs next (the child's own edges, the piece ending there), so
/// each step reads one place, where node-indexed arrays of spans, ids, kinds and scores were
/// four cache misses (docs/tokenizer-profile.md).
pub struct Trie {
    /// Every edge, a node's sorted by byte and together; `edges[0]` is none (0 in `dense`).
    edges: Vec<Edge>,
    /// Child tables by byte (edge index, 0: none) of the root and of nodes with many children.
    dense: Vec<[u32; 256]>,
    min_score: f32,
}

/// The edges of a node: a range of [`Trie::edges`], or a table of [`Trie::dense`].
#[derive(Clone, Copy)]
enum Edges {
    Range(u32, u32),
    Dense(u32),
}

/// An edge to a child node: its byte, the child's edges, and the piece ending at the child.
#[derive(Clone, Copy)]
struct Edge {
    byte: u8,
    edges: Edges,
    hit: Hit,
}

impl Trie {
    pub fn new(pieces: &Pieces) -> Result<Self, String> {
        if pieces.scores().any(|s| !s.is_finite()) {
            return Err("a piece's score is NaN or infinite".into());
        }
        let mut edges = FxHashMap::default();
        let mut hits = vec![Hit::NONE];
        for (piece, id) in pieces.mergeable_with_ids() {
            let mut node = 0u32;
            for &b in piece.as_bytes() {
                let next = hits.len() as u32;
                node = *edges.entry((node, b)).or_insert_with(|| {
                    hits.push(Hit::NONE);
                    next
                });
            }
            // Unused pieces never match; a user-defined symbol scores by its length.
            if pieces.is_unused(id) {
                continue;
            }
            let score = if pieces.is_user_defined(id) {
                (0.1 * (piece.len() as f64 - 1.0)) as f32
            } else {
                pieces.score(id)
            };
            hits[node as usize] = Hit { id, score };
        }
        let min_score = pieces.normal_scores().fold(f32::MAX, f32::min);
        let mut flat: Vec<(u32, u8, u32)> =
            edges.into_iter().map(|((n, b), c)| (n, b, c)).collect();
        flat.sort_unstable();
        // node -> its edges: flat[i] is edge i + 1.
        let mut spans = vec![Edges::Range(0, 0); hits.len()];
        for (i, &(n, _, _)) in (1u32..).zip(&flat) {
            spans[n as usize] = match spans[n as usize] {
                Edges::Range(a, b) if a != b => Edges::Range(a, i + 1),
                _ => Edges::Range(i, i + 1),
            };
        }
        // Nodes with many children (the root, first characters) get a table by byte.
        let mut dense = Vec::new();
        for (node, span) in spans.iter_mut().enumerate() {
            let Edges::Range(a, b) = *span else { continue };
            if node == 0 || b - a >= DENSE_CHILDREN {
                let mut table = [0u32; 256];
                for (i, &(_, byte, _)) in (a..b).zip(&flat[(a - 1) as usize..(b - 1) as usize]) {
                    table[usize::from(byte)] = i;
                }
                *span = Edges::Dense(dense.len() as u32);
                dense.push(table);
            }
        }
        let none = Edge {
            byte: 0,
            edges: Edges::Range(0, 0),
            hit: Hit::NONE,
        };
        let edges = std::iter::once(none)
            .chain(flat.iter().map(|&(_, byte, c)| Edge {
                byte,
                edges: spans[c as usize],
                hit: hits[c as usize],
            }))
            .collect();
        Ok(Self {
            edges,
            dense,
            min_score,
        })
    }

    /// The edge for `byte` out of a node with `edges`.
    #[inline(always)]
    fn step(&self, edges: Edges, byte: u8) -> Option<&Edge> {
        match edges {
            Edges::Dense(t) => match self.dense[t as usize][usize::from(byte)] {
                0 => None,
                i => Some(&self.edges[i as usize]),
            },
            Edges::Range(a, b) => self.edges[a as usize..b as usize]
                .iter()
                .find(|e| e.byte == byte),
        }
    }
}

/// A piece ending at a trie node: its id ([`Hit::NONE`]: no piece) and its score.
#[derive(Clone, Copy)]
struct Hit {
    id: u32,
    score: f32,
}

impl Hit {
    const NONE: Hit = Hit {
        id: u32::MAX,
        score: 0.0,
    };
}

/// The best path ending at a position (reused between chunks).
#[derive(Clone, Copy)]
pub struct Best {
    id: u32,
    score: f32,
    /// Where its last piece starts (texts are at most 4 GiB, as the normalizer's).
    starts_at: u32,
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
            // Not reached yet: any path's score is above it (scores are finite, and kept
            // within ±100,000 by the rebasing below).
            score: f32::NEG_INFINITY,
            starts_at: 0,
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
            for b in &mut best[starts_at..=last] {
                b.score -= offset;
            }
            till_here = 0.0;
        }
        let mblen = super::normalizer::char_len(&bytes[starts_at..])
            .unwrap_or(1)
            .min(size - starts_at);
        let mut has_single = false;
        let mut node = Edges::Dense(0);
        let mut key_pos = starts_at;
        while key_pos < size {
            let Some(edge) = trie.step(node, bytes[key_pos]) else {
                break;
            };
            node = edge.edges;
            key_pos += 1;
            let Hit { id, score } = edge.hit;
            if id == Hit::NONE.id {
                continue;
            }
            max_frontier = max_frontier.max(key_pos);
            let length = key_pos - starts_at;
            let candidate = score + till_here;
            let target = &mut best[key_pos];
            if candidate > target.score {
                *target = Best {
                    id,
                    score: candidate,
                    starts_at: starts_at as u32,
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
            if candidate > target.score {
                *target = Best {
                    id: pieces.unk_id(),
                    score: candidate,
                    starts_at: starts_at as u32,
                };
            }
        }
        starts_at += mblen;
    }
    *score = best[size].score;
    // Backtrack, marking each path node by pointing it forward, then emit in order.
    let mut ends_at = size as u32;
    let mut next_end = u32::MAX;
    while ends_at > 0 {
        let start = best[ends_at as usize].starts_at;
        best[ends_at as usize].starts_at = next_end;
        next_end = ends_at;
        ends_at = start;
    }
    let mut at = 0;
    while next_end != u32::MAX {
        let b = best[next_end as usize];
        emit(base + at, base + next_end as usize, b.id);
        at = next_end as usize;
        next_end = b.starts_at;
    }
}
