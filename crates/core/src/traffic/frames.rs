//! A compressed log as one stream: every gzip member and zstd frame, one after another, in any
//! mix (`cat a.gz b.zst > log` is a log), with zstd skippable frames skipped as the format
//! says. Whatever follows a frame and is neither (trailing garbage, plain text) is an error
//! naming its byte offset, never a silent end of the log.
//!
//! Integrity: flate2 checks each gzip member's CRC-32 and length; each zstd frame's content
//! checksum (XXH64, when the frame has one) is checked at its end. A mismatch is an error at
//! the end of the member or frame: its lines have streamed out by then (a frame is never held
//! whole), so the error follows them, and nothing after it is read.
//!
//! Decoders read exactly their own member or frame (flate2's `bufread` decoder, ruzstd's
//! streaming one), so after one ends the next starts at the reader's position. Memory is one
//! 64 KiB buffer plus the decoder's state: for zstd, the frame's window (ruzstd refuses windows
//! above 100 MiB).

use std::io::{self, BufRead, Read};

/// The gzip magic bytes.
pub const GZIP: [u8; 2] = [0x1f, 0x8b];
/// A zstd frame's magic number (0xFD2FB528, little-endian).
pub const ZSTD: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Whether `b` starts a zstd skippable frame: magic 0x184D2A50..=0x184D2A5F, little-endian.
fn skippable(b: &[u8]) -> bool {
    b.len() >= 4 && b[0] & 0xf0 == 0x50 && b[1..4] == [0x2a, 0x4d, 0x18]
}

/// Whether a stream starting with `head` is compressed (a member or frame of either format).
pub fn is_compressed(head: &[u8]) -> bool {
    head.starts_with(&GZIP) || head.starts_with(&ZSTD) || skippable(head)
}

/// The compressed file, buffered, counting the bytes taken from it (the offset in the file),
/// and able to look ahead across its buffer's end (a magic number can straddle it).
pub struct Source<R> {
    inner: R,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    pos: u64,
}

impl<R: Read> Source<R> {
    pub fn new(inner: R) -> Self {
        Source {
            inner,
            buf: vec![0; 1 << 16].into_boxed_slice(),
            start: 0,
            end: 0,
            pos: 0,
        }
    }

    /// At least `n` buffered bytes (`n` at most the buffer's size), fewer only at the end.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.end - self.start < n {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            while self.end < n.min(self.buf.len()) {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(0) => break,
                    Ok(k) => self.end += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(&self.buf[self.start..self.end])
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Read> BufRead for Source<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            loop {
                match self.inner.read(&mut self.buf) {
                    Ok(k) => {
                        self.end = k;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(&self.buf[self.start..self.end])
    }
    fn consume(&mut self, amt: usize) {
        let amt = amt.min(self.end - self.start);
        self.start += amt;
        self.pos += amt as u64;
    }
}

type Zstd<R> = ruzstd::StreamingDecoder<Source<R>, ruzstd::FrameDecoder>;

enum State<R: Read> {
    /// At a boundary: the next member or frame starts here, or the stream ends.
    Between(Source<R>),
    /// In a gzip member that started at this offset.
    Gzip(Box<flate2::bufread::GzDecoder<Source<R>>>, u64),
    /// In a zstd frame that started at this offset.
    Zstd(Box<Zstd<R>>, u64),
    /// The end, or after an error (every later read returns 0).
    Done,
}

/// Every member and frame of a compressed stream, decompressed, as one reader.
pub struct Frames<R: Read> {
    state: State<R>,
}

impl<R: Read> Frames<R> {
    /// The stream from `src`'s position on (offsets count from where `src` started).
    pub fn new(src: Source<R>) -> Self {
        Frames {
            state: State::Between(src),
        }
    }

    /// Starts the next member or frame at a boundary; `Ok(false)` at the end.
    fn next_member(&mut self) -> io::Result<bool> {
        let State::Between(mut r) = std::mem::replace(&mut self.state, State::Done) else {
            return Ok(false);
        };
        let at = r.pos;
        let head = r.peek(8)?;
        if head.is_empty() {
            return Ok(false);
        }
        let skip_len = (head.len() >= 8)
            .then(|| u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as u64);
        if head.starts_with(&GZIP) {
            self.state = State::Gzip(Box::new(flate2::bufread::GzDecoder::new(r)), at);
        } else if head.starts_with(&ZSTD) {
            let d = ruzstd::StreamingDecoder::new(r).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("zstd frame at byte {at}: {e}"),
                )
            })?;
            self.state = State::Zstd(Box::new(d), at);
        } else if skippable(head) {
            let len = skip_len.ok_or_else(|| truncated(at, "zstd skippable frame header"))?;
            r.consume(8);
            let skipped = io::copy(&mut (&mut r).take(len), &mut io::sink())?;
            if skipped < len {
                return Err(truncated(at, "zstd skippable frame"));
            }
            self.state = State::Between(r);
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("byte {at}: neither a gzip member nor a zstd frame follows the last one"),
            ));
        }
        Ok(true)
    }
}

fn truncated(at: u64, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("byte {at}: truncated {what}"),
    )
}

impl<R: Read> Read for Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let got = match &mut self.state {
                State::Done => return Ok(0),
                State::Between(_) => {
                    if !self.next_member()? {
                        self.state = State::Done;
                        return Ok(0);
                    }
                    continue;
                }
                State::Gzip(d, at) => d.read(buf).map_err(|e| in_member("gzip member", *at, e)),
                State::Zstd(d, at) => d.read(buf).map_err(|e| in_member("zstd frame", *at, e)),
            };
            match got {
                Ok(0) => {
                    // The member or frame ended: back at a boundary. flate2 checks a member's
                    // CRC; a zstd frame's checksum (when it has one) is checked here.
                    self.state = match std::mem::replace(&mut self.state, State::Done) {
                        State::Gzip(d, _) => State::Between(d.into_inner()),
                        State::Zstd(d, at) => {
                            let sent = d.decoder.get_checksum_from_data();
                            if sent.is_some() && sent != d.decoder.get_calculated_checksum() {
                                return Err(io::Error::new(
                                    io::ErrorKind::InvalidData,
                                    format!("zstd frame at byte {at}: content checksum mismatch"),
                                ));
                            }
                            State::Between(d.into_inner())
                        }
                        other => other,
                    };
                }
                Ok(n) => return Ok(n),
                Err(e) => {
                    self.state = State::Done;
                    return Err(e);
                }
            }
        }
    }
}

fn in_member(what: &str, at: u64, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{what} at byte {at}: {e}"))
}
