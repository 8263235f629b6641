//! A spinner on stderr while a command works (loading tokenizers, tokenizing, reading logs),
//! so a cold run at a terminal shows it is alive. Silent when stderr is not a terminal (pipes,
//! CI, systemd) and with `--quiet`. Cleared before anything is written to stdout.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static CURRENT: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Shows `message` with a spinner and the elapsed time until [`clear`] (or the process ends).
pub fn start(quiet: bool, message: &'static str) {
    if quiet || !std::io::stderr().is_terminal() {
        return;
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        pb.set_style(style);
    }
    pb.set_message(message);
    pb.enable_steady_tick(Duration::from_millis(120));
    if let Some(old) = CURRENT
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .replace(pb)
    {
        old.finish_and_clear();
    }
}

/// Removes the spinner, if any.
pub fn clear() {
    if let Some(pb) = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).take() {
        pb.finish_and_clear();
    }
}
