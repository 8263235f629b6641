//! The request-log reader on any bytes: `traffic::read_records`, the function `prefix
//! discover`, `lint` and `simulate` read every log through, on plain text and on streams of
//! gzip members, zstd frames and zstd skippable frames in any mix. The seeds in
//! fuzz/corpus/log_reader/ are such streams, made from one request line `L` with the `zstd`
//! (1.5.4) and `gzip` tools: `printf '%s\n' "$L" | zstd` (a.zst; b.zst with `--no-check`),
//! `cat a.zst b.zst` (two frames), `cat a.gz a.zst a.gz` (a mix), a skippable frame (magic
//! 0x184D2A5A, 3 bytes) before and after a.zst, a.zst with bytes after it, a.zst cut 6 bytes
//! short, and plain lines with a bad one.
//!
//! Must hold: no panic, no OOM, bounded time; records come in line order; at most
//! `MAX_REPORTED` bad lines are kept, each with a one-line reason and a line number from 1.

use std::path::Path;

use crate::traffic::reader::{read_records, ReadStats, MAX_REPORTED};

pub fn check(data: &[u8]) {
    let mut stats = ReadStats::default();
    let mut last = 0;
    let r = read_records(Path::new("fuzz.log"), data, &mut stats, |rec| {
        assert!(rec.line > last, "records in line order");
        last = rec.line;
        let _ = rec.model_name();
        Ok(())
    });
    // Only the callback's errors stop a read; the callback here has none.
    assert!(r.is_ok(), "reading bytes is never an error");
    assert!(stats.bad.len() <= MAX_REPORTED);
    assert!(stats.bad.len() <= stats.bad_lines);
    for b in &stats.bad {
        assert_eq!(b.reason.lines().count(), 1, "one-line reason");
        assert!(b.line >= 1);
    }
}
