//! Reading a log file line by line: plain, gzip or zstd (by magic bytes), one record at a
//! time, each line at most [`MAX_LINE`] bytes (checked while reading). Bad lines are counted
//! and the first [`MAX_REPORTED`] are kept with their number and reason.

use std::io::{BufRead, BufReader};
use std::path::Path;

use super::request::{parse_line, Record};
use crate::error::{Error, Result};

/// Longest line read (a request body with a long conversation).
pub const MAX_LINE: usize = 32 << 20;
/// Bad lines kept for the report per run; the rest are only counted.
pub const MAX_REPORTED: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadLine {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReadStats {
    pub records: usize,
    pub bad_lines: usize,
    /// The first bad lines, by file and line number.
    pub bad: Vec<BadLine>,
}

impl ReadStats {
    fn bad(&mut self, file: &Path, line: usize, reason: String) {
        self.bad_lines += 1;
        if self.bad.len() < MAX_REPORTED {
            self.bad.push(BadLine {
                file: file.display().to_string(),
                line,
                reason,
            });
        }
    }
}

fn open(path: &Path) -> Result<Box<dyn BufRead>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::with_capacity(1 << 16, f);
    let magic = r.fill_buf().map_err(|e| Error::io(path, e))?;
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::read::MultiGzDecoder::new(r),
        ))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let d = ruzstd::StreamingDecoder::new(r)
            .map_err(|e| Error::Other(format!("{}: not a zstd stream: {e}", path.display())))?;
        Box::new(BufReader::with_capacity(1 << 16, d))
    } else {
        Box::new(r)
    })
}

/// Reads one line (without its `\n`) into `buf`, at most `max` bytes. `Ok(None)` at the end;
/// `Ok(Some(false))` for a line that was too long (consumed, not kept).
fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return Ok(any.then_some(!too_long));
        }
        any = true;
        let (chunk, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..i], Some(i + 1)),
            None => (avail, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let n = done.unwrap_or(avail.len());
        r.consume(n);
        if done.is_some() {
            return Ok(Some(!too_long));
        }
    }
}

/// Calls `f` with every good record of `path`, in file order, and returns what was read.
pub fn read_log(path: &Path, stats: &mut ReadStats, mut f: impl FnMut(Record)) -> Result<()> {
    let mut r = open(path)?;
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        let ok = match read_line(&mut *r, &mut buf, MAX_LINE) {
            Ok(None) => return Ok(()),
            Ok(Some(ok)) => ok,
            // A corrupt compressed stream: what was read stands, the rest is one bad line.
            Err(e) => {
                stats.bad(path, line + 1, format!("unreadable from here: {e}"));
                return Ok(());
            }
        };
        line += 1;
        if !ok {
            stats.bad(path, line, format!("longer than {MAX_LINE} bytes"));
            continue;
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim_end_matches('\r'),
            Err(_) => {
                stats.bad(path, line, "not UTF-8".into());
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        match parse_line(line, text) {
            Ok(rec) => {
                stats.records += 1;
                f(rec);
            }
            Err(reason) => stats.bad(path, line, reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const GOOD: &str = r#"{"model": "gpt-4.1", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "u"}]}"#;

    fn lines(n_good: usize) -> String {
        let mut s = String::new();
        for i in 0..n_good {
            s.push_str(GOOD);
            s.push('\n');
            if i == 1 {
                s.push_str("{broken\n\n");
            }
        }
        s
    }

    #[test]
    fn plain_gzip_and_zstd_read_the_same_and_bad_lines_are_numbered() {
        let d = tempfile::tempdir().unwrap();
        let text = lines(4);
        let plain = d.path().join("a.jsonl");
        std::fs::write(&plain, &text).unwrap();
        let gz = d.path().join("a.jsonl.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        std::fs::write(&gz, e.finish().unwrap()).unwrap();
        // A zstd frame made by the reference `zstd` tool: `printf "$GOOD\n" | zstd` (stored in
        // tests/data/traffic/one.jsonl.zst).
        let zst = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data/traffic/one.jsonl.zst");
        for (p, want) in [(&plain, 4), (&gz, 4), (&zst, 1)] {
            let mut st = ReadStats::default();
            let mut got = Vec::new();
            read_log(p, &mut st, |r| got.push(r.line)).unwrap();
            assert_eq!(st.records, want, "{}", p.display());
            if want == 4 {
                assert_eq!(
                    got,
                    [1, 2, 5, 6],
                    "line numbers count the bad and blank lines"
                );
                assert_eq!(st.bad_lines, 1);
                assert_eq!(st.bad[0].line, 3);
            }
        }
    }

    #[test]
    fn an_overlong_line_is_one_bad_line_and_reading_goes_on() {
        let mut r = std::io::Cursor::new(b"aaaaaaaaaa\nbb\n".to_vec());
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), Some(false));
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), Some(true));
        assert_eq!(buf, b"bb");
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), None);
    }
}
