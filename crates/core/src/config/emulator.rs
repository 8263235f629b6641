//! `[emulator]`: the provider emulator started inside the daemon.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[emulator]`: run `prefix emulate` inside the daemon, so the shipped config warms up out
/// of the box with no network.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorSection {
    /// One address, or a list: one emulator (with its own cache) per address, e.g. one for the
    /// blue and one for the green color of a demo.
    pub listen: Listen,
    /// Registry id of the tokenizer the emulator tokenizes with.
    pub tokenizer: String,
    /// `hosted` (Anthropic and OpenAI endpoints), `vllm` or `sglang`.
    #[serde(default)]
    pub engine: Engine,
}

/// `listen = "127.0.0.1:9465"` or `listen = ["127.0.0.1:9465", "127.0.0.1:9466"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen(pub Vec<SocketAddr>);

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(SocketAddr),
            Many(Vec<SocketAddr>),
        }
        match OneOrMany::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected an address such as \"127.0.0.1:9465\" or a list of them",
            )
        })? {
            OneOrMany::One(a) => Ok(Listen(vec![a])),
            OneOrMany::Many(v) if (1..=16).contains(&v.len()) => Ok(Listen(v)),
            OneOrMany::Many(_) => Err(serde::de::Error::custom("expected 1 to 16 addresses")),
        }
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let all: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&all.join(","))
    }
}

/// Which server the emulator pretends to be. A closed set.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, Deserialize, clap::ValueEnum,
)]
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
