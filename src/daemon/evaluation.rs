//! One evaluation pass over every (prompt, tokenizer) pair of the running generation, recorded
//! in the store; and what a change raises: a log event, metrics and an alert.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{AlertEvent, Daemon};
use crate::analyzer::{Analyzer, Evaluation};
use crate::cache_rules::Layout;
use crate::error::Result;
use crate::fingerprint::PrefixFingerprints;
use crate::metrics::*;
use crate::status::PairStatus;
use crate::store::{Change, Health, RecordInput, Store, TokenizerChange};

impl Daemon {
    /// The retirement day (as Unix seconds) of every model the generation registers or warms
    /// that the lifecycle data knows, for the PromptCacheModelRetiring alert; and a warning
    /// per model within the data's window or past it.
    fn export_retirements(&mut self) {
        let a = self.gen.analyzer.clone();
        let mut exported = std::collections::BTreeSet::new();
        let today = chrono::DateTime::from_timestamp(self.clock.unix() as i64, 0)
            .map(|t| t.date_naive())
            .unwrap_or_default();
        for (model, used_by) in a.used_models() {
            let Some(e) = a.lifecycle.for_model(&model) else {
                continue;
            };
            let at = e
                .retires
                .and_hms_opt(0, 0, 0)
                .map_or(0, |t| t.and_utc().timestamp());
            metrics::gauge!(MODEL_RETIREMENT, "model" => model.clone()).set(at as f64);
            exported.insert(model.clone());
            match a.lifecycle.status(&model, today) {
                crate::lifecycle::Status::Current | crate::lifecycle::Status::Unknown => {}
                crate::lifecycle::Status::Retiring(days) => tracing::warn!(
                    model = %model,
                    used_by = %used_by.join(", "),
                    retires = %e.retires,
                    days,
                    "model retiring"
                ),
                crate::lifecycle::Status::Retired(days) => tracing::error!(
                    model = %model,
                    used_by = %used_by.join(", "),
                    retired = %e.retires,
                    days_ago = days,
                    "model retired: its warm-ups and prices are for a model that no longer serves"
                ),
            }
        }
        // A model the config no longer uses: NaN, which no alert condition matches (the
        // recorder cannot drop a series).
        for gone in self.retirements_exported.difference(&exported) {
            metrics::gauge!(MODEL_RETIREMENT, "model" => gone.clone()).set(f64::NAN);
        }
        self.retirements_exported = exported;
    }

    /// One pass: every (prompt, tokenizer) pair, per tokenizer so one broken file does not
    /// hide the others.
    pub(super) async fn evaluate(&mut self) {
        let a = self.gen.analyzer.clone();
        let store = self.store.clone();
        let started = self.clock.unix() as i64;
        let handle = tokio::runtime::Handle::current();
        let (results, store_problems) = tokio::task::spawn_blocking(move || {
            // The history must be the file it was: checked before the pass, and in depth after
            // any error, so a lost file is never reported as a successful pass.
            let mut problems: Vec<String> =
                ensure_store(&store, false, started).into_iter().collect();
            let results = evaluate_all(&a, &store, started, &handle);
            if results.iter().any(|r| r.is_err()) {
                problems.extend(ensure_store(&store, true, started));
            }
            // The tokenizers loaded for the pass are gone: give their pages back now.
            crate::memory::release_free_pages();
            (results, problems)
        })
        .await
        .unwrap_or_else(|e| {
            (
                vec![Err(crate::error::Error::Other(format!(
                    "evaluation task failed: {e}"
                )))],
                Vec::new(),
            )
        });
        let now = self.clock.unix();
        if !store_problems.is_empty() {
            let mut st = self
                .shared
                .status
                .write()
                .unwrap_or_else(|e| e.into_inner());
            st.store.recoveries += store_problems.len() as u64;
            st.store.last_problem = store_problems.last().cloned();
            st.store.last_recovery = Some(now);
        }
        let mut errors = Vec::new();
        let mut pairs = Vec::new();
        // Every error of the pass, whatever built it (a template, a provider's body), passes
        // the one redaction path against every prompt of the generation before it is logged
        // or shown in /status.
        let secrets = self.gen.analyzer.redactor();
        for r in results {
            match r {
                Err(e) => {
                    let e = secrets.clean(&e.to_string());
                    tracing::error!(error = %e, "evaluation failed");
                    errors.push(e);
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
                            // Warm-ups that miss after this join it into their log line.
                            self.shared
                                .warmups
                                .fingerprint_changes()
                                .record(&ev.prompt, self.clock.now());
                            self.fingerprint_changed(&ev, &previous.fingerprints());
                        }
                        metrics::counter!(FINGERPRINT_CHANGES, &labels).absolute(count);
                        self.changes.insert(key, count);
                        pairs.push(PairStatus {
                            prompt: ev.prompt.clone(),
                            tokenizer: ev.tokenizer.clone(),
                            tokenizer_sha256: ev.identity.file_sha256.clone(),
                            kind: ev.kind,
                            fingerprint: ev.fp.fingerprint.clone(),
                            token_count: ev.fp.token_count,
                            last_change: snapshot_since,
                            changes_since_start: count,
                        });
                    }
                }
            }
        }
        // A pass that found the history lost is not a success, even though it recorded into
        // the new file.
        errors.extend(
            store_problems
                .iter()
                .map(|p| format!("history database: {p}; moved aside, a new one was started")),
        );
        let result = if errors.is_empty() {
            "success"
        } else {
            "failure"
        };
        metrics::counter!(EVALUATIONS, "result" => result).increment(1);
        self.export_retirements();
        if errors.is_empty() {
            metrics::gauge!(LAST_EVALUATION).set(now);
        }
        let mut st = self
            .shared
            .status
            .write()
            .unwrap_or_else(|e| e.into_inner());
        st.last_evaluation = Some(now);
        st.last_evaluation_errors = errors;
        st.unfingerprinted = self
            .gen
            .analyzer
            .prompts
            .iter()
            .filter(|p| !pairs.iter().any(|s| s.prompt == p.id))
            .map(|p| p.id.clone())
            .collect();
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
        self.outbox.send(&self.gen.alerts, AlertEvent {
            alertname: "TokenizerSourceChanged".into(),
            severity: "warning".into(),
            labels: [("tokenizer".to_string(), label.to_string())].into(),
            summary: format!("tokenizer {label} changed content under the same label"),
            description: format!("sha256 {old} -> {new}; cached prefixes fingerprinted under the old file may no longer match"),
            details: serde_json::json!({"tokenizer": label, "old_sha256": old, "new_sha256": new}),
        });
    }

    fn fingerprint_changed(&self, ev: &Evaluation, prev: &PrefixFingerprints) {
        let a = &self.gen.analyzer;
        let block = crate::fingerprint::first_divergent_block(&prev.blocks, &ev.fp.blocks)
            .unwrap_or(prev.blocks.len().min(ev.fp.blocks.len()));
        // Ids are not stored, so the common prefix is known to within one block.
        let lcp = block * ev.fp.block_size;
        // Only the models this tokenizer serves: the others' caches are keyed on other ids
        // and never priced (README), so a count for them would only lengthen the line.
        let served = a
            .config
            .tokenizers
            .iter()
            .find(|t| t.id == ev.tokenizer)
            .map(|t| t.models.clone())
            .unwrap_or_default();
        let surviving: BTreeMap<String, usize> = a
            .prompts
            .iter()
            .find(|p| p.id == ev.prompt)
            .map(|p| {
                p.models
                    .iter()
                    .filter(|m| crate::diff::serves(&served, m))
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
            kind = %ev.kind,
            old_fingerprint = %prev.fingerprint,
            new_fingerprint = %ev.fp.fingerprint,
            old_tokens = prev.token_count,
            new_tokens = ev.fp.token_count,
            first_divergent_block = block,
            surviving = %serde_json::to_string(&surviving).unwrap_or_default(),
            "fingerprint changed"
        );
        self.outbox.send(
            &self.gen.alerts,
            AlertEvent {
                alertname: "PromptFingerprintChanged".into(),
                severity: "warning".into(),
                labels: [
                    ("prompt".to_string(), ev.prompt.clone()),
                    ("tokenizer".to_string(), ev.tokenizer.clone()),
                    ("kind".to_string(), ev.kind.to_string()),
                ]
                .into(),
                summary: format!(
                    "{} fingerprint of prompt {} under {} changed",
                    ev.kind, ev.prompt, ev.tokenizer
                ),
                description: format!(
                    "{} -> {}; first divergent block {block} (token ~{lcp}); tokens {} -> {}",
                    prev.fingerprint, ev.fp.fingerprint, prev.token_count, ev.fp.token_count
                ),
                details: serde_json::json!({
                    "prompt": ev.prompt, "tokenizer": ev.tokenizer, "kind": ev.kind,
                    "old_fingerprint": prev.fingerprint, "new_fingerprint": ev.fp.fingerprint,
                    "first_divergent_block": block, "surviving_tokens": surviving,
                }),
            },
        );
    }
}

/// Checks the store (`deep`: with `PRAGMA quick_check`) and, when the file was deleted,
/// replaced or corrupted, moves what is left aside and opens a new one in its place. Returns
/// the problem, already logged and counted.
fn ensure_store(store: &Mutex<Store>, deep: bool, now: i64) -> Option<String> {
    let mut s = store.lock().unwrap_or_else(|e| e.into_inner());
    let health = if deep { s.quick_check() } else { s.check() };
    if health == Health::Ok {
        metrics::gauge!(STORE_HEALTHY).set(1.0);
        return None;
    }
    metrics::gauge!(STORE_HEALTHY).set(0.0);
    let path = s.path().to_path_buf();
    tracing::error!(store = %path.display(), problem = %health, "history database lost under the running daemon");
    // Reopen what stands at the path now: nothing (deleted) gives a new file; a corrupt file
    // is moved aside for forensics first; a sound database put there (a restore) is adopted.
    let reopened = Store::open_or_recover(&path, now);
    match reopened {
        Ok((n, _)) => {
            *s = n;
            metrics::gauge!(STORE_HEALTHY).set(1.0);
        }
        Err(e) => {
            tracing::error!(store = %path.display(), error = %e, "cannot start a new history database")
        }
    }
    // Counted once the recovery is done, so whoever sees the count sees its outcome (the new
    // file in place, or the healthy gauge still at 0): counting first let a reader of
    // /metrics see the recovery before the new file stood at the path.
    metrics::counter!(STORE_RECOVERIES, "reason" => health.label()).increment(1);
    Some(health.to_string())
}

/// The outcome of evaluating every prompt under one tokenizer.
struct TokenizerPass {
    /// (label, old sha256, new sha256) when the content behind the label changed.
    tokenizer_change: Option<(String, String, String)>,
    /// Each evaluation with what the store made of it and since when its fingerprint holds.
    evaluations: Vec<(Evaluation, Change, i64)>,
}

/// Runs on a blocking thread; `rt` drives the provider calls of counting tokenizers.
fn evaluate_all(
    a: &Analyzer,
    store: &Mutex<Store>,
    now: i64,
    rt: &tokio::runtime::Handle,
) -> Vec<Result<TokenizerPass>> {
    let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
    a.config
        .tokenizers
        .iter()
        .map(|t| {
            let identity = a.tokenizers.identity(&t.id)?;
            let pairs: Vec<_> = a.prompts.iter().map(|p| (p, t.id.clone())).collect();
            let evals = if t.format.is_count() {
                let prompts: Vec<_> = a.prompts.iter().collect();
                rt.block_on(crate::count::evaluate(a, t, &prompts, at))
            } else {
                a.evaluate(&pairs, at)
            };
            a.tokenizers.unload(&t.id);
            let evals = evals?;
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
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
