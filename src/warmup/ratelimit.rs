//! Rate-limit headers: how much of the provider budget is left, and when it resets.
//!
//! Anthropic sends `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
//! {limit,remaining,reset}` (reset as RFC 3339); OpenAI sends `x-ratelimit-{limit,remaining,
//! reset}-{requests,tokens}` (reset as a duration such as `6m0s` or `12ms`). Warm-ups share
//! these limits with live traffic, so a run is deferred when the remaining fraction of any of
//! them falls below the group's reserve.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// No provider time hint (`retry-after`, a reset header) holds warm-ups back longer than this,
/// whatever form it comes in: a hostile or broken header must not stop a group for years.
pub const MAX_HINT: Duration = Duration::from_secs(3600);

/// `secs` as a duration capped at [`MAX_HINT`]; `None` for NaN or negative values.
fn capped_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).map_or(MAX_HINT, |d| d.min(MAX_HINT)))
}

/// How long from now until `t`, capped at [`MAX_HINT`]; zero for times in the past.
fn until(t: chrono::DateTime<chrono::Utc>) -> Duration {
    (t - chrono::Utc::now())
        .to_std()
        .map_or(Duration::ZERO, |d| d.min(MAX_HINT))
}

/// The tightest budget a response reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// remaining / limit of the tightest limit, 0..=1.
    pub remaining_fraction: f64,
    /// When that limit resets, from now.
    pub reset_in: Option<Duration>,
}

/// Parses the budget from either provider's headers; `None` when there are none.
pub fn budget(h: &HeaderMap) -> Option<Budget> {
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let num = |name: &str| {
        get(name)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|x| x.is_finite())
    };
    let mut best: Option<Budget> = None;
    let mut consider = |limit: Option<f64>, remaining: Option<f64>, reset: Option<Duration>| {
        if let (Some(l), Some(r)) = (limit, remaining) {
            if l > 0.0 {
                let f = (r / l).clamp(0.0, 1.0);
                if best.is_none_or(|b| f < b.remaining_fraction) {
                    best = Some(Budget {
                        remaining_fraction: f,
                        reset_in: reset,
                    });
                }
            }
        }
    };
    for kind in ["requests", "tokens", "input-tokens", "output-tokens"] {
        consider(
            num(&format!("anthropic-ratelimit-{kind}-limit")),
            num(&format!("anthropic-ratelimit-{kind}-remaining")),
            get(&format!("anthropic-ratelimit-{kind}-reset")).and_then(rfc3339_from_now),
        );
    }
    for kind in ["requests", "tokens"] {
        consider(
            num(&format!("x-ratelimit-limit-{kind}")),
            num(&format!("x-ratelimit-remaining-{kind}")),
            get(&format!("x-ratelimit-reset-{kind}")).and_then(parse_duration),
        );
    }
    best
}

/// `retry-after` in seconds (or an HTTP date).
pub fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return capped_secs(secs);
    }
    let t = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(until(t.with_timezone(&chrono::Utc)))
}

fn rfc3339_from_now(v: &str) -> Option<Duration> {
    let t = chrono::DateTime::parse_from_rfc3339(v).ok()?;
    Some(until(t.with_timezone(&chrono::Utc)))
}

/// OpenAI's reset durations: `1s`, `6m0s`, `12ms`, `1h2m3.5s`; capped at [`MAX_HINT`].
pub fn parse_duration(v: &str) -> Option<Duration> {
    let mut total = 0.0f64;
    let mut num = String::new();
    let mut chars = v.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        let unit = match c {
            'h' => 3600.0,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                0.001
            }
            'm' => 60.0,
            's' => 1.0,
            _ => return None,
        };
        total += n * unit;
        any = true;
    }
    if !(any && num.is_empty()) {
        return None;
    }
    capped_secs(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn openai_durations() {
        assert_eq!(parse_duration("12ms"), Some(Duration::from_millis(12)));
        assert_eq!(parse_duration("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(
            parse_duration("0h52m3.5s"),
            Some(Duration::from_secs_f64(3123.5))
        );
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn absurd_hints_are_capped_not_a_panic() {
        // A 200 with this header used to panic in Duration::from_secs_f64 and wedge the group.
        assert_eq!(parse_duration("99999999999999999999h"), Some(MAX_HINT));
        assert_eq!(parse_duration("1e400s"), None);
        let h = headers(&[
            ("x-ratelimit-limit-tokens", "100"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "99999999999999999999h"),
            ("anthropic-ratelimit-tokens-limit", "100"),
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "9999-12-31T23:59:59Z"),
        ]);
        assert_eq!(budget(&h).unwrap().reset_in, Some(MAX_HINT));
        for v in ["Fri, 31 Dec 9999 23:59:59 GMT", "1e300", "inf"] {
            let r = retry_after(&headers(&[("retry-after", v)]));
            assert!(r.is_none_or(|d| d <= MAX_HINT), "{v}: {r:?}");
        }
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Fri, 31 Dec 9999 23:59:59 GMT"
            )])),
            Some(MAX_HINT)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "NaN")])), None);
    }

    #[test]
    fn tightest_budget_wins() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "90"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-limit-tokens", "10000"),
            ("x-ratelimit-remaining-tokens", "500"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        let b = budget(&h).unwrap();
        assert_eq!(b.remaining_fraction, 0.05);
        assert_eq!(b.reset_in, Some(Duration::from_secs(360)));
        let a = headers(&[
            ("anthropic-ratelimit-input-tokens-limit", "400000"),
            ("anthropic-ratelimit-input-tokens-remaining", "100000"),
        ]);
        assert_eq!(budget(&a).unwrap().remaining_fraction, 0.25);
        assert!(budget(&HeaderMap::new()).is_none());
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")])), None);
    }
}
