//! OpenAI's `POST /v1/chat/completions` and `POST /v1/responses`, as far as cache warm-ups use
//! them.
//!
//! The request is cut into content blocks in cache order: each tool (its JSON), the Responses
//! `instructions`, then each message's content parts. A text part (`text`, `input_text`,
//! `output_text`) is its text; any other part, and a message without content, is its JSON with
//! keys sorted. Blocks are tokenized apart and no framing tokens are added, so `prompt_tokens`
//! equals what `prefix fingerprint` counts for the same segments.
//!
//! The model's rule in `data/cache-rules.toml` picks the regime:
//! - before GPT-5.6 (`prefix` kind): the longest common prefix with a request seen earlier
//!   under the same model and `prompt_cache_key` (absent is a key of its own), from 1024 tokens
//!   in 128-token steps; writes are free and not reported; TTL from the rule, 24 h with
//!   `prompt_cache_retention: "24h"`, refreshed on a hit. `prompt_cache_options` and
//!   `prompt_cache_breakpoint` are rejected with 400, as the docs say older models do, and the
//!   Responses API's `max_output_tokens` has its floor of 16.
//! - from GPT-5.6 (`breakpoints` kind): hits only at breakpoints written earlier: explicit
//!   `prompt_cache_breakpoint` parts plus, unless `prompt_cache_options.mode` is `explicit`, the
//!   latest message; no block lookback limit; writes at the last 4 breakpoints, reported as
//!   `cache_write_tokens` next to `cached_tokens`; `prompt_cache_options.prewarm` (Responses
//!   only) fills the cache with no output.
//!
//! Every prompt token, cached or not, counts toward the tokens-per-minute budget.

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
use crate::cache_rules::{Layout, RuleKind};

const FLAVOR: Flavor = Flavor::OpenAi;
/// What the emulated model answers when it answers at all.
pub const REPLY: &str = "ok";
/// The Responses API's `max_output_tokens` floor on models before GPT-5.6.
const MIN_OUTPUT_TOKENS: u32 = 16;
const RETENTION_24H: Duration = Duration::from_secs(24 * 3600);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CacheOptions {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    ttl: Option<String>,
    #[serde(default)]
    prewarm: bool,
    /// Responses only: the response to compare with, for `prompt_cache_diagnostics`.
    #[serde(default)]
    comparison_response_id: Option<String>,
}

#[derive(Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<Value>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(flatten)]
    cache: CacheFields,
}

#[derive(Deserialize)]
struct ResponsesRequest {
    model: String,
    input: Value,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    max_output_tokens: Option<u32>,
    #[serde(flatten)]
    cache: CacheFields,
}

/// Fields both APIs share.
#[derive(Deserialize)]
struct CacheFields {
    #[serde(default)]
    prompt_cache_key: Option<String>,
    #[serde(default)]
    prompt_cache_retention: Option<String>,
    #[serde(default)]
    prompt_cache_options: Option<CacheOptions>,
    #[serde(default)]
    tools: Vec<Value>,
    /// Responses options that key the cache (diagnostics: `*_changed` reasons).
    #[serde(default)]
    text: Option<Value>,
    #[serde(default)]
    reasoning: Option<Value>,
    #[serde(default)]
    service_tier: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    Chat,
    Responses,
}

/// A content block before tokenization.
struct TextBlock {
    tag: String,
    text: String,
    /// Carries `prompt_cache_breakpoint`.
    marked: bool,
}

/// A request, reduced to what caching needs.
struct Prompt {
    model: String,
    cache: CacheFields,
    blocks: Vec<TextBlock>,
    /// Index of the latest message's last block: the implicit breakpoint.
    latest: Option<usize>,
    /// No output wanted (`max_tokens: 0`, `prewarm`).
    silent: bool,
    /// Responses `max_output_tokens`, checked against the floor of older models.
    max_output_tokens: Option<u32>,
    api: Api,
}

/// The text a content part contributes: its text, or its JSON (keys sorted) without the
/// breakpoint marker.
pub fn part_text(v: &Value) -> String {
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    match (kind, v.get("text")) {
        ("text" | "input_text" | "output_text", Some(Value::String(t))) => t.clone(),
        _ => match v {
            Value::String(s) => s.clone(),
            Value::Object(o) => {
                let mut o = o.clone();
                o.remove("prompt_cache_breakpoint");
                Value::Object(o).to_string()
            }
            other => other.to_string(),
        },
    }
}

fn marked(v: &Value) -> bool {
    v.get("prompt_cache_breakpoint")
        .is_some_and(|b| !b.is_null())
}

/// One message (chat message or Responses message item) into blocks; returns false when the
/// value is not a message.
fn message(m: &Value, out: &mut Vec<TextBlock>) -> bool {
    let Some(role) = m.get("role").and_then(Value::as_str) else {
        return false;
    };
    match m.get("content") {
        Some(Value::String(s)) => out.push(TextBlock {
            tag: role.to_string(),
            text: s.clone(),
            marked: false,
        }),
        Some(Value::Array(parts)) => out.extend(parts.iter().map(|p| TextBlock {
            tag: role.to_string(),
            text: part_text(p),
            marked: marked(p),
        })),
        _ => {
            let mut o = m.as_object().cloned().unwrap_or_default();
            o.remove("role");
            out.push(TextBlock {
                tag: role.to_string(),
                text: Value::Object(o).to_string(),
                marked: false,
            });
        }
    }
    true
}

fn tools(cache: &CacheFields, out: &mut Vec<TextBlock>) {
    out.extend(cache.tools.iter().map(|t| TextBlock {
        tag: "tools".into(),
        text: t.to_string(),
        marked: false,
    }));
}

fn chat_prompt(req: ChatRequest) -> Result<Prompt, ApiError> {
    if req.messages.is_empty() {
        return Err(ApiError::invalid(
            FLAVOR,
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
        ));
    }
    let mut blocks = Vec::new();
    tools(&req.cache, &mut blocks);
    let mut latest = None;
    for m in &req.messages {
        let before = blocks.len();
        if !message(m, &mut blocks) {
            return Err(ApiError::invalid(
                FLAVOR,
                "Missing required parameter: 'messages[].role'.",
            ));
        }
        if blocks.len() > before {
            latest = Some(blocks.len() - 1);
        }
    }
    let opts = req.cache.prompt_cache_options.as_ref();
    for (set, name) in [
        (opts.is_some_and(|o| o.prewarm), "prewarm"),
        (
            opts.is_some_and(|o| o.comparison_response_id.is_some()),
            "comparison_response_id",
        ),
    ] {
        if set {
            return Err(ApiError::invalid(
                FLAVOR,
                format!("Unsupported parameter: 'prompt_cache_options.{name}' is only supported by the Responses API."),
            ));
        }
    }
    Ok(Prompt {
        model: req.model,
        cache: req.cache,
        blocks,
        latest,
        silent: req.max_completion_tokens.or(req.max_tokens) == Some(0),
        max_output_tokens: None,
        api: Api::Chat,
    })
}

fn responses_prompt(req: ResponsesRequest) -> Result<Prompt, ApiError> {
    let mut blocks = Vec::new();
    tools(&req.cache, &mut blocks);
    if let Some(i) = &req.instructions {
        blocks.push(TextBlock {
            tag: "instructions".into(),
            text: i.clone(),
            marked: false,
        });
    }
    let mut latest = None;
    match &req.input {
        Value::String(s) => {
            blocks.push(TextBlock {
                tag: "user".into(),
                text: s.clone(),
                marked: false,
            });
            latest = Some(blocks.len() - 1);
        }
        Value::Array(items) => {
            for item in items {
                let before = blocks.len();
                if message(item, &mut blocks) {
                    if blocks.len() > before {
                        latest = Some(blocks.len() - 1);
                    }
                } else {
                    let tag = item.get("type").and_then(Value::as_str).unwrap_or("item");
                    blocks.push(TextBlock {
                        tag: tag.to_string(),
                        text: part_text(item),
                        marked: marked(item),
                    });
                }
            }
        }
        _ => {
            return Err(ApiError::invalid(
                FLAVOR,
                "Invalid type for 'input': expected a string or an array of input items.",
            ))
        }
    }
    let prewarm = req
        .cache
        .prompt_cache_options
        .as_ref()
        .is_some_and(|o| o.prewarm);
    Ok(Prompt {
        model: req.model,
        cache: req.cache,
        blocks,
        latest,
        silent: prewarm || req.max_output_tokens == Some(0),
        max_output_tokens: req.max_output_tokens,
        api: Api::Responses,
    })
}

pub(super) fn check_auth(h: &HeaderMap) -> Result<(), ApiError> {
    let key = h
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if key.is_some_and(|k| !k.trim().is_empty()) {
        return Ok(());
    }
    Err(ApiError::new(
        FLAVOR,
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).".into(),
    ))
}

pub async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&shared, &headers, &body, Api::Chat)
}

pub async fn responses(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&shared, &headers, &body, Api::Responses)
}

fn respond(shared: &Shared, headers: &HeaderMap, body: &[u8], api: Api) -> Response {
    let result = check_auth(headers).and_then(|()| {
        let bad = |e: serde_json::Error| ApiError::bad_json(FLAVOR, &e);
        let prompt = match api {
            Api::Chat => chat_prompt(serde_json::from_slice(body).map_err(bad)?)?,
            Api::Responses => responses_prompt(serde_json::from_slice(body).map_err(bad)?)?,
        };
        let o = complete(shared, &prompt)?;
        let body = match api {
            Api::Chat => chat_body(&prompt, &o),
            Api::Responses => responses_body(&prompt, &o),
        };
        let mut r = (StatusCode::OK, axum::Json(body)).into_response();
        let h = r.headers_mut();
        h.extend(limits::openai_headers(&o.snapshot));
        if let Ok(v) = HeaderValue::from_str(&format!("req_{:032x}", o.id)) {
            h.insert(HeaderName::from_static("x-request-id"), v);
        }
        Ok(r)
    });
    result.unwrap_or_else(IntoResponse::into_response)
}

/// What a request did, for the answer.
struct Outcome {
    id: u64,
    prompt_tokens: usize,
    cached: usize,
    /// `cache_write_tokens` (GPT-5.6 and later only).
    written: Option<usize>,
    output_tokens: usize,
    reply: Option<&'static str>,
    snapshot: limits::Snapshot,
    /// `prompt_cache_diagnostics` (Responses with `comparison_response_id`).
    diagnostics: Option<Value>,
}

fn unsupported(param: &str) -> ApiError {
    ApiError::invalid(
        FLAVOR,
        format!("Unsupported parameter: '{param}' is not supported with this model."),
    )
    .code("unsupported_parameter")
}

/// A TTL of 0 in the rules means "evicted by LRU only": a year is as good as forever here.
fn rule_ttl(secs: u64) -> Duration {
    if secs == 0 {
        Duration::from_secs(365 * 24 * 3600)
    } else {
        Duration::from_secs(secs)
    }
}

fn complete(shared: &Shared, p: &Prompt) -> Result<Outcome, ApiError> {
    let applied = shared
        .rules
        .for_model(&format!(
            "{}/{}",
            crate::provider::Api::OpenaiChat.provider().label(),
            p.model
        ))
        .ok_or_else(|| ApiError::unknown_model(FLAVOR, &p.model))?;
    let rule = applied.rule;
    let at_breakpoints = rule.kind == RuleKind::Breakpoints;
    let opts = p.cache.prompt_cache_options.as_ref();
    let mut explicit_only = false;
    if !at_breakpoints {
        if opts.is_some() {
            return Err(unsupported("prompt_cache_options"));
        }
        if p.blocks.iter().any(|b| b.marked) {
            return Err(unsupported("prompt_cache_breakpoint"));
        }
        if let Some(n) = p.max_output_tokens.filter(|&n| n < MIN_OUTPUT_TOKENS) {
            return Err(ApiError::invalid(
                FLAVOR,
                format!("Invalid 'max_output_tokens': integer below minimum value. Expected a value >= {MIN_OUTPUT_TOKENS}, but got {n} instead."),
            )
            .code("integer_below_min_value"));
        }
    } else if let Some(o) = opts {
        if o.ttl.as_deref().is_some_and(|t| t != "30m") {
            return Err(ApiError::invalid(
                FLAVOR,
                "Invalid value for 'prompt_cache_options.ttl': the only supported value is '30m'.",
            ));
        }
        explicit_only = match o.mode.as_deref() {
            None | Some("implicit") => false,
            Some("explicit") => true,
            Some(_) => return Err(ApiError::invalid(
                FLAVOR,
                "Invalid value for 'prompt_cache_options.mode': expected 'implicit' or 'explicit'.",
            )),
        };
    }
    let retention = match p.cache.prompt_cache_retention.as_deref() {
        None | Some("in_memory") => rule_ttl(rule.ttl_seconds),
        Some("24h") => RETENTION_24H,
        Some(_) => {
            return Err(ApiError::invalid(
                FLAVOR,
                "Invalid value for 'prompt_cache_retention': expected 'in_memory' or '24h'.",
            ))
        }
    };

    let tokenizer = shared.tokenizer();
    let encode = |t: &str| {
        tokenizer
            .encode(t)
            .map_err(|_| ApiError::internal(FLAVOR, format!("tokenizer `{}` failed", tokenizer.id)))
    };
    let ids = p
        .blocks
        .iter()
        .map(|b| encode(&b.text))
        .collect::<Result<Vec<_>, _>>()?;
    let (reply, output_tokens) = if p.silent {
        (None, 0)
    } else {
        (Some(REPLY), encode(REPLY)?.len())
    };
    let partition = format!(
        "openai\0{}\0{}",
        p.model,
        p.cache.prompt_cache_key.as_deref().unwrap_or("")
    );
    let blocks = Blocks::new(
        &partition,
        p.blocks
            .iter()
            .zip(&ids)
            .map(|(b, ids)| (b.tag.as_str(), ids.as_slice())),
    );
    let n = blocks.len();
    let min = applied.model.min_tokens;

    let mut st = shared.lock();
    let now = st.now();
    let id = st.next_id();
    enum Effect {
        Breakpoints(super::cache::Plan),
        Prefix(super::cache::Match, Vec<u32>),
    }
    let (cached, written, effect) = if at_breakpoints {
        let ttl = rule_ttl(rule.ttl_seconds);
        let mut marks: Vec<usize> = (0..p.blocks.len())
            .filter(|&i| p.blocks[i].marked)
            .collect();
        if !explicit_only {
            marks.extend(p.latest);
        }
        marks.sort_unstable();
        marks.dedup();
        let bps: Vec<Breakpoint> = marks
            .into_iter()
            .map(|block| Breakpoint { block, ttl })
            .collect();
        let plan = st.breakpoints.plan(
            &blocks,
            &bps,
            min,
            rule.lookback_blocks,
            rule.max_breakpoints,
            now,
        );
        (plan.read, plan.written(), Effect::Breakpoints(plan))
    } else {
        let all = ids.concat();
        let m = st.sequences.longest(&partition, &all, now);
        let layout = |len| Layout {
            len,
            block_ends: &[],
            breakpoints: &[],
        };
        let cached = applied.surviving(&layout(m.stored_len), &layout(n), m.lcp);
        let cacheable = applied.cacheable(&layout(n));
        (
            cached,
            cacheable.saturating_sub(cached),
            Effect::Prefix(m, all),
        )
    };
    // Cached tokens count toward TPM too: "caching does not affect rate limits".
    let snapshot = match st.limits.admit(n as u64, now) {
        Ok(s) => s,
        Err(r) => {
            drop(st);
            tracing::debug!(model = %p.model, "emulator: openai rate limit");
            let (kind, what, requested) = match r.which {
                "requests" => ("requests", "requests per min (RPM)", 1),
                _ => ("tokens", "tokens per min (TPM)", n as u64),
            };
            let budget = match r.which {
                "requests" => r.snapshot.requests,
                _ => r.snapshot.tokens,
            };
            let (limit, used) = budget.map_or((0, 0), |b| (b.limit, b.limit - b.remaining));
            return Err(ApiError::new(
                FLAVOR,
                StatusCode::TOO_MANY_REQUESTS,
                kind,
                format!(
                    "Rate limit reached for {} in organization org-emulator on {what}: Limit {limit}, Used {used}, Requested {requested}. Please try again in {}s.",
                    p.model, r.retry_after_secs
                ),
            )
            .code("rate_limit_exceeded")
            .with_headers(limits::openai_headers(&r.snapshot))
            .header("retry-after", r.retry_after_secs.to_string())
            .header("x-request-id", format!("req_{id:032x}")));
        }
    };
    match &effect {
        Effect::Breakpoints(plan) => st.breakpoints.commit(&blocks, plan, now),
        Effect::Prefix(m, all) => {
            if cached > 0 {
                st.sequences.refresh(m, now);
            }
            if n >= min {
                st.sequences.insert(&partition, all, Some(retention), now);
            }
        }
    }
    st.counters
        .tokens(cached, written, n - cached - written, output_tokens);
    let mut diagnostics = None;
    if p.api == Api::Responses {
        let hash = |v: Option<&Value>| {
            use std::hash::{Hash, Hasher};
            let mut h = std::hash::DefaultHasher::new();
            v.map(Value::to_string).hash(&mut h);
            h.finish()
        };
        let text = p.cache.text.as_ref();
        let tier = p.cache.service_tier.clone().map(Value::String);
        let shape = super::diagnose::Shape::new(
            &p.model,
            p.cache.prompt_cache_key.as_deref(),
            p.blocks
                .iter()
                .zip(&ids)
                .map(|(b, ids)| (b.tag.as_str(), ids.as_slice())),
        )
        .with_options(vec![
            (
                "text_format_changed",
                hash(text.and_then(|t| t.get("format"))),
            ),
            (
                "reasoning_effort_changed",
                hash(p.cache.reasoning.as_ref().and_then(|r| r.get("effort"))),
            ),
            (
                "verbosity_changed",
                hash(text.and_then(|t| t.get("verbosity"))),
            ),
            ("service_tier_changed", hash(tier.as_ref())),
        ]);
        if let Some(prev) = opts.and_then(|o| o.comparison_response_id.as_deref()) {
            diagnostics = Some(st.diagnostics.openai(prev, &shape));
        }
        st.diagnostics.insert(format!("resp_{id:024x}"), shape);
    }
    drop(st);
    tracing::debug!(
        model = %p.model,
        blocks = ids.len(),
        total = n,
        cached,
        written,
        "emulator: openai request"
    );
    Ok(Outcome {
        diagnostics,
        id,
        prompt_tokens: n,
        cached,
        written: at_breakpoints.then_some(written),
        output_tokens,
        reply,
        snapshot,
    })
}

fn details(o: &Outcome) -> Value {
    let mut d = json!({"cached_tokens": o.cached});
    if let Some(w) = o.written {
        d["cache_write_tokens"] = json!(w);
    }
    d
}

fn chat_body(p: &Prompt, o: &Outcome) -> Value {
    json!({
        "id": format!("chatcmpl-{:024x}", o.id),
        "object": "chat.completion",
        "created": chrono::Utc::now().timestamp(),
        "model": p.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": o.reply.unwrap_or(""), "refusal": null},
            "logprobs": null,
            "finish_reason": if o.reply.is_some() { "stop" } else { "length" },
        }],
        "usage": {
            "prompt_tokens": o.prompt_tokens,
            "completion_tokens": o.output_tokens,
            "total_tokens": o.prompt_tokens + o.output_tokens,
            "prompt_tokens_details": details(o),
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    })
}

fn responses_body(p: &Prompt, o: &Outcome) -> Value {
    let output = match o.reply {
        Some(text) => json!([{
            "type": "message",
            "id": format!("msg_{:024x}", o.id),
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
        }]),
        None => json!([]),
    };
    let mut body = json!({
        "id": format!("resp_{:024x}", o.id),
        "object": "response",
        "created_at": chrono::Utc::now().timestamp(),
        "status": "completed",
        "model": p.model,
        "output": output,
        "usage": {
            "input_tokens": o.prompt_tokens,
            "input_tokens_details": details(o),
            "output_tokens": o.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": o.prompt_tokens + o.output_tokens,
        },
    });
    if let Some(d) = &o.diagnostics {
        body["prompt_cache_diagnostics"] = d.clone();
    }
    body
}
