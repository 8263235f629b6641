//! `[[watch]]` sources: pages (a provider's deprecation page, where retirement dates are
//! amended in place) and files whose content is compared with what was seen last. A change is
//! logged as a warning, counted in `prefix_warden_watch_fetches_total{result="changed"}` and
//! stamped in `prefix_warden_watch_last_change_timestamp_seconds`, which the
//! `PromptCacheWatchedPageChanged` rule alerts on. What changed is for a person to read at
//! the source: nothing of the content is kept but its sha256.
//!
//! The last hash and the time of the last change persist in `state_dir/watch/<name>`, so a
//! restart neither forgets a change nor reports the first read as one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Source, Watch};
use crate::metrics::{WATCH_FETCHES, WATCH_LAST_CHANGE};
use crate::tokenizer::sha256_hex;

/// Largest page or file read.
const MAX_BYTES: usize = 8 << 20;

/// What one read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The first read: the baseline.
    First,
    Unchanged,
    Changed,
    Failed,
}

impl Seen {
    fn label(self) -> &'static str {
        match self {
            Seen::First => "first",
            Seen::Unchanged => "unchanged",
            Seen::Changed => "changed",
            Seen::Failed => "failed",
        }
    }
}

pub struct Pages {
    client: reqwest::Client,
    dir: PathBuf,
}

impl Pages {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent(concat!("prefix-warden/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("a TLS client"),
            dir: state_dir.join("watch"),
        }
    }

    fn state_file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// (sha256, unix seconds of the last change or 0) from the state file.
    fn load(&self, name: &str) -> Option<(String, i64)> {
        let b = crate::bounded::read_limited(&self.state_file(name), 4096).ok()?;
        let s = String::from_utf8(b).ok()?;
        let mut it = s.split_whitespace();
        let sha = it.next()?.to_string();
        let at = it.next().and_then(|t| t.parse().ok()).unwrap_or(0);
        (sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then_some((sha, at))
    }

    fn save(&self, name: &str, sha: &str, at: i64) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, format!("{sha} {at}\n"))?;
        std::fs::rename(tmp, self.state_file(name))
    }

    /// Exports the persisted last-change times (at start, before any read).
    pub fn export_known(&self, watches: &[(Watch, crate::config::Loc)]) {
        for (w, _) in watches {
            for r in ["first", "unchanged", "changed", "failed"] {
                metrics::counter!(WATCH_FETCHES, "watch" => w.name.clone(), "result" => r)
                    .absolute(0);
            }
            if let Some((_, at)) = self.load(&w.name).filter(|(_, at)| *at > 0) {
                metrics::gauge!(WATCH_LAST_CHANGE, "watch" => w.name.clone()).set(at as f64);
            }
        }
    }

    async fn read(&self, source: &Source) -> Result<Vec<u8>, String> {
        match source {
            Source::Path(p) => {
                crate::bounded::read_limited(p, MAX_BYTES as u64).map_err(|e| e.to_string())
            }
            Source::Url(u) => {
                let mut r = self
                    .client
                    .get(u)
                    .send()
                    .await
                    .map_err(|e| format!("GET failed: {e}"))?;
                if !r.status().is_success() {
                    return Err(format!("HTTP {}", r.status().as_u16()));
                }
                let mut body = Vec::new();
                while let Some(chunk) = r.chunk().await.map_err(|e| format!("read failed: {e}"))? {
                    if body.len() + chunk.len() > MAX_BYTES {
                        return Err(format!("larger than {MAX_BYTES} bytes"));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(body)
            }
        }
    }

    /// Reads one source and compares it with the last content seen.
    pub async fn check(&self, w: &Watch, now: i64) -> Seen {
        let seen = match self.read(&w.source).await {
            Err(e) => {
                tracing::warn!(watch = %w.name, source = %w.source, error = %e, "watched source unreadable");
                Seen::Failed
            }
            Ok(body) => {
                let sha = sha256_hex(&body);
                match self.load(&w.name) {
                    Some((old, _)) if old == sha => Seen::Unchanged,
                    Some((old, _)) => {
                        tracing::warn!(
                            watch = %w.name,
                            source = %w.source,
                            old_sha256 = %&old[..12],
                            new_sha256 = %&sha[..12],
                            "watched source changed: read it (retirement dates are amended in place) and update data/model-lifecycle.toml"
                        );
                        metrics::gauge!(WATCH_LAST_CHANGE, "watch" => w.name.clone())
                            .set(now as f64);
                        self.persist(&w.name, &sha, now);
                        Seen::Changed
                    }
                    None => {
                        tracing::info!(watch = %w.name, source = %w.source, sha256 = %&sha[..12], "watched source: first read");
                        self.persist(&w.name, &sha, 0);
                        Seen::First
                    }
                }
            }
        };
        metrics::counter!(WATCH_FETCHES, "watch" => w.name.clone(), "result" => seen.label())
            .increment(1);
        seen
    }

    fn persist(&self, name: &str, sha: &str, at: i64) {
        if let Err(e) = self.save(name, sha, at) {
            tracing::error!(watch = %name, error = %e, "cannot record the watched source's hash");
        }
    }
}
