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
//!
//! # Layout
//! - [`group`]: one group of one config generation, and its run.
//! - [`state`]: what a group keeps across runs and generations (in-flight flag, retry-after).
//! - [`comparison`]: the previous warm-up each request names so the provider says why it
//!   missed, and what the daemon knows changed since (joined into the miss's log line).
//! - [`provider`]: request building and status-first classification per API.
//! - [`ratelimit`]: rate-limit and retry-after headers, capped.
//! - [`key`]: API keys from the environment or a credentials file.

pub mod comparison;
pub mod group;
pub mod key;
pub mod provider;
pub mod ratelimit;
pub mod state;

pub use group::Group;
pub use key::{api_key, key_from, ApiKey};
pub use state::States;
