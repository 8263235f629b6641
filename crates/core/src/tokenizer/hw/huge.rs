//! Large tables in 2 MiB pages (one of the two files of [`super`], the core's one module with
//! `unsafe` code).
//!
//! The tokenizers' tables (a rank table's slots, the memo, the ids of a long text) are read at
//! random over megabytes: with 4 KiB pages nearly every lookup also misses the TLB, and under
//! a hypervisor each such miss walks two page tables. Linux backs a range with 2 MiB pages when
//! it is asked to (`madvise(MADV_HUGEPAGE)`; the default setting of
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise`), which is what this module asks
//! for the allocations it is given (docs/tokenizer-profile.md, seventh round, has the figures).
//!
//! # Invariants (why the one `unsafe` call is sound)
//! - `madvise` is given only whole 2 MiB-aligned ranges that lie inside one live allocation
//!   this code holds a `&mut` to (a `Vec`'s buffer, its capacity included): no other memory is
//!   named.
//! - `MADV_HUGEPAGE` changes how the kernel backs the range, never its contents or whether it
//!   may be read or written, so nothing Rust assumes about the buffer changes; no reference to
//!   uninitialised memory is created (only the buffer's address is read).
//! - Its result is ignored on purpose: where the kernel has no transparent huge pages, or
//!   refuses, the memory stays in ordinary pages, which is only slower.
//!
//! Elsewhere (other systems, Miri) the advice is a no-op.

/// The size of a transparent huge page on x86-64 and (by default) aarch64 Linux.
const HUGE: usize = 2 << 20;

/// Asks for 2 MiB pages for the whole pages of `v`'s buffer (capacity included). Worth it for
/// buffers of several megabytes read at random; a no-op for those smaller than 2 MiB.
pub fn advise<T>(v: &mut Vec<T>) {
    let bytes = v.capacity().saturating_mul(std::mem::size_of::<T>());
    let start = v.as_mut_ptr() as usize;
    let lo = start.next_multiple_of(HUGE);
    let hi = start.saturating_add(bytes) / HUGE * HUGE;
    if hi > lo {
        madvise_huge(lo, hi - lo);
    }
}

/// `n` copies of `value`, in a buffer advised before it is written (so that its pages are
/// huge from the first touch, not collapsed later, if ever).
pub fn filled<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise(&mut v);
    v.resize(n, value);
    v
}

/// A vector with room for `n`, advised.
pub fn with_capacity<T>(n: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise(&mut v);
    v
}

#[cfg(all(target_os = "linux", not(miri)))]
fn madvise_huge(addr: usize, len: usize) {
    // SAFETY: see the module's invariants: [addr, addr + len) is a whole number of 2 MiB pages
    // inside a buffer the caller holds mutably, and the advice does not change its contents.
    unsafe {
        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(all(target_os = "linux", not(miri))))]
fn madvise_huge(_addr: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Advised buffers hold what was put in them, whatever their size and alignment.
    #[test]
    fn advised_buffers_keep_their_contents() {
        for n in [0usize, 1, 4095, 1 << 20, (5 << 20) + 3] {
            let v = filled(n, 0xA5u8);
            assert_eq!(v.len(), n);
            assert!(v.iter().all(|&b| b == 0xA5));
            let mut w: Vec<u64> = with_capacity(n);
            w.extend((0..n as u64).map(|i| i * 3));
            advise(&mut w);
            assert!(w.iter().enumerate().all(|(i, &x)| x == i as u64 * 3));
        }
    }
}
