//! Prompt definitions (`prompts/*.yaml`): `prompt::parse` on arbitrary bytes, from a directory
//! that does not exist (so a `text_file` is never read; inline `text` is exercised).
//!
//! Must hold: no panic, bounded time; an accepted prompt's segments are ordered byte ranges on
//! char boundaries of its text (`segment_texts` slices with them), and errors format.

use std::path::Path;

use crate::prompt;

pub fn check(data: &[u8]) {
    match prompt::parse(Path::new("/nonexistent-fuzz-dir/p.yaml"), data) {
        Ok(p) => {
            let text = p.text.expose();
            let mut prev = 0;
            for s in &p.segments {
                assert!(
                    s.start <= s.end && s.end <= text.len(),
                    "segment out of range"
                );
                assert!(s.start >= prev, "segments out of order");
                prev = s.end;
            }
            let total: usize = p.segment_texts().map(str::len).sum();
            assert!(total <= text.len());
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}
