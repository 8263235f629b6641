//! Metric names (fixed: alert rules and the dashboard rely on them), their descriptions, and
//! the Prometheus recorder.
//!
//! Invariant: no label carries prompt text or a fingerprint value; labels are prompt ids,
//! tokenizer labels, result words and sink names. Ratios are left to PromQL.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub const PROMPT_TOKENS: &str = "prefix_warden_prompt_tokens";
pub const FINGERPRINT_CHANGES: &str = "prefix_warden_fingerprint_changes_total";
pub const FINGERPRINT_LAST_CHANGE: &str = "prefix_warden_fingerprint_last_change_timestamp_seconds";
pub const TOKENIZER_SOURCE_CHANGES: &str = "prefix_warden_tokenizer_source_changes_total";
pub const EVALUATIONS: &str = "prefix_warden_evaluations_total";
pub const LAST_EVALUATION: &str = "prefix_warden_last_evaluation_timestamp_seconds";
pub const CONFIG_RELOAD_FAILURES: &str = "prefix_warden_config_reload_failures_total";
pub const ALERT_DELIVERIES: &str = "prefix_warden_alert_deliveries_total";
pub const BUILD_INFO: &str = "prefix_warden_build_info";
pub const START_TIME: &str = "prefix_warden_start_time_seconds";
pub const TOKENIZER_SOURCE_FETCHES: &str = "prefix_warden_tokenizer_source_fetches_total";
pub const WARMUP_RUNS: &str = "prefix_warden_warmup_runs_total";
pub const WARMUP_REQUESTS: &str = "prefix_warden_warmup_requests_total";
pub const WARMUP_LAST_SUCCESS: &str = "prefix_warden_warmup_last_success_timestamp_seconds";
pub const WARMUP_INTERVAL: &str = "prefix_warden_warmup_interval_seconds";
pub const WARMUP_DURATION: &str = "prefix_warden_warmup_duration_seconds";
pub const LIVE_COLOR: &str = "prefix_warden_live_color";
pub const CACHE_READ_TOKENS: &str = "prefix_warden_cache_read_tokens_total";
pub const CACHE_WRITE_TOKENS: &str = "prefix_warden_cache_write_tokens_total";
pub const UNCACHED_INPUT_TOKENS: &str = "prefix_warden_uncached_input_tokens_total";
pub const USAGE_RECORDS: &str = "prefix_warden_usage_records_total";
pub const CACHE_DIAGNOSES: &str = "prefix_warden_cache_diagnoses_total";
pub const CACHE_MISSES: &str = "prefix_warden_cache_misses_total";
pub const CACHE_MISSED_TOKENS: &str = "prefix_warden_cache_missed_tokens_total";
pub const STORE_HEALTHY: &str = "prefix_warden_store_healthy";
pub const STORE_RECOVERIES: &str = "prefix_warden_store_recoveries_total";
pub const MODEL_RETIREMENT: &str = "prefix_warden_model_retirement_timestamp_seconds";
pub const WATCH_FETCHES: &str = "prefix_warden_watch_fetches_total";
pub const WATCH_LAST_CHANGE: &str = "prefix_warden_watch_last_change_timestamp_seconds";
pub const KV_RESIDENT_TOKENS: &str = "prefix_warden_kv_resident_tokens";
pub const KV_WARMABLE_TOKENS: &str = "prefix_warden_kv_warmable_tokens";
pub const KV_HOST_KNOWN: &str = "prefix_warden_kv_host_known";
pub const KV_EVENTS: &str = "prefix_warden_kv_events_total";
pub const KV_DROPPED_BLOCKS: &str = "prefix_warden_kv_dropped_blocks_total";
pub const KV_GAPS: &str = "prefix_warden_kv_gaps_total";
pub const KV_BAD_FRAMES: &str = "prefix_warden_kv_bad_frames_total";
pub const CLUSTER_ETCD_REQUESTS: &str = "prefix_warden_cluster_etcd_requests_total";
pub const CLUSTER_ETCD_UP: &str = "prefix_warden_cluster_etcd_up";
pub const CLUSTER_LEASE_VALID: &str = "prefix_warden_cluster_lease_valid";
pub const CLUSTER_LEASES_LOST: &str = "prefix_warden_cluster_leases_lost_total";
pub const CLUSTER_REPLICAS: &str = "prefix_warden_cluster_replicas";
pub const CLUSTER_GROUP_HELD: &str = "prefix_warden_cluster_group_held";
pub const CLUSTER_TICKS: &str = "prefix_warden_cluster_ticks_total";
pub const ALERT_CLAIMS: &str = "prefix_warden_alert_claims_total";
pub const KV_HASH_CHECKS: &str = "prefix_warden_kv_hash_checks_total";
pub const KV_HASH_DISAGREEMENTS: &str = "prefix_warden_kv_hash_disagreements_total";

/// Every metric the process exports (base names), for tests of rules and dashboards.
pub const ALL: &[&str] = &[
    PROMPT_TOKENS,
    FINGERPRINT_CHANGES,
    FINGERPRINT_LAST_CHANGE,
    TOKENIZER_SOURCE_CHANGES,
    EVALUATIONS,
    LAST_EVALUATION,
    CONFIG_RELOAD_FAILURES,
    ALERT_DELIVERIES,
    BUILD_INFO,
    START_TIME,
    TOKENIZER_SOURCE_FETCHES,
    WARMUP_RUNS,
    WARMUP_REQUESTS,
    WARMUP_LAST_SUCCESS,
    WARMUP_INTERVAL,
    WARMUP_DURATION,
    LIVE_COLOR,
    CACHE_READ_TOKENS,
    CACHE_WRITE_TOKENS,
    UNCACHED_INPUT_TOKENS,
    USAGE_RECORDS,
    CACHE_DIAGNOSES,
    CACHE_MISSES,
    CACHE_MISSED_TOKENS,
    STORE_HEALTHY,
    STORE_RECOVERIES,
    MODEL_RETIREMENT,
    WATCH_FETCHES,
    WATCH_LAST_CHANGE,
    KV_RESIDENT_TOKENS,
    KV_WARMABLE_TOKENS,
    KV_HOST_KNOWN,
    KV_EVENTS,
    KV_DROPPED_BLOCKS,
    KV_GAPS,
    KV_BAD_FRAMES,
    CLUSTER_ETCD_REQUESTS,
    CLUSTER_ETCD_UP,
    CLUSTER_LEASE_VALID,
    CLUSTER_LEASES_LOST,
    CLUSTER_REPLICAS,
    CLUSTER_GROUP_HELD,
    CLUSTER_TICKS,
    ALERT_CLAIMS,
    KV_HASH_CHECKS,
    KV_HASH_DISAGREEMENTS,
];

/// Installs the global recorder and describes every metric. Call once per process.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(WARMUP_DURATION.to_string()),
            &[0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
        )
        .expect("non-empty buckets")
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(
        PROMPT_TOKENS,
        "Tokens in the prompt's cached prefix under the tokenizer."
    );
    describe_counter!(
        FINGERPRINT_CHANGES,
        "Times the fingerprint of a (prompt, tokenizer) pair changed."
    );
    describe_gauge!(
        FINGERPRINT_LAST_CHANGE,
        "Unix time of the last fingerprint change of a pair."
    );
    describe_counter!(
        TOKENIZER_SOURCE_CHANGES,
        "Times the content behind a tokenizer label changed."
    );
    describe_counter!(EVALUATIONS, "Fingerprint evaluation passes, by result.");
    describe_gauge!(
        LAST_EVALUATION,
        "Unix time of the last successful evaluation pass."
    );
    describe_counter!(
        CONFIG_RELOAD_FAILURES,
        "Config reloads rejected; the running config was kept."
    );
    describe_counter!(
        ALERT_DELIVERIES,
        "Alert delivery attempts, by sink and result."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which build runs."
    );
    describe_gauge!(START_TIME, "Unix time the process started.");
    describe_counter!(
        TOKENIZER_SOURCE_FETCHES,
        "Checks of tokenizer sources, by result (unchanged, updated, rejected, failed)."
    );
    describe_counter!(WARMUP_RUNS, "Warm-up runs by group, live color and result.");
    describe_counter!(
        WARMUP_REQUESTS,
        "Warm-up requests by prompt, provider and result."
    );
    describe_gauge!(
        WARMUP_LAST_SUCCESS,
        "Unix time of the group's last successful warm-up run."
    );
    describe_gauge!(
        WARMUP_INTERVAL,
        "Nominal seconds between the group's scheduled runs."
    );
    describe_histogram!(WARMUP_DURATION, "Latency of warm-up requests, seconds.");
    describe_gauge!(
        LIVE_COLOR,
        "1 for the color the last lookup found live, 0 for the others."
    );
    describe_counter!(
        CACHE_DIAGNOSES,
        "Provider cache diagnostics read, by prompt, provider, source and result (hit, miss, no_comparison, unavailable, no_reason; malformed: a warm-up answer whose diagnostics could not be read)."
    );
    describe_counter!(
        CACHE_MISSES,
        "Cache misses the provider diagnosed, by prompt, provider, source and reason."
    );
    describe_counter!(
        CACHE_MISSED_TOKENS,
        "Input tokens the provider says a diagnosed miss would have read from cache, by reason."
    );
    describe_counter!(
        CACHE_READ_TOKENS,
        "Input tokens served from the provider's prompt cache."
    );
    describe_counter!(
        CACHE_WRITE_TOKENS,
        "Input tokens written to the provider's prompt cache."
    );
    describe_counter!(
        UNCACHED_INPUT_TOKENS,
        "Input tokens neither read from nor written to the cache."
    );
    describe_counter!(
        USAGE_RECORDS,
        "Usage records of live traffic accepted on /v1/usage."
    );
    describe_gauge!(
        STORE_HEALTHY,
        "1 while the history database is the file the daemon opened and sound; 0 when it was found lost."
    );
    describe_counter!(
        STORE_RECOVERIES,
        "History databases found deleted, replaced or corrupt and started anew, by reason."
    );
    describe_gauge!(
        MODEL_RETIREMENT,
        "Retirement day (Unix seconds, 00:00 UTC) of a model the config registers or warms, from data/model-lifecycle.toml."
    );
    describe_counter!(
        WATCH_FETCHES,
        "Reads of each [[watch]] source, by result (unchanged, changed, first, failed)."
    );
    describe_gauge!(
        WATCH_LAST_CHANGE,
        "When a [[watch]] source's content was last seen to change (Unix seconds)."
    );
    describe_gauge!(
        KV_RESIDENT_TOKENS,
        "Leading tokens of a prompt's prefix resident on an engine host, by group, prompt, tokenizer, host and medium (gpu, other), from its KV-cache events; 0 while the host is unknown."
    );
    describe_gauge!(
        KV_WARMABLE_TOKENS,
        "Tokens of a prompt's prefix an engine host can cache (full blocks, not the one holding the last token)."
    );
    describe_gauge!(
        KV_HOST_KNOWN,
        "1 while an engine host's KV-cache events are current; 0 when unknown (never heard, stale, or a gap replay could not fill)."
    );
    describe_counter!(KV_EVENTS, "KV-cache events read from an engine host.");
    describe_counter!(
        KV_DROPPED_BLOCKS,
        "Stored blocks of an engine host not on a registered prefix's chain: counted, not kept."
    );
    describe_counter!(
        KV_GAPS,
        "Gaps in an engine host's event sequence, by result (replayed, lost)."
    );
    describe_counter!(
        KV_BAD_FRAMES,
        "Messages from an engine host that were not [topic, seq, payload] or did not decode, by kind."
    );
    describe_counter!(
        CLUSTER_ETCD_REQUESTS,
        "Calls to etcd ([cluster]), by op (grant, keepalive, revoke, range, txn, auth) and result (ok, refused, unreachable)."
    );
    describe_gauge!(
        CLUSTER_ETCD_UP,
        "1 while this replica's etcd calls succeed; 0 while etcd is unreachable (no endpoint, no quorum) or refuses them (credentials, permissions)."
    );
    describe_gauge!(
        CLUSTER_LEASE_VALID,
        "1 while this replica's lease is known alive (renewed less than its TTL ago); its groups stop when it is 0."
    );
    describe_counter!(
        CLUSTER_LEASES_LOST,
        "Leases this replica lost (expired before it could renew them), by why (expired_locally, gone)."
    );
    describe_gauge!(
        CLUSTER_REPLICAS,
        "Replicas registered in etcd, as this replica last read them."
    );
    describe_gauge!(
        CLUSTER_GROUP_HELD,
        "1 on the replica that holds a warm-up group (it warms it), 0 on the others: its sum over replicas is 1."
    );
    describe_counter!(
        CLUSTER_TICKS,
        "Warm-up ticks by group and decision (run: this replica warmed; standby: another holds the group; etcd_lost: no valid lease, nobody warmed here)."
    );
    describe_counter!(
        ALERT_CLAIMS,
        "Alert events this replica raised, by result of its claim in etcd (won: it delivers; lost: another replica delivered it; unavailable: etcd did not answer, delivered anyway)."
    );
    describe_counter!(
        KV_HASH_CHECKS,
        "Stored blocks of an engine host on a registered prefix's chain whose hash was compared with the one the configured hash (kv_events hash = sha256_cbor) gives them."
    );
    describe_counter!(
        KV_HASH_DISAGREEMENTS,
        "Of those, the blocks whose hash differed: the engine hashes with another seed, algorithm, extra keys or hash block size. Residency still follows tokens."
    );
}

pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
