//! Byte-pair merging over token ids, shared by the rank-file and the tokenizer.json engines.
//!
//! Both merge a piece the same way: start from one symbol per byte, and while some adjacent
//! pair has a merge, merge the pair of lowest priority, the leftmost one on a tie. They differ
//! only in the table: a tokenizer.json lists its merges (priority = the merge's line, result =
//! the id of the joined token); for a rank file the pair `(a, b)` merges when the bytes of `a`
//! then `b` are a token, whose rank is both the priority and the result (tiktoken's
//! `_byte_pair_merge`, which looks the joined bytes up instead). Working on ids, the ranks found
//! while merging are the ids out: nothing is looked up twice, and a pair is one 64-bit key.

use rustc_hash::FxHashMap;

use super::atoms::Atoms;
use super::rank_table::RankTable;

/// Pieces longer than this merge with a heap (n log n) instead of rescanning the pairs after
/// each merge (n², cheaper for short pieces): a run of 100,000 `=` is one piece.
const LONG_PIECE: usize = 256;

/// No merge for this pair.
const NONE: (u32, u32) = (u32::MAX, u32::MAX);

/// `(left, right)` -> `(priority, merged id)`.
#[derive(Default)]
pub struct Merges {
    map: FxHashMap<u64, (u32, u32)>,
    /// The merge of the one-byte tokens of every byte pair, indexed by `first << 8 | second`
    /// (empty until [`Merges::index_bytes`]): merging a piece starts from its bytes, and its
    /// first round of lookups is then one load each from 512 KiB that stay in cache, instead of
    /// a probe of the whole table.
    byte_pairs: Vec<(u32, u32)>,
}

#[inline(always)]
fn key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

impl Merges {
    pub fn with_capacity(n: usize) -> Self {
        let mut map = FxHashMap::default();
        map.reserve(n);
        Self {
            map,
            byte_pairs: Vec::new(),
        }
    }

    /// Adds a merge unless the pair has one already (the first listed wins).
    pub fn insert_first(&mut self, a: u32, b: u32, priority: u32, merged: u32) {
        self.map.entry(key(a, b)).or_insert((priority, merged));
    }

    #[inline(always)]
    pub fn get(&self, a: u32, b: u32) -> Option<(u32, u32)> {
        self.map.get(&key(a, b)).copied()
    }

    #[inline(always)]
    fn pair(&self, a: u32, b: u32) -> (u32, u32) {
        self.get(a, b).unwrap_or(NONE)
    }

    /// Fills the byte-pair grid from `byte_ids` (byte -> its one-byte token); call once every
    /// merge is in.
    pub fn index_bytes(&mut self, byte_ids: &[u32; 256]) {
        self.byte_pairs = (0..1usize << 16)
            .map(|i| self.pair(byte_ids[i >> 8], byte_ids[i & 0xff]))
            .collect();
    }

    /// Merges `piece` from its bytes' tokens (`byte_ids`, as given to [`Merges::index_bytes`]),
    /// or its characters' where they start whole (`atoms`), appending the result to `out`;
    /// `syms` and `pairs` are scratch space kept between calls.
    pub fn apply_bytes(
        &self,
        piece: &[u8],
        byte_ids: &[u32; 256],
        atoms: &Atoms,
        syms: &mut Vec<u32>,
        pairs: &mut Vec<(u32, u32)>,
        out: &mut Vec<u32>,
    ) {
        syms.clear();
        if piece.len() < 2 || piece.len() > LONG_PIECE || self.byte_pairs.is_empty() {
            syms.extend(piece.iter().map(|&b| byte_ids[usize::from(b)]));
            self.apply(syms, pairs);
        } else {
            // pairs[i]: the merge of syms[i] and syms[i + 1]; from the byte-pair grid where both
            // are one byte (`last`: the byte of the last symbol, if it is one).
            pairs.clear();
            let mut last: Option<u8> = None;
            let mut i = 0;
            while i < piece.len() {
                let b = piece[i];
                let (id, len) = atoms.part_at(piece, i, byte_ids);
                if let Some(&prev) = syms.last() {
                    pairs.push(match last {
                        Some(a) if len == 1 => {
                            self.byte_pairs[usize::from(a) << 8 | usize::from(b)]
                        }
                        _ => self.pair(prev, id),
                    });
                }
                syms.push(id);
                last = (len == 1).then_some(b);
                i += len;
            }
            pairs.push(NONE);
            self.merge_pairs(syms, pairs);
        }
        out.extend_from_slice(syms);
    }

    /// Merges `syms` in place; `pairs` is scratch space kept between calls.
    pub fn apply(&self, syms: &mut Vec<u32>, pairs: &mut Vec<(u32, u32)>) {
        let n = syms.len();
        if n < 2 {
            return;
        }
        if n > LONG_PIECE {
            return self.apply_long(syms);
        }
        // pairs[i]: the merge of syms[i] and syms[i + 1]; the last entry is never a merge.
        pairs.clear();
        pairs.extend(syms.windows(2).map(|w| self.pair(w[0], w[1])));
        pairs.push(NONE);
        self.merge_pairs(syms, pairs);
    }

    /// [`Merges::apply`] once `pairs` holds the merge of each adjacent pair (and a last `NONE`).
    #[inline(always)]
    fn merge_pairs(&self, syms: &mut Vec<u32>, pairs: &mut Vec<(u32, u32)>) {
        loop {
            let best = leftmost_least(pairs.iter().map(|p| p.0));
            let (priority, merged) = pairs[best];
            if priority == u32::MAX {
                break;
            }
            syms[best] = merged;
            syms.remove(best + 1);
            pairs.remove(best + 1);
            pairs[best] = match syms.get(best + 1) {
                Some(&next) => self.pair(merged, next),
                None => NONE,
            };
            if best > 0 {
                pairs[best - 1] = self.pair(syms[best - 1], merged);
            }
        }
    }

    /// The same merges with a heap and a linked list. Heap entries are `(priority, left
    /// position)`: positions keep their order, so the heap's least is the leftmost of the
    /// lowest priority, as in [`Merges::apply`]. Entries whose pair changed are skipped.
    fn apply_long(&self, syms: &mut Vec<u32>) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let n = syms.len();
        let id = syms;
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut alive = vec![true; n];
        let mut heap = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<_>, id: &[u32], i: usize, j: usize| {
            if let Some((r, m)) = self.get(id[i], id[j]) {
                heap.push(Reverse((r, i, j, m)));
            }
        };
        for i in 0..n - 1 {
            push(&mut heap, id, i, i + 1);
        }
        while let Some(Reverse((_, i, j, m))) = heap.pop() {
            // Stale: a side is gone, no longer adjacent, or no longer the same pair.
            if !alive[i] || !alive[j] || next[i] != j {
                continue;
            }
            if self.get(id[i], id[j]).map(|(_, x)| x) != Some(m) {
                continue;
            }
            id[i] = m;
            alive[j] = false;
            next[i] = next[j];
            if next[j] < n {
                prev[next[j]] = i;
            }
            if prev[i] < n {
                push(&mut heap, id, prev[i], i);
            }
            if next[i] < n {
                push(&mut heap, id, i, next[i]);
            }
        }
        let mut w = 0;
        for i in 0..n {
            if alive[i] {
                id[w] = id[i];
                w += 1;
            }
        }
        id.truncate(w);
    }
}

/// The position of the least of `keys`, the leftmost on a tie: the key and its position in one
/// word, so that the loop is a chain of `min`s with no branch to mispredict.
#[inline(always)]
fn leftmost_least(keys: impl Iterator<Item = u32>) -> usize {
    keys.zip(0u64..)
        .map(|(k, i)| u64::from(k) << 32 | i)
        .min()
        .map_or(0, |w| (w & 0xffff_ffff) as usize)
}

/// A part of a piece being merged by rank: where it starts, its token, and the rank of the
/// token it makes with the next part (`u32::MAX`: none).
#[derive(Clone, Copy)]
pub struct Part {
    start: u32,
    tok: u32,
    pair: u32,
}

/// tiktoken's merge of one piece (of two bytes or more) by rank, appending its tokens' ranks to
/// `out`: the pair of adjacent parts whose joined bytes have the lowest rank merges first, the
/// leftmost on a tie. The rank found for a pair is the merged part's token, so the parts are
/// not looked up again at the end. `parts` is scratch space kept between calls.
pub fn by_rank(
    piece: &[u8],
    table: &RankTable,
    byte_rank: &[u32; 256],
    atoms: &Atoms,
    parts: &mut Vec<Part>,
    out: &mut Vec<u32>,
) {
    let n = piece.len();
    if n > LONG_PIECE {
        return by_rank_long(piece, table, byte_rank, out);
    }
    // The lookup is a function so that it is inlined at the three calls below (written inside the
    // closure, it was not); `rank` only binds its first two arguments. Most joins are no token:
    // `get` answers those from its filter.
    #[inline(always)]
    fn rank_of(table: &RankTable, piece: &[u8], a: u32, b: u32) -> u32 {
        table
            .get(&piece[a as usize..b as usize])
            .unwrap_or(u32::MAX)
    }
    let rank = |a: u32, b: u32| rank_of(table, piece, a, b);
    // One part per byte, or per character where it starts whole ([`Atoms`]).
    parts.clear();
    let mut i = 0;
    while i < n {
        let (tok, len) = atoms.part_at(piece, i, byte_rank);
        parts.push(Part {
            start: i as u32,
            tok,
            pair: u32::MAX,
        });
        i += len;
    }
    // A last part that is not one: where the piece ends.
    parts.push(Part {
        start: n as u32,
        tok: u32::MAX,
        pair: u32::MAX,
    });
    for j in 0..parts.len().saturating_sub(2) {
        parts[j].pair = rank(parts[j].start, parts[j + 2].start);
    }
    loop {
        let real = parts.len() - 1;
        let best = leftmost_least(parts[..real].iter().map(|p| p.pair));
        let r = parts[best].pair;
        if r == u32::MAX {
            break;
        }
        parts[best].tok = r;
        parts.remove(best + 1);
        parts[best].pair = match parts.get(best + 2) {
            Some(after) => rank(parts[best].start, after.start),
            None => u32::MAX,
        };
        if best > 0 {
            parts[best - 1].pair = rank(parts[best - 1].start, parts[best + 1].start);
        }
    }
    out.extend(parts[..parts.len() - 1].iter().map(|p| p.tok));
}

/// [`by_rank`] with a heap and a linked list, for long pieces. A heap entry is `(rank, start
/// of the left part, end of the right part)`: it is stale when those two parts no longer span
/// exactly those bytes. Starts keep their order, so the least entry is the leftmost of the
/// lowest rank.
fn by_rank_long(piece: &[u8], table: &RankTable, byte_rank: &[u32; 256], out: &mut Vec<u32>) {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let n = piece.len();
    let mut tok: Vec<u32> = piece.iter().map(|&b| byte_rank[usize::from(b)]).collect();
    // next[i]: where the part after the one starting at i starts (n: the end).
    let mut next: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
    let mut alive = vec![true; n];
    let mut heap = BinaryHeap::new();
    let push = |heap: &mut BinaryHeap<_>, next: &[usize], i: usize| {
        let j = next[i];
        if j < n {
            let end = next[j];
            if let Some(r) = table.get(&piece[i..end]) {
                heap.push(Reverse((r, i, end)));
            }
        }
    };
    for i in 0..n {
        push(&mut heap, &next, i);
    }
    while let Some(Reverse((r, i, end))) = heap.pop() {
        let j = next[i];
        if !alive[i] || j >= n || next[j] != end {
            continue;
        }
        tok[i] = r;
        alive[j] = false;
        next[i] = end;
        if end < n {
            prev[end] = i;
        }
        if prev[i] < n {
            push(&mut heap, &next, prev[i]);
        }
        push(&mut heap, &next, i);
    }
    out.extend((0..n).filter(|&i| alive[i]).map(|i| tok[i]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The definition, written plainly: rescan every pair after each merge.
    fn reference(m: &Merges, mut syms: Vec<u32>) -> Vec<u32> {
        loop {
            let best = (0..syms.len().saturating_sub(1))
                .filter_map(|i| m.get(syms[i], syms[i + 1]).map(|(r, x)| (r, i, x)))
                .min();
            let Some((_, i, x)) = best else { return syms };
            syms[i] = x;
            syms.remove(i + 1);
        }
    }

    fn table() -> Merges {
        // Symbols 0..4; merges make 10.. with priorities that tie and cross.
        let mut m = Merges::default();
        for (a, b, p, x) in [
            (0, 0, 5, 10),
            (1, 2, 1, 11),
            (10, 10, 2, 12),
            (11, 0, 5, 13),
            (0, 11, 3, 14),
            (3, 3, 5, 15),
            (15, 3, 4, 16),
            (12, 12, 0, 17),
            (2, 1, 5, 18),
        ] {
            m.insert_first(a, b, p, x);
        }
        m
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        #[test]
        fn both_forms_merge_as_the_definition(syms in proptest::collection::vec(0u32..4, 0..40)) {
            let m = table();
            let want = reference(&m, syms.clone());
            let mut short = syms.clone();
            m.apply(&mut short, &mut Vec::new());
            prop_assert_eq!(&short, &want);
            let mut long = syms.clone();
            if long.len() >= 2 {
                m.apply_long(&mut long);
            }
            prop_assert_eq!(&long, &want);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn merging_from_bytes_with_the_byte_pair_grid_is_the_definition(
            piece in proptest::collection::vec(0u8..4, 0..40),
            long in proptest::bool::weighted(0.05),
        ) {
            let mut m = table();
            let byte_ids: [u32; 256] = std::array::from_fn(|b| b as u32);
            m.index_bytes(&byte_ids);
            // Past LONG_PIECE bytes, the heap form.
            let piece = if long { piece.repeat(LONG_PIECE / piece.len().max(1) + 1) } else { piece };
            let want = reference(&m, piece.iter().map(|&b| u32::from(b)).collect());
            let mut out = vec![7];
            m.apply_bytes(&piece, &byte_ids, &Atoms::default(), &mut vec![], &mut vec![], &mut out);
            prop_assert_eq!(&out[1..], &want[..]);
        }
    }

    /// tiktoken's `_byte_pair_merge`, written plainly: rescan every pair after each merge.
    fn rank_reference(t: &RankTable, piece: &[u8]) -> Vec<u32> {
        let mut parts: Vec<&[u8]> = piece.chunks(1).collect();
        loop {
            let best = (0..parts.len().saturating_sub(1))
                .filter_map(|i| t.get(&[parts[i], parts[i + 1]].concat()).map(|r| (r, i)))
                .min();
            let Some((_, i)) = best else { break };
            let len = parts[i].len() + parts[i + 1].len();
            let start = parts[i].as_ptr() as usize - piece.as_ptr() as usize;
            parts[i] = &piece[start..start + len];
            parts.remove(i + 1);
        }
        parts.iter().map(|p| t.get(p).unwrap()).collect()
    }

    fn rank_table() -> (RankTable, [u32; 256]) {
        let mut ranks: FxHashMap<Vec<u8>, u32> =
            (0..=255u8).map(|b| (vec![b], 300 - u32::from(b))).collect();
        for (t, r) in [
            ("ab", 10),
            ("bc", 11),
            ("abc", 5),
            ("ca", 12),
            ("aa", 13),
            ("aaa", 9),
            ("bcab", 14),
            ("cc", 3),
            ("ccc", 4),
            ("cab", 15),
        ] {
            ranks.insert(t.as_bytes().to_vec(), r);
        }
        let mut byte_rank = [0; 256];
        for b in 0..=255u8 {
            byte_rank[usize::from(b)] = ranks[&vec![b]];
        }
        (RankTable::new(&ranks), byte_rank)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        #[test]
        fn merging_by_rank_is_tiktokens_merge(piece in proptest::collection::vec(proptest::sample::select(b"abcd".to_vec()), 2..40)) {
            let (t, byte_rank) = rank_table();
            let want = rank_reference(&t, &piece);
            let mut short = vec![];
            by_rank(&piece, &t, &byte_rank, &Atoms::default(), &mut vec![], &mut short);
            prop_assert_eq!(&short, &want);
            let mut long = vec![];
            by_rank_long(&piece, &t, &byte_rank, &mut long);
            prop_assert_eq!(&long, &want);
        }
    }

    #[test]
    fn a_long_run_merges_in_n_log_n() {
        let (t, byte_rank) = rank_table();
        let piece = b"c".repeat(100_000);
        let mut out = vec![];
        by_rank(
            &piece,
            &t,
            &byte_rank,
            &Atoms::default(),
            &mut vec![],
            &mut out,
        );
        assert_eq!(
            rank_reference(&t, &piece[..31]),
            [vec![3; 14], vec![4]].concat()
        );
        assert_eq!(out, vec![3; 50_000]);
    }
}
