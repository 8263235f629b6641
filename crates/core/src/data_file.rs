//! Reading the shipped TOML data files (`data/cache-rules.toml`, `data/model-lifecycle.toml`):
//! bounded, UTF-8, and every error one line naming the file, line and field.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{line_of_offset, Error, Result};

/// The text of a data file, at most [`crate::bounded::SMALL_FILE_BYTES`].
pub fn read(path: &Path) -> Result<String> {
    let bytes = crate::bounded::read_limited(path, crate::bounded::SMALL_FILE_BYTES)?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Other(format!("{}: not valid UTF-8", path.display())))
}

/// `text` (read from `path`) as a `T`; errors name the line and the field path.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    let invalid = |line, field: String, message: String| Error::Invalid {
        file: path.to_path_buf(),
        line,
        field,
        message,
    };
    let de = toml::Deserializer::parse(text).map_err(|e| {
        invalid(
            e.span().map(|s| line_of_offset(text, s.start)).unwrap_or(1),
            String::new(),
            e.message().into(),
        )
    })?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        invalid(
            inner
                .span()
                .map(|s| line_of_offset(text, s.start))
                .unwrap_or(1),
            field,
            inner.message().into(),
        )
    })
}
