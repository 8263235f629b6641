//! Alert delivery: Alertmanager's `/api/v2/alerts` and a generic JSON webhook.
//!
//! Each event is delivered in a background task with bounded exponential backoff and jitter.
//! Every attempt is counted in `prefix_warden_alert_deliveries_total{sink,result}`
//! (`success`, `failure`; `dropped` when retries run out, with an error log), so nothing is
//! lost silently. Events carry ids and fingerprints, never prompt text.
//!
//! The [`Outbox`] lives as long as the daemon, not as long as a config generation: where an
//! event goes is decided from the generation current when it is raised ([`AlertTargets`]), and
//! a delivery still being retried when a reload swaps the generation carries on to its end.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::generation::AlertTargets;
use crate::metrics::ALERT_DELIVERIES;

/// One alert, as sent to every configured sink.
#[derive(Debug, Clone, Serialize)]
pub struct AlertEvent {
    pub alertname: String,
    pub severity: String,
    pub labels: BTreeMap<String, String>,
    pub summary: String,
    pub description: String,
    /// Structured details for the webhook (ids, fingerprints, counts).
    pub details: serde_json::Value,
}

/// Alert deliveries in flight; one per daemon.
#[derive(Clone)]
pub struct Outbox {
    client: reqwest::Client,
    /// Delivery attempts per event before it is dropped (and counted as such).
    max_attempts: u32,
    base_delay: Duration,
    tasks: tokio_util_tasks::Tracker,
}

/// A tiny tracker of spawned delivery tasks, so shutdown can wait for them briefly.
mod tokio_util_tasks {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    pub struct Tracker(Arc<Mutex<tokio::task::JoinSet<()>>>);

    impl Tracker {
        pub fn spawn(&self, f: impl std::future::Future<Output = ()> + Send + 'static) {
            let mut set = self.0.lock().expect("tracker lock");
            while set.try_join_next().is_some() {}
            set.spawn(f);
        }

        pub async fn wait(&self, timeout: std::time::Duration) {
            let mut set = std::mem::take(&mut *self.0.lock().expect("tracker lock"));
            let _ =
                tokio::time::timeout(timeout, async { while set.join_next().await.is_some() {} })
                    .await;
        }
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .expect("a client with a timeout builds");
        Self {
            client,
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            tasks: Default::default(),
        }
    }

    /// Queues `event` for every sink of `to`; returns at once.
    pub fn send(&self, to: &AlertTargets, event: AlertEvent) {
        let now = chrono::Utc::now();
        if let Some(url) = &to.alertmanager {
            let mut labels = event.labels.clone();
            labels.insert("alertname".into(), event.alertname.clone());
            labels.insert("severity".into(), event.severity.clone());
            labels.insert("service".into(), "prefix-warden".into());
            let body = serde_json::json!([{
                "labels": labels,
                "annotations": {"summary": event.summary, "description": event.description},
                "startsAt": now.to_rfc3339(),
                "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
            }]);
            let url = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
            self.spawn("alertmanager", url, body);
        }
        if let Some(url) = &to.webhook {
            let body = serde_json::to_value(&event).expect("serializable");
            self.spawn("webhook", url.clone(), body);
        }
    }

    fn spawn(&self, sink: &'static str, url: String, body: serde_json::Value) {
        let client = self.client.clone();
        let (max, base) = (self.max_attempts, self.base_delay);
        self.tasks.spawn(async move {
            for attempt in 1..=max {
                let res = client.post(&url).json(&body).send().await;
                let err = match res {
                    Ok(r) if r.status().is_success() => {
                        metrics::counter!(ALERT_DELIVERIES, "sink" => sink, "result" => "success")
                            .increment(1);
                        return;
                    }
                    Ok(r) => format!("HTTP {}", r.status()),
                    Err(e) => e.to_string(),
                };
                metrics::counter!(ALERT_DELIVERIES, "sink" => sink, "result" => "failure")
                    .increment(1);
                tracing::warn!(sink, attempt, error = %err, "alert delivery failed");
                if attempt < max {
                    tokio::time::sleep(crate::backoff::backoff(base, attempt)).await;
                }
            }
            metrics::counter!(ALERT_DELIVERIES, "sink" => sink, "result" => "dropped").increment(1);
            tracing::error!(sink, attempts = max, "alert dropped after retries");
        });
    }

    /// Waits up to `timeout` for deliveries in flight (on shutdown).
    pub async fn drain(&self, timeout: Duration) {
        self.tasks.wait(timeout).await;
    }
}
