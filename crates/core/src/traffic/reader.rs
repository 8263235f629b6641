//! Reading a log file line by line: plain, or gzip and zstd (by magic bytes; every member and
//! frame, in any mix, see [`super::frames`]), one record at a time, each line at most
//! [`MAX_LINE`] bytes (checked while reading). Only regular files are opened
//! ([`crate::bounded::open_regular`]: a device or FIFO is an error, never a wait). Bad lines are
//! counted and the first [`MAX_REPORTED`] are kept with their number and reason.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::frames::{is_compressed, Frames, Source};
use super::request::{parse_line, Record};
use crate::error::{Error, Result};
use crate::redact::Redactor;

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
    /// The providers' cache diagnostics the good lines carried, by provider and outcome.
    pub reported: super::reasons::Reported,
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

/// The log's lines as one stream: `r` itself, or every member and frame decompressed.
fn lines_of<'a>(r: impl Read + 'a) -> std::io::Result<Box<dyn BufRead + 'a>> {
    let mut src = Source::new(r);
    let compressed = is_compressed(src.peek(8)?);
    Ok(if compressed {
        Box::new(BufReader::with_capacity(1 << 16, Frames::new(src)))
    } else {
        Box::new(src)
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

/// Calls `f` with every good record of `path`, in file order, and adds what was read to
/// `stats`. An error `f` returns stops the reading and is returned.
pub fn read_log(
    path: &Path,
    stats: &mut ReadStats,
    f: impl FnMut(Record) -> Result<()>,
) -> Result<()> {
    let file = crate::bounded::open_regular(path)?;
    read_records(path, file, stats, f)
}

/// [`read_log`] over any reader (a file, bytes in memory); `name` is the file bad lines name.
pub fn read_records(
    name: &Path,
    r: impl Read,
    stats: &mut ReadStats,
    mut f: impl FnMut(Record) -> Result<()>,
) -> Result<()> {
    let mut r = lines_of(r).map_err(|e| Error::io(name, e))?;
    let mut buf = Vec::new();
    let mut line = 0;
    loop {
        let ok = match read_line(&mut *r, &mut buf, MAX_LINE) {
            Ok(None) => return Ok(()),
            Ok(Some(ok)) => ok,
            // A corrupt compressed stream, or bytes after a frame that start none: what was
            // read stands, the rest is one bad line naming the byte offset.
            Err(e) => {
                stats.bad(name, line + 1, format!("unreadable from here: {e}"));
                return Ok(());
            }
        };
        line += 1;
        if !ok {
            stats.bad(name, line, format!("longer than {MAX_LINE} bytes"));
            continue;
        }
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim_end_matches('\r'),
            Err(_) => {
                stats.bad(name, line, "not UTF-8".into());
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        match parse_line(line, text) {
            Ok(rec) => {
                stats.records += 1;
                if let Some(d) = &rec.diagnosis {
                    stats.reported.add(rec.api.provider(), d);
                }
                f(rec)?;
            }
            // The line is a request: whatever built the reason passes the one redaction path
            // against it before the reason is kept or shown.
            Err(reason) => stats.bad(name, line, Redactor::new([text]).clean(&reason)),
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
            read_log(p, &mut st, |r| {
                got.push(r.line);
                Ok(())
            })
            .unwrap();
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

    /// A zstd frame of raw (stored) blocks, laid out as RFC 8878 section 3.1.1 says: the magic
    /// number, a frame header descriptor (0xA0: a 4-byte content size, single segment, no
    /// checksum, no dictionary), the content size, then blocks of at most 128 KiB, each a
    /// 3-byte header (last flag, type 0 = raw, size) and its bytes. ruzstd 0.7 has no encoder;
    /// frames the `zstd` tool made are in tests/data/traffic/ (compressed blocks, a checksum).
    pub(crate) fn raw_zstd(data: &[u8]) -> Vec<u8> {
        let mut out = crate::traffic::frames::ZSTD.to_vec();
        out.push(0xa0);
        out.extend((data.len() as u32).to_le_bytes());
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(1 << 17).collect()
        };
        for (i, c) in chunks.iter().enumerate() {
            let header = u32::from(i + 1 == chunks.len()) | ((c.len() as u32) << 3);
            out.extend(&header.to_le_bytes()[..3]);
            out.extend(*c);
        }
        out
    }

    /// A zstd skippable frame (magic 0x184D2A5?) holding `len` bytes.
    fn skippable(nibble: u8, len: usize) -> Vec<u8> {
        let mut out = vec![0x50 | nibble, 0x2a, 0x4d, 0x18];
        out.extend((len as u32).to_le_bytes());
        out.extend(std::iter::repeat_n(0xee, len));
        out
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    /// The tool-made frame: one request.
    fn tool_frame() -> Vec<u8> {
        std::fs::read(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/data/traffic/one.jsonl.zst"),
        )
        .unwrap()
    }

    /// Reads `bytes` as a log: (line numbers of the records, stats).
    fn read_bytes(bytes: &[u8]) -> (Vec<usize>, ReadStats) {
        let mut st = ReadStats::default();
        let mut got = Vec::new();
        read_records(Path::new("t.log"), bytes, &mut st, |r| {
            got.push(r.line);
            Ok(())
        })
        .unwrap();
        (got, st)
    }

    #[test]
    fn a_second_zstd_frame_was_ignored() {
        // Two frames the zstd tool made, one after the other (`cat one.zst one.zst`).
        let two = [tool_frame(), tool_frame()].concat();
        let (got, st) = read_bytes(&two);
        assert_eq!((got, st.bad_lines), (vec![1, 2], 0));
        // 70 requests per frame, as in the report: 140 read.
        let half = lines(70);
        let log = [raw_zstd(half.as_bytes()), raw_zstd(half.as_bytes())].concat();
        let (_, st) = read_bytes(&log);
        assert_eq!((st.records, st.bad_lines), (140, 2));
    }

    #[test]
    fn gzip_members_and_zstd_frames_mix_and_skippable_frames_are_skipped() {
        let a =
            "{\"model\": \"gpt-4.1\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n";
        let log = [
            skippable(0x0, 5),
            gzip(a.as_bytes()),
            raw_zstd(a.as_bytes()),
            skippable(0xf, 0),
            tool_frame(),
            gzip(a.as_bytes()),
            raw_zstd(b""),
            gzip(b""),
            tool_frame(),
        ]
        .concat();
        let (got, st) = read_bytes(&log);
        assert_eq!(got, [1, 2, 3, 4, 5], "{:?}", st.bad);
        assert_eq!(st.bad_lines, 0);
        // A line may span frames: one stream.
        let line = a.as_bytes();
        let split = [gzip(&line[..10]), raw_zstd(&line[10..])].concat();
        assert_eq!(read_bytes(&split).0, [1]);
    }

    #[test]
    fn trailing_garbage_after_a_frame_was_silently_ignored() {
        let frame = tool_frame();
        let n = frame.len();
        for (tail, why) in [
            (
                b"{\"model\": \"x\"}\n".to_vec(),
                "neither a gzip member nor a zstd frame",
            ),
            (vec![0x1f, 0x8b, 8], "gzip member at byte"),
            (ZSTD_CUT.to_vec(), "zstd frame at byte"),
            (
                ZSTD_CUT[..2].to_vec(),
                "neither a gzip member nor a zstd frame",
            ),
            (
                skippable(3, 10)[..12].to_vec(),
                "truncated zstd skippable frame",
            ),
        ] {
            let (got, st) = read_bytes(&[frame.clone(), tail].concat());
            assert_eq!(got, [1], "{why}");
            assert_eq!(st.bad_lines, 1, "{why}");
            assert_eq!(st.bad[0].line, 2);
            assert_eq!(st.bad[0].file, "t.log");
            let reason = &st.bad[0].reason;
            assert!(reason.contains(why), "{reason}");
            assert!(reason.contains(&format!("byte {n}")), "{reason}");
            assert_eq!(reason.lines().count(), 1);
        }
        // A frame cut short.
        let (_, st) = read_bytes(&frame[..n - 6]);
        assert!(
            st.bad[0].reason.contains("zstd frame at byte 0"),
            "{:?}",
            st.bad
        );
        // A frame whose content does not match its checksum (the tool writes one), then a
        // gzip member whose CRC does not match. Frames stream: their lines were already read
        // when the sum is checked at the end, and the mismatch is the bad line after them.
        let mut bad_sum = frame.clone();
        bad_sum[n - 1] ^= 1;
        let (got, st) = read_bytes(&[frame.clone(), bad_sum].concat());
        assert_eq!(got, [1, 2]);
        assert_eq!(st.bad[0].line, 3);
        let want = format!("zstd frame at byte {n}: content checksum mismatch");
        assert!(st.bad[0].reason.contains(&want), "{:?}", st.bad);
        let mut bad_crc = gzip(b"{}\n");
        let k = bad_crc.len();
        bad_crc[k - 8] ^= 1;
        let (_, st) = read_bytes(&[frame.clone(), bad_crc].concat());
        let want = format!(
            "gzip member at byte {n}: corrupt gzip stream does not have a matching checksum"
        );
        let last = st.bad.last().unwrap();
        assert_eq!(last.line, 3, "after the member's one (bad) line");
        assert!(last.reason.contains(&want), "{:?}", st.bad);
    }

    /// A zstd magic number and a frame header cut short.
    const ZSTD_CUT: [u8; 6] = [0x28, 0xb5, 0x2f, 0xfd, 0xa0, 0x10];

    #[test]
    fn a_magic_number_across_the_buffers_end_is_still_seen() {
        // A skippable frame sized so that the next frame's magic starts 2 bytes before the
        // 64 KiB buffer's end, then at its very end, then just after it.
        let a =
            "{\"model\": \"gpt-4.1\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n";
        for at in [(1 << 16) - 2, (1 << 16) - 1, 1 << 16, (1 << 16) + 3] {
            for next in [raw_zstd(a.as_bytes()), gzip(a.as_bytes()), skippable(1, 0)] {
                let first = raw_zstd(a.as_bytes());
                let pad = at - first.len() - 8;
                let log = [
                    first,
                    skippable(2, pad),
                    next.clone(),
                    raw_zstd(a.as_bytes()),
                ]
                .concat();
                let (got, st) = read_bytes(&log);
                assert_eq!(st.bad_lines, 0, "{at}: {:?}", st.bad);
                assert_eq!(got.len(), if next.len() > 8 { 3 } else { 2 }, "{at}");
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
