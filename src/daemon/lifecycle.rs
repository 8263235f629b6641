//! The daemon's lifecycle as named types: one [`Shutdown`] signal every task can wait on, and
//! one [`Readiness`] latch that drives `/readyz` and systemd's READY=1.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// Fires the matching [`Shutdown`]s. Dropping the trigger fires them too, so a task whose
/// owner is gone never waits for ever.
pub struct ShutdownTrigger(watch::Sender<bool>);

/// A signal to stop, cheap to clone. One per daemon for SIGTERM; one per config generation
/// for the tasks that generation runs (its warm-up loops), fired when it is replaced.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A new, unfired signal and its trigger.
pub fn shutdown() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Drop for ShutdownTrigger {
    fn drop(&mut self) {
        self.fire();
    }
}

impl Shutdown {
    /// Resolves once the signal has fired (at once if it already has).
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}

/// Set once, after the first full evaluation pass.
#[derive(Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    /// Marks the daemon ready and tells systemd (READY=1).
    pub fn set(&self) {
        if !self.0.swap(true, Ordering::AcqRel) {
            super::systemd::ready();
        }
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_the_trigger_fires_the_signal() {
        let (t, s) = shutdown();
        assert!(!s.is_set());
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        drop(t);
        waiter.await.unwrap();
        assert!(s.is_set());
    }
}
