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
    /// The table, built once per process (about a millisecond).
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
        }
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
