//! libFuzzer target `hf_json`: what it feeds and what must hold are in src/fuzz_props/hf_json.rs,
//! which `cargo test` also runs on the committed seeds (fuzz/corpus/hf_json/) and their
//! mutations.
//!
//! Known finding: the `tokenizers` crate itself panics on some malformed files (0.23.2:
//! `.expect("Helper")` in `decoders/mod.rs` on any `decoder` value it cannot read, even the
//! 11 bytes `{"decoder":` of a truncated file; see fuzz/regressions/hf_json-*). `HfJson`
//! contains it with `catch_unwind`, but libfuzzer-sys's panic hook aborts even on a panic that
//! is caught. So that the fuzzer can get past it, a panic whose location is inside the
//! `tokenizers` crate is tolerated here: it is printed once per location as a
//! `KNOWN-UPSTREAM-PANIC` line (scripts/fuzz.sh counts them as `known=`), and the first input
//! per location is written to `$FUZZ_ARTIFACTS/known-upstream-<location>`. Set `FUZZ_STRICT=1`
//! to make it fatal like any other panic. A panic anywhere else (our code, the regex engines)
//! aborts as usual.
#![no_main]

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, Once};

use libfuzzer_sys::fuzz_target;

/// Locations (`file:line:col`) of known upstream panics already reported.
static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
static HOOK: Once = Once::new();

thread_local! {
    /// The location of the tolerated panic being unwound, for the artifact name.
    static LAST: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn in_tokenizers_crate(file: &str) -> bool {
    file.contains("/tokenizers-") && file.contains("/src/")
}

fn install_hook() {
    HOOK.call_once(|| {
        if std::env::var_os("FUZZ_STRICT").is_some_and(|v| v == "1") {
            return;
        }
        // libfuzzer-sys's hook: prints the panic, then aborts.
        let fatal = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let Some(loc) = info.location().filter(|l| in_tokenizers_crate(l.file())) else {
                return fatal(info);
            };
            let at = format!("{}:{}:{}", loc.file(), loc.line(), loc.column());
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(at.clone()) {
                let msg = info
                    .payload()
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| info.payload().downcast_ref::<&str>().copied())
                    .unwrap_or("?");
                let msg: String = msg.chars().take(200).collect();
                eprintln!("KNOWN-UPSTREAM-PANIC at {at}: {}", msg.escape_default());
                LAST.with(|l| *l.borrow_mut() = Some(at));
            }
        }));
    });
}

/// `f()`, or `None` when it panicked inside the `tokenizers` crate (other panics abort).
fn guarded<T>(data: &[u8], f: impl FnOnce() -> T) -> Option<T> {
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    if let Some(at) = LAST.with(|l| l.borrow_mut().take()) {
        if let Some(dir) = std::env::var_os("FUZZ_ARTIFACTS") {
            let name: String = at
                .rsplit("/src/")
                .next()
                .unwrap_or(&at)
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let path = std::path::Path::new(&dir).join(format!("known-upstream-{name}"));
            let _ = std::fs::write(path, data);
        }
    }
    r.ok()
}

fuzz_target!(|data: &[u8]| {
    install_hook();
    guarded(data, || prefix_warden::fuzz_props::hf_json::check(data));
});
