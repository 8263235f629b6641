//! One generation of daemon state: everything built from one loaded config, as one immutable
//! value.
//!
//! The analyzer (config, prompts, tokenizers, cache rules), the warm-up groups with their
//! schedules, lookups and keys, the prompt ids and bearer token `/v1/usage` checks against,
//! where alerts go, and the emulator section are built together by [`Generation::build`]. A
//! reload (SIGHUP, or a changed config, prompt or tokenizer file) builds the next generation
//! and swaps it in whole; if any part fails to build, the whole new generation is rejected and
//! the running one stays. Nothing that depends on the config keeps a copy of its own: readers
//! take the current generation from the daemon's `watch` channel.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crate::analyzer::Analyzer;
use crate::config::EmulatorSection;
use crate::error::{Error, Result};
use crate::warmup::{Group, States};

/// Everything the daemon runs on, from one config.
pub struct Generation {
    /// 1 for the config loaded at start, +1 for each accepted reload.
    pub number: u64,
    pub analyzer: Arc<Analyzer>,
    /// The daemon's own re-evaluation schedule.
    pub schedule: cron::Schedule,
    pub warmups: Vec<Arc<Group>>,
    pub ingest: IngestPolicy,
    pub alerts: AlertTargets,
    pub emulator: Option<EmulatorSection>,
}

/// What `POST /v1/usage` checks a batch against.
pub struct IngestPolicy {
    /// Registered prompt ids; others are counted as `unregistered`.
    pub prompt_ids: HashSet<String>,
    /// The bearer token required, read from `daemon.ingest_token_file` when the generation was
    /// built (rotating the file and reloading replaces it).
    pub token: Option<String>,
}

/// Where fingerprint and tokenizer alerts go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertTargets {
    pub alertmanager: Option<String>,
    pub webhook: Option<String>,
}

impl Generation {
    /// Builds a generation from the config at `path`, whole or not at all. Blocking (reads
    /// files); run it off the async threads.
    pub fn build(path: &Path, number: u64, states: &States) -> Result<Generation> {
        let analyzer = Arc::new(Analyzer::load(path)?);
        let c = &analyzer.config;
        let schedule = crate::schedule::parse(&c.daemon.schedule).map_err(Error::Other)?;
        let token = ingest_token(c)?;
        let mut warmups = Vec::new();
        for (i, (w, loc)) in c.warmups.iter().enumerate() {
            let g =
                Group::new(w.clone(), analyzer.clone(), states).map_err(|e| Error::Invalid {
                    file: loc.file.clone(),
                    line: loc.line,
                    field: format!("warmup[{i}]"),
                    message: format!("group `{}`: {e}", w.group),
                })?;
            warmups.push(g);
        }
        Ok(Generation {
            number,
            schedule,
            warmups,
            ingest: IngestPolicy {
                prompt_ids: analyzer.prompts.iter().map(|p| p.id.clone()).collect(),
                token,
            },
            alerts: AlertTargets {
                alertmanager: c.daemon.alertmanager_url.clone(),
                webhook: c.daemon.webhook_url.clone(),
            },
            emulator: c.emulator.clone(),
            analyzer,
        })
    }
}

/// The `/v1/usage` and `/status` bearer token from `daemon.ingest_token_file`, if configured.
fn ingest_token(c: &crate::config::Config) -> Result<Option<String>> {
    c.daemon
        .ingest_token_file
        .as_deref()
        .map(read_token_file)
        .transpose()
}

/// A bearer token file: UTF-8, trimmed, not empty (also read by `prefix status`).
pub fn read_token_file(p: &std::path::Path) -> Result<String> {
    let t = crate::bounded::read_limited(p, 4096)?;
    let t = String::from_utf8(t).map_err(|_| {
        Error::Other(format!(
            "{}: the ingest token file is not UTF-8",
            p.display()
        ))
    })?;
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err(Error::Other(format!(
            "{}: the ingest token file is empty",
            p.display()
        )));
    }
    Ok(t)
}
