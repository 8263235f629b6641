//! The `/status` document: one typed value the daemon serves and `prefix status` reads and
//! renders for people, so the two cannot drift apart.
//!
//! Invariant: it carries ids, labels, fingerprints, counts and times, never prompt text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::report::table;

/// What `/status` shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub version: String,
    pub config: PathBuf,
    pub started_at: f64,
    pub ready: bool,
    /// The config generation the daemon runs on: 1 at start, +1 per accepted reload.
    #[serde(default)]
    pub generation: u64,
    pub last_evaluation: Option<f64>,
    pub last_evaluation_errors: Vec<String>,
    /// Registered prompts the last pass fingerprinted under no tokenizer: while any is listed
    /// the daemon is not ready (`/readyz` 503 naming them, `daemon --once` exit 2).
    #[serde(default)]
    pub unfingerprinted: Vec<String>,
    pub last_reload_error: Option<String>,
    pub pairs: Vec<PairStatus>,
    #[serde(default)]
    pub warmups: BTreeMap<String, GroupStatus>,
    #[serde(default)]
    pub store: StoreStatus,
    /// Alerts this daemon raised to Alertmanager that are still firing (until `ends_at`).
    /// The alerts of the Prometheus rules over `/metrics` live in Alertmanager, not here.
    #[serde(default)]
    pub alerts_firing: Vec<FiringAlert>,
    /// `daemon.alertmanager_url` without user info, query or fragment: where to see every
    /// alert's state.
    #[serde(default)]
    pub alertmanager: Option<String>,
    /// This replica's fleet (`[cluster]`): its lease, etcd, and who holds each group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::ClusterStatus>,
}

/// One alert the daemon raised and keeps re-sending until it ends.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FiringAlert {
    pub alertname: String,
    pub severity: String,
    /// Alertmanager's labels of the alert: ids (prompt, tokenizer, kind), never text.
    pub labels: BTreeMap<String, String>,
    pub starts_at: f64,
    pub ends_at: f64,
    /// Alertmanager accepted it at least once.
    pub delivered: bool,
}

/// The history database's health.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StoreStatus {
    /// Times the file was found deleted, replaced or corrupt and a new one started.
    pub recoveries: u64,
    pub last_problem: Option<String>,
    pub last_recovery: Option<f64>,
}

/// One (prompt, tokenizer) pair.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PairStatus {
    pub prompt: String,
    pub tokenizer: String,
    pub tokenizer_sha256: String,
    /// `tokens`, `rendered` (chat template) or `count` (the provider's count).
    #[serde(default = "tokens_kind")]
    pub kind: crate::fingerprint::FingerprintKind,
    pub fingerprint: String,
    pub token_count: usize,
    /// Unix time this fingerprint was first seen (the last change).
    pub last_change: i64,
    pub changes_since_start: u64,
}

fn tokens_kind() -> crate::fingerprint::FingerprintKind {
    crate::fingerprint::FingerprintKind::Tokens
}

/// The result of one warm-up run. A closed set; also the `result` label of
/// `prefix_warden_warmup_runs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunResult {
    Success,
    Failure,
    DeferredBudget,
    LookupFailed,
    NoTargets,
    SkippedOverlap,
    /// The run panicked; the group keeps running and the panic is counted here.
    Panicked,
    /// The group could not be built from its config.
    NotStarted,
    /// In a fleet: another replica holds the group (or this one has no live lease), so this
    /// replica did not run the tick. Not counted in `prefix_warden_warmup_runs_total`.
    Standby,
}

impl RunResult {
    /// Every result a run is counted under (`Standby` is not a run).
    pub const ALL: [RunResult; 8] = [
        RunResult::Success,
        RunResult::Failure,
        RunResult::DeferredBudget,
        RunResult::LookupFailed,
        RunResult::NoTargets,
        RunResult::SkippedOverlap,
        RunResult::Panicked,
        RunResult::NotStarted,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RunResult::Success => "success",
            RunResult::Failure => "failure",
            RunResult::DeferredBudget => "deferred_budget",
            RunResult::LookupFailed => "lookup_failed",
            RunResult::NoTargets => "no_targets",
            RunResult::SkippedOverlap => "skipped_overlap",
            RunResult::Panicked => "panicked",
            RunResult::NotStarted => "not_started",
            RunResult::Standby => "standby",
        }
    }
}

impl std::fmt::Display for RunResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// One warm-up group.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GroupStatus {
    /// Seconds between ticks of the group's schedule as it runs now.
    #[serde(default)]
    pub interval_secs: f64,
    pub last_run: Option<f64>,
    pub last_result: Option<RunResult>,
    pub last_success: Option<f64>,
    pub color: Option<String>,
    pub reason: Option<String>,
    /// The targets the last run sent to.
    #[serde(default)]
    pub targets: Vec<String>,
    pub last_error: Option<String>,
    /// Runs finished since start (every result but `skipped_overlap`).
    #[serde(default)]
    pub runs: u64,
    pub requests: u64,
    /// Request latency quantiles in milliseconds (hdrhistogram, since start).
    pub latency_ms_p50: Option<u64>,
    pub latency_ms_p90: Option<u64>,
    pub latency_ms_p99: Option<u64>,
    pub latency_ms_max: Option<u64>,
    /// In a fleet (`[cluster]`): the replica that holds the group as this replica last saw it
    /// (itself when it warms it); `None` for a single replica, or while nobody holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Engines with KV-cache events (`[[warmup.kv_events]]`): per target, as of the last run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub residency: Vec<HostResidency>,
}

/// One engine target's KV-cache events, as the last run saw them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HostResidency {
    pub host: String,
    /// `None` while the events are current; else why not (`never_heard`, `stale`,
    /// `gap_not_replayed`): the target is warmed blind.
    pub unknown: Option<String>,
    pub last_seq: Option<u64>,
    /// Whether stored blocks' hashes are cross-checked (`hash = "sha256_cbor"`).
    #[serde(default)]
    pub hash_checked: bool,
    pub prompts: Vec<PromptResidency>,
}

/// One prompt's prefix on one engine target.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PromptResidency {
    pub prompt: String,
    pub gpu_tokens: usize,
    pub other_tokens: usize,
    /// Full blocks of the prefix but the one holding its last token: what a warm-up makes
    /// resident (unknown until the host's block size is).
    pub warmable_tokens: Option<usize>,
    /// Stored blocks of the prefix whose hash was not the one the configured hash gives them.
    #[serde(default)]
    pub hash_disagreements: u64,
}

/// A summary of the status for people (`prefix status`), times relative to `now`.
pub fn render(st: &Status, now: f64, md: bool) -> String {
    let ago = |t: Option<f64>| {
        t.map(|t| format!("{:.0}s ago", (now - t).max(0.0)))
            .unwrap_or_else(|| "never".into())
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "prefix-warden {}: {}, generation {}, last evaluation {}",
        st.version,
        if st.ready { "ready" } else { "not ready" },
        st.generation,
        ago(st.last_evaluation)
    );
    if let Some(p) = &st.store.last_problem {
        let _ = writeln!(
            out,
            "history database recovered {} time(s), last {}: {p}",
            st.store.recoveries,
            ago(st.store.last_recovery)
        );
    }
    if let Some(e) = &st.last_reload_error {
        let _ = writeln!(out, "last reload failed (running config kept): {e}");
    }
    for e in &st.last_evaluation_errors {
        let _ = writeln!(out, "evaluation error: {e}");
    }
    if !st.unfingerprinted.is_empty() {
        let _ = writeln!(
            out,
            "not ready: no fingerprint for prompt(s) {}",
            st.unfingerprinted.join(", ")
        );
    }
    if !st.alerts_firing.is_empty() {
        let names: Vec<String> = st
            .alerts_firing
            .iter()
            .map(|a| match a.labels.get("prompt") {
                Some(p) => format!("{} ({p})", a.alertname),
                None => a.alertname.clone(),
            })
            .collect();
        let _ = writeln!(
            out,
            "{} alert(s) raised and firing: {}",
            names.len(),
            names.join(", ")
        );
    }
    let changed: Vec<&PairStatus> = st
        .pairs
        .iter()
        .filter(|p| p.changes_since_start > 0)
        .collect();
    let _ = writeln!(
        out,
        "{} (prompt, tokenizer) pair(s), {} changed since start",
        st.pairs.len(),
        changed.len()
    );
    if !changed.is_empty() {
        let mut rows = vec![vec![
            "PROMPT".to_string(),
            "TOKENIZER".into(),
            "KIND".into(),
            "TOKENS".into(),
            "FINGERPRINT".into(),
            "CHANGES".into(),
        ]];
        for p in changed {
            rows.push(vec![
                p.prompt.clone(),
                p.tokenizer.clone(),
                p.kind.to_string(),
                p.token_count.to_string(),
                p.fingerprint.clone(),
                p.changes_since_start.to_string(),
            ]);
        }
        out.push('\n');
        out.push_str(&table(&rows, md));
    }
    if let Some(c) = &st.cluster {
        let _ = writeln!(
            out,
            "fleet: replica {}, {} replica(s) registered ({}), etcd {}, lease {}",
            c.replica,
            c.replicas.len(),
            c.replicas.join(", "),
            if c.etcd_up { "up" } else { "unreachable" },
            if c.lease_valid_secs > 0.0 {
                format!("valid for {:.1} s", c.lease_valid_secs)
            } else {
                "not valid: this replica warms nothing".into()
            }
        );
        if let Some(e) = &c.last_error {
            let _ = writeln!(out, "fleet: last etcd error: {e}");
        }
    }
    if !st.warmups.is_empty() {
        let fleet = st.cluster.is_some();
        let mut head = vec!["WARM-UP GROUP".to_string()];
        if fleet {
            head.push("HELD BY".into());
        }
        head.extend([
            "COLOR".to_string(),
            "TARGETS".into(),
            "LAST RESULT".into(),
            "LAST SUCCESS".into(),
            "P50/P99 MS".into(),
            "ERROR".into(),
        ]);
        let mut rows = vec![head];
        let ms = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
        for (name, g) in &st.warmups {
            let mut row = vec![name.clone()];
            if fleet {
                row.push(g.holder.clone().unwrap_or_else(|| "nobody".into()));
            }
            row.extend([
                g.color.clone().unwrap_or_else(|| "-".into()),
                if g.targets.is_empty() {
                    "-".into()
                } else {
                    g.targets.join(",")
                },
                g.last_result
                    .map(|r| r.label().to_string())
                    .unwrap_or_else(|| "-".into()),
                ago(g.last_success),
                format!("{}/{}", ms(g.latency_ms_p50), ms(g.latency_ms_p99)),
                g.last_error.clone().unwrap_or_default(),
            ]);
            rows.push(row);
        }
        out.push('\n');
        out.push_str(&table(&rows, md));
    }
    let mut rows = vec![vec![
        "ENGINE GROUP".to_string(),
        "HOST".into(),
        "EVENTS".into(),
        "PROMPT".into(),
        "GPU TOKENS".into(),
        "OTHER".into(),
        "WARMABLE".into(),
        "HASH DISAGREEMENTS".into(),
        "RESIDENT".into(),
    ]];
    for (name, g) in &st.warmups {
        for h in &g.residency {
            for p in &h.prompts {
                let resident = match (&h.unknown, p.warmable_tokens) {
                    (Some(_), _) => "unknown",
                    (None, Some(w)) if w > 0 && p.gpu_tokens >= w => "yes",
                    (None, _) => "no",
                };
                rows.push(vec![
                    name.clone(),
                    h.host.clone(),
                    h.unknown.clone().unwrap_or_else(|| "current".into()),
                    p.prompt.clone(),
                    p.gpu_tokens.to_string(),
                    p.other_tokens.to_string(),
                    p.warmable_tokens
                        .map_or_else(|| "-".into(), |w| w.to_string()),
                    if h.hash_checked {
                        p.hash_disagreements.to_string()
                    } else {
                        "-".into()
                    },
                    resident.into(),
                ]);
            }
        }
    }
    if rows.len() > 1 {
        out.push_str("\nwhere each prefix is cached (engines' KV-cache events, as of each group's last run):\n");
        out.push_str(&table(&rows, md));
    }
    out
}
