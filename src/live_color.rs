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

    /// One lookup, no retries (the caller retries brown-outs within a tick).
    pub async fn resolve(&self) -> Result<LiveColor, LookupError> {
        match &self.backend {
            Backend::File { path } => {
                let src = format!("file {}", path.display());
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|e| LookupError::Unavailable(format!("{src}: {}", one_line(&e))))?;
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

// ---------------------------------------------------------------------------------------------
// The JSON document and color entries.

/// Picks the live color out of a whole document (`file` and `http`).
fn pick_from_document(
    src: &str,
    bytes: &[u8],
    color_path: &str,
    colors_path: &str,
) -> Result<LiveColor, LookupError> {
    let doc = parse_json(src, bytes)?;
    let color = match at_path(&doc, color_path) {
        None | Some(Value::Null) => {
            return Err(LookupError::Malformed(format!(
                "{src}: no `{color_path}` field"
            )))
        }
        Some(Value::String(s)) => check_color(src, color_path, s)?,
        Some(_) => {
            return Err(LookupError::Malformed(format!(
                "{src}: `{color_path}` is not a string"
            )))
        }
    };
    let colors = match at_path(&doc, colors_path) {
        Some(Value::Object(m)) => m,
        _ => {
            return Err(LookupError::Malformed(format!(
                "{src}: no `{colors_path}` object"
            )))
        }
    };
    let Some(entry) = colors.get(&color) else {
        return Err(LookupError::UnknownColor(color));
    };
    let (targets, prompts) = parse_entry(src, &format!("{colors_path}.{color}"), entry)?;
    let reason = format!("{src}: {color_path}={color}");
    live(color, targets, prompts, reason)
}

/// The answer, once the color has targets; `reason` gets the target count appended.
fn live(
    color: String,
    targets: Vec<String>,
    prompts: Option<Vec<String>>,
    reason: String,
) -> Result<LiveColor, LookupError> {
    if targets.is_empty() {
        return Err(LookupError::NoTargets(color));
    }
    let reason = format!("{reason} ({})", count(targets.len(), "target"));
    Ok(LiveColor {
        color,
        targets,
        prompts,
        reason,
    })
}

fn parse_json(src: &str, bytes: &[u8]) -> Result<Value, LookupError> {
    if bytes.len() > MAX_DOC_BYTES {
        return Err(LookupError::Malformed(format!(
            "{src}: larger than {MAX_DOC_BYTES} bytes"
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| LookupError::Malformed(format!("{src}: not json: {e}")))
}

/// The value at a dot-separated path of object fields.
fn at_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |v, key| v.get(key))
}

/// A color entry: its targets (checked, deduplicated; may be empty) and prompts.
type Entry = (Vec<String>, Option<Vec<String>>);

fn parse_entry(src: &str, at: &str, entry: &Value) -> Result<Entry, LookupError> {
    let malformed = |m: String| LookupError::Malformed(format!("{src}: {at}{m}"));
    if !entry.is_object() {
        return Err(malformed(": not an object".into()));
    }
    let targets = match entry.get("targets") {
        None => return Err(malformed(": no `targets` list".into())),
        Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.as_slice().iter().collect(),
        Some(_) => return Err(malformed(".targets: not a list".into())),
    };
    let mut out: Vec<String> = Vec::with_capacity(targets.len());
    for (i, t) in targets.into_iter().enumerate() {
        let Some(t) = t.as_str() else {
            return Err(malformed(format!(".targets[{i}]: not a string")));
        };
        let t = check_target(t).map_err(|m| malformed(format!(".targets[{i}]: {m}")))?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    let prompts = match entry.get("prompts") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .enumerate()
                .map(|(i, p)| match p.as_str() {
                    Some(s) if !s.trim().is_empty() => Ok(s.to_string()),
                    _ => Err(malformed(format!(".prompts[{i}]: not a prompt id"))),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(_) => return Err(malformed(".prompts: not a list".into())),
    };
    Ok((out, prompts))
}

/// A target base URL: http(s), with a host, without credentials; trailing slashes dropped.
fn check_target(t: &str) -> Result<String, String> {
    let t = t.trim();
    let shown = || t.chars().take(100).collect::<String>();
    let url = reqwest::Url::parse(t).map_err(|_| format!("`{}` is not a url", shown()))?;
    if !url.username().is_empty() || url.password().is_some() {
        // Not echoed: it carries credentials.
        return Err("a target must not carry credentials".into());
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("`{}` is not an http(s) url", shown()));
    }
    Ok(t.trim_end_matches('/').to_string())
}

/// A color name: 1 to 63 of `[A-Za-z0-9_-]`, so it fits a DNS label, an etcd key and a label.
fn check_color(src: &str, field: &str, color: &str) -> Result<String, LookupError> {
    let c = color.trim();
    if c.is_empty() {
        return Err(LookupError::Malformed(format!("{src}: `{field}` is empty")));
    }
    if c.len() > 63
        || !c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        let shown: String = c.chars().take(64).collect();
        return Err(LookupError::Malformed(format!(
            "{src}: `{field}` = `{}` is not a color name (1 to 63 letters, digits, - or _)",
            shown.escape_default()
        )));
    }
    Ok(c.to_string())
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP and etcd.

fn http_client(backend: &str, timeout_ms: Option<u64>) -> Result<reqwest::Client, Error> {
    let ms = timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if ms == 0 {
        return Err(config_error(backend, "timeout_ms", "must be at least 1"));
    }
    reqwest::Client::builder()
        .timeout(Duration::from_millis(ms))
        .user_agent(concat!("prefix-warden/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| config_error(backend, "client", one_line(&e)))
}

fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(format!("`{}` is not an http(s) url", redact_url(url))),
    }
}

/// `url` without user info, query or fragment, which may carry secrets.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(unparsable url)".into(),
    }
}

/// Sends `req` and returns the body of a 2xx answer.
async fn http_body(src: &str, req: reqwest::RequestBuilder) -> Result<Vec<u8>, LookupError> {
    let unavailable = |e: reqwest::Error| {
        let why = if e.is_timeout() {
            "timed out".to_string()
        } else {
            one_line(&e.without_url())
        };
        LookupError::Unavailable(format!("{src}: {why}"))
    };
    let resp = req.send().await.map_err(unavailable)?;
    let status = resp.status();
    if !status.is_success() {
        return Err(LookupError::Unavailable(format!("{src}: http {status}")));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_DOC_BYTES as u64)
    {
        return Err(LookupError::Malformed(format!(
            "{src}: larger than {MAX_DOC_BYTES} bytes"
        )));
    }
    Ok(resp.bytes().await.map_err(unavailable)?.to_vec())
}

/// An error and its sources on one line, lower case.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s.replace(['\n', '\r'], " ").to_lowercase()
}

/// The value of one etcd key through the v3 JSON gateway, `None` when the key does not exist.
async fn etcd_get(
    client: &reqwest::Client,
    endpoint: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, LookupError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let src = format!("etcd {} key {key}", redact_url(endpoint));
    let body = serde_json::json!({ "key": b64.encode(key) });
    let req = client.post(format!("{endpoint}/v3/kv/range")).json(&body);
    let bytes = http_body(&src, req).await?;
    let answer: Value = serde_json::from_slice(&bytes)
        .map_err(|e| LookupError::Malformed(format!("{src}: gateway answer is not json: {e}")))?;
    let Some(kv) = answer.get("kvs").and_then(|k| k.get(0)) else {
        return Ok(None);
    };
    // proto3 JSON leaves out an empty value.
    let value = kv.get("value").and_then(Value::as_str).unwrap_or("");
    let value = b64
        .decode(value)
        .map_err(|_| LookupError::Malformed(format!("{src}: value is not base64")))?;
    if value.len() > MAX_DOC_BYTES {
        return Err(LookupError::Malformed(format!(
            "{src}: larger than {MAX_DOC_BYTES} bytes"
        )));
    }
    Ok(Some(value))
}

async fn resolve_etcd(
    client: &reqwest::Client,
    endpoint: &str,
    color_key: &str,
    targets_key: &str,
) -> Result<LiveColor, LookupError> {
    let shown = redact_url(endpoint);
    let src = format!("etcd {shown} key {color_key}");
    let Some(raw) = etcd_get(client, endpoint, color_key).await? else {
        return Err(LookupError::Malformed(format!(
            "etcd {shown}: key {color_key} not found"
        )));
    };
    let raw = String::from_utf8(raw)
        .map_err(|_| LookupError::Malformed(format!("{src}: value is not utf-8")))?;
    let color = check_color(&src, "value", raw.trim().trim_matches('"'))?;
    let key = targets_key.replace("{color}", &color);
    let Some(doc) = etcd_get(client, endpoint, &key).await? else {
        return Err(LookupError::UnknownColor(color));
    };
    let src = format!("etcd {shown} key {key}");
    let entry = parse_json(&src, &doc)?;
    let (targets, prompts) = parse_entry(&src, "value", &entry)?;
    let reason = format!("etcd {shown}: {color_key}={color}, {key}");
    live(color, targets, prompts, reason)
}

// ---------------------------------------------------------------------------------------------
// DNS.

/// `host:port`, or an IP alone for port 53.
fn parse_server(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("`{s}` is not an address such as 127.0.0.1:5353"))
}

/// `name` as a fully qualified name, so no search domain is ever appended.
fn fqdn(name: &str) -> Result<Name, String> {
    let name = name.trim();
    let dotted = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    match Name::from_ascii(&dotted) {
        Ok(n) if !name.is_empty() && !n.is_root() => Ok(n),
        _ => Err(format!("`{name}` is not a dns name")),
    }
}

/// A resolver that asks only `server` (UDP, TCP on truncation), once, and caches nothing.
fn dns_resolver(server: SocketAddr) -> TokioResolver {
    let mut group = NameServerConfigGroup::new();
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        let mut ns = NameServerConfig::new(server, protocol);
        // NXDOMAIN from the one server is the answer; do not ask it again over the other
        // protocol.
        ns.trust_negative_responses = true;
        group.push(ns);
    }
    let config = ResolverConfig::from_parts(None, vec![], group);
    let mut opts = ResolverOpts::default();
    opts.cache_size = 0;
    opts.positive_max_ttl = Some(Duration::ZERO);
    opts.negative_max_ttl = Some(Duration::ZERO);
    // One try; the warm-up loop decides about retries.
    opts.attempts = 0;
    opts.timeout = DNS_TIMEOUT;
    opts.num_concurrent_reqs = 1;
    opts.ndots = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.preserve_intermediates = false;
    TokioResolver::builder_with_config(config, TokioConnectionProvider::default())
        .with_options(opts)
        .build()
}

/// A DNS failure: `Ok(())` when the name or its records do not exist (NXDOMAIN, NODATA),
/// `Err(Unavailable)` for everything else (timeout, SERVFAIL, REFUSED, IO).
fn absent_or_unavailable(src: &str, e: &ResolveError) -> Result<(), LookupError> {
    if let Some(p) = e.proto() {
        if let ProtoErrorKind::NoRecordsFound { response_code, .. } = p.kind() {
            return match response_code {
                ResponseCode::NXDomain | ResponseCode::NoError => Ok(()),
                rc => Err(LookupError::Unavailable(format!(
                    "{src}: server answered {}",
                    rc.to_string().to_lowercase()
                ))),
            };
        }
    }
    Err(LookupError::Unavailable(format!("{src}: {}", one_line(e))))
}

async fn resolve_dns(
    resolver: &TokioResolver,
    server: SocketAddr,
    color_txt: &str,
    targets_srv: &str,
    scheme: &str,
) -> Result<LiveColor, LookupError> {
    // Belt and braces: the cache is off, but a stale answer here is the one bug that must not
    // happen.
    resolver.clear_cache();
    let src = format!("dns {server} txt {color_txt}");
    let name = fqdn(color_txt).map_err(|m| LookupError::Malformed(format!("{src}: {m}")))?;
    let mut values: Vec<String> = Vec::new();
    match resolver.txt_lookup(name).await {
        Ok(txt) => {
            for record in txt.iter() {
                // One record may be split into several strings; they form one value.
                let bytes: Vec<u8> = record
                    .txt_data()
                    .iter()
                    .flat_map(|s| s.iter())
                    .copied()
                    .collect();
                let v = String::from_utf8(bytes)
                    .map_err(|_| LookupError::Malformed(format!("{src}: record is not utf-8")))?;
                let v = v.trim().trim_matches('"').trim().to_string();
                if !values.contains(&v) {
                    values.push(v);
                }
            }
        }
        Err(e) => absent_or_unavailable(&src, &e)?,
    }
    let raw = match values.as_slice() {
        [] => return Err(LookupError::Malformed(format!("{src}: no txt record"))),
        [one] => one,
        many => {
            let shown: Vec<String> = many
                .iter()
                .take(4)
                .map(|v| v.escape_default().to_string())
                .collect();
            return Err(LookupError::Malformed(format!(
                "{src}: txt records disagree: {}",
                shown.join(", ")
            )));
        }
    };
    let color = check_color(&src, "value", raw)?;
    let srv_name = targets_srv.replace("{color}", &color);
    let srv_src = format!("dns {server} srv {srv_name}");
    let name = fqdn(&srv_name).map_err(|m| LookupError::Malformed(format!("{srv_src}: {m}")))?;
    let mut records: Vec<(u16, u16, String, u16)> = Vec::new();
    match resolver.srv_lookup(name).await {
        Ok(srv) => {
            for r in srv.iter() {
                // RFC 2782: a target of "." means the service is not offered there.
                if r.target().is_root() {
                    continue;
                }
                let host = r.target().to_ascii();
                let host = host.trim_end_matches('.').to_string();
                records.push((r.priority(), r.weight(), host, r.port()));
            }
        }
        Err(e) => absent_or_unavailable(&srv_src, &e)?,
    }
    // Lowest priority first; within a priority, highest weight first; then by name for a
    // stable order.
    records.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(b.1.cmp(&a.1))
            .then_with(|| (&a.2, a.3).cmp(&(&b.2, b.3)))
    });
    let mut targets: Vec<String> = Vec::with_capacity(records.len());
    for (_, _, host, port) in records {
        let t = format!("{scheme}://{host}:{port}");
        if !targets.contains(&t) {
            targets.push(t);
        }
    }
    let reason = format!("dns {server}: txt {color_txt}={color}, srv {srv_name}");
    live(color, targets, None, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};
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
            dns_cfg(5353),
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

    // ---- spawned servers ------------------------------------------------------------------

    /// A spawned server, killed when dropped (also when a test panics).
    struct Server {
        child: Child,
        log: PathBuf,
    }

    impl Server {
        fn spawn(mut cmd: Command, log: PathBuf) -> Server {
            let f = std::fs::File::create(&log).unwrap();
            let child = cmd
                .stdin(Stdio::null())
                .stdout(f.try_clone().unwrap())
                .stderr(f)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
            Server { child, log }
        }

        /// The server's log when it has exited.
        fn exit_log(&mut self) -> Option<String> {
            let status = self.child.try_wait().unwrap()?;
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            Some(format!("({status})\n{log}"))
        }

        /// Panics with the server's log when it has exited.
        fn check_alive(&mut self) {
            if let Some(log) = self.exit_log() {
                panic!("server exited {log}");
            }
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// The path of a system binary the tests need; never skips.
    fn binary(name: &str) -> PathBuf {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!("`{name}` is not installed; these tests need it: apt-get install dnsmasq etcd-server")
            })
    }

    fn free_tcp_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    // ---- dns ------------------------------------------------------------------------------

    const TXT: &str = "live.svc.test";
    const SRV: &str = "_warm._tcp.{color}.svc.test";

    /// The SRV records of both colors; blue's are listed out of order on purpose.
    fn srv_records() -> Vec<String> {
        vec![
            "--srv-host=_warm._tcp.blue.svc.test,127.0.0.1,9012,20,5".into(),
            "--srv-host=_warm._tcp.blue.svc.test,127.0.0.2,9011,10,5".into(),
            "--srv-host=_warm._tcp.blue.svc.test,127.0.0.3,9013,10,50".into(),
            "--srv-host=_warm._tcp.green.svc.test,127.0.0.4,9002,0,0".into(),
        ]
    }

    /// dnsmasq answering only from its command line: `records` are `--txt-record=...` and
    /// `--srv-host=...` flags; anything under svc.test that is not listed gets NXDOMAIN, names
    /// elsewhere get REFUSED.
    fn dnsmasq(dir: &Path, port: u16, records: &[String]) -> Server {
        try_dnsmasq(dir, port, records).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_dnsmasq(dir: &Path, port: u16, records: &[String]) -> Result<Server, String> {
        let mut cmd = Command::new(binary("dnsmasq"));
        cmd.args([
            "--no-daemon",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--local=/svc.test/",
        ])
        .args(records);
        let mut s = Server::spawn(cmd, dir.join(format!("dnsmasq-{port}.log")));
        // Ready once it answers a query (any answer will do).
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.connect(("127.0.0.1", port)).unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04live\x03svc\x04test\x00\x00\x10\x00\x01";
        for _ in 0..100 {
            if let Some(log) = s.exit_log() {
                return Err(format!("dnsmasq on port {port} exited:\n{log}"));
            }
            let _ = probe.send(query);
            let mut buf = [0u8; 512];
            if probe.recv(&mut buf).is_ok() {
                return Ok(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("dnsmasq on port {port} did not answer within 7 s"))
    }

    /// dnsmasq on a free port (retrying when another process takes the port first).
    fn dnsmasq_anywhere(dir: &Path, records: &[String]) -> (Server, u16) {
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_tcp_port();
            match try_dnsmasq(dir, port, records) {
                Ok(s) => return (s, port),
                Err(e) => last = e,
            }
        }
        panic!("could not start dnsmasq on a free port: {last}");
    }

    fn dns_cfg(port: u16) -> LookupConfig {
        LookupConfig::Dns {
            server: format!("127.0.0.1:{port}"),
            color_txt: TXT.into(),
            targets_srv: SRV.into(),
            scheme: None,
        }
    }

    #[tokio::test]
    async fn dns_follows_txt_and_srv_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = srv_records();
        records.push(format!("--txt-record={TXT},blue"));
        let (server, port) = dnsmasq_anywhere(dir.path(), &records);
        let l = lookup(dns_cfg(port), dir.path());
        let blue = l.resolve().await.unwrap();
        assert_eq!(blue.color, "blue");
        // Priority 10 before 20; within 10, weight 50 before 5.
        assert_eq!(
            blue.targets,
            [
                "http://127.0.0.3:9013",
                "http://127.0.0.2:9011",
                "http://127.0.0.1:9012"
            ]
        );
        assert_eq!(blue.prompts, None);
        assert_eq!(
            blue.reason,
            format!(
                "dns 127.0.0.1:{port}: txt {TXT}=blue, srv _warm._tcp.blue.svc.test (3 targets)"
            )
        );

        // The flip: same port, new records, same Lookup.
        drop(server);
        let mut records = srv_records();
        records.push(format!("--txt-record={TXT},green"));
        let server = dnsmasq(dir.path(), port, &records);
        let green = l.resolve().await.unwrap();
        assert_eq!(
            (green.color.as_str(), green.targets.as_slice()),
            ("green", ["http://127.0.0.4:9002".to_string()].as_slice())
        );

        // A color without SRV records has no targets.
        drop(server);
        let mut records = srv_records();
        records.push(format!("--txt-record={TXT},red"));
        let server = dnsmasq(dir.path(), port, &records);
        assert_eq!(l.resolve().await, Err(LookupError::NoTargets("red".into())));

        // No TXT record: the source does not say what is live.
        drop(server);
        let mut server = dnsmasq(dir.path(), port, &srv_records());
        let e = l.resolve().await.unwrap_err();
        assert!(
            matches!(&e, LookupError::Malformed(m) if m.contains("no txt record")),
            "{e}"
        );

        // REFUSED (a name outside the served domain) is a failure, not an absence.
        let l2 = lookup(
            LookupConfig::Dns {
                server: format!("127.0.0.1:{port}"),
                color_txt: "live.elsewhere.test".into(),
                targets_srv: SRV.into(),
                scheme: Some("https".into()),
            },
            dir.path(),
        );
        let e = l2.resolve().await.unwrap_err();
        assert!(
            matches!(&e, LookupError::Unavailable(m) if m.contains("refused")),
            "{e}"
        );
        server.check_alive();
        drop(server);
        assert!(!dnsmasq_is_running(port));
    }

    #[tokio::test]
    async fn dns_txt_quotes_scheme_and_disagreement() {
        let dir = tempfile::tempdir().unwrap();
        let mut records = srv_records();
        records.push(format!("--txt-record={TXT},\" green \""));
        let (server, port) = dnsmasq_anywhere(dir.path(), &records);
        let l = lookup(
            LookupConfig::Dns {
                server: format!("127.0.0.1:{port}"),
                color_txt: format!("{TXT}."),
                targets_srv: SRV.into(),
                scheme: Some("https".into()),
            },
            dir.path(),
        );
        let green = l.resolve().await.unwrap();
        assert_eq!(green.targets, ["https://127.0.0.4:9002"]);
        drop(server);
        let mut records = srv_records();
        records.push(format!("--txt-record={TXT},blue"));
        records.push(format!("--txt-record={TXT},green"));
        let _server = dnsmasq(dir.path(), port, &records);
        let e = l.resolve().await.unwrap_err();
        assert!(
            matches!(&e, LookupError::Malformed(m) if m.contains("disagree")),
            "{e}"
        );
    }

    #[tokio::test]
    async fn dns_without_a_server_is_unavailable() {
        let port = free_tcp_port();
        let l = lookup(dns_cfg(port), Path::new("/"));
        let started = std::time::Instant::now();
        let e = l.resolve().await.unwrap_err();
        assert!(
            matches!(&e, LookupError::Unavailable(m) if m.contains("timed out")),
            "{e}"
        );
        assert!(started.elapsed() < DNS_TIMEOUT * 2);
    }

    fn dnsmasq_is_running(port: u16) -> bool {
        std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
    }

    // ---- etcd -----------------------------------------------------------------------------

    struct Etcd {
        server: Server,
        endpoint: String,
        client: reqwest::Client,
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    impl Etcd {
        async fn start(dir: &Path) -> Etcd {
            for _ in 0..5 {
                let (client_port, peer_port) = (free_tcp_port(), free_tcp_port());
                let client_url = format!("http://127.0.0.1:{client_port}");
                let peer_url = format!("http://127.0.0.1:{peer_port}");
                let mut cmd = Command::new(binary("etcd"));
                cmd.env_clear()
                    .arg("--data-dir")
                    .arg(dir.join(format!("etcd-{client_port}")))
                    .args([
                        "--name=default",
                        &format!("--listen-client-urls={client_url}"),
                        &format!("--advertise-client-urls={client_url}"),
                        &format!("--listen-peer-urls={peer_url}"),
                        &format!("--initial-advertise-peer-urls={peer_url}"),
                        &format!("--initial-cluster=default={peer_url}"),
                        "--heartbeat-interval=10",
                        "--election-timeout=50",
                        "--logger=zap",
                        "--log-outputs=stderr",
                    ]);
                let mut server = Server::spawn(cmd, dir.join(format!("etcd-{client_port}.log")));
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()
                    .unwrap();
                for _ in 0..150 {
                    if server.exit_log().is_some() {
                        break; // port taken: try others
                    }
                    let health = client.get(format!("{client_url}/health")).send().await;
                    if health.is_ok_and(|r| r.status().is_success()) {
                        return Etcd {
                            server,
                            endpoint: client_url,
                            client,
                        };
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                if server.exit_log().is_some() {
                    continue; // it exited (most likely a port was taken): try other ports
                }
                panic!("etcd at {client_url} not healthy within 7 s");
            }
            panic!("could not start etcd on free ports in 5 tries");
        }

        async fn call(&self, method: &str, body: Value) {
            let r = self
                .client
                .post(format!("{}/v3/kv/{method}", self.endpoint))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{method}: {}", r.status());
        }

        async fn put(&self, key: &str, value: &str) {
            self.call(
                "put",
                serde_json::json!({"key": b64(key), "value": b64(value)}),
            )
            .await;
        }

        async fn delete(&self, key: &str) {
            self.call("deleterange", serde_json::json!({"key": b64(key)}))
                .await;
        }
    }

    #[tokio::test]
    async fn etcd_follows_the_color_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut etcd = Etcd::start(dir.path()).await;
        let cfg = LookupConfig::Etcd {
            endpoint: format!("{}/", etcd.endpoint),
            color_key: "/pw/live".into(),
            targets_key: "/pw/colors/{color}".into(),
            timeout_ms: Some(1000),
        };
        let l = lookup(cfg, dir.path());
        assert_eq!(
            l.describe(),
            format!(
                "etcd {}/: keys /pw/live, /pw/colors/{{color}}",
                etcd.endpoint
            )
        );
        let e = l.resolve().await.unwrap_err();
        assert!(
            matches!(&e, LookupError::Malformed(m) if m.contains("key /pw/live not found")),
            "{e}"
        );

        etcd.put("/pw/live", "blue\n").await;
        etcd.put(
            "/pw/colors/blue",
            r#"{"targets": ["http://127.0.0.1:9001"], "prompts": ["p1"]}"#,
        )
        .await;
        etcd.put(
            "/pw/colors/green",
            r#"{"targets": ["http://127.0.0.1:9002", "http://127.0.0.1:9003", "http://127.0.0.1:9002"]}"#,
        )
        .await;
        let blue = l.resolve().await.unwrap();
        assert_eq!(blue.color, "blue");
        assert_eq!(blue.targets, ["http://127.0.0.1:9001"]);
        assert_eq!(blue.prompts, Some(vec!["p1".to_string()]));
        assert_eq!(
            blue.reason,
            format!(
                "etcd {}/: /pw/live=blue, /pw/colors/blue (1 target)",
                etcd.endpoint
            )
        );

        etcd.put("/pw/live", "green").await;
        let green = l.resolve().await.unwrap();
        assert_eq!(
            green.targets,
            ["http://127.0.0.1:9002", "http://127.0.0.1:9003"]
        );
        assert_eq!(green.prompts, None);

        etcd.put("/pw/live", "red").await;
        assert_eq!(
            l.resolve().await,
            Err(LookupError::UnknownColor("red".into()))
        );

        etcd.put("/pw/live", "green").await;
        etcd.put("/pw/colors/green", r#"{"targets": []}"#).await;
        assert_eq!(
            l.resolve().await,
            Err(LookupError::NoTargets("green".into()))
        );

        etcd.put("/pw/colors/green", "{not json").await;
        assert!(
            matches!(l.resolve().await, Err(LookupError::Malformed(m)) if m.contains("/pw/colors/green: not json"))
        );

        etcd.put("/pw/live", "").await;
        assert!(
            matches!(l.resolve().await, Err(LookupError::Malformed(m)) if m.contains("is empty"))
        );

        etcd.delete("/pw/live").await;
        assert!(
            matches!(l.resolve().await, Err(LookupError::Malformed(m)) if m.contains("not found"))
        );

        etcd.server.check_alive();
        drop(etcd);
        let e = l.resolve().await.unwrap_err();
        assert!(matches!(&e, LookupError::Unavailable(_)), "{e}");
    }
}
