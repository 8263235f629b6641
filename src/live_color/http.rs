//! HTTP clients of the `http` and `etcd` backends: timeouts, URL checks, redaction of
//! credentials, bounded bodies.

use super::*;

pub(super) fn http_client(
    backend: &str,
    timeout_ms: Option<u64>,
) -> Result<reqwest::Client, Error> {
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

pub(super) fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(format!("`{}` is not an http(s) url", redact_url(url))),
    }
}

/// `url` without user info, query or fragment, which may carry secrets.
pub(super) fn redact_url(url: &str) -> String {
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
pub(super) async fn http_body(
    src: &str,
    req: reqwest::RequestBuilder,
) -> Result<Vec<u8>, LookupError> {
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
    crate::body::read_limited(resp, MAX_DOC_BYTES)
        .await
        .map_err(|e| match e {
            crate::body::BodyError::TooLarge(_) => LookupError::Malformed(format!("{src}: {e}")),
            crate::body::BodyError::Transfer(t) => unavailable(t),
        })
}

/// An error and its sources on one line, lower case.
pub(super) fn one_line(e: &dyn std::error::Error) -> String {
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
