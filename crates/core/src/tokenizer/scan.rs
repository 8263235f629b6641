//! Hand-written scanners for the split patterns of cl100k, o200k, Qwen, tekken, DeepSeek and
//! GPT-2: the same pieces as the pattern on a backtracking engine, without running an automaton.
//!
//! Each pattern is an alternation tried in order at the end of the previous piece; each
//! alternative is a few character classes with quantifiers, so its backtracking can be worked
//! out by hand (written at each function below). A [`Spec`] names the variants the patterns
//! differ in. The pattern text each spec stands for is in [`super::pretok`]'s table, and the
//! tests there check every scanner against `fancy-regex` on random and real text.
//!
//! The split was 59% of the rank-file engine's instructions on the regex automata
//! (docs/tokenizer-profile.md); these scanners are what replaced them.

use super::classes::{self, Classes, LETTER, LOWER, NEWLINE, NUMBER, SPACE, UPPER};
use super::scan_block::{self, Form};

/// The variants the known patterns differ in.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// `'s|'t|'re|'ve|'m|'ll|'d` as the first alternative (cl100k, Qwen, GPT-2); `Some(true)`:
    /// case-insensitive.
    pub contractions_first: Option<bool>,
    /// DeepSeek's first alternative: ``[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+``.
    pub ascii_punct_word: bool,
    pub word: Word,
    pub digits: Digits,
    /// ` ?P+` then `punct_tail`, where `P` is the characters whose flags, masked by
    /// `punct.0`, equal `punct.1`: `[^\s\p{L}\p{N}]` for most, `[^\s\p{L}\p{M}\p{N}]` for
    /// Qwen 3.5, `[\p{P}\p{S}]` for DeepSeek.
    pub punct: (u8, u8),
    pub punct_tail: Tail,
    pub space: Space,
    /// The pattern's form for splitting ASCII a block at a time ([`super::scan_block`]), if it
    /// has one (DeepSeek's and Qwen's).
    pub blocks: Option<Form>,
}

/// How a word is matched.
#[derive(Clone, Copy, Debug)]
pub enum Word {
    /// o200k and tekken: `P?[UPPER]*[LOWER]+C?|P?[UPPER]+[LOWER]*C?` where `P` is
    /// `[^\r\n\p{L}\p{N}]` and `C` the case-insensitive contractions when `suffix`.
    Cased { suffix: bool },
    /// `[^\r\n\p{L}\p{N}]?\p{L}+` (cl100k, Qwen 2); with `marks`, `[\p{L}\p{M}]+` (Qwen 3.5).
    /// The optional character is any whose flags have none of `prefix_excludes` (DeepSeek:
    /// `[^\r\n\p{L}\p{P}\p{S}]`).
    Letters { marks: bool, prefix_excludes: u8 },
    /// GPT-2: ` ?\p{L}+`.
    SpaceLetters,
}

/// How numbers are matched.
#[derive(Clone, Copy, Debug)]
pub enum Digits {
    /// `\p{N}{1,n}`.
    UpTo(usize),
    /// GPT-2: ` ?\p{N}+`.
    SpaceRun,
    /// No number alternative (DeepSeek splits numbers off first).
    None,
}

/// What follows a run of punctuation.
#[derive(Clone, Copy, Debug)]
pub enum Tail {
    None,
    /// `[\r\n]*`
    Newlines,
    /// `[\r\n/]*`
    NewlinesSlash,
}

/// The whitespace alternatives.
#[derive(Clone, Copy, Debug)]
pub enum Space {
    /// cl100k: `\s++$|\s*[\r\n]|\s+(?!\S)|\s`.
    Cl100k,
    /// `\s*[\r\n]+|\s+(?!\S)|\s+` (`newlines`), or GPT-2's `\s+(?!\S)|\s+`.
    Runs { newlines: bool },
}

/// A scanner for one [`Spec`].
pub struct Scanner {
    spec: Spec,
    classes: &'static Classes,
}

/// The flags of `[^\r\n\p{L}\p{N}]`, the optional character before a word, does not have.
pub const BEFORE_WORD_EXCLUDES: u8 = LETTER | NUMBER | NEWLINE;

/// `[^\r\n\p{L}\p{N}]`.
#[inline(always)]
fn before_word(f: u8) -> bool {
    f & BEFORE_WORD_EXCLUDES == 0
}

impl Scanner {
    pub fn new(spec: Spec) -> Self {
        Self {
            spec,
            classes: Classes::get(),
        }
    }

    /// Calls `f(start, end)` for each piece of `text`, in order.
    pub fn pieces(&self, text: &str, mut f: impl FnMut(usize, usize)) {
        let b = text.as_bytes();
        let mut at = 0;
        while at < b.len() {
            // DeepSeek's, Qwen's, o200k's and tekken's patterns split ASCII a block at a time
            // ([`super::scan_block`]); each form its own call, so that it is a constant there.
            if let Some(form) = self.spec.blocks {
                if ascii_ahead(b, at) {
                    at = match form {
                        Form::Qwen => scan_block::pieces(b, at, Form::Qwen, &mut f),
                        Form::O200k => scan_block::pieces(b, at, Form::O200k, &mut f),
                        Form::Tekken => scan_block::pieces(b, at, Form::Tekken, &mut f),
                        Form::DeepSeek => scan_block::pieces(b, at, Form::DeepSeek, &mut f),
                        Form::DeepSeekNumbers => {
                            scan_block::pieces(b, at, Form::DeepSeekNumbers, &mut f)
                        }
                    };
                    if at == b.len() {
                        break;
                    }
                }
            }
            at = self.piece(b, at, &mut f);
        }
    }

    /// Calls `f` for the piece at `at` (< `b.len()`), if one starts there, and returns where
    /// the next is looked for.
    #[inline(always)]
    pub(super) fn piece(&self, b: &[u8], at: usize, f: &mut impl FnMut(usize, usize)) -> usize {
        match self.piece_at(b, at) {
            Some(end) => {
                f(at, end);
                end
            }
            // No alternative matches here (only DeepSeek's pattern leaves a character
            // unmatched): step over it, as a regex search would; the caller sees the gap.
            None => at + self.classes.at(b, at).1,
        }
    }

    /// The end of the piece starting at `at` (< `b.len()`), or `None` when nothing matches.
    #[inline(always)]
    fn piece_at(&self, b: &[u8], at: usize) -> Option<usize> {
        let s = &self.spec;
        if let Some(fold) = s.contractions_first {
            if b[at] == b'\'' {
                if let Some(end) = self.contraction(b, at, fold) {
                    return Some(end);
                }
            }
        }
        if s.ascii_punct_word
            && b[at].is_ascii_punctuation()
            && b.get(at + 1).is_some_and(u8::is_ascii_alphabetic)
        {
            return Some(AsciiClass::Letter.run(b, at + 1));
        }
        let (f0, l0) = self.classes.at(b, at);
        if let Some(end) = self.ascii_piece(b, at, f0) {
            return Some(end);
        }
        // Each alternative starts with a character of its own class, so the first character
        // rules most of them out; they are still tried in the pattern's order.
        let word = match s.word {
            Word::Cased { suffix } => self.cased(b, at, f0, l0, suffix),
            Word::Letters {
                marks,
                prefix_excludes,
            } => self.letters(b, at, f0, l0, marks, prefix_excludes),
            Word::SpaceLetters => self.space_then(b, at, f0, l0, |f| f & LETTER != 0, usize::MAX),
        };
        if word.is_some() {
            return word;
        }
        let digits = match s.digits {
            Digits::UpTo(n) if f0 & NUMBER != 0 => Some(self.run(b, at, |f| f & NUMBER != 0, n)),
            Digits::UpTo(_) | Digits::None => None,
            Digits::SpaceRun => self.space_then(b, at, f0, l0, |f| f & NUMBER != 0, usize::MAX),
        };
        if digits.is_some() {
            return digits;
        }
        if let Some(end) = self.punct(b, at, f0, l0) {
            return Some(end);
        }
        if f0 & SPACE != 0 {
            return Some(self.space(b, at));
        }
        None
    }

    /// The piece at `at` when it is a word or a number of ASCII characters whose end is an
    /// ASCII character that cannot extend it: most pieces of most text, found with byte
    /// comparisons instead of a class lookup per character. `None` when that is not known (a
    /// character beyond ASCII, an o200k contraction next, any other alternative): the general
    /// path then decides, from the start, so this only ever agrees with it.
    #[inline(always)]
    fn ascii_piece(&self, b: &[u8], at: usize, f0: u8) -> Option<usize> {
        let b0 = b[at];
        if b0 >= 0x80 {
            return None;
        }
        // The flags a character before a word must not have; the contraction that may follow.
        let (excludes, suffix) = match self.spec.word {
            Word::Cased { suffix } => (BEFORE_WORD_EXCLUDES, suffix),
            Word::Letters {
                prefix_excludes, ..
            } => (prefix_excludes, false),
            Word::SpaceLetters => return None,
        };
        let p = if b0.is_ascii_alphabetic() {
            at
        } else if f0 & excludes == 0 && b.get(at + 1).is_some_and(u8::is_ascii_alphabetic) {
            at + 1
        } else if let (Digits::UpTo(n), true) = (self.spec.digits, b0.is_ascii_digit()) {
            // No word starts at a digit (it cannot be the character before one here), so the
            // number alternative is next: up to `n` digits.
            if excludes & NUMBER == 0 {
                return None;
            }
            let end = at
                + b[at..]
                    .iter()
                    .take(n)
                    .take_while(|c| c.is_ascii_digit())
                    .count();
            return match b.get(end) {
                Some(&c) if c >= 0x80 && end - at < n => None,
                _ => Some(end),
            };
        } else {
            return self.ascii_punct_or_space(b, at, f0);
        };
        let end = match self.spec.word {
            // `[UPPER]*[LOWER]+` or `[UPPER]+[LOWER]*` (see `cased`): on ASCII letters, the
            // upper-case run then the lower-case run.
            Word::Cased { .. } => AsciiClass::Lower.run(b, AsciiClass::Upper.run(b, p)),
            _ => AsciiClass::Letter.run(b, p),
        };
        match b.get(end) {
            Some(&c) if c >= 0x80 || (suffix && c == b'\'') => None,
            _ => Some(end),
        }
    }

    /// The piece at `at` (an ASCII character that starts no word and no number: the word and
    /// number alternatives have failed) when it is a run of punctuation or whitespace whose
    /// end is an ASCII character: the `punct` and `space` alternatives on bytes, in the
    /// pattern's order. `None` when a character beyond ASCII is next to the run (it could
    /// extend it) or nothing here matches: the general path decides.
    #[inline(always)]
    fn ascii_punct_or_space(&self, b: &[u8], at: usize, f0: u8) -> Option<usize> {
        let ascii = |i: usize| b.get(i).map(|&c| (c < 0x80).then(|| self.classes.ascii(c)));
        let (mask, want) = self.spec.punct;
        let punct = |f: u8| f & mask == want;
        // ` ?P+`: the space first, then without it.
        let start = match ascii(at + 1) {
            _ if b[at] != b' ' => at,
            Some(None) => return None,
            Some(Some(f)) if punct(f) => at + 1,
            _ => at,
        };
        if punct(f0) || start > at {
            let mut end = start;
            while let Some(Some(f)) = ascii(end) {
                if !punct(f) {
                    break;
                }
                end += 1;
            }
            if end < b.len() && b[end] >= 0x80 {
                return None;
            }
            let tail = |c: &u8| match self.spec.punct_tail {
                Tail::None => false,
                Tail::Newlines => *c == b'\r' || *c == b'\n',
                Tail::NewlinesSlash => *c == b'\r' || *c == b'\n' || *c == b'/',
            };
            return Some(end + b[end..].iter().take_while(|c| tail(c)).count());
        }
        if f0 & SPACE == 0 {
            return None;
        }
        let mut end = at;
        while let Some(Some(f)) = ascii(end) {
            if f & SPACE == 0 {
                break;
            }
            end += 1;
        }
        if end < b.len() && b[end] >= 0x80 {
            return None;
        }
        // What `space` does with the run: every character is one byte.
        let (end_first, newlines) = match self.spec.space {
            Space::Cl100k => (true, true),
            Space::Runs { newlines } => (false, newlines),
        };
        if end == b.len() && end_first {
            return Some(end);
        }
        if newlines {
            if let Some(k) = b[at..end].iter().rposition(|&c| c == b'\r' || c == b'\n') {
                return Some(at + k + 1);
            }
        }
        Some(if end == b.len() || end - at == 1 {
            end
        } else {
            end - 1
        })
    }

    /// `'` then s, t, re, ve, m, ll or d, case-insensitive when `fold`.
    fn contraction(&self, b: &[u8], at: usize, fold: bool) -> Option<usize> {
        let letter = |i: usize| -> Option<(u8, usize)> {
            if i >= b.len() {
                return None;
            }
            let (c, len) = classes::decode(b, i);
            match c {
                0x41..=0x5A if fold => Some((c as u8 + 32, len)),
                0x61..=0x7A => Some((c as u8, len)),
                // U+017F LATIN SMALL LETTER LONG S folds to `s`.
                0x17F if fold => Some((b's', len)),
                _ => None,
            }
        };
        let (c1, l1) = letter(at + 1)?;
        let second = |want: u8| match letter(at + 1 + l1) {
            Some((c, l)) if c == want => Some(at + 1 + l1 + l),
            _ => None,
        };
        match c1 {
            b's' | b't' | b'm' | b'd' => Some(at + 1 + l1),
            b'r' | b'v' => second(b'e'),
            b'l' => second(b'l'),
            _ => None,
        }
    }

    /// The end of the longest run from `at` of at most `max` characters whose flags pass `keep`.
    #[inline(always)]
    fn run(&self, b: &[u8], mut at: usize, keep: impl Fn(u8) -> bool, max: usize) -> usize {
        let mut n = 0;
        while at < b.len() && n < max {
            let (f, len) = self.classes.at(b, at);
            if !keep(f) {
                break;
            }
            at += len;
            n += 1;
        }
        at
    }

    /// ` ?X+`: a space then a run of `X`, else a run of `X` from `at`.
    #[inline(always)]
    fn space_then(
        &self,
        b: &[u8],
        at: usize,
        f0: u8,
        l0: usize,
        class: impl Fn(u8) -> bool + Copy,
        max: usize,
    ) -> Option<usize> {
        if b[at] == b' ' && at + 1 < b.len() && class(self.classes.at(b, at + 1).0) {
            return Some(self.run(b, at + l0, class, max));
        }
        class(f0).then(|| self.run(b, at, class, max))
    }

    /// `[^\r\n\p{L}\p{N}]?X+` with `X` = `\p{L}` or `[\p{L}\p{M}]`: greedy `?` first; without
    /// the optional character, the run must start at `at`.
    fn letters(
        &self,
        b: &[u8],
        at: usize,
        f0: u8,
        l0: usize,
        marks: bool,
        prefix_excludes: u8,
    ) -> Option<usize> {
        let class = if marks {
            LETTER | classes::MARK
        } else {
            LETTER
        };
        let x = |f: u8| f & class != 0;
        if f0 & prefix_excludes == 0 && at + l0 < b.len() && x(self.classes.at(b, at + l0).0) {
            return Some(self.run(b, at + l0, x, usize::MAX));
        }
        x(f0).then(|| self.run(b, at, x, usize::MAX))
    }

    /// o200k's two word alternatives, each with and then without the optional leading
    /// character, then the optional contraction.
    fn cased(&self, b: &[u8], at: usize, f0: u8, l0: usize, suffix: bool) -> Option<usize> {
        let starts = [before_word(f0).then_some(at + l0), Some(at)];
        let end = starts
            .iter()
            .flatten()
            .find_map(|&p| self.upper_then_lower(b, p))
            .or_else(|| {
                starts
                    .iter()
                    .flatten()
                    .find_map(|&p| self.upper_run_then_lower(b, p))
            })?;
        if suffix && end < b.len() && b[end] == b'\'' {
            if let Some(e) = self.contraction(b, end, true) {
                return Some(e);
            }
        }
        Some(end)
    }

    /// `[UPPER]*[LOWER]+` from `p`. The greedy `*` takes the whole UPPER run, then gives back
    /// one character at a time until a LOWER character follows: the `+` starts at the last
    /// position, among the run's characters and the one after it, holding a LOWER character,
    /// and takes every LOWER character from there.
    fn upper_then_lower(&self, b: &[u8], p: usize) -> Option<usize> {
        let mut i = p;
        let mut last_lower = None;
        while i < b.len() {
            let (f, len) = self.classes.at(b, i);
            if f & LOWER != 0 {
                last_lower = Some(i);
            }
            if f & UPPER == 0 {
                break;
            }
            i += len;
        }
        Some(self.run(b, last_lower?, |f| f & LOWER != 0, usize::MAX))
    }

    /// `[UPPER]+[LOWER]*` from `p`: both greedy, nothing to give back.
    fn upper_run_then_lower(&self, b: &[u8], p: usize) -> Option<usize> {
        if p >= b.len() {
            return None;
        }
        let end = self.run(b, p, |f| f & UPPER != 0, usize::MAX);
        (end > p).then(|| self.run(b, end, |f| f & LOWER != 0, usize::MAX))
    }

    /// ` ?P+` and its tail. The optional space is tried first; without it the run must start
    /// at `at` (a space is never in the run).
    fn punct(&self, b: &[u8], at: usize, f0: u8, l0: usize) -> Option<usize> {
        let (mask, want) = self.spec.punct;
        let end = self.space_then(b, at, f0, l0, |f| f & mask == want, usize::MAX)?;
        Some(match self.spec.punct_tail {
            Tail::None => end,
            Tail::Newlines => {
                end + b[end..]
                    .iter()
                    .take_while(|&&c| c == b'\r' || c == b'\n')
                    .count()
            }
            Tail::NewlinesSlash => {
                end + b[end..]
                    .iter()
                    .take_while(|&&c| c == b'\r' || c == b'\n' || c == b'/')
                    .count()
            }
        })
    }

    /// The whitespace alternatives at `at` (a whitespace character), with the run of
    /// whitespace from `at`: its end, the position after its last `\r` or `\n`, and where its
    /// last character starts.
    ///
    /// - `\s*[\r\n]` and `\s*[\r\n]+`: the `*` takes the run and gives back characters until a
    ///   newline follows: the piece ends after the run's last newline (the `+` cannot go
    ///   further: what follows it in the run is not a newline).
    /// - `\s+(?!\S)`: the whole run at the end of the text, else the run without its last
    ///   character when that leaves one, else nothing (then `\s` or `\s+`: the single
    ///   character).
    /// - cl100k's `\s++$` comes first: the whole run when it reaches the end of the text.
    fn space(&self, b: &[u8], at: usize) -> usize {
        let mut i = at;
        let mut after_newline = None;
        let mut last = at;
        while i < b.len() {
            let (f, len) = self.classes.at(b, i);
            if f & SPACE == 0 {
                break;
            }
            if f & NEWLINE != 0 {
                after_newline = Some(i + len);
            }
            last = i;
            i += len;
        }
        let run_end = i;
        let (end_first, newlines) = match self.spec.space {
            Space::Cl100k => (true, true),
            Space::Runs { newlines } => (false, newlines),
        };
        if end_first && run_end == b.len() {
            return run_end;
        }
        if newlines {
            if let Some(e) = after_newline {
                return e;
            }
        }
        if run_end == b.len() || last == at {
            run_end
        } else {
            last
        }
    }
}

/// The SWAR masks: every byte's high bit, every byte's low bit.
const HI: u64 = 0x8080_8080_8080_8080;
const LO: u64 = 0x0101_0101_0101_0101;

/// Whether the next eight bytes from `at` (< `b.len()`), or all that are left, are ASCII.
#[inline(always)]
pub(super) fn ascii_ahead(b: &[u8], at: usize) -> bool {
    match b.get(at..at + 8).and_then(|s| s.first_chunk::<8>()) {
        Some(w) => u64::from_le_bytes(*w) & HI == 0,
        None => b[at..].is_ascii(),
    }
}

/// The high bit of each byte of `w` that is an ASCII digit.
#[inline(always)]
fn ascii_digits(w: u64) -> u64 {
    // On the low seven bits of each byte, so that no subtraction borrows across bytes.
    let v = w & !HI;
    (v | HI).wrapping_sub(LO * u64::from(b'0'))
        & (LO * (0x80 + u64::from(b'9'))).wrapping_sub(v)
        & HI
        & !w
}

/// The high bit of each byte of `w` in `lo..=hi` (ASCII, `lo` > 0).
#[inline(always)]
fn ascii_in(w: u64, lo: u8, hi: u8) -> u64 {
    // On the low seven bits of each byte: no sum carries into the next byte.
    let v = w & !HI;
    let at_least_lo = v + LO * u64::from(0x80 - lo);
    let above_hi = v + LO * u64::from(0x7f - hi);
    at_least_lo & !above_hi & !w & HI
}

/// ASCII letters, capitals and small letters, eight bytes at a time and one at a time.
#[derive(Clone, Copy)]
pub(super) enum AsciiClass {
    Letter,
    Upper,
    Lower,
}

impl AsciiClass {
    #[inline(always)]
    fn of_word(self, w: u64) -> u64 {
        match self {
            // Setting bit 5 makes capitals small and moves nothing else into `a..=z`.
            Self::Letter => ascii_in(w | (LO * 0x20), b'a', b'z'),
            Self::Upper => ascii_in(w, b'A', b'Z'),
            Self::Lower => ascii_in(w, b'a', b'z'),
        }
    }

    #[inline(always)]
    fn has(self, c: u8) -> bool {
        match self {
            Self::Letter => c.is_ascii_alphabetic(),
            Self::Upper => c.is_ascii_uppercase(),
            Self::Lower => c.is_ascii_lowercase(),
        }
    }

    /// The end of the run of this class from `at`: eight bytes at a time, so that a word
    /// shorter than eight ends without a branch per letter (one to mispredict at its end).
    #[inline(always)]
    pub(super) fn run(self, b: &[u8], mut at: usize) -> usize {
        while let Some(w) = b.get(at..at + 8).and_then(|s| s.first_chunk::<8>()) {
            let n = (!self.of_word(u64::from_le_bytes(*w)) & HI).trailing_zeros() as usize / 8;
            at += n;
            if n < 8 {
                return at;
            }
        }
        at + b[at..].iter().take_while(|&&c| self.has(c)).count()
    }
}

/// Where the first byte from `at` (a character's first byte) that `starts` has is: the bytes
/// skipped are ASCII, continuation bytes and first bytes `starts` does not have, so it is a
/// character's first byte too. ASCII goes eight bytes at a time while they hold nothing beyond
/// ASCII and no digit (`digits`: `starts` has them); other text a byte at a time, up to the
/// next ASCII byte.
#[inline(always)]
fn skip(b: &[u8], mut at: usize, digits: bool, starts: &[bool; 256]) -> Option<usize> {
    loop {
        while let Some(w) = b.get(at..at + 8).and_then(|s| s.first_chunk::<8>()) {
            let w = u64::from_le_bytes(*w);
            let stop = (w & HI) | if digits { ascii_digits(w) } else { 0 };
            if stop != 0 {
                at += (stop.trailing_zeros() / 8) as usize;
                break;
            }
            at += 8;
        }
        let &x = b.get(at)?;
        if starts[usize::from(x)] {
            return Some(at);
        }
        at += 1;
        while let Some(&x) = b.get(at) {
            if x < 0x80 {
                break;
            }
            if starts[usize::from(x)] {
                return Some(at);
            }
            at += 1;
        }
    }
}

/// The first bytes of U+3000 to U+9FFF, where every character of DeepSeek's CJK run is: a byte
/// that is never the inside of a character.
const CJK_FIRST_BYTES: std::ops::RangeInclusive<u8> = 0xE3..=0xE9;

/// The two patterns without alternatives that DeepSeek splits with first: `\p{N}{1,3}` and a
/// run of CJK ideographs and kana, `[\u{4e00}-\u{9fa5}\u{3040}-\u{309f}\u{30a0}-\u{30ff}]+`,
/// and both at once.
#[derive(Clone, Copy, Debug)]
pub enum Run {
    Numbers,
    Cjk,
    /// The matches of both: what splitting by `Numbers` then each piece by `Cjk` gives, in one
    /// pass. No number is in the CJK ranges, so neither split can cut into a match of the other.
    NumbersAndCjk,
}

impl Run {
    /// Which bytes can be the first of a match: the first bytes of characters with `\p{N}`
    /// ([`Classes::of_first_byte`]), and of the CJK ranges.
    fn first_bytes(numbers: bool, cjks: bool, classes: &Classes) -> [bool; 256] {
        let mut t = [false; 256];
        for (b, start) in (0u8..=255).zip(t.iter_mut()) {
            *start = (numbers && classes.of_first_byte(b) & NUMBER != 0)
                || (cjks && CJK_FIRST_BYTES.contains(&b));
        }
        t
    }
}

/// A [`Run`] with the table of the bytes its matches can start with.
pub struct Finder {
    numbers: bool,
    cjks: bool,
    starts: [bool; 256],
    classes: &'static Classes,
}

impl Finder {
    pub fn new(run: Run) -> Self {
        let (numbers, cjks) = match run {
            Run::Numbers => (true, false),
            Run::Cjk => (false, true),
            Run::NumbersAndCjk => (true, true),
        };
        let classes = Classes::get();
        Self {
            numbers,
            cjks,
            starts: Run::first_bytes(numbers, cjks, classes),
            classes,
        }
    }

    /// Calls `f(start, end)` for each match, in order (the text between them is not a match).
    pub fn pieces(&self, text: &str, mut f: impl FnMut(usize, usize)) {
        let b = text.as_bytes();
        let mut at = 0;
        while let Some(p) = self.next(b, at) {
            at = self.matches_at(b, p, &mut f);
        }
    }

    /// The length of the character at `at` when it is a number.
    #[inline(always)]
    fn number(&self, b: &[u8], at: usize) -> Option<usize> {
        let (flags, len) = self.classes.at(b, at);
        (flags & NUMBER != 0).then_some(len)
    }

    #[inline(always)]
    fn cjk(&self, b: &[u8], at: usize) -> bool {
        CJK_FIRST_BYTES.contains(&b[at])
            && matches!(
                classes::decode(b, at).0,
                0x4e00..=0x9fa5 | 0x3040..=0x309f | 0x30a0..=0x30ff
            )
    }

    /// The end of the run of CJK from `at`, when there is one.
    #[inline(always)]
    pub fn cjk_run(&self, b: &[u8], mut at: usize) -> Option<usize> {
        if !self.cjks || !self.cjk(b, at) {
            return None;
        }
        // Every character of the run is three bytes long.
        while at < b.len() && self.cjk(b, at) {
            at += 3;
        }
        Some(at)
    }

    /// Where the next match starts, from `at` (a character's first byte) on.
    ///
    /// Most of the text cannot start a match, and is skipped without decoding ([`skip`]): ASCII
    /// other than a digit eight bytes at a time, then every byte that is not the first byte
    /// of a character a match can start with ([`Run::first_bytes`]).
    #[inline(always)]
    pub fn next(&self, b: &[u8], mut at: usize) -> Option<usize> {
        loop {
            at = skip(b, at, self.numbers, &self.starts)?;
            if (self.cjks && self.cjk(b, at)) || (self.numbers && self.number(b, at).is_some()) {
                return Some(at);
            }
            at += if self.numbers {
                self.classes.at(b, at).1
            } else {
                1
            };
        }
    }

    /// Calls `f` for the matches from `at` (where [`Finder::next`] found one): a run of CJK,
    /// or a run of numbers in matches of up to three. Returns the end of the last.
    #[inline(always)]
    pub fn matches_at(&self, b: &[u8], mut at: usize, f: &mut impl FnMut(usize, usize)) -> usize {
        if let Some(end) = self.cjk_run(b, at) {
            f(at, end);
            return end;
        }
        let (mut start, mut n) = (at, 0);
        while let Some(len) = b.get(at).and_then(|_| self.number(b, at)) {
            if n == 3 {
                f(start, at);
                (start, n) = (at, 0);
            }
            n += 1;
            at += len;
        }
        f(start, at);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Eight bytes at a time, a class's run ends where the byte-by-byte test ends it, on any
        /// bytes (the neighbours of the letter ranges and their high-bit twins included).
        #[test]
        fn runs_end_where_bytes_end_them(
            b in proptest::collection::vec(prop_oneof![
                b'a'..=b'z', b'A'..=b'Z',
                proptest::sample::select(vec![b'@', b'[', b'`', b'{', 0x40 | 0x80, 0xc1, 0xda, 0xe1, 0xfa, 0xfb, 0, 0x7f]),
                any::<u8>(),
            ], 0..40),
            at in 0usize..40,
        ) {
            let at = at.min(b.len());
            for class in [AsciiClass::Letter, AsciiClass::Upper, AsciiClass::Lower] {
                let want = at + b[at..].iter().take_while(|&&c| class.has(c)).count();
                prop_assert_eq!(class.run(&b, at), want);
            }
        }
    }

    #[test]
    fn every_byte_is_in_the_classes_the_standard_library_puts_it_in() {
        for c in 0..=255u8 {
            let w = u64::from_le_bytes([c; 8]);
            for (class, has) in [
                (AsciiClass::Letter, c.is_ascii_alphabetic()),
                (AsciiClass::Upper, c.is_ascii_uppercase()),
                (AsciiClass::Lower, c.is_ascii_lowercase()),
            ] {
                assert_eq!(class.of_word(w) == HI, has, "byte {c:#x}");
                assert_eq!(class.of_word(w) == 0, !has, "byte {c:#x}");
            }
        }
    }
}
