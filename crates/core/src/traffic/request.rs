//! One log line to a [`Record`]: which API, which model, when, and the request's cacheable
//! blocks in the order providers cache them: tools, then system, then messages. Text blocks are
//! their text; anything else (tool schemas, images, tool calls) is its JSON with the keys in the
//! order the client wrote them, since that order is what the provider sees and caches.

use crate::diagnostics::{Diagnosis, DiagnosticsFormat};
use crate::template::ojson::Json;

/// Which request shape a record had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    Anthropic,
    OpenaiChat,
    OpenaiResponses,
}

impl Api {
    /// The provider half of a `provider/model` name.
    pub fn provider(self) -> &'static str {
        match self {
            Api::Anthropic => "anthropic",
            Api::OpenaiChat | Api::OpenaiResponses => "openai",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Tools,
    System,
    Messages,
}

/// A content block: tokenized on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub section: Section,
    pub text: String,
    /// The client marked a cache breakpoint after this block (`cache_control`, or OpenAI's
    /// `prompt_cache_breakpoint`).
    pub breakpoint: bool,
}

/// One request from a log.
#[derive(Debug, Clone)]
pub struct Record {
    /// 1-based line number in its file.
    pub line: usize,
    pub api: Api,
    pub model: String,
    /// Unix seconds, when the line has a timestamp.
    pub timestamp: Option<f64>,
    pub blocks: Vec<Block>,
    /// The response's cached input tokens and total input tokens, when the line carries `usage`.
    pub usage: Option<(u64, u64)>,
    /// The response's `id` (`msg_…`, `resp_…`), when the line carries the response.
    pub response_id: Option<String>,
    /// The response id the request asked the provider to compare with (Anthropic
    /// `diagnostics.previous_message_id`, OpenAI `prompt_cache_options.comparison_response_id`).
    pub compared_with: Option<String>,
    /// The provider's cache diagnostics of the response ([`crate::diagnostics`]).
    pub diagnosis: Option<Diagnosis>,
    /// OpenAI's `prompt_cache_key` (it routes the request, so it keys the cache).
    pub cache_key: Option<String>,
    /// OpenAI's `prompt_cache_options.mode` is `explicit`: from GPT-5.6, no implicit
    /// breakpoint on the latest message.
    pub explicit_only: bool,
    /// Anthropic's `cache_creation_input_tokens`, when the usage has it: with the cached
    /// tokens, the tokens up to the request's last breakpoint ([`super::lengths`]).
    pub cache_written: Option<u64>,
}

impl Record {
    /// `provider/model`.
    pub fn model_name(&self) -> String {
        format!("{}/{}", self.api.provider(), self.model)
    }
}

/// Deepest nesting of arrays and objects a line may have (serde_json's recursion limit of 128
/// lets 127 through; real requests, tool schemas included, stay under 20).
pub const MAX_DEPTH: usize = 127;

/// Parses one line. `Err` says what is wrong, without quoting the line.
pub fn parse_line(line: usize, text: &str) -> Result<Record, String> {
    let v: Json = Json::parse(text).map_err(|e| {
        // serde_json stops at MAX_DEPTH levels, at once, whatever follows.
        if e.to_string().starts_with("recursion limit exceeded") {
            format!(
                "nested deeper than {MAX_DEPTH} levels (column {})",
                e.column()
            )
        } else {
            format!("not JSON (column {})", e.column())
        }
    })?;
    if v.as_object().is_none() {
        return Err("not a JSON object".into());
    }
    let timestamp = v
        .get("timestamp")
        .or(v.get("created_at"))
        .or(v.get("ts"))
        .and_then(timestamp_of);
    // Anthropic Message Batches: {"custom_id", "params": {...}}.
    if let Some(params) = v.get("params") {
        return build(line, Api::Anthropic, params, timestamp, &v);
    }
    // OpenAI Batch input: {"custom_id", "method", "url", "body"}.
    if let (Some(body), Some(url)) = (v.get("body"), v.get("url").and_then(Json::as_str)) {
        let api = if url.ends_with("/chat/completions") {
            Api::OpenaiChat
        } else if url.ends_with("/responses") {
            Api::OpenaiResponses
        } else if url.ends_with("/messages") {
            Api::Anthropic
        } else {
            return Err(format!(
                "url: `{}` is not a chat, responses or messages endpoint",
                clip(url)
            ));
        };
        return build(line, api, body, timestamp, &v);
    }
    let api = detect(&v)?;
    build(line, api, &v, timestamp, &v)
}

/// At most 60 characters of `s`, control and bidi characters escaped as the reports escape
/// them ([`crate::escape`]): a reason stays one line.
fn clip(s: &str) -> String {
    let head: String = s.chars().take(60).collect();
    crate::escape::escape(&head).into_owned()
}

/// A raw body: Responses has `input`/`instructions`; Anthropic has a top-level `system` or a
/// Claude model; Chat Completions has system/developer roles in `messages`.
fn detect(v: &Json) -> Result<Api, String> {
    if v.get("input").is_some() || v.get("instructions").is_some() {
        return Ok(Api::OpenaiResponses);
    }
    if v.get("messages").is_none() {
        return Err("no `messages`, `input` or `params`: not a request body".into());
    }
    let model = v.get("model").and_then(Json::as_str).unwrap_or("");
    if v.get("system").is_some() || model.starts_with("claude") || model.starts_with("anthropic.") {
        return Ok(Api::Anthropic);
    }
    Ok(Api::OpenaiChat)
}

fn timestamp_of(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => {
            let x = n.as_f64()?;
            // Milliseconds past 1e12 (2001-09 in seconds).
            Some(if x > 1e12 { x / 1000.0 } else { x })
        }
        Json::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_micros() as f64 / 1e6),
        _ => None,
    }
}

/// The response a line carries: `response.body` (OpenAI Batch output joined to its input),
/// `response` (a request/response log), or `result.message` (Anthropic Message Batches results
/// joined to their `params`).
fn response_of(v: &Json) -> Option<&Json> {
    let r = v.get("response");
    r.and_then(|r| r.get("body"))
        .or(r)
        .or(v.get("result").and_then(|r| r.get("message")))
}

/// The response's `id`, when it is a plausible one.
fn response_id_of(v: &Json) -> Option<String> {
    response_of(v)?
        .get("id")
        .and_then(Json::as_str)
        .filter(|s| is_id(s))
        .map(str::to_string)
}

use crate::diagnostics::{is_response_id as is_id, MAX_RESPONSE_ID as MAX_ID};

/// The response id the request names for its diagnostics comparison. A present but
/// malformed one is an error: the request asked for something we cannot follow.
fn compared_with_of(api: Api, body: &Json) -> Result<Option<String>, String> {
    let (outer, field) = match api {
        Api::Anthropic => ("diagnostics", "previous_message_id"),
        Api::OpenaiResponses => ("prompt_cache_options", "comparison_response_id"),
        Api::OpenaiChat => return Ok(None),
    };
    match body.get(outer).and_then(|o| o.get(field)) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if is_id(s) => Ok(Some(s.clone())),
        Some(_) => Err(format!(
            "{outer}.{field}: not a response id (printable ASCII, at most {MAX_ID} bytes)"
        )),
    }
}

/// The provider's diagnostics of the response: Anthropic's `diagnostics` (with
/// `cache_miss_reason`), OpenAI's `prompt_cache_diagnostics`; in the response, or at the top
/// of the line for logs that flatten it. An object that does not parse is an error (the line is
/// bad, as a bad `usage` would make it).
fn diagnosis_of(api: Api, line: &Json) -> Result<Option<Diagnosis>, String> {
    let format = match api {
        Api::Anthropic => DiagnosticsFormat::Anthropic,
        Api::OpenaiResponses => DiagnosticsFormat::OpenaiResponses,
        Api::OpenaiChat => return Ok(None),
    };
    let field = format.field();
    let found = response_of(line)
        .and_then(|r| r.get(field))
        .or_else(|| match format {
            // At the top of a raw request body, `diagnostics` is the request's own
            // (`previous_message_id`); only one with `cache_miss_reason` is an answer.
            DiagnosticsFormat::Anthropic => line
                .get(field)
                .filter(|d| d.get("cache_miss_reason").is_some()),
            DiagnosticsFormat::OpenaiResponses => line.get(field),
        });
    // `null` (a response to a request that asked for nothing, dumped by an SDK) is absent.
    let Some(d) = found.filter(|d| !matches!(d, Json::Null)) else {
        return Ok(None);
    };
    let value: serde_json::Value =
        serde_json::from_str(&d.to_string()).map_err(|_| format!("{field}: not JSON"))?;
    crate::diagnostics::parse(format, &value)
        .map(Some)
        .map_err(|e| e.0)
}

/// The `usage` object at the top of the line, or in its response ([`response_of`]).
fn usage_obj(v: &Json) -> Option<&Json> {
    v.get("usage")
        .or(response_of(v).and_then(|r| r.get("usage")))
}

/// Anthropic's `cache_creation_input_tokens` (when `cache_read_input_tokens` is beside it).
fn written_of(v: &Json) -> Option<u64> {
    let u = usage_obj(v)?;
    u.get("cache_read_input_tokens")?;
    // Missing: unknown, not 0 (a read alone does not pin the prefix to the last breakpoint).
    match u.get("cache_creation_input_tokens") {
        Some(Json::Number(n)) => n.as_u64(),
        _ => None,
    }
}

/// `usage` (see [`usage_obj`]): cached and total input tokens.
fn usage_of(v: &Json) -> Option<(u64, u64)> {
    let u = usage_obj(v)?;
    let n = |k: &str| {
        u.get(k).and_then(|x| match x {
            Json::Number(n) => n.as_u64(),
            _ => None,
        })
    };
    // Anthropic: input_tokens excludes cache reads and writes.
    if let Some(read) = n("cache_read_input_tokens") {
        let total =
            n("input_tokens").unwrap_or(0) + read + n("cache_creation_input_tokens").unwrap_or(0);
        return Some((read, total));
    }
    let cached = |k: &str| {
        u.get(k)
            .and_then(|d| d.get("cached_tokens"))
            .and_then(|x| match x {
                Json::Number(n) => n.as_u64(),
                _ => None,
            })
    };
    if let Some(total) = n("prompt_tokens") {
        return Some((cached("prompt_tokens_details").unwrap_or(0), total));
    }
    n("input_tokens").map(|total| (cached("input_tokens_details").unwrap_or(0), total))
}

fn text_of(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// String content, or an array of blocks (text blocks by their text, others as JSON).
fn push_content(section: Section, v: &Json, out: &mut Vec<Block>) {
    match v {
        Json::Array(items) => {
            for item in items {
                let text = match (item.get("type").and_then(Json::as_str), item.get("text")) {
                    (Some("text" | "input_text" | "output_text"), Some(Json::String(t))) => {
                        t.clone()
                    }
                    _ => without_cache_control(item).to_string(),
                };
                out.push(Block {
                    section,
                    text,
                    breakpoint: marks_breakpoint(item),
                });
            }
        }
        Json::Null => {}
        other => out.push(Block {
            section,
            text: text_of(other),
            breakpoint: false,
        }),
    }
}

fn marks_breakpoint(v: &Json) -> bool {
    v.get("cache_control").is_some() || v.get("prompt_cache_breakpoint").is_some()
}

/// A block's JSON without its `cache_control` (a marker, not content).
fn without_cache_control(v: &Json) -> Json {
    match v {
        Json::Object(m) if m.get("cache_control").is_some() => {
            Json::Object(m.without("cache_control"))
        }
        other => other.clone(),
    }
}

fn build(
    line: usize,
    api: Api,
    body: &Json,
    timestamp: Option<f64>,
    line_v: &Json,
) -> Result<Record, String> {
    let model = body
        .get("model")
        .and_then(Json::as_str)
        .filter(|m| !m.is_empty() && m.len() <= 200)
        .ok_or("model: missing")?
        .to_string();
    // A model name is an identifier that becomes a table cell, a registry match and a prompt
    // stub's `models` entry; one with a control or bidi character is a forged or corrupted line,
    // and one with white space is text, not a name (it could be prompt text: never shown).
    if model.contains(crate::escape::is_unsafe) {
        return Err("model: holds a control or bidi character".into());
    }
    if model.contains(char::is_whitespace) {
        return Err("model: holds white space, so it is not a model name".into());
    }
    let mut blocks = Vec::new();
    for t in body
        .get("tools")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        blocks.push(Block {
            section: Section::Tools,
            text: without_cache_control(t).to_string(),
            breakpoint: marks_breakpoint(t),
        });
    }
    match api {
        Api::Anthropic => {
            if let Some(s) = body.get("system") {
                push_content(Section::System, s, &mut blocks);
            }
            let msgs = body
                .get("messages")
                .and_then(Json::as_array)
                .ok_or("messages: missing")?;
            for m in msgs {
                push_content(
                    Section::Messages,
                    m.get("content").unwrap_or(&Json::Null),
                    &mut blocks,
                );
            }
        }
        Api::OpenaiChat => {
            let msgs = body
                .get("messages")
                .and_then(Json::as_array)
                .ok_or("messages: missing")?;
            for m in msgs {
                let section = match m.get("role").and_then(Json::as_str) {
                    Some("system" | "developer") => Section::System,
                    _ => Section::Messages,
                };
                push_content(
                    section,
                    m.get("content").unwrap_or(&Json::Null),
                    &mut blocks,
                );
            }
        }
        Api::OpenaiResponses => {
            if let Some(i) = body.get("instructions") {
                push_content(Section::System, i, &mut blocks);
            }
            match body.get("input") {
                Some(Json::Array(items)) => {
                    for item in items {
                        let section = match item.get("role").and_then(Json::as_str) {
                            Some("system" | "developer") => Section::System,
                            _ => Section::Messages,
                        };
                        match item.get("content") {
                            Some(c) => push_content(section, c, &mut blocks),
                            None => blocks.push(Block {
                                section,
                                text: item.to_string(),
                                breakpoint: false,
                            }),
                        }
                    }
                }
                Some(other) => push_content(Section::Messages, other, &mut blocks),
                None => {}
            }
        }
    }
    // Providers cache tools, then system, then messages, whatever the body's key order.
    blocks.sort_by_key(|b| b.section);
    Ok(Record {
        line,
        api,
        model,
        timestamp,
        blocks,
        usage: usage_of(line_v),
        response_id: response_id_of(line_v),
        compared_with: compared_with_of(api, body)?,
        diagnosis: diagnosis_of(api, line_v)?,
        cache_key: match api {
            Api::Anthropic => None,
            Api::OpenaiChat | Api::OpenaiResponses => body
                .get("prompt_cache_key")
                .and_then(Json::as_str)
                .map(str::to_string),
        },
        explicit_only: body
            .get("prompt_cache_options")
            .and_then(|o| o.get("mode"))
            .and_then(Json::as_str)
            == Some("explicit"),
        cache_written: written_of(line_v),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_gives_blocks_in_provider_order() {
        let a = parse_line(1, r#"{"model": "claude-sonnet-4-6", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}], "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}], "tools": [{"name": "t", "input_schema": {"b": 1, "a": 2}}], "timestamp": "2026-11-30T10:00:00Z", "usage": {"input_tokens": 3, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}}"#).unwrap();
        assert_eq!(a.api, Api::Anthropic);
        let texts: Vec<&str> = a.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [r#"{"name":"t","input_schema":{"b":1,"a":2}}"#, "S", "hi"],
            "tools keep their key order"
        );
        assert_eq!(a.timestamp, Some(1_796_032_800.0));
        assert_eq!(a.usage, Some((100, 103)));
        assert_eq!(a.cache_written, Some(0));
        let marked: Vec<bool> = a.blocks.iter().map(|b| b.breakpoint).collect();
        assert_eq!(
            marked,
            [false, true, false],
            "the system block carries cache_control"
        );

        let c = parse_line(2, r#"{"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4.1", "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": [{"type": "text", "text": "q"}]}]}}"#).unwrap();
        assert_eq!(
            (c.api, c.model_name().as_str()),
            (Api::OpenaiChat, "openai/gpt-4.1")
        );
        assert_eq!(
            c.blocks,
            [
                Block {
                    section: Section::System,
                    text: "S".into(),
                    breakpoint: false,
                },
                Block {
                    section: Section::Messages,
                    text: "q".into(),
                    breakpoint: false,
                }
            ]
        );

        let r = parse_line(3, r#"{"model": "gpt-5", "instructions": "I", "input": [{"role": "user", "content": [{"type": "input_text", "text": "u"}]}], "ts": 1796032800000}"#).unwrap();
        assert_eq!(r.api, Api::OpenaiResponses);
        assert_eq!(r.blocks.len(), 2);
        assert_eq!(r.timestamp, Some(1_796_032_800.0));

        let b = parse_line(4, r#"{"custom_id": "y", "params": {"model": "claude-haiku-4-5", "max_tokens": 5, "system": "S", "messages": [{"role": "user", "content": "u"}]}}"#).unwrap();
        assert_eq!((b.api, b.blocks.len()), (Api::Anthropic, 2));
        // A Message Batches result joined to its request: `result.message.usage`.
        let j = parse_line(5, r#"{"custom_id": "z", "params": {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "u"}]}, "result": {"type": "succeeded", "message": {"usage": {"input_tokens": 4, "cache_read_input_tokens": 10, "cache_creation_input_tokens": 30}}}}"#).unwrap();
        assert_eq!((j.usage, j.cache_written), (Some((10, 44)), Some(30)));
    }

    #[test]
    fn responses_give_their_id_the_compared_id_and_the_diagnosis() {
        use crate::diagnostics::MissReason;
        // Anthropic Message Batches: `params` joined with its `result`.
        let a = parse_line(1, r#"{"custom_id": "c1", "params": {"model": "claude-sonnet-4-6", "max_tokens": 1, "system": "S", "messages": [{"role": "user", "content": "u"}], "diagnostics": {"previous_message_id": "msg_01"}}, "result": {"type": "succeeded", "message": {"id": "msg_02", "usage": {"input_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 2000}, "diagnostics": {"cache_miss_reason": {"type": "system_changed", "cache_missed_input_tokens": 1900}}}}}"#).unwrap();
        assert_eq!(a.response_id.as_deref(), Some("msg_02"));
        assert_eq!(a.compared_with.as_deref(), Some("msg_01"));
        assert_eq!(a.usage, Some((0, 2005)));
        assert_eq!(
            a.diagnosis,
            Some(Diagnosis::Miss {
                reason: MissReason::SystemChanged,
                missed_tokens: 1900
            })
        );
        // A raw body's own `diagnostics` is the request's, not an answer.
        let raw = parse_line(2, r#"{"model": "claude-sonnet-4-6", "system": "S", "messages": [{"role": "user", "content": "u"}], "diagnostics": {"previous_message_id": "msg_01"}}"#).unwrap();
        assert_eq!(
            (raw.diagnosis, raw.compared_with.as_deref()),
            (None, Some("msg_01"))
        );
        let null = parse_line(3, r#"{"model": "claude-sonnet-4-6", "messages": [], "response": {"id": "msg_3", "diagnostics": {"cache_miss_reason": null}}}"#).unwrap();
        assert_eq!(null.diagnosis, Some(Diagnosis::NoReason));
        // OpenAI Batch input joined with its output line's `response`.
        let o = parse_line(4, r#"{"custom_id": "c", "method": "POST", "url": "/v1/responses", "body": {"model": "gpt-5.5", "input": "u", "prompt_cache_options": {"comparison_response_id": "resp_1"}}, "response": {"status_code": 200, "body": {"id": "resp_2", "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}}, "prompt_cache_diagnostics": {"type": "cache_miss", "reason": "prompt_cache_key_changed", "cache_missed_tokens": 8, "comparison_reusable_tokens": 8}}}}"#).unwrap();
        assert_eq!(
            (o.response_id.as_deref(), o.compared_with.as_deref()),
            (Some("resp_2"), Some("resp_1"))
        );
        assert_eq!(
            o.diagnosis,
            Some(Diagnosis::Miss {
                reason: MissReason::CacheKeyChanged,
                missed_tokens: 8
            })
        );
        // `null`, as an SDK dumps a response to a request that asked for nothing: absent.
        let none = parse_line(6, r#"{"model": "claude-sonnet-4-6", "messages": [], "response": {"id": "msg_9", "diagnostics": null}}"#).unwrap();
        assert_eq!(none.diagnosis, None);
        let none = parse_line(
            7,
            r#"{"model": "gpt-5.6", "input": "u", "prompt_cache_diagnostics": null}"#,
        )
        .unwrap();
        assert_eq!(none.diagnosis, None);
        // Chat Completions has no diagnostics.
        let c = parse_line(5, r#"{"model": "gpt-5.5", "messages": [], "prompt_cache_diagnostics": {"type": "cache_hit"}}"#).unwrap();
        assert_eq!(c.diagnosis, None);
    }

    #[test]
    fn a_diagnosis_or_compared_id_that_does_not_parse_is_a_bad_line() {
        for (line, why) in [
            (
                r#"{"model": "gpt-5.5", "input": "u", "prompt_cache_diagnostics": {"type": "cache_miss", "reason": "moon_phase", "cache_missed_tokens": 1}}"#,
                "prompt_cache_diagnostics: unknown cache_miss reason `moon_phase`",
            ),
            (
                r#"{"model": "claude-sonnet-4-6", "messages": [], "response": {"diagnostics": {"cache_miss_reason": {"type": "system_changed"}}}}"#,
                "cache_missed_input_tokens",
            ),
            (
                r#"{"model": "claude-sonnet-4-6", "messages": [], "diagnostics": {"previous_message_id": "msg 1\nx"}}"#,
                "diagnostics.previous_message_id: not a response id",
            ),
        ] {
            let e = parse_line(1, line).unwrap_err();
            assert!(e.contains(why), "{line}: {e}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_at_once_naming_the_depth() {
        // 16 MiB of brackets, in a content block: refused at level 128, not walked.
        let deep = |n: usize| {
            format!(
                r#"{{"model": "m", "messages": [{{"role": "user", "content": [{}{}]}}]}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        let started = std::time::Instant::now();
        let e = parse_line(7, &deep(8 << 20)).unwrap_err();
        assert!(e.starts_with("nested deeper than 127 levels"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        // The line's own 4 levels and 123 more are still a request.
        assert_eq!(parse_line(7, &deep(123)).unwrap().blocks.len(), 1);
        assert!(parse_line(7, &deep(124)).is_err());
    }

    #[test]
    fn an_object_of_200000_keys_parses_in_linear_time() {
        let mut line = String::from(
            r#"{"model": "m", "messages": [{"role": "user", "content": "u"}], "x": {"#,
        );
        for i in 0..200_000 {
            line.push_str(&format!(r#""k{i}": {i},"#));
        }
        line.push_str(r#""k7": "last"}}"#);
        let started = std::time::Instant::now();
        let v = Json::parse(&line).unwrap();
        let x = v.get("x").and_then(Json::as_object).unwrap();
        assert_eq!(
            x.iter().count(),
            200_000,
            "a repeated key replaces its value"
        );
        assert_eq!(x.get("k7"), Some(&Json::String("last".into())));
        assert!(parse_line(1, &line).is_ok());
        // A scan per key took about a minute here.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn bad_lines_say_why_without_quoting() {
        for (line, why) in [
            ("{not json", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"model": "m"}"#, "not a request body"),
            (r#"{"messages": []}"#, "model: missing"),
            (
                r#"{"model": "gpt-5.5\n\u001b[31mowner: evil\nmodels: [x]", "messages": []}"#,
                "model: holds a control or bidi character",
            ),
            (
                r#"{"model": "gpt-5.5\u202e", "messages": []}"#,
                "model: holds a control or bidi character",
            ),
            (
                r#"{"model": "You are a helpful assistant", "messages": []}"#,
                "model: holds white space, so it is not a model name",
            ),
            (
                r#"{"url": "/v1/embeddings", "body": {"model": "m"}}"#,
                "not a chat",
            ),
            (
                r#"{"url": "/v1/x\n\u2028y", "body": {"model": "m"}}"#,
                r"`/v1/x\u{a}\u{2028}y` is not a chat",
            ),
        ] {
            let e = parse_line(1, line).unwrap_err();
            assert!(e.contains(why), "{line}: {e}");
            assert!(
                !e.contains("owner") && !e.contains('\u{1b}'),
                "never quoted: {e}"
            );
        }
    }
}
