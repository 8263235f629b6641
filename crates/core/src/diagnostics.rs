//! The providers' own cache diagnostics, read into one closed set of outcomes and miss reasons
//! (issue #21): why a request did not read the cache, as the provider says it.
//!
//! - **Anthropic** (Messages API): the request names `diagnostics.previous_message_id`; the
//!   response's `diagnostics.cache_miss_reason` is an object whose `type` is `model_changed`,
//!   `system_changed`, `tools_changed` or `messages_changed` (each with
//!   `cache_missed_input_tokens`), `previous_message_not_found` or `unavailable`; or `null`,
//!   which Anthropic uses for three things it does not tell apart: no previous id (first turn),
//!   no divergence found, and a comparison still running when the response was serialized. So
//!   `null` is `no_reason`, never a hit. The comparison is of the requests' structure, whether or
//!   not the cache actually hit: read it beside the usage.
//! - **OpenAI** (Responses): the request names `prompt_cache_options.comparison_response_id`;
//!   the response's `prompt_cache_diagnostics.type` is `cache_hit`, `cache_miss` (with `reason`,
//!   `cache_missed_tokens`, `comparison_reusable_tokens`), `comparison_response_not_found` or
//!   `unavailable`.
//!
//! Field names and values are the official SDKs' (`anthropic` 2.14 `types/diagnostics.py`,
//! `cache_miss_*.py`; `openai` 3.57 `types/responses/response.py` `PromptCacheDiagnostics`).
//! An unknown `type` or `reason` is an error naming it, never a silent "other".

use serde_json::Value;

use crate::escape::Escaped;
use crate::usage::{UsageError, MAX_TOKENS};

/// A value from the wire, as an error may show it: its first 64 characters, escaped.
fn shown(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    Escaped(&cut).to_string()
}

/// Longest response id named back to a provider or read from a log (theirs are under 64
/// characters).
pub const MAX_RESPONSE_ID: usize = 256;

/// A response id (`msg_…`, `resp_…`) plausible enough to name back or to match: printable
/// ASCII, at most [`MAX_RESPONSE_ID`] bytes. One check for warm-ups and logs alike.
pub fn is_response_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_RESPONSE_ID && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Why the provider says a request missed the cache: one set for both providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MissReason {
    /// The model differs from the compared request's (both providers).
    ModelChanged,
    /// The system prompt differs (Anthropic `system_changed`).
    SystemChanged,
    /// The tool definitions differ: added, removed or reordered (both providers).
    ToolsChanged,
    /// The messages differ before the cached point (Anthropic `messages_changed`).
    MessagesChanged,
    /// The input differs (OpenAI `input_changed`: instructions or input items).
    InputChanged,
    /// The `prompt_cache_key` differs (OpenAI).
    CacheKeyChanged,
    /// A request option that keys the cache differs (OpenAI `text_format_changed`,
    /// `reasoning_effort_changed`, `verbosity_changed`, `service_tier_changed`).
    OptionsChanged,
    /// The conversation was compacted (OpenAI `context_compacted`).
    ContextCompacted,
}

impl MissReason {
    pub const ALL: [MissReason; 8] = [
        MissReason::ModelChanged,
        MissReason::SystemChanged,
        MissReason::ToolsChanged,
        MissReason::MessagesChanged,
        MissReason::InputChanged,
        MissReason::CacheKeyChanged,
        MissReason::OptionsChanged,
        MissReason::ContextCompacted,
    ];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            MissReason::ModelChanged => "model_changed",
            MissReason::SystemChanged => "system_changed",
            MissReason::ToolsChanged => "tools_changed",
            MissReason::MessagesChanged => "messages_changed",
            MissReason::InputChanged => "input_changed",
            MissReason::CacheKeyChanged => "cache_key_changed",
            MissReason::OptionsChanged => "options_changed",
            MissReason::ContextCompacted => "context_compacted",
        }
    }
}

impl std::fmt::Display for MissReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What one response's diagnostics say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diagnosis {
    /// The prefix was reused (OpenAI `cache_hit`).
    Hit,
    /// A miss, why, and the tokens the provider says would have been read.
    Miss {
        reason: MissReason,
        missed_tokens: u64,
    },
    /// The compared request is unknown to the provider (expired, other org, typo).
    NoComparison,
    /// The provider could not diagnose this request.
    Unavailable,
    /// No reason given: Anthropic `null` (first turn, no divergence, or still comparing), or
    /// OpenAI `null` (diagnostics not requested).
    NoReason,
}

impl Diagnosis {
    /// The `result` label value.
    pub fn result(&self) -> &'static str {
        match self {
            Diagnosis::Hit => "hit",
            Diagnosis::Miss { .. } => "miss",
            Diagnosis::NoComparison => "no_comparison",
            Diagnosis::Unavailable => "unavailable",
            Diagnosis::NoReason => "no_reason",
        }
    }
}

/// Whose diagnostics object this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiagnosticsFormat {
    /// Anthropic's `diagnostics` object of a Message.
    Anthropic,
    /// OpenAI's `prompt_cache_diagnostics` object of a Response.
    OpenaiResponses,
}

impl DiagnosticsFormat {
    /// The field of a response (or of a `/v1/usage` record) that holds the object.
    pub fn field(self) -> &'static str {
        match self {
            DiagnosticsFormat::Anthropic => "diagnostics",
            DiagnosticsFormat::OpenaiResponses => "prompt_cache_diagnostics",
        }
    }
}

/// Reads `v`, the diagnostics object itself (`diagnostics` or `prompt_cache_diagnostics`).
pub fn parse(format: DiagnosticsFormat, v: &Value) -> Result<Diagnosis, UsageError> {
    let err = |m: String| UsageError(format!("{}: {m}", format.field()));
    let tokens = |o: &Value, field: &str| -> Result<u64, UsageError> {
        let n = o
            .get(field)
            .and_then(Value::as_u64)
            .ok_or_else(|| err(format!("missing `{field}` (a non-negative integer)")))?;
        if n > MAX_TOKENS {
            return Err(err(format!(
                "`{field}` = {n} is more than one request can hold"
            )));
        }
        Ok(n)
    };
    let type_of = |o: &Value| -> Result<String, UsageError> {
        o.get("type")
            .and_then(Value::as_str)
            .map(shown)
            .ok_or_else(|| err("missing `type`".into()))
    };
    match format {
        DiagnosticsFormat::Anthropic => {
            if !v.is_object() {
                return Err(err("not a JSON object".into()));
            }
            let reason = match v.get("cache_miss_reason") {
                None | Some(Value::Null) => return Ok(Diagnosis::NoReason),
                Some(r) => r,
            };
            let t = type_of(reason)?;
            let miss = |reason| -> Result<Diagnosis, UsageError> {
                Ok(Diagnosis::Miss {
                    reason,
                    missed_tokens: tokens(
                        v.get("cache_miss_reason").unwrap_or(&Value::Null),
                        "cache_missed_input_tokens",
                    )?,
                })
            };
            match t.as_str() {
                "model_changed" => miss(MissReason::ModelChanged),
                "system_changed" => miss(MissReason::SystemChanged),
                "tools_changed" => miss(MissReason::ToolsChanged),
                "messages_changed" => miss(MissReason::MessagesChanged),
                "previous_message_not_found" => Ok(Diagnosis::NoComparison),
                "unavailable" => Ok(Diagnosis::Unavailable),
                other => Err(err(format!("unknown cache_miss_reason type `{other}`"))),
            }
        }
        DiagnosticsFormat::OpenaiResponses => {
            if v.is_null() {
                return Ok(Diagnosis::NoReason);
            }
            if !v.is_object() {
                return Err(err("not a JSON object".into()));
            }
            match type_of(v)?.as_str() {
                "cache_hit" => Ok(Diagnosis::Hit),
                "comparison_response_not_found" => Ok(Diagnosis::NoComparison),
                "unavailable" => Ok(Diagnosis::Unavailable),
                "cache_miss" => {
                    let r = v
                        .get("reason")
                        .and_then(Value::as_str)
                        .ok_or_else(|| err("missing `reason`".into()))?;
                    let reason = match r {
                        "model_changed" => MissReason::ModelChanged,
                        "tools_changed" => MissReason::ToolsChanged,
                        "input_changed" => MissReason::InputChanged,
                        "prompt_cache_key_changed" => MissReason::CacheKeyChanged,
                        "context_compacted" => MissReason::ContextCompacted,
                        "text_format_changed"
                        | "reasoning_effort_changed"
                        | "verbosity_changed"
                        | "service_tier_changed" => MissReason::OptionsChanged,
                        other => {
                            return Err(err(format!(
                                "unknown cache_miss reason `{}`",
                                shown(other)
                            )))
                        }
                    };
                    Ok(Diagnosis::Miss {
                        reason,
                        missed_tokens: tokens(v, "cache_missed_tokens")?,
                    })
                }
                other => Err(err(format!("unknown type `{other}`"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_anthropic_reason_type() {
        let a = |v: Value| parse(DiagnosticsFormat::Anthropic, &v);
        for (t, reason) in [
            ("model_changed", MissReason::ModelChanged),
            ("system_changed", MissReason::SystemChanged),
            ("tools_changed", MissReason::ToolsChanged),
            ("messages_changed", MissReason::MessagesChanged),
        ] {
            assert_eq!(
                a(json!({"cache_miss_reason": {"type": t, "cache_missed_input_tokens": 4096}}))
                    .unwrap(),
                Diagnosis::Miss {
                    reason,
                    missed_tokens: 4096
                }
            );
        }
        assert_eq!(
            a(json!({"cache_miss_reason": {"type": "previous_message_not_found"}})).unwrap(),
            Diagnosis::NoComparison
        );
        assert_eq!(
            a(json!({"cache_miss_reason": {"type": "unavailable"}})).unwrap(),
            Diagnosis::Unavailable
        );
        assert_eq!(
            a(json!({"cache_miss_reason": null})).unwrap(),
            Diagnosis::NoReason
        );
        assert_eq!(a(json!({})).unwrap(), Diagnosis::NoReason);
        let e = a(json!({"cache_miss_reason": {"type": "moon_phase"}}))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "diagnostics: unknown cache_miss_reason type `moon_phase`"
        );
        let e = a(json!({"cache_miss_reason": {"type": "tools_changed"}}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing `cache_missed_input_tokens`"), "{e}");
        assert!(a(json!([1])).is_err());
    }

    #[test]
    fn every_openai_type_and_reason() {
        let o = |v: Value| parse(DiagnosticsFormat::OpenaiResponses, &v);
        assert_eq!(o(json!({"type": "cache_hit"})).unwrap(), Diagnosis::Hit);
        assert_eq!(
            o(json!({"type": "comparison_response_not_found"})).unwrap(),
            Diagnosis::NoComparison
        );
        assert_eq!(
            o(json!({"type": "unavailable"})).unwrap(),
            Diagnosis::Unavailable
        );
        assert_eq!(o(Value::Null).unwrap(), Diagnosis::NoReason);
        for (r, reason) in [
            ("model_changed", MissReason::ModelChanged),
            ("prompt_cache_key_changed", MissReason::CacheKeyChanged),
            ("tools_changed", MissReason::ToolsChanged),
            ("text_format_changed", MissReason::OptionsChanged),
            ("reasoning_effort_changed", MissReason::OptionsChanged),
            ("verbosity_changed", MissReason::OptionsChanged),
            ("context_compacted", MissReason::ContextCompacted),
            ("input_changed", MissReason::InputChanged),
            ("service_tier_changed", MissReason::OptionsChanged),
        ] {
            let v = json!({"type": "cache_miss", "reason": r, "cache_missed_tokens": 1200, "comparison_reusable_tokens": 2048});
            assert_eq!(
                o(v).unwrap(),
                Diagnosis::Miss {
                    reason,
                    missed_tokens: 1200
                },
                "{r}"
            );
        }
        let e = o(json!({"type": "cache_miss", "reason": "weather", "cache_missed_tokens": 1}))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "prompt_cache_diagnostics: unknown cache_miss reason `weather`"
        );
        let e = o(json!({"type": "cache_miss", "reason": "tools_changed", "cache_missed_tokens": 18446744073709551615u64})).unwrap_err().to_string();
        assert!(e.contains("more than one request can hold"), "{e}");
    }

    #[test]
    fn labels_are_distinct() {
        let labels: std::collections::BTreeSet<&str> =
            MissReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), MissReason::ALL.len());
    }
}
