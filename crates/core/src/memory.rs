//! Giving freed memory back to the operating system at once.
//!
//! A cold pass loads each tokenizer, fingerprints every prompt under it and drops it: tens of
//! megabytes allocated and freed. The allocator returns those pages over its decay time
//! (seconds); releasing them right after the pass makes resident memory at "ready" what the
//! daemon keeps, not what it just dropped. A tokenizer's load releases them too, between
//! reading its file and building its tables (`tokenizer::Tokenizer::load_cached`): the file's
//! bytes and the parse's scratch would otherwise stay resident under the tables (Qwen3's cold
//! load peaked at 71 MB, over the 64 MB the engine keeps to).
//!
//! The allocator belongs to the binary (`main.rs` sets jemalloc as the global allocator, and
//! talking to it takes `unsafe`, which the libraries do not allow here), so the binary installs
//! the release function here; without one (tests, other embedders) releasing is a no-op.

use std::sync::OnceLock;

static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Installs the function that returns free pages to the OS (once; later calls are ignored).
pub fn set_release(f: fn()) {
    let _ = RELEASE.set(f);
}

/// Returns free pages to the OS, if the binary said how.
pub fn release_free_pages() {
    if let Some(f) = RELEASE.get() {
        f();
    }
}
