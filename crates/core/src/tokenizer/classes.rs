//! The Unicode classes the split patterns distinguish, one byte of flags per character, looked up
//! in two steps (a block of 256 code points, then the character) for the hand-written scanners
//! of [`super::scan`].
//!
//! The table is filled from the `regex-syntax` crate's own ranges for `\p{L}`, `\s` and the
//! others: the classes are those the `regex` and `fancy-regex` engines (and so tiktoken) match,
//! at the same Unicode version, not a second copy of the Unicode database.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

/// `\p{L}`.
pub const LETTER: u8 = 1;
/// `\p{N}`.
pub const NUMBER: u8 = 2;
/// `\p{M}`.
pub const MARK: u8 = 4;
/// `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`: what o200k's words start with.
pub const UPPER: u8 = 8;
/// `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`: what o200k's words continue with.
pub const LOWER: u8 = 16;
/// `\s` (the White_Space property).
pub const SPACE: u8 = 32;
/// `\r` or `\n`.
pub const NEWLINE: u8 = 64;
/// `[\p{P}\p{S}]`: DeepSeek's punctuation.
pub const PUNCT_SYMBOL: u8 = 128;

/// Flags of every character: ASCII directly, the rest by block.
pub struct Classes {
    ascii: [u8; 128],
    /// Code point >> 8 -> index into `blocks`.
    block_of: Vec<u16>,
    /// The distinct blocks of 256 flags.
    blocks: Vec<[u8; 256]>,
    /// Byte -> the flags of every character whose UTF-8 starts with it, together (none for
    /// continuation bytes).
    leads: [u8; 256],
}

const CLASSES: [(u8, &str); 7] = [
    (LETTER, r"\p{L}"),
    (NUMBER, r"\p{N}"),
    (MARK, r"\p{M}"),
    (UPPER, r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]"),
    (LOWER, r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"),
    (SPACE, r"\s"),
    (PUNCT_SYMBOL, r"[\p{P}\p{S}]"),
];

impl Classes {
    /// The table, built once per process (a few milliseconds).
    pub fn get() -> &'static Classes {
        static TABLE: OnceLock<Classes> = OnceLock::new();
        TABLE.get_or_init(Classes::build)
    }

    fn build() -> Classes {
        let mut flat = vec![0u8; 0x11_0000];
        for (flag, class) in CLASSES {
            // Constant patterns of the classes above: parsed the same way on every run, and a
            // unit test parses each of them.
            let hir = regex_syntax::parse(class).unwrap_or_else(|_| regex_syntax::hir::Hir::fail());
            if let HirKind::Class(Class::Unicode(u)) = hir.kind() {
                for r in u.ranges() {
                    for f in &mut flat[r.start() as usize..=r.end() as usize] {
                        *f |= flag;
                    }
                }
            }
        }
        flat[usize::from(b'\r')] |= NEWLINE;
        flat[usize::from(b'\n')] |= NEWLINE;
        let mut ascii = [0u8; 128];
        ascii.copy_from_slice(&flat[..128]);
        let mut leads = [0u8; 256];
        leads[..128].copy_from_slice(&ascii);
        // The code points each first byte of two, three and four bytes starts (those that
        // would be overlong excluded; surrogates included, which only adds flags).
        for (lead, f) in (0u8..=255).zip(leads.iter_mut()).skip(0xc2) {
            let (bits, lo, least) = match lead {
                0xc2..=0xdf => (6, u32::from(lead & 0x1f), 0x80),
                0xe0..=0xef => (12, u32::from(lead & 0x0f), 0x800),
                0xf0..=0xf4 => (18, u32::from(lead & 0x07), 0x1_0000),
                _ => continue,
            };
            let from = (lo << bits).max(least) as usize;
            let to = (((lo + 1) << bits) as usize).min(flat.len());
            *f = flat[from..to].iter().fold(0, |a, &x| a | x);
        }
        let mut index = rustc_hash::FxHashMap::default();
        let mut blocks: Vec<[u8; 256]> = Vec::new();
        let block_of = flat
            .chunks_exact(256)
            .map(|chunk| {
                let mut block = [0u8; 256];
                block.copy_from_slice(chunk);
                *index.entry(block).or_insert_with(|| {
                    blocks.push(block);
                    (blocks.len() - 1) as u16
                })
            })
            .collect();
        Classes {
            ascii,
            block_of,
            blocks,
            leads,
        }
    }

    /// The flags of every character whose UTF-8 starts with byte `b`, together.
    #[inline(always)]
    pub fn of_first_byte(&self, b: u8) -> u8 {
        self.leads[usize::from(b)]
    }

    /// The flags of ASCII byte `c` (< 0x80).
    #[inline(always)]
    pub fn ascii(&self, c: u8) -> u8 {
        self.ascii[usize::from(c & 0x7f)]
    }

    /// The flags of the character at `at` of valid UTF-8 `b` and its length in bytes.
    #[inline(always)]
    pub fn at(&self, b: &[u8], at: usize) -> (u8, usize) {
        let b0 = b[at];
        if b0 < 0x80 {
            return (self.ascii[usize::from(b0)], 1);
        }
        let (c, len) = decode(b, at);
        (self.of_code(c), len)
    }

    /// The flags of code point `c` (below 0x110000).
    #[inline(always)]
    pub fn of_code(&self, c: u32) -> u8 {
        let block = self.block_of[(c >> 8) as usize];
        self.blocks[usize::from(block)][(c & 0xff) as usize]
    }
}

/// The code point at `at` of valid UTF-8 `b` (a character's first byte) and its length.
#[inline(always)]
pub fn decode(b: &[u8], at: usize) -> (u32, usize) {
    let b0 = u32::from(b[at]);
    if b0 < 0x80 {
        (b0, 1)
    } else if b0 < 0xE0 {
        (((b0 & 0x1F) << 6) | (u32::from(b[at + 1]) & 0x3F), 2)
    } else if b0 < 0xF0 {
        (
            ((b0 & 0x0F) << 12)
                | ((u32::from(b[at + 1]) & 0x3F) << 6)
                | (u32::from(b[at + 2]) & 0x3F),
            3,
        )
    } else {
        (
            ((b0 & 0x07) << 18)
                | ((u32::from(b[at + 1]) & 0x3F) << 12)
                | ((u32::from(b[at + 2]) & 0x3F) << 6)
                | (u32::from(b[at + 3]) & 0x3F),
            4,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first byte's flags are exactly those of the characters that start with it, together.
    #[test]
    fn a_first_byte_has_the_flags_of_its_characters() {
        let t = Classes::get();
        let mut want = [0u8; 256];
        let mut buf = [0u8; 4];
        for ch in (0..0x11_0000u32).filter_map(char::from_u32) {
            let s = ch.encode_utf8(&mut buf);
            want[usize::from(s.as_bytes()[0])] |= t.at(s.as_bytes(), 0).0;
        }
        for b in 0..=255u8 {
            // Surrogates are not characters; their first byte (ED) may only gain flags.
            let got = t.of_first_byte(b);
            if b == 0xed {
                assert_eq!(got & want[0xed], want[0xed]);
            } else {
                assert_eq!(got, want[usize::from(b)], "byte {b:02X}");
            }
        }
        assert_eq!(
            t.of_first_byte(0x80),
            0,
            "a continuation byte starts nothing"
        );
        assert_ne!(t.of_first_byte(0xd9) & NUMBER, 0, "Arabic-Indic digits");
        assert_eq!(t.of_first_byte(0xd0) & NUMBER, 0, "Cyrillic has no digit");
    }

    #[test]
    fn every_character_has_the_classes_the_regex_engine_gives_it() {
        let t = Classes::get();
        let regexes: Vec<(u8, regex::Regex)> = CLASSES
            .iter()
            .map(|&(f, c)| (f, regex::Regex::new(&format!("^{c}$")).unwrap()))
            .collect();
        let mut buf = [0u8; 4];
        let mut checked = 0;
        // Every code point is too slow for a debug test; every 7th, plus each block's edges.
        for c in (0..0x11_0000u32).filter(|c| c % 7 == 0 || c % 256 == 0 || c % 256 == 255) {
            let Some(ch) = char::from_u32(c) else {
                continue;
            };
            let s = ch.encode_utf8(&mut buf);
            let (flags, len) = t.at(s.as_bytes(), 0);
            assert_eq!(len, s.len());
            for (f, re) in &regexes {
                assert_eq!(flags & f != 0, re.is_match(s), "U+{c:04X} flag {f}");
            }
            assert_eq!(flags & NEWLINE != 0, ch == '\r' || ch == '\n');
            checked += 1;
        }
        assert!(checked > 150_000, "{checked}");
        assert!(t.blocks.len() < 1024, "{} distinct blocks", t.blocks.len());
    }
}
