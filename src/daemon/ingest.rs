//! `POST /v1/usage`: usage objects from live traffic, counted under `source="traffic"` in the
//! same token counters warm-ups use, so the hit ratio of real requests is a PromQL expression.
//!
//! Body: a JSON array of records, or `{"records": [...]}`; a record is
//! `{"prompt": "<registered id>", "provider": "anthropic" | "openai-chat" | "openai-responses" |
//! "bedrock" | "gemini" | "vllm" | "sglang", "usage": {...}}` where `usage` is the provider's
//! own object (Gemini: `usage_metadata`). An `anthropic` record may carry the response's
//! `diagnostics` object and an `openai-responses` record its `prompt_cache_diagnostics`,
//! verbatim: they are counted by result and miss reason (crate::diagnostics). A batch is validated whole before anything is counted;
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
use crate::diagnostics::{self, Diagnosis, DiagnosticsFormat};
use crate::metrics::{
    CACHE_DIAGNOSES, CACHE_MISSED_TOKENS, CACHE_MISSES, CACHE_READ_TOKENS, CACHE_WRITE_TOKENS,
    UNCACHED_INPUT_TOKENS, USAGE_RECORDS,
};
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
        diagnosis,
    } in &parsed
    {
        if let Some(d) = diagnosis {
            count_diagnosis(prompt, provider, "traffic", d);
        }
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

/// Counts one diagnosis under `source` ("traffic" or "warmup").
pub fn count_diagnosis(prompt: &str, provider: &str, source: &str, d: &Diagnosis) {
    let labels = [
        ("prompt", prompt.to_string()),
        ("provider", provider.to_string()),
        ("source", source.to_string()),
    ];
    let mut with_result = labels.to_vec();
    with_result.push(("result", d.result().to_string()));
    metrics::counter!(CACHE_DIAGNOSES, &with_result).increment(1);
    if let Diagnosis::Miss {
        reason,
        missed_tokens,
    } = d
    {
        let mut with_reason = labels.to_vec();
        with_reason.push(("reason", reason.label().to_string()));
        metrics::counter!(CACHE_MISSES, &with_reason).increment(1);
        metrics::counter!(CACHE_MISSED_TOKENS, &with_reason).increment(*missed_tokens);
    }
}

/// Counts an answer whose diagnostics object could not be read (only warm-ups: a `/v1/usage`
/// batch with one is refused whole) as `result="malformed"`, so an unreadable provider answer
/// is seen, never mistaken for the provider's own `unavailable`.
pub fn count_malformed_diagnosis(prompt: &str, provider: &str, source: &str) {
    let labels = [
        ("prompt", prompt.to_string()),
        ("provider", provider.to_string()),
        ("source", source.to_string()),
        ("result", "malformed".to_string()),
    ];
    metrics::counter!(CACHE_DIAGNOSES, &labels).increment(1);
}

/// One record of a batch, ready to count.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    /// A registered prompt id, or `unregistered`.
    pub prompt: String,
    pub provider: &'static str,
    pub usage: crate::usage::Usage,
    /// What the provider's diagnostics object in the record says, when it has one.
    pub diagnosis: Option<Diagnosis>,
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
        let diagnosis = record_diagnosis(r, api.diagnostics_format())
            .map_err(|e| format!("records[{i}].{e}"))?;
        let prompt = if known.contains(prompt) {
            prompt.to_string()
        } else {
            "unregistered".to_string()
        };
        parsed.push(Counted {
            prompt,
            provider: api.provider().label(),
            usage,
            diagnosis,
        });
    }
    Ok(parsed)
}

/// The record's diagnostics object, read in the format its provider answers; a diagnostics
/// field that provider does not send is an error naming it (it would otherwise be ignored).
fn record_diagnosis(
    r: &Value,
    format: Option<DiagnosticsFormat>,
) -> Result<Option<Diagnosis>, String> {
    for other in [
        DiagnosticsFormat::Anthropic,
        DiagnosticsFormat::OpenaiResponses,
    ] {
        if Some(other) != format && r.get(other.field()).is_some() {
            return Err(format!(
                "{}: this provider's responses do not carry it (anthropic sends `diagnostics`, openai-responses `prompt_cache_diagnostics`)",
                other.field()
            ));
        }
    }
    let Some(format) = format else {
        return Ok(None);
    };
    match r.get(format.field()) {
        None => Ok(None),
        Some(v) => diagnostics::parse(format, v)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

fn reply(status: StatusCode, message: String) -> axum::response::Response {
    (status, axum::Json(serde_json::json!({"error": message}))).into_response()
}
