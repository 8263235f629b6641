//! On-disk cache of fingerprints, keyed by (prompt content, tokenizer content, block size).
//!
//! A second run over unchanged prompts and tokenizer files tokenizes nothing. Entries hold
//! fingerprints and counts only, never text or ids. Writes are atomic (temp file + rename), and
//! an unreadable entry is treated as a miss, so a crash or a corrupt file costs one
//! re-tokenization and nothing else.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fingerprint::PrefixFingerprints;
use crate::prompt::Prompt;
use crate::tokenizer::Identity;

pub struct FpCache {
    dir: PathBuf,
}

impl FpCache {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join("fingerprint-cache"),
        }
    }

    pub fn key(prompt: &Prompt, tok: &Identity, block_size: usize) -> String {
        let mut h = Sha256::new();
        h.update(prompt.content_sha256.as_bytes());
        h.update(b"\0");
        h.update(tok.content_hash().as_bytes());
        h.update(format!("\0{block_size}").as_bytes());
        hex::encode(h.finalize())
    }

    /// The key of a rendered pair: [`FpCache::key`] plus the digest of the rendering.
    pub fn key_rendered(
        prompt: &Prompt,
        tok: &Identity,
        block_size: usize,
        rendering: &str,
    ) -> String {
        let mut h = Sha256::new();
        h.update(Self::key(prompt, tok, block_size).as_bytes());
        h.update(b"\0rendered\0");
        h.update(rendering.as_bytes());
        hex::encode(h.finalize())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(&key[..2]).join(format!("{key}.json"))
    }

    pub fn get(&self, key: &str) -> Option<PrefixFingerprints> {
        let bytes =
            crate::bounded::read_limited(&self.path(key), crate::bounded::SMALL_FILE_BYTES).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores an entry. Failing to write the cache is not an error for the caller: it is
    /// logged and the next run recomputes.
    pub fn put(&self, key: &str, fp: &PrefixFingerprints) {
        let path = self.path(key);
        let res = (|| -> std::io::Result<()> {
            let dir = path.parent().expect("cache path has a parent");
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer(&mut tmp, fp)?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })();
        if let Err(e) = res {
            tracing::warn!(path = %path.display(), error = %e, "cannot write fingerprint cache entry");
        }
    }
}
