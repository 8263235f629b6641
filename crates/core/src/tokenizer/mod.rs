//! The tokenizer registry: each entry of `daemon.toml` is one provider tokenizer *version*,
//! loaded from a file whose sha256 is pinned.
//!
//! A [`Tokenizer`] turns text into token ids (and byte offsets, for diffs) and knows its
//! [`Identity`]: the sha256 of its file(s) and a hash of its id -> bytes table. Two tokenizers
//! with the same vocabulary hash give comparable ids even when their files differ (Qwen's rank
//! file and the Qwen3 tokenizer.json); different vocabulary hashes mean nothing is comparable.

mod atoms;
mod classes;
mod file;
mod hf_bpe;
mod hf_json;
mod hw;
use hw::huge;
mod memo;
mod merge;
mod pretok;
mod quick_check;
mod rank_bpe;
mod rank_table;
mod scan;
mod scan_block;
mod scan_deepseek;
mod seams;
mod sentencepiece;
mod specials;
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
use hw::sse2;
mod table_cache;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

pub use file::{gunzip_if_needed, read_maybe_gzip, sha256_hex};
pub use hf_json::HfJson;
pub use pretok::Splitter;
/// The rank-file engine's parts, for the profile's steps (`scripts/bench/peers` `stages`).
#[doc(hidden)]
pub mod parts {
    pub use super::atoms::Atoms;
    /// [`super::huge`]'s functions, for the fuzz target over them.
    pub mod huge {
        pub use crate::tokenizer::hw::huge::{advise, filled, with_capacity};
    }
    pub use super::merge::{by_rank, Part};
    pub use super::rank_table::RankTable;
}
pub use rank_bpe::{load_tekken, parse_rank_file, RankBpe, TiktokenSpec};
pub use sentencepiece::SentencePiece;

use crate::config::{Config, TokenizerEntry, TokenizerFormat};
use crate::error::{Error, Result};
use crate::template::ChatTemplate;

/// Drops a tokenizer file's bytes once its tables are parsed, and gives the freed pages back
/// before the engine's tables are built from them.
fn let_go(bytes: Vec<u8>) {
    drop(bytes);
    crate::memory::release_free_pages();
}

/// Token ids and the byte range of the text each one covers.
pub type IdsWithOffsets = (Vec<u32>, Vec<(usize, usize)>);

/// Bumped whenever a change to this crate could change the ids produced for a given file, so
/// cached fingerprints computed by an older engine are not reused.
pub const ENGINE_VERSION: u32 = 2;

/// What identifies a tokenizer's behaviour, independent of its label.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Identity {
    pub format: TokenizerFormat,
    /// sha256 of the uncompressed tokenizer file.
    pub file_sha256: String,
    /// sha256 of the tiktoken spec file, when there is one.
    pub spec_sha256: Option<String>,
    /// sha256 of the chat template file, for a version that renders requests with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_sha256: Option<String>,
}

impl Identity {
    /// One hex digest over everything that decides the ids: the cache key part for a tokenizer.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!(
            "engine-v{ENGINE_VERSION}\0{}\0{}\0",
            self.format, self.file_sha256
        ));
        if let Some(s) = &self.spec_sha256 {
            h.update(s.as_bytes());
        }
        if let Some(s) = &self.template_sha256 {
            h.update(b"\0template\0");
            h.update(s.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

enum Engine {
    Rank(Box<rank_bpe::RankBpe>),
    Hf(Box<hf_json::HfJson>),
    Spm(Box<SentencePiece>),
}

/// A loaded tokenizer.
pub struct Tokenizer {
    pub id: String,
    pub identity: Identity,
    /// sha256 over the (id, bytes) table of ordinary tokens; see the module doc.
    pub vocab_hash: String,
    pub vocab_size: usize,
    engine: Engine,
    /// Matcher for special tokens in rendered text, built on first use.
    specials: std::sync::OnceLock<specials::SpecialSplit>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("id", &self.id)
            .field("identity", &self.identity)
            .field("vocab_size", &self.vocab_size)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Loads the tokenizer of a registry entry, verifying the pinned sha256.
    pub fn load(entry: &TokenizerEntry) -> Result<Tokenizer> {
        Self::load_cached(entry, None)
    }

    /// [`Tokenizer::load`], with the parsed tables cached under `state_dir` (see
    /// `table_cache`): the file is still read and its pin verified, but not parsed again.
    pub fn load_cached(entry: &TokenizerEntry, state_dir: Option<&Path>) -> Result<Tokenizer> {
        if entry.format.is_count() {
            return Err(Error::Tokenizer {
                id: entry.id.clone(),
                file: entry.file.clone(),
                message: NO_LOCAL_IDS.into(),
            });
        }
        let content = file::read_verified(entry)?;
        let spec = match &entry.spec {
            Some(p) => Some(read_spec(&entry.id, p)?),
            None => None,
        };
        let mut t = Self::from_content(
            &entry.id,
            entry.format,
            &entry.file,
            content,
            spec,
            state_dir,
        )?;
        t.identity.template_sha256 = template_sha256(entry)?;
        Ok(t)
    }

    /// Loads a tokenizer file that is not in the registry (`prefix diff --to-file`). A
    /// tiktoken file takes its pattern from `spec`.
    pub fn load_file(
        label: &str,
        path: &Path,
        format: TokenizerFormat,
        spec: Option<(&Path, TiktokenSpec, String)>,
    ) -> Result<Tokenizer> {
        let bytes = read_maybe_gzip(path)?;
        let sha256 = sha256_hex(&bytes);
        let spec = spec.map(|(_, s, sha)| (s, sha));
        Self::from_content(
            label,
            format,
            path,
            file::FileContent { bytes, sha256 },
            spec,
            None,
        )
    }

    fn from_content(
        id: &str,
        format: TokenizerFormat,
        path: &Path,
        content: file::FileContent,
        spec: Option<(TiktokenSpec, String)>,
        tables: Option<&Path>,
    ) -> Result<Tokenizer> {
        let bad = |message: String| Error::Tokenizer {
            id: id.to_string(),
            file: path.to_path_buf(),
            message,
        };
        let identity = Identity {
            format,
            file_sha256: content.sha256.clone(),
            spec_sha256: spec.as_ref().map(|(_, sha)| sha.clone()),
            template_sha256: None,
        };
        let key = identity.content_hash();
        // The file's bytes are read only to build or check the parsed tables: each arm lets them
        // go before the engine's tables are built from those, so the two are never resident
        // together (11-19 MB for the shipped tokenizer.json and tekken files: the cold load of
        // Qwen3 peaked at 71 MB with them, docs/tokenizer-bench.md).
        let file::FileContent { bytes, .. } = content;
        let engine = match format {
            TokenizerFormat::Tiktoken => {
                let (spec, _) = spec
                    .as_ref()
                    .ok_or_else(|| bad("a tiktoken file needs a spec".into()))?;
                let parts = table_cache::load_or_build(tables, &key, || {
                    Ok(rank_bpe::RankParts {
                        ranks: rank_bpe::parse_rank_file(&bytes)?.into_iter().collect(),
                        pattern: spec.pattern.clone(),
                        id_offset: spec.id_offset,
                        special_tokens: spec.special_tokens.clone(),
                    })
                })
                .map_err(bad)?;
                let_go(bytes);
                Engine::Rank(Box::new(parts.build().map_err(bad)?))
            }
            TokenizerFormat::Tekken => {
                let parts =
                    table_cache::load_or_build(tables, &key, || rank_bpe::tekken_parts(&bytes))
                        .map_err(bad)?;
                let_go(bytes);
                Engine::Rank(Box::new(parts.build().map_err(bad)?))
            }
            TokenizerFormat::HfJson => {
                let parts =
                    table_cache::load_or_build(tables, &key, || hf_bpe::HfBpe::parse(&bytes));
                let hf = match parts {
                    Ok(parts) => {
                        let_go(bytes);
                        match parts.build() {
                            Ok(native) => hf_json::HfJson::from_native_or_bytes(Ok(native), &[]),
                            // The `tokenizers` crate takes the file the native engine could not:
                            // read again, and held to the hash the tables were keyed by.
                            Err(why) => {
                                let again =
                                    file::read_again(path, &identity.file_sha256).map_err(bad)?;
                                hf_json::HfJson::from_native_or_bytes(Err(why), &again)
                            }
                        }
                    }
                    Err(why) => hf_json::HfJson::from_native_or_bytes(Err(why), &bytes),
                };
                Engine::Hf(Box::new(hf.map_err(bad)?))
            }
            TokenizerFormat::Sentencepiece => {
                Engine::Spm(Box::new(SentencePiece::from_bytes(&bytes).map_err(bad)?))
            }
            TokenizerFormat::AnthropicCount
            | TokenizerFormat::GeminiCount
            | TokenizerFormat::OpenaiCount => return Err(bad(NO_LOCAL_IDS.into())),
        };
        let mut h = Sha256::new();
        let mut vocab_size = 0;
        let mut feed = |id: u32, b: &[u8]| {
            h.update(id.to_le_bytes());
            h.update((b.len() as u32).to_le_bytes());
            h.update(b);
            vocab_size += 1;
        };
        match &engine {
            Engine::Rank(r) => r.vocab().for_each(|(i, b)| feed(i, b)),
            Engine::Hf(t) => t.vocab().for_each(|(i, b)| feed(i, b)),
            Engine::Spm(t) => t.vocab().for_each(|(i, b)| feed(i, &b)),
        }
        let vocab_hash = hex::encode(h.finalize());
        Ok(Tokenizer {
            id: id.to_string(),
            identity,
            vocab_hash,
            vocab_size,
            engine,
            specials: std::sync::OnceLock::new(),
        })
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match &self.engine {
            Engine::Rank(r) => r.encode(text),
            Engine::Hf(t) => t.encode(text),
            Engine::Spm(t) => t.encode(text),
        }
        .map_err(|m| Error::Other(format!("tokenizer `{}`: {m}", self.id)))
    }

    /// Ids and the byte range of the text that each id covers.
    pub fn encode_with_offsets(&self, text: &str) -> Result<IdsWithOffsets> {
        match &self.engine {
            Engine::Rank(r) => r.encode_with_offsets(text),
            Engine::Hf(t) => t.encode_with_offsets(text),
            Engine::Spm(t) => t.encode_with_offsets(text),
        }
        .map_err(|m| Error::Other(format!("tokenizer `{}`: {m}", self.id)))
    }

    /// Ids and offsets of a *rendered* request (a chat template's output): special and added
    /// tokens written in the text are matched as the engine matches them (Hugging Face's
    /// added-token matching; tiktoken's `allowed_special="all"`), the text between them is
    /// encoded as usual.
    pub fn encode_rendered_with_offsets(&self, text: &str) -> Result<IdsWithOffsets> {
        match &self.engine {
            // tokenizer.json engines already match added tokens.
            Engine::Hf(_) => self.encode_with_offsets(text),
            Engine::Rank(_) | Engine::Spm(_) => {
                let split = self
                    .specials
                    .get_or_init(|| specials::SpecialSplit::new(self.special_tokens()));
                let mut ids = Vec::new();
                let mut offsets = Vec::new();
                for piece in split.pieces(text) {
                    match piece {
                        specials::Piece::Special(id, range) => {
                            ids.push(id);
                            offsets.push(range);
                        }
                        specials::Piece::Text(a, b) => {
                            let (i, o) = self.encode_with_offsets(&text[a..b])?;
                            ids.extend(i);
                            offsets.extend(o.into_iter().map(|(x, y)| (x + a, y + a)));
                        }
                    }
                }
                Ok((ids, offsets))
            }
        }
    }

    /// Which engine encodes this tokenizer, for `prefix check`: the native engines, or the
    /// `tokenizers` crate with the reason the native one could not take the file.
    pub fn engine(&self) -> String {
        match &self.engine {
            Engine::Rank(r) => format!("rank BPE, {}", r.splitter_name()),
            Engine::Hf(t) => t.engine(),
            Engine::Spm(t) => format!("SentencePiece {}", t.model_name()),
        }
    }

    pub fn special_tokens(&self) -> &BTreeMap<String, u32> {
        match &self.engine {
            Engine::Rank(r) => r.special_tokens(),
            Engine::Hf(t) => t.special_tokens(),
            Engine::Spm(t) => t.special_tokens(),
        }
    }
}

/// Reads a tiktoken spec file; returns it with its sha256.
pub fn read_spec(id: &str, path: &Path) -> Result<(TiktokenSpec, String)> {
    let bytes =
        crate::bounded::read_limited(path, crate::bounded::SMALL_FILE_BYTES).map_err(|e| {
            Error::Tokenizer {
                id: id.to_string(),
                file: path.to_path_buf(),
                message: format!("cannot read spec: {e}"),
            }
        })?;
    let spec: TiktokenSpec = serde_json::from_slice(&bytes).map_err(|e| Error::Tokenizer {
        id: id.to_string(),
        file: path.to_path_buf(),
        message: format!("invalid spec at line {}: {e}", e.line()),
    })?;
    Ok((spec, sha256_hex(&bytes)))
}

const NO_LOCAL_IDS: &str = "a counting tokenizer has no local ids: the provider counts (the daemon, or `prefix fingerprint --remote`)";

/// Reads only the files' hashes: enough to look fingerprints up in the cache without paying
/// for loading the tokenizer. A counting tokenizer's identity is its model and endpoint.
pub fn identity_of(entry: &TokenizerEntry) -> Result<Identity> {
    if let Some(c) = &entry.count {
        return Ok(Identity {
            format: entry.format,
            file_sha256: sha256_hex(
                format!("count\0{}\0{}\0{}", entry.format, c.model, c.endpoint).as_bytes(),
            ),
            spec_sha256: None,
            template_sha256: None,
        });
    }
    let content = file::read_verified(entry)?;
    let spec_sha256 = match &entry.spec {
        Some(p) => Some(read_spec(&entry.id, p)?.1),
        None => None,
    };
    let template_sha256 = template_sha256(entry)?;
    Ok(Identity {
        format: entry.format,
        file_sha256: content.sha256,
        spec_sha256,
        template_sha256,
    })
}

/// The sha256 of an entry's chat template file (of the renderer's version for harmony).
fn template_sha256(entry: &TokenizerEntry) -> Result<Option<String>> {
    Ok(match &entry.template {
        Some(te) if te.harmony => Some(ChatTemplate::harmony().sha256),
        Some(te) => Some(file::read_template(&entry.id, te)?.sha256),
        None => None,
    })
}

/// Reads, verifies and compiles a tokenizer entry's chat template, if it has one.
pub fn load_template(entry: &TokenizerEntry) -> Result<Option<ChatTemplate>> {
    let Some(te) = &entry.template else {
        return Ok(None);
    };
    if te.harmony {
        return Ok(Some(ChatTemplate::harmony()));
    }
    let content = file::read_template(&entry.id, te)?;
    let name = te.file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let t = ChatTemplate::from_bytes(name, &content.bytes).map_err(|m| Error::Tokenizer {
        id: entry.id.clone(),
        file: te.file.clone(),
        message: format!("template ({}): {m}", te.file_loc),
    })?;
    Ok(Some(
        t.with_tokens(te.bos_token.clone(), te.eos_token.clone()),
    ))
}

/// Loads tokenizers on first use and keeps them; cheap to share between threads.
pub struct Registry {
    entries: Vec<TokenizerEntry>,
    /// Where parsed tables are cached (the config's state_dir).
    state_dir: std::path::PathBuf,
    loaded: Mutex<HashMap<String, Arc<Tokenizer>>>,
    identities: Mutex<HashMap<String, Identity>>,
    templates: Mutex<HashMap<String, Option<Arc<ChatTemplate>>>>,
}

impl Registry {
    pub fn new(config: &Config) -> Self {
        Self {
            entries: config.tokenizers.clone(),
            state_dir: config.state_dir.clone(),
            loaded: Mutex::default(),
            identities: Mutex::default(),
            templates: Mutex::default(),
        }
    }

    pub fn entries(&self) -> &[TokenizerEntry] {
        &self.entries
    }

    pub fn entry(&self, id: &str) -> Result<&TokenizerEntry> {
        self.entries
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| Error::UnknownTokenizer {
                id: id.to_string(),
                known: self.entries.iter().map(|t| t.id.clone()).collect(),
            })
    }

    pub fn get(&self, id: &str) -> Result<Arc<Tokenizer>> {
        if let Some(t) = self.loaded.lock().expect("registry lock").get(id) {
            return Ok(t.clone());
        }
        let t = Arc::new(Tokenizer::load_cached(
            self.entry(id)?,
            Some(&self.state_dir),
        )?);
        self.identities
            .lock()
            .expect("registry lock")
            .insert(id.to_string(), t.identity.clone());
        self.loaded
            .lock()
            .expect("registry lock")
            .insert(id.to_string(), t.clone());
        Ok(t)
    }

    /// Drops a loaded tokenizer (the daemon keeps none between passes: a warm pass needs only
    /// hashes, and a loaded HF tokenizer.json costs tens of MB).
    pub fn unload(&self, id: &str) {
        self.loaded.lock().expect("registry lock").remove(id);
    }

    /// The chat template of tokenizer version `id`, if it renders requests with one (read
    /// and verified once; templates are small).
    pub fn template(&self, id: &str) -> Result<Option<Arc<ChatTemplate>>> {
        if let Some(t) = self.templates.lock().expect("registry lock").get(id) {
            return Ok(t.clone());
        }
        let t = load_template(self.entry(id)?)?.map(Arc::new);
        self.templates
            .lock()
            .expect("registry lock")
            .insert(id.to_string(), t.clone());
        Ok(t)
    }

    pub fn identity(&self, id: &str) -> Result<Identity> {
        if let Some(i) = self.identities.lock().expect("registry lock").get(id) {
            return Ok(i.clone());
        }
        let i = identity_of(self.entry(id)?)?;
        self.identities
            .lock()
            .expect("registry lock")
            .insert(id.to_string(), i.clone());
        Ok(i)
    }
}
