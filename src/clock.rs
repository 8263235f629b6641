//! The one clock: wall time for schedules and timestamps, and tokio's clock for waiting.
//!
//! In production [`Clock::system`] reads the system clock. Tests build [`Clock::tokio`] on a
//! runtime with paused time: wall time is then derived from tokio's clock, so cron schedules,
//! retry-after and TTLs advance exactly as fast as `tokio::time::advance` says, and schedule
//! tests run in milliseconds instead of real one-second ticks.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// `None`: the system clock. `Some`: wall time at an instant of tokio's clock.
    anchor: Option<(DateTime<Utc>, tokio::time::Instant)>,
}

impl Clock {
    pub fn system() -> Self {
        Clock { anchor: None }
    }

    /// Wall time that follows tokio's clock from now on (paused time in tests).
    pub fn tokio() -> Self {
        Clock {
            anchor: Some((Utc::now(), tokio::time::Instant::now())),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self.anchor {
            None => Utc::now(),
            Some((wall, mono)) => {
                let since = tokio::time::Instant::now().saturating_duration_since(mono);
                wall + chrono::Duration::from_std(since).unwrap_or(chrono::Duration::zero())
            }
        }
    }

    /// Seconds since the Unix epoch, for metrics and `/status`.
    pub fn unix(&self) -> f64 {
        self.now().timestamp_micros() as f64 / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let c = Clock::tokio();
        let t0 = c.now();
        tokio::time::advance(std::time::Duration::from_secs(90)).await;
        assert_eq!((c.now() - t0).num_seconds(), 90);
    }
}
