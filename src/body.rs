//! Reading an HTTP response body with its size limit checked while it streams in, never after:
//! a chunked answer without `content-length` cannot make the daemon buffer more than the limit.

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// The body passed `max` bytes (announced or counted).
    TooLarge(usize),
    /// The transfer failed (timeout, reset).
    Transfer(reqwest::Error),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge(max) => write!(f, "larger than {max} bytes"),
            BodyError::Transfer(e) if e.is_timeout() => f.write_str("timed out"),
            // Without the URL: it may carry credentials in its query.
            BodyError::Transfer(e) => write!(f, "{}", e.without_url_ref()),
        }
    }
}

/// `reqwest::Error::without_url` takes the error by value; this borrows.
trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let s = self.to_string();
        match self.url() {
            Some(u) => s
                .replace(&format!(" for url ({u})"), "")
                .replace(u.as_str(), "<url>"),
            None => s,
        }
    }
}

/// The whole body of `resp`, at most `max` bytes.
pub async fn read_limited(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge(max));
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transfer)? {
        if out.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(max));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
