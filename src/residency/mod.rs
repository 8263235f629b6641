//! Where each registered prefix is cached on self-hosted engines (issue #22): the daemon's side
//! of the engines' KV-cache events.
//!
//! - [`subscriber`]: one thread on libzmq, subscribed to every host's events, replaying gaps.
//! - this module: what the rest of the daemon reads: per host, known or why unknown, and the
//!   leading tokens of each prefix resident on GPU and on other media
//!   ([`crate::kv_events::residency`] does the matching), with counters for metrics.

pub mod subscriber;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::kv_events::hash::NoneHashSeed;
use crate::kv_events::residency::{Counts, Host, Prefix};
use crate::kv_events::wire::Medium;

/// One host's publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// The warm-up target this host serves (its URL), as metrics and `/status` name it.
    pub name: String,
    /// The PUB endpoint (`tcp://host:5557`).
    pub events: String,
    /// The ROUTER replay endpoint, when the engine has one.
    pub replay: Option<String>,
    pub topic: String,
    /// Cross-check each stored block's hash with vLLM's `sha256_cbor` chain under this seed
    /// (`hash = "sha256_cbor"`, `hash_seed`); `None`: tokens only.
    pub hash_seed: Option<NoneHashSeed>,
}

/// Why a host's residency is not known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// No event or probe answer yet.
    NeverHeard,
    /// Nothing heard within `stale_after` (a dead publisher, or a lost connection).
    Stale,
    /// A gap in `seq` that the replay socket could not fill.
    GapNotReplayed,
}

impl Unknown {
    pub fn label(self) -> &'static str {
        match self {
            Unknown::NeverHeard => "never_heard",
            Unknown::Stale => "stale",
            Unknown::GapNotReplayed => "gap_not_replayed",
        }
    }
}

/// One prefix on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixResidency {
    pub id: String,
    pub gpu_tokens: usize,
    pub other_tokens: usize,
    /// Full blocks of the prefix, without the block holding its last token (engines never
    /// serve that one from cache): what a warm-up can make resident.
    pub warmable_tokens: Option<usize>,
    /// Stored blocks of the prefix whose hash was not the expected one (hash check only).
    pub hash_disagreements: u64,
}

/// A host as the rest of the daemon sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostView {
    pub unknown: Option<Unknown>,
    pub last_seq: Option<u64>,
    pub prefixes: Vec<PrefixResidency>,
    pub counts: Counts,
    /// Whether the host's block hashes are cross-checked.
    pub hash_checked: bool,
}

impl HostView {
    fn of(h: &Host, unknown: Option<Unknown>) -> HostView {
        let prefixes = (0..h.prefixes().len())
            .map(|i| PrefixResidency {
                id: h.prefixes()[i].id.clone(),
                gpu_tokens: h.resident_tokens(i, Medium::Gpu),
                other_tokens: h.resident_tokens(i, Medium::Other),
                warmable_tokens: h.warmable_tokens(i),
                hash_disagreements: h.hash_disagreements(i),
            })
            .collect();
        HostView {
            unknown,
            last_seq: h.last_seq(),
            prefixes,
            counts: h.counts,
            hash_checked: h.hash_checked(),
        }
    }
}

/// Whether a warm-up of `prefix` on `host` would only re-read what is resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The whole warmable prefix is on the host's GPU.
    Resident,
    NotResident,
    /// Unknown, or no events configured: warm.
    Unknown,
}

#[derive(Default)]
struct Tallies {
    bad: BTreeMap<(String, &'static str), u64>,
    gaps: BTreeMap<(String, bool), u64>,
}

/// The state the subscriber writes and the daemon reads.
#[derive(Default)]
pub struct Shared {
    hosts: Mutex<BTreeMap<String, HostView>>,
    tallies: Mutex<Tallies>,
}

impl Shared {
    fn set(&self, host: &str, view: HostView) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if hosts.get(host) != Some(&view) {
            hosts.insert(host.to_string(), view);
        }
    }

    fn count_bad(&self, host: &str, why: &'static str) {
        let mut t = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        *t.bad.entry((host.to_string(), why)).or_default() += 1;
    }

    fn count_gap(&self, host: &str, replayed: bool) {
        let mut t = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        *t.gaps.entry((host.to_string(), replayed)).or_default() += 1;
    }

    /// Every host's view, by name.
    pub fn hosts(&self) -> BTreeMap<String, HostView> {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Bad frames by host and kind, and gaps by host and whether replay filled them.
    #[allow(clippy::type_complexity)]
    pub fn tallies(
        &self,
    ) -> (
        Vec<((String, &'static str), u64)>,
        Vec<((String, bool), u64)>,
    ) {
        let t = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        (
            t.bad.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            t.gaps.iter().map(|(k, v)| (k.clone(), *v)).collect(),
        )
    }

    pub fn decide(&self, host: &str, prefix: &str) -> Decision {
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        let Some(v) = hosts.get(host) else {
            return Decision::Unknown;
        };
        if v.unknown.is_some() {
            return Decision::Unknown;
        }
        match v.prefixes.iter().find(|p| p.id == prefix) {
            Some(PrefixResidency {
                gpu_tokens,
                warmable_tokens: Some(w),
                ..
            }) if *w > 0 && gpu_tokens >= w => Decision::Resident,
            Some(_) => Decision::NotResident,
            None => Decision::Unknown,
        }
    }
}

/// The subscriptions of one set of hosts and prefixes, and what they learned.
pub struct Residency {
    pub shared: Arc<Shared>,
    _subscriber: subscriber::Subscriber,
}

impl Residency {
    /// Subscribes to every host; `stale_after` is how long a host stays known without news.
    pub fn start(
        hosts: Vec<HostSpec>,
        prefixes: Vec<Prefix>,
        stale_after: Duration,
    ) -> std::io::Result<Residency> {
        let shared = Arc::new(Shared::default());
        let sub = subscriber::Subscriber::spawn(shared.clone(), hosts, prefixes, stale_after)?;
        Ok(Residency {
            shared,
            _subscriber: sub,
        })
    }
}

/// Subscribes to the group's engines' KV-cache events, with each prompt's prefix ids as the
/// engine caches them (`Analyzer::engine_prefix_ids`).
pub fn for_warmup(
    cfg: &crate::config::WarmupConfig,
    analyzer: &crate::analyzer::Analyzer,
) -> crate::error::Result<Option<(Residency, String)>> {
    if cfg.kv_events.is_empty() {
        return Ok(None);
    }
    let model = format!("{}/{}", cfg.provider.provider().label(), cfg.model);
    let mut tokenizer = None;
    let mut prefixes = Vec::new();
    for id in &cfg.prompts {
        let Some(p) = analyzer.prompts.iter().find(|p| &p.id == id) else {
            continue;
        };
        let Some((tok, ids)) = analyzer.engine_prefix_ids(p, &model, chrono::Utc::now())? else {
            return Err(crate::error::Error::Other(format!(
                "warmup group `{}`: kv_events: no [[tokenizer]] serves {model}, so the ids its engine caches are unknown",
                cfg.group
            )));
        };
        tokenizer = Some(tok);
        prefixes.push(crate::kv_events::residency::Prefix {
            id: p.id.clone(),
            ids,
        });
    }
    let hosts = cfg
        .kv_events
        .iter()
        .map(|k| HostSpec {
            name: k.target.clone(),
            events: k.endpoint.clone(),
            replay: k.replay.clone(),
            topic: k.topic.clone(),
            hash_seed: k.hash_check_seed(),
        })
        .collect();
    let r = Residency::start(
        hosts,
        prefixes,
        Duration::from_secs(cfg.kv_stale_after_secs),
    )
    .map_err(|e| {
        crate::error::Error::Other(format!("warmup group `{}`: kv_events: {e}", cfg.group))
    })?;
    Ok(Some((r, tokenizer.unwrap_or_default())))
}
