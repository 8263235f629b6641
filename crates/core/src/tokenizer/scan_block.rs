//! DeepSeek's third split pattern and Qwen's on ASCII text, 64 bytes at a time: every byte
//! classified at once into bit masks (bit `i` for byte `i`; SSE2 compares in [`super::sse2`]),
//! and the pieces' starts found from the masks with shifts and adds instead of deciding piece
//! by piece. [`super::scan_deepseek`] runs it on DeepSeek's three splits at once (digits are
//! then numbers, each ending the text the word pattern splits), [`super::scan::Scanner`] on the
//! third pattern alone (digits are then `O`) and on Qwen's; both go a piece at a time where the
//! text is not ASCII. Which pattern is a [`Form`].
//!
//! DeepSeek's pattern is
//! ``[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+``.
//! On ASCII its characters fall in six classes: letters `L`, punctuation and symbols `P` (all
//! 32 ASCII ones), the space `SP`, the other blanks `WS` (`\t`, `\x0b`, `\x0c`), newlines `NL`
//! (`\r`, `\n`) and the rest `O` (controls, DEL, digits: what only the optional character
//! before a word can be). From any piece's start the pieces depend only on the text after it
//! (the pattern has no lookbehind), and worked out from the pattern, a piece starts at:
//!
//! - the first letter of a run, unless the character before it joins it: a blank, an `O`, or a
//!   `P` that starts a piece (the first alternative);
//! - the first `P` of a run, unless a space is before it (` ?P+`);
//! - the first blank of a run of blanks and newlines (a *region*; the newlines right after a
//!   `P` run are that piece's `[\r\n]*` and no region's); after the region's last newline,
//!   when blanks follow it; and at its last character when at least two blanks end it and
//!   the text goes on (`\s+(?!\S)` leaves that character to the next piece);
//! - an `O` before a letter; the first of a run of `O`s that are not (nothing matches them:
//!   they are not pieces, and no callback is made for them).
//!
//! Qwen's (2, 2.5 and 3; 3.5 and 3.6 add marks, which ASCII has none of) is
//! `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
//! Its punctuation `[^\s\p{L}\p{N}]` is `P` and `O` together, and any of it may stand before a
//! word, so on ASCII it is DeepSeek's with `O` in `P`, and two more rules: every digit starts a
//! piece (`\p{N}`), and a contraction is a piece of its own: where a `'` starts a piece and
//! `s`, `t`, `m`, `d`, `re`, `ve` or `ll` (any case) follows, a piece starts after those
//! letters (the first alternative is tried before the word that would take them all).
//!
//! o200k's pattern is
//! `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
//! tekken's the same without the contractions and with `\p{N}` for `\p{N}{1,3}`. On ASCII
//! they are Qwen's (`P` and `O` together, a word's optional first character, the blanks and
//! newlines) but for four rules:
//!
//! - a word is `U*L+` or `U+L*` (`U` upper case, `L` lower case): within a run of letters a
//!   piece starts at each upper-case letter after a lower-case one, and only there;
//! - the newlines after a run of punctuation are `[\r\n/]*`: once a newline follows the run,
//!   the `/`s and newlines after it are that piece's, not punctuation that starts a piece;
//! - o200k: a `'` right after a letter, followed by `s`, `t`, `m`, `d`, `re`, `ve` or `ll`
//!   (any case), ends the word before it: neither it nor those letters start a piece, and a
//!   piece starts after them;
//! - numbers: o200k's of up to three digits (the first digit of a run, then every third),
//!   tekken's of one.
//!
//! A block's masks say nothing of the bytes after it, so only the pieces before the start of
//! its last run of one class (letters, punctuation, whitespace, digits when they are numbers,
//! `O`) are taken, unless the block reaches the end of the text: every start up to there
//! depends only on bytes of the block. The next block starts at the last start taken. A block
//! stops at its first byte beyond ASCII the same way. The tests compare the split with
//! `fancy-regex`'s on random text of every class, on long ASCII-heavy text and on the corpus
//! (`pretok.rs`); the fuzz target `split_blocks` on any text.

/// The pattern a block is split by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// DeepSeek's third pattern after its numbers split: a number of up to three digits is a
    /// piece, and the text between numbers is split as a text of its own
    /// ([`super::scan_deepseek`]).
    DeepSeekNumbers,
    /// DeepSeek's third pattern alone: a digit is an `O`.
    DeepSeek,
    /// Qwen's pattern.
    Qwen,
    /// o200k's pattern (o200k_base, o200k_harmony): words split by case, a contraction the
    /// end of the word before it, numbers of up to three digits.
    O200k,
    /// Mistral tekken's: o200k's without contractions, every digit a piece.
    Tekken,
}

/// The class masks of up to 64 bytes: bit `i` for byte `i`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Masks {
    pub letter: u64,
    /// The 32 ASCII punctuation characters and symbols.
    pub punct: u64,
    pub space: u64,
    /// `\t`, `\x0b`, `\x0c`.
    pub blank: u64,
    /// `\r`, `\n`.
    pub newline: u64,
    pub digit: u64,
    /// Bytes beyond ASCII.
    pub high: u64,
}

impl Masks {
    /// ASCII that is none of the others.
    fn other(&self) -> u64 {
        !(self.letter
            | self.punct
            | self.space
            | self.blank
            | self.newline
            | self.digit
            | self.high)
    }

    /// A byte at a time, from the flags of [`super::classes`]: the vector form is checked
    /// against it, and it stands in for it where there is no SSE2.
    #[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
    fn of_bytes(b: &[u8; 64]) -> Masks {
        let t = super::classes::Classes::get();
        let mut m = Masks::default();
        for (i, &c) in b.iter().enumerate() {
            let bit = 1u64 << i;
            let f = t.ascii(c);
            use super::classes::{LETTER, NEWLINE, NUMBER, PUNCT_SYMBOL, SPACE};
            if c >= 0x80 {
                m.high |= bit;
            } else if f & NUMBER != 0 {
                m.digit |= bit;
            } else if f & LETTER != 0 {
                m.letter |= bit;
            } else if f & PUNCT_SYMBOL != 0 {
                m.punct |= bit;
            } else if f & NEWLINE != 0 {
                m.newline |= bit;
            } else if c == b' ' {
                m.space |= bit;
            } else if f & SPACE != 0 {
                m.blank |= bit;
            }
        }
        m
    }

    /// The masks of 64 bytes.
    #[inline(always)]
    fn of(b: &[u8; 64]) -> Masks {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        return super::sse2::masks(b);
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        return Self::of_bytes(b);
    }
}

/// The bits of the first `n` bytes (`n` <= 64).
#[inline(always)]
fn first_bits(n: usize) -> u64 {
    if n == 64 {
        !0
    } else {
        (1u64 << n) - 1
    }
}

/// Bit `i` set where bit `i - 1` of `x` is: "the byte before is in `x`".
#[inline(always)]
fn prev(x: u64) -> u64 {
    x << 1
}

/// Bit `i` set where bit `i + 1` of `x` is: "the byte after is in `x`".
#[inline(always)]
fn next(x: u64) -> u64 {
    x >> 1
}

/// The bits of each run of `runs` from each of its bits in `seeds` (a subset) upward, to the
/// run's end: adding a seed carries through the ones above it; the seeds above the lowest one
/// in a run are put back by the `|`.
#[inline(always)]
fn fill_up(runs: u64, seeds: u64) -> u64 {
    ((runs.wrapping_add(seeds) ^ runs) | seeds) & runs
}

/// The pieces' starts in a block of `n` bytes (all ASCII; `block`, its bytes) whose first byte
/// starts a piece, and the starts of text no alternative matches. `at_end`: the text ends after
/// the block.
#[inline(always)]
fn starts(m: &Masks, block: &[u8; 64], n: usize, at_end: bool, form: Form) -> (u64, u64) {
    let valid = first_bits(n);
    let (l, nl, sp) = (m.letter & valid, m.newline & valid, m.space & valid);
    let blank = (m.space | m.blank) & valid;
    // The punctuation, the characters only a word's first may be, and the numbers.
    let (p, o, d) = match form {
        Form::DeepSeekNumbers => (m.punct, m.other(), m.digit),
        Form::DeepSeek => (m.punct, m.other() | m.digit, 0),
        Form::Qwen | Form::O200k | Form::Tekken => (m.punct | m.other(), 0, m.digit),
    };
    let (p, o, d) = (p & valid, o & valid, d & valid);
    let cased = matches!(form, Form::O200k | Form::Tekken);
    // Where a text ends: the block's end when the text's, and before a number when numbers are
    // split off first.
    let end = match form {
        Form::DeepSeekNumbers => next(d),
        _ => 0,
    } | if at_end { 1u64 << (n - 1) } else { 0 };

    // The `[\r\n]*` after a run of `P` (o200k and tekken: `[\r\n/]*`, its `/`s no `P` then).
    let seeds = nl & prev(p);
    let tail = if cased && seeds != 0 {
        fill_up(nl | (byte_mask(block, b'/') & valid), seeds)
    } else {
        fill_up(nl, seeds)
    };
    let p = p & !tail;
    // o200k's contractions: the `'`s that end a word, the letters after them, and where the
    // piece after them starts.
    let (apostrophes, contracted, suffix_ends) = match form {
        Form::O200k => suffixes(block, p & prev(l)),
        _ => (0, 0, 0),
    };
    let p = p & !apostrophes;
    let p_start = p & !prev(p) & !prev(sp);
    // A piece's first `P` and the letters after it (DeepSeek's first alternative; for Qwen,
    // the optional character before a word).
    let p_word = p_start & next(l);
    let region = (blank | nl) & !tail;
    let newline = nl & !tail;
    let mut ws_start = region & !prev(region);
    // Blanks right after a newline start a piece when no newline is after them in the region.
    let after_newline = blank & prev(newline);
    if after_newline != 0 {
        let to_last_newline = fill_up(region.reverse_bits(), newline.reverse_bits()).reverse_bits();
        ws_start |= after_newline & !to_last_newline;
    }
    // The last of two or more blanks ending a region, unless the text ends there.
    ws_start |= blank & prev(blank) & !next(region) & !end;

    let mut letter_start = l & !prev(l) & !prev(blank | o | p_word);
    if cased {
        // An upper-case letter after a lower-case one; ASCII letters differ in case by bit 5.
        let lower = l & bit5_mask(block);
        letter_start = (letter_start | (l & !lower & prev(lower))) & !contracted;
    }
    let unmatched = o & !next(l);
    let unmatched_start = unmatched & !prev(unmatched);
    let numbers = match form {
        // The first digit of a run, then every third.
        Form::DeepSeekNumbers | Form::O200k => {
            let mut numbers = d & !prev(d);
            let mut third = numbers;
            while third != 0 {
                third = (third << 3) & d & prev(d) & prev(prev(d));
                numbers |= third;
            }
            numbers
        }
        // Every digit.
        Form::Qwen | Form::Tekken => d,
        Form::DeepSeek => 0,
    };
    let contractions = match form {
        Form::Qwen => contraction_ends(block, p_word),
        Form::O200k => suffix_ends,
        _ => 0,
    };
    let starts = p_start
        | ws_start
        | letter_start
        | (o & next(l))
        | unmatched_start
        | numbers
        | contractions;
    ((starts | 1) & valid, unmatched_start)
}

/// Where Qwen's contractions end, after each `'` of `p_word` (the pieces' first punctuation
/// before a letter) that starts one: `'s`, `'t`, `'m`, `'d`, `'re`, `'ve`, `'ll`, any case. A
/// contraction's bytes past the block's valid ones are zero or beyond ASCII, so they match
/// none; a contraction cut by the block's end is in its last run, whose pieces are not taken.
#[inline(always)]
fn contraction_ends(block: &[u8; 64], p_word: u64) -> u64 {
    let mut ends = 0u64;
    let mut c = p_word;
    while c != 0 {
        let i = c.trailing_zeros() as usize;
        c &= c - 1;
        let Some(len) = contraction_len(block, i) else {
            continue;
        };
        if i + len < 64 {
            ends |= 1 << (i + len);
        }
    }
    ends
}

/// The length of the contraction at `block[i]`: a `'` then `s`, `t`, `m`, `d`, `re`, `ve` or
/// `ll`, any case (Qwen's and o200k's `(?i:'s|'t|'re|'ve|'m|'ll|'d)`).
#[inline(always)]
fn contraction_len(block: &[u8; 64], i: usize) -> Option<usize> {
    if block[i] != b'\'' {
        return None;
    }
    let lower = |k: usize| block.get(i + k).map_or(0, |&x| x | 0x20);
    match (lower(1), lower(2)) {
        (b's' | b't' | b'm' | b'd', _) => Some(2),
        (b'r' | b'v', b'e') | (b'l', b'l') => Some(3),
        _ => None,
    }
}

/// o200k's contraction suffixes, from the `'`s right after a letter (`candidates`; never bit
/// 0) that is not a contraction's own: those that start a contraction, the letters after them,
/// and where the piece after each starts. A suffix cut by the block's end is in its last run (a
/// word and its `'`s are one run for [`last_run`]), whose pieces are not taken.
#[inline(always)]
fn suffixes(block: &[u8; 64], candidates: u64) -> (u64, u64, u64) {
    let (mut apostrophes, mut letters, mut ends) = (0u64, 0u64, 0u64);
    let mut c = candidates;
    while c != 0 {
        let i = c.trailing_zeros() as usize;
        c &= c - 1;
        // After a contraction's letters, a `'` follows no word: the word had its suffix.
        if letters >> (i - 1) & 1 != 0 {
            continue;
        }
        let Some(len) = contraction_len(block, i) else {
            continue;
        };
        apostrophes |= 1 << i;
        letters |= ((1u64 << (len - 1)) - 1) << (i + 1);
        if i + len < 64 {
            ends |= 1 << (i + len);
        }
    }
    (apostrophes, letters, ends)
}

/// Bit `i` set where `block[i] == byte`: eight bytes at a time (the zero bytes of `word ^
/// byte`s, exactly), the high bit of each gathered by one multiply.
#[inline(always)]
fn byte_mask(block: &[u8; 64], byte: u8) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut mask = 0;
    for (k, w) in block.chunks_exact(8).enumerate() {
        let x =
            u64::from_le_bytes(w.try_into().unwrap()) ^ (u64::from(byte) * 0x0101_0101_0101_0101);
        let zero = !(((x & LOW7) + LOW7) | x) & !LOW7;
        mask |= gather(zero >> 7) << (8 * k);
    }
    mask
}

/// Bit `i` set where bit 5 of `block[i]` is (an ASCII letter's lower case).
#[inline(always)]
fn bit5_mask(block: &[u8; 64]) -> u64 {
    let mut mask = 0;
    for (k, w) in block.chunks_exact(8).enumerate() {
        let x = u64::from_le_bytes(w.try_into().unwrap());
        mask |= gather((x >> 5) & 0x0101_0101_0101_0101) << (8 * k);
    }
    mask
}

/// The low bits of a word's eight bytes (each 0 or 1) as one byte: the multiply puts byte
/// `k`'s bit at bit `56 + k`, with no two terms at one place (no carries).
#[inline(always)]
fn gather(bits: u64) -> u64 {
    bits.wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Where the last run of one class in the block starts (its pieces may go on after it).
#[inline(always)]
fn last_run(m: &Masks, block: &[u8; 64], n: usize, form: Form) -> usize {
    let valid = first_bits(n);
    let ws = m.space | m.blank | m.newline;
    let runs = match form {
        Form::DeepSeekNumbers => [m.letter, m.punct, ws, m.digit, m.other()],
        Form::DeepSeek => [m.letter, m.punct, ws, 0, m.other() | m.digit],
        Form::Qwen | Form::Tekken => [m.letter, m.punct | m.other(), ws, m.digit, 0],
        // A word and the `'`s in it are one run: the contraction a `'` may start ends the word.
        Form::O200k => {
            let apostrophes = byte_mask(block, b'\'') & prev(m.letter);
            let word = m.letter | apostrophes;
            [word, (m.punct | m.other()) & !apostrophes, ws, m.digit, 0]
        }
    }
    .iter()
    .fold(0, |a, &x| a | (x & !prev(x)))
        & valid;
    63 - runs.leading_zeros() as usize
}

/// Calls `f(start, end)` for each piece of `b` from `at` (a piece's start, ASCII) while the
/// text is ASCII, a block at a time; returns where it stopped: a piece's start, or `b.len()`.
/// Stops where a block yields no whole piece (the next piece is longer than what is left of the
/// block, or starts beyond ASCII): the caller takes a piece its own way and may come back.
/// Inlined, so that each caller's `form` is a constant.
#[inline(always)]
pub(super) fn pieces(
    b: &[u8],
    mut at: usize,
    form: Form,
    f: &mut impl FnMut(usize, usize),
) -> usize {
    loop {
        let rest = &b[at..];
        let mut n = rest.len().min(64);
        let block = match rest.first_chunk::<64>() {
            Some(x) => *x,
            None => {
                let mut x = [0u8; 64];
                x[..n].copy_from_slice(rest);
                x
            }
        };
        let m = Masks::of(&block);
        let high = m.high & first_bits(n);
        let at_end = high == 0 && at + n == b.len();
        if high != 0 {
            n = high.trailing_zeros() as usize;
            if n == 0 {
                return at;
            }
        }
        let (starts, unmatched) = starts(&m, &block, n, at_end, form);
        let cut = if at_end {
            n - 1
        } else {
            last_run(&m, &block, n, form)
        };
        let mut s = starts & (u64::MAX >> (63 - cut)) & !1;
        let mut from = 0;
        while s != 0 {
            let i = s.trailing_zeros() as usize;
            if unmatched >> from & 1 == 0 {
                f(at + from, at + i);
            }
            from = i;
            s &= s - 1;
        }
        if at_end {
            if unmatched >> from & 1 == 0 {
                f(at + from, at + n);
            }
            return b.len();
        }
        if from == 0 {
            return at;
        }
        at += from;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The vector classes are the flag table's, for every byte in every lane.
        #[test]
        fn the_vector_classes_are_the_tables(b in proptest::collection::vec(any::<u8>(), 64)) {
            let b: [u8; 64] = b.try_into().unwrap();
            prop_assert_eq!(Masks::of(&b), Masks::of_bytes(&b));
        }
    }

    proptest! {
        /// The word-at-a-time masks are a plain loop's over the bytes.
        #[test]
        fn the_byte_and_case_masks_are_a_loops(b in proptest::collection::vec(any::<u8>(), 64), byte in any::<u8>()) {
            let b: [u8; 64] = b.try_into().unwrap();
            let plain = |f: &dyn Fn(u8) -> bool| (0..64).filter(|&i| f(b[i])).fold(0u64, |m, i| m | 1 << i);
            prop_assert_eq!(byte_mask(&b, byte), plain(&|x| x == byte));
            prop_assert_eq!(byte_mask(&b, b'/'), plain(&|x| x == b'/'));
            prop_assert_eq!(bit5_mask(&b), plain(&|x| x & 0x20 != 0));
        }
    }

    #[test]
    fn every_byte_is_in_the_class_the_table_gives_it() {
        for c in 0..=255u8 {
            let b = [c; 64];
            let m = Masks::of(&b);
            assert_eq!(m, Masks::of_bytes(&b), "byte {c:#x}");
            let classes = [
                m.letter,
                m.punct,
                m.space,
                m.blank,
                m.newline,
                m.digit,
                m.high,
                m.other(),
            ];
            assert_eq!(
                classes.iter().filter(|&&x| x == !0).count(),
                1,
                "byte {c:#x}"
            );
        }
    }

    #[test]
    fn a_run_filled_from_its_seeds_reaches_its_end() {
        assert_eq!(fill_up(0b0111_1110, 0b0000_1000), 0b0111_1000);
        assert_eq!(fill_up(0b0111_1110, 0b0010_1000), 0b0111_1000);
        assert_eq!(fill_up(0b1110_0111, 0b0000_0010), 0b0000_0110);
        assert_eq!(fill_up(u64::MAX, 1 << 63), 1 << 63);
    }
}
