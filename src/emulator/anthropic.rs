//! Anthropic's `POST /v1/messages`, as far as cache warm-ups use it.
//!
//! The request is cut into content blocks in cache order: each tool (its JSON without
//! `cache_control`), the system blocks, then each message's blocks. A text block is its text;
//! any other block (image, tool_use, tool_result, ...) is its JSON without `cache_control`, keys
//! sorted. Each block is tokenized on its own, so tokens never merge across blocks, and hashed
//! with its section (`tools`, `system`, or the message role). No framing tokens are added, so
//! the counts equal what `prefix fingerprint` counts for the same segments.
//!
//! Breakpoints are the blocks with `cache_control` (plus the last block when the top-level
//! `cache_control` asks for automatic caching). Reads, writes, TTLs and usage follow
//! [`super::cache::BreakpointCache`] with the model's rule from `data/cache-rules.toml`
//! (minimum, 20-block lookback, at most 4 breakpoints); the usage fields follow the docs:
//! `input_tokens` counts only the tokens after the last cached position, and
//! `cache_creation` splits writes by TTL.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api_error::{ApiError, Flavor};
use super::cache::{Blocks, Breakpoint};
use super::{limits, Shared};

const FLAVOR: Flavor = Flavor::Anthropic;
const TTL_5M: Duration = Duration::from_secs(5 * 60);
const TTL_1H: Duration = Duration::from_secs(60 * 60);
/// What the emulated model answers when it answers at all.
const REPLY: &str = "ok";

#[derive(Deserialize)]
struct MessagesRequest {
    model: String,
    max_tokens: u32,
    #[serde(default)]
    system: Option<Value>,
    messages: Vec<Message>,
    #[serde(default)]
    tools: Vec<Value>,
    /// Automatic caching: a breakpoint on the last block.
    #[serde(default)]
    cache_control: Option<Value>,
    /// Cache diagnostics: `{"previous_message_id": ID | null}` (the object opts in).
    #[serde(default)]
    diagnostics: Option<DiagnosticsParam>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiagnosticsParam {
    previous_message_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Message {
    pub(super) role: String,
    pub(super) content: Value,
}

/// A content block before tokenization.
pub(super) struct TextBlock {
    section: String,
    pub(super) text: String,
    ttl: Option<Duration>,
}

/// `cache_control` → the TTL it asks for.
fn ttl_of(v: Option<&Value>) -> Result<Option<Duration>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    if v.get("type").and_then(Value::as_str) != Some("ephemeral") {
        return Err(ApiError::invalid(
            FLAVOR,
            "cache_control.type: Input should be 'ephemeral'",
        ));
    }
    match v.get("ttl") {
        None | Some(Value::Null) => Ok(Some(TTL_5M)),
        Some(t) if t == "5m" => Ok(Some(TTL_5M)),
        Some(t) if t == "1h" => Ok(Some(TTL_1H)),
        Some(_) => Err(ApiError::invalid(
            FLAVOR,
            "cache_control.ttl: Input should be '5m' or '1h'",
        )),
    }
}

/// A block object: its text, or its JSON (keys sorted) without `cache_control`.
pub(super) fn block(section: &str, v: &Value) -> Result<TextBlock, ApiError> {
    let Some(obj) = v.as_object() else {
        return Err(ApiError::invalid(
            FLAVOR,
            format!("{section}: each content block must be an object"),
        ));
    };
    let ttl = ttl_of(obj.get("cache_control"))?;
    let text = match (obj.get("type").and_then(Value::as_str), obj.get("text")) {
        (Some("text"), Some(Value::String(t))) => t.clone(),
        (Some("text"), _) => {
            return Err(ApiError::invalid(
                FLAVOR,
                format!("{section}: a text block needs a string `text`"),
            ))
        }
        _ => {
            let mut o = obj.clone();
            o.remove("cache_control");
            Value::Object(o).to_string()
        }
    };
    Ok(TextBlock {
        section: section.to_string(),
        text,
        ttl,
    })
}

/// String or array of blocks.
pub(super) fn content(section: &str, v: &Value, out: &mut Vec<TextBlock>) -> Result<(), ApiError> {
    match v {
        Value::String(s) => out.push(TextBlock {
            section: section.to_string(),
            text: s.clone(),
            ttl: None,
        }),
        Value::Array(items) => {
            for item in items {
                out.push(block(section, item)?);
            }
        }
        _ => {
            return Err(ApiError::invalid(
                FLAVOR,
                format!("{section}: content must be a string or an array of blocks"),
            ))
        }
    }
    Ok(())
}

fn blocks_of(req: &MessagesRequest, max_breakpoints: usize) -> Result<Vec<TextBlock>, ApiError> {
    if req.messages.is_empty() {
        return Err(ApiError::invalid(
            FLAVOR,
            "messages: at least one message is required",
        ));
    }
    let mut out = Vec::new();
    for t in &req.tools {
        out.push(block("tools", t)?);
    }
    if let Some(s) = &req.system {
        content("system", s, &mut out)?;
    }
    for m in &req.messages {
        if m.role != "user" && m.role != "assistant" {
            return Err(ApiError::invalid(
                FLAVOR,
                "messages: role must be 'user' or 'assistant'",
            ));
        }
        content(&m.role, &m.content, &mut out)?;
    }
    if let Some(auto) = ttl_of(req.cache_control.as_ref())? {
        let Some(last) = out.last_mut() else {
            return Err(ApiError::invalid(
                FLAVOR,
                "cache_control: there is no block to cache",
            ));
        };
        match last.ttl {
            Some(t) if t != auto => {
                return Err(ApiError::invalid(
                    FLAVOR,
                    "cache_control: the automatic breakpoint and the last block's breakpoint have different TTLs",
                ))
            }
            _ => last.ttl = Some(auto),
        }
    }
    let n = out.iter().filter(|b| b.ttl.is_some()).count();
    if max_breakpoints > 0 && n > max_breakpoints {
        return Err(ApiError::invalid(
            FLAVOR,
            format!("A maximum of {max_breakpoints} blocks with cache_control may be provided. Found {n}."),
        ));
    }
    let mut seen_5m = false;
    for t in out.iter().filter_map(|b| b.ttl) {
        if t == TTL_1H && seen_5m {
            return Err(ApiError::invalid(
                FLAVOR,
                "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block",
            ));
        }
        seen_5m |= t == TTL_5M;
    }
    Ok(out)
}

pub(super) fn check_headers(h: &HeaderMap) -> Result<(), ApiError> {
    let present = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().is_empty())
    };
    // The API takes `x-api-key`; the official SDKs (anthropic-python 2.x) may send the key as
    // `Authorization: Bearer` instead, which the API accepts too.
    let bearer = h
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|v| !v.trim().is_empty());
    if !present("x-api-key") && !bearer {
        return Err(ApiError::new(
            FLAVOR,
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required".into(),
        ));
    }
    if !present("anthropic-version") {
        return Err(ApiError::invalid(
            FLAVOR,
            "anthropic-version: header is required",
        ));
    }
    Ok(())
}

pub async fn messages(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&shared, &headers, &body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn handle(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    check_headers(headers)?;
    let req: MessagesRequest =
        serde_json::from_slice(body).map_err(|e| ApiError::bad_json(FLAVOR, &e))?;
    let applied = shared
        .rules
        .for_model(&format!(
            "{}/{}",
            crate::provider::Api::Anthropic.provider().label(),
            req.model
        ))
        .ok_or_else(|| ApiError::unknown_model(FLAVOR, &req.model))?;
    let text_blocks = blocks_of(&req, applied.rule.max_breakpoints)?;

    let tokenizer = shared.tokenizer();
    let encode = |t: &str| {
        tokenizer
            .encode(t)
            .map_err(|_| ApiError::internal(FLAVOR, format!("tokenizer `{}` failed", tokenizer.id)))
    };
    let ids = text_blocks
        .iter()
        .map(|b| encode(&b.text))
        .collect::<Result<Vec<_>, _>>()?;
    let (reply, output_tokens) = if req.max_tokens == 0 {
        (None, 0)
    } else {
        (Some(REPLY), encode(REPLY)?.len())
    };
    let partition = format!("anthropic\0{}", req.model);
    let blocks = Blocks::new(
        &partition,
        text_blocks
            .iter()
            .zip(&ids)
            .map(|(b, ids)| (b.section.as_str(), ids.as_slice())),
    );
    let bps: Vec<Breakpoint> = text_blocks
        .iter()
        .enumerate()
        .filter_map(|(block, b)| b.ttl.map(|ttl| Breakpoint { block, ttl }))
        .collect();

    let mut st = shared.lock();
    let now = st.now();
    let plan = st.breakpoints.plan(
        &blocks,
        &bps,
        applied.model.min_tokens,
        applied.rule.lookback_blocks,
        applied.rule.max_breakpoints,
        now,
    );
    let total = blocks.len();
    let read = plan.read;
    let written = plan.written();
    let input = total - plan.cached_end(&blocks);
    let id = st.next_id();
    let request_id = format!("req_{id:024x}");
    // Cache reads do not count toward the input-tokens-per-minute budget.
    let snapshot = match st.limits.admit((input + written) as u64, now) {
        Ok(s) => s,
        Err(r) => {
            drop(st);
            tracing::debug!(model = %req.model, "emulator: anthropic rate limit");
            let headers = limits::anthropic_headers(&r.snapshot, chrono::Utc::now());
            let what = match r.which {
                "requests" => "requests per minute",
                _ => "input tokens per minute",
            };
            return Err(ApiError::new(
                FLAVOR,
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("This request would exceed the rate limit for your organization of {what}. Please retry after {} seconds.", r.retry_after_secs),
            )
            .with_headers(headers)
            .header("retry-after", r.retry_after_secs.to_string())
            .header("request-id", request_id));
        }
    };
    st.breakpoints.commit(&blocks, &plan, now);
    st.counters.tokens(read, written, input, output_tokens);
    let message_id = format!("msg_{id:024x}");
    let diagnostics = req.diagnostics.as_ref().map(|d| {
        let shape = super::diagnose::Shape::new(
            &req.model,
            None,
            text_blocks
                .iter()
                .zip(&ids)
                .map(|(b, ids)| (b.section.as_str(), ids.as_slice())),
        );
        let answer = st
            .diagnostics
            .anthropic(d.previous_message_id.as_deref(), &shape);
        st.diagnostics.insert(message_id.clone(), shape);
        answer
    });
    drop(st);
    tracing::debug!(
        model = %req.model,
        blocks = ids.len(),
        breakpoints = bps.len(),
        total,
        read,
        written,
        "emulator: anthropic message"
    );

    let content = match reply {
        Some(t) => json!([{"type": "text", "text": t}]),
        None => json!([]),
    };
    let mut body = json!({
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "content": content,
        "stop_reason": if reply.is_some() { "end_turn" } else { "max_tokens" },
        "stop_sequence": null,
        "usage": {
            "input_tokens": input,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": plan.written_with(TTL_5M),
                "ephemeral_1h_input_tokens": plan.written_with(TTL_1H),
            },
            "output_tokens": output_tokens,
        },
    });
    if let Some(d) = diagnostics {
        body["diagnostics"] = d;
    }
    let mut r = (StatusCode::OK, axum::Json(body)).into_response();
    let h = r.headers_mut();
    h.extend(limits::anthropic_headers(&snapshot, chrono::Utc::now()));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("request-id"), v);
    }
    Ok(r)
}
