//! Every input's size limit, and reading with the limit checked while reading (and while
//! decompressing), never after: a path that names `/dev/zero`, a FIFO, a runaway file or a gzip
//! bomb fails with a one-line error instead of exhausting memory.

use std::io::Read;

/// `daemon.toml`.
pub const CONFIG_BYTES: u64 = 1 << 20;
/// A prompt definition (`prompts/*.yaml`).
pub const PROMPT_YAML_BYTES: u64 = 1 << 20;
/// A prompt's text: 8 MiB is about two million tokens, ten times the largest context.
pub const PROMPT_TEXT_BYTES: u64 = 8 << 20;
/// A tokenizer file as stored and as uncompressed (the largest real ones are ~35 MB).
pub const TOKENIZER_BYTES: u64 = 256 << 20;
/// A tiktoken spec, the cache rules file.
pub const SMALL_FILE_BYTES: u64 = 4 << 20;
/// `prefix tokenize` input.
pub const TOKENIZE_INPUT_BYTES: u64 = 256 << 20;
/// The largest token rank or id a tokenizer may use: real vocabularies stay under 300,000; the
/// tables are sized by the largest rank, so it is checked before anything is allocated.
pub const MAX_RANK: u32 = 1 << 22;
use std::path::Path;

use crate::error::{Error, Result};

/// Opens `path` for reading if it is a regular file; a FIFO, socket, device or directory is
/// refused in one line naming it, without ever blocking.
///
/// The file is opened with `O_NONBLOCK` (an `open(2)` of a FIFO with no writer would otherwise
/// block forever, and a thread blocked there cannot even see SIGTERM), the kind is checked on
/// the opened descriptor (`fstat`, so no race with a rename). The flag stays set: it has no
/// effect on a regular file's reads (POSIX leaves it unspecified; Linux ignores it), so the
/// core needs no `fcntl` and stays free of `unsafe`. Every file the project reads goes through here;
/// standard input is the one explicit exception (`-`), where the callers accept it.
pub fn open_regular(path: &Path) -> Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let f = opts.open(path).map_err(|e| Error::io(path, e))?;
    let meta = f.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(Error::Other(format!(
            "{}: not a regular file ({}); only regular files are read",
            path.display(),
            file_kind(&meta.file_type())
        )));
    }
    Ok(f)
}

/// A name for what a path is when it is not a regular file.
fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// The whole file at `path`, or an error if it holds more than `max` bytes or is not a
/// regular file.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>> {
    let f = open_regular(path)?;
    // Sized once from the file's length (a file that grows meanwhile still stops at `max`):
    // grown by doubling, the buffer of a tokenizer file left a third of its pages behind.
    let len = f.metadata().map_or(0, |m| m.len()).min(max);
    let mut buf = Vec::with_capacity(len as usize);
    f.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    if buf.len() as u64 > max {
        return Err(Error::Other(format!(
            "{}: larger than the {max}-byte limit",
            path.display()
        )));
    }
    Ok(buf)
}

/// Everything `r` yields, or an error naming `what` once it passes `max` bytes.
pub fn read_to_limit(r: impl Read, max: u64, what: &dyn std::fmt::Display) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| Error::Other(format!("{what}: {e}")))?;
    if buf.len() as u64 > max {
        return Err(Error::Other(format!(
            "{what}: larger than the {max}-byte limit"
        )));
    }
    Ok(buf)
}

/// `raw` itself, or its gunzipped content when it starts with the gzip magic bytes; the
/// uncompressed size is checked while decompressing.
pub fn gunzip_limited(raw: Vec<u8>, max: u64) -> std::io::Result<Vec<u8>> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        if raw.len() as u64 > max {
            return Err(std::io::Error::other(format!(
                "larger than the {max}-byte limit"
            )));
        }
        return Ok(raw);
    }
    // The gzip trailer's last four bytes are the uncompressed size (modulo 2^32, of the last
    // member): sized from them, the output is allocated once, not doubled as it fills (each
    // doubling left the old buffer's pages resident: 23 MB for Qwen3's 11 MB). The trailer is
    // only a hint: it is capped at `max`, and the size is still checked while decompressing.
    let hint = raw
        .last_chunk::<4>()
        .map_or(0, |t| u64::from(u32::from_le_bytes(*t)));
    let mut out = Vec::with_capacity(hint.max(raw.len() as u64).min(max) as usize);
    flate2::read::MultiGzDecoder::new(&raw[..])
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| std::io::Error::new(e.kind(), format!("corrupt gzip data: {e}")))?;
    if out.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "expands to more than the {max}-byte limit"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_and_directories_are_refused_without_blocking() {
        let e = read_limited(Path::new("/dev/zero"), 1 << 16)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "/dev/zero: not a regular file (a character device); only regular files are read"
        );
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        // No writer: a plain open(2) would block here forever.
        let e = read_limited(&fifo, 1 << 16).unwrap_err().to_string();
        assert!(
            e.ends_with("not a regular file (a FIFO); only regular files are read"),
            "{e}"
        );
        let e = read_limited(d.path(), 1 << 16).unwrap_err().to_string();
        assert!(e.contains("(a directory)"), "{e}");
    }

    #[test]
    fn regular_files_are_read_up_to_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("t");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(read_limited(&p, 3).unwrap(), b"abc");
        assert!(read_limited(&p, 2).is_err());
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        for _ in 0..64 {
            gz.write_all(&[0u8; 1 << 20]).unwrap(); // 64 MiB of zeros, ~64 KiB compressed
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        let e = gunzip_limited(bomb.clone(), 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("expands to more than the 1048576-byte limit"),
            "{e}"
        );
        assert_eq!(gunzip_limited(bomb, 64 << 20).unwrap().len(), 64 << 20);
    }
}
