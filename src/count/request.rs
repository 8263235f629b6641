//! The request a counting tokenizer asks the provider to count, and the one HTTP call per
//! provider: Anthropic `POST /v1/messages/count_tokens`, OpenAI `POST
//! /v1/responses/input_tokens`, Gemini `POST /v1beta/models/{model}:countTokens`.
//!
//! The request is what a warm-up would send: the prompt's segments as the system blocks, its
//! tools (converted from the OpenAI function format the tools file uses to each API's own
//! shape), and one fixed user message (every API wants one). Errors name the provider, the
//! status and the API's error type, never the body (it may quote the request).

use serde_json::{json, Value};

use crate::config::{CountEntry, TokenizerFormat};
use crate::prompt::Prompt;
use crate::warmup::ApiKey;

/// The user message of every counted request.
pub const USER: &str = "Hello.";

/// Largest count response read.
const MAX_RESPONSE: usize = 64 << 10;

/// The URL and JSON body of the count request for `prompt`.
pub fn build(
    format: TokenizerFormat,
    c: &CountEntry,
    prompt: &Prompt,
) -> Result<(String, Value), String> {
    let tools: Vec<Value> = match &prompt.tools {
        Some(t) => serde_json::from_str(t.expose()).map_err(|e| format!("tools_file: {e}"))?,
        None => Vec::new(),
    };
    // (name, description, JSON schema) of each tool.
    let fns: Vec<(Value, Value, Value)> = tools
        .iter()
        .map(|t| {
            let f = t.get("function").unwrap_or(t);
            (
                f.get("name").cloned().unwrap_or(Value::Null),
                f.get("description").cloned().unwrap_or(Value::Null),
                f.get("parameters")
                    .or(f.get("input_schema"))
                    .cloned()
                    .unwrap_or(json!({"type": "object"})),
            )
        })
        .collect();
    let segments: Vec<&str> = prompt.segment_texts().collect();
    match format {
        TokenizerFormat::AnthropicCount => {
            let mut body = json!({
                "model": c.model,
                "system": segments.iter().map(|s| json!({"type": "text", "text": s})).collect::<Vec<_>>(),
                "messages": [{"role": "user", "content": USER}],
            });
            if !fns.is_empty() {
                body["tools"] = fns
                    .iter()
                    .map(|(n, d, p)| json!({"name": n, "description": d, "input_schema": p}))
                    .collect();
            }
            Ok((format!("{}/v1/messages/count_tokens", c.endpoint), body))
        }
        TokenizerFormat::OpenaiCount => {
            let mut body = json!({
                "model": c.model,
                "instructions": prompt.text.expose(),
                "input": USER,
            });
            if !fns.is_empty() {
                body["tools"] = fns
                    .iter()
                    .map(|(n, d, p)| json!({"type": "function", "name": n, "description": d, "parameters": p}))
                    .collect();
            }
            Ok((format!("{}/v1/responses/input_tokens", c.endpoint), body))
        }
        TokenizerFormat::GeminiCount => {
            let mut req = json!({
                "model": format!("models/{}", c.model),
                "systemInstruction": {"parts": segments.iter().map(|s| json!({"text": s})).collect::<Vec<_>>()},
                "contents": [{"role": "user", "parts": [{"text": USER}]}],
            });
            if !fns.is_empty() {
                req["tools"] = json!([{"functionDeclarations": fns
                    .iter()
                    .map(|(n, d, p)| json!({"name": n, "description": d, "parameters": p}))
                    .collect::<Vec<_>>()}]);
            }
            Ok((
                format!("{}/v1beta/models/{}:countTokens", c.endpoint, c.model),
                json!({"generateContentRequest": req}),
            ))
        }
        other => Err(format!("{other} is not a counting format")),
    }
}

/// Sends the count request and returns the count.
pub async fn send(
    client: &reqwest::Client,
    format: TokenizerFormat,
    url: &str,
    body: &Value,
    key: Option<&ApiKey>,
) -> Result<u64, String> {
    let mut rb = client.post(url).json(body);
    if let Some(k) = key {
        rb = match format {
            TokenizerFormat::AnthropicCount => rb
                .header("x-api-key", k.expose())
                .header("anthropic-version", "2023-06-01"),
            TokenizerFormat::GeminiCount => rb.header("x-goog-api-key", k.expose()),
            _ => rb.bearer_auth(k.expose()),
        };
    } else if format == TokenizerFormat::AnthropicCount {
        rb = rb.header("anthropic-version", "2023-06-01");
    }
    let mut r = rb
        .send()
        .await
        .map_err(|e| format!("{format}: {}", without_url(&e)))?;
    let status = r.status();
    let mut buf = Vec::new();
    while let Some(chunk) = r
        .chunk()
        .await
        .map_err(|e| format!("{format}: {}", without_url(&e)))?
    {
        if buf.len() + chunk.len() > MAX_RESPONSE {
            return Err(format!(
                "{format}: response larger than {MAX_RESPONSE} bytes"
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    let v: Value = serde_json::from_slice(&buf).unwrap_or(Value::Null);
    if !status.is_success() {
        let kind = error_type(&v);
        // The type is the provider's text: whatever passed the shape check still goes through
        // the one redaction path, against every string of the request we sent.
        let mut secrets = crate::redact::Redactor::default();
        secrets.add_json_strings(body);
        return Err(secrets.clean(&format!("{format}: HTTP {} ({kind})", status.as_u16())));
    }
    let field = match format {
        TokenizerFormat::GeminiCount => "totalTokens",
        _ => "input_tokens",
    };
    v[field]
        .as_u64()
        .filter(|n| *n <= u32::MAX as u64)
        .ok_or_else(|| format!("{format}: the response has no `{field}` count"))
}

/// The API's error type (`error.type`, Gemini's `error.status`) when it looks like one: at most
/// 64 bytes of ASCII letters, digits, `_`, `-` and `.`. Anything else (a body that echoes the
/// request in that field) is not shown.
fn error_type(v: &Value) -> &str {
    let t = v["error"]["type"]
        .as_str()
        .or(v["error"]["status"].as_str());
    match t {
        None => "no error type",
        Some(t)
            if !t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) =>
        {
            t
        }
        Some(_) => "unrecognized error type",
    }
}

/// reqwest's error without the URL's query (a Gemini key could be in one).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(
            u.as_str(),
            &format!("{}{}", u.origin().ascii_serialization(), u.path()),
        );
    }
    s
}
