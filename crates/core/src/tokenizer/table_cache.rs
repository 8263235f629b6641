//! The compact table cache: a tokenizer's parsed tables (rank table, or a tokenizer.json's
//! vocabulary, merges and pre-processing), stored under `state_dir/tokenizer-tables/` keyed by
//! the tokenizer's content hash (file sha256, spec sha256, engine version), so a later load
//! skips base64 and JSON parsing.
//!
//! A cache file is `MAGIC`, the sha256 of the body, the body. One that is missing, truncated,
//! corrupt or of another version is rebuilt from the tokenizer file (and rewritten atomically);
//! a cache that cannot be written is only a slower load, never an error.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The format's version is the last byte (2: tokenizer.json tables list their whole tokens).
const MAGIC: &[u8; 8] = b"PWTAB\x00\x00\x02";

/// Appends values to a cache body.
#[derive(Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

/// Reads values back; every length is checked against what is left.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn u32(&mut self) -> Result<u32, String> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<4>()
            .ok_or("truncated table cache")?;
        self.buf = rest;
        Ok(u32::from_le_bytes(*head))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        if n > self.buf.len() {
            return Err("truncated table cache".into());
        }
        let (b, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(b)
    }
    pub fn str(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "table cache: not UTF-8".to_string())
    }
    /// A count of items each at least `min_bytes` long: checked against what is left before
    /// anything is allocated for them.
    pub fn count(&mut self, min_bytes: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_bytes.max(1)) > self.buf.len() {
            return Err("table cache: count larger than the file".into());
        }
        Ok(n)
    }
    pub fn finish(&self) -> Result<(), String> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err("table cache: trailing bytes".into())
        }
    }
}

/// Tables that can be cached.
pub trait Cached: Sized {
    fn write(&self, w: &mut Writer);
    fn read(r: &mut Reader<'_>) -> Result<Self, String>;
}

fn path(dir: &Path, key: &str) -> PathBuf {
    dir.join("tokenizer-tables").join(format!("{key}.bin"))
}

/// The cached tables for `key`, or `build()`'s (then cached). Without a directory, builds.
pub fn load_or_build<T: Cached>(
    dir: Option<&Path>,
    key: &str,
    build: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    let Some(dir) = dir else { return build() };
    let file = path(dir, key);
    if let Some(t) = read::<T>(&file) {
        return Ok(t);
    }
    let t = build()?;
    // The parse's scratch (the file's JSON or base64, tens of MB) is freed: give its pages back
    // before the cache's body is laid out, or they stay resident under it.
    crate::memory::release_free_pages();
    if let Err(e) = write(&file, &t) {
        tracing::debug!(file = %file.display(), error = %e, "cannot write the tokenizer table cache");
    }
    Ok(t)
}

fn read<T: Cached>(file: &Path) -> Option<T> {
    let data = crate::bounded::read_limited(file, crate::bounded::TOKENIZER_BYTES).ok()?;
    let body = data.strip_prefix(MAGIC.as_slice())?;
    let (sum, body) = body.split_first_chunk::<32>()?;
    if Sha256::digest(body).as_slice() != sum {
        tracing::warn!(file = %file.display(), "tokenizer table cache is corrupt; rebuilding it");
        return None;
    }
    let mut r = Reader { buf: body };
    let t = T::read(&mut r).and_then(|t| r.finish().map(|_| t));
    match t {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(file = %file.display(), error = %e, "tokenizer table cache unreadable; rebuilding it");
            None
        }
    }
}

fn write<T: Cached>(file: &Path, t: &T) -> std::io::Result<()> {
    let mut w = Writer::default();
    t.write(&mut w);
    let dir = file.parent().expect("cache files live in a directory");
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    use std::io::Write;
    tmp.write_all(MAGIC)?;
    tmp.write_all(&Sha256::digest(&w.0))?;
    tmp.write_all(&w.0)?;
    tmp.as_file().sync_all()?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct T(Vec<(Vec<u8>, u32)>);

    impl Cached for T {
        fn write(&self, w: &mut Writer) {
            w.u32(self.0.len() as u32);
            for (b, r) in &self.0 {
                w.bytes(b);
                w.u32(*r);
            }
        }
        fn read(r: &mut Reader<'_>) -> Result<Self, String> {
            let n = r.count(8)?;
            (0..n)
                .map(|_| Ok((r.bytes()?.to_vec(), r.u32()?)))
                .collect::<Result<_, String>>()
                .map(T)
        }
    }

    #[test]
    fn a_missing_or_corrupt_cache_is_rebuilt_and_a_good_one_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let want = T(vec![(b"ab".to_vec(), 7), (b"c".to_vec(), 9)]);
        let built = load_or_build(Some(dir.path()), "k", || Ok(T(want.0.clone()))).unwrap();
        assert_eq!(built, want);
        // Used: the builder is not called.
        let cached: T = load_or_build(Some(dir.path()), "k", || panic!("rebuilt")).unwrap();
        assert_eq!(cached, want);
        // Corrupt (one bit flipped, or truncated): rebuilt and rewritten.
        let file = path(dir.path(), "k");
        let mut data = std::fs::read(&file).unwrap();
        *data.last_mut().unwrap() ^= 1;
        std::fs::write(&file, &data).unwrap();
        let mut calls = 0;
        let rebuilt = load_or_build(Some(dir.path()), "k", || {
            calls += 1;
            Ok(T(want.0.clone()))
        })
        .unwrap();
        assert_eq!((rebuilt, calls), (T(want.0.clone()), 1));
        std::fs::write(&file, &data[..20]).unwrap();
        assert!(read::<T>(&file).is_none());
        // A count larger than the file is refused before allocating.
        let mut r = Reader {
            buf: &[0xff, 0xff, 0xff, 0x7f],
        };
        assert!(r.count(8).is_err());
    }
}
