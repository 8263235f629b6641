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
];

/// Installs the global recorder and describes every metric. Call once per process.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    describe();
    Ok(handle)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge};
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
}

pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
