//! What a warm-up group keeps between runs and across config generations: whether a run is in
//! flight, the provider's last rate-limit budget, `retry-after`, latency, `/status`, and the
//! previous warm-up each next one is compared with.
//!
//! A group's *configuration* belongs to a generation ([`super::Group`]) and is replaced whole on
//! reload; this state belongs to the group's *name* and outlives reloads, so a reload neither
//! forgets a `retry-after` nor lets a new generation's run overlap one still in flight.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::comparison::{Comparisons, FingerprintChanges};
use super::ratelimit::Budget;
use crate::status::{GroupStatus, RunResult};

/// Runtime state of one group.
pub struct GroupState {
    /// Set while a run is in flight: ticks that find it set are skipped, never queued. Cleared
    /// by [`RunGuard`]'s `Drop`, so a panicking run cannot leave it set.
    running: AtomicBool,
    /// The last budget the provider reported and when: a run starting before the reset while
    /// the budget is under the reserve is deferred without sending anything.
    pub budget: Mutex<Option<(Budget, Instant)>>,
    /// No request before this instant: set from `retry-after` on a 429, so the next run
    /// honours it too.
    pub not_before: Mutex<Option<Instant>>,
    pub latency: Mutex<hdrhistogram::Histogram<u64>>,
    /// Colors seen so far, so the live-color gauge can be set to 0 for the others.
    pub colors: Mutex<Vec<String>>,
    pub status: Mutex<GroupStatus>,
    /// The previous successful warm-up per (prompt, target): its response id is the next
    /// request's comparison. Kept across reloads, because a prompt edit reloads and the first
    /// warm-up after it is the one whose diagnosis says `system_changed`.
    pub comparisons: Comparisons,
}

impl GroupState {
    fn new() -> Self {
        GroupState {
            running: AtomicBool::new(false),
            budget: Mutex::new(None),
            not_before: Mutex::new(None),
            latency: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000, 3).expect("valid bounds"),
            ),
            colors: Mutex::new(Vec::new()),
            status: Mutex::new(GroupStatus::default()),
            comparisons: Comparisons::default(),
        }
    }

    /// Marks a run as started; `None` when one is already in flight.
    pub fn try_start(self: &Arc<Self>) -> Option<RunGuard> {
        (!self.running.swap(true, Ordering::AcqRel)).then(|| RunGuard(self.clone()))
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub fn status(&self) -> GroupStatus {
        lock(&self.status).clone()
    }

    pub fn set_result(&self, result: RunResult, error: Option<String>) {
        let mut s = lock(&self.status);
        s.last_result = Some(result);
        s.last_error = error;
    }
}

/// Held for the length of a run; clears the in-flight flag when dropped, also on unwinding.
pub struct RunGuard(Arc<GroupState>);

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

/// Locks a mutex, recovering the data if a panicking run poisoned it: a panic must never
/// wedge a group.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every group's state by name, and the prompts' fingerprint changes the warm-ups join their
/// misses with; one per daemon, shared by all generations.
#[derive(Clone, Default)]
pub struct States {
    groups: Arc<Mutex<BTreeMap<String, Arc<GroupState>>>>,
    fingerprints: FingerprintChanges,
    /// This replica's membership of a fleet (`[cluster]`): a group warms only at ticks it
    /// holds. `None`: a single replica, which warms every group.
    fleet: Option<crate::cluster::Cluster>,
}

impl States {
    /// States of a replica in `fleet`.
    pub fn in_fleet(fleet: crate::cluster::Cluster) -> States {
        States {
            fleet: Some(fleet),
            ..States::default()
        }
    }

    pub fn fleet(&self) -> Option<&crate::cluster::Cluster> {
        self.fleet.as_ref()
    }

    /// The state of `group`, created on first use.
    pub fn get(&self, group: &str) -> Arc<GroupState> {
        lock(&self.groups)
            .entry(group.to_string())
            .or_insert_with(|| Arc::new(GroupState::new()))
            .clone()
    }

    /// Forgets groups a new generation no longer has (their in-flight runs keep their Arc).
    pub fn retain(&self, groups: &[&str]) {
        lock(&self.groups).retain(|k, _| groups.contains(&k.as_str()));
    }

    /// When each prompt's fingerprint last changed: written by the daemon's evaluation pass,
    /// read by warm-ups that miss.
    pub fn fingerprint_changes(&self) -> &FingerprintChanges {
        &self.fingerprints
    }

    /// `/status` of every group.
    pub fn statuses(&self) -> BTreeMap<String, GroupStatus> {
        lock(&self.groups)
            .iter()
            .map(|(k, v)| (k.clone(), v.status()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_guard_clears_the_flag_even_when_the_run_panics() {
        let states = States::default();
        let s = states.get("g");
        let g = s.try_start().expect("first run starts");
        assert!(s.try_start().is_none(), "no overlap");
        drop(g);
        let s2 = s.clone();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _g = s2.try_start().unwrap();
            let _poison = s2.status.lock().unwrap();
            panic!("boom");
        }));
        assert!(r.is_err());
        assert!(
            !s.is_running(),
            "the guard cleared the flag while unwinding"
        );
        s.set_result(RunResult::Success, None);
        assert_eq!(s.status().last_result, Some(RunResult::Success));
    }
}
