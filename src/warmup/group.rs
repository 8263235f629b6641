//! One warm-up group of one config generation: its schedule, lookup, key, client and prompts,
//! immutable; and the run that sends the warm-up requests.
//!
//! A group is built as part of a [`crate::daemon::Generation`]; a reload builds new groups and
//! stops the old schedule loops. A run already in flight finishes on the generation it started
//! with (it holds its `Arc<Group>`); the next tick runs on the new one. What must survive the
//! swap (in-flight flag, `retry-after`, budget, latency, the previous warm-up of each prompt
//! and target) is in [`super::state::GroupState`].
//!
//! Each request names the previous successful warm-up of its (prompt, target) as the
//! comparison ([`super::comparison`]); the answer's diagnosis is counted under
//! `source="warmup"`, and a miss with a reason is logged once, joined with what the daemon knows
//! changed since (a fingerprint change, a prompt edit, a model switch).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::comparison::{Explanation, FingerprintChanges, Previous};
use super::key::{api_key, ApiKey};
use super::provider::{self, Outcome, RequestOptions};
use super::state::{lock, GroupState, States};
use crate::analyzer::Analyzer;
use crate::clock::Clock;
use crate::config::WarmupConfig;
use crate::daemon::Shutdown;
use crate::error::{Error, Result};
use crate::live_color::{LiveColor, Lookup, LookupError};
use crate::metrics::*;
use crate::prompt::Prompt;
use crate::status::RunResult;

/// The longest a run waits before retrying a request; longer `retry-after`s defer the group.
const MAX_IN_RUN_WAIT: Duration = Duration::from_secs(10);

/// A warm-up group ready to run.
pub struct Group {
    cfg: WarmupConfig,
    schedule: cron::Schedule,
    lookup: Lookup,
    key: Option<ApiKey>,
    client: reqwest::Client,
    /// The generation's analyzer: the prompts a run sends are the ones this generation loaded.
    analyzer: Arc<Analyzer>,
    options: RequestOptions,
    state: Arc<GroupState>,
    /// The prompts' fingerprint changes, daemon-wide: a miss is joined with them.
    fingerprints: FingerprintChanges,
    /// Engines with `[[warmup.kv_events]]`: where each prompt's prefix is resident, and the
    /// tokenizer its ids came from.
    residency: Option<(crate::residency::Residency, String)>,
    /// This replica's fleet, when `[cluster]` is set: the group warms only at ticks it holds.
    fleet: Option<crate::cluster::Cluster>,
}

impl Group {
    /// Builds a group from its config; every failure (lookup, key, schedule) is an error that
    /// rejects the generation whole. `index` is the group's position, for messages.
    pub fn new(cfg: WarmupConfig, analyzer: Arc<Analyzer>, states: &States) -> Result<Arc<Group>> {
        let base = analyzer.config.base_dir.clone();
        let schedule = crate::schedule::parse(&cfg.schedule).map_err(Error::Other)?;
        let lookup = Lookup::new(&cfg.lookup, &base)?;
        let key = api_key(&cfg, &base)?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .user_agent(concat!("prefix-warden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Other(format!("cannot build an HTTP client: {e}")))?;
        let model = format!("{}/{}", cfg.provider.provider().label(), cfg.model);
        let breakpoints_api = analyzer.rules.for_model(&model).is_some_and(|a| {
            a.rule.kind == crate::cache_rules::RuleKind::Breakpoints && a.rule.provider == "openai"
        });
        let options = RequestOptions {
            model: cfg.model.clone(),
            ttl: cfg.ttl,
            max_tokens: cfg.max_tokens,
            breakpoints_api,
            diagnostics: cfg.diagnostics,
        };
        let residency = crate::residency::for_warmup(&cfg, &analyzer)?;
        Ok(Arc::new(Group {
            residency,
            fleet: states.fleet().cloned(),
            state: states.get(&cfg.group),
            fingerprints: states.fingerprint_changes().clone(),
            schedule,
            lookup,
            key,
            client,
            analyzer,
            options,
            cfg,
        }))
    }

    pub fn name(&self) -> &str {
        &self.cfg.group
    }

    pub fn config(&self) -> &WarmupConfig {
        &self.cfg
    }

    /// Seconds between two ticks of the schedule.
    pub fn interval_secs(&self) -> f64 {
        crate::schedule::nominal_interval_secs(&self.schedule)
    }

    /// Publishes the group's interval and zeroed series; called when its generation goes live,
    /// never for a generation that was rejected.
    pub fn publish(&self) {
        let group = self.cfg.group.clone();
        metrics::gauge!(WARMUP_INTERVAL, "group" => group.clone()).set(self.interval_secs());
        for result in [
            RunResult::LookupFailed,
            RunResult::NoTargets,
            RunResult::SkippedOverlap,
            RunResult::Panicked,
        ] {
            metrics::counter!(WARMUP_RUNS, "group" => group.clone(), "color" => "unknown", "result" => result.label()).absolute(0);
        }
        lock(&self.state.status).interval_secs = self.interval_secs();
        // Prompts this group no longer warms have nothing to be compared with.
        self.state.comparisons.retain_prompts(&self.cfg.prompts);
    }

    /// Runs on the schedule until `stop` fires (the generation was replaced or the daemon is
    /// stopping). Ticks are computed from the clock's now, so ticks missed while the process
    /// was paused are not replayed in a burst.
    pub async fn schedule_loop(self: Arc<Self>, stop: Shutdown, clock: Clock) {
        loop {
            let wait = crate::schedule::until_next(&self.schedule, clock.now())
                .unwrap_or(Duration::from_secs(3600))
                + jitter(self.cfg.jitter_secs);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait() => return,
            }
            if stop.is_set() {
                return;
            }
            self.clone().spawn_run(clock);
        }
    }

    /// Starts one run in its own task unless one is in flight (then the tick is skipped and
    /// counted). A panic in the run is caught at the task boundary, counted as `panicked`, and
    /// cannot leave the group wedged: the in-flight flag is cleared by the run guard's drop.
    pub fn spawn_run(self: Arc<Self>, clock: Clock) -> Option<tokio::task::JoinHandle<RunResult>> {
        let Some(guard) = self.state.try_start() else {
            self.count_run("unknown", RunResult::SkippedOverlap);
            tracing::warn!(group = %self.cfg.group, "warm-up tick skipped: the previous run is still going");
            return None;
        };
        let g = self.clone();
        let run = tokio::spawn(async move {
            let _guard = guard;
            g.run_once(clock).await
        });
        Some(tokio::spawn(async move {
            match run.await {
                Ok(r) => r,
                Err(e) => {
                    // The payload may quote data; only the fact is reported.
                    let why = if e.is_panic() {
                        "the run panicked"
                    } else {
                        "the run was cancelled"
                    };
                    tracing::error!(group = %self.cfg.group, "{why}; the group keeps its schedule");
                    self.count_run("unknown", RunResult::Panicked);
                    self.state
                        .set_result(RunResult::Panicked, Some(why.to_string()));
                    RunResult::Panicked
                }
            }
        }))
    }

    /// One tick: in a fleet, only the replica holding the group runs it (the others count a
    /// standby and stop here); then the run, and a hand-over if another replica is preferred.
    pub async fn run_once(&self, clock: Clock) -> RunResult {
        let Some(fleet) = &self.fleet else {
            return self.run(clock).await;
        };
        let tick = self.scheduled_tick(clock.now());
        let claim = fleet.claim(&self.cfg.group, tick).await;
        lock(&self.state.status).holder = match &claim {
            crate::cluster::Claim::Run | crate::cluster::Claim::AlreadyWarmed => {
                Some(fleet.name().to_string())
            }
            crate::cluster::Claim::Standby { holder } => holder.clone(),
            crate::cluster::Claim::EtcdLost => None,
        };
        if claim != crate::cluster::Claim::Run {
            tracing::debug!(group = %self.cfg.group, decision = claim.label(), "warm-up tick left to the group's holder");
            return RunResult::Standby;
        }
        let result = self.run(clock).await;
        fleet.after_run(&self.cfg.group, tick).await;
        result
    }

    /// The scheduled time (Unix seconds) of the tick a run starting at `now` belongs to: the
    /// schedule's last time at most `jitter_secs` (+1) before `now`, which every replica
    /// computes alike whatever its own jitter.
    fn scheduled_tick(&self, now: chrono::DateTime<chrono::Utc>) -> i64 {
        let from = now - chrono::Duration::seconds(self.cfg.jitter_secs as i64 + 1);
        self.schedule
            .after(&from)
            .next()
            .filter(|t| *t <= now)
            .map_or(now.timestamp(), |t| t.timestamp())
    }

    /// Whether this replica may send the group's next request (always, outside a fleet).
    fn may_send(&self) -> bool {
        self.fleet
            .as_ref()
            .is_none_or(|f| f.still_holds(&self.cfg.group))
    }

    /// One run: lookup, then every (target, prompt).
    async fn run(&self, clock: Clock) -> RunResult {
        let group = self.cfg.group.clone();
        let started = clock.unix();
        if let Some(why) = self.budget_exhausted() {
            self.finish(clock, RunResult::DeferredBudget, started, None, Some(why));
            return RunResult::DeferredBudget;
        }
        let live = match self.resolve().await {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(group = %group, lookup = %self.lookup.describe(), error = %e, "warm-up skipped: cannot tell which color is live");
                for c in lock(&self.state.colors).iter() {
                    metrics::gauge!(LIVE_COLOR, "group" => group.clone(), "color" => c.clone())
                        .set(0.0);
                }
                let result = match e {
                    LookupError::NoTargets(_) => RunResult::NoTargets,
                    _ => RunResult::LookupFailed,
                };
                self.finish(clock, result, started, None, Some(e.to_string()));
                return result;
            }
        };
        tracing::info!(group = %group, color = %live.color, targets = live.targets.len(), reason = %live.reason, "live color");
        {
            let mut colors = lock(&self.state.colors);
            if !colors.contains(&live.color) {
                colors.push(live.color.clone());
            }
            for c in colors.iter() {
                metrics::gauge!(LIVE_COLOR, "group" => group.clone(), "color" => c.clone())
                    .set(if *c == live.color { 1.0 } else { 0.0 });
            }
        }
        let prompts: Vec<&Prompt> = self
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
        let (mut read, mut written, mut write_reported) = (0u64, 0u64, false);
        // What the events say at decision time (so an eviction between ticks shows), for the
        // live color's targets.
        self.export_residency(&live.targets);
        let mut skipped = 0usize;
        let mut lost_lease = false;
        for target in &live.targets {
            for p in &prompts {
                if deferred {
                    self.count_request(&p.id, "deferred_budget");
                    continue;
                }
                if !lost_lease && !self.may_send() {
                    // The lease could not be renewed in time: another replica may hold the
                    // group any moment, so not one more request from here.
                    tracing::error!(group = %group, "lease lost during the run: the rest of it is not sent");
                    lost_lease = true;
                }
                if lost_lease {
                    self.count_request(&p.id, "lease_lost");
                    failed = true;
                    last_error = Some("this replica's lease was lost during the run".into());
                    continue;
                }
                if let Some((r, _)) = &self.residency {
                    if r.shared.decide(target, &p.id) == crate::residency::Decision::Resident {
                        self.count_request(&p.id, "skipped_resident");
                        skipped += 1;
                        continue;
                    }
                }
                match self.warm(clock, target, p).await {
                    RequestResult::Done(u) => {
                        read += u.cache_read;
                        written += u.cache_write;
                        write_reported |= u.write_reported;
                    }
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
            RunResult::Failure
        } else if deferred {
            RunResult::DeferredBudget
        } else {
            RunResult::Success
        };
        tracing::info!(group = %group, color = %live.color, targets = %live.targets.join(","), result = %result, cache_read_tokens = read, cache_write_tokens = %WriteTokens(written, write_reported), skipped_resident = skipped, "warm-up run");
        self.finish(clock, result, started, Some(&live), last_error);
        result
    }

    async fn resolve(&self) -> std::result::Result<LiveColor, LookupError> {
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
        if let Some(t) = *lock(&self.state.not_before) {
            let now = Instant::now();
            if now < t {
                return Some(format!(
                    "rate limited: retry-after has {} ms to go",
                    (t - now).as_millis()
                ));
            }
        }
        let (budget, at) = (*lock(&self.state.budget))?;
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
    async fn warm(&self, clock: Clock, target: &str, p: &Prompt) -> RequestResult {
        let provider = self.cfg.provider;
        let previous = self
            .state
            .comparisons
            .get(&p.id, target, provider)
            .filter(|_| provider::names_comparison(provider, &self.options));
        let (path, body) = provider::request(
            provider,
            p,
            &self.options,
            previous.as_ref().map(|v| v.id.as_str()),
        );
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
            let _ = lock(&self.state.latency).record((elapsed.as_millis() as u64).max(1));
            if let Some(b) = budget {
                *lock(&self.state.budget) = Some((b, Instant::now()));
            }
            self.count_request(&p.id, outcome.label());
            match outcome {
                Outcome::Success(answer) => {
                    let u = answer.usage;
                    self.diagnosed(target, p, previous.as_ref(), &answer.diagnosis);
                    if let Some(id) = answer.id {
                        let at = clock.now();
                        self.state.comparisons.record(
                            &p.id,
                            target,
                            Previous {
                                id,
                                api: provider,
                                model: self.options.model.clone(),
                                content_sha256: p.content_sha256.clone(),
                                at,
                            },
                        );
                    }
                    let labels = [
                        ("prompt", p.id.clone()),
                        ("provider", provider.provider().label().to_string()),
                        ("source", "warmup".to_string()),
                    ];
                    metrics::counter!(CACHE_READ_TOKENS, &labels).increment(u.cache_read);
                    metrics::counter!(CACHE_WRITE_TOKENS, &labels).increment(u.cache_write);
                    metrics::counter!(UNCACHED_INPUT_TOKENS, &labels).increment(u.uncached);
                    tracing::debug!(group = %self.cfg.group, prompt = %p.id, target, read = u.cache_read, write = u.cache_write, uncached = u.uncached, "warmed");
                    return match self.budget_exhausted() {
                        Some(why) => RequestResult::Deferred(why),
                        None => RequestResult::Done(u),
                    };
                }
                // A provider asking for a long pause ends the run (counted as deferred); the
                // next runs are deferred until then. Sleeping it off inside the run would hold
                // the group, every tick skipped, for as long as the provider says.
                Outcome::RateLimited {
                    retry_after: Some(hint),
                } if hint > MAX_IN_RUN_WAIT => {
                    self.hold_off(Some(hint));
                    return RequestResult::Deferred(format!(
                        "{target}: rate limited for {} s",
                        hint.as_secs()
                    ));
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
                        .min(MAX_IN_RUN_WAIT);
                    tracing::warn!(group = %self.cfg.group, prompt = %p.id, target, attempt, result = o.label(), wait_ms = wait.as_millis() as u64, "warm-up request failed; retrying");
                    tokio::time::sleep(wait).await;
                    if !self.may_send() {
                        // The lease lapsed during the wait: another replica may hold the group.
                        self.count_request(&p.id, "lease_lost");
                        return RequestResult::Failed(format!(
                            "{target}: this replica's lease was lost before the retry"
                        ));
                    }
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

    /// Counts the diagnosis of a warm-up that named `previous` as its comparison (a first
    /// warm-up's is not counted: it was compared with nothing), and logs a miss with a reason
    /// once, joined with what changed since. A malformed diagnostics object is counted as
    /// `result="malformed"` and logged; the warm-up itself succeeded (its usage was good).
    fn diagnosed(
        &self,
        target: &str,
        p: &Prompt,
        previous: Option<&Previous>,
        diagnosis: &Option<std::result::Result<crate::diagnostics::Diagnosis, String>>,
    ) {
        let (Some(prev), Some(d)) = (previous, diagnosis) else {
            return;
        };
        let provider = self.cfg.provider.provider().label();
        let d = match d {
            Ok(d) => d,
            Err(e) => {
                crate::daemon::ingest::count_malformed_diagnosis(&p.id, provider, "warmup");
                let e = self.analyzer.redactor().clean(e);
                tracing::warn!(group = %self.cfg.group, prompt = %p.id, target_url = target, error = %e, "warm-up answer's cache diagnostics unreadable; usage counted, diagnosis not");
                return;
            }
        };
        crate::daemon::ingest::count_diagnosis(&p.id, provider, "warmup", d);
        if let crate::diagnostics::Diagnosis::Miss {
            reason,
            missed_tokens,
        } = *d
        {
            let why = Explanation::of(
                reason,
                prev,
                &self.options.model,
                &p.content_sha256,
                &p.id,
                &self.fingerprints,
            );
            tracing::warn!(
                group = %self.cfg.group,
                prompt = %p.id,
                // Not `target`: the JSON log's own `target` is the module.
                target_url = target,
                model = %self.options.model,
                reason = reason.label(),
                missed_tokens,
                explained_by = why.label(),
                changed_at = why.changed_at(),
                previous_model = why.previous_model(),
                "warm-up missed the cache"
            );
        }
    }

    /// After a 429: nothing goes out before `retry-after` (or 1 s without one), in this run
    /// or the next.
    fn hold_off(&self, retry_after: Option<Duration>) {
        *lock(&self.state.not_before) =
            Some(Instant::now() + retry_after.unwrap_or(Duration::from_secs(1)));
    }

    /// What the KV-cache events say now, as metrics and `/status` (each run, before its
    /// decisions). A host that is not a live target exports no warmable tokens (0), so the
    /// eviction-pressure rule counts the live color's hosts only.
    fn export_residency(&self, live: &[String]) {
        let Some((r, tokenizer)) = &self.residency else {
            // A reload that removed the group's kv_events leaves nothing stale behind.
            lock(&self.state.status).residency.clear();
            return;
        };
        let group = self.cfg.group.clone();
        let hosts = r.shared.hosts();
        lock(&self.state.status).residency = hosts
            .iter()
            .map(|(host, v)| crate::status::HostResidency {
                host: host.clone(),
                unknown: v.unknown.map(|u| u.label().to_string()),
                last_seq: v.last_seq,
                hash_checked: v.hash_checked,
                prompts: v
                    .prefixes
                    .iter()
                    .map(|p| crate::status::PromptResidency {
                        prompt: p.id.clone(),
                        gpu_tokens: p.gpu_tokens,
                        other_tokens: p.other_tokens,
                        warmable_tokens: p.warmable_tokens,
                        hash_disagreements: p.hash_disagreements,
                    })
                    .collect(),
            })
            .collect();
        for (host, v) in hosts {
            let known = v.unknown.is_none();
            metrics::gauge!(KV_HOST_KNOWN, "group" => group.clone(), "host" => host.clone())
                .set(if known { 1.0 } else { 0.0 });
            metrics::counter!(KV_EVENTS, "group" => group.clone(), "host" => host.clone())
                .absolute(v.counts.events);
            metrics::counter!(KV_DROPPED_BLOCKS, "group" => group.clone(), "host" => host.clone())
                .absolute(v.counts.dropped_blocks);
            if v.hash_checked {
                metrics::counter!(KV_HASH_CHECKS, "group" => group.clone(), "host" => host.clone())
                    .absolute(v.counts.hash_checks);
                metrics::counter!(KV_HASH_DISAGREEMENTS, "group" => group.clone(), "host" => host.clone())
                    .absolute(v.counts.hash_disagreements);
            }
            for p in &v.prefixes {
                for (medium, tokens) in [("gpu", p.gpu_tokens), ("other", p.other_tokens)] {
                    metrics::gauge!(KV_RESIDENT_TOKENS, "group" => group.clone(), "prompt" => p.id.clone(), "tokenizer" => tokenizer.clone(), "host" => host.clone(), "medium" => medium)
                        .set(if known { tokens as f64 } else { 0.0 });
                }
                if let Some(w) = p.warmable_tokens {
                    let w = if live.contains(&host) { w } else { 0 };
                    metrics::gauge!(KV_WARMABLE_TOKENS, "group" => group.clone(), "prompt" => p.id.clone(), "tokenizer" => tokenizer.clone(), "host" => host.clone())
                        .set(w as f64);
                }
            }
        }
        let (bad, gaps) = r.shared.tallies();
        for ((host, kind), n) in bad {
            metrics::counter!(KV_BAD_FRAMES, "group" => group.clone(), "host" => host, "kind" => kind)
                .absolute(n);
        }
        for ((host, replayed), n) in gaps {
            let result = if replayed { "replayed" } else { "lost" };
            metrics::counter!(KV_GAPS, "group" => group.clone(), "host" => host, "result" => result)
                .absolute(n);
        }
    }

    fn count_request(&self, prompt: &str, result: &'static str) {
        metrics::counter!(WARMUP_REQUESTS, "prompt" => prompt.to_string(), "provider" => self.cfg.provider.provider().label(), "result" => result).increment(1);
        lock(&self.state.status).requests += 1;
    }

    fn count_run(&self, color: &str, result: RunResult) {
        metrics::counter!(WARMUP_RUNS, "group" => self.cfg.group.clone(), "color" => color.to_string(), "result" => result.label()).increment(1);
    }

    fn finish(
        &self,
        clock: Clock,
        result: RunResult,
        started: f64,
        live: Option<&LiveColor>,
        error: Option<String>,
    ) {
        let group = self.cfg.group.clone();
        self.count_run(live.map_or("unknown", |l| l.color.as_str()), result);
        if result == RunResult::Success {
            metrics::gauge!(WARMUP_LAST_SUCCESS, "group" => group.clone()).set(clock.unix());
        } else if let Some(e) = &error {
            tracing::warn!(group = %group, result = %result, error = %e, "warm-up run did not succeed");
        }
        let h = lock(&self.state.latency);
        let q = |v: f64| (!h.is_empty()).then(|| h.value_at_quantile(v));
        let mut s = lock(&self.state.status);
        s.last_run = Some(started);
        s.runs += 1;
        s.last_result = Some(result);
        if result == RunResult::Success {
            s.last_success = Some(clock.unix());
        }
        s.color = live.map(|l| l.color.clone());
        s.reason = live.map(|l| l.reason.clone());
        s.targets = live.map(|l| l.targets.clone()).unwrap_or_default();
        s.last_error = error;
        s.latency_ms_p50 = q(0.5);
        s.latency_ms_p90 = q(0.9);
        s.latency_ms_p99 = q(0.99);
        s.latency_ms_max = (!h.is_empty()).then(|| h.max());
    }
}

/// The `cache_write_tokens` of a warm-up run's log line: the sum, or `not_reported` when no
/// answer of the run reported writes (OpenAI before GPT-5.6, Gemini), so that a cold run on such
/// a provider does not read as "nothing written" (issue #20, item 9).
struct WriteTokens(u64, bool);

impl std::fmt::Display for WriteTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteTokens(n, true) => write!(f, "{n}"),
            WriteTokens(_, false) => f.write_str("not_reported"),
        }
    }
}

enum RequestResult {
    Done(crate::usage::Usage),
    Failed(String),
    /// The budget reserve was reached: the rest of the run waits for the next tick.
    Deferred(String),
}

fn jitter(max_secs: u64) -> Duration {
    if max_secs == 0 {
        return Duration::ZERO;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ d.as_secs().rotate_left(17))
        .unwrap_or(0);
    Duration::from_millis(nanos % (max_secs.saturating_mul(1000)).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreported_writes_log_as_not_reported_not_zero() {
        assert_eq!(WriteTokens(0, false).to_string(), "not_reported");
        assert_eq!(WriteTokens(0, true).to_string(), "0");
        assert_eq!(WriteTokens(1200, true).to_string(), "1200");
    }

    /// A group whose lookup names a color without targets: every run ends `no_targets`
    /// without any network IO.
    fn group(dir: &std::path::Path, schedule: &str, states: &States) -> Arc<Group> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let analyzer = Arc::new(Analyzer::load(&root.join("daemon.toml")).unwrap());
        let live = dir.join("live.json");
        std::fs::write(
            &live,
            r#"{"live": "blue", "colors": {"blue": {"targets": []}}}"#,
        )
        .unwrap();
        let cfg: WarmupConfig = toml::from_str(&format!(
            "group = \"g\"\nschedule = \"{schedule}\"\nprovider = \"vllm\"\nmodel = \"Qwen3-32B\"\n\
             prompts = [\"cline-claude-sonnet-4\"]\nbrownout_retries = 0\n\
             lookup = {{ backend = \"file\", path = \"{}\" }}\n",
            live.display()
        ))
        .unwrap();
        Group::new(cfg, analyzer, states).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_schedule_runs_on_the_injected_clock() {
        let d = tempfile::tempdir().unwrap();
        let states = States::default();
        let g = group(d.path(), "*/5 * * * * *", &states);
        let (stop_all, stop) = crate::daemon::shutdown();
        let clock = Clock::tokio();
        tokio::spawn(g.clone().schedule_loop(stop, clock));
        // An hour of ticks every 5 s, in paused time: no real second passes.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        stop_all.fire();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let s = states.get("g").status();
        assert_eq!(s.runs, 720, "{s:?}");
        assert_eq!(s.last_result, Some(RunResult::NoTargets));
        assert!(!states.get("g").is_running());
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_run_is_counted_and_the_group_keeps_running() {
        let d = tempfile::tempdir().unwrap();
        let states = States::default();
        let g = group(d.path(), "*/5 * * * * *", &states);
        let clock = Clock::tokio();
        // A run that panics mid-way, as the absurd reset header once made one do.
        let state = states.get("g");
        let guard = state.try_start().unwrap();
        let r = tokio::spawn(async move {
            let _guard = guard;
            panic!("run failed");
        })
        .await;
        assert!(r.unwrap_err().is_panic());
        assert!(!state.is_running(), "the flag is cleared on unwinding");
        // The next tick runs normally.
        let next = g
            .clone()
            .spawn_run(clock)
            .expect("not wedged")
            .await
            .unwrap();
        assert_eq!(next, RunResult::NoTargets);
    }
}
