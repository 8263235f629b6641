//! A small etcd v3 client over its JSON gateway (`POST /v3/...`): the lease, transaction and
//! range calls the fleet needs, with failover across endpoints, TLS and role-based auth.
//!
//! Every call is bounded: a timeout per endpoint tried, and an answer of at most
//! [`MAX_ANSWER`] bytes. An endpoint that cannot be reached, times out or answers 5xx (etcd's
//! gateway says 503 when its member has no leader) is skipped for the next one; the call fails
//! only when every endpoint did. Each call is counted in
//! `prefix_warden_cluster_etcd_requests_total{op,result}`. Errors carry the operation and the
//! endpoint without credentials, never a value.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::config::ClusterConfig;
use crate::error::{Error, Result};
use crate::metrics::CLUSTER_ETCD_REQUESTS;

/// The largest answer read from etcd (a range over the fleet's keys is the largest).
pub const MAX_ANSWER: usize = 4 << 20;
/// Keys one range may return.
const MAX_KEYS: u64 = 10_000;

/// Why an etcd call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcdError {
    /// No endpoint answered (connection refused, timeout, 5xx: no quorum, no leader).
    Unreachable(String),
    /// etcd answered and refused (permission, a malformed request, an unknown lease).
    Refused(String),
}

impl std::fmt::Display for EtcdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EtcdError::Unreachable(s) => write!(f, "etcd unreachable: {s}"),
            EtcdError::Refused(s) => write!(f, "etcd refused: {s}"),
        }
    }
}

/// One key as a range returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kv {
    pub key: String,
    pub value: Vec<u8>,
    /// The lease the key is attached to (0: none).
    pub lease: i64,
}

impl Kv {
    /// A key that does not exist (an empty value is never written).
    pub fn absent(key: &str) -> Kv {
        Kv {
            key: key.to_string(),
            value: Vec::new(),
            lease: 0,
        }
    }
}

/// The client; cheap to share behind an `Arc`.
pub struct Etcd {
    client: reqwest::Client,
    endpoints: Vec<String>,
    /// The endpoint that answered last: tried first next time.
    current: AtomicUsize,
    auth: Option<Auth>,
}

struct Auth {
    user: String,
    password: String,
    token: Mutex<Option<String>>,
}

impl Etcd {
    /// A client for `cfg`, reading its endpoints file, password and certificates now.
    pub fn new(cfg: &ClusterConfig) -> Result<Etcd> {
        let mut endpoints = cfg.endpoints.clone();
        if let Some(f) = &cfg.endpoints_file {
            let text = read_secret(f, "cluster.endpoints_file")?;
            for e in text
                .split([',', '\n'])
                .map(str::trim)
                .filter(|e| !e.is_empty())
            {
                crate::config::check_etcd_endpoint(e)
                    .map_err(|m| Error::Other(format!("{}: {m}", f.display())))?;
                endpoints.push(e.to_string());
            }
            if endpoints.is_empty() || endpoints.len() > crate::config::MAX_ETCD_ENDPOINTS {
                return Err(Error::Other(format!(
                    "{}: expected 1..={} endpoints",
                    f.display(),
                    crate::config::MAX_ETCD_ENDPOINTS
                )));
            }
        }
        let timeout = Duration::from_millis(cfg.request_timeout_ms);
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("prefix-warden/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &cfg.ca_file {
            let pem = read_secret(ca, "cluster.ca_file")?;
            let cert = reqwest::Certificate::from_pem(pem.as_bytes()).map_err(|e| {
                Error::Other(format!("{}: not a PEM certificate: {e}", ca.display()))
            })?;
            b = b.add_root_certificate(cert);
        }
        if let (Some(cert), Some(key)) = (&cfg.cert_file, &cfg.key_file) {
            let mut pem = read_secret(cert, "cluster.cert_file")?.into_bytes();
            pem.extend_from_slice(read_secret(key, "cluster.key_file")?.as_bytes());
            let id = reqwest::Identity::from_pem(&pem).map_err(|e| {
                Error::Other(format!(
                    "{} and {}: not a PEM certificate and key: {e}",
                    cert.display(),
                    key.display()
                ))
            })?;
            b = b.identity(id);
        }
        let auth = match &cfg.username {
            None => None,
            Some(user) => {
                let password = match &cfg.password_file {
                    Some(f) => read_secret(f, "cluster.password_file")?.trim_end().to_string(),
                    None => std::env::var("PREFIX_WARDEN_ETCD_PASSWORD").map_err(|_| {
                        Error::Other(
                            "cluster.username is set: give the password in cluster.password_file or $PREFIX_WARDEN_ETCD_PASSWORD".into(),
                        )
                    })?,
                };
                Some(Auth {
                    user: user.clone(),
                    password,
                    token: Mutex::new(None),
                })
            }
        };
        let client = b
            .build()
            .map_err(|e| Error::Other(format!("cannot build the etcd client: {e}")))?;
        Ok(Etcd {
            client,
            endpoints: endpoints
                .into_iter()
                .map(|e| e.trim_end_matches('/').to_string())
                .collect(),
            current: AtomicUsize::new(0),
            auth,
        })
    }

    /// A new lease of `ttl` seconds; its id.
    pub async fn grant(&self, ttl: u64) -> std::result::Result<i64, EtcdError> {
        let a = self
            .call("grant", "/v3/lease/grant", json!({ "TTL": ttl }))
            .await?;
        int(&a, "ID")
            .filter(|id| *id != 0)
            .ok_or_else(|| EtcdError::Refused("lease grant answered without an id".into()))
    }

    /// Renews lease `id`; the TTL etcd gives it, `None` when the lease no longer exists.
    pub async fn keepalive(&self, id: i64) -> std::result::Result<Option<i64>, EtcdError> {
        let a = self
            .call(
                "keepalive",
                "/v3/lease/keepalive",
                json!({ "ID": id.to_string() }),
            )
            .await?;
        // A streaming call through the gateway: one `result` per request. proto3 JSON leaves out
        // a zero TTL: the lease has expired.
        let r = a.get("result").unwrap_or(&a);
        Ok(int(r, "TTL").filter(|t| *t > 0))
    }

    /// Revokes lease `id`, deleting every key attached to it.
    pub async fn revoke(&self, id: i64) -> std::result::Result<(), EtcdError> {
        self.call(
            "revoke",
            "/v3/lease/revoke",
            json!({ "ID": id.to_string() }),
        )
        .await
        .map(drop)
    }

    /// Every key under `prefix`.
    pub async fn range_prefix(&self, prefix: &str) -> std::result::Result<Vec<Kv>, EtcdError> {
        let a = self
            .call(
                "range",
                "/v3/kv/range",
                json!({
                    "key": b64(prefix.as_bytes()),
                    "range_end": b64(&prefix_end(prefix.as_bytes())),
                    "limit": MAX_KEYS.to_string(),
                }),
            )
            .await?;
        kvs(&a)
    }

    /// The key `key`, `None` when it does not exist.
    pub async fn get(&self, key: &str) -> std::result::Result<Option<Kv>, EtcdError> {
        let a = self
            .call(
                "range",
                "/v3/kv/range",
                json!({ "key": b64(key.as_bytes()) }),
            )
            .await?;
        Ok(kvs(&a)?.into_iter().find(|kv| kv.key == key))
    }

    /// Puts `key = value` attached to `lease` if the key does not exist; otherwise the key as
    /// it is. `Ok(None)`: the put happened.
    pub async fn create(
        &self,
        key: &str,
        value: &[u8],
        lease: i64,
    ) -> std::result::Result<Option<Kv>, EtcdError> {
        let k = b64(key.as_bytes());
        let a = self
            .call(
                "txn",
                "/v3/kv/txn",
                json!({
                    "compare": [{"target": "CREATE", "key": k, "create_revision": "0", "result": "EQUAL"}],
                    "success": [{"request_put": {"key": k, "value": b64(value), "lease": lease.to_string()}}],
                    "failure": [{"request_range": {"key": k}}],
                }),
            )
            .await?;
        if a.get("succeeded").and_then(Value::as_bool) == Some(true) {
            return Ok(None);
        }
        // The failure branch's range: the key as another replica wrote it (or gone already,
        // between the compare and the range: an empty key).
        let range = a
            .get("responses")
            .and_then(|r| r.get(0))
            .and_then(|r| r.get("response_range").or_else(|| r.get("responseRange")))
            .cloned()
            .unwrap_or(Value::Null);
        Ok(Some(
            kvs(&range)?
                .into_iter()
                .next()
                .unwrap_or_else(|| Kv::absent(key)),
        ))
    }

    /// Puts `key = value` (no lease).
    pub async fn put(&self, key: &str, value: &[u8]) -> std::result::Result<(), EtcdError> {
        self.call(
            "put",
            "/v3/kv/put",
            json!({"key": b64(key.as_bytes()), "value": b64(value)}),
        )
        .await
        .map(drop)
    }

    /// Deletes `key` if it is still attached to `lease`; whether it was.
    pub async fn delete_if_lease(
        &self,
        key: &str,
        lease: i64,
    ) -> std::result::Result<bool, EtcdError> {
        let k = b64(key.as_bytes());
        let a = self
            .call(
                "txn",
                "/v3/kv/txn",
                json!({
                    "compare": [{"target": "LEASE", "key": k, "lease": lease.to_string(), "result": "EQUAL"}],
                    "success": [{"request_delete_range": {"key": k}}],
                }),
            )
            .await?;
        Ok(a.get("succeeded").and_then(Value::as_bool) == Some(true))
    }

    /// One call, tried on each endpoint in turn from the last one that answered.
    async fn call(
        &self,
        op: &'static str,
        path: &str,
        body: Value,
    ) -> std::result::Result<Value, EtcdError> {
        let n = self.endpoints.len();
        let first = self.current.load(Ordering::Relaxed) % n;
        let mut last = String::new();
        for i in 0..n {
            let at = (first + i) % n;
            let endpoint = &self.endpoints[at];
            match self.call_one(endpoint, path, &body, true).await {
                Ok(v) => {
                    self.current.store(at, Ordering::Relaxed);
                    count(op, "ok");
                    return Ok(v);
                }
                Err(Attempt::Next(why)) => last = format!("{}: {why}", shown(endpoint)),
                Err(Attempt::Refused(why)) => {
                    count(op, "refused");
                    return Err(EtcdError::Refused(format!(
                        "{op} at {}: {why}",
                        shown(endpoint)
                    )));
                }
            }
        }
        count(op, "unreachable");
        Err(EtcdError::Unreachable(format!(
            "{op}: no endpoint answered (last: {last})"
        )))
    }

    async fn call_one(
        &self,
        endpoint: &str,
        path: &str,
        body: &Value,
        retry_auth: bool,
    ) -> std::result::Result<Value, Attempt> {
        let mut req = self.client.post(format!("{endpoint}{path}")).json(body);
        if let Some(auth) = &self.auth {
            let cached = lock(&auth.token).clone();
            let token = match cached {
                Some(t) => t,
                None => self.authenticate(endpoint, auth).await?,
            };
            req = req.header("Authorization", token);
        }
        let resp = req.send().await.map_err(|e| {
            Attempt::Next(if e.is_timeout() {
                "timed out".into()
            } else {
                crate::body::BodyError::Transfer(e).to_string()
            })
        })?;
        let status = resp.status();
        let bytes = crate::body::read_limited(resp, MAX_ANSWER)
            .await
            .map_err(|e| Attempt::Next(e.to_string()))?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|_| Attempt::Next(format!("http {status}: the answer is not JSON")))?;
        if status.is_success() && v.get("error").is_none() {
            return Ok(v);
        }
        // Unary calls answer `{"code", "message"}`; streaming ones (keepalive) `{"error":
        // {"grpc_code", "http_code", "message"}}`.
        let inner = v.get("error").filter(|e| e.is_object()).unwrap_or(&v);
        let message = inner
            .get("message")
            .or_else(|| v.get("error"))
            .and_then(Value::as_str)
            .map(|m| {
                m.chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect::<String>()
            })
            .unwrap_or_default();
        let code = inner
            .get("code")
            .or_else(|| inner.get("grpc_code"))
            .and_then(Value::as_i64);
        if let Some(auth) = &self.auth {
            // An expired or unknown auth token (gRPC code 16, HTTP 401): authenticate again,
            // once.
            if retry_auth && (code == Some(16) || status == 401 || message.contains("token")) {
                *lock(&auth.token) = None;
                return Box::pin(self.call_one(endpoint, path, body, false)).await;
            }
        }
        if status.is_server_error() || status == 408 || status == 429 {
            Err(Attempt::Next(format!("http {status} {message}")))
        } else {
            Err(Attempt::Refused(format!("http {status} {message}")))
        }
    }

    async fn authenticate(
        &self,
        endpoint: &str,
        auth: &Auth,
    ) -> std::result::Result<String, Attempt> {
        let resp = self
            .client
            .post(format!("{endpoint}/v3/auth/authenticate"))
            .json(&json!({"name": auth.user, "password": auth.password}))
            .send()
            .await
            .map_err(|e| Attempt::Next(crate::body::BodyError::Transfer(e).to_string()))?;
        let status = resp.status();
        let bytes = crate::body::read_limited(resp, 64 << 10)
            .await
            .map_err(|e| Attempt::Next(e.to_string()))?;
        let answer = serde_json::from_slice::<Value>(&bytes).ok();
        let token = answer
            .as_ref()
            .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_string));
        // etcd's own words (JSON `message`, or the gateway's plain text): never the password.
        let said: String = answer
            .as_ref()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned())
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        match token {
            Some(t) if status.is_success() => {
                count("auth", "ok");
                *lock(&auth.token) = Some(t.clone());
                Ok(t)
            }
            _ if status.is_server_error() => {
                Err(Attempt::Next(format!("authenticate: http {status}")))
            }
            _ => {
                count("auth", "refused");
                Err(Attempt::Refused(format!(
                    "authenticate as {}: http {status} {}",
                    auth.user,
                    said.replace(&auth.password, "<password>")
                )))
            }
        }
    }
}

enum Attempt {
    /// Try the next endpoint.
    Next(String),
    /// etcd answered no: the next endpoint would too.
    Refused(String),
}

fn count(op: &'static str, result: &'static str) {
    metrics::counter!(CLUSTER_ETCD_REQUESTS, "op" => op, "result" => result).increment(1);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The first key after every key starting with `prefix` (etcd's `range_end` for a prefix).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// An int64 field: proto3 JSON writes them as strings.
fn int(v: &Value, field: &str) -> Option<i64> {
    match v.get(field)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// The `kvs` of a range answer.
fn kvs(a: &Value) -> std::result::Result<Vec<Kv>, EtcdError> {
    let Some(list) = a.get("kvs").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let dec = |s: Option<&Value>| {
        base64::engine::general_purpose::STANDARD
            .decode(s.and_then(Value::as_str).unwrap_or(""))
            .map_err(|_| EtcdError::Refused("a range answer is not base64".into()))
    };
    list.iter()
        .map(|kv| {
            Ok(Kv {
                key: String::from_utf8_lossy(&dec(kv.get("key"))?).into_owned(),
                value: dec(kv.get("value"))?,
                lease: int(kv, "lease").unwrap_or(0),
            })
        })
        .collect()
}

/// An endpoint as messages show it: scheme, host and port.
fn shown(endpoint: &str) -> String {
    match reqwest::Url::parse(endpoint) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or("?"),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => "<endpoint>".into(),
    }
}

fn read_secret(path: &std::path::Path, field: &str) -> Result<String> {
    let bytes = crate::bounded::read_limited(path, 1 << 20)
        .map_err(|e| Error::Other(format!("{field}: {e}")))?;
    String::from_utf8(bytes)
        .map_err(|_| Error::Other(format!("{field}: {} is not UTF-8", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_ends_after_every_key_that_starts_with_it() {
        assert_eq!(prefix_end(b"/pw/"), b"/pw0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }

    #[test]
    fn int64_fields_are_read_as_strings_or_numbers() {
        let v = json!({"ID": "7587867123", "TTL": 10});
        assert_eq!(int(&v, "ID"), Some(7_587_867_123));
        assert_eq!(int(&v, "TTL"), Some(10));
        assert_eq!(int(&v, "X"), None);
    }

    #[test]
    fn shown_endpoints_have_no_credentials() {
        assert_eq!(shown("https://u:pw@etcd-0:2379/x"), "https://etcd-0:2379");
    }
}
