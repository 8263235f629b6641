//! The warm-up loop: per group, on a cron schedule with jitter, look up which color is live
//! *now* and send the smallest cache-writing request for each of the group's prompts to every
//! target of that color.
//!
//! Failing loudly: a lookup error, an unknown color or no targets means no warm-up, an error
//! log, `prefix_warden_warmup_runs_total{result="lookup_failed"|"no_targets"}`, and a
//! `prefix_warden_warmup_last_success_timestamp_seconds` that stops advancing. A brown-out
//! (the lookup failing briefly during a switch) is retried within the tick first.
//!
//! Never hurting live traffic: runs of one group never overlap (a tick that finds the last run
//! still going is skipped and counted); missed ticks are not replayed; responses are classified
//! by status first; retries honour `retry-after` with bounded, jittered backoff; and a run is
//! deferred (`deferred_budget`) when the provider's remaining rate-limit budget falls below
//! the group's reserve, which is kept for live traffic.

pub mod provider;
pub mod ratelimit;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::analyzer::Analyzer;
use crate::error::{Error, Result};
use crate::live_color::{Lookup, LookupConfig};
use crate::metrics::*;
use provider::{Outcome, ProviderKind, RequestOptions};
use ratelimit::Budget;

/// One `[[warmup]]` group of `daemon.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupConfig {
    pub group: String,
    /// Cron expression (5 or 6 fields).
    pub schedule: String,
    /// Each tick waits a random 0..jitter_secs more, so many groups do not fire together.
    #[serde(default)]
    pub jitter_secs: u64,
    pub provider: ProviderKind,
    pub model: String,
    /// Prompt ids to warm; a color that lists its prompts narrows this.
    pub prompts: Vec<String>,
    /// Environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// File holding the API key (relative to the config; `$CREDENTIALS_DIRECTORY/...` works).
    #[serde(default)]
    pub api_key_file: Option<String>,
    /// Anthropic cache TTL: "5m" or "1h".
    #[serde(default = "default_ttl")]
    pub ttl: String,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Fraction of every rate limit kept for live traffic: below it, warm-ups wait.
    #[serde(default = "default_reserve")]
    pub reserve_fraction: f64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts per request (retries of 429, 5xx and transport errors included).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Extra lookups within a tick before a failing lookup counts (brown-outs).
    #[serde(default = "default_brownout_retries")]
    pub brownout_retries: u32,
    #[serde(default = "default_brownout_delay_ms")]
    pub brownout_delay_ms: u64,
    pub lookup: LookupConfig,
}

fn default_ttl() -> String {
    "5m".into()
}
fn default_max_tokens() -> u32 {
    1
}
fn default_reserve() -> f64 {
    0.2
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_attempts() -> u32 {
    3
}
fn default_brownout_retries() -> u32 {
    2
}
fn default_brownout_delay_ms() -> u64 {
    2_000
}

impl WarmupConfig {
    /// Checks what serde cannot; returns (field, message).
    pub fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        if self.group.trim().is_empty() {
            return Err(("group", "must not be empty".into()));
        }
        crate::schedule::parse(&self.schedule).map_err(|e| ("schedule", e))?;
        if !matches!(self.ttl.as_str(), "5m" | "1h") {
            return Err(("ttl", format!("`{}`: expected \"5m\" or \"1h\"", self.ttl)));
        }
        if !(0.0..1.0).contains(&self.reserve_fraction) {
            return Err(("reserve_fraction", "must be at least 0 and below 1".into()));
        }
        if self.prompts.is_empty() {
            return Err(("prompts", "name at least one prompt".into()));
        }
        if self.max_attempts == 0 {
            return Err(("max_attempts", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// An API key. `Debug` never shows it; it is only sent in request headers.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Reads the group's key from its environment variable or file; `None` when neither is set.
pub fn api_key(cfg: &WarmupConfig, base_dir: &Path) -> Result<Option<ApiKey>> {
    if let Some(var) = &cfg.api_key_env {
        if let Some(v) = std::env::var_os(var)
            .and_then(|v| v.into_string().ok())
            .filter(|v| !v.trim().is_empty())
        {
            return Ok(Some(ApiKey(v.trim().to_string())));
        }
    }
    if let Some(f) = &cfg.api_key_file {
        let expanded = match std::env::var("CREDENTIALS_DIRECTORY") {
            Ok(d) => f.replace("$CREDENTIALS_DIRECTORY", &d),
            Err(_) => f.clone(),
        };
        let p = base_dir.join(expanded);
        let v = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        if !v.trim().is_empty() {
            return Ok(Some(ApiKey(v.trim().to_string())));
        }
    }
    match (&cfg.api_key_env, &cfg.api_key_file) {
        (None, None) => Ok(None),
        _ => Err(Error::Other(format!(
            "warm-up group `{}`: no API key (set {} or fill the key file)",
            cfg.group,
            cfg.api_key_env.as_deref().unwrap_or("the variable")
        ))),
    }
}

/// What `/status` shows per group.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupStatus {
    pub last_run: Option<f64>,
    pub last_result: Option<String>,
    pub last_success: Option<f64>,
    pub color: Option<String>,
    pub reason: Option<String>,
    pub last_error: Option<String>,
    pub requests: u64,
    /// Request latency quantiles in milliseconds (hdrhistogram, since start).
    pub latency_ms_p50: Option<u64>,
    pub latency_ms_p90: Option<u64>,
    pub latency_ms_p99: Option<u64>,
    pub latency_ms_max: Option<u64>,
}

pub type StatusMap = Arc<Mutex<BTreeMap<String, GroupStatus>>>;

/// A warm-up group ready to run.
pub struct Group {
    cfg: WarmupConfig,
    schedule: cron::Schedule,
    lookup: Lookup,
    key: Option<ApiKey>,
    client: reqwest::Client,
    analyzer: Arc<Analyzer>,
    options: RequestOptions,
    /// Set while a run is in flight: ticks that find it set are skipped, never queued.
    running: AtomicBool,
    /// The last budget the provider reported and when: a run starting before the reset while
    /// the budget is under the reserve is deferred without sending anything.
    budget: Mutex<Option<(Budget, Instant)>>,
    /// No request before this instant: set from `retry-after` on a 429, so the next run
    /// honours it too.
    not_before: Mutex<Option<Instant>>,
    latency: Mutex<hdrhistogram::Histogram<u64>>,
    status: StatusMap,
    /// Colors seen so far, so the live-color gauge can be set to 0 for the others.
    colors: Mutex<Vec<String>>,
}

impl Group {
    pub fn new(
        cfg: WarmupConfig,
        analyzer: Arc<Analyzer>,
        status: StatusMap,
    ) -> Result<Arc<Group>> {
        let base = analyzer.config.base_dir.clone();
        let schedule = crate::schedule::parse(&cfg.schedule).map_err(Error::Other)?;
        let lookup = Lookup::new(&cfg.lookup, &base)?;
        let key = api_key(&cfg, &base)?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .user_agent(concat!("prefix-warden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Other(format!("cannot build an HTTP client: {e}")))?;
        let breakpoints_api = analyzer
            .rules
            .for_model(&format!("{}/{}", model_provider(cfg.provider), cfg.model))
            .is_some_and(|a| {
                a.rule.kind == crate::cache_rules::RuleKind::Breakpoints
                    && a.rule.provider == "openai"
            });
        let options = RequestOptions {
            model: cfg.model.clone(),
            ttl: cfg.ttl.clone(),
            max_tokens: cfg.max_tokens,
            breakpoints_api,
        };
        metrics::gauge!(WARMUP_INTERVAL, "group" => cfg.group.clone())
            .set(crate::schedule::nominal_interval_secs(&schedule));
        for result in ["lookup_failed", "no_targets", "skipped_overlap"] {
            metrics::counter!(WARMUP_RUNS, "group" => cfg.group.clone(), "color" => "unknown", "result" => result).absolute(0);
        }
        Ok(Arc::new(Group {
            schedule,
            lookup,
            key,
            client,
            analyzer,
            options,
            running: AtomicBool::new(false),
            budget: Mutex::new(None),
            not_before: Mutex::new(None),
            latency: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000, 3).expect("valid bounds"),
            ),
            status,
            colors: Mutex::new(Vec::new()),
            cfg,
        }))
    }

    pub fn name(&self) -> &str {
        &self.cfg.group
    }

    /// Runs on the schedule until `stop` fires. Ticks are computed from the current time, so
    /// ticks missed while the process was paused are not replayed in a burst.
    pub async fn schedule_loop(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            let wait = crate::schedule::until_next(&self.schedule)
                .unwrap_or(Duration::from_secs(3600))
                + jitter(self.cfg.jitter_secs);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if self.running.swap(true, Ordering::AcqRel) {
                metrics::counter!(WARMUP_RUNS, "group" => self.cfg.group.clone(), "color" => "unknown", "result" => "skipped_overlap").increment(1);
                tracing::warn!(group = %self.cfg.group, "warm-up tick skipped: the previous run is still going");
                continue;
            }
            let g = self.clone();
            tokio::spawn(async move {
                g.run_once().await;
                g.running.store(false, Ordering::Release);
            });
        }
    }

    /// One run: lookup, then every (target, prompt). Returns the run's result label.
    pub async fn run_once(&self) -> &'static str {
        let group = self.cfg.group.clone();
        let now = now_secs();
        if let Some(why) = self.budget_exhausted() {
            self.finish("unknown", "deferred_budget", now, None, Some(why));
            return "deferred_budget";
        }
        let live = match self.resolve().await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(group = %group, lookup = %self.lookup.describe(), error = %e, "warm-up skipped: cannot tell which color is live");
                for c in self.colors.lock().expect("colors lock").iter() {
                    metrics::gauge!(LIVE_COLOR, "group" => group.clone(), "color" => c.clone())
                        .set(0.0);
                }
                let label = e.result_label();
                self.finish("unknown", label, now, None, Some(e.to_string()));
                return label;
            }
        };
        tracing::info!(group = %group, color = %live.color, targets = live.targets.len(), reason = %live.reason, "live color");
        {
            let mut colors = self.colors.lock().expect("colors lock");
            if !colors.contains(&live.color) {
                colors.push(live.color.clone());
            }
            for c in colors.iter() {
                metrics::gauge!(LIVE_COLOR, "group" => group.clone(), "color" => c.clone())
                    .set(if *c == live.color { 1.0 } else { 0.0 });
            }
        }
        let prompts: Vec<&crate::prompt::Prompt> = self
            .cfg
            .prompts
            .iter()
            .filter(|id| {
                live.prompts
                    .as_ref()
                    .is_none_or(|served| served.contains(id))
            })
            .filter_map(|id| self.analyzer.prompts.iter().find(|p| &p.id == id))
            .collect();
        let mut failed = false;
        let mut deferred = false;
        let mut last_error = None;
        for target in &live.targets {
            for p in &prompts {
                if deferred {
                    self.count_request(&p.id, "deferred_budget");
                    continue;
                }
                match self.warm(target, p).await {
                    RequestResult::Done => {}
                    RequestResult::Failed(why) => {
                        failed = true;
                        last_error = Some(why);
                    }
                    RequestResult::Deferred(why) => {
                        deferred = true;
                        last_error = Some(why);
                    }
                }
            }
        }
        let result = if failed {
            "failure"
        } else if deferred {
            "deferred_budget"
        } else {
            "success"
        };
        self.finish(&live.color, result, now, Some(&live), last_error);
        result
    }

    async fn resolve(
        &self,
    ) -> std::result::Result<crate::live_color::LiveColor, crate::live_color::LookupError> {
        let mut attempt = 0;
        loop {
            match self.lookup.resolve().await {
                Ok(l) => return Ok(l),
                Err(e) if attempt < self.cfg.brownout_retries => {
                    attempt += 1;
                    tracing::warn!(group = %self.cfg.group, attempt, error = %e, "lookup failed; retrying within the tick (brown-out?)");
                    tokio::time::sleep(Duration::from_millis(self.cfg.brownout_delay_ms)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn budget_exhausted(&self) -> Option<String> {
        if let Some(t) = *self.not_before.lock().expect("not_before lock") {
            if Instant::now() < t {
                return Some(format!(
                    "rate limited: retry-after has {} ms to go",
                    (t - Instant::now()).as_millis()
                ));
            }
        }
        let b = self.budget.lock().expect("budget lock");
        let (budget, at) = (*b)?;
        let still = budget.reset_in.is_none_or(|r| at.elapsed() < r);
        (budget.remaining_fraction < self.cfg.reserve_fraction && still).then(|| {
            format!(
                "rate-limit budget at {:.0}% is below the {:.0}% reserve for live traffic",
                budget.remaining_fraction * 100.0,
                self.cfg.reserve_fraction * 100.0
            )
        })
    }

    /// Warms one prompt on one target, with bounded retries.
    async fn warm(&self, target: &str, p: &crate::prompt::Prompt) -> RequestResult {
        let provider = self.cfg.provider;
        let (path, body) = provider::request(provider, p, &self.options);
        let mut attempt = 1;
        loop {
            let started = Instant::now();
            let (outcome, budget) = provider::send(
                &self.client,
                provider,
                target,
                self.key.as_ref(),
                path,
                &body,
            )
            .await;
            let elapsed = started.elapsed();
            metrics::histogram!(WARMUP_DURATION, "group" => self.cfg.group.clone())
                .record(elapsed.as_secs_f64());
            let _ = self
                .latency
                .lock()
                .expect("latency lock")
                .record((elapsed.as_millis() as u64).max(1));
            if let Some(b) = budget {
                *self.budget.lock().expect("budget lock") = Some((b, Instant::now()));
            }
            self.count_request(&p.id, outcome.label());
            match outcome {
                Outcome::Success(u) => {
                    let labels = [
                        ("prompt", p.id.clone()),
                        ("provider", provider.label().to_string()),
                        ("source", "warmup".to_string()),
                    ];
                    metrics::counter!(CACHE_READ_TOKENS, &labels).increment(u.cache_read);
                    metrics::counter!(CACHE_WRITE_TOKENS, &labels).increment(u.cache_write);
                    metrics::counter!(UNCACHED_INPUT_TOKENS, &labels).increment(u.uncached);
                    tracing::debug!(group = %self.cfg.group, prompt = %p.id, target, read = u.cache_read, write = u.cache_write, uncached = u.uncached, "warmed");
                    return match self.budget_exhausted() {
                        Some(why) => RequestResult::Deferred(why),
                        None => RequestResult::Done,
                    };
                }
                o if o.retryable() && attempt < self.cfg.max_attempts => {
                    let hint = match &o {
                        Outcome::RateLimited { retry_after } => *retry_after,
                        _ => None,
                    };
                    self.hold_off(hint);
                    let wait = hint
                        .unwrap_or_default()
                        .max(crate::backoff::backoff(Duration::from_secs(1), attempt))
                        .min(Duration::from_secs(120));
                    tracing::warn!(group = %self.cfg.group, prompt = %p.id, target, attempt, result = o.label(), wait_ms = wait.as_millis() as u64, "warm-up request failed; retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Outcome::RateLimited { retry_after } => {
                    self.hold_off(retry_after);
                    return RequestResult::Deferred(format!(
                        "{target}: still rate limited after {attempt} attempts"
                    ));
                }
                o => {
                    let why = format!("{target}: {} ({:?})", o.label(), o);
                    tracing::error!(group = %self.cfg.group, prompt = %p.id, target, result = o.label(), "warm-up request failed");
                    return RequestResult::Failed(why);
                }
            }
        }
    }

    /// After a 429: nothing goes out before `retry-after` (or 1 s without one), in this run
    /// or the next.
    fn hold_off(&self, retry_after: Option<Duration>) {
        *self.not_before.lock().expect("not_before lock") =
            Some(Instant::now() + retry_after.unwrap_or(Duration::from_secs(1)));
    }

    fn count_request(&self, prompt: &str, result: &'static str) {
        metrics::counter!(WARMUP_REQUESTS, "prompt" => prompt.to_string(), "provider" => self.cfg.provider.label(), "result" => result).increment(1);
        if let Some(s) = self
            .status
            .lock()
            .expect("status lock")
            .get_mut(&self.cfg.group)
        {
            s.requests += 1;
        }
    }

    fn finish(
        &self,
        color: &str,
        result: &'static str,
        started: f64,
        live: Option<&crate::live_color::LiveColor>,
        error: Option<String>,
    ) {
        let group = self.cfg.group.clone();
        metrics::counter!(WARMUP_RUNS, "group" => group.clone(), "color" => color.to_string(), "result" => result).increment(1);
        if result == "success" {
            metrics::gauge!(WARMUP_LAST_SUCCESS, "group" => group.clone()).set(now_secs());
        } else if let Some(e) = &error {
            tracing::warn!(group = %group, color, result, error = %e, "warm-up run did not succeed");
        }
        let h = self.latency.lock().expect("latency lock");
        let q = |v: f64| (!h.is_empty()).then(|| h.value_at_quantile(v));
        let mut map = self.status.lock().expect("status lock");
        let s = map.entry(group).or_default();
        s.last_run = Some(started);
        s.last_result = Some(result.to_string());
        if result == "success" {
            s.last_success = Some(now_secs());
        }
        s.color = live.map(|l| l.color.clone());
        s.reason = live.map(|l| l.reason.clone());
        s.last_error = error;
        s.latency_ms_p50 = q(0.5);
        s.latency_ms_p90 = q(0.9);
        s.latency_ms_p99 = q(0.99);
        s.latency_ms_max = (!h.is_empty()).then(|| h.max());
    }
}

enum RequestResult {
    Done,
    Failed(String),
    /// The budget reserve was reached: the rest of the run waits for the next tick.
    Deferred(String),
}

/// The `provider` part of `provider/model` names in the cache rules.
fn model_provider(k: ProviderKind) -> &'static str {
    match k {
        ProviderKind::Anthropic => "anthropic",
        ProviderKind::OpenaiChat | ProviderKind::OpenaiResponses => "openai",
        ProviderKind::OpenaiCompatible => "vllm",
    }
}

fn jitter(max_secs: u64) -> Duration {
    if max_secs == 0 {
        return Duration::ZERO;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ d.as_secs().rotate_left(17))
        .unwrap_or(0);
    Duration::from_millis(nanos % (max_secs * 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_never_show_in_debug_output() {
        let k = ApiKey("sk-ant-very-secret".into());
        assert_eq!(format!("{k:?}"), "ApiKey(<redacted>)");
        assert_eq!(format!("{:?}", Some(k.clone())), "Some(ApiKey(<redacted>))");
        assert_eq!(k.expose(), "sk-ant-very-secret");
    }

    #[test]
    fn keys_come_from_the_environment_or_a_file() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("key"), "  from-file \n").unwrap();
        let mut cfg: WarmupConfig = toml::from_str(
            "group = \"g\"\nschedule = \"* * * * *\"\nprovider = \"anthropic\"\nmodel = \"m\"\nprompts = [\"p\"]\n\
             api_key_file = \"key\"\nlookup = { backend = \"file\", path = \"x\" }\n",
        )
        .unwrap();
        assert_eq!(
            api_key(&cfg, d.path()).unwrap().unwrap().expose(),
            "from-file"
        );
        cfg.api_key_env = Some("PREFIX_WARDEN_TEST_KEY_UNSET".into());
        assert_eq!(
            api_key(&cfg, d.path()).unwrap().unwrap().expose(),
            "from-file",
            "file when the variable is unset"
        );
        std::fs::write(d.path().join("key"), "\n").unwrap();
        let e = api_key(&cfg, d.path()).unwrap_err().to_string();
        assert!(
            e.contains("no API key") && e.contains("PREFIX_WARDEN_TEST_KEY_UNSET"),
            "{e}"
        );
        cfg.api_key_env = None;
        cfg.api_key_file = None;
        assert!(
            api_key(&cfg, d.path()).unwrap().is_none(),
            "self-hosted engines need none"
        );
    }
}
