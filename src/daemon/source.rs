//! Tokenizer sources: keeping the local copy of a tokenizer (`file`) in step with where it
//! comes from (`source`: an https URL, or another local path).
//!
//! A check downloads conditionally (ETag / If-Modified-Since, so an unchanged file costs one
//! 304), gunzips, verifies the content against the pinned sha256 when there is one and by
//! loading it as a tokenizer, keeps the raw bytes in a content-addressed cache directory
//! (`state_dir/tokenizer-cache/<sha256>`), and replaces `file` atomically (temp file + rename
//! in the same directory). A download that fails or does not verify leaves the last good copy
//! in place and says why. Every check is counted in
//! `prefix_warden_tokenizer_source_fetches_total{tokenizer,result}`.
//!
//! Invariant: this module and the alert sinks are the daemon's only network clients; the
//! analyzer reads local files only.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Source, TokenizerEntry};
use crate::metrics::TOKENIZER_SOURCE_FETCHES;
use crate::tokenizer::{gunzip_if_needed, read_spec, sha256_hex, Tokenizer};

/// What a check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The source has the content the local copy has (or answered 304).
    Unchanged,
    /// The local copy was replaced with new, verified content.
    Updated {
        old_sha256: Option<String>,
        new_sha256: String,
    },
    /// New content arrived but failed verification; the last good copy was kept.
    Rejected(String),
    /// The source could not be read; the last good copy was kept.
    Failed(String),
}

impl Outcome {
    fn result(&self) -> &'static str {
        match self {
            Outcome::Unchanged => "unchanged",
            Outcome::Updated { .. } => "updated",
            Outcome::Rejected(_) => "rejected",
            Outcome::Failed(_) => "failed",
        }
    }
}

#[derive(Default, Clone)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

pub struct Fetcher {
    client: reqwest::Client,
    cache_dir: PathBuf,
    /// Conditional-request validators per tokenizer label, from the last 200 answer.
    validators: HashMap<String, Validators>,
    /// Largest download accepted, so a misconfigured URL cannot fill the disk.
    max_bytes: usize,
}

impl Fetcher {
    pub fn new(state_dir: &Path) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("prefix-warden/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client with a timeout builds");
        Self {
            client,
            cache_dir: state_dir.join("tokenizer-cache"),
            validators: HashMap::new(),
            max_bytes: crate::bounded::TOKENIZER_BYTES as usize,
        }
    }

    /// Checks one tokenizer's source and updates its local copy when the content changed.
    pub async fn check(&mut self, entry: &TokenizerEntry) -> Outcome {
        let Some(source) = &entry.source else {
            return Outcome::Unchanged;
        };
        let outcome = match source {
            Source::Url(url) => match self.download(&entry.id, url).await {
                Ok(Some((raw, validators))) => self.accept(entry, raw, Some(validators)).await,
                Ok(None) => Outcome::Unchanged,
                Err(e) => Outcome::Failed(e),
            },
            Source::Path(p) => {
                let (p, max) = (p.clone(), self.max_bytes as u64);
                match tokio::task::spawn_blocking(move || crate::bounded::read_limited(&p, max))
                    .await
                {
                    Ok(Ok(raw)) => self.accept(entry, raw, None).await,
                    Ok(Err(e)) => Outcome::Failed(e.to_string()),
                    Err(e) => Outcome::Failed(format!("read task failed: {e}")),
                }
            }
        };
        metrics::counter!(TOKENIZER_SOURCE_FETCHES, "tokenizer" => entry.id.clone(), "result" => outcome.result()).increment(1);
        match &outcome {
            Outcome::Unchanged => {
                tracing::debug!(tokenizer = %entry.id, "tokenizer source unchanged")
            }
            Outcome::Updated {
                old_sha256,
                new_sha256,
            } => tracing::info!(
                tokenizer = %entry.id, source = %source, old_sha256 = old_sha256.as_deref().unwrap_or("none"),
                new_sha256 = %new_sha256, "tokenizer source has new content; local copy replaced"
            ),
            Outcome::Rejected(why) => tracing::error!(
                tokenizer = %entry.id, source = %source, error = %why, "new tokenizer content rejected; keeping the last good copy"
            ),
            Outcome::Failed(why) => tracing::warn!(
                tokenizer = %entry.id, source = %source, error = %why, "cannot read tokenizer source; keeping the last good copy"
            ),
        }
        outcome
    }

    /// The body and its validators, or `Ok(None)` on 304 Not Modified.
    async fn download(
        &self,
        label: &str,
        url: &str,
    ) -> Result<Option<(Vec<u8>, Validators)>, String> {
        let v = self.validators.get(label).cloned().unwrap_or_default();
        let mut req = self.client.get(url);
        if let Some(e) = &v.etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        if let Some(m) = &v.last_modified {
            req = req.header(reqwest::header::IF_MODIFIED_SINCE, m);
        }
        let resp = req.send().await.map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        let header = |h| {
            resp.headers()
                .get(h)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(String::from)
        };
        let fresh = Validators {
            etag: header(reqwest::header::ETAG),
            last_modified: header(reqwest::header::LAST_MODIFIED),
        };
        let body = crate::body::read_limited(resp, self.max_bytes)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        Ok(Some((body, fresh)))
    }

    /// Verifies and installs `raw`. Validators are kept only once the content is accepted, so
    /// a rejected download is fetched again next time instead of being answered 304 forever.
    async fn accept(
        &mut self,
        entry: &TokenizerEntry,
        raw: Vec<u8>,
        validators: Option<Validators>,
    ) -> Outcome {
        let entry2 = entry.clone();
        let cache_dir = self.cache_dir.clone();
        let res = tokio::task::spawn_blocking(move || verify_and_install(&entry2, &cache_dir, raw))
            .await
            .unwrap_or_else(|e| Outcome::Failed(format!("verification task failed: {e}")));
        if matches!(res, Outcome::Updated { .. } | Outcome::Unchanged) {
            if let Some(v) = validators {
                self.validators.insert(entry.id.clone(), v);
            }
        }
        res
    }
}

fn verify_and_install(entry: &TokenizerEntry, cache_dir: &Path, raw: Vec<u8>) -> Outcome {
    let content = match gunzip_if_needed(raw.clone()) {
        Ok(c) => c,
        Err(e) => return Outcome::Rejected(e.to_string()),
    };
    let new_sha = sha256_hex(&content);
    let old_sha = crate::bounded::read_limited(&entry.file, crate::bounded::TOKENIZER_BYTES)
        .ok()
        .and_then(|b| gunzip_if_needed(b).ok())
        .map(|b| sha256_hex(&b));
    if old_sha.as_deref() == Some(new_sha.as_str()) {
        return Outcome::Unchanged;
    }
    if let Some(pinned) = &entry.sha256 {
        if *pinned != new_sha {
            return Outcome::Rejected(format!(
                "sha256 mismatch: pinned {pinned}, source has {new_sha}"
            ));
        }
    }
    // Content-addressed copy first: it is what gets installed, and it stays for forensics.
    let cached = cache_dir.join(&new_sha);
    if let Err(e) = write_atomic(&cached, &raw) {
        return Outcome::Failed(format!("{}: {e}", cached.display()));
    }
    // Verify it is a usable tokenizer of the declared format before it replaces anything.
    let spec = match &entry.spec {
        Some(p) => match read_spec(&entry.id, p) {
            Ok((s, sha)) => Some((p.as_path(), s, sha)),
            Err(e) => return Outcome::Rejected(e.to_string()),
        },
        None => None,
    };
    if let Err(e) = Tokenizer::load_file(&entry.id, &cached, entry.format, spec) {
        return Outcome::Rejected(format!("not a usable {} tokenizer: {e}", entry.format));
    }
    // The live copy goes under state_dir, never beside the configured file (the config
    // directory is read-only under the shipped unit); the next generation reads it from there.
    let Some(dest) = &entry.source_copy else {
        return Outcome::Failed(
            "no place for the fetched copy (config not loaded from a file)".into(),
        );
    };
    if let Err(e) = write_atomic(dest, &raw) {
        return Outcome::Failed(format!("{}: {e}", dest.display()));
    }
    Outcome::Updated {
        old_sha256: old_sha,
        new_sha256: new_sha,
    }
}

/// Writes `bytes` to `path` so readers see the old content or the new, never a mix.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
