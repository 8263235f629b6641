//! `prefix daemon`: the long-running service.
//!
//! Start-up builds the first [`Generation`] from the config (errors here are fatal, exit 2),
//! opens the SQLite store, binds the HTTP address and runs a first full evaluation pass; then
//! it reports ready (`/readyz`, systemd READY=1). After that it re-evaluates on the cron
//! schedule; a SIGHUP, or a change of the config, a prompt file or a tokenizer file, builds the
//! next generation and swaps it in whole (see [`generation`]). A reload that fails keeps the
//! running generation, logs the error with file and line, shows it in `/status` and counts
//! `prefix_warden_config_reload_failures_total`. SIGTERM (or SIGINT) drains and exits 0.
//!
//! # Layout
//! - [`generation`]: everything built from one config, immutable, swapped whole.
//! - [`lifecycle`]: the named shutdown signal and readiness latch.
//! - `workers`: the tasks a generation runs (warm-up loops, the in-process emulator).
//! - `evaluation`: one pass over every (prompt, tokenizer) pair, and the events of a change.
//! - `http`, `ingest`: the endpoints; `alerts`: delivery; `source`: tokenizer sources;
//!   `watch`: file change detection; `systemd`: sd_notify.
//!
//! Invariant: events, logs and `/status` carry prompt ids, tokenizer labels, fingerprints and
//! token offsets, never prompt text.

mod alerts;
mod auth;
mod evaluation;
pub mod generation;
mod http;
pub mod ingest;
pub mod lifecycle;
mod pages;
mod source;
mod status_page;
mod systemd;
mod watch;
mod workers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::metrics::*;
use crate::status::Status;
use crate::store::Store;
pub use alerts::{AlertEvent, Outbox};
pub use generation::{AlertTargets, Generation};
pub use lifecycle::{shutdown, Readiness, Shutdown, ShutdownTrigger};

#[derive(clap::Args, Debug)]
pub struct DaemonArgs {
    /// Run one evaluation pass, print the status as JSON and exit (no HTTP server)
    #[arg(long)]
    pub once: bool,
}

/// State the HTTP handlers share with the daemon loop.
pub struct Shared {
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// Set after the first full evaluation pass; drives `/readyz` and READY=1.
    pub ready: Readiness,
    /// The evaluation part of `/status`, written by the daemon loop after each pass.
    pub status: RwLock<Status>,
    /// Warm-up state by group name, written by the groups themselves.
    pub warmups: crate::warmup::States,
    /// The current generation: ingest reads its prompt ids and token from here on every
    /// request, so a reload reaches it at once.
    pub generation: tokio::sync::watch::Receiver<Arc<Generation>>,
    /// Alert deliveries; shared so `/status` can show the alerts still firing.
    pub outbox: Outbox,
}

impl Shared {
    /// The whole `/status` document.
    pub fn status(&self) -> Status {
        let mut st = self
            .status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        st.ready = self.ready.is_ready() && st.unfingerprinted.is_empty();
        st.generation = self.generation.borrow().number;
        st.warmups = self.warmups.statuses();
        st.alerts_firing = self.outbox.firing(chrono::Utc::now());
        st.cluster = self.warmups.fleet().map(|f| f.status());
        if let Some(c) = &st.cluster {
            for (g, s) in st.warmups.iter_mut() {
                s.holder = c.holders.get(g).cloned();
            }
        }
        st.alertmanager = self
            .generation
            .borrow()
            .alerts
            .alertmanager
            .as_deref()
            .and_then(alerts::shown_url);
        st
    }
}

pub fn run(config: &Path, args: DaemonArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(serve(config.to_path_buf(), args))
}

/// The daemon loop's own state. It alone swaps generations.
struct Daemon {
    path: PathBuf,
    gen: Arc<Generation>,
    gen_tx: tokio::sync::watch::Sender<Arc<Generation>>,
    store: Arc<Mutex<Store>>,
    shared: Arc<Shared>,
    outbox: Outbox,
    fetcher: source::Fetcher,
    pages: pages::Pages,
    /// Models whose retirement day the last pass exported.
    retirements_exported: std::collections::BTreeSet<String>,
    /// Fingerprint changes per (prompt, tokenizer) since start.
    changes: BTreeMap<(String, String), u64>,
    /// The running generation's tasks; replaced on every swap.
    workers: workers::Workers,
    clock: Clock,
    /// SIGTERM / SIGINT.
    shutdown: Shutdown,
}

async fn serve(path: PathBuf, args: DaemonArgs) -> Result<()> {
    // Installed first, before anything can take a while (the first generation's tokenizers,
    // the store's check): a SIGHUP during start-up (a deploy reloading early) must wait for the
    // loop, not kill the process (SIGHUP's default action), as it did when the handler was
    // installed only once the first pass had finished.
    let sighup = signal(tokio::signal::unix::SignalKind::hangup())?;
    let clock = Clock::system();
    let metrics = install().map_err(Error::Other)?;
    // `[cluster]` is the replica's identity in the fleet, read once: a reload may not change it.
    let fleet = match crate::config::Config::load(&path)?.cluster {
        Some(c) => Some(crate::cluster::Cluster::new(&c)?),
        None => None,
    };
    let states = match &fleet {
        Some(f) => crate::warmup::States::in_fleet(f.clone()),
        None => crate::warmup::States::default(),
    };
    let gen = {
        let (path, states) = (path.clone(), states.clone());
        tokio::task::spawn_blocking(move || Generation::build(&path, 1, &states))
            .await
            .map_err(|e| Error::Other(format!("start-up task failed: {e}")))??
    };
    let gen = Arc::new(gen);
    let state_dir = gen.analyzer.config.state_dir.clone();
    // A corrupt history is moved aside at start (PRAGMA quick_check), never served as "ready
    // with 0 pairs".
    let (store, store_problem) = Store::open_or_recover(
        &state_dir.join(crate::store::FILE_NAME),
        clock.unix() as i64,
    )?;
    let store = Arc::new(Mutex::new(store));
    metrics::gauge!(STORE_HEALTHY).set(1.0);
    for reason in ["deleted", "replaced", "corrupt"] {
        metrics::counter!(STORE_RECOVERIES, "reason" => reason).absolute(0);
    }
    if let Some(p) = &store_problem {
        metrics::counter!(STORE_RECOVERIES, "reason" => p.label()).increment(1);
    }
    let (gen_tx, gen_rx) = tokio::sync::watch::channel(gen.clone());
    let shared = Arc::new(Shared {
        metrics,
        ready: Readiness::default(),
        warmups: states.clone(),
        generation: gen_rx,
        outbox: Outbox::in_fleet(states.fleet().cloned()),
        status: RwLock::new(Status {
            version: env!("CARGO_PKG_VERSION").to_string(),
            config: gen.analyzer.config.path.clone(),
            started_at: clock.unix(),
            store: crate::status::StoreStatus {
                recoveries: store_problem.is_some() as u64,
                last_problem: store_problem.as_ref().map(|p| p.to_string()),
                last_recovery: store_problem.as_ref().map(|_| clock.unix()),
            },
            ..Default::default()
        }),
    });
    zero_series(&gen);
    let (stop_all, shutdown) = shutdown();
    let mut d = Daemon {
        path,
        gen,
        gen_tx,
        store,
        shared: shared.clone(),
        outbox: shared.outbox.clone(),
        fetcher: source::Fetcher::new(&state_dir),
        pages: pages::Pages::new(&state_dir),
        retirements_exported: Default::default(),
        changes: BTreeMap::new(),
        workers: workers::Workers::default(),
        clock,
        shutdown: shutdown.clone(),
    };
    d.pages.export_known(&d.gen.analyzer.config.watches);
    if args.once {
        d.check_sources().await;
        d.check_pages().await;
        d.evaluate().await;
        shared.ready.set();
        let st = shared.status();
        println!(
            "{}",
            serde_json::to_string_pretty(&st).expect("serializable")
        );
        // A pass with failed pairs is not a success (issue #18): the status above says which.
        let failed = st.last_evaluation_errors.len();
        if failed > 0 || !st.unfingerprinted.is_empty() {
            return Err(Error::Other(format!(
                "the pass failed: {failed} error(s), {} prompt(s) without a fingerprint (see last_evaluation_errors above)",
                st.unfingerprinted.len()
            )));
        }
        return Ok(());
    }
    spawn_signal_handler(stop_all)?;

    let listen = d.gen.analyzer.config.daemon.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Other(format!("cannot listen on {listen}: {e}")))?;
    let bound = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    tracing::info!(listen = %bound, config = %d.path.display(), "prefix-warden daemon listening");
    let limits = {
        let c = &d.gen.analyzer.config.daemon;
        crate::server::Limits {
            max_connections: c.max_connections,
            header_timeout: Duration::from_millis(c.header_timeout_ms),
            request_timeout: Duration::from_millis(c.request_timeout_ms),
        }
    };
    let server = {
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let res = crate::server::serve(
                listener,
                http::router(shared),
                limits,
                |s| (s, ()),
                async move { stop.wait().await },
            )
            .await;
            if let Err(e) = res {
                tracing::error!(error = %e, "http server failed");
            }
        })
    };
    tokio::spawn(
        d.outbox
            .clone()
            .resend_loop(d.shared.generation.clone(), shutdown.clone()),
    );
    if let Some(every) = systemd::watchdog_interval() {
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => systemd::watchdog(),
                    _ = stop.wait() => break,
                }
            }
        });
    }
    d.check_sources().await;
    d.check_pages().await;
    d.workers = workers::Workers::start(&d.gen, None, d.clock, &d.shared.warmups).await?;
    // Joins the fleet only now: a replica registered before its warm-up loops run would be
    // handed groups it cannot warm yet.
    if let Some(f) = fleet {
        tracing::info!(replica = %f.name(), "joining the fleet ([cluster])");
        tokio::spawn(f.run(shutdown.clone()));
    }
    d.evaluate().await;
    d.shared.ready.set();
    tracing::info!(pairs = d.changes.len(), generation = d.gen.number, "ready");
    d.run_loop(sighup).await?;

    tracing::info!("shutting down");
    systemd::stopping();
    d.workers.stop().await;
    d.outbox.drain(Duration::from_secs(2)).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    Ok(())
}

/// SIGTERM and SIGINT fire the daemon's shutdown signal; everything waits on that.
fn spawn_signal_handler(trigger: ShutdownTrigger) -> Result<()> {
    let mut sigterm = signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut sigint = signal(tokio::signal::unix::SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = sigterm.recv() => {}
            _ = sigint.recv() => {}
        }
        trigger.fire();
    });
    Ok(())
}

/// Series the alert rules read exist from the start, so rate() and increase() see the first
/// event.
fn zero_series(gen: &Generation) {
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    metrics::gauge!(START_TIME).set(Clock::system().unix());
    for result in ["success", "failure"] {
        metrics::counter!(EVALUATIONS, "result" => result).absolute(0);
    }
    metrics::counter!(CONFIG_RELOAD_FAILURES).absolute(0);
    for t in &gen.analyzer.config.tokenizers {
        metrics::counter!(TOKENIZER_SOURCE_CHANGES, "tokenizer" => t.id.clone()).absolute(0);
    }
    for (sink, on) in [
        ("alertmanager", gen.alerts.alertmanager.is_some()),
        ("webhook", gen.alerts.webhook.is_some()),
    ] {
        for result in ["success", "failure", "dropped"] {
            if on {
                metrics::counter!(ALERT_DELIVERIES, "sink" => sink, "result" => result).absolute(0);
            }
        }
    }
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Result<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind)
        .map_err(|e| Error::Other(format!("cannot install a signal handler: {e}")))
}

impl Daemon {
    /// Until SIGTERM: scheduled passes, reloads on SIGHUP and on file changes, source checks.
    async fn run_loop(&mut self, mut sighup: tokio::signal::unix::Signal) -> Result<()> {
        let mut watched = watch::Snapshot::take(&self.gen.analyzer);
        let mut sources = tokio::time::interval(Duration::from_secs(
            self.gen.analyzer.config.daemon.source_poll_secs,
        ));
        sources.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sources.tick().await; // the first tick is now, and start-up already checked
        let shutdown = self.shutdown.clone();
        loop {
            let next = crate::schedule::until_next(&self.gen.schedule, self.clock.now())
                .unwrap_or(Duration::from_secs(3600));
            let poll = Duration::from_secs(self.gen.analyzer.config.daemon.watch_interval_secs);
            tokio::select! {
                _ = shutdown.wait() => return Ok(()),
                _ = sighup.recv() => {
                    tracing::info!("SIGHUP: reloading");
                    if self.reload().await { self.evaluate().await; }
                    watched = watch::Snapshot::take(&self.gen.analyzer);
                }
                _ = sources.tick() => {
                    self.check_pages().await;
                    if self.check_sources().await && self.reload().await {
                        self.evaluate().await;
                        watched = watch::Snapshot::take(&self.gen.analyzer);
                    }
                }
                _ = tokio::time::sleep(next) => {
                    tracing::debug!("scheduled evaluation");
                    self.evaluate().await;
                }
                _ = tokio::time::sleep(poll) => {
                    let now = watch::Snapshot::take(&self.gen.analyzer);
                    if now != watched {
                        tracing::info!(changed = %now.describe_change(&watched), "watched files changed: reloading");
                        if self.reload().await { self.evaluate().await; }
                        watched = watch::Snapshot::take(&self.gen.analyzer);
                    }
                }
            }
        }
    }

    /// Reads every `[[watch]]` source once; a shutdown interrupts a slow read.
    async fn check_pages(&mut self) {
        let watches = self.gen.analyzer.config.watches.clone();
        let shutdown = self.shutdown.clone();
        for (w, _) in &watches {
            tokio::select! {
                _ = self.pages.check(w, self.clock.unix() as i64) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// Checks every tokenizer that has a `source`; true when a local copy was replaced. A
    /// shutdown interrupts a slow download (the last good copy stays).
    async fn check_sources(&mut self) -> bool {
        let entries: Vec<_> = self
            .gen
            .analyzer
            .config
            .tokenizers
            .iter()
            .filter(|t| t.source.is_some())
            .cloned()
            .collect();
        let mut updated = false;
        let shutdown = self.shutdown.clone();
        for e in &entries {
            tokio::select! {
                o = self.fetcher.check(e) => {
                    updated |= matches!(o, source::Outcome::Updated { .. });
                }
                _ = shutdown.wait() => {
                    tracing::info!(tokenizer = %e.id, "shutting down: tokenizer source check abandoned");
                    return false;
                }
            }
        }
        updated
    }

    /// Builds the next generation from the config on disk and swaps it in; on any failure
    /// keeps the running one and says why.
    async fn reload(&mut self) -> bool {
        systemd::reloading();
        let (path, number, states) = (
            self.path.clone(),
            self.gen.number + 1,
            self.shared.warmups.clone(),
        );
        let built = tokio::task::spawn_blocking(move || Generation::build(&path, number, &states))
            .await
            .unwrap_or_else(|e| Err(Error::Other(format!("reload task failed: {e}"))));
        let ok = match built {
            Ok(g) => match self.swap(Arc::new(g)).await {
                Ok(()) => true,
                Err(e) => {
                    self.reload_failed(&e);
                    false
                }
            },
            Err(e) => {
                self.reload_failed(&e);
                false
            }
        };
        systemd::reloaded();
        ok
    }

    /// Records a failed reload: the error in `/status` first, then the counter, so whoever sees
    /// the counter move also finds the error (a test saw the counter at 1 and no error yet).
    fn reload_failed(&self, e: &Error) {
        // The running generation's prompts are the secrets at hand (the new ones failed to
        // load; their own file errors were cut at their source).
        let e = self.gen.analyzer.redactor().clean(&e.to_string());
        tracing::error!(error = %e, "config reload failed; keeping the running config");
        self.shared
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .last_reload_error = Some(e);
        metrics::counter!(CONFIG_RELOAD_FAILURES).increment(1);
    }

    /// Makes `next` the running generation: readers see it at once, the old generation's
    /// warm-up loops stop (runs in flight finish on it), the new ones start.
    async fn swap(&mut self, next: Arc<Generation>) -> Result<()> {
        if next.analyzer.config.cluster != self.gen.analyzer.config.cluster {
            return Err(Error::Other(format!(
                "{}: [cluster] changed: it is read at start only (the replica's name, lease and etcd endpoints); restart the daemon to apply it",
                next.analyzer.config.path.display()
            )));
        }
        let old = &self.gen.analyzer.config.daemon;
        if next.analyzer.config.daemon.listen != old.listen {
            tracing::warn!(old = %old.listen, new = %next.analyzer.config.daemon.listen, "daemon.listen changed; restart to rebind");
        }
        let previous = std::mem::take(&mut self.workers);
        match workers::Workers::start(&next, Some(previous), self.clock, &self.shared.warmups).await
        {
            Ok(w) => self.workers = w,
            Err(e) => {
                // The old tasks were handed over; bring the running generation's back.
                self.workers =
                    workers::Workers::start(&self.gen, None, self.clock, &self.shared.warmups)
                        .await
                        .unwrap_or_default();
                return Err(e);
            }
        }
        self.gen_tx.send_replace(next.clone());
        self.gen = next;
        self.shared
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .last_reload_error = None;
        tracing::info!(generation = self.gen.number, "config reloaded");
        Ok(())
    }
}
