//! The Unicode normalization quick check (UAX #15) the NFC and NFKC normalizers of
//! `tokenizer.json` files start with, as `unicode-normalization-alignments`' `is_nfc_quick` and
//! `is_nfkc_quick` compute it, with one shortcut: a character of the Basic Multilingual Plane
//! that is a starter (combining class 0) and allowed in the form (property `Yes`) is looked up
//! in a bit set, where the library runs a hash lookup and a search of ranges for every
//! character beyond ASCII (7% of Qwen3's encode, docs/tokenizer-profile.md). Such a character
//! changes nothing the check keeps (the result stays, the last class becomes 0), so skipping
//! it gives the library's answer; every other character takes the library's steps.

use std::sync::OnceLock;

use unicode_normalization_alignments::char::canonical_combining_class;
use unicode_normalization_alignments::{is_nfc_quick, is_nfkc_quick, IsNormalized};

/// The normalization forms checked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Form {
    Nfc,
    Nfkc,
}

/// BMP code point -> starter allowed in the form, one bit each (8 KiB).
struct Starters([u64; 1024]);

impl Form {
    /// The library's quick check of one character alone: its `Quick_Check` property.
    fn property(self, ch: char) -> IsNormalized {
        match self {
            Form::Nfc => is_nfc_quick(std::iter::once(ch)),
            Form::Nfkc => is_nfkc_quick(std::iter::once(ch)),
        }
    }

    /// The bit set, built once per process and form (65,536 characters through the library:
    /// about a millisecond).
    fn starters(self) -> &'static Starters {
        static NFC: OnceLock<Starters> = OnceLock::new();
        static NFKC: OnceLock<Starters> = OnceLock::new();
        let cell = match self {
            Form::Nfc => &NFC,
            Form::Nfkc => &NFKC,
        };
        cell.get_or_init(|| {
            let mut bits = [0u64; 1024];
            for ch in (0..0x1_0000u32).filter_map(char::from_u32) {
                if canonical_combining_class(ch) == 0 && self.property(ch) == IsNormalized::Yes {
                    bits[(ch as usize) >> 6] |= 1 << (ch as u32 & 63);
                }
            }
            Starters(bits)
        })
    }

    /// Builds the bit set now (at load) rather than on the first check.
    pub fn prepare(self) {
        self.starters();
    }

    /// The quick check of `s`: `Yes`, `No` or `Maybe`, as the library's. ASCII is all
    /// starters allowed in both forms, so eight bytes of it at a time are skipped whole.
    pub fn quick_check(self, s: &str) -> IsNormalized {
        let starters = &self.starters().0;
        let mut last_cc = 0u8;
        let mut result = IsNormalized::Yes;
        let mut rest = s;
        while !rest.is_empty() {
            let ascii = ascii_prefix(rest.as_bytes());
            if ascii > 0 {
                last_cc = 0;
                rest = &rest[ascii..];
            }
            let mut chars = rest.chars();
            let Some(ch) = chars.next() else { break };
            rest = chars.as_str();
            let c = ch as usize;
            if c < 0x80 || (c < 0x1_0000 && starters[c >> 6] >> (c & 63) & 1 == 1) {
                last_cc = 0;
                continue;
            }
            let cc = canonical_combining_class(ch);
            if last_cc > cc && cc != 0 {
                return IsNormalized::No;
            }
            match self.property(ch) {
                IsNormalized::Yes => {}
                IsNormalized::No => return IsNormalized::No,
                IsNormalized::Maybe => result = IsNormalized::Maybe,
            }
            last_cc = cc;
        }
        result
    }
}

/// How many bytes `b` starts with that are ASCII, counted eight at a time: a multiple of eight,
/// or all of `b` (the character after it, if any, is looked at alone).
#[inline(always)]
fn ascii_prefix(b: &[u8]) -> usize {
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut n = 0;
    while let Some(w) = b.get(n..).and_then(|r| r.first_chunk::<8>()) {
        if u64::from_le_bytes(*w) & HI != 0 {
            return n;
        }
        n += 8;
    }
    if b[n..].is_ascii() {
        b.len()
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn library(form: Form, s: &str) -> IsNormalized {
        match form {
            Form::Nfc => is_nfc_quick(s.chars()),
            Form::Nfkc => is_nfkc_quick(s.chars()),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        /// The same answer as the library on text mixing starters, combining marks in and out
        /// of canonical order, characters that are `No` or `Maybe` in one form only, Hangul
        /// and characters beyond the BMP.
        #[test]
        fn answers_as_the_library(chars in proptest::collection::vec(proptest::sample::select(vec![
            'a', ' ', 'é', 'e', '\u{301}', '\u{316}', '\u{327}', '\u{308}', '\u{340}', 'ﬁ', '①',
            'ｆ', '\u{a0}', '\u{3000}', '가', '\u{1100}', '\u{1161}', '\u{11a8}', '中', 'Å',
            '\u{212b}', '\u{30a}', '\u{3099}', 'か', 'ド', '\u{ff9e}', '\u{1d15e}', '🦀',
            '\u{1f1e6}', 'ǅ', '\u{0958}', 'क', '\u{93c}', '\u{fb2c}', '\u{2126}', 'Ω',
        ]), 0..24)) {
            let s: String = chars.into_iter().collect();
            for form in [Form::Nfc, Form::Nfkc] {
                prop_assert_eq!(form.quick_check(&s), library(form, &s), "{:?} {:?}", form, s);
            }
        }
    }

    /// Every BMP character alone, and after a combining mark of a high class, answers as
    /// the library (the bit set has no character it should not).
    #[test]
    fn every_bmp_character_answers_as_the_library() {
        let mut buf = String::new();
        for ch in (0x80..0x1_0000u32).filter_map(char::from_u32) {
            for form in [Form::Nfc, Form::Nfkc] {
                buf.clear();
                buf.push(ch);
                assert_eq!(
                    form.quick_check(&buf),
                    library(form, &buf),
                    "{form:?} U+{:04X}",
                    ch as u32
                );
                buf.insert(0, '\u{316}');
                assert_eq!(
                    form.quick_check(&buf),
                    library(form, &buf),
                    "{form:?} after a mark U+{:04X}",
                    ch as u32
                );
            }
        }
    }
}
