//! Rate limits: one token bucket per budget (requests, input tokens) that refills its
//! per-minute limit evenly over the minute, as both providers describe theirs, and the headers
//! each provider uses to expose it.
//!
//! - Anthropic: `anthropic-ratelimit-{requests,input-tokens}-{limit,remaining,reset}`, `reset`
//!   in RFC 3339 (the time the bucket is full again), token `remaining` rounded to the nearest
//!   thousand as the docs say.
//! - OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, `reset` as a Go-style
//!   duration (`6m0s`, `12ms`).
//!
//! What a request costs is the caller's business: Anthropic counts uncached input plus cache
//! writes (reads are free), OpenAI counts every prompt token.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

struct Bucket {
    limit: u64,
    level: f64,
    updated: Instant,
}

impl Bucket {
    fn new(limit: u64, now: Instant) -> Self {
        Self {
            limit,
            level: limit as f64,
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.updated).as_secs_f64();
        self.level = (self.level + dt * self.limit as f64 / 60.0).min(self.limit as f64);
        self.updated = self.updated.max(now);
    }

    /// How long until `amount` is available; `None` when it never will be (above the limit).
    fn wait_for(&self, amount: u64) -> Option<Duration> {
        if amount > self.limit {
            return None;
        }
        let missing = (amount as f64 - self.level).max(0.0);
        Some(Duration::from_secs_f64(missing * 60.0 / self.limit as f64))
    }

    fn budget(&self) -> Budget {
        let missing = self.limit as f64 - self.level;
        Budget {
            limit: self.limit,
            remaining: self.level.max(0.0).floor() as u64,
            reset: Duration::from_secs_f64((missing * 60.0 / self.limit as f64).max(0.0)),
        }
    }
}

/// One budget as the headers show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u64,
    pub remaining: u64,
    /// Until the bucket is full again.
    pub reset: Duration,
}

/// Both budgets after a request; `None` where there is no limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub requests: Option<Budget>,
    pub tokens: Option<Budget>,
}

/// Why a request was refused, and when to come back.
#[derive(Debug, Clone, Copy)]
pub struct Refusal {
    /// Whole seconds, at least 1 (60 when the request is larger than the whole budget).
    pub retry_after_secs: u64,
    /// `"requests"` or `"tokens"`: the budget that ran out.
    pub which: &'static str,
    pub snapshot: Snapshot,
}

pub struct Limits {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

impl Limits {
    /// A limit of 0 means none.
    pub fn new(requests_per_minute: u32, tokens_per_minute: u64, now: Instant) -> Self {
        Self {
            requests: (requests_per_minute > 0)
                .then(|| Bucket::new(u64::from(requests_per_minute), now)),
            tokens: (tokens_per_minute > 0).then(|| Bucket::new(tokens_per_minute, now)),
        }
    }

    /// Takes one request and `tokens` from the budgets, or neither.
    pub fn admit(&mut self, tokens: u64, now: Instant) -> Result<Snapshot, Refusal> {
        let mut wait = Duration::ZERO;
        let mut which = None;
        for (bucket, amount, name) in [
            (&mut self.requests, 1, "requests"),
            (&mut self.tokens, tokens, "tokens"),
        ] {
            let Some(b) = bucket else { continue };
            b.refill(now);
            let w = b.wait_for(amount).unwrap_or(Duration::from_secs(60));
            if w > Duration::ZERO && (which.is_none() || w > wait) {
                wait = w;
                which = Some(name);
            }
        }
        if let Some(which) = which {
            return Err(Refusal {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                which,
                snapshot: self.snapshot(),
            });
        }
        if let Some(b) = &mut self.requests {
            b.level -= 1.0;
        }
        if let Some(b) = &mut self.tokens {
            b.level -= tokens as f64;
        }
        Ok(self.snapshot())
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests.as_ref().map(Bucket::budget),
            tokens: self.tokens.as_ref().map(Bucket::budget),
        }
    }

    /// Fills both buckets.
    pub fn reset(&mut self, now: Instant) {
        for b in [&mut self.requests, &mut self.tokens].into_iter().flatten() {
            *b = Bucket::new(b.limit, now);
        }
    }
}

fn put(h: &mut HeaderMap, name: String, value: String) {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        h.insert(n, v);
    }
}

/// Anthropic's headers. `wall_now` is the wall-clock time that `reset` durations start from.
pub fn anthropic_headers(s: &Snapshot, wall_now: chrono::DateTime<chrono::Utc>) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, budget, round) in [
        ("requests", s.requests, false),
        ("input-tokens", s.tokens, true),
    ] {
        let Some(b) = budget else { continue };
        let remaining = if round {
            ((b.remaining + 500) / 1000 * 1000).min(b.limit)
        } else {
            b.remaining
        };
        let reset = wall_now
            + chrono::Duration::from_std(b.reset).unwrap_or_else(|_| chrono::Duration::zero());
        let p = format!("anthropic-ratelimit-{name}");
        put(&mut h, format!("{p}-limit"), b.limit.to_string());
        put(&mut h, format!("{p}-remaining"), remaining.to_string());
        put(
            &mut h,
            format!("{p}-reset"),
            reset.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
    }
    h
}

/// OpenAI's headers.
pub fn openai_headers(s: &Snapshot) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, budget) in [("requests", s.requests), ("tokens", s.tokens)] {
        let Some(b) = budget else { continue };
        put(
            &mut h,
            format!("x-ratelimit-limit-{name}"),
            b.limit.to_string(),
        );
        put(
            &mut h,
            format!("x-ratelimit-remaining-{name}"),
            b.remaining.to_string(),
        );
        put(
            &mut h,
            format!("x-ratelimit-reset-{name}"),
            go_duration(b.reset),
        );
    }
    h
}

/// A duration as Go prints it, which OpenAI's reset headers use: `0s`, `12ms`, `1.5s`,
/// `6m0s`, `1h2m3s` (milliseconds precision).
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s_ms) = (ms / 3_600_000, ms / 60_000 % 60, ms % 60_000);
    let secs = if s_ms.is_multiple_of(1000) {
        format!("{}s", s_ms / 1000)
    } else {
        let frac = format!("{:03}", s_ms % 1000);
        format!("{}.{}s", s_ms / 1000, frac.trim_end_matches('0'))
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(ms(0)), "0s");
        assert_eq!(go_duration(ms(12)), "12ms");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(ms(360_000)), "6m0s");
        assert_eq!(go_duration(ms(3_723_000)), "1h2m3s");
    }

    #[test]
    fn bucket_refills_over_a_minute() {
        let t0 = Instant::now();
        let mut l = Limits::new(2, 0, t0);
        assert_eq!(l.admit(0, t0).unwrap().requests.unwrap().remaining, 1);
        assert_eq!(l.admit(0, t0).unwrap().requests.unwrap().remaining, 0);
        let r = l.admit(0, t0).unwrap_err();
        assert_eq!((r.which, r.retry_after_secs), ("requests", 30));
        assert!(l.admit(0, t0 + Duration::from_secs(30)).is_ok());
        assert!(l.snapshot().tokens.is_none());
    }
}
