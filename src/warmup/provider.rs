//! Provider clients for warm-up requests: Anthropic Messages, OpenAI Chat Completions and
//! Responses, and OpenAI-compatible self-hosted engines (vLLM, SGLang).
//!
//! Each client builds the smallest request that writes (or refreshes) the prompt's cache
//! entries: the prompt's segments as separate content blocks, breakpoints where the prompt
//! says, a one-token answer. Responses are classified by HTTP status *before* the body is
//! looked at: a 429 whose body says `{"status":"ok"}` is a 429. Usage is normalized to cache
//! reads, cache writes and uncached input tokens without double counting (Anthropic's
//! `input_tokens` excludes cached tokens; OpenAI's `prompt_tokens` includes them).
//!
//! Cache diagnostics (issue #21): an Anthropic request always opts in with
//! `diagnostics.previous_message_id` (`null` on the first warm-up, so the provider keeps this
//! request for the next one to be compared with), and an OpenAI Responses request on a model
//! with `prompt_cache_options` (GPT-5.6 and later; older ones reject the object) names the
//! previous response in `comparison_response_id`. A successful answer brings back its id and
//! its diagnostics read into a [`Diagnosis`] beside the usage; a malformed diagnostics object
//! spoils only the diagnosis, never the usage.

use std::time::Duration;

use serde_json::{json, Value};

use crate::diagnostics::Diagnosis;
use crate::prompt::Prompt;
use crate::warmup::ratelimit::Budget;

/// Which API a warm-up group talks to: a warmable row of the provider table.
pub use crate::provider::Api as ProviderKind;

/// Request options that do not depend on the prompt.
#[derive(Debug, Clone)]
pub struct RequestOptions {
    pub model: String,
    /// Anthropic cache TTL.
    pub ttl: crate::config::CacheTtl,
    pub max_tokens: u32,
    /// OpenAI from GPT-5.6: explicit breakpoints and `prompt_cache_options.prewarm`.
    pub breakpoints_api: bool,
    /// Name the previous response for the provider's cache diagnostics (`[[warmup]]
    /// diagnostics`).
    pub diagnostics: bool,
}

pub use crate::usage::Usage;

/// The beta header Anthropic asks for with `diagnostics` on API versions older than the
/// feature (the warm-ups send `anthropic-version: 2023-06-01`).
pub const ANTHROPIC_DIAGNOSTICS_BETA: &str = "cache-diagnosis-2026-04-07";

/// A successful answer: the usage, and what the next warm-up compares with.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub usage: Usage,
    /// The response's `id` (`msg_…`, `resp_…`) when it is one worth naming back.
    pub id: Option<String>,
    /// The response's diagnostics object, read: `None` without one; `Some(Err)` when it is
    /// malformed (the error names the field, never the prompt).
    pub diagnosis: Option<Result<Diagnosis, String>>,
}

/// What a response means, decided by status first.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success(Answer),
    /// 429, whatever the body says; `retry_after` from the header when given.
    RateLimited {
        retry_after: Option<Duration>,
    },
    /// 5xx, 529 (overloaded), 408: worth retrying later.
    ServerError(u16),
    /// Other 4xx: the request itself is wrong (bad key, bad model); retrying will not help.
    ClientError(u16),
    /// No HTTP answer: connection refused or dropped, timeout.
    Transport(String),
    /// 2xx without the usage fields we need.
    BadResponse(String),
}

impl Outcome {
    /// The `result` metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Success(_) => "success",
            Outcome::RateLimited { .. } => "rate_limited",
            Outcome::ServerError(_) => "server_error",
            Outcome::ClientError(_) => "client_error",
            Outcome::Transport(_) => "transport_error",
            Outcome::BadResponse(_) => "bad_response",
        }
    }

    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Outcome::RateLimited { .. } | Outcome::ServerError(_) | Outcome::Transport(_)
        )
    }
}

/// Whether a warm-up request of `kind` with `o` names a comparison for the provider's cache
/// diagnostics: Anthropic always, OpenAI Responses where the model takes
/// `prompt_cache_options` (GPT-5.6 and later), nothing else. A diagnosis is counted only for a
/// request that named one: an answer's `prompt_cache_diagnostics: null` to a request that did
/// not ask is no `no_reason`.
pub fn names_comparison(kind: ProviderKind, o: &RequestOptions) -> bool {
    if !o.diagnostics {
        return false;
    }
    match kind {
        ProviderKind::Anthropic => true,
        ProviderKind::OpenaiResponses => o.breakpoints_api,
        _ => false,
    }
}

/// The endpoint path and JSON body of a warm-up request for `prompt`; `compare_with` is the
/// response id of the previous warm-up of the same prompt and target, for the provider's cache
/// diagnostics.
pub fn request(
    kind: ProviderKind,
    prompt: &Prompt,
    o: &RequestOptions,
    compare_with: Option<&str>,
) -> (&'static str, Value) {
    let segments: Vec<(&str, bool)> = prompt
        .segments
        .iter()
        .map(|s| (&prompt.text.expose()[s.start..s.end], s.breakpoint))
        .collect();
    match kind {
        ProviderKind::Anthropic => {
            // At most 4 breakpoints per request: keep the last four.
            let n_bp = segments.iter().filter(|(_, b)| *b).count();
            let mut skip = n_bp.saturating_sub(4);
            let system: Vec<Value> = segments
                .iter()
                .map(|(text, bp)| {
                    let mut block = json!({"type": "text", "text": text});
                    if *bp {
                        if skip > 0 {
                            skip -= 1;
                        } else if o.ttl == crate::config::CacheTtl::OneHour {
                            block["cache_control"] = json!({"type": "ephemeral", "ttl": "1h"});
                        } else {
                            block["cache_control"] = json!({"type": "ephemeral"});
                        }
                    }
                    block
                })
                .collect();
            let mut body = json!({
                "model": o.model,
                "max_tokens": o.max_tokens,
                "system": system,
                "messages": [{"role": "user", "content": "."}],
            });
            if o.diagnostics {
                body["diagnostics"] = json!({"previous_message_id": compare_with});
            }
            ("/v1/messages", body)
        }
        ProviderKind::OpenaiChat | ProviderKind::Vllm | ProviderKind::Sglang => {
            let content = openai_blocks(&segments, "text", o.breakpoints_api);
            let mut body = json!({
                "model": o.model,
                "messages": [{"role": "system", "content": content}, {"role": "user", "content": "."}],
            });
            if kind == ProviderKind::OpenaiChat {
                body["prompt_cache_key"] = json!(prompt.id);
                body["max_completion_tokens"] = json!(o.max_tokens.max(1));
            } else {
                body["max_tokens"] = json!(o.max_tokens.max(1));
            }
            ("/v1/chat/completions", body)
        }
        // Config validation rejects groups of these APIs; should one get here, the request
        // fails loudly (a 404 counted as client_error) instead of panicking.
        ProviderKind::BedrockConverse | ProviderKind::Gemini => ("/unsupported-api", json!({})),
        ProviderKind::OpenaiResponses => {
            let content = openai_blocks(&segments, "input_text", o.breakpoints_api);
            let mut body = json!({
                "model": o.model,
                "input": [{"role": "system", "content": content}],
                "prompt_cache_key": prompt.id,
            });
            if o.breakpoints_api {
                body["prompt_cache_options"] = json!({"prewarm": true});
                if let Some(id) = compare_with {
                    body["prompt_cache_options"]["comparison_response_id"] = json!(id);
                }
            } else {
                // Older models need an input to answer and have a 16-token output floor.
                body["input"]
                    .as_array_mut()
                    .expect("array")
                    .push(json!({"role": "user", "content": "."}));
                body["max_output_tokens"] = json!(16);
            }
            ("/v1/responses", body)
        }
    }
}

/// The prompt's segments as OpenAI content blocks, marked as breakpoints where the model's API
/// has them (GPT-5.6 and later).
fn openai_blocks(segments: &[(&str, bool)], block_type: &str, breakpoints_api: bool) -> Vec<Value> {
    segments
        .iter()
        .map(|(text, bp)| {
            let mut block = json!({"type": block_type, "text": text});
            if *bp && breakpoints_api {
                block["prompt_cache_breakpoint"] = json!({"mode": "explicit"});
            }
            block
        })
        .collect()
}

/// Classifies a response: status first, then (for 2xx) the usage fields, the id and the
/// diagnostics.
pub fn classify(
    kind: ProviderKind,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Outcome {
    match status {
        429 => Outcome::RateLimited {
            retry_after: crate::warmup::ratelimit::retry_after(headers),
        },
        200..=299 => match serde_json::from_slice::<Value>(body) {
            Ok(v) => match usage(kind, &v) {
                Some(usage) => Outcome::Success(Answer {
                    usage,
                    id: v
                        .get("id")
                        .and_then(Value::as_str)
                        .and_then(super::comparison::usable_id),
                    diagnosis: diagnosis(kind, &v),
                }),
                None => Outcome::BadResponse("no usage in the answer".into()),
            },
            Err(e) => Outcome::BadResponse(format!("answer is not JSON: {e}")),
        },
        408 | 500..=599 => Outcome::ServerError(status),
        s => Outcome::ClientError(s),
    }
}

/// The usage object of a response, normalized.
pub fn usage(kind: ProviderKind, v: &Value) -> Option<Usage> {
    crate::usage::normalize(kind.usage_format(), v.get("usage")?).ok()
}

/// The response's diagnostics object read, when the API has one and the answer carries it.
pub fn diagnosis(kind: ProviderKind, v: &Value) -> Option<Result<Diagnosis, String>> {
    let format = kind.diagnostics_format()?;
    // `null`: no diagnostics (not a malformed one).
    let d = v.get(format.field()).filter(|d| !d.is_null())?;
    Some(crate::diagnostics::parse(format, d).map_err(|e| e.to_string()))
}

/// Sends one request and classifies the answer; also returns the rate-limit budget the
/// headers report.
pub async fn send(
    client: &reqwest::Client,
    kind: ProviderKind,
    base_url: &str,
    api_key: Option<&crate::warmup::ApiKey>,
    path: &str,
    body: &Value,
) -> (Outcome, Option<Budget>) {
    let url = format!("{}{}", base_url.trim_end_matches('/'), path);
    let mut req = client.post(&url).json(body);
    match kind {
        ProviderKind::Anthropic => {
            req = req.header("anthropic-version", "2023-06-01");
            // The beta header goes with the field only (`diagnostics = false` sends neither).
            if body.get("diagnostics").is_some() {
                req = req.header("anthropic-beta", ANTHROPIC_DIAGNOSTICS_BETA);
            }
            if let Some(k) = api_key {
                req = req.header("x-api-key", k.expose());
            }
        }
        _ => {
            if let Some(k) = api_key {
                req = req.bearer_auth(k.expose());
            }
        }
    }
    match req.send().await {
        Err(e) => (Outcome::Transport(transport_reason(&e)), None),
        Ok(resp) => {
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let budget = crate::warmup::ratelimit::budget(&headers);
            match resp.bytes().await {
                Ok(body) => (classify(kind, status, &headers, &body), budget),
                // The status alone decides errors; a lost body only matters for a success.
                Err(_) if !(200..=299).contains(&status) => {
                    (classify(kind, status, &headers, b""), budget)
                }
                Err(e) => (Outcome::Transport(transport_reason(&e)), budget),
            }
        }
    }
}

/// A reason without the URL's query or any header: errors are logged.
fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "connection dropped while reading the answer".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_decides_before_the_body() {
        let h = reqwest::header::HeaderMap::new();
        assert!(matches!(
            classify(ProviderKind::Anthropic, 429, &h, br#"{"status":"ok"}"#),
            Outcome::RateLimited { .. }
        ));
        assert_eq!(
            classify(ProviderKind::OpenaiChat, 529, &h, b"{}"),
            Outcome::ServerError(529)
        );
        assert_eq!(
            classify(ProviderKind::OpenaiChat, 401, &h, b"{}"),
            Outcome::ClientError(401)
        );
        assert!(matches!(
            classify(ProviderKind::OpenaiChat, 200, &h, br#"{"status":"ok"}"#),
            Outcome::BadResponse(_)
        ));
    }

    fn shipped_prompt() -> Prompt {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
        crate::prompt::load_dir(&dir)
            .unwrap()
            .into_iter()
            .find(|p| p.id == "cline-claude-sonnet-4")
            .unwrap()
    }

    fn options(model: &str, breakpoints_api: bool) -> RequestOptions {
        RequestOptions {
            model: model.into(),
            ttl: crate::config::CacheTtl::FiveMinutes,
            max_tokens: 1,
            breakpoints_api,
            diagnostics: true,
        }
    }

    /// Issue #21: a warm-up names the previous one as its comparison where the API has
    /// diagnostics, merged with what the request already asks; nowhere else.
    #[test]
    fn requests_name_the_previous_warmup_as_the_comparison() {
        let p = shipped_prompt();
        let a = |prev| {
            request(
                ProviderKind::Anthropic,
                &p,
                &options("claude-sonnet-4-5", false),
                prev,
            )
            .1
        };
        assert_eq!(
            a(None)["diagnostics"],
            json!({"previous_message_id": null}),
            "the first warm-up opts in, so the next can be compared with it"
        );
        assert_eq!(
            a(Some("msg_01"))["diagnostics"],
            json!({"previous_message_id": "msg_01"})
        );
        let r = |o: &RequestOptions, prev| request(ProviderKind::OpenaiResponses, &p, o, prev).1;
        let new = options("gpt-5.6", true);
        assert_eq!(
            r(&new, None)["prompt_cache_options"],
            json!({"prewarm": true})
        );
        assert_eq!(
            r(&new, Some("resp_01"))["prompt_cache_options"],
            json!({"prewarm": true, "comparison_response_id": "resp_01"})
        );
        // Models before GPT-5.6 reject `prompt_cache_options`: no comparison.
        let old = r(&options("gpt-4o", false), Some("resp_01"));
        assert!(old.get("prompt_cache_options").is_none(), "{old}");
        assert!(!names_comparison(
            ProviderKind::OpenaiResponses,
            &options("gpt-4o", false)
        ));
        assert!(names_comparison(ProviderKind::OpenaiResponses, &new));
        assert!(names_comparison(
            ProviderKind::Anthropic,
            &options("m", false)
        ));
        assert!(!names_comparison(
            ProviderKind::OpenaiChat,
            &options("m", true)
        ));
        // `diagnostics = false` (a gateway that refuses unknown fields): nothing is named.
        let off = RequestOptions {
            diagnostics: false,
            ..options("claude-sonnet-4-5", false)
        };
        assert!(!names_comparison(ProviderKind::Anthropic, &off));
        let body = request(ProviderKind::Anthropic, &p, &off, None).1;
        assert!(body.get("diagnostics").is_none(), "{body}");
        let off56 = RequestOptions {
            diagnostics: false,
            ..new.clone()
        };
        assert!(!names_comparison(ProviderKind::OpenaiResponses, &off56));
        for kind in [
            ProviderKind::OpenaiChat,
            ProviderKind::Vllm,
            ProviderKind::Sglang,
        ] {
            let (_, b) = request(kind, &p, &options("m", false), Some("chatcmpl-1"));
            let text = b.to_string();
            assert!(
                !text.contains("chatcmpl-1") && b.get("diagnostics").is_none(),
                "{kind:?} has no diagnostics: {}",
                &text[..80]
            );
        }
    }

    #[test]
    fn an_answer_brings_its_id_and_diagnosis_and_a_bad_diagnosis_spoils_only_itself() {
        let h = reqwest::header::HeaderMap::new();
        let body = json!({"id": "msg_01", "usage": {"input_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 2000},
            "diagnostics": {"cache_miss_reason": {"type": "system_changed", "cache_missed_input_tokens": 1990}}});
        let Outcome::Success(a) = classify(
            ProviderKind::Anthropic,
            200,
            &h,
            body.to_string().as_bytes(),
        ) else {
            panic!("a success")
        };
        assert_eq!(a.id.as_deref(), Some("msg_01"));
        assert_eq!(
            a.diagnosis,
            Some(Ok(Diagnosis::Miss {
                reason: crate::diagnostics::MissReason::SystemChanged,
                missed_tokens: 1990
            }))
        );
        let body = json!({"id": "resp_01", "usage": {"input_tokens": 3000, "input_tokens_details": {"cached_tokens": 2048}},
            "prompt_cache_diagnostics": {"type": "cache_miss", "reason": "weather", "cache_missed_tokens": 1}});
        let Outcome::Success(a) = classify(
            ProviderKind::OpenaiResponses,
            200,
            &h,
            body.to_string().as_bytes(),
        ) else {
            panic!("a success: the usage is good")
        };
        assert_eq!(a.usage.cache_read, 2048);
        assert!(
            matches!(&a.diagnosis, Some(Err(e)) if e.contains("weather")),
            "{a:?}"
        );
        let body = json!({"id": "chatcmpl-1", "usage": {"prompt_tokens": 10}});
        let Outcome::Success(a) = classify(
            ProviderKind::OpenaiChat,
            200,
            &h,
            body.to_string().as_bytes(),
        ) else {
            panic!("a success")
        };
        assert_eq!(a.diagnosis, None);
    }

    #[test]
    fn usage_is_normalized_without_double_counting() {
        let a = json!({"usage": {"input_tokens": 5, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 20, "output_tokens": 1}});
        assert_eq!(
            usage(ProviderKind::Anthropic, &a),
            Some(Usage {
                cache_read: 1000,
                cache_write: 20,
                uncached: 5,
                write_reported: true,
            })
        );
        let o = json!({"usage": {"prompt_tokens": 2006, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 1920}}});
        assert_eq!(
            usage(ProviderKind::OpenaiChat, &o),
            Some(Usage {
                cache_read: 1920,
                cache_write: 0,
                uncached: 86,
                write_reported: false,
            })
        );
        let r = json!({"usage": {"input_tokens": 3000, "input_tokens_details": {"cached_tokens": 2048}, "cache_write_tokens": 900}});
        assert_eq!(
            usage(ProviderKind::OpenaiResponses, &r),
            Some(Usage {
                cache_read: 2048,
                cache_write: 900,
                uncached: 52,
                write_reported: true,
            })
        );
    }
}
