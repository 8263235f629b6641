//! Hosted models' retirement dates as data (`data/model-lifecycle.toml`, each entry with the
//! page it comes from): which registered or warmed model is retiring or retired. Dates are UTC
//! days; a model retires at the start of its day.

use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::cache_rules::glob_match;
use crate::error::{line_of_offset, Error, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLifecycle {
    #[serde(default = "default_warn_days")]
    warn_days: u32,
    #[serde(default, rename = "model")]
    models: Vec<RawEntry>,
}

fn default_warn_days() -> u32 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    provider: String,
    models: Vec<String>,
    retires: String,
    source: String,
}

/// One provider announcement: these models retire on this day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    pub provider: String,
    pub models: Vec<String>,
    pub retires: NaiveDate,
    pub source: String,
}

#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    /// Days before retirement from which a model is reported as retiring.
    pub warn_days: u32,
    pub entries: Vec<Retirement>,
}

/// Where a model stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The data has no entry for the model's provider (Gemini, self-hosted engines): nothing is
    /// known either way.
    Unknown,
    /// The provider's retirements are in the data and none is due within the warning window.
    Current,
    /// Retires in this many days (within the window).
    Retiring(i64),
    /// Retired this many days ago (0: today).
    Retired(i64),
}

/// Most entries in the data file.
const MAX_ENTRIES: usize = 10_000;

impl Lifecycle {
    pub fn load(path: &Path) -> Result<Self> {
        Self::parse(path, &crate::data_file::read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let invalid = |line, field: String, message: String| Error::Invalid {
            file: path.to_path_buf(),
            line,
            field,
            message,
        };
        let raw: RawLifecycle = crate::data_file::parse(path, text)?;
        if raw.models.len() > MAX_ENTRIES {
            return Err(invalid(
                1,
                "model".into(),
                format!("more than {MAX_ENTRIES} entries"),
            ));
        }
        let mut entries = Vec::with_capacity(raw.models.len());
        for (i, e) in raw.models.into_iter().enumerate() {
            // The line of this entry's `retires`, for messages.
            let line = text
                .match_indices("[[model]]")
                .nth(i)
                .map(|(o, _)| line_of_offset(text, o))
                .unwrap_or(1);
            let retires = NaiveDate::parse_from_str(&e.retires, "%Y-%m-%d").map_err(|_| {
                invalid(
                    line,
                    format!("model[{i}].retires"),
                    format!("`{}` is not a date (YYYY-MM-DD)", e.retires),
                )
            })?;
            if e.models.is_empty() || e.source.trim().is_empty() {
                return Err(invalid(
                    line,
                    format!("model[{i}]"),
                    "needs at least one model and a source".into(),
                ));
            }
            entries.push(Retirement {
                provider: e.provider,
                models: e.models,
                retires,
                source: e.source,
            });
        }
        Ok(Self {
            warn_days: raw.warn_days,
            entries,
        })
    }

    /// The entry for `provider/model`, if any (the first that matches).
    pub fn for_model(&self, name: &str) -> Option<&Retirement> {
        let (provider, model) = name.split_once('/')?;
        self.entries
            .iter()
            .find(|e| e.provider == provider && e.models.iter().any(|p| glob_match(p, model)))
    }

    /// Whether the data lists any retirement of `provider/model`'s provider: only then does a
    /// model without an entry count as current.
    pub fn covers(&self, name: &str) -> bool {
        let provider = name.split_once('/').map_or(name, |(p, _)| p);
        self.entries.iter().any(|e| e.provider == provider)
    }

    /// Where `provider/model` stands on `today`.
    pub fn status(&self, name: &str, today: NaiveDate) -> Status {
        match self.for_model(name) {
            None if !self.covers(name) => Status::Unknown,
            None => Status::Current,
            Some(e) => {
                let days = (e.retires - today).num_days();
                if days <= 0 {
                    Status::Retired(-days)
                } else if days <= i64::from(self.warn_days) {
                    Status::Retiring(days)
                } else {
                    Status::Current
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    const DATA: &str = r#"
warn_days = 30

[[model]]
provider = "anthropic"
models = ["claude-sonnet-4-5", "claude-sonnet-4-5-2*"]
retires = "2026-11-30"
source = "https://example.test/deprecations"
"#;

    #[test]
    fn retiring_within_the_window_retired_from_the_day() {
        let l = Lifecycle::parse(Path::new("l.toml"), DATA).unwrap();
        let m = "anthropic/claude-sonnet-4-5";
        assert_eq!(l.status(m, day("2026-10-30")), Status::Current);
        assert_eq!(l.status(m, day("2026-10-31")), Status::Retiring(30));
        assert_eq!(l.status(m, day("2026-11-29")), Status::Retiring(1));
        assert_eq!(l.status(m, day("2026-11-30")), Status::Retired(0));
        assert_eq!(l.status(m, day("2026-12-01")), Status::Retired(1));
        assert_eq!(
            l.status("anthropic/claude-sonnet-4-5-20250929", day("2026-12-01")),
            Status::Retired(1)
        );
        // Not a prefix match: a newer model of the same family is not retired with it.
        assert_eq!(
            l.status("anthropic/claude-sonnet-4-6", day("2026-12-01")),
            Status::Current
        );
        // Issue #20: a provider the data does not cover is unknown, not current.
        assert_eq!(
            l.status("openai/claude-sonnet-4-5", day("2026-12-01")),
            Status::Unknown
        );
        assert_eq!(
            l.status("vllm/Qwen3-8B", day("2026-12-01")),
            Status::Unknown
        );
    }

    #[test]
    fn a_bad_date_is_one_line_with_its_line_and_field() {
        let bad = DATA.replace("2026-11-30", "30 Nov 2026");
        let e = Lifecycle::parse(Path::new("l.toml"), &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("l.toml:4: model[0].retires: `30 Nov 2026` is not a date"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        let unknown = DATA.replace("source =", "bogus = 1\nsource =");
        let e = Lifecycle::parse(Path::new("l.toml"), &unknown)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus") && !e.contains("serde"), "{e}");
    }

    #[test]
    fn the_shipped_data_parses_and_names_a_source_for_every_entry() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/model-lifecycle.toml");
        let l = Lifecycle::load(&p).unwrap();
        assert!(l.entries.len() >= 5);
        assert!(l.entries.iter().all(|e| e.source.starts_with("https://")));
        assert_eq!(
            l.for_model("anthropic/claude-sonnet-4-5")
                .map(|e| e.retires),
            Some(day("2026-11-30"))
        );
    }
}
