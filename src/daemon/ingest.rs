//! `POST /v1/usage`: usage objects from live traffic, counted under `source="traffic"` in the
//! same token counters warm-ups use, so the hit ratio of real requests is a PromQL expression.
//!
//! Body: a JSON array of records, or `{"records": [...]}`; a record is
//! `{"prompt": "<registered id>", "provider": "anthropic" | "openai-chat" | "openai-responses" |
//! "bedrock" | "gemini" | "vllm" | "sglang", "usage": {...}}` where `usage` is the provider's
//! own object (Gemini: `usage_metadata`). A batch is validated whole before anything is counted;
//! a bad one gets a 400 naming the record and the problem. Unregistered prompt ids are counted
//! together under `prompt="unregistered"`, never one label each. A bearer token, when
//! configured, is required; it must be configured when the daemon listens beyond loopback.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::Value;

use super::Shared;
use crate::metrics::{CACHE_READ_TOKENS, CACHE_WRITE_TOKENS, UNCACHED_INPUT_TOKENS, USAGE_RECORDS};
use crate::provider::Api;
use crate::usage::normalize;

/// Largest accepted body.
pub const BODY_LIMIT: usize = 1 << 20;

pub async fn post_usage(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    // One generation for the whole request: its token and its prompt ids.
    let gen = s.generation.borrow().clone();
    if !super::auth::authorized(&headers, gen.ingest.token.as_deref()) {
        return super::auth::unauthorized();
    }
    let parsed = match parse_batch(&body, &gen.ingest.prompt_ids) {
        Ok(p) => p,
        Err(why) => return reply(StatusCode::BAD_REQUEST, why),
    };
    for Counted {
        prompt,
        provider,
        usage: u,
    } in &parsed
    {
        let labels = [
            ("prompt", prompt.clone()),
            ("provider", provider.to_string()),
            ("source", "traffic".to_string()),
        ];
        metrics::counter!(CACHE_READ_TOKENS, &labels).increment(u.cache_read);
        metrics::counter!(CACHE_WRITE_TOKENS, &labels).increment(u.cache_write);
        metrics::counter!(UNCACHED_INPUT_TOKENS, &labels).increment(u.uncached);
    }
    metrics::counter!(USAGE_RECORDS).increment(parsed.len() as u64);
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"accepted": parsed.len()})),
    )
        .into_response()
}

/// One record of a batch, ready to count.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    /// A registered prompt id, or `unregistered`.
    pub prompt: String,
    pub provider: &'static str,
    pub usage: crate::usage::Usage,
}

/// Parses and validates a whole batch; the first bad record rejects it, named in the error.
/// No IO and no counting: the handler counts only a batch that parsed whole.
pub fn parse_batch(body: &[u8], known: &HashSet<String>) -> Result<Vec<Counted>, String> {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err(format!("body is not JSON: {e}")),
    };
    let records = match &v {
        Value::Array(a) => a,
        Value::Object(o) => match o.get("records").and_then(Value::as_array) {
            Some(a) => a,
            None => return Err("expected an array of records or {\"records\": [...]}".into()),
        },
        _ => return Err("expected an array of records or {\"records\": [...]}".into()),
    };
    let mut parsed = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let Some(prompt) = r.get("prompt").and_then(Value::as_str) else {
            return Err(format!(
                "records[{i}]: missing `prompt` (a registered prompt id)"
            ));
        };
        let provider = r.get("provider").and_then(Value::as_str).unwrap_or("");
        let Some(api) = Api::from_name(provider) else {
            return Err(format!(
                "records[{i}]: unknown provider `{provider}` (expected {})",
                Api::names(false).join(", ")
            ));
        };
        let Some(u) = r.get("usage").or_else(|| r.get("usage_metadata")) else {
            return Err(format!("records[{i}]: missing `usage`"));
        };
        let usage = match normalize(api.usage_format(), u) {
            Ok(u) => u,
            Err(e) => return Err(format!("records[{i}].usage: {e}")),
        };
        let prompt = if known.contains(prompt) {
            prompt.to_string()
        } else {
            "unregistered".to_string()
        };
        parsed.push(Counted {
            prompt,
            provider: api.provider().label(),
            usage,
        });
    }
    Ok(parsed)
}

fn reply(status: StatusCode, message: String) -> axum::response::Response {
    (status, axum::Json(serde_json::json!({"error": message}))).into_response()
}
