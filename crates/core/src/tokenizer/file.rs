//! Reading tokenizer files: optional gzip, the sha256 of the uncompressed bytes, and the pin
//! check. The sha256 is always of the uncompressed content, as the upstream projects publish it.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::TokenizerEntry;
use crate::error::{Error, Result};

/// The uncompressed content of a tokenizer file and its sha256.
pub struct FileContent {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// Reads `path`, gunzipping when it starts with the gzip magic bytes.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    gunzip_if_needed(raw).map_err(|e| Error::io(path, e))
}

/// `raw` itself, or its gunzipped content when it starts with the gzip magic bytes.
pub fn gunzip_if_needed(raw: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len() * 4);
    flate2::read::MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| std::io::Error::new(e.kind(), format!("corrupt gzip data: {e}")))?;
    Ok(out)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads the entry's file and checks it against the pinned sha256, naming both on a mismatch.
pub fn read_verified(entry: &TokenizerEntry) -> Result<FileContent> {
    let bytes = read_maybe_gzip(&entry.file).map_err(|e| match e {
        Error::Io { path, source } => Error::Tokenizer {
            id: entry.id.clone(),
            file: path,
            message: format!(
                "cannot read tokenizer file ({}:{}): {source}",
                entry.file_loc.file.display(),
                entry.file_loc.line
            ),
        },
        other => other,
    })?;
    let sha256 = sha256_hex(&bytes);
    if let Some(expected) = &entry.sha256 {
        if *expected != sha256 {
            return Err(Error::ShaMismatch {
                id: entry.id.clone(),
                loc: entry.sha256_loc.clone(),
                file: entry.file.clone(),
                expected: expected.clone(),
                actual: sha256,
            });
        }
    }
    Ok(FileContent { bytes, sha256 })
}
