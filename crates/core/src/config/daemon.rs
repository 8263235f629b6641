//! `[daemon]`: where the daemon listens, when it re-evaluates, where alerts go.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

/// Settings of `prefix daemon`.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    pub listen: SocketAddr,
    /// Re-evaluation schedule (cron, with seconds field).
    pub schedule: String,
    /// How often to poll prompt files, tokenizer files and the config for changes.
    pub watch_interval_secs: u64,
    pub alertmanager_url: Option<String>,
    pub webhook_url: Option<String>,
    /// How often to check tokenizer sources (URLs and paths) for new content.
    pub source_poll_secs: u64,
    /// File holding the bearer token `POST /v1/usage` requires (required beyond loopback).
    pub ingest_token_file: Option<PathBuf>,
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// A request's headers (and the idle wait on a keep-alive connection) must arrive within.
    pub header_timeout_ms: u64,
    /// A request (body included) must be read and answered within, or it gets 408.
    pub request_timeout_ms: u64,
    /// Firing Alertmanager alerts are re-sent this often until they expire.
    pub alert_resend_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    #[serde(default = "default_listen")]
    pub listen: Spanned<String>,
    /// Binding beyond loopback must be asked for in so many words.
    #[serde(default)]
    pub allow_non_loopback: bool,
    #[serde(default = "default_schedule")]
    pub schedule: Spanned<String>,
    #[serde(default = "default_watch")]
    pub watch_interval_secs: u64,
    #[serde(default)]
    pub alertmanager_url: Option<String>,
    #[serde(default)]
    pub webhook_url: Option<String>,
    #[serde(default = "default_source_poll")]
    pub source_poll_secs: u64,
    #[serde(default)]
    pub ingest_token_file: Option<String>,
    #[serde(default = "default_max_connections")]
    pub max_connections: u64,
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    #[serde(default = "default_alert_resend_secs")]
    pub alert_resend_secs: u64,
}

fn default_alert_resend_secs() -> u64 {
    60
}

fn default_max_connections() -> u64 {
    1024
}
fn default_header_timeout_ms() -> u64 {
    10_000
}
fn default_request_timeout_ms() -> u64 {
    30_000
}

fn default_source_poll() -> u64 {
    300
}

impl Default for RawDaemon {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            allow_non_loopback: false,
            schedule: default_schedule(),
            watch_interval_secs: default_watch(),
            alertmanager_url: None,
            webhook_url: None,
            source_poll_secs: default_source_poll(),
            ingest_token_file: None,
            max_connections: default_max_connections(),
            header_timeout_ms: default_header_timeout_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            alert_resend_secs: default_alert_resend_secs(),
        }
    }
}

/// Where the daemon listens unless `[daemon] listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

fn default_listen() -> Spanned<String> {
    Spanned::new(0..0, DEFAULT_LISTEN.into())
}

/// The running daemon's address and token file as a config names them, read leniently: only
/// `[daemon] listen` and `ingest_token_file`, from any file TOML can parse (a config the daemon
/// refused to reload is usually still TOML), else from the lines themselves. `prefix status`
/// uses it so a broken config never hides the daemon that kept the old one.
pub fn endpoint_of(path: &std::path::Path, text: &str) -> (String, Option<std::path::PathBuf>) {
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    if let Ok(t) = text.parse::<toml::Table>() {
        let d = t.get("daemon").and_then(|d| d.as_table());
        let listen = d
            .and_then(|d| d.get("listen"))
            .and_then(|v| v.as_str())
            .unwrap_or(DEFAULT_LISTEN);
        let token = d
            .and_then(|d| d.get("ingest_token_file"))
            .and_then(|v| v.as_str())
            .map(|f| base.join(f));
        return (listen.to_string(), token);
    }
    // Not even TOML: the first `listen = "…"` and `ingest_token_file = "…"` under `[daemon]`.
    let (mut listen, mut token, mut in_daemon) = (None, None, false);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_daemon = line == "[daemon]";
            continue;
        }
        let value = |key: &str| {
            let rest = line
                .strip_prefix(key)?
                .trim_start()
                .strip_prefix('=')?
                .trim();
            let rest = rest.strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_string())
        };
        if in_daemon {
            listen = listen.or_else(|| value("listen"));
            token = token.or_else(|| value("ingest_token_file").map(|f| base.join(f)));
        }
    }
    (listen.unwrap_or_else(|| DEFAULT_LISTEN.into()), token)
}
fn default_schedule() -> Spanned<String> {
    Spanned::new(0..0, "0 */10 * * * *".into())
}
fn default_watch() -> u64 {
    5
}
