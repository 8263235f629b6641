//! `daemon.toml` parsing: `Config::parse` on arbitrary UTF-8 text (non-UTF-8 inputs are
//! skipped; `Config::load` rejects them before parsing).
//!
//! Must hold: no panic, bounded time; every error formats (its line and field come from spans
//! into the text, so a bad span would panic here); every accepted tokenizer id can be looked up.

use std::path::Path;

use crate::config::Config;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(Path::new("/fuzz/daemon.toml"), text) {
        Ok(c) => {
            for t in &c.tokenizers {
                assert!(
                    c.tokenizer(&t.id).is_ok(),
                    "accepted tokenizer id not found"
                );
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
