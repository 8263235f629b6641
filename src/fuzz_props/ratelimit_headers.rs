//! Provider rate-limit headers: a `HeaderMap` built from `name: value` lines of the input
//! (invalid names or values skipped), given to `warmup::ratelimit::{budget, retry_after}`, and
//! each value given to `parse_duration`.
//!
//! Must hold: no panic (e.g. `Duration::from_secs_f64` on a huge or NaN number), no OOM,
//! bounded time; every duration returned is at most `ratelimit::MAX_HINT`, and a budget's
//! remaining fraction is within 0..=1.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::warmup::ratelimit::{budget, parse_duration, retry_after, MAX_HINT};

pub fn check(data: &[u8]) {
    let mut h = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        else {
            continue;
        };
        if let Ok(s) = value.to_str() {
            if let Some(d) = parse_duration(s.trim()) {
                assert!(d <= MAX_HINT, "parse_duration({s:?}) = {d:?}");
            }
        }
        h.append(name, value);
    }
    if let Some(b) = budget(&h) {
        assert!((0.0..=1.0).contains(&b.remaining_fraction), "{b:?}");
        assert!(b.reset_in.is_none_or(|d| d <= MAX_HINT), "{b:?}");
    }
    if let Some(d) = retry_after(&h) {
        assert!(d <= MAX_HINT, "retry_after = {d:?}");
    }
}
