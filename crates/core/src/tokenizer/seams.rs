//! Where a long piece can be cut before merging: between two characters that no merge joins.
//!
//! A CJK run is one piece of DeepSeek's and Qwen's splits (tens of characters; 17,201 of the
//! pieces of the bench text's CJK lines are longer than 16 bytes, 587 KB of its 1 MB), too long
//! for the memo's keys and rarely seen twice, so each was merged in full, pair by pair. Yet most
//! of its characters are never joined to the next by any merge: the run is a few words of one
//! to four characters, each merged on its own. Cut there, the words are short and come back
//! (the same 17,201 pieces are 105,976 words, 9,789 of them distinct), so the memo merges each
//! once (docs/tokenizer-profile.md, eleventh round).
//!
//! Why a cut changes no id. Let `c1` end at the cut and `c2` start there, each an ASCII byte or
//! a character that starts whole in this piece ([`Atoms::at`]). Merging the piece from its
//! atoms gives its ids ([`super::atoms`]), and there every part that holds a byte of an atom
//! holds all of it. The first merge to make a part across the cut joins a part that ends at it
//! (so ends with `c1`'s bytes) and one that starts at it (so starts with `c2`'s): a merge of the
//! list whose left token's last character is `c1` and whose right token's first is `c2`. When
//! the list has none, no part ever crosses the cut, each side merges as if alone, and merging
//! each side on its own gives the same ids (the characters at the cut still start whole there:
//! nothing stands beside them). The pairs of (last character of a merge's left token, first of
//! its right) are kept as bits of a hash; a false hit only leaves a cut untaken.

use super::atoms::{self, Atoms};

/// Bits of the pair filter: 128 KiB, which stays in the second-level cache; DeepSeek's merges
/// set 34,577 pairs, under 3.5% of the bits.
const BITS: u32 = 20;

/// The characters that a merge of the list joins, as a filter over their pairs.
pub struct Seams {
    bits: Vec<u64>,
}

#[inline(always)]
fn slot(left: u32, right: u32) -> usize {
    let k = (u64::from(left) << 32) | u64::from(right);
    (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BITS)) as usize
}

/// The length of the character that `lead` starts, an ASCII byte's included (0: not a first
/// byte).
#[inline(always)]
fn char_len(lead: u8) -> usize {
    if lead < 0x80 {
        1
    } else {
        atoms::char_len(lead)
    }
}

/// The last character of `t`, if `t` ends with a whole one.
fn last_char(t: &[u8]) -> Option<&[u8]> {
    let lead = t.iter().rposition(|&b| !(0x80..0xC0).contains(&b))?;
    (char_len(t[lead]) == t.len() - lead).then(|| &t[lead..])
}

/// The first character of `t`, if `t` starts with a whole one.
fn first_char(t: &[u8]) -> Option<&[u8]> {
    let n = char_len(*t.first()?);
    t.get(..n).filter(|_| n > 0)
}

impl Seams {
    /// From the bytes of each merge's left and right tokens.
    pub fn of_merges<'a>(joins: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Self {
        let mut bits = vec![0u64; 1 << (BITS - 6)];
        for (l, r) in joins {
            if let (Some(a), Some(b)) = (last_char(l), first_char(r)) {
                let s = slot(atoms::key(a), atoms::key(b));
                bits[s >> 6] |= 1 << (s & 63);
            }
        }
        Seams { bits }
    }

    /// Whether some merge may join `left` then `right` (characters as [`atoms::key`] words:
    /// their bytes, little endian).
    #[inline(always)]
    fn joins(&self, left: u32, right: u32) -> bool {
        let s = slot(left, right);
        self.bits[s >> 6] & (1 << (s & 63)) != 0
    }

    /// Calls `f` with each part of `piece` between cuts, in order (the whole piece when there
    /// is none).
    pub fn cut(&self, piece: &[u8], atoms: &Atoms, mut f: impl FnMut(&[u8])) {
        let mut start = 0;
        // The character before `i`, if it is whole (an ASCII byte or an atom here).
        let mut prev: Option<u32> = None;
        let mut i = 0;
        while i < piece.len() {
            let b = piece[i];
            let (here, len) = if b < 0x80 {
                (Some(u32::from(b)), 1)
            } else {
                match atoms.at(piece, i) {
                    Some((_, n)) => (Some(atoms::key(&piece[i..i + n])), n),
                    None => (None, 1),
                }
            };
            if let (Some(l), Some(r)) = (prev, here) {
                if !self.joins(l, r) {
                    f(&piece[start..i]);
                    start = i;
                }
            }
            prev = here;
            i += len;
        }
        f(&piece[start..]);
    }
}
