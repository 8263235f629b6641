//! Replicas coordinated through etcd (`[cluster]`, issue #23): exactly one replica warms each
//! group at each tick, and each alert is delivered once for the fleet.
//!
//! - [`etcd`]: the etcd v3 client (JSON gateway, failover, TLS, auth).
//! - [`assign`]: which replica should hold each group (rendezvous hashing, bounded load).
//! - this module: the replica's lease, the groups it holds, and the decision at each tick.
//!
//! # Keys (under `key_prefix`)
//! - `replicas/<name>`: this replica, attached to its lease.
//! - `groups/<group>`: the holder's name, attached to the holder's lease. Created only if absent
//!   (a transaction on `create_revision == 0`), so at most one replica holds a group.
//! - `ticks/<group>`: the last tick (scheduled time) a holder warmed, no lease: a replica that
//!   just took a group skips a tick its previous holder already warmed (each replica's jitter
//!   fires the same tick at its own moment).
//! - `alerts/<id>`: the replica that delivers an alert event, on an hour-long lease of its own.
//!
//! # Invariants
//! - A replica warms a group only while it holds its key *and* its lease is known alive: renewed
//!   less than `TTL − TTL/10` ago by its own clock, measured from when the renewal was sent, so
//!   it stops before etcd could let the key expire and another replica take it. It checks before
//!   every request, not only at the tick.
//! - etcd unreachable (no endpoint answers, or no quorum): holders keep warming until their
//!   lease would have expired, then stop; nobody takes a group meanwhile, because nobody can
//!   write. The chosen cost is *missed* warm-ups for the rest of an etcd outage longer than the
//!   TTL, never duplicate ones (docs/reliability.md, "Running several replicas").
//! - Takeover: a holder's keys vanish with its lease (TTL after it died, at once after a clean
//!   stop, which revokes it); the group's preferred replica takes it at its next pass (at most a
//!   second) or tick, any replica at the group's tick once it stayed free for one tick.

pub mod assign;
pub mod etcd;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::ClusterConfig;
use crate::error::{Error, Result};
use crate::metrics::*;
use etcd::{Etcd, EtcdError};

/// What a replica does at a group's tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This replica holds the group: warm it.
    Run,
    /// Another replica holds it (named when known), or it is free and another replica is
    /// preferred for it.
    Standby { holder: Option<String> },
    /// This replica has no live lease (etcd unreachable past the TTL): it warms nothing.
    EtcdLost,
    /// This replica just took the group, and its previous holder already warmed this tick.
    AlreadyWarmed,
}

impl Claim {
    pub fn label(&self) -> &'static str {
        match self {
            Claim::Run => "run",
            Claim::Standby { .. } => "standby",
            Claim::EtcdLost => "etcd_lost",
            Claim::AlreadyWarmed => "already_warmed",
        }
    }
}

/// What an alert's claim decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertClaim {
    /// This replica delivers it.
    Won,
    /// Another replica claimed it first: not delivered from here.
    Lost,
    /// etcd did not answer: delivered anyway (a duplicate beats a lost alert).
    Unavailable,
}

impl AlertClaim {
    pub fn label(self) -> &'static str {
        match self {
            AlertClaim::Won => "won",
            AlertClaim::Lost => "lost",
            AlertClaim::Unavailable => "unavailable",
        }
    }
}

/// This replica's membership; cheap to clone.
#[derive(Clone)]
pub struct Cluster(Arc<Inner>);

struct Inner {
    name: String,
    prefix: String,
    ttl: Duration,
    etcd: Etcd,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    lease: Option<i64>,
    /// Until when the lease is known alive (renewal sent + TTL − margin).
    valid_until: Option<Instant>,
    /// `replicas/<name>` is attached to the current lease.
    registered: bool,
    /// Another lease holds this replica's name (its previous life, or a second process).
    name_conflict: bool,
    holdings: BTreeSet<String>,
    /// Held groups not run since they were taken: their first tick asks etcd whether the
    /// previous holder already warmed it (`ticks/<group>`), as replicas' jitter differs.
    fresh: BTreeSet<String>,
    /// Groups taken or released since the current pass read the fleet's keys: the pass must not
    /// undo what happened after its read.
    changed: BTreeSet<String>,
    /// Groups this replica found free at their last tick: taken at the next by anyone.
    seen_free: BTreeSet<String>,
    /// The current generation's groups.
    groups: Vec<String>,
    /// From the last range over the fleet's keys.
    replicas: Vec<String>,
    holders: BTreeMap<String, String>,
    etcd_up: bool,
    /// When the current spell of failed passes began (its first failure).
    down_since: Option<Instant>,
    last_error: Option<String>,
    /// The lease alert claims are attached to, and when it was granted.
    alert_lease: Option<(i64, Instant)>,
}

impl State {
    /// The preferred replica of each current group among the registered replicas.
    fn preferred(&self) -> BTreeMap<String, String> {
        let groups: Vec<&str> = self.groups.iter().map(String::as_str).collect();
        let replicas: Vec<&str> = self.replicas.iter().map(String::as_str).collect();
        assign::preferred(&groups, &replicas)
    }
}

/// What `/status` shows of the fleet.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ClusterStatus {
    /// This replica.
    pub replica: String,
    pub etcd_up: bool,
    /// Seconds the lease is known alive for; 0 when it is not.
    pub lease_valid_secs: f64,
    /// Registered replicas, as last read.
    pub replicas: Vec<String>,
    /// Who holds each group (absent: nobody).
    pub holders: BTreeMap<String, String>,
    pub last_error: Option<String>,
}

/// How long an alert claim lives: an event raised again within it is the same alert.
const ALERT_CLAIM_SECS: u64 = 3600;

impl Cluster {
    /// Joins the fleet of `cfg` (nothing is sent until [`Cluster::run`]).
    pub fn new(cfg: &ClusterConfig) -> Result<Cluster> {
        let name = match &cfg.name {
            Some(n) => n.clone(),
            None => default_name()?,
        };
        Ok(Cluster(Arc::new(Inner {
            name,
            prefix: cfg.key_prefix.clone(),
            ttl: Duration::from_secs(cfg.lease_ttl_secs),
            etcd: Etcd::new(cfg)?,
            state: Mutex::new(State::default()),
        })))
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// How often the lease is renewed and the fleet's keys are read.
    fn poll(&self) -> Duration {
        (self.0.ttl / 4).min(Duration::from_secs(1))
    }

    /// The wait before the next pass: [`Self::poll`], but a quarter of it after a failed pass
    /// while the lease is still known alive, so that the renewal lands soon after etcd answers
    /// again (an election without a leader lasts one to two election timeouts) and a holder
    /// rides out an election shorter than its margin. Once the lease is lost, the normal pace.
    fn next_pass_in(&self) -> Duration {
        let s = self.lock();
        let valid = s.valid_until.is_some_and(|t| Instant::now() < t);
        if !s.etcd_up && valid {
            self.poll() / 4
        } else {
            self.poll()
        }
    }

    fn margin(&self) -> Duration {
        self.0.ttl / 10
    }

    fn group_key(&self, group: &str) -> String {
        format!("{}groups/{group}", self.0.prefix)
    }

    /// The last tick a holder of `group` warmed (no lease: it outlives its writer).
    fn tick_key(&self, group: &str) -> String {
        format!("{}ticks/{group}", self.0.prefix)
    }

    /// The groups of the generation now running; held groups it no longer has are released at
    /// the next pass.
    pub fn set_groups(&self, groups: &[&str]) {
        // The series rate() and increase() read exist from the start (absolute keeps a count).
        for g in groups {
            for d in ["run", "standby", "etcd_lost"] {
                metrics::counter!(CLUSTER_TICKS, "group" => g.to_string(), "decision" => d)
                    .absolute(0);
            }
        }
        for why in ["expired_locally", "gone"] {
            metrics::counter!(CLUSTER_LEASES_LOST, "why" => why).absolute(0);
        }
        let mut s = self.lock();
        for gone in s.groups.iter().filter(|g| !groups.contains(&g.as_str())) {
            // A removed group's gauge would sum to 1 or 0 for ever: it goes to 0 here (its key,
            // if held, is released at the next pass).
            metrics::gauge!(CLUSTER_GROUP_HELD, "group" => gone.clone()).set(0.0);
        }
        s.groups = groups.iter().map(|g| g.to_string()).collect();
        s.seen_free.retain(|g| groups.contains(&g.as_str()));
        s.holders.retain(|g, _| groups.contains(&g.as_str()));
    }

    /// Renews the lease and reads the fleet every [`Self::poll`] until `stop`; then revokes the
    /// lease, so the groups it held are free at once.
    pub async fn run(self, stop: crate::daemon::Shutdown) {
        loop {
            self.pass().await;
            tokio::select! {
                _ = tokio::time::sleep(self.next_pass_in()) => {}
                _ = stop.wait() => break,
            }
        }
        let lease = {
            // Nothing more is sent from here on: a run still finishing stops before its next
            // request, as the groups are free the moment the lease is revoked.
            let mut s = self.lock();
            s.valid_until = None;
            s.holdings.clear();
            s.lease.take()
        };
        if let Some(id) = lease {
            match self.0.etcd.revoke(id).await {
                Ok(()) => {
                    tracing::info!(replica = %self.0.name, "lease revoked: the groups this replica held are free")
                }
                Err(e) => {
                    tracing::warn!(replica = %self.0.name, error = %e, "could not revoke the lease: its groups are free when it expires")
                }
            }
        }
    }

    /// One pass: the lease (grant, renew), the registration, the fleet's keys, releases.
    pub async fn pass(&self) {
        let result = self.pass_inner().await;
        let now = Instant::now();
        let mut s = self.lock();
        match result {
            Ok(()) => {
                if let Some(since) = s.down_since.take() {
                    let tenths = now.saturating_duration_since(since).as_millis() / 100;
                    let down_secs = tenths as f64 / 10.0;
                    tracing::info!(replica = %self.0.name, down_secs, "etcd answers again");
                }
                s.etcd_up = true;
                s.last_error = None;
            }
            Err(e) => {
                if s.etcd_up || s.last_error.is_none() {
                    tracing::warn!(replica = %self.0.name, error = %e, "etcd call failed");
                }
                s.down_since.get_or_insert(now);
                s.etcd_up = false;
                s.last_error = Some(e.to_string());
            }
        }
        if s.valid_until.is_some_and(|t| now >= t) {
            // Not renewed in time: stop acting on the lease (it may be gone at etcd by now).
            s.valid_until = None;
            if !s.holdings.is_empty() {
                tracing::error!(replica = %self.0.name, groups = ?s.holdings, "lease not renewed within its TTL: this replica stops warming the groups it held");
            }
            s.holdings.clear();
            metrics::counter!(CLUSTER_LEASES_LOST, "why" => "expired_locally").increment(1);
        }
        let valid = s.valid_until.is_some();
        metrics::gauge!(CLUSTER_ETCD_UP).set(if s.etcd_up { 1.0 } else { 0.0 });
        metrics::gauge!(CLUSTER_LEASE_VALID).set(if valid { 1.0 } else { 0.0 });
        metrics::gauge!(CLUSTER_REPLICAS).set(s.replicas.len() as f64);
        for g in &s.groups {
            let held = valid && s.holdings.contains(g);
            metrics::gauge!(CLUSTER_GROUP_HELD, "group" => g.clone()).set(if held {
                1.0
            } else {
                0.0
            });
        }
    }

    async fn pass_inner(&self) -> std::result::Result<(), EtcdError> {
        let etcd = &self.0.etcd;
        let lease = self.lock().lease;
        let lease = match lease {
            None => {
                let sent = Instant::now();
                let id = etcd.grant(self.0.ttl.as_secs()).await?;
                let mut s = self.lock();
                s.lease = Some(id);
                s.valid_until = Some(sent + self.0.ttl - self.margin());
                s.registered = false;
                id
            }
            Some(id) => {
                let sent = Instant::now();
                match etcd.keepalive(id).await? {
                    Some(ttl) => {
                        let ttl = Duration::from_secs(ttl.max(0) as u64).min(self.0.ttl);
                        self.lock().valid_until = Some(sent + ttl - self.margin().min(ttl));
                        id
                    }
                    None => {
                        // etcd let it expire (this replica was cut off longer than the TTL).
                        let mut s = self.lock();
                        tracing::error!(replica = %self.0.name, "lease expired at etcd: this replica joins again with a new one");
                        metrics::counter!(CLUSTER_LEASES_LOST, "why" => "gone").increment(1);
                        s.lease = None;
                        s.valid_until = None;
                        s.registered = false;
                        s.holdings.clear();
                        return Ok(());
                    }
                }
            }
        };
        if !self.lock().registered {
            let key = format!("{}replicas/{}", self.0.prefix, self.0.name);
            let value =
                serde_json::json!({"replica": self.0.name, "version": env!("CARGO_PKG_VERSION")})
                    .to_string();
            let taken = etcd.create(&key, value.as_bytes(), lease).await?;
            let mut s = self.lock();
            match taken {
                Some(kv) if kv.lease != lease => {
                    if !s.name_conflict {
                        tracing::warn!(replica = %self.0.name, "another lease holds this replica's name (a previous run, or a second replica with the same name): waiting for it to expire before taking any group");
                    }
                    s.name_conflict = true;
                }
                _ => {
                    s.registered = true;
                    s.name_conflict = false;
                    tracing::info!(replica = %self.0.name, "joined the fleet");
                }
            }
        }
        self.lock().changed.clear();
        let kvs = etcd.range_prefix(&self.0.prefix).await?;
        let (replicas_prefix, groups_prefix) = (
            format!("{}replicas/", self.0.prefix),
            format!("{}groups/", self.0.prefix),
        );
        let mut replicas = Vec::new();
        let mut holders = BTreeMap::new();
        let mut mine = BTreeSet::new();
        for kv in kvs {
            if let Some(r) = kv.key.strip_prefix(&replicas_prefix) {
                replicas.push(r.to_string());
            } else if let Some(g) = kv.key.strip_prefix(&groups_prefix) {
                let holder = String::from_utf8_lossy(&kv.value).into_owned();
                if kv.lease == lease && holder == self.0.name {
                    mine.insert(g.to_string());
                }
                holders.insert(g.to_string(), holder);
            }
        }
        let release: Vec<String> = {
            let mut s = self.lock();
            s.replicas = replicas;
            s.holders = holders;
            if s.registered && s.valid_until.is_some() {
                // The holdings are the keys attached to this lease (also after a spell without
                // etcd that outlasted the local deadline but not the lease), but for groups
                // taken or released since the read: a key deleted by hand, or handed over, is
                // not held any more; one re-adopted is fresh.
                let State {
                    holdings,
                    fresh,
                    changed,
                    groups,
                    ..
                } = &mut *s;
                holdings.retain(|g| changed.contains(g) || mine.contains(g));
                for g in &mine {
                    if groups.contains(g) && !changed.contains(g) && holdings.insert(g.clone()) {
                        fresh.insert(g.clone());
                    }
                }
            }
            mine.into_iter().filter(|g| !s.groups.contains(g)).collect()
        };
        for g in release {
            etcd.delete_if_lease(&self.group_key(&g), lease).await?;
            tracing::info!(replica = %self.0.name, group = %g, "released a group the config no longer has");
        }
        // Free groups this replica is preferred for are taken now, not at their next tick: a
        // group whose holder died or handed it over is held again within a pass, so "nobody
        // holds it" means trouble even for a group that ticks once a day.
        for g in self.free_and_preferred() {
            match etcd
                .create(&self.group_key(&g), self.0.name.as_bytes(), lease)
                .await?
            {
                None => {
                    tracing::info!(replica = %self.0.name, group = %g, "took the group");
                    let mut s = self.lock();
                    s.seen_free.remove(&g);
                    s.holders.insert(g.clone(), self.0.name.clone());
                    s.changed.insert(g.clone());
                    s.fresh.insert(g.clone());
                    s.holdings.insert(g);
                }
                Some(kv) => {
                    let holder = String::from_utf8_lossy(&kv.value).into_owned();
                    if !holder.is_empty() {
                        self.lock().holders.insert(g, holder);
                    }
                }
            }
        }
        Ok(())
    }

    /// Groups nobody holds (as last read) whose preferred replica is this one, while it may
    /// take them (registered, lease alive).
    fn free_and_preferred(&self) -> Vec<String> {
        let s = self.lock();
        if !s.registered || s.valid_until.is_none_or(|t| Instant::now() >= t) {
            return Vec::new();
        }
        s.preferred()
            .into_iter()
            .filter(|(g, r)| *r == self.0.name && !s.holders.contains_key(g))
            .map(|(g, _)| g)
            .collect()
    }

    /// The decision at `group`'s tick `tick` (the scheduled time, Unix seconds, before any
    /// jitter). Counted in `prefix_warden_cluster_ticks_total`.
    pub async fn claim(&self, group: &str, tick: i64) -> Claim {
        let mut claim = self.claim_inner(group).await;
        if claim == Claim::Run && self.lock().fresh.contains(group) {
            // Just taken: the previous holder may have warmed this very tick (its jitter fired
            // before ours). Its record says.
            claim = match self.0.etcd.get(&self.tick_key(group)).await {
                Ok(kv) => {
                    self.lock().fresh.remove(group);
                    let done =
                        kv.and_then(|kv| std::str::from_utf8(&kv.value).ok()?.parse::<i64>().ok());
                    if done.is_some_and(|d| d >= tick) {
                        Claim::AlreadyWarmed
                    } else {
                        Claim::Run
                    }
                }
                // Not knowing, this tick is left out: a miss, never a duplicate.
                Err(e) => self.unknown_holder(group, &e),
            };
        }
        metrics::counter!(CLUSTER_TICKS, "group" => group.to_string(), "decision" => claim.label())
            .increment(1);
        if claim == Claim::Run {
            metrics::gauge!(CLUSTER_GROUP_HELD, "group" => group.to_string()).set(1.0);
        }
        claim
    }

    async fn claim_inner(&self, group: &str) -> Claim {
        let lease = {
            let s = self.lock();
            let Some(lease) = s
                .lease
                .filter(|_| s.valid_until.is_some_and(|t| Instant::now() < t))
            else {
                return Claim::EtcdLost;
            };
            if !s.registered {
                return Claim::Standby { holder: None };
            }
            if s.holdings.contains(group) {
                return Claim::Run;
            }
            lease
        };
        // A fresh read of the fleet, not the last pass's: a holder that just died took its
        // registration with it (same lease), so the preference is computed without it and its
        // groups are taken at this tick, not one tick later.
        let key = self.group_key(group);
        let etcd = &self.0.etcd;
        let kvs = match etcd.range_prefix(&self.0.prefix).await {
            Ok(kvs) => kvs,
            Err(e) => return self.unknown_holder(group, &e),
        };
        let (preferred, seen_free, current) = {
            let mut s = self.lock();
            let replicas_prefix = format!("{}replicas/", self.0.prefix);
            s.replicas = kvs
                .iter()
                .filter_map(|kv| kv.key.strip_prefix(&replicas_prefix).map(str::to_string))
                .collect();
            let preferred = s.preferred().get(group).is_some_and(|r| *r == self.0.name);
            let current = kvs.into_iter().find(|kv| kv.key == key);
            (preferred, s.seen_free.contains(group), current)
        };
        let taken = match current {
            Some(kv) => Ok(Some(kv)),
            None if preferred || seen_free => {
                etcd.create(&key, self.0.name.as_bytes(), lease).await
            }
            None => Ok(Some(etcd::Kv::absent(&key))),
        };
        let mut s = self.lock();
        match taken {
            Ok(None) => {
                tracing::info!(replica = %self.0.name, group, "took the group");
                s.seen_free.remove(group);
                s.holdings.insert(group.to_string());
                s.changed.insert(group.to_string());
                s.fresh.insert(group.to_string());
                s.holders.insert(group.to_string(), self.0.name.clone());
                Claim::Run
            }
            Ok(Some(kv)) if kv.lease == lease && kv.value == self.0.name.as_bytes() => {
                s.seen_free.remove(group);
                if s.holdings.insert(group.to_string()) {
                    s.changed.insert(group.to_string());
                    s.fresh.insert(group.to_string());
                }
                Claim::Run
            }
            Ok(Some(kv)) if kv.value.is_empty() => {
                s.seen_free.insert(group.to_string());
                s.holders.remove(group);
                Claim::Standby { holder: None }
            }
            Ok(Some(kv)) => {
                s.seen_free.remove(group);
                let holder = String::from_utf8_lossy(&kv.value).into_owned();
                s.holders.insert(group.to_string(), holder.clone());
                Claim::Standby {
                    holder: Some(holder),
                }
            }
            Err(e) => {
                drop(s);
                self.unknown_holder(group, &e)
            }
        }
    }

    fn unknown_holder(&self, group: &str, e: &EtcdError) -> Claim {
        tracing::warn!(replica = %self.0.name, group, error = %e, "cannot tell who holds the group: not warming it from here");
        Claim::EtcdLost
    }

    /// Whether this replica may still send `group`'s requests: it holds the key and its lease
    /// is known alive now.
    pub fn still_holds(&self, group: &str) -> bool {
        let s = self.lock();
        s.holdings.contains(group) && s.valid_until.is_some_and(|t| Instant::now() < t)
    }

    /// After a run of `group` at `tick`: records the tick as warmed (for a next holder whose
    /// jitter fires later), then hands the group over if another registered replica is
    /// preferred for it (a replica joined).
    pub async fn after_run(&self, group: &str, tick: i64) {
        if self.still_holds(group) {
            if let Err(e) = self
                .0
                .etcd
                .put(&self.tick_key(group), tick.to_string().as_bytes())
                .await
            {
                tracing::warn!(replica = %self.0.name, group, error = %e, "could not record the tick warmed");
            }
        }
        let lease = {
            let s = self.lock();
            let Some(lease) = s.lease.filter(|_| s.holdings.contains(group)) else {
                return;
            };
            match s.preferred().get(group) {
                Some(r) if *r != self.0.name => lease,
                _ => return,
            }
        };
        // Not held from here on, whatever etcd answers: a failed delete leaves the key to
        // expire with the lease (the next pass does not adopt it again: it changed).
        {
            let mut s = self.lock();
            s.holdings.remove(group);
            s.changed.insert(group.to_string());
        }
        match self
            .0
            .etcd
            .delete_if_lease(&self.group_key(group), lease)
            .await
        {
            Ok(_) => {
                tracing::info!(replica = %self.0.name, group, "handed the group over to its preferred replica")
            }
            Err(e) => {
                tracing::warn!(replica = %self.0.name, group, error = %e, "could not release the group")
            }
        }
        metrics::gauge!(CLUSTER_GROUP_HELD, "group" => group.to_string()).set(0.0);
    }

    /// Whether this replica delivers the alert event `id` (a digest of what identifies it).
    pub async fn claim_alert(&self, id: &str) -> AlertClaim {
        let claim = self.claim_alert_inner(id).await;
        metrics::counter!(ALERT_CLAIMS, "result" => claim.label()).increment(1);
        claim
    }

    async fn claim_alert_inner(&self, id: &str) -> AlertClaim {
        let etcd = &self.0.etcd;
        let current = self.lock().alert_lease;
        let lease = match current {
            Some((l, at)) if at.elapsed() < Duration::from_secs(ALERT_CLAIM_SECS / 2) => l,
            _ => match etcd.grant(ALERT_CLAIM_SECS).await {
                Ok(l) => {
                    self.lock().alert_lease = Some((l, Instant::now()));
                    l
                }
                Err(_) => return AlertClaim::Unavailable,
            },
        };
        let key = format!("{}alerts/{id}", self.0.prefix);
        match etcd.create(&key, self.0.name.as_bytes(), lease).await {
            Ok(None) => AlertClaim::Won,
            // Our own claim, committed by an attempt whose answer was lost (a timeout, then
            // the next endpoint): still ours to deliver.
            Ok(Some(kv)) if kv.lease == lease && kv.value == self.0.name.as_bytes() => {
                AlertClaim::Won
            }
            Ok(Some(_)) => AlertClaim::Lost,
            Err(_) => AlertClaim::Unavailable,
        }
    }

    pub fn status(&self) -> ClusterStatus {
        let s = self.lock();
        let now = Instant::now();
        ClusterStatus {
            replica: self.0.name.clone(),
            etcd_up: s.etcd_up,
            lease_valid_secs: s
                .valid_until
                .map_or(0.0, |t| t.saturating_duration_since(now).as_secs_f64()),
            replicas: s.replicas.clone(),
            holders: s.holders.clone(),
            last_error: s.last_error.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `$PREFIX_WARDEN_REPLICA`, else the host name: the kernel's, or `/etc/hostname` where `/proc/sys`
/// is hidden (the systemd unit's `ProcSubset=pid`). A Kubernetes pod's host name is its name.
fn default_name() -> Result<String> {
    let name = match std::env::var("PREFIX_WARDEN_REPLICA") {
        Ok(n) if !n.is_empty() => n,
        _ => ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|f| {
                crate::bounded::read_limited(std::path::Path::new(f), 256)
                    .ok()
                    .map(|b| String::from_utf8_lossy(&b).trim().to_string())
                    .filter(|h| !h.is_empty())
            })
            .ok_or_else(|| {
                Error::Other(
                    "cluster.name is not set and the host name cannot be read: set cluster.name or $PREFIX_WARDEN_REPLICA".into(),
                )
            })?,
    };
    if !crate::config::valid_replica_name(&name) {
        return Err(Error::Other(
            "cluster.name is not set and the host name (or $PREFIX_WARDEN_REPLICA) is not a valid replica name (1..=63 of A-Z a-z 0-9 - _ .): set cluster.name".into(),
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replica whose etcd is gone (nothing listens on port 1), holding `g` on a lease known
    /// alive for `alive` more.
    fn cut_off(alive: Duration) -> Cluster {
        let cfg: crate::config::RawCluster = toml::from_str(
            "endpoints = [\"http://127.0.0.1:1\"]\nname = \"r1\"\nlease_ttl_secs = 10\nrequest_timeout_ms = 100",
        )
        .unwrap();
        let c = Cluster::new(&cfg.resolve(std::path::Path::new("/")).unwrap()).unwrap();
        c.set_groups(&["g"]);
        {
            let mut s = c.lock();
            s.lease = Some(7);
            s.valid_until = Some(Instant::now() + alive);
            s.registered = true;
            s.etcd_up = true;
            s.holdings.insert("g".into());
        }
        c
    }

    #[tokio::test(start_paused = true)]
    async fn a_holder_cut_off_from_etcd_stops_when_its_lease_could_have_expired() {
        let c = cut_off(Duration::from_secs(2));
        assert!(c.still_holds("g"));
        assert_eq!(
            c.claim("g", 0).await,
            Claim::Run,
            "held, lease alive: no etcd needed"
        );
        c.pass().await; // the renewal fails
        assert!(c.still_holds("g"), "still within the lease: keeps warming");
        assert!(!c.status().etcd_up);
        tokio::time::advance(Duration::from_millis(2001)).await;
        assert!(
            !c.still_holds("g"),
            "past the deadline: not one more request"
        );
        assert_eq!(c.claim("g", 0).await, Claim::EtcdLost);
        c.pass().await;
        assert!(c.lock().holdings.is_empty(), "holdings dropped");
        assert_eq!(c.status().lease_valid_secs, 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_renewal_is_retried_sooner_while_the_lease_is_alive() {
        let c = cut_off(Duration::from_secs(2));
        assert_eq!(
            c.next_pass_in(),
            c.poll(),
            "before any failure: the normal pace"
        );
        c.pass().await; // the renewal fails
        assert_eq!(
            c.next_pass_in(),
            c.poll() / 4,
            "lease alive: retried sooner"
        );
        tokio::time::advance(Duration::from_millis(2001)).await;
        c.pass().await;
        assert_eq!(
            c.next_pass_in(),
            c.poll(),
            "lease lost: nothing to save, the normal pace"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_replica_without_a_lease_takes_nothing() {
        let c = cut_off(Duration::ZERO);
        c.lock().holdings.clear();
        assert_eq!(c.claim("g", 0).await, Claim::EtcdLost);
        assert!(!c.still_holds("g"));
    }
}
