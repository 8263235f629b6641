//! Normalizing provider usage objects into cache reads, cache writes and uncached input
//! tokens: the one place that knows each provider's field names, used by warm-ups and by the
//! `/v1/usage` ingest of live traffic.
//!
//! No double counting: Anthropic's `input_tokens` and Bedrock's `inputTokens` exclude cached
//! tokens; OpenAI's `prompt_tokens` / `input_tokens`, Gemini's `prompt_token_count` and vLLM's
//! `prompt_tokens` include them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whose usage object this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UsageFormat {
    /// Anthropic Messages `usage`.
    Anthropic,
    /// OpenAI Chat Completions `usage` (also vLLM and SGLang).
    OpenaiChat,
    /// OpenAI Responses `usage`.
    OpenaiResponses,
    /// Bedrock Converse `usage` (camelCase).
    BedrockConverse,
    /// Gemini `usage_metadata` / `usageMetadata`.
    Gemini,
    /// vLLM / SGLang OpenAI-compatible `usage`.
    OpenaiCompatible,
}

/// Cache accounting of one request's input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub cache_read: u64,
    pub cache_write: u64,
    pub uncached: u64,
    /// Whether the object reports cache writes at all. OpenAI reports them only from GPT-5.6
    /// (`cache_write_tokens`), Gemini never: there `cache_write` is 0 because nothing was said,
    /// which must not read as "nothing was written" (issue #20, item 9).
    pub write_reported: bool,
}

impl Usage {
    pub fn total_input(&self) -> u64 {
        self.cache_read + self.cache_write + self.uncached
    }
}

/// Why a usage object could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The most input tokens one request can report: ten times the largest context window of any
/// model (10M tokens). Larger values are rejected, so a hostile or broken record cannot wrap or
/// saturate a counter.
pub const MAX_TOKENS: u64 = 100_000_000;

/// Reads `v`, the usage object itself (not the whole response), in `format`.
pub fn normalize(format: UsageFormat, v: &Value) -> Result<Usage, UsageError> {
    if !v.is_object() {
        return Err(UsageError("usage is not a JSON object".into()));
    }
    let num = |path: &[&str]| -> Result<Option<u64>, UsageError> {
        let mut cur = v;
        for p in path {
            match cur.get(p) {
                Some(x) if !x.is_null() => cur = x,
                _ => return Ok(None),
            }
        }
        let n = cur.as_u64().ok_or_else(|| {
            UsageError(format!(
                "`{}` is not a non-negative integer",
                path.join(".")
            ))
        })?;
        if n > MAX_TOKENS {
            return Err(UsageError(format!(
                "`{}` = {n} is more than one request can hold (at most {MAX_TOKENS})",
                path.join(".")
            )));
        }
        Ok(Some(n))
    };
    let need = |path: &[&str]| -> Result<u64, UsageError> {
        num(path)?.ok_or_else(|| UsageError(format!("missing `{}`", path.join("."))))
    };
    Ok(match format {
        UsageFormat::Anthropic => {
            let write = num(&["cache_creation_input_tokens"])?;
            Usage {
                cache_read: num(&["cache_read_input_tokens"])?.unwrap_or(0),
                cache_write: write.unwrap_or(0),
                uncached: need(&["input_tokens"])?,
                write_reported: write.is_some(),
            }
        }
        UsageFormat::BedrockConverse => {
            let write = num(&["cacheWriteInputTokens"])?;
            Usage {
                cache_read: num(&["cacheReadInputTokens"])?.unwrap_or(0),
                cache_write: write.unwrap_or(0),
                uncached: need(&["inputTokens"])?,
                write_reported: write.is_some(),
            }
        }
        UsageFormat::OpenaiChat | UsageFormat::OpenaiCompatible => {
            let total = need(&["prompt_tokens"])?;
            let read = num(&["prompt_tokens_details", "cached_tokens"])?.unwrap_or(0);
            let write = num(&["cache_write_tokens"])?
                .or(num(&["prompt_tokens_details", "cache_write_tokens"])?);
            included(total, read, write)?
        }
        UsageFormat::OpenaiResponses => {
            let total = need(&["input_tokens"])?;
            let read = num(&["input_tokens_details", "cached_tokens"])?.unwrap_or(0);
            let write = num(&["cache_write_tokens"])?
                .or(num(&["input_tokens_details", "cache_write_tokens"])?);
            included(total, read, write)?
        }
        UsageFormat::Gemini => {
            let total = num(&["prompt_token_count"])?
                .or(num(&["promptTokenCount"])?)
                .ok_or_else(|| UsageError("missing `prompt_token_count`".into()))?;
            let read = num(&["cached_content_token_count"])?
                .or(num(&["cachedContentTokenCount"])?)
                .unwrap_or(0);
            included(total, read, None)?
        }
    })
}

/// Formats whose total includes the cached tokens; `write` is `None` when not reported.
fn included(total: u64, read: u64, write: Option<u64>) -> Result<Usage, UsageError> {
    let write_reported = write.is_some();
    let write = write.unwrap_or(0);
    let cached = read
        .checked_add(write)
        .ok_or_else(|| UsageError("token counts overflow".into()))?;
    if cached > total {
        return Err(UsageError(format!(
            "cached tokens ({cached}) exceed the prompt's tokens ({total})"
        )));
    }
    Ok(Usage {
        cache_read: read,
        cache_write: write,
        uncached: total - cached,
        write_reported,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_counts_are_rejected_naming_the_field() {
        // u64::MAX twice once wrapped the counter to 1.
        let e = normalize(
            UsageFormat::Anthropic,
            &serde_json::json!({"input_tokens": 1, "cache_read_input_tokens": 18446744073709551615u64}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`cache_read_input_tokens` = 18446744073709551615 is more than"),
            "{e}"
        );
        let ok = normalize(
            UsageFormat::Anthropic,
            &serde_json::json!({"input_tokens": MAX_TOKENS}),
        );
        assert_eq!(ok.unwrap().uncached, MAX_TOKENS);
    }
    use serde_json::json;

    /// One case per provider: (format, usage object, expected read, write, uncached).
    #[test]
    fn each_provider_without_double_counting() {
        let cases = [
            // Anthropic: input_tokens is only what comes after the last breakpoint.
            (
                UsageFormat::Anthropic,
                json!({"input_tokens": 21, "cache_creation_input_tokens": 188, "cache_read_input_tokens": 12000, "output_tokens": 3}),
                (12000, 188, 21),
            ),
            (
                UsageFormat::Anthropic,
                json!({"input_tokens": 50, "output_tokens": 1}),
                (0, 0, 50),
            ),
            // OpenAI chat: prompt_tokens includes cached_tokens.
            (
                UsageFormat::OpenaiChat,
                json!({"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306, "prompt_tokens_details": {"cached_tokens": 1920}}),
                (1920, 0, 86),
            ),
            // OpenAI from GPT-5.6: writes reported beside reads, both inside prompt_tokens.
            (
                UsageFormat::OpenaiChat,
                json!({"prompt_tokens": 5000, "prompt_tokens_details": {"cached_tokens": 2048}, "cache_write_tokens": 2900}),
                (2048, 2900, 52),
            ),
            (
                UsageFormat::OpenaiResponses,
                json!({"input_tokens": 3000, "input_tokens_details": {"cached_tokens": 2944}, "output_tokens": 5}),
                (2944, 0, 56),
            ),
            // Bedrock Converse: inputTokens excludes reads and writes.
            (
                UsageFormat::BedrockConverse,
                json!({"inputTokens": 10, "outputTokens": 5, "totalTokens": 3015, "cacheReadInputTokens": 2000, "cacheWriteInputTokens": 1000}),
                (2000, 1000, 10),
            ),
            // Gemini: prompt_token_count includes cached_content_token_count; both spellings.
            (
                UsageFormat::Gemini,
                json!({"prompt_token_count": 5000, "cached_content_token_count": 4096, "candidates_token_count": 10}),
                (4096, 0, 904),
            ),
            (
                UsageFormat::Gemini,
                json!({"promptTokenCount": 100}),
                (0, 0, 100),
            ),
            // vLLM / SGLang with cache reporting on.
            (
                UsageFormat::OpenaiCompatible,
                json!({"prompt_tokens": 1000, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 992}}),
                (992, 0, 8),
            ),
            // ... and off (null details).
            (
                UsageFormat::OpenaiCompatible,
                json!({"prompt_tokens": 1000, "prompt_tokens_details": null}),
                (0, 0, 1000),
            ),
        ];
        for (f, v, (r, w, u)) in cases {
            let got = normalize(f, &v).unwrap_or_else(|e| panic!("{f:?} {v}: {e}"));
            assert_eq!(
                (got.cache_read, got.cache_write, got.uncached),
                (r, w, u),
                "{f:?} {v}"
            );
        }
    }

    /// A zero write is "not reported" unless the object has the field (issue #20, item 9).
    #[test]
    fn writes_not_reported_are_told_apart_from_zero_writes() {
        let reported = |f, v: serde_json::Value| normalize(f, &v).unwrap().write_reported;
        assert!(!reported(
            UsageFormat::OpenaiChat,
            json!({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 0}})
        ));
        assert!(reported(
            UsageFormat::OpenaiChat,
            json!({"prompt_tokens": 10, "cache_write_tokens": 0})
        ));
        assert!(!reported(
            UsageFormat::OpenaiResponses,
            json!({"input_tokens": 10})
        ));
        assert!(reported(
            UsageFormat::OpenaiResponses,
            json!({"input_tokens": 10, "input_tokens_details": {"cache_write_tokens": 4}})
        ));
        assert!(reported(
            UsageFormat::Anthropic,
            json!({"input_tokens": 1, "cache_creation_input_tokens": 0})
        ));
        assert!(!reported(
            UsageFormat::Anthropic,
            json!({"input_tokens": 1})
        ));
        assert!(reported(
            UsageFormat::BedrockConverse,
            json!({"inputTokens": 1, "cacheWriteInputTokens": 0})
        ));
        assert!(!reported(
            UsageFormat::Gemini,
            json!({"prompt_token_count": 10, "cached_content_token_count": 4})
        ));
    }

    #[test]
    fn bad_objects_say_what_is_wrong() {
        assert_eq!(
            normalize(UsageFormat::Anthropic, &json!({"output_tokens": 1}))
                .unwrap_err()
                .0,
            "missing `input_tokens`"
        );
        assert!(
            normalize(UsageFormat::OpenaiChat, &json!({"prompt_tokens": -1}))
                .unwrap_err()
                .0
                .contains("non-negative")
        );
        assert!(normalize(
            UsageFormat::OpenaiChat,
            &json!({"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 20}})
        )
        .unwrap_err()
        .0
        .contains("exceed"));
        assert!(normalize(UsageFormat::Gemini, &json!([1, 2])).is_err());
    }
}
