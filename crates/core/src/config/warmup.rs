//! `[[warmup]]`: one warm-up group's schema and the checks serde cannot make. The loop that
//! runs a group is in the daemon crate (`warmup`).

use serde::{Deserialize, Serialize};

use super::LookupConfig;
use crate::provider::Api;

/// Anthropic's two cache lifetimes. A closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CacheTtl {
    #[default]
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    OneHour,
}

impl CacheTtl {
    /// As the Anthropic API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheTtl::FiveMinutes => "5m",
            CacheTtl::OneHour => "1h",
        }
    }

    pub fn seconds(self) -> u64 {
        match self {
            CacheTtl::FiveMinutes => 300,
            CacheTtl::OneHour => 3600,
        }
    }
}

/// One `[[warmup]]` group of `daemon.toml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupConfig {
    pub group: String,
    /// Cron expression (5 or 6 fields).
    pub schedule: String,
    /// Each tick waits a random 0..jitter_secs more, so many groups do not fire together.
    #[serde(default)]
    pub jitter_secs: u64,
    /// The API warm-ups speak: anthropic, openai-chat, openai-responses, vllm or sglang.
    pub provider: Api,
    pub model: String,
    /// Prompt ids to warm; a color that lists its prompts narrows this.
    pub prompts: Vec<String>,
    /// Environment variable holding the API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// File holding the API key (relative to the config; `$CREDENTIALS_DIRECTORY/...` works).
    #[serde(default)]
    pub api_key_file: Option<String>,
    /// Anthropic cache TTL: "5m" or "1h".
    #[serde(default)]
    pub ttl: CacheTtl,
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Fraction of every rate limit kept for live traffic: below it, warm-ups wait.
    #[serde(default = "default_reserve")]
    pub reserve_fraction: f64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts per request (retries of 429, 5xx and transport errors included).
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Extra lookups within a tick before a failing lookup counts (brown-outs).
    #[serde(default = "default_brownout_retries")]
    pub brownout_retries: u32,
    #[serde(default = "default_brownout_delay_ms")]
    pub brownout_delay_ms: u64,
    pub lookup: LookupConfig,
    /// Engines (vllm, sglang): each target's KV-cache event publisher. A target whose whole
    /// warmable prefix is resident on GPU is skipped (`skipped_resident`); one not resident,
    /// or unknown, is warmed (issue #22).
    #[serde(default)]
    pub kv_events: Vec<KvEventsEntry>,
    /// How long a target stays known without an event or an answered replay probe.
    #[serde(default = "default_kv_stale_after_secs")]
    pub kv_stale_after_secs: u64,
    /// Ask the provider why a warm-up missed (Anthropic `diagnostics` with its beta header,
    /// OpenAI `prompt_cache_options.comparison_response_id`). `false` for gateways that refuse
    /// fields they do not know.
    #[serde(default = "default_diagnostics")]
    pub diagnostics: bool,
}

fn default_diagnostics() -> bool {
    true
}

/// One `[[warmup.kv_events]]`: where a target's engine publishes its KV-cache events.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvEventsEntry {
    /// The warm-up target (URL, as the lookup gives it) this publisher belongs to.
    pub target: String,
    /// The engine's PUB endpoint (`--kv-events-config` `endpoint`, e.g. `tcp://10.0.0.5:5557`).
    pub endpoint: String,
    /// Its replay (ROUTER) endpoint, when configured: gaps are filled from it and the target
    /// is probed through it.
    #[serde(default)]
    pub replay: Option<String>,
    #[serde(default)]
    pub topic: String,
    /// The engine's block hash (`--prefix-caching-hash-algo`), when the daemon should
    /// reproduce it and count stored blocks whose hash disagrees; absent: tokens only.
    #[serde(default)]
    pub hash: Option<KvHash>,
    /// The engine's `PYTHONHASHSEED` (`random` or an integer 0..=4294967295); absent: unset,
    /// vLLM's fixed default seed. Only with `hash`.
    #[serde(default)]
    pub hash_seed: Option<String>,
}

/// Block hashes the daemon can reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvHash {
    /// vLLM's `sha256_cbor`: sha256 of the canonical CBOR of (parent, tokens, extra keys).
    Sha256Cbor,
}

impl KvEventsEntry {
    /// The seed to cross-check hashes with, when `hash` is set (validated first).
    pub fn hash_check_seed(&self) -> Option<crate::kv_events::hash::NoneHashSeed> {
        use crate::kv_events::hash::NoneHashSeed;
        match (self.hash?, &self.hash_seed) {
            (KvHash::Sha256Cbor, None) => Some(NoneHashSeed::unset()),
            (KvHash::Sha256Cbor, Some(s)) => NoneHashSeed::pythonhashseed(s).ok(),
        }
    }
}

/// Publishers one group may subscribe to.
pub const MAX_KV_EVENTS: usize = 1024;

fn default_kv_stale_after_secs() -> u64 {
    60
}

fn default_max_tokens() -> u32 {
    1
}
fn default_reserve() -> f64 {
    0.2
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_attempts() -> u32 {
    3
}
fn default_brownout_retries() -> u32 {
    2
}
fn default_brownout_delay_ms() -> u64 {
    2_000
}

impl WarmupConfig {
    /// Checks what serde cannot; returns (field, message).
    pub fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        if self.group.trim().is_empty() {
            return Err(("group", "must not be empty".into()));
        }
        crate::schedule::parse(&self.schedule).map_err(|e| ("schedule", e))?;
        if !self.provider.warmable() {
            return Err((
                "provider",
                format!(
                    "warm-ups cannot send {} requests (expected {})",
                    self.provider,
                    Api::names(true).join(", ")
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.reserve_fraction) {
            return Err(("reserve_fraction", "must be at least 0 and below 1".into()));
        }
        if self.prompts.is_empty() {
            return Err(("prompts", "name at least one prompt".into()));
        }
        let ranges: [(&'static str, u64, u64, u64); 6] = [
            ("jitter_secs", self.jitter_secs, 0, 3600),
            ("timeout_ms", self.timeout_ms, 1, 600_000),
            ("max_attempts", self.max_attempts.into(), 1, 10),
            ("max_tokens", self.max_tokens.into(), 1, 4096),
            ("brownout_retries", self.brownout_retries.into(), 0, 10),
            ("brownout_delay_ms", self.brownout_delay_ms, 0, 60_000),
        ];
        for (field, v, lo, hi) in ranges {
            if !(lo..=hi).contains(&v) {
                return Err((field, format!("{v} is out of range {lo}..={hi}")));
            }
        }
        if !self.kv_events.is_empty() {
            if !matches!(self.provider, Api::Vllm | Api::Sglang) {
                return Err((
                    "kv_events",
                    format!(
                        "only engines (vllm, sglang) publish KV-cache events, not {}",
                        self.provider
                    ),
                ));
            }
            if self.kv_events.len() > MAX_KV_EVENTS {
                return Err((
                    "kv_events",
                    format!("at most {MAX_KV_EVENTS} publishers per group"),
                ));
            }
            if !(5..=3600).contains(&self.kv_stale_after_secs) {
                return Err((
                    "kv_stale_after_secs",
                    format!("{} is out of range 5..=3600", self.kv_stale_after_secs),
                ));
            }
            for (i, k) in self.kv_events.iter().enumerate() {
                for e in std::iter::once(&k.endpoint).chain(&k.replay) {
                    if !(e.starts_with("tcp://") || e.starts_with("ipc://")) || e.len() > 256 {
                        return Err((
                            "kv_events",
                            format!(
                                "entry {}: `{}` is not a tcp:// or ipc:// endpoint",
                                i + 1,
                                crate::escape::escape(e)
                            ),
                        ));
                    }
                }
                match (&k.hash, &k.hash_seed) {
                    (None, Some(_)) => {
                        return Err((
                            "kv_events",
                            format!(
                                "entry {}: hash_seed without hash (set hash = \"sha256_cbor\")",
                                i + 1
                            ),
                        ))
                    }
                    (Some(_), Some(seed)) => {
                        crate::kv_events::hash::NoneHashSeed::pythonhashseed(seed).map_err(
                            |e| ("kv_events", format!("entry {}: hash_seed: {e}", i + 1)),
                        )?;
                    }
                    _ => {}
                }
                if self.kv_events[..i].iter().any(|o| o.target == k.target) {
                    return Err(("kv_events", format!("entry {}: target named twice", i + 1)));
                }
            }
        }
        Ok(())
    }
}
