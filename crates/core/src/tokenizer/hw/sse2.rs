//! The classes of 64 ASCII bytes with SSE2 compares, 16 bytes at a time, for the block splits
//! ([`crate::tokenizer::scan_block`]; one of the two files of [`super`], the core's one module
//! with `unsafe` code).
//!
//! Measured against the same masks built eight bytes at a time in safe code (SWAR), over the
//! 11.6 MB of `ascii.txt`: 2.1 ms against 6.9 (docs/tokenizer-profile.md, ninth round); the
//! compiler does not vectorise the byte-at-a-time form (37.5 ms).
//!
//! # Invariants (why the one `unsafe` call is sound)
//! - The only `unsafe` is calling [`masks_sse2`], a safe function marked
//!   `#[target_feature(enable = "sse2")]`: its one precondition is that the processor has
//!   SSE2. This module is compiled only where the build already assumes SSE2 for all code
//!   (`cfg(target_feature = "sse2")`, part of the x86-64 baseline), so the precondition is
//!   what every instruction of the binary already relies on.
//! - The intrinsics inside take no pointer: the bytes are read through a safe slice into two
//!   `i64`s, and a vector is built from them (`_mm_set_epi64x`); nothing is read or written
//!   outside the `[u8; 64]` given.
//!
//! `Masks::of_bytes` (the flag table, a byte at a time) is the reference: a property test
//! compares the two on random blocks, another every byte value in every lane, and the fuzz
//! target `split_blocks` compares the whole split with `fancy-regex`. Miri runs this module's
//! own test, every byte value in every lane against the standard library's byte predicates
//! (`cargo +nightly miri test -p prefix-warden-core --lib sse2`; 2026-12-05, in `hw`: passed, no
//! undefined behaviour reported).

use std::arch::x86_64::{
    __m128i, _mm_and_si128, _mm_andnot_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cmplt_epi8,
    _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
};

use crate::tokenizer::scan_block::Masks;

/// The masks of `b`.
#[inline(always)]
pub(in crate::tokenizer) fn masks(b: &[u8; 64]) -> Masks {
    // SAFETY: the build assumes SSE2 (`cfg(target_feature = "sse2")` on this module's use):
    // see the invariants above.
    unsafe { masks_sse2(b) }
}

#[target_feature(enable = "sse2")]
fn masks_sse2(b: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (k, chunk) in b.chunks_exact(16).enumerate() {
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&chunk[i..i + 8]);
            i64::from_le_bytes(w)
        };
        let v = _mm_set_epi64x(word(8), word(0));
        let splat = |c: u8| _mm_set1_epi8(c as i8);
        // Signed compares: bytes beyond ASCII are negative, below every bound used here.
        let within = |x: __m128i, lo: u8, hi: u8| {
            _mm_and_si128(
                _mm_cmpgt_epi8(x, splat(lo - 1)),
                _mm_cmplt_epi8(x, splat(hi + 1)),
            )
        };
        let eq = |c: u8| _mm_cmpeq_epi8(v, splat(c));
        // Setting bit 5 makes capitals small and moves nothing else into `a..=z`.
        let letter = within(_mm_or_si128(v, splat(0x20)), b'a', b'z');
        let digit = within(v, b'0', b'9');
        let punct = _mm_andnot_si128(_mm_or_si128(letter, digit), within(v, 0x21, 0x7e));
        let newline = _mm_or_si128(eq(b'\n'), eq(b'\r'));
        let blank = _mm_andnot_si128(newline, within(v, 0x09, 0x0d));
        let bits = |x: __m128i| u64::from(_mm_movemask_epi8(x) as u16) << (16 * k);
        m.letter |= bits(letter);
        m.punct |= bits(punct);
        m.space |= bits(eq(b' '));
        m.blank |= bits(blank);
        m.newline |= bits(newline);
        m.digit |= bits(digit);
        m.high |= bits(v);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classes by the standard library's byte predicates, a byte at a time.
    fn by_predicates(b: &[u8; 64]) -> Masks {
        let mut m = Masks::default();
        for (i, &c) in b.iter().enumerate() {
            let bit = 1u64 << i;
            match c {
                0x80.. => m.high |= bit,
                b'\n' | b'\r' => m.newline |= bit,
                b' ' => m.space |= bit,
                0x09 | 0x0b | 0x0c => m.blank |= bit,
                _ if c.is_ascii_alphabetic() => m.letter |= bit,
                _ if c.is_ascii_digit() => m.digit |= bit,
                _ if c.is_ascii_punctuation() => m.punct |= bit,
                _ => {}
            }
        }
        m
    }

    /// Every byte value in every lane, and every value at once in blocks of four shifts,
    /// against the byte predicates, with no table: small enough for Miri, which checks the
    /// one `unsafe` call and the intrinsics under it
    /// (`cargo +nightly miri test -p prefix-warden-core --lib sse2`).
    #[test]
    fn the_vector_classes_are_the_byte_predicates() {
        for c in 0..=255u8 {
            let b = [c; 64];
            assert_eq!(masks(&b), by_predicates(&b), "byte {c:#x}");
        }
        for shift in 0..4u8 {
            let b: [u8; 64] =
                std::array::from_fn(|i| (i as u8).wrapping_mul(4).wrapping_add(shift));
            assert_eq!(masks(&b), by_predicates(&b), "shift {shift}");
        }
    }
}
