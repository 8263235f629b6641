//! `prefix daemon`: the long-running service.
//!
//! Start-up loads the registries (errors here are fatal, exit 2), opens the SQLite store, binds
//! the HTTP address and runs a first full evaluation pass; then it reports ready (`/readyz`,
//! systemd READY=1). After that it re-evaluates on the cron schedule and whenever the config, a
//! prompt file or a tokenizer file changes (polled every `watch_interval_secs`); SIGHUP reloads.
//! A reload that fails keeps the running config, logs the error with file and line, and counts
//! `prefix_warden_config_reload_failures_total`. SIGTERM (or SIGINT) drains and exits 0.
//!
//! Invariant: events, logs and `/status` carry prompt ids, tokenizer labels, fingerprints and
//! token offsets, never prompt text.

mod alerts;
mod http;
mod ingest;
mod source;
mod systemd;
mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;

use crate::analyzer::{Analyzer, Evaluation};
use crate::cache_rules::Layout;
use crate::error::{Error, Result};
use crate::fingerprint::PrefixFingerprints;
use crate::metrics::*;
use crate::store::{Change, RecordInput, Store, TokenizerChange};
pub use alerts::{AlertEvent, Sinks};

#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// Run one evaluation pass, print the status as JSON and exit (no HTTP server)
    #[arg(long)]
    pub once: bool,
}

/// State shared between the evaluation loop and the HTTP handlers.
pub struct Shared {
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Set after the first full evaluation pass; drives `/readyz` and READY=1.
    pub ready: AtomicBool,
    pub status: RwLock<Status>,
    /// Per warm-up group, written by the groups themselves.
    pub warmups: crate::warmup::StatusMap,
    /// Registered prompt ids, for `/v1/usage` (others are counted as "unregistered").
    pub prompt_ids: RwLock<std::collections::HashSet<String>>,
    /// Bearer token `/v1/usage` requires, when configured.
    pub ingest_token: RwLock<Option<String>>,
}

/// What `/status` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    pub version: &'static str,
    pub config: PathBuf,
    pub started_at: f64,
    pub ready: bool,
    pub last_evaluation: Option<f64>,
    pub last_evaluation_errors: Vec<String>,
    pub last_reload_error: Option<String>,
    pub pairs: Vec<PairStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PairStatus {
    pub prompt: String,
    pub tokenizer: String,
    pub tokenizer_sha256: String,
    pub fingerprint: String,
    pub token_count: usize,
    /// Unix time this fingerprint was first seen (the last change).
    pub last_change: i64,
    pub changes_since_start: u64,
}

pub fn run(config: &Path, args: DaemonArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(serve(config.to_path_buf(), args))
}

struct Daemon {
    path: PathBuf,
    analyzer: Arc<Analyzer>,
    store: Arc<Mutex<Store>>,
    shared: Arc<Shared>,
    sinks: Sinks,
    fetcher: source::Fetcher,
    changes: BTreeMap<(String, String), u64>,
    /// Stops the running warm-up groups; replaced on every successful reload.
    warmup_stop: tokio::sync::watch::Sender<bool>,
}

async fn serve(path: PathBuf, args: DaemonArgs) -> Result<()> {
    let metrics = install().map_err(Error::Other)?;
    let analyzer = Arc::new(Analyzer::load(&path)?);
    let state_dir = analyzer.config.state_dir.clone();
    let db = state_dir.join("prefix-warden.sqlite");
    let store = Arc::new(Mutex::new(Store::open(&db)?));
    let shared = Arc::new(Shared {
        metrics,
        ready: AtomicBool::new(false),
        warmups: Default::default(),
        prompt_ids: RwLock::new(analyzer.prompts.iter().map(|p| p.id.clone()).collect()),
        ingest_token: RwLock::new(ingest_token(&analyzer.config)?),
        status: RwLock::new(Status {
            version: env!("CARGO_PKG_VERSION"),
            config: analyzer.config.path.clone(),
            started_at: now_secs(),
            ..Default::default()
        }),
    });
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::gauge!(START_TIME).set(now_secs());
    for result in ["success", "failure"] {
        metrics::counter!(EVALUATIONS, "result" => result).absolute(0);
    }
    metrics::counter!(CONFIG_RELOAD_FAILURES).absolute(0);
    // Series exist from the start, so rate() and increase() see the first event.
    for t in &analyzer.config.tokenizers {
        metrics::counter!(TOKENIZER_SOURCE_CHANGES, "tokenizer" => t.id.clone()).absolute(0);
    }
    let d = &analyzer.config.daemon;
    for (sink, on) in [
        ("alertmanager", d.alertmanager_url.is_some()),
        ("webhook", d.webhook_url.is_some()),
    ] {
        for result in ["success", "failure", "dropped"] {
            if on {
                metrics::counter!(ALERT_DELIVERIES, "sink" => sink, "result" => result).absolute(0);
            }
        }
    }
    let sinks = Sinks::new(
        analyzer.config.daemon.alertmanager_url.clone(),
        analyzer.config.daemon.webhook_url.clone(),
    );
    let mut d = Daemon {
        path,
        analyzer,
        store,
        shared: shared.clone(),
        sinks,
        fetcher: source::Fetcher::new(&state_dir),
        changes: BTreeMap::new(),
        warmup_stop: tokio::sync::watch::channel(false).0,
    };
    d.check_sources().await;
    if args.once {
        d.evaluate().await;
        let st = shared.status.read().expect("status lock").clone();
        println!(
            "{}",
            serde_json::to_string_pretty(&st).expect("serializable")
        );
        return Ok(());
    }

    let listen = d.analyzer.config.daemon.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Other(format!("cannot listen on {listen}: {e}")))?;
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(listen = %bound, config = %d.path.display(), "prefix-warden daemon listening");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let app = http::router(shared);
            let res = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "http server failed");
            }
        })
    };
    if let Some(e) = d.analyzer.config.emulator.clone() {
        start_emulator(&d.analyzer, &e, stop_rx.clone()).await?;
    }
    if let Some(every) = systemd::watchdog_interval() {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => systemd::watchdog(),
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        });
    }

    d.evaluate().await;
    d.start_warmups();
    d.shared.ready.store(true, Ordering::Release);
    d.shared.status.write().expect("status lock").ready = true;
    systemd::ready();
    tracing::info!(pairs = d.changes.len(), "ready");

    let mut sigterm = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut sighup = signal(tokio::signal::unix::SignalKind::hangup())?;
    let mut watched = watch::Snapshot::take(&d.analyzer);
    let mut sources = tokio::time::interval(Duration::from_secs(
        d.analyzer.config.daemon.source_poll_secs,
    ));
    sources.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    sources.tick().await; // the first tick is now, and start-up already checked
    loop {
        let schedule =
            crate::schedule::parse(&d.analyzer.config.daemon.schedule).map_err(Error::Other)?;
        let next = crate::schedule::until_next(&schedule).unwrap_or(Duration::from_secs(3600));
        let poll = Duration::from_secs(d.analyzer.config.daemon.watch_interval_secs);
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            _ = sighup.recv() => {
                tracing::info!("SIGHUP: reloading");
                if d.reload().await { d.evaluate().await; }
                watched = watch::Snapshot::take(&d.analyzer);
            }
            _ = sources.tick() => {
                if d.check_sources().await && d.reload().await {
                    d.evaluate().await;
                    watched = watch::Snapshot::take(&d.analyzer);
                }
            }
            _ = tokio::time::sleep(next) => {
                tracing::debug!("scheduled evaluation");
                d.evaluate().await;
            }
            _ = tokio::time::sleep(poll) => {
                let now = watch::Snapshot::take(&d.analyzer);
                if now != watched {
                    tracing::info!(changed = %now.describe_change(&watched), "watched files changed: reloading");
                    if d.reload().await { d.evaluate().await; }
                    watched = watch::Snapshot::take(&d.analyzer);
                }
            }
        }
    }
    tracing::info!("shutting down");
    systemd::stopping();
    let _ = d.warmup_stop.send(true);
    let _ = stop_tx.send(true);
    d.sinks.drain(Duration::from_secs(2)).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    Ok(())
}

/// Starts the provider emulator inside the daemon (`[emulator]`), until `stop` fires.
async fn start_emulator(
    a: &Analyzer,
    e: &crate::config::EmulatorSection,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    use crate::emulator::{Emulator, EmulatorConfig, Engine};
    let mut cfg = EmulatorConfig::hosted(&e.tokenizer);
    cfg.engine = match e.engine.as_str() {
        "vllm" => Engine::Vllm,
        "sglang" => Engine::Sglang,
        _ => Engine::Hosted,
    };
    let registry = Arc::new(crate::tokenizer::Registry::new(&a.config));
    let emulator = Emulator::new(registry, a.rules.clone(), cfg)?;
    let listener = tokio::net::TcpListener::bind(e.listen)
        .await
        .map_err(|err| Error::Other(format!("emulator: cannot listen on {}: {err}", e.listen)))?;
    tracing::info!(listen = %e.listen, engine = %e.engine, tokenizer = %e.tokenizer, "provider emulator started in-process");
    tokio::spawn(async move {
        let res = emulator
            .serve(listener, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(err) = res {
            tracing::error!(error = %err, "provider emulator failed");
        }
    });
    Ok(())
}

/// The `/v1/usage` bearer token from `daemon.ingest_token_file`, if configured.
fn ingest_token(c: &crate::config::Config) -> Result<Option<String>> {
    match &c.daemon.ingest_token_file {
        None => Ok(None),
        Some(p) => {
            let t = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            let t = t.trim().to_string();
            if t.is_empty() {
                return Err(Error::Other(format!(
                    "{}: the ingest token file is empty",
                    p.display()
                )));
            }
            Ok(Some(t))
        }
    }
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
        .map_err(|e| Error::Other(format!("cannot install a signal handler: {e}")))
}

impl Daemon {
    /// (Re)starts every warm-up group of the current config; the previous ones stop.
    fn start_warmups(&mut self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let _ = std::mem::replace(&mut self.warmup_stop, tx).send(true);
        let mut names = Vec::new();
        for (w, _) in &self.analyzer.config.warmups {
            match crate::warmup::Group::new(
                w.clone(),
                self.analyzer.clone(),
                self.shared.warmups.clone(),
            ) {
                Ok(g) => {
                    names.push(g.name().to_string());
                    tokio::spawn(g.schedule_loop(rx.clone()));
                }
                Err(e) => {
                    tracing::error!(group = %w.group, error = %e, "warm-up group not started");
                    names.push(w.group.clone());
                    let mut map = self.shared.warmups.lock().expect("warm-up status lock");
                    let s = map.entry(w.group.clone()).or_default();
                    s.last_result = Some("not_started".into());
                    s.last_error = Some(e.to_string());
                }
            }
        }
        self.shared
            .warmups
            .lock()
            .expect("warm-up status lock")
            .retain(|k, _| names.contains(k));
        if !names.is_empty() {
            tracing::info!(groups = ?names, "warm-up groups scheduled");
        }
    }

    /// Checks every tokenizer that has a `source`; true when a local copy was replaced.
    async fn check_sources(&mut self) -> bool {
        let entries: Vec<_> = self
            .analyzer
            .config
            .tokenizers
            .iter()
            .filter(|t| t.source.is_some())
            .cloned()
            .collect();
        let mut updated = false;
        for e in &entries {
            updated |= matches!(self.fetcher.check(e).await, source::Outcome::Updated { .. });
        }
        updated
    }

    /// Re-reads config, prompts and rules. On failure keeps the running ones and says why.
    async fn reload(&mut self) -> bool {
        systemd::reloading();
        let path = self.path.clone();
        let res = tokio::task::spawn_blocking(move || Analyzer::load(&path))
            .await
            .expect("reload task");
        let ok = match res {
            Ok(a) => {
                if a.config.daemon.listen != self.analyzer.config.daemon.listen {
                    tracing::warn!(old = %self.analyzer.config.daemon.listen, new = %a.config.daemon.listen, "daemon.listen changed; restart to rebind");
                }
                self.sinks = Sinks::new(
                    a.config.daemon.alertmanager_url.clone(),
                    a.config.daemon.webhook_url.clone(),
                );
                self.analyzer = Arc::new(a);
                self.shared
                    .status
                    .write()
                    .expect("status lock")
                    .last_reload_error = None;
                tracing::info!("config reloaded");
                true
            }
            Err(e) => {
                metrics::counter!(CONFIG_RELOAD_FAILURES).increment(1);
                tracing::error!(error = %e, "config reload failed; keeping the running config");
                self.shared
                    .status
                    .write()
                    .expect("status lock")
                    .last_reload_error = Some(e.to_string());
                false
            }
        };
        systemd::reloaded();
        ok
    }

    /// One pass: every (prompt, tokenizer) pair, per tokenizer so one broken file does not
    /// hide the others.
    async fn evaluate(&mut self) {
        let a = self.analyzer.clone();
        let store = self.store.clone();
        let results = tokio::task::spawn_blocking(move || evaluate_all(&a, &store))
            .await
            .expect("evaluation task");
        let now = now_secs();
        let mut errors = Vec::new();
        let mut pairs = Vec::new();
        for r in results {
            match r {
                Err(e) => {
                    tracing::error!(error = %e, "evaluation failed");
                    errors.push(e.to_string());
                }
                Ok(TokenizerPass {
                    tokenizer_change,
                    evaluations,
                }) => {
                    if let Some((label, old, new)) = tokenizer_change {
                        self.tokenizer_changed(&label, &old, &new);
                    }
                    for (ev, change, snapshot_since) in evaluations {
                        let labels = [
                            ("prompt", ev.prompt.clone()),
                            ("tokenizer", ev.tokenizer.clone()),
                        ];
                        metrics::gauge!(PROMPT_TOKENS, &labels).set(ev.fp.token_count as f64);
                        let key = (ev.prompt.clone(), ev.tokenizer.clone());
                        let mut count = self.changes.get(&key).copied().unwrap_or(0);
                        if let Change::Changed { previous } = &change {
                            count += 1;
                            metrics::gauge!(FINGERPRINT_LAST_CHANGE, &labels).set(now);
                            self.fingerprint_changed(&ev, &previous.fingerprints());
                        }
                        metrics::counter!(FINGERPRINT_CHANGES, &labels).absolute(count);
                        self.changes.insert(key, count);
                        pairs.push(PairStatus {
                            prompt: ev.prompt.clone(),
                            tokenizer: ev.tokenizer.clone(),
                            tokenizer_sha256: ev.identity.file_sha256.clone(),
                            fingerprint: ev.fp.fingerprint.clone(),
                            token_count: ev.fp.token_count,
                            last_change: snapshot_since,
                            changes_since_start: count,
                        });
                    }
                }
            }
        }
        let result = if errors.is_empty() {
            "success"
        } else {
            "failure"
        };
        metrics::counter!(EVALUATIONS, "result" => result).increment(1);
        if errors.is_empty() {
            metrics::gauge!(LAST_EVALUATION).set(now);
        }
        let mut st = self.shared.status.write().expect("status lock");
        st.last_evaluation = Some(now);
        st.last_evaluation_errors = errors;
        if !pairs.is_empty() {
            st.pairs = pairs;
        }
    }

    fn tokenizer_changed(&self, label: &str, old: &str, new: &str) {
        metrics::counter!(TOKENIZER_SOURCE_CHANGES, "tokenizer" => label.to_string()).increment(1);
        tracing::warn!(
            event = "tokenizer_source_changed",
            tokenizer = label,
            old_sha256 = old,
            new_sha256 = new,
            "the content behind a tokenizer label changed"
        );
        self.sinks.send(AlertEvent {
            alertname: "TokenizerSourceChanged".into(),
            severity: "warning".into(),
            labels: [("tokenizer".to_string(), label.to_string())].into(),
            summary: format!("tokenizer {label} changed content under the same label"),
            description: format!("sha256 {old} -> {new}; cached prefixes fingerprinted under the old file may no longer match"),
            details: serde_json::json!({"tokenizer": label, "old_sha256": old, "new_sha256": new}),
        });
    }

    fn fingerprint_changed(&self, ev: &Evaluation, prev: &PrefixFingerprints) {
        let a = &self.analyzer;
        let block = crate::fingerprint::first_divergent_block(&prev.blocks, &ev.fp.blocks)
            .unwrap_or(prev.blocks.len().min(ev.fp.blocks.len()));
        // Ids are not stored, so the common prefix is known to within one block.
        let lcp = block * ev.fp.block_size;
        let surviving: BTreeMap<String, usize> = a
            .prompts
            .iter()
            .find(|p| p.id == ev.prompt)
            .map(|p| {
                p.models
                    .iter()
                    .filter_map(|m| {
                        let ap = a.rules.for_model(m)?;
                        let ends_old: Vec<usize> =
                            prev.breakpoints.iter().map(|b| b.tokens).collect();
                        let ends_new: Vec<usize> =
                            ev.fp.breakpoints.iter().map(|b| b.tokens).collect();
                        let idx_old: Vec<usize> = (0..ends_old.len()).collect();
                        let idx_new: Vec<usize> = (0..ends_new.len()).collect();
                        let old = Layout {
                            len: prev.token_count,
                            block_ends: &ends_old,
                            breakpoints: &idx_old,
                        };
                        let new = Layout {
                            len: ev.fp.token_count,
                            block_ends: &ends_new,
                            breakpoints: &idx_new,
                        };
                        Some((m.clone(), ap.surviving(&old, &new, lcp)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        tracing::warn!(
            event = "fingerprint_changed",
            prompt = %ev.prompt,
            tokenizer = %ev.tokenizer,
            old_fingerprint = %prev.fingerprint,
            new_fingerprint = %ev.fp.fingerprint,
            old_tokens = prev.token_count,
            new_tokens = ev.fp.token_count,
            first_divergent_block = block,
            surviving = %serde_json::to_string(&surviving).unwrap_or_default(),
            "fingerprint changed"
        );
        self.sinks.send(AlertEvent {
            alertname: "PromptFingerprintChanged".into(),
            severity: "warning".into(),
            labels: [
                ("prompt".to_string(), ev.prompt.clone()),
                ("tokenizer".to_string(), ev.tokenizer.clone()),
            ]
            .into(),
            summary: format!(
                "fingerprint of prompt {} under {} changed",
                ev.prompt, ev.tokenizer
            ),
            description: format!(
                "{} -> {}; first divergent block {block} (token ~{lcp}); tokens {} -> {}",
                prev.fingerprint, ev.fp.fingerprint, prev.token_count, ev.fp.token_count
            ),
            details: serde_json::json!({
                "prompt": ev.prompt, "tokenizer": ev.tokenizer,
                "old_fingerprint": prev.fingerprint, "new_fingerprint": ev.fp.fingerprint,
                "first_divergent_block": block, "surviving_tokens": surviving,
            }),
        });
    }
}

/// The outcome of evaluating every prompt under one tokenizer.
struct TokenizerPass {
    /// (label, old sha256, new sha256) when the content behind the label changed.
    tokenizer_change: Option<(String, String, String)>,
    /// Each evaluation with what the store made of it and since when its fingerprint holds.
    evaluations: Vec<(Evaluation, Change, i64)>,
}

fn evaluate_all(a: &Analyzer, store: &Mutex<Store>) -> Vec<Result<TokenizerPass>> {
    let now = now_secs() as i64;
    a.config
        .tokenizers
        .iter()
        .map(|t| {
            let identity = a.tokenizers.identity(&t.id)?;
            let pairs: Vec<_> = a.prompts.iter().map(|p| (p, t.id.clone())).collect();
            let evals = a.evaluate(&pairs);
            a.tokenizers.unload(&t.id);
            let evals = evals?;
            let mut store = store.lock().expect("store lock");
            let tokenizer_change = match store.record_tokenizer(
                &t.id,
                &identity.format.to_string(),
                &identity.file_sha256,
                identity.spec_sha256.as_deref(),
                now,
            )? {
                TokenizerChange::ContentChanged { previous_sha256 } => {
                    Some((t.id.clone(), previous_sha256, identity.file_sha256.clone()))
                }
                _ => None,
            };
            let prompts_by_id: BTreeMap<&str, &crate::prompt::Prompt> =
                a.prompts.iter().map(|p| (p.id.as_str(), p)).collect();
            let mut evaluations = Vec::with_capacity(evals.len());
            for ev in evals {
                let p = prompts_by_id[ev.prompt.as_str()];
                let change = store.record(
                    &RecordInput {
                        prompt: &ev.prompt,
                        tokenizer: &ev.tokenizer,
                        tokenizer_sha256: &ev.identity.file_sha256,
                        spec_sha256: ev.identity.spec_sha256.as_deref(),
                        content_sha256: &p.content_sha256,
                        fingerprints: &ev.fp,
                    },
                    now,
                )?;
                let since = store
                    .stable_since(&ev.prompt, &ev.tokenizer)?
                    .unwrap_or(now);
                evaluations.push((ev, change, since));
            }
            Ok(TokenizerPass {
                tokenizer_change,
                evaluations,
            })
        })
        .collect()
}
