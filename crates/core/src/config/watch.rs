//! `[[watch]]`: a page or file whose content the daemon watches (a provider's deprecation page,
//! where retirement dates are amended in place). A change is logged, counted and alerted; what
//! changed is for a person to read at the source.

use serde::Deserialize;

/// As written in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatch {
    /// A label for metrics and logs (`[A-Za-z0-9._-]`, unique).
    pub name: String,
    /// An https URL, or a local path (relative to the config), like a tokenizer `source`.
    pub source: String,
}

/// A validated `[[watch]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watch {
    pub name: String,
    pub source: super::Source,
}
