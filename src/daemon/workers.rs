//! The tasks a generation runs: one schedule loop per warm-up group, and the in-process
//! provider emulator (`[emulator]`).
//!
//! On a swap the old generation's loops get their stop signal (a run in flight finishes on the
//! generation it started with) and the new generation's loops start. The emulator is kept when
//! its section did not change, so its cache survives a prompt edit; otherwise it is restarted
//! with the new section.

use std::sync::Arc;

use super::generation::Generation;
use super::lifecycle::{shutdown, ShutdownTrigger};
use crate::clock::Clock;
use crate::config::EmulatorSection;
use crate::error::{Error, Result};
use crate::warmup::States;

/// The running tasks of one generation.
#[derive(Default)]
pub struct Workers {
    /// Stops this generation's warm-up loops.
    warmups: Option<ShutdownTrigger>,
    emulator: Option<RunningEmulator>,
}

struct RunningEmulator {
    section: EmulatorSection,
    stop: ShutdownTrigger,
    task: tokio::task::JoinHandle<()>,
}

impl Workers {
    /// Starts `gen`'s tasks, taking over or stopping those of `previous`.
    pub async fn start(
        gen: &Generation,
        previous: Option<Workers>,
        clock: Clock,
        states: &States,
    ) -> Result<Workers> {
        let (mut old_emulator, old_warmups) = match previous {
            Some(p) => (p.emulator, p.warmups),
            None => (None, None),
        };
        let emulator = match (&gen.emulator, old_emulator.take()) {
            (Some(s), Some(e)) if *s == e.section => Some(e),
            (want, old) => {
                if let Some(e) = old {
                    e.stop().await;
                }
                match want {
                    Some(s) => Some(start_emulator(gen, s).await?),
                    None => None,
                }
            }
        };
        drop(old_warmups); // fires: the old loops stop at their next await
        let (trigger, stop) = shutdown();
        let names: Vec<&str> = gen.warmups.iter().map(|g| g.name()).collect();
        states.retain(&names);
        for g in &gen.warmups {
            g.publish();
            tokio::spawn(g.clone().schedule_loop(stop.clone(), clock));
        }
        if !names.is_empty() {
            tracing::info!(groups = ?names, generation = gen.number, "warm-up groups scheduled");
        }
        Ok(Workers {
            warmups: Some(trigger),
            emulator,
        })
    }

    /// Stops everything (daemon shutdown).
    pub async fn stop(self) {
        drop(self.warmups);
        if let Some(e) = self.emulator {
            e.stop().await;
        }
    }
}

impl RunningEmulator {
    async fn stop(self) {
        self.stop.fire();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.task).await;
    }
}

/// Starts the provider emulator of `s` inside the daemon.
async fn start_emulator(gen: &Generation, s: &EmulatorSection) -> Result<RunningEmulator> {
    use crate::emulator::{Emulator, EmulatorConfig};
    let a = &gen.analyzer;
    let mut cfg = EmulatorConfig::hosted(&s.tokenizer);
    cfg.engine = s.engine;
    let registry = Arc::new(crate::tokenizer::Registry::new(&a.config));
    let emulator = Emulator::new(registry, a.rules.clone(), cfg)?;
    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .map_err(|err| Error::Other(format!("emulator: cannot listen on {}: {err}", s.listen)))?;
    tracing::info!(listen = %s.listen, engine = %s.engine, tokenizer = %s.tokenizer, "provider emulator started in-process");
    let (trigger, stop) = shutdown();
    let task = tokio::spawn(async move {
        let res = emulator
            .serve(listener, async move { stop.wait().await })
            .await;
        if let Err(err) = res {
            tracing::error!(error = %err, "provider emulator failed");
        }
    });
    Ok(RunningEmulator {
        section: s.clone(),
        stop: trigger,
        task,
    })
}
