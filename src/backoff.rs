//! Bounded exponential backoff with jitter, shared by alert delivery and warm-up retries:
//! never a tight retry loop, never a thundering herd.

use std::time::Duration;

/// `base · 2^attempt`, capped at 30 s; the upper half of it is random.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let cap = Duration::from_secs(30);
    let exp = base.saturating_mul(1 << attempt.min(16)).min(cap);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0) as u64;
    // Half fixed, half jitter: never a tight loop, never a thundering herd.
    exp / 2 + Duration::from_nanos(nanos % (exp.as_nanos() as u64 / 2 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Duration::from_millis(500);
        assert!(backoff(b, 1) >= Duration::from_millis(500));
        assert!(backoff(b, 3) >= Duration::from_secs(2));
        assert!(backoff(b, 30) <= Duration::from_secs(30));
    }
}
