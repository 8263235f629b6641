//! The library's error type: one enum whose variants callers branch on, each rendering as one
//! lower-case line that names the file, line and field where there is one.
//!
//! Messages never contain prompt text: a prompt is named by its id, its file and a line or byte
//! offset, never by quoting it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Bad input at a known place: config, prompt definition, tokenizer entry.
    #[error("{}:{line}: {}{message}", file.display(), field_prefix(field))]
    Invalid {
        file: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
    #[error("unknown tokenizer `{id}` (known: {})", known.join(", "))]
    UnknownTokenizer { id: String, known: Vec<String> },
    #[error("unknown prompt `{id}` (known: {})", known.join(", "))]
    UnknownPrompt { id: String, known: Vec<String> },
    /// The file behind a tokenizer label is not the one that was pinned.
    #[error("{loc}: tokenizer `{id}`: sha256 mismatch for {}: pinned {expected}, file has {actual}", file.display())]
    ShaMismatch {
        id: String,
        loc: Loc,
        file: PathBuf,
        expected: String,
        actual: String,
    },
    /// A tokenizer file exists but cannot be used (corrupt, unsupported).
    #[error("tokenizer `{id}` ({}): {message}", file.display())]
    Tokenizer {
        id: String,
        file: PathBuf,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

/// Where a value came from: the config file and the 1-based line of the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loc {
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The 1-based line number of byte `offset` in `text`.
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    line_of_offset_bytes(text.as_bytes(), offset)
}

/// The 1-based line of byte `offset` in raw bytes (input that may not be UTF-8).
pub fn line_of_offset_bytes(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
