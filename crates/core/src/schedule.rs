//! Cron schedules (the `cron` crate, six fields with seconds) and the next-tick arithmetic the
//! daemon and the warm-up loop share.

use std::str::FromStr;

pub use cron::Schedule;

/// Parses a cron expression. Five-field expressions (no seconds) are accepted and run at
/// second 0, since that is what most people write.
pub fn parse(expr: &str) -> Result<Schedule, String> {
    let fields = expr.split_whitespace().count();
    let expr = if fields == 5 {
        format!("0 {expr}")
    } else {
        expr.to_string()
    };
    Schedule::from_str(&expr).map_err(|e| {
        // The cron crate's message spans lines (the expression, a caret); errors are one line.
        let msg = e.to_string();
        let why: Vec<&str> = msg
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '^' || c == ' '))
            .map(|l| l.trim_end_matches(':'))
            .collect();
        format!("invalid cron expression `{expr}`: {}", why.join(": "))
    })
}

/// Seconds between the next two ticks: the nominal interval, exported so alert rules can say
/// "no success for three intervals".
pub fn nominal_interval_secs(s: &Schedule) -> f64 {
    let mut it = s.upcoming(chrono::Utc);
    match (it.next(), it.next()) {
        (Some(a), Some(b)) => (b - a).num_milliseconds() as f64 / 1000.0,
        _ => 0.0,
    }
}

/// Time from `now` until the next tick after it. The caller owns the clock, so tests can run
/// schedules on paused time.
pub fn until_next(s: &Schedule, now: chrono::DateTime<chrono::Utc>) -> Option<std::time::Duration> {
    let next = s.after(&now).next()?;
    (next - now)
        .to_std()
        .ok()
        .or(Some(std::time::Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_and_six_field_forms() {
        assert_eq!(nominal_interval_secs(&parse("*/5 * * * *").unwrap()), 300.0);
        assert_eq!(
            nominal_interval_secs(&parse("*/10 * * * * *").unwrap()),
            10.0
        );
        assert!(parse("every five minutes").is_err());
        let e = parse("*/61 * * * * *").unwrap_err();
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn next_tick_from_a_given_now() {
        let s = parse("*/10 * * * * *").unwrap();
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-30T12:00:03Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(until_next(&s, now), Some(std::time::Duration::from_secs(7)));
    }
}
