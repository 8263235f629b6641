//! Characters that a byte-pair merge may start from whole ("atoms"), for both BPE engines.
//!
//! BPE merges a piece from its bytes. A character of two to four bytes that is a token is,
//! in most contexts, merged into that token before any of its bytes joins a neighbour; there the
//! merge may start from the character as one part and skip its inner merges. On the benchmark
//! text that takes a quarter of the parts out of the merges of the pieces that are not tokens
//! (those pieces are 62% non-ASCII bytes; `scripts/bench/atoms.py` counts them and checks the
//! rule below against a plain merge).
//!
//! When it holds, worked out once per character from the table and checked per context from the
//! bytes beside it. Let `M` be the highest rank among the merges that make character `c` from
//! its own bytes. While `c` is not whole, one of those merges is pending, so every merge taken
//! anywhere in the piece until then has a rank of at most `M`. Starting from `c` whole then takes
//! the same merges in the same order, those inside `c` left out, unless some token of rank at
//! most `M` joins a neighbour with part or all of `c`: `A‖p` with `p` a non-empty prefix of `c`
//! (or `c`), or `s‖Z` with `s` a non-empty suffix of `c` (or `c`). `left` holds the last byte of
//! every such `A`, `right` the first byte of every such `Z`; a character starts whole when the
//! byte before it is not in `left` and the byte after it is not in `right` (nothing before or
//! after it in the piece: nothing to join). The sets are 64-bit masks of a hash of the byte: a
//! false hit only keeps the character in bytes, as before. For a rank file, "rank" is the
//! token's and a join is any split of a token; for a merges list, the merge's line and its
//! pair.

use rustc_hash::FxHashMap;

use super::merge::Merges;
use super::rank_table::RankTable;

/// One character that can start whole: its token and the bytes that may not stand beside it.
#[derive(Clone, Copy)]
struct Atom {
    rank: u32,
    left: u64,
    right: u64,
}

/// The characters of a table that can start a merge whole, keyed by their UTF-8 bytes (little
/// endian in a `u32`).
#[derive(Default)]
pub struct Atoms {
    map: FxHashMap<u32, Atom>,
}

/// A byte's bit in a mask: the top six bits of a multiplicative hash, so that four bytes share
/// each bit, spread over the byte values (a space shares its bit with `W`, 0xB0 and 0xE7).
#[inline(always)]
fn bit(b: u8) -> u64 {
    1 << (u32::from(b).wrapping_mul(0x9E37_79B9) >> 26)
}

#[inline(always)]
pub(super) fn key(c: &[u8]) -> u32 {
    c.iter().rev().fold(0, |k, &b| k << 8 | u32::from(b))
}

/// The length of the UTF-8 character that `lead` starts (0: not a lead byte of 2-4 bytes).
#[inline(always)]
pub(super) fn char_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 0,
    }
}

/// The highest rank among the merges that make `token` from its bytes, if they make it.
fn inner_max(token: &[u8], table: &RankTable) -> Option<u32> {
    // Parts as (start, end) in `token`.
    let mut parts: Vec<(usize, usize)> = (0..token.len()).map(|i| (i, i + 1)).collect();
    let mut max = 0;
    while parts.len() > 1 {
        let (r, i) = (0..parts.len() - 1)
            .filter_map(|i| {
                table
                    .get(&token[parts[i].0..parts[i + 1].1])
                    .map(|r| (r, i))
            })
            .min()?;
        max = max.max(r);
        parts[i].1 = parts[i + 1].1;
        parts.remove(i + 1);
    }
    Some(max)
}

/// The highest rank among the merges of a merges list that make `id` from `bytes`, if they
/// make it.
fn inner_max_listed(id: u32, bytes: &[u8], merges: &Merges, byte_ids: &[u32; 256]) -> Option<u32> {
    let mut syms: Vec<u32> = bytes.iter().map(|&b| byte_ids[usize::from(b)]).collect();
    let mut max = 0;
    while syms.len() > 1 {
        let ((rank, merged), i) = (0..syms.len() - 1)
            .filter_map(|i| merges.get(syms[i], syms[i + 1]).map(|m| (m, i)))
            .min()?;
        max = max.max(rank);
        syms[i] = merged;
        syms.remove(i + 1);
    }
    (syms[..] == [id]).then_some(max)
}

/// Whether `t` is one UTF-8 character of 2 to 4 bytes.
fn one_char(t: &[u8]) -> bool {
    (2..=4).contains(&t.len()) && char_len(t[0]) == t.len() && std::str::from_utf8(t).is_ok()
}

/// The atoms being worked out: the candidates (characters that merge to one token), then every
/// join of two tokens the table can make, each marking the neighbour bytes it rules out.
struct Builder {
    /// (key, the atom, the highest rank of its inner merges) of each candidate.
    cands: Vec<(u32, Atom, u32)>,
    /// Every non-empty prefix (suffix) of a candidate, as [`short_key`] -> the candidates that
    /// have it.
    by_prefix: FxHashMap<u64, Vec<usize>>,
    by_suffix: FxHashMap<u64, Vec<usize>>,
}

/// 1 to 4 bytes as one word: their [`key`] and length.
#[inline(always)]
fn short_key(b: &[u8]) -> u64 {
    u64::from(key(b)) | (b.len() as u64) << 32
}

impl Builder {
    /// `(bytes, token, highest inner rank)` of each candidate.
    fn new<'a>(cands: impl Iterator<Item = (&'a [u8], u32, u32)>) -> Self {
        let mut b = Builder {
            cands: Vec::new(),
            by_prefix: FxHashMap::default(),
            by_suffix: FxHashMap::default(),
        };
        for (t, rank, most) in cands {
            let at = b.cands.len();
            b.cands.push((
                key(t),
                Atom {
                    rank,
                    left: 0,
                    right: 0,
                },
                most,
            ));
            for j in 1..=t.len() {
                b.by_prefix.entry(short_key(&t[..j])).or_default().push(at);
                b.by_suffix
                    .entry(short_key(&t[j - 1..]))
                    .or_default()
                    .push(at);
            }
        }
        b
    }

    /// The table can join `a` then `b` at `rank`: where `b` starts like a candidate (or is it)
    /// and the candidate's inner merges do not all come first, `a`'s last byte may not stand
    /// before it; where `a` ends like one, `b`'s first byte may not stand after it.
    fn join(&mut self, a: &[u8], b: &[u8], rank: u32) {
        let (Some(&before), Some(&after)) = (a.last(), b.first()) else {
            return;
        };
        let Builder {
            cands,
            by_prefix,
            by_suffix,
        } = self;
        // A candidate's prefix starts with a lead byte, its suffix ends with a continuation byte.
        let starts = b.len() <= 4 && after >= 0xC0;
        let ends = a.len() <= 4 && (0x80..0xC0).contains(&before);
        let prefixed = starts.then(|| by_prefix.get(&short_key(b))).flatten();
        for &c in prefixed.into_iter().flatten() {
            if let Some((_, atom, _)) = cands.get_mut(c).filter(|(_, _, m)| rank <= *m) {
                atom.left |= bit(before);
            }
        }
        let suffixed = ends.then(|| by_suffix.get(&short_key(a))).flatten();
        for &c in suffixed.into_iter().flatten() {
            if let Some((_, atom, _)) = cands.get_mut(c).filter(|(_, _, m)| rank <= *m) {
                atom.right |= bit(after);
            }
        }
    }

    fn finish(self) -> Atoms {
        Atoms {
            map: self.cands.into_iter().map(|(k, a, _)| (k, a)).collect(),
        }
    }
}

impl Atoms {
    /// The atoms of a rank file, from its table. A token joins any two strings it splits into
    /// (more than tiktoken, which joins two parts that are tokens: an atom is only refused more
    /// often).
    pub fn of_ranks(table: &RankTable) -> Self {
        let mut cands = Vec::new();
        table.for_each(|t, rank| {
            if let Some(m) = one_char(t).then(|| inner_max(t, table)).flatten() {
                cands.push((t.to_vec(), rank, m));
            }
        });
        let mut b = Builder::new(cands.iter().map(|(t, rank, m)| (t.as_slice(), *rank, *m)));
        table.for_each(|t, rank| {
            // Only splits with a side of at most 4 bytes can meet a character's prefix or suffix.
            let n = t.len();
            for q in (1..n.min(5)).chain(n.saturating_sub(4).max(5)..n) {
                if t[q] >= 0xC0 || t[q - 1] >= 0x80 {
                    b.join(&t[..q], &t[q..], rank);
                }
            }
        });
        b.finish()
    }

    /// The atoms of a merges list: `list` is `(left, right, merged)` in rank order, `merges`
    /// its table, `id_bytes` each id's bytes and `whole` the tokens the merges make from their
    /// own bytes.
    pub fn of_merges(
        list: &[(u32, u32, u32)],
        merges: &Merges,
        id_bytes: &[Box<[u8]>],
        byte_ids: &[u32; 256],
        whole: &[u32],
    ) -> Self {
        let bytes = |id: u32| id_bytes.get(id as usize).map_or(&[][..], |b| &b[..]);
        let mut b = Builder::new(whole.iter().filter(|&&id| one_char(bytes(id))).filter_map(
            |&id| {
                let t = bytes(id);
                Some((t, id, inner_max_listed(id, t, merges, byte_ids)?))
            },
        ));
        for (rank, &(l, r, _)) in (0u32..).zip(list) {
            b.join(bytes(l), bytes(r), rank);
        }
        b.finish()
    }

    /// How many characters can start whole (in some context).
    pub fn count(&self) -> usize {
        self.map.len()
    }

    /// The first part a merge of `piece` takes at `i`: the character there if it starts whole,
    /// else the byte's token (`byte_ids`). Its token and length.
    #[inline(always)]
    pub fn part_at(&self, piece: &[u8], i: usize, byte_ids: &[u32; 256]) -> (u32, usize) {
        let b = piece[i];
        match b {
            0xC0.. => self.at(piece, i),
            _ => None,
        }
        .unwrap_or((byte_ids[usize::from(b)], 1))
    }

    /// The token and length of the character at `piece[i]`, if it starts whole there.
    #[inline(always)]
    pub fn at(&self, piece: &[u8], i: usize) -> Option<(u32, usize)> {
        let k = char_len(*piece.get(i)?);
        let c = piece.get(i..i + k).filter(|_| k > 0)?;
        let a = self.map.get(&key(c))?;
        let before = i.checked_sub(1).is_none_or(|b| a.left & bit(piece[b]) == 0);
        let after = piece.get(i + k).is_none_or(|&b| a.right & bit(b) == 0);
        (before && after).then_some((a.rank, k))
    }
}

/// Characters from the scripts of the benchmark text and what stands beside them, for the
/// property tests of the engines that use atoms.
#[cfg(test)]
pub(crate) const SCRIPT_CHARS: &[char] = &[
    'a', 'e', 'n', 'T', ' ', ' ', '\n', '.', ',', '!', '"', '\'', '(', '-', '_', '0', '7', 'é',
    'ü', 'ñ', 'ç', 'ß', 'ø', 'п', 'р', 'и', 'в', 'е', 'т', 'Ж', 'α', 'λ', 'Ω', 'ש', 'ל', 'م', 'ر',
    'ह', 'ि', 'ก', '่', '中', '文', '的', '是', 'の', 'ア', 'ン', '한', '국', '😀', '→', '—', '…',
    '\u{a0}', '\u{301}',
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::merge::by_rank;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    struct Table {
        ranks: FxHashMap<Vec<u8>, u32>,
        table: RankTable,
        byte_rank: [u32; 256],
        atoms: Atoms,
    }

    impl Table {
        fn new(ranks: FxHashMap<Vec<u8>, u32>) -> Self {
            let table = RankTable::new(&ranks);
            let byte_rank = std::array::from_fn(|b| ranks[&vec![b as u8]]);
            let atoms = Atoms::of_ranks(&table);
            Table {
                ranks,
                table,
                byte_rank,
                atoms,
            }
        }

        /// The piece merged from its characters where they start whole, and from its bytes.
        fn both(&self, piece: &[u8]) -> (Vec<u32>, Vec<u32>) {
            let (mut with, mut without) = (vec![], vec![]);
            by_rank(
                piece,
                &self.table,
                &self.byte_rank,
                &self.atoms,
                &mut vec![],
                &mut with,
            );
            let none = Atoms::default();
            by_rank(
                piece,
                &self.table,
                &self.byte_rank,
                &none,
                &mut vec![],
                &mut without,
            );
            (with, without)
        }
    }

    /// `é` (C3 A9) is made late (rank 50); a space joins its first byte earlier (` \xC3`, rank
    /// 10), and its last byte joins `!` earlier (`\xA9!`, rank 5).
    fn crafted() -> Table {
        let mut ranks: FxHashMap<Vec<u8>, u32> =
            (0..=255u8).map(|b| (vec![b], 300 + u32::from(b))).collect();
        for (t, r) in [
            (&b"\xC3\xA9"[..], 50),
            (b" \xC3", 10),
            (b"\xA9!", 5),
            (b"a\xC3\xA9", 60),
            (b"\xC3\xA9\xC3\xA9", 70),
        ] {
            ranks.insert(t.to_vec(), r);
        }
        Table::new(ranks)
    }

    #[test]
    fn a_character_starts_whole_only_where_no_neighbour_joins_it_first() {
        let t = crafted();
        assert_eq!(t.atoms.count(), 1);
        let at = |s: &[u8], i| t.atoms.at(s, i);
        assert_eq!(at("é".as_bytes(), 0), Some((50, 2)));
        assert_eq!(at("aé".as_bytes(), 1), Some((50, 2)));
        assert_eq!(at("éé".as_bytes(), 2), Some((50, 2)));
        assert_eq!(
            at(" é".as_bytes(), 1),
            None,
            "a space joins its first byte first"
        );
        assert_eq!(
            at("é!".as_bytes(), 0),
            None,
            "`!` joins its last byte first"
        );
        assert_eq!(at("é".as_bytes(), 1), None, "not a character's first byte");
        assert_eq!(at(&"é".as_bytes()[..1], 0), None, "cut short");
        for piece in ["é", " é", "é!", " é!", "aé", "aéé", "ééé!", " éaé é"] {
            let (with, without) = t.both(piece.as_bytes());
            assert_eq!(with, without, "{piece:?}");
        }
        // Without the masks the space case differs: the rule is what keeps it exact.
        let mut careless = crafted();
        careless
            .atoms
            .map
            .values_mut()
            .for_each(|a| (a.left, a.right) = (0, 0));
        let (with, without) = careless.both(" é".as_bytes());
        assert_ne!(with, without);
    }

    /// A shipped rank file, loaded once per test run.
    fn shipped(name: &str) -> &'static Table {
        static O200K: OnceLock<Table> = OnceLock::new();
        static CL100K: OnceLock<Table> = OnceLock::new();
        let cell = if name == "o200k_base" {
            &O200K
        } else {
            &CL100K
        };
        cell.get_or_init(|| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../../tokenizers/openai/{name}.tiktoken.gz"));
            let bytes = crate::tokenizer::read_maybe_gzip(&path).expect("shipped rank file");
            Table::new(crate::tokenizer::parse_rank_file(&bytes).expect("rank file"))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        #[test]
        fn starting_from_whole_characters_changes_no_id_of_the_shipped_rank_files(
            chars in proptest::collection::vec(proptest::sample::select(SCRIPT_CHARS), 1..24),
        ) {
            let piece: String = chars.into_iter().collect();
            for name in ["o200k_base", "cl100k_base"] {
                let (with, without) = shipped(name).both(piece.as_bytes());
                prop_assert_eq!(with, without, "{} {:?}", name, piece);
            }
        }
    }

    #[test]
    fn most_single_character_tokens_of_the_shipped_files_can_start_whole() {
        for name in ["o200k_base", "cl100k_base"] {
            let t = shipped(name);
            let chars = t
                .ranks
                .keys()
                .filter(|k| {
                    k.len() >= 2 && std::str::from_utf8(k).is_ok_and(|s| s.chars().count() == 1)
                })
                .count();
            assert!(
                t.atoms.count() * 10 >= chars * 9,
                "{name}: {} of {chars}",
                t.atoms.count()
            );
        }
    }
}
