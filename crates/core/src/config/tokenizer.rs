//! `[[tokenizer]]` entries: one tokenizer *version* each, its file, pin and update source.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::Loc;

/// One tokenizer *version* in the registry.
#[derive(Debug, Clone)]
pub struct TokenizerEntry {
    /// Label such as `openai/o200k_base`: provider, slash, version name.
    pub id: String,
    pub provider: String,
    pub format: TokenizerFormat,
    /// The file the analyzer reads: the configured `file`, or for an entry with a `source`,
    /// the last good copy under `state_dir` once the daemon has fetched one.
    pub file: PathBuf,
    /// For tiktoken files: the JSON spec with the split pattern and special tokens.
    pub spec: Option<PathBuf>,
    /// Pinned sha256 of the uncompressed file, lowercase hex. `None`: the entry says
    /// `sha256 = "unpinned"` (a missing `sha256` is an error).
    pub sha256: Option<String>,
    /// Where updates come from (daemon only).
    pub source: Option<Source>,
    /// For an entry with a `source`: where the daemon keeps the last good copy it fetched,
    /// `state_dir/tokenizer-sources/<label>` (the config directory may be read-only, as under
    /// the shipped systemd unit). `file` points here once it exists.
    pub source_copy: Option<PathBuf>,
    /// Model names (`provider/model`, globs allowed) that use this tokenizer.
    pub models: Vec<String>,
    /// The chat template the engine renders requests with: part of this tokenizer version.
    pub template: Option<TemplateEntry>,
    /// For a counting tokenizer: the endpoint, model and key (`file` is then empty).
    pub count: Option<CountEntry>,
    /// Where the entry and its fields are in the config, for error messages.
    pub loc: Loc,
    pub file_loc: Loc,
    pub sha256_loc: Loc,
}

/// A `[tokenizer.template]`: the chat template a self-hosted engine renders requests with
/// before tokenizing. Fingerprints of the entry are then of the rendered request.
#[derive(Debug, Clone)]
pub struct TemplateEntry {
    /// `builtin = "harmony"`: OpenAI's harmony format (gpt-oss), rendered natively; `file`
    /// and `sha256` are then unset.
    pub harmony: bool,
    /// A Jinja file, or a `tokenizer_config.json` (its `chat_template`).
    pub file: PathBuf,
    /// Pinned sha256 of the file, as for the tokenizer file; `None` for "unpinned".
    pub sha256: Option<String>,
    /// `bos_token` / `eos_token` as the template sees them (override a tokenizer_config's).
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub file_loc: Loc,
    pub sha256_loc: Loc,
}

/// Where a tokenizer's updates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An https URL (plain http only on loopback, for local mirrors and tests).
    Url(String),
    /// Another local file, e.g. one a package manager updates.
    Path(PathBuf),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Url(u) => f.write_str(u),
            Source::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The on-disk formats we can load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenizerFormat {
    /// HF `tokenizer.json`, loaded with the `tokenizers` crate.
    HfJson,
    /// tiktoken rank file (`base64-token rank` lines) plus a spec file.
    Tiktoken,
    /// Mistral tekken JSON (ranks, pattern and special tokens in one file).
    Tekken,
    /// SentencePiece `.model` protobuf (BPE or unigram, with its normalizer).
    Sentencepiece,
    /// No local file: Anthropic's `POST /v1/messages/count_tokens` counts the request.
    AnthropicCount,
    /// No local file: Gemini's `models/{model}:countTokens`.
    GeminiCount,
    /// No local file: OpenAI's `POST /v1/responses/input_tokens`.
    OpenaiCount,
}

impl TokenizerFormat {
    /// A counting tokenizer: a provider endpoint gives a count, there are no ids.
    pub fn is_count(self) -> bool {
        matches!(
            self,
            Self::AnthropicCount | Self::GeminiCount | Self::OpenaiCount
        )
    }

    /// The official endpoint a counting tokenizer calls unless `endpoint` says otherwise.
    pub fn default_endpoint(self) -> Option<&'static str> {
        match self {
            Self::AnthropicCount => Some("https://api.anthropic.com"),
            Self::GeminiCount => Some("https://generativelanguage.googleapis.com"),
            Self::OpenaiCount => Some("https://api.openai.com"),
            _ => None,
        }
    }
}

/// What a counting tokenizer (`anthropic-count`, `gemini-count`, `openai-count`) calls.
#[derive(Debug, Clone)]
pub struct CountEntry {
    /// The model whose count is asked for, as the provider names it (`claude-sonnet-4-6`).
    pub model: String,
    /// Base URL: the provider's official one, or a mirror / the emulator (http only on
    /// loopback).
    pub endpoint: String,
    /// Where the API key comes from, as for warm-ups.
    pub api_key_env: Option<String>,
    pub api_key_file: Option<String>,
    /// How long one count request may take, connection to last byte (`timeout_secs`, 1 to
    /// 300, default [`DEFAULT_COUNT_TIMEOUT_SECS`]).
    pub timeout_secs: u64,
}

/// A count request's timeout when `timeout_secs` is not set.
pub const DEFAULT_COUNT_TIMEOUT_SECS: u64 = 30;

impl std::str::FromStr for TokenizerFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hf-json" | "tokenizer.json" | "hf" => Ok(Self::HfJson),
            "tiktoken" => Ok(Self::Tiktoken),
            "tekken" => Ok(Self::Tekken),
            "sentencepiece" | "spm" => Ok(Self::Sentencepiece),
            "anthropic-count" => Ok(Self::AnthropicCount),
            "gemini-count" => Ok(Self::GeminiCount),
            "openai-count" => Ok(Self::OpenaiCount),
            other => Err(format!(
                "unknown tokenizer format `{other}` (expected hf-json, tiktoken, tekken, sentencepiece, anthropic-count, gemini-count or openai-count)"
            )),
        }
    }
}

impl std::fmt::Display for TokenizerFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::HfJson => "hf-json",
            Self::Tiktoken => "tiktoken",
            Self::Tekken => "tekken",
            Self::Sentencepiece => "sentencepiece",
            Self::AnthropicCount => "anthropic-count",
            Self::GeminiCount => "gemini-count",
            Self::OpenaiCount => "openai-count",
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTokenizer {
    pub id: Spanned<String>,
    pub provider: String,
    pub format: TokenizerFormat,
    #[serde(default)]
    pub file: Option<Spanned<String>>,
    #[serde(default)]
    pub spec: Option<Spanned<String>>,
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
    #[serde(default)]
    pub source: Option<Spanned<String>>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub template: Option<Spanned<RawTemplate>>,
    /// Counting tokenizers: the provider's model name, endpoint and API key source.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub endpoint: Option<Spanned<String>>,
    #[serde(default)]
    pub api_key_env: Option<String>,
    #[serde(default)]
    pub api_key_file: Option<String>,
    #[serde(default)]
    pub timeout_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTemplate {
    #[serde(default)]
    pub file: Option<Spanned<String>>,
    #[serde(default)]
    pub builtin: Option<String>,
    #[serde(default)]
    pub sha256: Option<Spanned<String>>,
    #[serde(default)]
    pub bos_token: Option<String>,
    #[serde(default)]
    pub eos_token: Option<String>,
}

pub(super) fn parse_source(v: &str, base_dir: &Path) -> Result<Source, String> {
    if let Some(rest) = v.strip_prefix("http://") {
        let host = rest.split(['/', '?']).next().unwrap_or("");
        let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
        return if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            Ok(Source::Url(v.to_string()))
        } else {
            Err("plain http is allowed only on loopback; use https".into())
        };
    }
    if v.starts_with("https://") {
        return Ok(Source::Url(v.to_string()));
    }
    if v.contains("://") {
        return Err(format!("`{v}`: a source is an https URL or a local path"));
    }
    Ok(Source::Path(base_dir.join(v)))
}

pub(super) fn valid_label(s: &str) -> bool {
    let mut parts = s.splitn(2, '/');
    let ok = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
    };
    matches!((parts.next(), parts.next()), (Some(a), Some(b)) if ok(a) && ok(b))
}

/// Where the daemon keeps the fetched copy of tokenizer `id`'s source.
pub fn source_copy_path(state_dir: &Path, id: &str) -> PathBuf {
    state_dir
        .join("tokenizer-sources")
        .join(id.replace('/', "__"))
}
