//! `[cluster]`: replicas coordinated through etcd (issue #23). Without the section a daemon
//! warms every group itself, as a single replica always did.
//!
//! The section is read once at start: a reload that changes it is refused (the running
//! generation stays), because a replica's name, lease and endpoints are the daemon's identity in
//! the fleet, not part of a generation.

use std::path::PathBuf;

use serde::Deserialize;

/// `[cluster]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// etcd client URLs (`http://` or `https://`), tried in turn when one fails.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// A file holding the endpoints (one per line, or comma-separated): a Kubernetes Secret
    /// mounted as a file.
    #[serde(default)]
    pub endpoints_file: Option<String>,
    /// Every key this fleet writes starts with it.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// The TTL of this replica's lease: a replica that stops (or loses etcd) holds its groups at
    /// most this long.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_secs: u64,
    /// This replica's name in the fleet; default: `$PREFIX_WARDEN_REPLICA`, else the host name.
    #[serde(default)]
    pub name: Option<String>,
    /// Each etcd request must be answered within (per endpoint tried).
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// CA certificate (PEM) of etcd's server certificates, for `https://` endpoints.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Client certificate and key (PEM), when etcd requires client certificates.
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key_file: Option<String>,
    /// etcd user (role-based auth); the password comes from `password_file` or
    /// `$PREFIX_WARDEN_ETCD_PASSWORD`, never from this file.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_file: Option<String>,
}

/// `[cluster]`, checked, paths resolved against the config's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub endpoints: Vec<String>,
    pub endpoints_file: Option<PathBuf>,
    pub key_prefix: String,
    pub lease_ttl_secs: u64,
    pub name: Option<String>,
    pub request_timeout_ms: u64,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// Endpoints a fleet may name.
pub const MAX_ENDPOINTS: usize = 16;
/// The longest endpoint URL, key prefix and replica name.
const MAX_URL: usize = 512;
const MAX_PREFIX: usize = 128;
pub const MAX_NAME: usize = 63;

fn default_key_prefix() -> String {
    "/prefix-warden/".into()
}
fn default_lease_ttl() -> u64 {
    10
}
fn default_request_timeout_ms() -> u64 {
    2_000
}

/// A replica name: what etcd keys, metrics and `/status` carry.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// An etcd endpoint as `[cluster] endpoints` and the endpoints file may give it.
pub fn check_endpoint(url: &str) -> Result<(), String> {
    if url.len() > MAX_URL {
        return Err(format!("an endpoint is longer than {MAX_URL} bytes"));
    }
    // Not echoed: an endpoint may carry credentials.
    if !(url.starts_with("http://") || url.starts_with("https://"))
        || url.contains(char::is_whitespace)
    {
        return Err("an endpoint is not an http:// or https:// URL".into());
    }
    Ok(())
}

impl RawCluster {
    /// Checks ranges and forms; `Err((field, message))`.
    pub fn resolve(&self, base: &std::path::Path) -> Result<ClusterConfig, (&'static str, String)> {
        if self.endpoints.is_empty() == self.endpoints_file.is_none() {
            return Err((
                "endpoints",
                "name the etcd endpoints: either `endpoints` or `endpoints_file`".into(),
            ));
        }
        if self.endpoints.len() > MAX_ENDPOINTS {
            return Err(("endpoints", format!("more than {MAX_ENDPOINTS} endpoints")));
        }
        for e in &self.endpoints {
            check_endpoint(e).map_err(|m| ("endpoints", m))?;
        }
        let p = &self.key_prefix;
        if p.is_empty() || p.len() > MAX_PREFIX || p.contains(char::is_control) {
            return Err((
                "key_prefix",
                format!("must be 1..={MAX_PREFIX} bytes without control characters"),
            ));
        }
        if !(2..=300).contains(&self.lease_ttl_secs) {
            return Err((
                "lease_ttl_secs",
                format!("{} is out of range 2..=300", self.lease_ttl_secs),
            ));
        }
        if !(100..=60_000).contains(&self.request_timeout_ms) {
            return Err((
                "request_timeout_ms",
                format!("{} is out of range 100..=60000", self.request_timeout_ms),
            ));
        }
        // A renewal may try two endpoints before the lease's deadline (TTL − TTL/10).
        if self.request_timeout_ms * 2 > self.lease_ttl_secs * 900 {
            return Err((
                "request_timeout_ms",
                format!(
                    "{} ms is too long for lease_ttl_secs = {}: at most {} ms, so that a renewal can try two endpoints before the lease runs out",
                    self.request_timeout_ms,
                    self.lease_ttl_secs,
                    self.lease_ttl_secs * 450
                ),
            ));
        }
        if let Some(n) = &self.name {
            if !valid_name(n) {
                return Err((
                    "name",
                    format!("must be 1..={MAX_NAME} characters of A-Z a-z 0-9 - _ ."),
                ));
            }
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err((
                "cert_file",
                "a client certificate needs both cert_file and key_file".into(),
            ));
        }
        if self.password_file.is_some() && self.username.is_none() {
            return Err(("password_file", "set `username` too".into()));
        }
        let path = |p: &Option<String>| p.as_ref().map(|p| base.join(p));
        Ok(ClusterConfig {
            endpoints: self.endpoints.clone(),
            endpoints_file: path(&self.endpoints_file),
            key_prefix: if p.ends_with('/') {
                p.clone()
            } else {
                format!("{p}/")
            },
            lease_ttl_secs: self.lease_ttl_secs,
            name: self.name.clone(),
            request_timeout_ms: self.request_timeout_ms,
            ca_file: path(&self.ca_file),
            cert_file: path(&self.cert_file),
            key_file: path(&self.key_file),
            username: self.username.clone(),
            password_file: path(&self.password_file),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(toml_text: &str) -> RawCluster {
        toml::from_str(toml_text).expect("parses")
    }

    #[test]
    fn a_section_needs_endpoints_in_range_values_and_a_valid_name() {
        let base = std::path::Path::new("/etc/prefix-warden");
        let ok = raw("endpoints = [\"http://10.0.0.1:2379\"]\nname = \"replica-a\"")
            .resolve(base)
            .expect("valid");
        assert_eq!(ok.key_prefix, "/prefix-warden/");
        assert_eq!(ok.lease_ttl_secs, 10);
        for (text, field) in [
            ("", "endpoints"),
            ("endpoints = [\"10.0.0.1:2379\"]", "endpoints"),
            (
                "endpoints = [\"http://a\"]\nlease_ttl_secs = 1",
                "lease_ttl_secs",
            ),
            ("endpoints = [\"http://a\"]\nname = \"a b\"", "name"),
            (
                "endpoints = [\"http://a\"]\ncert_file = \"c.pem\"",
                "cert_file",
            ),
            (
                "endpoints = [\"http://a\"]\npassword_file = \"p\"",
                "password_file",
            ),
            (
                "endpoints = [\"http://a\"]\nendpoints_file = \"e\"",
                "endpoints",
            ),
            (
                "endpoints = [\"http://a\"]\nlease_ttl_secs = 2\nrequest_timeout_ms = 1000",
                "request_timeout_ms",
            ),
        ] {
            assert_eq!(raw(text).resolve(base).unwrap_err().0, field, "{text}");
        }
        let f = raw("endpoints_file = \"secret/endpoints\"\nkey_prefix = \"/pw\"")
            .resolve(base)
            .unwrap();
        assert_eq!(f.endpoints_file.unwrap(), base.join("secret/endpoints"));
        assert_eq!(f.key_prefix, "/pw/");
    }
}
