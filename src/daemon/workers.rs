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

/// One emulator per `listen` address, each with its own cache.
struct RunningEmulator {
    section: EmulatorSection,
    running: Vec<(ShutdownTrigger, tokio::task::JoinHandle<()>)>,
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
        if let Some(f) = states.fleet() {
            f.set_groups(&names);
        }
        let prompts: Vec<&str> = gen.analyzer.prompts.iter().map(|p| p.id.as_str()).collect();
        states.fingerprint_changes().retain(&prompts);
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
        for (stop, task) in self.running {
            stop.fire();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), task).await;
        }
    }
}

/// Starts the provider emulators of `s` inside the daemon, one per address.
async fn start_emulator(gen: &Generation, s: &EmulatorSection) -> Result<RunningEmulator> {
    use crate::emulator::{Emulator, EmulatorConfig};
    let a = &gen.analyzer;
    let registry = Arc::new(crate::tokenizer::Registry::new(&a.config));
    let mut started = RunningEmulator {
        section: s.clone(),
        running: Vec::new(),
    };
    for &addr in &s.listen.0 {
        let mut cfg = EmulatorConfig::hosted(&s.tokenizer);
        cfg.engine = s.engine;
        let emulator = Emulator::new(registry.clone(), a.rules.clone(), cfg)?;
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(err) => {
                started.stop().await;
                return Err(Error::Other(format!(
                    "emulator: cannot listen on {addr}: {err}"
                )));
            }
        };
        tracing::info!(listen = %addr, engine = %s.engine, tokenizer = %s.tokenizer, "provider emulator started in-process");
        let (trigger, stop) = shutdown();
        let task = tokio::spawn(async move {
            let res = emulator
                .serve(listener, async move { stop.wait().await })
                .await;
            if let Err(err) = res {
                tracing::error!(listen = %addr, error = %err, "provider emulator failed");
            }
        });
        started.running.push((trigger, task));
    }
    Ok(started)
}
