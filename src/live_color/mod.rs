//! Which blue/green color is live *now*, and the targets that serve it.
//!
//! Warm-up jobs must follow the live color, so they call [`Lookup::resolve`] at every tick;
//! nothing here caches an answer (the DNS resolver is built with its cache off). A lookup
//! that cannot say what is live fails loudly with a [`LookupError`]; there is no fallback to
//! the last answer or to a static host.
//!
//! Four sources, chosen by `backend` in the config ([`LookupConfig`]):
//! - `file`: a JSON document written by deploy tooling, re-read on every call.
//! - `http`: `GET` a JSON document; the color and the color table are found by dot-separated
//!   field paths (default `live` and `colors`).
//! - `dns`: a TXT record holds the color; SRV records of a name with `{color}` in it list the
//!   targets, ordered by priority (lowest first), then weight (highest first).
//! - `etcd`: one key holds the color, another (with `{color}`) a JSON color entry; read through
//!   etcd's v3 JSON gateway (`POST /v3/kv/range`), no gRPC.
//!
//! The JSON document of `file` and `http`:
//! ```json
//! {"live": "green",
//!  "colors": {"blue":  {"targets": ["http://127.0.0.1:9001"], "prompts": ["cline-claude-sonnet-4"]},
//!             "green": {"targets": ["http://127.0.0.1:9002", "http://127.0.0.1:9003"]}}}
//! ```
//! A color entry (also the value of etcd's targets key) has `targets`, a list of http(s) base
//! URLs (duplicates and trailing slashes dropped), and optionally `prompts`, the prompt ids that
//! color serves; other fields are ignored.
//!
//! Error classes: [`LookupError::Unavailable`] when the source cannot be read (IO, connect,
//! timeout, HTTP non-2xx, DNS SERVFAIL/REFUSED); [`LookupError::Malformed`] when it answers but
//! not with a usable color (missing or empty color, a color that is not 1 to 63 of
//! `[A-Za-z0-9_-]`, bad JSON, a target that is not an http(s) URL or carries credentials; for
//! DNS also a missing TXT record or TXT records that disagree; for etcd a missing color key);
//! [`LookupError::UnknownColor`] when the color is not in the color table (etcd: its targets
//! key is missing); [`LookupError::NoTargets`] when the color's target list is empty (DNS: the
//! SRV name does not exist or has no usable records).
//!
//! # Layout
//! - `document`: the JSON document and color entries (file, http, etcd values).
//! - `http`: clients, URL checks and redaction, shared by `http` and `etcd`.
//! - `etcd`: the v3 JSON gateway.
//! - `dns`: TXT for the color, SRV for the targets.
//!
//! The tests against real dnsmasq and etcd live in `tests/it/live_color.rs`.
//!
//! Invariant: messages and `reason` never carry credentials: URLs are shown without user
//! info, query or fragment, and targets with user info are rejected rather than echoed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use hickory_resolver::config::{
    NameServerConfig, NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{Name, ResolveError, TokioResolver};
use serde_json::Value;

use crate::error::Error;

mod dns;
mod document;
mod etcd;
mod http;

use dns::*;
use document::*;
use etcd::*;
use http::*;

/// The parsers of what lookups read, without any IO: for tests and fuzzing.
pub mod parse {
    pub use super::dns::txt_color;
    pub use super::document::pick_from_document as document;
    pub use super::etcd::range_answer as etcd_range_answer;
}
pub use prefix_warden_core::config::LookupConfig;

/// Largest document accepted from a file, an HTTP answer or an etcd value.
const MAX_DOC_BYTES: usize = 1 << 20;
/// Per-request timeout of `http` and `etcd` when the config gives none.
const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// DNS answer timeout (one attempt over UDP, TCP on truncation).
const DNS_TIMEOUT: Duration = Duration::from_secs(2);

/// The live color and where to send warm-ups for it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveColor {
    pub color: String,
    /// Base URLs such as `http://10.0.0.5:8000`; never empty, no duplicates.
    pub targets: Vec<String>,
    /// Prompt ids that color serves, when the source says.
    pub prompts: Option<Vec<String>>,
    /// Why this was chosen, for logs: source, color and target count.
    pub reason: String,
}

/// Why a lookup gave no live color. The warm-up loop retries brown-outs within a tick.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Unreachable, timeout, IO, HTTP non-2xx, DNS server failure.
    #[error("lookup failed: {0}")]
    Unavailable(String),
    #[error("lookup answer malformed: {0}")]
    Malformed(String),
    #[error("live color `{0}` is not one the source describes")]
    UnknownColor(String),
    #[error("live color `{0}` has no targets")]
    NoTargets(String),
}

impl LookupError {
    /// The `result` label for warm-up metrics.
    pub fn result_label(&self) -> &'static str {
        match self {
            LookupError::NoTargets(_) => "no_targets",
            _ => "lookup_failed",
        }
    }
}

/// A configured source, ready to be asked. Cheap to call repeatedly; holds its clients.
pub struct Lookup {
    backend: Backend,
}

enum Backend {
    File {
        /// Absolute (resolved against the config directory), re-read on every call.
        path: PathBuf,
    },
    Http {
        client: reqwest::Client,
        url: String,
        color_path: String,
        colors_path: String,
    },
    Dns {
        /// Cache off: every resolve asks the server.
        resolver: Box<TokioResolver>,
        server: SocketAddr,
        color_txt: String,
        targets_srv: String,
        scheme: String,
    },
    Etcd {
        client: reqwest::Client,
        /// Without trailing slash.
        endpoint: String,
        color_key: String,
        targets_key: String,
    },
}

fn config_error(backend: &str, field: &str, message: impl std::fmt::Display) -> Error {
    Error::Other(format!("live color lookup ({backend}): {field}: {message}"))
}

impl Lookup {
    /// Checks `cfg` and builds the clients; relative paths resolve against `base_dir`.
    pub fn new(cfg: &LookupConfig, base_dir: &Path) -> Result<Lookup, Error> {
        let backend = match cfg {
            LookupConfig::File { path } => {
                if path.trim().is_empty() {
                    return Err(config_error("file", "path", "must not be empty"));
                }
                let path = base_dir.join(path);
                Backend::File {
                    path: std::path::absolute(&path).unwrap_or(path),
                }
            }
            LookupConfig::Http {
                url,
                timeout_ms,
                color_path,
                colors_path,
            } => {
                check_url(url).map_err(|m| config_error("http", "url", m))?;
                let color_path = color_path.clone().unwrap_or_else(|| "live".into());
                let colors_path = colors_path.clone().unwrap_or_else(|| "colors".into());
                for (field, p) in [("color_path", &color_path), ("colors_path", &colors_path)] {
                    if p.split('.').any(|s| s.trim().is_empty()) {
                        return Err(config_error(
                            "http",
                            field,
                            format!("`{p}` is not a dot-separated field path such as deploy.live"),
                        ));
                    }
                }
                Backend::Http {
                    client: http_client("http", *timeout_ms)?,
                    url: url.clone(),
                    color_path,
                    colors_path,
                }
            }
            LookupConfig::Dns {
                server,
                color_txt,
                targets_srv,
                scheme,
            } => {
                let server = parse_server(server).map_err(|m| config_error("dns", "server", m))?;
                fqdn(color_txt).map_err(|m| config_error("dns", "color_txt", m))?;
                if !targets_srv.contains("{color}") {
                    return Err(config_error(
                        "dns",
                        "targets_srv",
                        "needs a `{color}` placeholder, e.g. _warm._tcp.{color}.svc.example",
                    ));
                }
                fqdn(&targets_srv.replace("{color}", "blue"))
                    .map_err(|m| config_error("dns", "targets_srv", m))?;
                let scheme = scheme.clone().unwrap_or_else(|| "http".into());
                if !matches!(scheme.as_str(), "http" | "https") {
                    return Err(config_error(
                        "dns",
                        "scheme",
                        format!("`{scheme}` is not http or https"),
                    ));
                }
                Backend::Dns {
                    resolver: Box::new(dns_resolver(server)),
                    server,
                    color_txt: color_txt.clone(),
                    targets_srv: targets_srv.clone(),
                    scheme,
                }
            }
            LookupConfig::Etcd {
                endpoint,
                color_key,
                targets_key,
                timeout_ms,
            } => {
                check_url(endpoint).map_err(|m| config_error("etcd", "endpoint", m))?;
                if color_key.is_empty() {
                    return Err(config_error("etcd", "color_key", "must not be empty"));
                }
                if !targets_key.contains("{color}") {
                    return Err(config_error(
                        "etcd",
                        "targets_key",
                        "needs a `{color}` placeholder, e.g. /deploy/{color}/targets",
                    ));
                }
                Backend::Etcd {
                    client: http_client("etcd", *timeout_ms)?,
                    endpoint: endpoint.trim_end_matches('/').to_string(),
                    color_key: color_key.clone(),
                    targets_key: targets_key.clone(),
                }
            }
        };
        Ok(Lookup { backend })
    }

    /// Whether resolving reads only this machine (a `file` lookup): `prefix check` resolves
    /// those, never one that would send a request.
    pub fn is_local(&self) -> bool {
        matches!(self.backend, Backend::File { .. })
    }

    /// One lookup, no retries (the caller retries brown-outs within a tick).
    pub async fn resolve(&self) -> Result<LiveColor, LookupError> {
        match &self.backend {
            Backend::File { path } => {
                let src = format!("file {}", path.display());
                let p = path.clone();
                let bytes = tokio::task::spawn_blocking(move || {
                    crate::bounded::read_limited(&p, MAX_DOC_BYTES as u64)
                })
                .await
                .map_err(|e| LookupError::Unavailable(format!("{src}: {e}")))?
                .map_err(|e| match e {
                    Error::Io { source, .. } => {
                        LookupError::Unavailable(format!("{src}: {}", one_line(&source)))
                    }
                    other => LookupError::Malformed(format!("{src}: {other}")),
                })?;
                pick_from_document(&src, &bytes, "live", "colors")
            }
            Backend::Http {
                client,
                url,
                color_path,
                colors_path,
            } => {
                let src = format!("http {}", redact_url(url));
                let bytes = http_body(&src, client.get(url)).await?;
                pick_from_document(&src, &bytes, color_path, colors_path)
            }
            Backend::Dns {
                resolver,
                server,
                color_txt,
                targets_srv,
                scheme,
            } => resolve_dns(resolver, *server, color_txt, targets_srv, scheme).await,
            Backend::Etcd {
                client,
                endpoint,
                color_key,
                targets_key,
            } => resolve_etcd(client, endpoint, color_key, targets_key).await,
        }
    }

    /// The source in a few words, for logs, e.g. `file /etc/pw/live.json`.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::File { path } => format!("file {}", path.display()),
            Backend::Http { url, .. } => format!("http {}", redact_url(url)),
            Backend::Dns {
                server,
                color_txt,
                targets_srv,
                ..
            } => format!("dns {server}: txt {color_txt}, srv {targets_srv}"),
            Backend::Etcd {
                endpoint,
                color_key,
                targets_key,
                ..
            } => format!(
                "etcd {}: keys {color_key}, {targets_key}",
                redact_url(endpoint)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    const DOC: &str = r#"{"live": "blue",
        "colors": {"blue":  {"targets": ["http://127.0.0.1:9001"], "prompts": ["cline-claude-sonnet-4"]},
                   "green": {"targets": ["http://127.0.0.1:9002", "http://127.0.0.1:9003/", "http://127.0.0.1:9002"]}}}"#;

    fn lookup(cfg: LookupConfig, base: &Path) -> Lookup {
        Lookup::new(&cfg, base).unwrap()
    }

    // ---- config ---------------------------------------------------------------------------

    #[test]
    fn config_is_tagged_by_backend_and_strict() {
        let c: LookupConfig = toml::from_str("backend = \"file\"\npath = \"live.json\"\n").unwrap();
        assert_eq!(
            c,
            LookupConfig::File {
                path: "live.json".into()
            }
        );
        let c: LookupConfig = toml::from_str(
            "backend = \"dns\"\nserver = \"127.0.0.1:5353\"\ncolor_txt = \"live.svc.test\"\ntargets_srv = \"_warm._tcp.{color}.svc.test\"\n",
        )
        .unwrap();
        assert!(matches!(c, LookupConfig::Dns { scheme: None, .. }));
        let e = toml::from_str::<LookupConfig>("backend = \"file\"\npath = \"x\"\ncolour = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `colour`"), "{e}");
        assert!(toml::from_str::<LookupConfig>("backend = \"consul\"\n").is_err());
    }

    #[test]
    fn bad_config_is_an_error_naming_the_field() {
        let base = Path::new("/etc/pw");
        let err = |c: LookupConfig| Lookup::new(&c, base).err().unwrap().to_string();
        let e = err(LookupConfig::Dns {
            server: "localhost".into(),
            color_txt: "live.svc.test".into(),
            targets_srv: "_warm._tcp.{color}.svc.test".into(),
            scheme: None,
        });
        assert!(e.contains("(dns): server: `localhost`"), "{e}");
        let e = err(LookupConfig::Etcd {
            endpoint: "http://127.0.0.1:2379".into(),
            color_key: "/live".into(),
            targets_key: "/targets".into(),
            timeout_ms: None,
        });
        assert!(e.contains("(etcd): targets_key: needs a `{color}`"), "{e}");
        let e = err(LookupConfig::Http {
            url: "ftp://user:secret@example.com/x".into(),
            timeout_ms: None,
            color_path: None,
            colors_path: None,
        });
        assert!(e.contains("(http): url:"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn lookups_build_outside_a_runtime_and_are_send() {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        let dir = Path::new("/etc/pw");
        for cfg in [
            LookupConfig::File {
                path: "live.json".into(),
            },
            http_cfg(SocketAddr::from(([127, 0, 0, 1], 1)), None, None),
            LookupConfig::Dns {
                server: "127.0.0.1:5353".into(),
                color_txt: "live.svc.test".into(),
                targets_srv: "_warm._tcp.{color}.svc.test".into(),
                scheme: None,
            },
            LookupConfig::Etcd {
                endpoint: "http://127.0.0.1:2379".into(),
                color_key: "/live".into(),
                targets_key: "/colors/{color}".into(),
                timeout_ms: None,
            },
        ] {
            let l = lookup(cfg, dir);
            send_sync(&l);
            send(&l.resolve());
        }
    }

    // ---- file -----------------------------------------------------------------------------

    #[tokio::test]
    async fn file_follows_the_document_on_every_call() {
        let dir = tempfile::tempdir().unwrap();
        let l = lookup(
            LookupConfig::File {
                path: "live.json".into(),
            },
            dir.path(),
        );
        let path = dir.path().join("live.json");
        assert_eq!(l.describe(), format!("file {}", path.display()));
        std::fs::write(&path, DOC).unwrap();
        let blue = l.resolve().await.unwrap();
        assert_eq!(blue.color, "blue");
        assert_eq!(blue.targets, ["http://127.0.0.1:9001"]);
        assert_eq!(
            blue.prompts,
            Some(vec!["cline-claude-sonnet-4".to_string()])
        );
        assert_eq!(
            blue.reason,
            format!("file {}: live=blue (1 target)", path.display())
        );
        std::fs::write(
            &path,
            DOC.replace(r#""live": "blue""#, r#""live": "green""#),
        )
        .unwrap();
        let green = l.resolve().await.unwrap();
        assert_eq!(green.color, "green");
        // Deduplicated, trailing slash dropped, order kept.
        assert_eq!(
            green.targets,
            ["http://127.0.0.1:9002", "http://127.0.0.1:9003"]
        );
        assert_eq!(green.prompts, None);
        assert!(
            green.reason.ends_with(": live=green (2 targets)"),
            "{}",
            green.reason
        );
    }

    #[tokio::test]
    async fn file_errors_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let l = lookup(
            LookupConfig::File {
                path: "live.json".into(),
            },
            dir.path(),
        );
        let path = dir.path().join("live.json");
        let e = l.resolve().await.unwrap_err();
        assert!(matches!(e, LookupError::Unavailable(_)), "{e}");
        assert_eq!(e.result_label(), "lookup_failed");
        assert!(e.to_string().contains("no such file"), "{e}");

        let case = |text: &str| {
            std::fs::write(&path, text).unwrap();
            futures_once(&l)
        };
        assert!(
            matches!(case("{\"live\": ").await, LookupError::Malformed(m) if m.contains("not json"))
        );
        assert!(
            matches!(case(r#"{"colors": {}}"#).await, LookupError::Malformed(m) if m.contains("no `live` field"))
        );
        assert!(
            matches!(case(r#"{"live": " ", "colors": {}}"#).await, LookupError::Malformed(m) if m.contains("`live` is empty"))
        );
        assert!(
            matches!(case(r#"{"live": "a/b", "colors": {}}"#).await, LookupError::Malformed(m) if m.contains("not a color name"))
        );
        assert!(
            matches!(case(r#"{"live": "blue"}"#).await, LookupError::Malformed(m) if m.contains("no `colors` object"))
        );
        assert_eq!(
            case(r#"{"live": "red", "colors": {"blue": {"targets": ["http://a"]}}}"#).await,
            LookupError::UnknownColor("red".into())
        );
        let e = case(r#"{"live": "blue", "colors": {"blue": {"targets": []}}}"#).await;
        assert_eq!(e, LookupError::NoTargets("blue".into()));
        assert_eq!(e.result_label(), "no_targets");
        assert_eq!(e.to_string(), "live color `blue` has no targets");
        assert!(matches!(
            case(r#"{"live": "blue", "colors": {"blue": {"targets": ["10.0.0.5:8000"]}}}"#).await,
            LookupError::Malformed(m) if m.contains("colors.blue.targets[0]: `10.0.0.5:8000` is not")
        ));
        let e =
            case(r#"{"live": "blue", "colors": {"blue": {"targets": ["http://u:hunter2@a"]}}}"#)
                .await;
        assert!(
            matches!(&e, LookupError::Malformed(m) if m.contains("credentials") && !m.contains("hunter2")),
            "{e}"
        );
        assert!(matches!(
            case(r#"{"live": "blue", "colors": {"blue": {"target": ["http://a"]}}}"#).await,
            LookupError::Malformed(m) if m.contains("no `targets` list")
        ));
    }

    async fn futures_once(l: &Lookup) -> LookupError {
        l.resolve().await.unwrap_err()
    }

    // ---- http -----------------------------------------------------------------------------

    /// What the test server answers: status, body, delay before answering.
    type Answer = Arc<Mutex<(u16, String, u64)>>;

    async fn http_server(answer: Answer) -> SocketAddr {
        use axum::extract::State;
        async fn live(State(a): State<Answer>) -> (axum::http::StatusCode, String) {
            let (status, body, delay) = a.lock().unwrap().clone();
            tokio::time::sleep(Duration::from_millis(delay)).await;
            (axum::http::StatusCode::from_u16(status).unwrap(), body)
        }
        let app = axum::Router::new()
            .route("/deploy/live", axum::routing::get(live))
            .with_state(answer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    }

    fn http_cfg(
        addr: SocketAddr,
        timeout_ms: Option<u64>,
        paths: Option<(&str, &str)>,
    ) -> LookupConfig {
        LookupConfig::Http {
            url: format!("http://user:pw@{addr}/deploy/live?token=s3cret"),
            timeout_ms,
            color_path: paths.map(|p| p.0.to_string()),
            colors_path: paths.map(|p| p.1.to_string()),
        }
    }

    #[tokio::test]
    async fn http_reads_default_and_custom_field_paths() {
        let answer: Answer = Arc::new(Mutex::new((200, DOC.to_string(), 0)));
        let addr = http_server(answer.clone()).await;
        let l = lookup(http_cfg(addr, None, None), Path::new("/"));
        assert_eq!(l.describe(), format!("http http://{addr}/deploy/live"));
        let blue = l.resolve().await.unwrap();
        assert_eq!((blue.color.as_str(), blue.targets.len()), ("blue", 1));
        assert_eq!(
            blue.reason,
            format!("http http://{addr}/deploy/live: live=blue (1 target)")
        );

        let nested = r#"{"deploy": {"active": "green", "pools": {
            "green": {"targets": ["https://10.0.0.7:8443"], "prompts": ["a", "b"]}}}}"#;
        answer.lock().unwrap().1 = nested.to_string();
        let l = lookup(
            http_cfg(addr, None, Some(("deploy.active", "deploy.pools"))),
            Path::new("/"),
        );
        let green = l.resolve().await.unwrap();
        assert_eq!(green.color, "green");
        assert_eq!(green.targets, ["https://10.0.0.7:8443"]);
        assert_eq!(green.prompts, Some(vec!["a".into(), "b".into()]));
        assert!(
            green.reason.contains("deploy.active=green"),
            "{}",
            green.reason
        );
        assert!(!green.reason.contains("s3cret") && !green.reason.contains("pw@"));
    }

    #[tokio::test]
    async fn http_5xx_and_timeouts_are_unavailable() {
        let answer: Answer = Arc::new(Mutex::new((500, "oops".into(), 0)));
        let addr = http_server(answer.clone()).await;
        let l = lookup(http_cfg(addr, Some(200), None), Path::new("/"));
        let e = l.resolve().await.unwrap_err();
        assert!(
            matches!(&e, LookupError::Unavailable(m) if m.contains("http 500")),
            "{e}"
        );
        assert!(!e.to_string().contains("s3cret"), "{e}");

        *answer.lock().unwrap() = (200, DOC.into(), 2000);
        let started = std::time::Instant::now();
        let e = l.resolve().await.unwrap_err();
        assert!(
            matches!(&e, LookupError::Unavailable(m) if m.contains("timed out")),
            "{e}"
        );
        assert!(started.elapsed() < Duration::from_millis(1500));

        *answer.lock().unwrap() = (200, "<html>".into(), 0);
        assert!(matches!(l.resolve().await, Err(LookupError::Malformed(_))));

        drop(l);
        let closed = free_tcp_port();
        let l = lookup(
            http_cfg(SocketAddr::from(([127, 0, 0, 1], closed)), Some(500), None),
            Path::new("/"),
        );
        let e = l.resolve().await.unwrap_err();
        assert!(
            matches!(&e, LookupError::Unavailable(m) if !m.contains("s3cret")),
            "{e}"
        );
    }

    fn free_tcp_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}
