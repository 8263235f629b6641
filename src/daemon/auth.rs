//! The daemon's one bearer-token rule, for `/v1/usage` and `/status`: when a token is
//! configured (`daemon.ingest_token_file`), a request must carry `Authorization: Bearer
//! <token>`. The scheme is matched case-insensitively (RFC 9110 §11.1); the token is compared
//! in constant time.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Whether `headers` satisfy `token` (`None`: no token configured, every request passes).
pub fn authorized(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let value = value.trim();
    let Some((scheme, given)) = value.split_once([' ', '\t']) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq(given.trim().as_bytes(), token.as_bytes())
}

/// The answer to a request that fails [`authorized`]: 401 with a `WWW-Authenticate` challenge.
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"prefix-warden\""),
        )],
        "missing or wrong bearer token\n",
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_exact() {
        for ok in [
            "Bearer s3cret",
            "bearer s3cret",
            "BEARER  s3cret ",
            "BeArEr\ts3cret",
        ] {
            assert!(authorized(&with(ok), Some("s3cret")), "{ok:?}");
        }
        for bad in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Basic s3cret",
            "s3cret",
            "Bearer",
            "",
        ] {
            assert!(!authorized(&with(bad), Some("s3cret")), "{bad:?}");
        }
        assert!(!authorized(&HeaderMap::new(), Some("s3cret")));
        assert!(authorized(&HeaderMap::new(), None));
    }
}
