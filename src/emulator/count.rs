//! The providers' token-count endpoints, counted with the emulator's tokenizer:
//! - Anthropic `POST /v1/messages/count_tokens` → `{"input_tokens": N}` (headers as for
//!   `/v1/messages`; no `max_tokens`);
//! - OpenAI `POST /v1/responses/input_tokens` → `{"object": "response.input_tokens",
//!   "input_tokens": N}` (Bearer auth);
//! - Gemini `POST /v1beta/models/{model}:countTokens` → `{"totalTokens": N, ...}` (key in
//!   `x-goog-api-key` or `?key=`; body `contents` or `generateContentRequest`).
//!
//! N is the sum of the ids of every text (system, instructions, messages, tools as JSON)
//! plus the offset `POST /admin/count` sets: the switch tests use to play a provider that
//! changed its tokenizer or framing. Counting is free: no cache, no rate limit.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::anthropic;
use super::api_error::{ApiError, Flavor};
use super::Shared;

/// Ids of `texts` under the emulator's tokenizer, plus the admin offset.
fn count(shared: &Shared, texts: &[String]) -> Result<u64, String> {
    let (tok, offset) = {
        let st = shared.lock();
        (st.tokenizer.clone(), st.count_offset)
    };
    let mut n: i64 = 0;
    for t in texts {
        n += tok
            .encode(t)
            .map_err(|_| format!("tokenizer `{}` failed", tok.id))?
            .len() as i64;
    }
    Ok((n + offset).max(0) as u64)
}

#[derive(Deserialize)]
struct AnthropicCount {
    model: String,
    #[serde(default)]
    system: Option<Value>,
    messages: Vec<anthropic::Message>,
    #[serde(default)]
    tools: Vec<Value>,
}

pub async fn anthropic(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const F: Flavor = Flavor::Anthropic;
    let run = || -> Result<Response, ApiError> {
        anthropic::check_headers(&headers)?;
        let req: AnthropicCount =
            serde_json::from_slice(&body).map_err(|e| ApiError::bad_json(F, &e))?;
        if shared
            .rules
            .for_model(&format!("anthropic/{}", req.model))
            .is_none()
        {
            return Err(ApiError::unknown_model(F, &req.model));
        }
        if req.messages.is_empty() {
            return Err(ApiError::invalid(
                F,
                "messages: at least one message is required",
            ));
        }
        let mut blocks = Vec::new();
        for t in &req.tools {
            blocks.push(anthropic::block("tools", t)?);
        }
        if let Some(s) = &req.system {
            anthropic::content("system", s, &mut blocks)?;
        }
        for m in &req.messages {
            anthropic::content(&m.role, &m.content, &mut blocks)?;
        }
        let texts: Vec<String> = blocks.into_iter().map(|b| b.text).collect();
        let n = count(&shared, &texts).map_err(|m| ApiError::internal(F, m))?;
        Ok(axum::Json(json!({"input_tokens": n})).into_response())
    };
    run().unwrap_or_else(|e| e.into_response())
}

#[derive(Deserialize)]
struct OpenAiCount {
    model: String,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    input: Option<Value>,
    #[serde(default)]
    tools: Vec<Value>,
}

pub async fn openai(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const F: Flavor = Flavor::OpenAi;
    let run = || -> Result<Response, ApiError> {
        super::openai::check_auth(&headers)?;
        let req: OpenAiCount =
            serde_json::from_slice(&body).map_err(|e| ApiError::bad_json(F, &e))?;
        if shared
            .rules
            .for_model(&format!("openai/{}", req.model))
            .is_none()
        {
            return Err(ApiError::unknown_model(F, &req.model));
        }
        let mut texts: Vec<String> = req.instructions.into_iter().collect();
        match req.input {
            Some(Value::String(s)) => texts.push(s),
            Some(Value::Array(items)) => {
                for item in items {
                    match item.get("content") {
                        Some(Value::String(s)) => texts.push(s.clone()),
                        _ => texts.push(item.to_string()),
                    }
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(ApiError::invalid(F, "input: a string or an array of items")),
        }
        texts.extend(req.tools.iter().map(Value::to_string));
        let n = count(&shared, &texts).map_err(|m| ApiError::internal(F, m))?;
        Ok(
            axum::Json(json!({"object": "response.input_tokens", "input_tokens": n}))
                .into_response(),
        )
    };
    run().unwrap_or_else(|e| e.into_response())
}

/// Gemini's error body: `{"error": {"code", "message", "status"}}`.
fn gemini_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": status.as_u16(), "message": message, "status": kind}})),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct KeyQuery {
    key: Option<String>,
}

pub async fn gemini(
    State(shared): State<Arc<Shared>>,
    Path(model): Path<String>,
    Query(q): Query<KeyQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(model) = model.strip_suffix(":countTokens") else {
        return gemini_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "only :countTokens is emulated",
        );
    };
    let header_key = headers.get("x-goog-api-key").and_then(|v| v.to_str().ok());
    if header_key
        .or(q.key.as_deref())
        .is_none_or(|k| k.trim().is_empty())
    {
        return gemini_error(
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        );
    }
    if shared.rules.for_model(&format!("gemini/{model}")).is_none() {
        return gemini_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!("models/{model} is not found for API version v1beta"),
        );
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return gemini_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "Invalid JSON payload received.",
        );
    };
    let req = v.get("generateContentRequest").unwrap_or(&v);
    let mut texts = Vec::new();
    let mut parts = |c: &Value| {
        for p in c["parts"].as_array().into_iter().flatten() {
            match p.get("text") {
                Some(Value::String(t)) => texts.push(t.clone()),
                _ => texts.push(p.to_string()),
            }
        }
    };
    if let Some(si) = req.get("systemInstruction") {
        parts(si);
    }
    for c in req["contents"].as_array().into_iter().flatten() {
        parts(c);
    }
    for t in req["tools"].as_array().into_iter().flatten() {
        texts.push(t.to_string());
    }
    if texts.is_empty() {
        return gemini_error(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            "contents is not specified",
        );
    }
    match count(&shared, &texts) {
        Ok(n) => axum::Json(json!({
            "totalTokens": n,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": n}],
        }))
        .into_response(),
        Err(m) => gemini_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", &m),
    }
}
