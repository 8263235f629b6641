//! The shipped dashboard and alert rules only name metrics the daemon exports.

use std::collections::BTreeSet;

use prefix_warden::metrics::{ALL, WARMUP_DURATION};

use crate::support::root;

/// Every `prefix_warden_*` metric name in a PromQL text (recording rules, which are
/// `prefix_warden:*`, are not metric names of the daemon).
fn names(promql: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = promql.as_bytes();
    let mut i = 0;
    while let Some(off) = promql[i..].find("prefix_warden_") {
        let start = i + off;
        let preceded = start > 0
            && (b[start - 1].is_ascii_alphanumeric()
                || b[start - 1] == b'_'
                || b[start - 1] == b':');
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        if !preceded {
            out.insert(promql[start..end].to_string());
        }
        i = end;
    }
    out
}

fn exported(name: &str) -> bool {
    ALL.contains(&name)
        || ["_bucket", "_sum", "_count"]
            .iter()
            .any(|s| name.strip_suffix(s) == Some(WARMUP_DURATION))
}

fn exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("expr" | "query", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => exprs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

#[test]
fn dashboard_expressions_name_exported_metrics() {
    let dash: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("deploy/grafana/prefix-warden.json")).unwrap(),
    )
    .unwrap();
    let mut all = Vec::new();
    exprs(&dash, &mut all);
    assert!(all.len() >= 6, "the dashboard has panels: {}", all.len());
    let used: BTreeSet<String> = all.iter().flat_map(|e| names(e)).collect();
    let unknown: Vec<&String> = used.iter().filter(|n| !exported(n)).collect();
    assert!(
        unknown.is_empty(),
        "dashboard names metrics the daemon does not export: {unknown:?}"
    );
    for needed in [
        "prefix_warden_cache_read_tokens_total",
        "prefix_warden_warmup_runs_total",
        "prefix_warden_live_color",
        "prefix_warden_fingerprint_changes_total",
    ] {
        assert!(used.contains(needed), "the dashboard shows {needed}");
    }
}

#[test]
fn alert_rules_name_exported_metrics() {
    let text =
        std::fs::read_to_string(root().join("deploy/prometheus/prefix-warden.rules.yml")).unwrap();
    let used = names(&text);
    assert!(used.len() >= 8);
    let unknown: Vec<&String> = used.iter().filter(|n| !exported(n)).collect();
    assert!(
        unknown.is_empty(),
        "rules name metrics the daemon does not export: {unknown:?}"
    );
}

#[test]
fn the_scanner_finds_names_and_skips_recording_rules() {
    let n = names("sum(rate(prefix_warden_cache_read_tokens_total[5m])) / prefix_warden:cache_hit_ratio:rate1h + x_prefix_warden_y");
    assert_eq!(
        n.into_iter().collect::<Vec<_>>(),
        vec!["prefix_warden_cache_read_tokens_total".to_string()]
    );
}
