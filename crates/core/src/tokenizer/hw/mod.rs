//! What the processor and the kernel offer beyond safe Rust, for the tokenizers' hot paths: the
//! core's one module with `unsafe` code (the rest of the crate is `#![deny(unsafe_code)]`, and
//! this module's allowance covers these two files and nothing else).
//!
//! - [`huge`]: 2 MiB pages for the large tables read at random (`madvise(MADV_HUGEPAGE)`, one
//!   call); checked by the fuzz target `huge_pages` under AddressSanitizer (`scripts/fuzz.sh`).
//! - [`sse2`] (x86-64): the byte classes of 64 ASCII bytes with SSE2 compares for the block
//!   splits (one call of a `#[target_feature]` function); checked by Miri over its own test, a
//!   property test against the byte-at-a-time table and the fuzz target `split_blocks`.
//!
//! Each was measured before it came in (docs/tokenizer-profile.md, seventh and ninth rounds), and
//! each file's doc lists the invariants that make its one `unsafe` call sound.
#![allow(unsafe_code)]

pub mod huge;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub mod sse2;
