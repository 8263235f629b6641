//! Fuzzes `daemon.toml` parsing: `Config::parse` on arbitrary UTF-8 text (non-UTF-8 inputs are
//! skipped; `Config::load` rejects them before parsing).
//!
//! Must hold: no panic, no abort, no OOM, bounded time; every error formats (its line and
//! field come from spans into the text, so a bad span would panic here).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use prefix_warden::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(Path::new("/fuzz/daemon.toml"), text) {
        Ok(c) => {
            // Lookups by id on what was accepted must work for every entry.
            for t in &c.tokenizers {
                assert!(c.tokenizer(&t.id).is_ok(), "accepted tokenizer id not found");
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
