//! `[emulator]`: the provider emulator started inside the daemon.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[emulator]`: run `prefix emulate` inside the daemon, so the shipped config warms up out
/// of the box with no network.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorSection {
    pub listen: SocketAddr,
    /// Registry id of the tokenizer the emulator tokenizes with.
    pub tokenizer: String,
    /// `hosted` (Anthropic and OpenAI endpoints), `vllm` or `sglang`.
    #[serde(default)]
    pub engine: Engine,
}

/// Which server the emulator pretends to be. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The Anthropic and OpenAI APIs, with their auth, usage fields and rate-limit headers.
    #[default]
    Hosted,
    /// A vLLM OpenAI-compatible server: automatic prefix caching in full 16-token blocks.
    Vllm,
    /// An SGLang OpenAI-compatible server: RadixAttention, token-granular.
    Sglang,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Hosted => "hosted",
            Engine::Vllm => "vllm",
            Engine::Sglang => "sglang",
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hosted" => Ok(Engine::Hosted),
            "vllm" => Ok(Engine::Vllm),
            "sglang" => Ok(Engine::Sglang),
            other => Err(format!("`{other}`: expected hosted, vllm or sglang")),
        }
    }
}
