//! Counting tokenizers: for hosted models whose tokenizer is private (every Claude after
//! Claude 2), the provider's own count of a prompt's request is the fingerprint. A count that
//! moves for the same request means the provider changed its tokenizer or its framing.
//!
//! Only the daemon and `prefix fingerprint --remote` count; `prefix check` never calls a
//! provider. Counts are cached under `state_dir/counts/`, keyed by the request (endpoint,
//! model and body) and the UTC day, so each (prompt, model) costs at most one call a day.
//! The fingerprint of such a pair is `count:<model>:<n>`, of kind `count`.
//!
//! [`boundaries`]: block lengths of request logs for a model no tokenizer serves (`simulate`
//! and `discover`, counted only with `--remote`).

pub mod boundaries;
mod request;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::analyzer::{Analyzer, Evaluation};
use crate::config::TokenizerEntry;
use crate::error::{Error, Result};
use crate::fingerprint::{FingerprintKind, PrefixFingerprints};
use crate::prompt::Prompt;

pub use request::USER;

/// What every call to a counting tokenizer's provider needs: its `[tokenizer.count]` entry,
/// the name errors use, the API key and an HTTP client with the entry's timeout.
pub(crate) struct Counter<'a> {
    pub spec: &'a crate::config::CountEntry,
    pub what: String,
    pub key: Option<crate::warmup::ApiKey>,
    pub client: reqwest::Client,
}

impl<'a> Counter<'a> {
    pub fn new(a: &Analyzer, entry: &'a TokenizerEntry) -> Result<Counter<'a>> {
        let spec = entry.count.as_ref().ok_or_else(|| {
            Error::Other(format!(
                "tokenizer `{}` is not a counting tokenizer",
                entry.id
            ))
        })?;
        let what = format!("tokenizer `{}`", entry.id);
        let key = crate::warmup::key_from(
            spec.api_key_env.as_deref(),
            spec.api_key_file.as_deref(),
            &a.config.base_dir,
            &what,
        )?;
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(spec.timeout_secs))
            .build()
            .map_err(|e| Error::Other(format!("{what}: {e}")))?;
        Ok(Counter {
            spec,
            what,
            key,
            client,
        })
    }
}

/// Counts every prompt of `prompts` under the counting tokenizer `entry`.
pub async fn evaluate(
    a: &Analyzer,
    entry: &TokenizerEntry,
    prompts: &[&Prompt],
    now: DateTime<Utc>,
) -> Result<Vec<Evaluation>> {
    let Counter {
        spec: c,
        what,
        key,
        client,
    } = Counter::new(a, entry)?;
    let identity = crate::tokenizer::identity_of(entry)?;
    let dir = a.config.state_dir.join("counts");
    let day = now.format("%Y-%m-%d").to_string();
    let mut out = Vec::with_capacity(prompts.len());
    for p in prompts {
        let (url, body) = request::build(entry.format, c, p)
            .map_err(|m| Error::Other(format!("{what}, prompt `{}`: {m}", p.id)))?;
        let cache = cache_path(&dir, &url, &body, &day);
        let (n, from_cache) = match read_cached(&cache) {
            Some(n) => (n, true),
            None => {
                let n = request::send(&client, entry.format, &url, &body, key.as_ref())
                    .await
                    .map_err(|m| Error::Other(format!("{what}, prompt `{}`: {m}", p.id)))?;
                write_cached(&dir, &cache, &day, n);
                (n, false)
            }
        };
        out.push(Evaluation {
            prompt: p.id.clone(),
            tokenizer: entry.id.clone(),
            identity: identity.clone(),
            fp: PrefixFingerprints {
                token_count: n as usize,
                fingerprint: format!("count:{}:{n}", c.model),
                breakpoints: Vec::new(),
                block_size: a.config.block_size,
                blocks: Vec::new(),
            },
            kind: FingerprintKind::Count,
            from_cache,
        });
    }
    Ok(out)
}

fn cache_path(dir: &Path, url: &str, body: &serde_json::Value, day: &str) -> PathBuf {
    let key = crate::tokenizer::sha256_hex(format!("{url}\0{body}").as_bytes());
    dir.join(format!("{key}-{day}.json"))
}

fn read_cached(p: &Path) -> Option<u64> {
    let b = crate::bounded::read_limited(p, 4096).ok()?;
    serde_json::from_slice::<serde_json::Value>(&b).ok()?["count"].as_u64()
}

/// Writes the count (atomically) and removes counts of other days. A failure to cache is
/// logged, not fatal: the next pass asks again.
fn write_cached(dir: &Path, p: &Path, day: &str, n: u64) {
    let r = std::fs::create_dir_all(dir).and_then(|_| {
        let mut t = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(
            &mut t,
            serde_json::json!({ "count": n }).to_string().as_bytes(),
        )?;
        t.persist(p).map(|_| ()).map_err(|e| e.error)
    });
    if let Err(e) = r {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot cache a token count");
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for f in rd.filter_map(|e| e.ok()).map(|e| e.path()) {
            let stale = f
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".json") && !n.ends_with(&format!("-{day}.json")));
            if stale {
                let _ = std::fs::remove_file(f);
            }
        }
    }
}
