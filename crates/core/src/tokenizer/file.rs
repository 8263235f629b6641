//! Reading tokenizer files: optional gzip, the sha256 of the uncompressed bytes, and the pin
//! check. The sha256 is always of the uncompressed content, as the upstream projects publish it.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::bounded::{gunzip_limited, read_limited, TOKENIZER_BYTES};
use crate::config::{TemplateEntry, TokenizerEntry};
use crate::error::{Error, Result};

/// The uncompressed content of a tokenizer file and its sha256.
pub struct FileContent {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// Reads `path`, gunzipping when it starts with the gzip magic bytes; both sizes are bounded
/// by [`TOKENIZER_BYTES`], checked while reading.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>> {
    let raw = read_limited(path, TOKENIZER_BYTES)?;
    gunzip_if_needed(raw).map_err(|e| Error::io(path, e))
}

/// `raw` itself, or its gunzipped content when it starts with the gzip magic bytes, at most
/// [`TOKENIZER_BYTES`].
pub fn gunzip_if_needed(raw: Vec<u8>) -> std::io::Result<Vec<u8>> {
    gunzip_limited(raw, TOKENIZER_BYTES)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads the entry's file and checks it against the pinned sha256, naming both on a mismatch.
pub fn read_verified(entry: &TokenizerEntry) -> Result<FileContent> {
    let bytes = read_maybe_gzip(&entry.file).map_err(|e| {
        let why = match e {
            Error::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        Error::Tokenizer {
            id: entry.id.clone(),
            file: entry.file.clone(),
            message: format!(
                "cannot read tokenizer file ({}:{}): {why}",
                entry.file_loc.file.display(),
                entry.file_loc.line
            ),
        }
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

/// Reads `path` again (gunzipped) and checks that it is still the content of `sha256`: for a
/// second reader of a file whose first read was let go.
pub fn read_again(path: &Path, sha256: &str) -> std::result::Result<Vec<u8>, String> {
    let bytes = read_maybe_gzip(path).map_err(|e| format!("cannot read it again: {e}"))?;
    let now = sha256_hex(&bytes);
    if now != sha256 {
        return Err(format!(
            "the file changed while it was loaded (sha256 {sha256}, now {now})"
        ));
    }
    Ok(bytes)
}

/// Reads a tokenizer entry's chat template file (at most [`crate::bounded::SMALL_FILE_BYTES`])
/// and checks it against its pin.
pub fn read_template(id: &str, te: &TemplateEntry) -> Result<FileContent> {
    let bytes = read_limited(&te.file, crate::bounded::SMALL_FILE_BYTES).map_err(|e| {
        let why = match e {
            Error::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        Error::Tokenizer {
            id: id.to_string(),
            file: te.file.clone(),
            message: format!("cannot read chat template ({}): {why}", te.file_loc),
        }
    })?;
    let sha256 = sha256_hex(&bytes);
    if let Some(expected) = &te.sha256 {
        if *expected != sha256 {
            return Err(Error::ShaMismatch {
                id: id.to_string(),
                loc: te.sha256_loc.clone(),
                file: te.file.clone(),
                expected: expected.clone(),
                actual: sha256,
            });
        }
    }
    Ok(FileContent { bytes, sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_read_again_must_still_have_its_hash() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.json");
        std::fs::write(&f, b"{}").unwrap();
        let sha = sha256_hex(b"{}");
        assert_eq!(read_again(&f, &sha).unwrap(), b"{}");
        std::fs::write(&f, b"{ }").unwrap();
        let e = read_again(&f, &sha).unwrap_err();
        assert!(
            e.starts_with("the file changed while it was loaded (sha256 44136fa3")
                && e.contains(&sha256_hex(b"{ }")),
            "{e}"
        );
        std::fs::remove_file(&f).unwrap();
        assert!(read_again(&f, &sha)
            .unwrap_err()
            .starts_with("cannot read it again: "));
    }
}
