//! vLLM and SGLang OpenAI-compatible servers: `POST /v1/chat/completions` and
//! `POST /v1/completions`, no auth, no rate limits, `usage.prompt_tokens_details.cached_tokens`
//! always reported (as with vLLM's `--enable-prompt-tokens-details` and SGLang's
//! `--enable-cache-report`).
//!
//! Self-hosted engines tokenize the rendered chat template as one string, so, unlike the hosted
//! APIs, the whole prompt is one token sequence. The emulator's template is deliberately simple
//! and deterministic (no model's real template):
//!
//! ```text
//! <|{role}|>\n{content}\n      for each message, in order
//! <|assistant|>\n              the generation prompt
//! ```
//!
//! where `content` is the message's string, or the text of its parts joined with nothing (a
//! non-text part contributes its JSON). `/v1/completions` takes `prompt` as a string (tokenized
//! as is) or as token ids (used as is), which lets tests pick exact lengths.
//!
//! Caching follows the engine's rule in `data/cache-rules.toml` through
//! [`crate::cache_rules::Applied::surviving`]: vLLM serves full 16-token blocks of the longest
//! common prefix and never the block holding the last token (`min(⌊LCP/16⌋·16,
//! ⌊(n−1)/16⌋·16)`); SGLang serves the common prefix token by token, capped at `n − 1`. There is
//! no TTL; the least recently used sequences are evicted past a fixed count.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api_error::{ApiError, Flavor};
use super::openai::{part_text, REPLY};
use super::Shared;
use crate::cache_rules::Layout;

const FLAVOR: Flavor = Flavor::OpenAi;

#[derive(Deserialize)]
struct ChatRequest {
    model: String,
    messages: Vec<Value>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
}

#[derive(Deserialize)]
struct CompletionRequest {
    model: String,
    prompt: Value,
    #[serde(default)]
    max_tokens: Option<u32>,
}

/// The emulator's chat template (see the module doc).
pub fn render_chat(messages: &[Value]) -> Result<String, ApiError> {
    let mut out = String::new();
    for m in messages {
        let Some(role) = m.get("role").and_then(Value::as_str) else {
            return Err(ApiError::invalid(
                FLAVOR,
                "messages: each message needs a role",
            ));
        };
        let content = match m.get("content") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(parts)) => parts.iter().map(part_text).collect(),
            None | Some(Value::Null) => String::new(),
            Some(other) => other.to_string(),
        };
        out.push_str(&format!("<|{role}|>\n{content}\n"));
    }
    out.push_str("<|assistant|>\n");
    Ok(out)
}

#[derive(Clone, Copy)]
enum Api {
    Chat,
    Completions,
}

enum Prompt {
    Text(String),
    Ids(Vec<u32>),
}

pub async fn chat_completions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let r = serde_json::from_slice::<ChatRequest>(&body)
        .map_err(|e| ApiError::bad_json(FLAVOR, &e))
        .and_then(|req| {
            if req.messages.is_empty() {
                return Err(ApiError::invalid(
                    FLAVOR,
                    "messages: at least one message is required",
                ));
            }
            let text = render_chat(&req.messages)?;
            let silent = req.max_completion_tokens.or(req.max_tokens) == Some(0);
            handle(&shared, &req.model, Prompt::Text(text), silent, Api::Chat)
        });
    r.unwrap_or_else(IntoResponse::into_response)
}

pub async fn completions(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let r = serde_json::from_slice::<CompletionRequest>(&body)
        .map_err(|e| ApiError::bad_json(FLAVOR, &e))
        .and_then(|req| {
            let prompt = match &req.prompt {
                Value::String(s) => Prompt::Text(s.clone()),
                Value::Array(items) if items.len() == 1 && items[0].is_string() => {
                    Prompt::Text(items[0].as_str().unwrap_or_default().to_string())
                }
                Value::Array(items) => Prompt::Ids(
                    items
                        .iter()
                        .map(|v| v.as_u64().and_then(|i| u32::try_from(i).ok()))
                        .collect::<Option<Vec<u32>>>()
                        .ok_or_else(|| {
                            ApiError::invalid(
                                FLAVOR,
                                "prompt: expected a string or an array of token ids",
                            )
                        })?,
                ),
                _ => {
                    return Err(ApiError::invalid(
                        FLAVOR,
                        "prompt: expected a string or an array of token ids",
                    ))
                }
            };
            handle(
                &shared,
                &req.model,
                prompt,
                req.max_tokens == Some(0),
                Api::Completions,
            )
        });
    r.unwrap_or_else(IntoResponse::into_response)
}

fn handle(
    shared: &Shared,
    model: &str,
    prompt: Prompt,
    silent: bool,
    api: Api,
) -> Result<Response, ApiError> {
    let provider = super::engine_provider(shared.cfg.engine);
    let applied = shared
        .rules
        .for_model(&format!("{provider}/{model}"))
        .ok_or_else(|| ApiError::unknown_model(FLAVOR, model))?;
    let tokenizer = shared.tokenizer();
    let encode = |t: &str| {
        tokenizer
            .encode(t)
            .map_err(|_| ApiError::internal(FLAVOR, format!("tokenizer `{}` failed", tokenizer.id)))
    };
    let ids = match prompt {
        Prompt::Text(t) => encode(&t)?,
        Prompt::Ids(ids) => ids,
    };
    if ids.is_empty() {
        return Err(ApiError::invalid(FLAVOR, "prompt: the prompt is empty"));
    }
    let (reply, output_tokens) = if silent {
        (None, 0)
    } else {
        (Some(REPLY), encode(REPLY)?.len())
    };
    let n = ids.len();
    let block = applied.rule.block_size.max(1);
    let partition = format!("{provider}\0{model}");
    let layout = |len| Layout {
        len,
        block_ends: &[],
        breakpoints: &[],
    };

    let mut st = shared.lock();
    let now = st.now();
    let id = st.next_id();
    let m = st.sequences.longest(&partition, &ids, now);
    let cached = applied.surviving(&layout(m.stored_len), &layout(n), m.lcp);
    // Full blocks of this prompt that were not in the cache yet.
    let stored_before = m.lcp.min(n) / block * block;
    let written = (n / block * block).saturating_sub(stored_before);
    if cached > 0 {
        st.sequences.refresh(&m, now);
    }
    st.sequences.insert(&partition, &ids, None, now);
    let st_ref = &mut *st;
    if let Some(kv) = &mut st_ref.kv {
        kv.sync(block, st_ref.sequences.live(now));
    }
    st.counters
        .tokens(cached, written, n - cached - written, output_tokens);
    drop(st);
    tracing::debug!(
        engine = provider,
        model,
        total = n,
        cached,
        "emulator: engine request"
    );

    let usage = json!({
        "prompt_tokens": n,
        "completion_tokens": output_tokens,
        "total_tokens": n + output_tokens,
        "prompt_tokens_details": {"cached_tokens": cached},
    });
    let finish = if reply.is_some() { "stop" } else { "length" };
    let created = chrono::Utc::now().timestamp();
    let body = match api {
        Api::Chat => json!({
            "id": format!("chatcmpl-{id:024x}"),
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply.unwrap_or("")},
                "logprobs": null,
                "finish_reason": finish,
            }],
            "usage": usage,
        }),
        Api::Completions => json!({
            "id": format!("cmpl-{id:024x}"),
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "text": reply.unwrap_or(""),
                "logprobs": null,
                "finish_reason": finish,
            }],
            "usage": usage,
        }),
    };
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}
