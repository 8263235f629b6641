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
//!
//! Alertmanager alerts stay *firing* for an hour (`endsAt`) and are re-sent every
//! `daemon.alert_resend_secs` until then, as Prometheus re-sends its firing alerts: an
//! Alertmanager that was down when the change happened gets the alert when it comes back.
//! Only an alert that expires without ever being delivered counts as `dropped`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::generation::AlertTargets;
use crate::metrics::ALERT_DELIVERIES;
use crate::status::FiringAlert;

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

/// Alert deliveries in flight and alerts still firing; one per daemon.
#[derive(Clone)]
pub struct Outbox {
    client: reqwest::Client,
    /// Alertmanager alerts until their `endsAt`, keyed by URL and labels (Alertmanager's own
    /// identity of an alert, so a re-send updates it instead of adding one).
    firing: Arc<Mutex<BTreeMap<String, Firing>>>,
    /// Delivery attempts per event before it is dropped (and counted as such).
    max_attempts: u32,
    base_delay: Duration,
    tasks: tokio_util_tasks::Tracker,
    /// In a fleet, every replica raises the same events (each fingerprints every prompt); the
    /// first to claim an event in etcd delivers it, the others count it and stay quiet.
    fleet: Option<crate::cluster::Cluster>,
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

/// One firing Alertmanager alert.
struct Firing {
    url: String,
    body: serde_json::Value,
    /// What `/status` and the page at `/` show of it.
    labels: BTreeMap<String, String>,
    starts_at: chrono::DateTime<chrono::Utc>,
    ends_at: chrono::DateTime<chrono::Utc>,
    /// Delivered at least once; an alert that expires undelivered is counted as dropped.
    delivered: Arc<AtomicBool>,
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
            firing: Default::default(),
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            tasks: Default::default(),
            fleet: None,
        }
    }

    /// The outbox of a replica in `fleet`: each event is delivered once for the fleet.
    pub fn in_fleet(fleet: Option<crate::cluster::Cluster>) -> Self {
        Self {
            fleet,
            ..Self::new()
        }
    }

    /// Queues `event` for every sink of `to`; returns at once. In a fleet the event is first
    /// claimed in etcd: lost, it is not sent from here; etcd unreachable, it is sent anyway
    /// (a duplicate delivery beats a lost alert).
    pub fn send(&self, to: &AlertTargets, event: AlertEvent) {
        if to.alertmanager.is_none() && to.webhook.is_none() {
            return;
        }
        let Some(fleet) = self.fleet.clone() else {
            return self.deliver(to, event);
        };
        let (outbox, to) = (self.clone(), to.clone());
        self.tasks.spawn(async move {
            let id = event_id(&event);
            match fleet.claim_alert(&id).await {
                crate::cluster::AlertClaim::Lost => {
                    tracing::info!(alertname = %event.alertname, "alert delivered by another replica");
                }
                claim => {
                    if claim == crate::cluster::AlertClaim::Unavailable {
                        tracing::warn!(alertname = %event.alertname, "etcd did not answer the alert's claim: delivering it from here (other replicas may too)");
                    }
                    outbox.deliver(&to, event);
                }
            }
        });
    }

    fn deliver(&self, to: &AlertTargets, event: AlertEvent) {
        let now = chrono::Utc::now();
        if let Some(url) = &to.alertmanager {
            let mut labels = event.labels.clone();
            labels.insert("alertname".into(), event.alertname.clone());
            labels.insert("severity".into(), event.severity.clone());
            labels.insert("service".into(), "prefix-warden".into());
            let ends_at = now + chrono::Duration::hours(1);
            let body = serde_json::json!([{
                "labels": labels,
                "annotations": {"summary": event.summary, "description": event.description},
                "startsAt": now.to_rfc3339(),
                "endsAt": ends_at.to_rfc3339(),
            }]);
            let url = format!("{}/api/v2/alerts", url.trim_end_matches('/'));
            let delivered = Arc::new(AtomicBool::new(false));
            let key = format!(
                "{url} {}",
                serde_json::to_string(&labels).unwrap_or_default()
            );
            lock(&self.firing).insert(
                key,
                Firing {
                    url: url.clone(),
                    body: body.clone(),
                    labels,
                    starts_at: now,
                    ends_at,
                    delivered: delivered.clone(),
                },
            );
            self.spawn("alertmanager", url, body, Some(delivered));
        }
        if let Some(url) = &to.webhook {
            let body = serde_json::to_value(&event).expect("serializable");
            self.spawn("webhook", url.clone(), body, None);
        }
    }

    /// Delivers `body` with bounded retries. `delivered` is set for a firing Alertmanager
    /// alert, which the re-send loop keeps sending after the retries run out; other events
    /// are dropped (and counted) then.
    fn spawn(
        &self,
        sink: &'static str,
        url: String,
        body: serde_json::Value,
        delivered: Option<Arc<AtomicBool>>,
    ) {
        let client = self.client.clone();
        let (max, base) = (self.max_attempts, self.base_delay);
        self.tasks.spawn(async move {
            for attempt in 1..=max {
                if post(&client, sink, &url, &body).await {
                    if let Some(d) = &delivered {
                        d.store(true, Ordering::Release);
                    }
                    return;
                }
                tracing::warn!(sink, attempt, "alert delivery failed");
                if attempt < max {
                    tokio::time::sleep(crate::backoff::backoff(base, attempt)).await;
                }
            }
            if delivered.is_some() {
                tracing::warn!(
                    sink,
                    attempts = max,
                    "alert not delivered yet; it is re-sent until it expires"
                );
            } else {
                metrics::counter!(ALERT_DELIVERIES, "sink" => sink, "result" => "dropped")
                    .increment(1);
                tracing::error!(sink, attempts = max, "alert dropped after retries");
            }
        });
    }

    /// Re-sends every firing Alertmanager alert until it expires, every
    /// `daemon.alert_resend_secs` of the current generation, until `stop`.
    pub async fn resend_loop(
        self,
        gen: tokio::sync::watch::Receiver<Arc<super::Generation>>,
        stop: super::Shutdown,
    ) {
        loop {
            let every = Duration::from_secs(gen.borrow().analyzer.config.daemon.alert_resend_secs);
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait() => return,
            }
            let now = chrono::Utc::now();
            let due: Vec<(String, serde_json::Value, Arc<AtomicBool>)> = {
                let mut firing = lock(&self.firing);
                firing.retain(|_, f| {
                    let live = f.ends_at > now;
                    if !live && !f.delivered.load(Ordering::Acquire) {
                        metrics::counter!(ALERT_DELIVERIES, "sink" => "alertmanager", "result" => "dropped").increment(1);
                        tracing::error!(sink = "alertmanager", "alert expired without ever being delivered");
                    }
                    live
                });
                firing
                    .values()
                    .map(|f| (f.url.clone(), f.body.clone(), f.delivered.clone()))
                    .collect()
            };
            for (url, body, delivered) in due {
                if post(&self.client, "alertmanager", &url, &body).await {
                    delivered.store(true, Ordering::Release);
                }
            }
        }
    }

    /// The Alertmanager alerts still firing at `now`, newest first.
    pub fn firing(&self, now: chrono::DateTime<chrono::Utc>) -> Vec<FiringAlert> {
        let secs = |t: chrono::DateTime<chrono::Utc>| t.timestamp_micros() as f64 / 1e6;
        let mut v: Vec<FiringAlert> = lock(&self.firing)
            .values()
            .filter(|f| f.ends_at > now)
            .map(|f| FiringAlert {
                alertname: f.labels.get("alertname").cloned().unwrap_or_default(),
                severity: f.labels.get("severity").cloned().unwrap_or_default(),
                labels: f.labels.clone(),
                starts_at: secs(f.starts_at),
                ends_at: secs(f.ends_at),
                delivered: f.delivered.load(Ordering::Acquire),
            })
            .collect();
        v.sort_by(|a, b| b.starts_at.total_cmp(&a.starts_at));
        v
    }

    /// Waits up to `timeout` for deliveries in flight (on shutdown).
    pub async fn drain(&self, timeout: Duration) {
        self.tasks.wait(timeout).await;
    }
}

/// What makes two replicas' events the same alert: its name, labels and details (ids and
/// fingerprints, no time), hashed.
fn event_id(e: &AlertEvent) -> String {
    use sha2::{Digest, Sha256};
    let identity = serde_json::json!([e.alertname, e.labels, e.details]);
    let digest = Sha256::digest(identity.to_string().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// One attempt, counted as `success` or `failure`.
async fn post(
    client: &reqwest::Client,
    sink: &'static str,
    url: &str,
    body: &serde_json::Value,
) -> bool {
    let err = match client.post(url).json(body).send().await {
        Ok(r) if r.status().is_success() => {
            metrics::counter!(ALERT_DELIVERIES, "sink" => sink, "result" => "success").increment(1);
            return true;
        }
        Ok(r) => format!("HTTP {}", r.status()),
        Err(e) => e.to_string(),
    };
    metrics::counter!(ALERT_DELIVERIES, "sink" => sink, "result" => "failure").increment(1);
    tracing::debug!(sink, error = %err, "alert delivery attempt failed");
    false
}

/// `url` as a page may show it: http(s) only, without user info, query or fragment (a
/// password or token in the URL stays in the config).
pub fn shown_url(url: &str) -> Option<String> {
    let mut u = reqwest::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    u.set_username("").ok()?;
    u.set_password(None).ok()?;
    u.set_query(None);
    u.set_fragment(None);
    Some(u.to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shown_url_has_no_credentials_query_or_fragment() {
        assert_eq!(
            shown_url("https://user:s3cret@am.example:9093/base?token=t#x").as_deref(),
            Some("https://am.example:9093/base")
        );
        assert_eq!(shown_url("javascript:alert(1)"), None);
        assert_eq!(shown_url("not a url"), None);
    }
}
