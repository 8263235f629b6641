//! SentencePiece's unigram model (`unigram_model.cc` of sentencepiece 0.2.3, `EncodeOptimized`):
//! the Viterbi path through every piece that matches at each character, scored by the pieces'
//! log probabilities in single precision; a user-defined symbol of n bytes scores
//! `0.1 * (n - 1)`, a character no piece starts with becomes `<unk>` at the lowest score minus
//! 10, and once the running score passes ±100,000 it is rebased to 0 (as the reference does:
//! the rounding of near-ties depends on it, so it is reproduced exactly).

use rustc_hash::FxHashMap;

use super::Pieces;

/// A double-array trie over the mergeable pieces' bytes (normal, user-defined, unused): the
/// child of node `n` by byte `b` is unit `base(n) + b`, when that unit's `parent` is `n`. Each
/// step of a walk reads one 16-byte unit holding what comes next (its children's base, the
/// piece ending there), where a byte-sorted edge list was searched edge by edge
/// (docs/tokenizer-profile.md, "Unigram").
pub struct Trie {
    /// Unit 0 is the root; every node's `base + 255` is inside the table.
    units: Vec<Unit>,
    min_score: f32,
}

/// A trie node: whose child it is, where its own children are, and the piece ending at it.
#[derive(Clone, Copy)]
struct Unit {
    /// The parent's index ([`Unit::FREE`]: the unit holds no node).
    parent: u32,
    base: u32,
    hit: Hit,
}

impl Unit {
    const FREE: u32 = u32::MAX;
}

impl Trie {
    pub fn new(pieces: &Pieces) -> Result<Self, String> {
        if pieces.scores().any(|s| !s.is_finite()) {
            return Err("a piece's score is NaN or infinite".into());
        }
        // First a pointer trie: (node, byte) -> child, and the piece ending at each node.
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
        Ok(Self {
            units: place(&flat, &hits),
            min_score,
        })
    }

    /// The child of unit `node` by `byte`.
    #[inline(always)]
    fn step(&self, node: usize, byte: u8) -> Option<(usize, Hit)> {
        let child = self.units[node].base as usize + usize::from(byte);
        let unit = self.units[child];
        (unit.parent == node as u32).then_some((child, unit.hit))
    }
}

/// Lays the pointer trie (`flat`: (node, byte, child) sorted, `hits` by node, node 0 the root)
/// out as a double array, in breadth-first order, each node's children at the first base
/// where all of them find free units (a bitmap of used units; the search starts at the
/// lowest free unit, so it stays near the end of what is filled).
fn place(flat: &[(u32, u8, u32)], hits: &[Hit]) -> Vec<Unit> {
    // node -> its children's range in `flat`.
    let mut children = vec![(0u32, 0u32); hits.len()];
    for (i, &(n, _, _)) in flat.iter().enumerate() {
        let c = &mut children[n as usize];
        if c.0 == c.1 {
            *c = (i as u32, i as u32);
        }
        c.1 = i as u32 + 1;
    }
    let free = Unit {
        parent: Unit::FREE,
        base: 0,
        hit: Hit::NONE,
    };
    let mut units = vec![free; 256 + 1];
    let mut used = vec![true];
    units[0] = Unit {
        parent: Unit::FREE,
        base: 0,
        hit: hits[0],
    };
    // node -> its unit.
    let mut at = vec![0u32; hits.len()];
    let mut queue = std::collections::VecDeque::from([0u32]);
    let mut lowest_free = 1usize;
    while let Some(node) = queue.pop_front() {
        let (a, b) = children[node as usize];
        if a == b {
            continue;
        }
        let kids = &flat[a as usize..b as usize];
        let first = usize::from(kids[0].1);
        while used.get(lowest_free).copied().unwrap_or(false) {
            lowest_free += 1;
        }
        let mut base = lowest_free.saturating_sub(first).max(1);
        while kids
            .iter()
            .any(|k| used.get(base + usize::from(k.1)).copied().unwrap_or(false))
        {
            base += 1;
        }
        let end = base + 256;
        if used.len() < end {
            used.resize(end, false);
            units.resize(end + 1, free);
        }
        let parent = at[node as usize];
        units[parent as usize].base = base as u32;
        for &(_, byte, child) in kids {
            let slot = base + usize::from(byte);
            used[slot] = true;
            units[slot] = Unit {
                parent,
                base: 0,
                hit: hits[child as usize],
            };
            at[child as usize] = slot as u32;
            queue.push_back(child);
        }
    }
    units
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
        // `text` is a `str`: the first byte gives the character's length.
        let mblen = match bytes[starts_at] {
            0x00..=0x7f => 1,
            0x80..=0xdf => 2,
            0xe0..=0xef => 3,
            _ => 4,
        };
        let mut has_single = false;
        let mut node = 0;
        let mut key_pos = starts_at;
        while key_pos < size {
            let Some((child, Hit { id, score })) = trie.step(node, bytes[key_pos]) else {
                break;
            };
            node = child;
            key_pos += 1;
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

#[cfg(test)]
mod tests {
    use super::super::proto::{Piece, PieceType};
    use super::*;
    use proptest::prelude::*;

    fn piece(s: &str, kind: PieceType) -> Piece {
        Piece {
            piece: s.into(),
            score: -(s.len() as f32),
            kind,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
        /// Walking the double array from any position finds exactly the pieces a lookup of
        /// every prefix finds (unused pieces never), with their ids and scores, whatever the
        /// vocabulary: bytes 0 and 255, shared prefixes, a node with many children.
        #[test]
        fn the_double_array_finds_exactly_the_pieces(
            words in proptest::collection::btree_set(
                proptest::collection::vec(proptest::sample::select(
                    vec!["a", "b", "\0", "ÿ", "中", "▁", "z"]), 1..5).prop_map(|v| v.concat()),
                1..60),
            unused in proptest::collection::vec(any::<bool>(), 60),
            wide in any::<bool>(),
            text in proptest::collection::vec(proptest::sample::select(
                vec!["a", "b", "\0", "ÿ", "中", "▁", "z", "q"]), 0..12).prop_map(|v| v.concat()),
        ) {
            let mut list = vec![piece("<unk>", PieceType::Unknown)];
            for (w, &u) in words.iter().zip(&unused) {
                list.push(piece(w, if u { PieceType::Unused } else { PieceType::Normal }));
            }
            if wide {
                // A node with every byte below it: first-fit must still find room.
                for c in (1u8..0x80).map(char::from) {
                    let w = format!("z{c}");
                    if !words.contains(&w) {
                        list.push(piece(&w, PieceType::Normal));
                    }
                }
            }
            let pieces = Pieces::new(list).unwrap();
            let trie = Trie::new(&pieces).unwrap();
            let bytes = text.as_bytes();
            for start in 0..bytes.len() {
                let mut found = Vec::new();
                let mut node = 0;
                for (k, &b) in bytes[start..].iter().enumerate() {
                    let Some((child, hit)) = trie.step(node, b) else { break };
                    node = child;
                    if hit.id != Hit::NONE.id {
                        prop_assert_eq!(hit.score, pieces.score(hit.id));
                        found.push((k + 1, hit.id));
                    }
                }
                let want: Vec<(usize, u32)> = (1..=bytes.len() - start)
                    .filter_map(|n| {
                        let s = std::str::from_utf8(&bytes[start..start + n]).ok()?;
                        let id = pieces.mergeable_id(s)?;
                        (!pieces.is_unused(id)).then_some((n, id))
                    })
                    .collect();
                prop_assert_eq!(found, want, "at {}", start);
            }
        }
    }
}
