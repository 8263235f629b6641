//! A per-call memo of merged pieces, shared by the BPE engines.
//!
//! Text that does not repeat still repeats its words: on the benchmark corpus (16 MB of prose,
//! code and a dozen scripts, nothing repeated) 495,038 o200k pieces are not tokens whole and
//! must be merged, but only 144,216 of them are distinct; merging is where the encode's time
//! goes (docs/tokenizer-profile.md). The memo keeps the ids of each merged piece of 3 to 16
//! bytes (98% of o200k's distinct merged pieces of ASCII text: `stages` in the bench tool) inline
//! in an open-addressing table of 32-byte slots, two to a cache line (2 MiB pages where the
//! table is large, [`super::huge`]): a key is two words read from the piece (overlapping, as in
//! [`super::rank_table`]) and its length, a value up to three ids (more go to a side vector),
//! so a lookup is one hash and, usually, one cache line. An earlier memo keyed a `HashMap` by
//! boxed byte strings: a pointer to follow and a `memcmp` per probe ate what it saved; one of
//! 48-byte slots (keys up to 24 bytes) put half its slots across two cache lines.
//!
//! Pieces of 17 to 32 bytes (words of eight letters and more in two-byte scripts: Cyrillic,
//! Greek, Arabic, Hebrew) are kept too, in a map keyed by a copy of their bytes: on the bench
//! text 54,696 DeepSeek pieces of that length are not tokens whole, 26,317 of them distinct, and
//! each was merged again every time it came (docs/tokenizer-profile.md, eighth round).
//!
//! Bounded: the table starts at a size for the text, doubles while at most half full, and stops
//! taking new pieces at [`Memo::MAX_SLOTS`] (32 bytes each: 8 MiB, for 131,072 pieces, plus the
//! ids of pieces that merge to more than three tokens, at most 16 each; the 16 MB bench text has
//! 144,216 distinct merged o200k pieces, so the last few thousand are merged each time they
//! come); the long pieces stop at [`Memo::MAX_LONG`] (65,536, each at most 32 bytes of key and 32
//! ids: under 13 MiB in all). Within the 64 MB + 4× input the engines keep to.

/// A piece of 3 to 16 bytes as two words and its length, which together determine it (as
/// [`super::rank_table`] keys its short strings).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct Key {
    w: [u64; 2],
    len: u16,
}

impl Key {
    /// `b` of 3 to 16 bytes.
    #[inline(always)]
    fn of(b: &[u8]) -> Key {
        let (lo, hi) = super::rank_table::short_words(b);
        Key {
            w: [lo, hi],
            len: b.len() as u16,
        }
    }

    /// A folded multiply of the words with the memo's keys (as foldhash does).
    #[inline(always)]
    fn hash(&self, seed: Seed) -> u64 {
        let a = self.w[0] ^ seed.0[0] ^ (u64::from(self.len) << 56);
        let b = self.w[1] ^ seed.0[1];
        let m = u128::from(a) * u128::from(b);
        (m as u64) ^ ((m >> 64) as u64)
    }
}

/// The hash's keys, drawn at random for each memo: the pieces come from the text, and with keys
/// fixed in the code, text built so that its pieces share their home slots would turn every
/// lookup into a scan of one long run of slots (a quadratic encode). Random keys leave such
/// text nothing to aim at.
#[derive(Clone, Copy)]
struct Seed([u64; 2]);

impl Default for Seed {
    fn default() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new();
        let draw = |n: u8| {
            let mut h = random.build_hasher();
            h.write_u8(n);
            h.finish()
        };
        Seed([draw(0), draw(1) | 1])
    }
}

/// One entry of 32 bytes, two to a cache line: the piece's key, how many ids it merged to (0:
/// empty slot), and the ids inline (at most three) or `[start, count]` in the side vector.
#[derive(Clone, Copy, Default)]
struct Slot {
    w: [u64; 2],
    len: u16,
    count: u16,
    ids: [u32; 3],
}

impl Slot {
    #[inline(always)]
    fn holds(&self, k: &Key) -> bool {
        self.w == k.w && self.len == k.len
    }

    fn key(&self) -> Key {
        Key {
            w: self.w,
            len: self.len,
        }
    }
}

/// The ids of pieces already merged during one encode call.
#[derive(Default)]
pub struct Memo {
    /// The table's size when the first piece comes in.
    first_slots: usize,
    slots: Vec<Slot>,
    /// Occupied slots.
    len: usize,
    /// Ids of entries of more than three, and of the long pieces.
    spill: Vec<u32>,
    seed: Seed,
    /// Pieces of [`Memo::LONG_KEYS`] bytes (their own copy) -> `[start, count]` in `spill`.
    long: Long,
}

/// The long pieces' map: their bytes hashed with foldhash under random seeds (a process-wide
/// one and one new for each memo, as the short pieces' keys are drawn for each memo), so text
/// chosen to collide has nothing to aim at and cannot turn its lookups into scans. SipHash did
/// the same at 3.5% of DeepSeek's samples on the other scripts' lines: foldhash took 0.058 to
/// 0.056 s off them (docs/tokenizer-profile.md, eleventh round).
type Long = std::collections::HashMap<Box<[u8]>, [u32; 2], foldhash::quality::RandomState>;

impl Memo {
    /// Pieces outside this range are merged every time: shorter ones are cheap to merge, longer
    /// ones rarely come back.
    const KEYS: std::ops::RangeInclusive<usize> = 3..=16;
    const FIRST_SLOTS: usize = 1 << 10;
    const MAX_SLOTS: usize = 1 << 18;
    /// Longer pieces that come back often enough to keep: words of eight or more letters of
    /// two-byte scripts (Cyrillic, Greek, Arabic, Hebrew), six or more of three-byte ones.
    const LONG_KEYS: std::ops::RangeInclusive<usize> = 17..=32;
    /// At most this many long pieces (each at most 32 bytes of key and 32 ids: see the module's
    /// bound).
    const MAX_LONG: usize = 1 << 16;

    /// A memo for an encode of `text_len` bytes: its table starts at a size that such a text
    /// needs (about one distinct merged piece per 100 bytes on the benchmark text, two slots
    /// each), so that a long text does not rehash it ten times over.
    pub fn for_text(text_len: usize) -> Self {
        Self {
            first_slots: (text_len / 50)
                .next_power_of_two()
                .clamp(Self::FIRST_SLOTS, Self::MAX_SLOTS),
            ..Self::default()
        }
    }

    #[inline(always)]
    fn home(&self, hash: u64) -> usize {
        // The top bits, as the table's size is a power of two.
        (hash >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    /// Appends the ids of `piece` to `out`, from the memo or by `merge` (which appends them).
    #[inline]
    pub fn encode(
        &mut self,
        piece: &[u8],
        out: &mut Vec<u32>,
        merge: impl FnOnce(&[u8], &mut Vec<u32>),
    ) {
        if !Self::KEYS.contains(&piece.len()) {
            return if Self::LONG_KEYS.contains(&piece.len()) {
                self.encode_long(piece, out, merge)
            } else {
                merge(piece, out)
            };
        }
        let key = Key::of(piece);
        let hash = key.hash(self.seed);
        let mut i = 0;
        if !self.slots.is_empty() {
            let mask = self.slots.len() - 1;
            i = self.home(hash);
            loop {
                let s = &self.slots[i];
                if s.count == 0 {
                    break;
                }
                if s.holds(&key) {
                    match s.count {
                        1 => out.push(s.ids[0]),
                        2 => out.extend_from_slice(&s.ids[..2]),
                        3 => out.extend_from_slice(&s.ids),
                        _ => {
                            let (at, n) = (s.ids[0] as usize, s.ids[1] as usize);
                            out.extend_from_slice(&self.spill[at..at + n]);
                        }
                    }
                    return;
                }
                i = (i + 1) & mask;
            }
        }
        let first = out.len();
        merge(piece, out);
        let ids = &out[first..];
        // A full table takes no more pieces; one at half its size doubles first.
        if (self.len + 1) * 2 > self.slots.len() {
            if self.slots.len() >= Self::MAX_SLOTS {
                return;
            }
            self.grow();
            i = self.free_slot(hash);
        }
        let mut slot = Slot {
            w: key.w,
            len: key.len,
            count: ids.len() as u16,
            ids: [0; 3],
        };
        if ids.len() <= 3 {
            slot.ids[..ids.len()].copy_from_slice(ids);
        } else {
            slot.ids[0] = self.spill.len() as u32;
            slot.ids[1] = ids.len() as u32;
            self.spill.extend_from_slice(ids);
        }
        self.slots[i] = slot;
        self.len += 1;
    }

    /// [`Memo::encode`] for a piece of [`Memo::LONG_KEYS`] bytes: not inline (a key of two
    /// words cannot determine it), so looked up by its bytes, which a hit compares in full.
    #[inline(never)]
    fn encode_long(
        &mut self,
        piece: &[u8],
        out: &mut Vec<u32>,
        merge: impl FnOnce(&[u8], &mut Vec<u32>),
    ) {
        if let Some(&[at, n]) = self.long.get(piece) {
            let at = at as usize;
            out.extend_from_slice(&self.spill[at..at + n as usize]);
            return;
        }
        let first = out.len();
        merge(piece, out);
        if self.long.len() < Self::MAX_LONG {
            let ids = &out[first..];
            let entry = [self.spill.len() as u32, ids.len() as u32];
            self.spill.extend_from_slice(ids);
            self.long.insert(piece.into(), entry);
        }
    }

    fn free_slot(&self, hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut i = self.home(hash);
        while self.slots[i].count != 0 {
            i = (i + 1) & mask;
        }
        i
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(self.first_slots.max(Self::FIRST_SLOTS));
        let old = std::mem::replace(&mut self.slots, super::huge::filled(size, Slot::default()));
        for s in old.into_iter().filter(|s| s.count != 0) {
            let i = self.free_slot(s.key().hash(self.seed));
            self.slots[i] = s;
        }
    }
}

/// Two slots to a cache line.
const _: () = assert!(std::mem::size_of::<Slot>() == 32);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A stand-in merge: one id per byte pair, so pieces of different lengths give different
    /// counts (inline and spilled entries both).
    fn fake_merge(p: &[u8], out: &mut Vec<u32>) {
        out.extend(
            p.chunks(2)
                .map(|c| u32::from(c[0]) << 8 | u32::from(*c.last().unwrap())),
        );
    }

    proptest! {
        /// Whatever the order and repetition of pieces, the memo gives what merging gives.
        #[test]
        fn gives_what_merging_gives(
            pieces in proptest::collection::vec(proptest::collection::vec(0u8..3, 0..40), 0..400),
            order in proptest::collection::vec(0usize..400, 0..2000),
        ) {
            let mut memo = Memo::default();
            for &o in &order {
                let Some(p) = pieces.get(o % pieces.len().max(1)) else { continue };
                let (mut got, mut want) = (vec![9], vec![9]);
                memo.encode(p, &mut got, fake_merge);
                fake_merge(p, &mut want);
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn trailing_zero_bytes_and_lengths_are_part_of_the_key() {
        let mut memo = Memo::default();
        let mut calls = 0;
        for p in [
            &b"ab\0"[..],
            b"ab\0\0",
            b"ab\0\0\0\0\0\0\0",
            b"ab\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        ] {
            for _ in 0..2 {
                let mut out = Vec::new();
                memo.encode(p, &mut out, |p, o| {
                    calls += 1;
                    o.push(p.len() as u32)
                });
                assert_eq!(out, [p.len() as u32]);
            }
        }
        assert_eq!(calls, 4, "each piece merged once");
    }

    #[test]
    fn long_pieces_are_merged_once_and_told_apart_by_every_byte() {
        let mut memo = Memo::default();
        let mut calls = 0;
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        for len in 16..=33 {
            let p: Vec<u8> = (0..len as u8).map(|i| b'a' + i % 26).collect();
            let mut q = p.clone();
            // Differs from `p` in one middle byte only: the inline memo's two words would
            // not see it.
            q[len / 2] ^= 1;
            pieces.extend([p, q]);
        }
        for _ in 0..3 {
            for p in &pieces {
                let mut out = Vec::new();
                memo.encode(p, &mut out, |p, o| {
                    calls += 1;
                    fake_merge(p, o)
                });
                let mut want = Vec::new();
                fake_merge(p, &mut want);
                assert_eq!(out, want);
            }
        }
        // 16 bytes: inline; 17..=32: the long map; 33: merged every time.
        assert_eq!(
            calls,
            2 + 16 * 2 + 2 * 3,
            "each piece of 16 to 32 bytes merged once"
        );
    }

    /// Pieces that all share a home slot under one memo's keys (as text built against keys
    /// fixed in the code would) are spread out under another's.
    #[test]
    fn pieces_that_collide_under_one_memos_keys_do_not_under_anothers() {
        let (one, other) = (Memo::default(), Memo::default());
        let home = |m: &Memo, p: &[u8]| Key::of(p).hash(m.seed) >> 54;
        let pieces: Vec<[u8; 3]> = (0u32..1 << 24)
            .map(|n| [n as u8, (n >> 8) as u8, (n >> 16) as u8])
            .filter(|p| home(&one, p) == 0)
            .take(64)
            .collect();
        assert_eq!(pieces.len(), 64);
        let homes: std::collections::HashSet<u64> =
            pieces.iter().map(|p| home(&other, p)).collect();
        assert!(homes.len() > 48, "{} homes of 64", homes.len());
    }

    #[test]
    fn stops_taking_long_pieces_when_full() {
        let mut memo = Memo::default();
        for n in 0u32..(Memo::MAX_LONG as u32 + 10) {
            let mut p = [7u8; 20];
            p[..4].copy_from_slice(&n.to_le_bytes());
            memo.encode(&p, &mut Vec::new(), |_, o| o.push(1));
        }
        assert_eq!(memo.long.len(), Memo::MAX_LONG);
    }

    #[test]
    fn stops_taking_pieces_when_full() {
        let mut memo = Memo::default();
        for n in 0u32..(Memo::MAX_SLOTS as u32) {
            memo.encode(&n.to_le_bytes(), &mut Vec::new(), |_, o| o.push(1));
        }
        assert_eq!(memo.slots.len(), Memo::MAX_SLOTS);
        assert_eq!(memo.len, Memo::MAX_SLOTS / 2);
    }
}
