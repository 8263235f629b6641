//! A rank file's table laid out for what the engine asks of it: the rank of a short byte
//! string, millions of times per call.
//!
//! The keys are short: strings of one and two bytes (40% of the lookups on the benchmark text:
//! merging starts from byte pairs) are read from dense arrays (256 KiB, which stay in cache).
//! Tokens of 3 to 8 bytes sit inline in an open-addressing table of 16-byte slots, those of 9
//! to 16 bytes in one of 24-byte slots: a lookup is one hash, usually one cache line, and a
//! word or two compared, with no pointer to follow and no `memcmp` call (those were a third of
//! the encode's time with a `HashMap<Vec<u8>, u32>`, docs/tokenizer-profile.md). A key is read
//! as its first and last words, which overlap for lengths between two word sizes: with the
//! length, they determine the key. Longer tokens are in an ordinary map.

use rustc_hash::FxHashMap;

/// No token.
const NONE: u32 = u32::MAX;

/// A key of 3 to 16 bytes: its first and last words (overlapping, or zero for keys of up to 8
/// bytes) and its length.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    lo: u64,
    hi: u64,
    len: u32,
}

/// The little-endian word at `at` of `b` (zero bytes past its end).
#[inline(always)]
pub(super) fn u64_at(b: &[u8], at: usize) -> u64 {
    let w = b
        .get(at..at + 8)
        .and_then(|s| s.first_chunk::<8>())
        .copied()
        .unwrap_or_default();
    u64::from_le_bytes(w)
}

#[inline(always)]
fn u32_at(b: &[u8], at: usize) -> u64 {
    let w = b
        .get(at..at + 4)
        .and_then(|s| s.first_chunk::<4>())
        .copied()
        .unwrap_or_default();
    u64::from(u32::from_le_bytes(w))
}

/// A string of 3 to 16 bytes as two words that, with its length, determine it: its first and
/// last words (overlapping) above 8 bytes, its first and last four bytes in one word from 4 to 8,
/// its bytes below. The memo keys its short pieces the same way.
#[inline(always)]
pub(super) fn short_words(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    if n > 8 {
        (u64_at(b, 0), u64_at(b, n - 8))
    } else if n >= 4 {
        (u32_at(b, 0) | (u32_at(b, n - 4) << 32), 0)
    } else {
        let third = b.get(2).copied().map_or(0, u64::from);
        (u64::from(b[0]) | (u64::from(b[1]) << 8) | (third << 16), 0)
    }
}

impl Key {
    /// `b` of 3 to 16 bytes.
    #[inline(always)]
    fn of(b: &[u8]) -> Key {
        let (lo, hi) = short_words(b);
        Key {
            lo,
            hi,
            len: b.len() as u32,
        }
    }

    /// A folded multiply (as foldhash and wyhash do): every input bit reaches every output bit,
    /// so short ASCII keys that differ in one byte do not cluster.
    #[inline(always)]
    fn hash(&self) -> u64 {
        let a = self.lo ^ 0x243F_6A88_85A3_08D3;
        let b = self.hi ^ 0x1319_8A2E_0370_7344 ^ (u64::from(self.len) << 59);
        let m = u128::from(a) * u128::from(b);
        (m as u64) ^ ((m >> 64) as u64)
    }
}

/// A slot of an open-addressing table.
trait Slot: Copy + Default {
    fn new(k: Key, rank: u32) -> Self;
    fn is_empty(&self) -> bool;
    fn holds(&self, k: &Key) -> bool;
    fn rank(&self) -> u32;
}

/// A slot for keys of 3 to 8 bytes (16 bytes).
#[derive(Clone, Copy, Default)]
struct Short {
    key: u64,
    /// 0: empty.
    len: u32,
    rank: u32,
}

impl Slot for Short {
    fn new(k: Key, rank: u32) -> Self {
        Short {
            key: k.lo,
            len: k.len,
            rank,
        }
    }
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[inline(always)]
    fn holds(&self, k: &Key) -> bool {
        self.len == k.len && self.key == k.lo
    }
    #[inline(always)]
    fn rank(&self) -> u32 {
        self.rank
    }
}

/// A slot for keys of 9 to 16 bytes (24 bytes).
#[derive(Clone, Copy, Default)]
struct Mid {
    lo: u64,
    hi: u64,
    /// 0: empty.
    len: u32,
    rank: u32,
}

impl Slot for Mid {
    fn new(k: Key, rank: u32) -> Self {
        Mid {
            lo: k.lo,
            hi: k.hi,
            len: k.len,
            rank,
        }
    }
    #[inline(always)]
    fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[inline(always)]
    fn holds(&self, k: &Key) -> bool {
        self.len == k.len && self.lo == k.lo && self.hi == k.hi
    }
    #[inline(always)]
    fn rank(&self) -> u32 {
        self.rank
    }
}

/// Linear probing, at most half full, first slot from the hash's top bits.
struct Open<S> {
    slots: Vec<S>,
    mask: usize,
    shift: u32,
}

impl<S: Slot> Open<S> {
    fn new(keys: usize) -> Self {
        let size = (keys * 2).next_power_of_two().max(16);
        Self {
            slots: super::huge::filled(size, S::default()),
            mask: size - 1,
            shift: 64 - size.trailing_zeros(),
        }
    }

    fn insert(&mut self, k: Key, rank: u32) {
        let mut i = (k.hash() >> self.shift) as usize;
        while !self.slots[i].is_empty() {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = S::new(k, rank);
    }

    /// The rank of `k`, whose hash is given.
    #[inline(always)]
    fn get_hashed(&self, k: &Key, hash: u64) -> Option<u32> {
        let mut i = (hash >> self.shift) as usize;
        loop {
            let s = &self.slots[i];
            if s.is_empty() {
                return None;
            }
            if s.holds(k) {
                return Some(s.rank());
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// byte string -> rank.
pub struct RankTable {
    /// Byte -> rank of that one-byte token, or [`NONE`].
    one: Vec<u32>,
    /// `first << 8 | second` -> rank of that two-byte token, or [`NONE`].
    two: Vec<u32>,
    short: Open<Short>,
    mid: Open<Mid>,
    long: FxHashMap<Box<[u8]>, u32>,
    /// One bit per hash of the keys of 3 to 16 bytes (the hash's low bits; the tables take the
    /// top bits), eight bits per key: a clear bit says a string is no token from a load that
    /// stays in cache (256 KiB for o200k). See [`RankTable::get`].
    filter: Vec<u64>,
}

impl RankTable {
    /// The table of `ranks`.
    pub fn new(ranks: &FxHashMap<Vec<u8>, u32>) -> Self {
        Self::of(ranks.iter().map(|(k, &r)| (k.as_slice(), r)))
    }

    /// The table of `(key, rank)` entries, keys distinct (for a repeated key, a lookup finds
    /// one of its ranks).
    pub fn of<'a>(entries: impl Iterator<Item = (&'a [u8], u32)> + Clone) -> Self {
        let count = |r: std::ops::RangeInclusive<usize>| {
            entries
                .clone()
                .filter(|(k, _)| r.contains(&k.len()))
                .count()
        };
        let mut t = Self {
            one: vec![NONE; 256],
            two: vec![NONE; 1 << 16],
            short: Open::new(count(3..=8)),
            mid: Open::new(count(9..=16)),
            long: FxHashMap::default(),
            filter: vec![0; (count(3..=16) * 8 / 64).next_power_of_two().max(1)],
        };
        for (k, rank) in entries {
            if (3..=16).contains(&k.len()) {
                let (word, bit) = t.filter_bit(Key::of(k).hash());
                t.filter[word] |= bit;
            }
            match *k {
                [] => {}
                [a] => t.one[usize::from(a)] = rank,
                [a, b] => t.two[usize::from(a) << 8 | usize::from(b)] = rank,
                _ if k.len() <= 8 => t.short.insert(Key::of(k), rank),
                _ if k.len() <= 16 => t.mid.insert(Key::of(k), rank),
                _ => {
                    t.long.insert(k.into(), rank);
                }
            }
        }
        t
    }

    /// The rank of `key`, if it is a token.
    ///
    /// Most lookups the engines make find nothing: the joins a merge tries (57-62% of those of
    /// 3 to 16 bytes are no token on the benchmark text, `scripts/bench/merge_joins.py`) and
    /// the whole pieces that go on to the memo. For keys of 3 to 16 bytes the filter answers
    /// those without a probe of the slots, which are mostly out of cache
    /// (docs/tokenizer-profile.md, fifth and eighth rounds).
    #[inline(always)]
    pub fn get(&self, key: &[u8]) -> Option<u32> {
        let dense = match *key {
            [a] => self.one[usize::from(a)],
            [a, b] => self.two[usize::from(a) << 8 | usize::from(b)],
            [] => return None,
            _ if key.len() <= 16 => return self.get_short(key),
            _ => return self.long.get(key).copied(),
        };
        (dense != NONE).then_some(dense)
    }

    /// [`RankTable::get`] for a key of 3 to 16 bytes: the filter's bit, then the slots.
    #[inline(always)]
    fn get_short(&self, key: &[u8]) -> Option<u32> {
        let k = Key::of(key);
        let hash = k.hash();
        let (word, bit) = self.filter_bit(hash);
        if self.filter[word] & bit == 0 {
            return None;
        }
        if key.len() <= 8 {
            self.short.get_hashed(&k, hash)
        } else {
            self.mid.get_hashed(&k, hash)
        }
    }

    /// Every token and its rank, read back from the table's own arrays (in their order, not the
    /// ranks'): a pass over a few contiguous megabytes, where one over the tokens' separate
    /// allocations waits on a cache miss for each.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], u32)) {
        for (b, &r) in (0..=255u8).zip(&self.one) {
            if r != NONE {
                f(&[b], r);
            }
        }
        for (i, &r) in (0..=u16::MAX).zip(&self.two) {
            if r != NONE {
                f(&i.to_be_bytes(), r);
            }
        }
        let mut buf = [0u8; 16];
        for s in self.short.slots.iter().filter(|s| !s.is_empty()) {
            let (n, w) = (s.len as usize, s.key.to_le_bytes());
            if n == 3 {
                buf[..3].copy_from_slice(&w[..3]);
            } else {
                buf[..4].copy_from_slice(&w[..4]);
                buf[n - 4..n].copy_from_slice(&w[4..]);
            }
            f(&buf[..n], s.rank);
        }
        for s in self.mid.slots.iter().filter(|s| !s.is_empty()) {
            let n = s.len as usize;
            buf[..8].copy_from_slice(&s.lo.to_le_bytes());
            buf[n - 8..n].copy_from_slice(&s.hi.to_le_bytes());
            f(&buf[..n], s.rank);
        }
        for (k, &r) in &self.long {
            f(k, r);
        }
    }

    /// The filter's word and bit for a key's hash (its low bits).
    #[inline(always)]
    fn filter_bit(&self, hash: u64) -> (usize, u64) {
        let bit = hash as usize & (self.filter.len() * 64 - 1);
        (bit / 64, 1 << (bit % 64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn finds_every_token_and_nothing_else(
            keys in proptest::collection::hash_set(proptest::collection::vec(0u8..4, 1..24), 0..300),
            probes in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..24), 0..300),
        ) {
            let ranks: FxHashMap<Vec<u8>, u32> = keys.into_iter().zip(7u32..).collect();
            let t = RankTable::new(&ranks);
            for (k, r) in &ranks {
                prop_assert_eq!(t.get(k), Some(*r));
            }
            for p in &probes {
                prop_assert_eq!(t.get(p), ranks.get(p).copied());
            }
            for k in ranks.keys() {
                prop_assert_eq!(t.get(k), Some(ranks[k]));
            }
            let mut back = FxHashMap::default();
            t.for_each(|k, r| {
                back.insert(k.to_vec(), r);
            });
            prop_assert_eq!(back, ranks);
        }
    }

    #[test]
    fn trailing_zero_bytes_are_part_of_the_key() {
        let ranks: FxHashMap<Vec<u8>, u32> = [
            (b"a".to_vec(), 1),
            (b"a\0".to_vec(), 2),
            (b"a\0\0".to_vec(), 3),
        ]
        .into_iter()
        .collect();
        let t = RankTable::new(&ranks);
        assert_eq!(t.get(b"a"), Some(1));
        assert_eq!(t.get(b"a\0"), Some(2));
        assert_eq!(t.get(b"a\0\0"), Some(3));
        assert_eq!(t.get(b"a\0\0\0"), None);
        assert_eq!(t.get(b""), None);
    }
}
