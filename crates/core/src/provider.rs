//! The one table of provider APIs: the names config and `/v1/usage` accept, the `provider`
//! metric label each maps to, the usage format each answers with, and which ones warm-ups can
//! speak. Warm-ups, ingest, the emulator and every metric label go through this table, so a
//! vLLM request is labelled `vllm` whether a warm-up sent it or live traffic reported it.

use serde::{Deserialize, Serialize};

use crate::usage::UsageFormat;

/// An API a request is sent with or a usage object comes from. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    /// Anthropic Messages.
    Anthropic,
    /// OpenAI Chat Completions.
    OpenaiChat,
    /// OpenAI Responses.
    OpenaiResponses,
    /// Amazon Bedrock Converse.
    BedrockConverse,
    /// Gemini `generateContent`.
    Gemini,
    /// vLLM's OpenAI-compatible server.
    Vllm,
    /// SGLang's OpenAI-compatible server.
    Sglang,
}

/// The `provider` label of the token counters: who bills (or serves) the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Anthropic,
    Openai,
    Bedrock,
    Gemini,
    Vllm,
    Sglang,
}

impl Provider {
    /// The metric label, also the `provider/` part of model names in the cache rules.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::Openai => "openai",
            Provider::Bedrock => "bedrock",
            Provider::Gemini => "gemini",
            Provider::Vllm => "vllm",
            Provider::Sglang => "sglang",
        }
    }
}

/// One row of the table.
struct Row {
    api: Api,
    /// The canonical name, first; then accepted aliases.
    names: &'static [&'static str],
    provider: Provider,
    usage: UsageFormat,
    /// Warm-up groups can send this API's requests.
    warmable: bool,
}

const TABLE: &[Row] = &[
    Row {
        api: Api::Anthropic,
        names: &["anthropic"],
        provider: Provider::Anthropic,
        usage: UsageFormat::Anthropic,
        warmable: true,
    },
    Row {
        api: Api::OpenaiChat,
        names: &["openai-chat", "openai"],
        provider: Provider::Openai,
        usage: UsageFormat::OpenaiChat,
        warmable: true,
    },
    Row {
        api: Api::OpenaiResponses,
        names: &["openai-responses"],
        provider: Provider::Openai,
        usage: UsageFormat::OpenaiResponses,
        warmable: true,
    },
    Row {
        api: Api::BedrockConverse,
        names: &["bedrock", "bedrock-converse"],
        provider: Provider::Bedrock,
        usage: UsageFormat::BedrockConverse,
        warmable: false,
    },
    Row {
        api: Api::Gemini,
        names: &["gemini"],
        provider: Provider::Gemini,
        usage: UsageFormat::Gemini,
        warmable: false,
    },
    Row {
        // `openai-compatible` was the warm-up name before engines were told apart.
        api: Api::Vllm,
        names: &["vllm", "openai-compatible"],
        provider: Provider::Vllm,
        usage: UsageFormat::OpenaiCompatible,
        warmable: true,
    },
    Row {
        api: Api::Sglang,
        names: &["sglang"],
        provider: Provider::Sglang,
        usage: UsageFormat::OpenaiCompatible,
        warmable: true,
    },
];

impl Api {
    fn row(self) -> &'static Row {
        TABLE
            .iter()
            .find(|r| r.api == self)
            .expect("every Api has a row")
    }

    /// The API of a config or ingest name (canonical or alias).
    pub fn from_name(name: &str) -> Option<Api> {
        TABLE
            .iter()
            .find(|r| r.names.contains(&name))
            .map(|r| r.api)
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        self.row().names[0]
    }

    pub fn provider(self) -> Provider {
        self.row().provider
    }

    pub fn usage_format(self) -> UsageFormat {
        self.row().usage
    }

    /// The cache diagnostics its responses can carry (Anthropic Messages, OpenAI Responses).
    pub fn diagnostics_format(self) -> Option<crate::diagnostics::DiagnosticsFormat> {
        match self {
            Api::Anthropic => Some(crate::diagnostics::DiagnosticsFormat::Anthropic),
            Api::OpenaiResponses => Some(crate::diagnostics::DiagnosticsFormat::OpenaiResponses),
            _ => None,
        }
    }

    pub fn warmable(self) -> bool {
        self.row().warmable
    }

    /// A self-hosted engine speaking the OpenAI chat API: warmed on every host.
    pub fn is_engine(self) -> bool {
        matches!(self, Api::Vllm | Api::Sglang)
    }

    /// Every canonical name, for error messages.
    pub fn names(warmable_only: bool) -> Vec<&'static str> {
        TABLE
            .iter()
            .filter(|r| r.warmable || !warmable_only)
            .map(|r| r.names[0])
            .collect()
    }
}

impl std::fmt::Display for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Api {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Api {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Api::from_name(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown provider `{s}` (expected {})",
                Api::names(false).join(", ")
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_resolve() {
        for r in TABLE {
            assert_eq!(Api::from_name(r.api.name()), Some(r.api));
            for n in r.names {
                assert_eq!(Api::from_name(n), Some(r.api), "{n}");
            }
        }
        assert_eq!(Api::from_name("openai-compatible"), Some(Api::Vllm));
        assert_eq!(Api::from_name("cohere"), None);
    }

    #[test]
    fn engines_carry_their_own_label() {
        assert_eq!(Api::Vllm.provider().label(), "vllm");
        assert_eq!(Api::Sglang.provider().label(), "sglang");
        assert_eq!(Api::OpenaiResponses.provider().label(), "openai");
        assert!(!Api::Gemini.warmable());
    }
}
