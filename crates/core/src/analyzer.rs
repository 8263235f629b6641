//! The analyzer: config, prompt registry, tokenizer registry and fingerprint cache together,
//! and the one operation everything else builds on, [`Analyzer::evaluate`]: fingerprint a set
//! of (prompt, tokenizer) pairs, from the cache where possible, in parallel otherwise.
//!
//! Invariant: no network IO here; tokenizer files are local (the daemon's source watcher
//! downloads them before the analyzer sees them).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use crate::cache_rules::CacheRules;
use crate::config::Config;
use crate::error::Result;
use crate::fingerprint::{FingerprintKind, PrefixFingerprints};
use crate::fp_cache::FpCache;
use crate::lifecycle::Lifecycle;
use crate::prefix::{Rendering, TokenizedPrefix};
use crate::prompt::{self, Prompt};
use crate::tokenizer::{Identity, Registry, Tokenizer};

pub struct Analyzer {
    pub config: Config,
    pub prompts: Vec<Prompt>,
    pub tokenizers: Registry,
    pub rules: CacheRules,
    /// Hosted models' retirement dates.
    pub lifecycle: Lifecycle,
    pub cache: FpCache,
}

/// The fingerprints of one (prompt, tokenizer) pair.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub prompt: String,
    pub tokenizer: String,
    pub identity: Identity,
    pub fp: PrefixFingerprints,
    /// What the fingerprint is of: the bare segments, or the rendered request.
    pub kind: FingerprintKind,
    /// True when the result came from the on-disk cache (nothing was tokenized).
    pub from_cache: bool,
}

impl Analyzer {
    /// Loads config, prompts and cache rules. Tokenizers are loaded on first use.
    pub fn load(config_path: &Path) -> Result<Self> {
        let config = Config::load(config_path)?;
        Self::from_config(config)
    }

    pub fn from_config(config: Config) -> Result<Self> {
        if config.tokenizers.is_empty() {
            return Err(crate::error::Error::Invalid {
                file: config.path.clone(),
                line: 1,
                field: "tokenizer".into(),
                message: "no [[tokenizer]] is registered: a config protects nothing without at least one tokenizer version".into(),
            });
        }
        let prompts = prompt::load_dir(&config.prompts_dir)?;
        // A missing or unreadable rules file is the config's `cache_rules` line's fault.
        let rules = CacheRules::load(&config.cache_rules).map_err(|e| match e {
            crate::error::Error::Io { path, source } => crate::error::Error::Invalid {
                file: config.path.clone(),
                line: config.cache_rules_line,
                field: "cache_rules".into(),
                message: format!("{}: {source}", path.display()),
            },
            other => other,
        })?;
        let lifecycle = if config.model_lifecycle_set || config.model_lifecycle.exists() {
            Lifecycle::load(&config.model_lifecycle)?
        } else {
            tracing::warn!(
                file = %config.model_lifecycle.display(),
                "no model lifecycle data: retirement dates are not checked (set model_lifecycle)"
            );
            Lifecycle::default()
        };
        if let Some(e) = &config.emulator {
            config.tokenizer(&e.tokenizer)?;
        }
        for (i, (w, loc)) in config.warmups.iter().enumerate() {
            if let Some(missing) = w
                .prompts
                .iter()
                .find(|id| !prompts.iter().any(|p| &p.id == *id))
            {
                return Err(crate::error::Error::Invalid {
                    file: loc.file.clone(),
                    line: loc.line,
                    field: format!("warmup[{i}].prompts"),
                    message: format!("unknown prompt `{missing}`"),
                });
            }
        }
        Ok(Self {
            tokenizers: Registry::new(&config),
            cache: FpCache::new(&config.state_dir),
            prompts,
            rules,
            lifecycle,
            config,
        })
    }

    /// Every model the config uses, `provider/model`, with who uses it (`prompt <id>`,
    /// `warmup <group>`), in first-use order: what the retirement dates are checked against.
    pub fn used_models(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        let mut add = |model: String, user: String| match out.iter_mut().find(|m| m.0 == model) {
            Some(m) => m.1.push(user),
            None => out.push((model, vec![user])),
        };
        for p in &self.prompts {
            for m in &p.models {
                add(m.clone(), format!("prompt {}", p.id));
            }
        }
        for (w, _) in &self.config.warmups {
            add(
                format!("{}/{}", w.provider.provider().label(), w.model),
                format!("warmup {}", w.group),
            );
        }
        out
    }

    /// The one redaction path ([`crate::redact`]) over every prompt's text and tools: what the
    /// daemon's errors pass through before a log line or `/status`.
    pub fn redactor(&self) -> crate::redact::Redactor<'_> {
        crate::redact::Redactor::new(self.prompts.iter().flat_map(|p| {
            std::iter::once(p.text.expose()).chain(p.tools.iter().map(|t| t.expose()))
        }))
    }

    /// Prompts selected by id (all when `ids` is empty), failing on an unknown id.
    pub fn select_prompts(&self, ids: &[String]) -> Result<Vec<&Prompt>> {
        if ids.is_empty() {
            return Ok(self.prompts.iter().collect());
        }
        ids.iter()
            .map(|id| prompt::find(&self.prompts, id))
            .collect()
    }

    /// The registry entries with local ids and no rendering: the ones that tokenize request
    /// blocks as bare text (log analysis).
    pub fn bare_tokenizers(&self) -> impl Iterator<Item = &crate::config::TokenizerEntry> {
        self.config
            .tokenizers
            .iter()
            .filter(|t| t.template.is_none() && !t.format.is_count())
    }

    /// The first bare tokenizer whose `models` globs serve `provider/model`.
    pub fn bare_tokenizer_for(&self, model: &str) -> Option<&crate::config::TokenizerEntry> {
        self.bare_tokenizers()
            .find(|t| crate::diff::serves(&t.models, model))
    }

    /// The ids an engine serving `model` (`vllm/...`, `sglang/...`) caches for `prompt`: its
    /// request rendered by the first (non-counting) tokenizer entry serving the model, with its
    /// chat template when it has one, else the prompt's bare segments. With the entry's id.
    /// `None` when no entry serves the model.
    pub fn engine_prefix_ids(
        &self,
        prompt: &Prompt,
        model: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<(String, Vec<u32>)>> {
        let Some(entry) = self
            .config
            .tokenizers
            .iter()
            .find(|t| !t.format.is_count() && crate::diff::serves(&t.models, model))
        else {
            return Ok(None);
        };
        let tok = self.tokenizers.get(&entry.id)?;
        let ids = match self.tokenizers.template(&entry.id)? {
            Some(tmpl) => {
                let r = Rendering::new(&tmpl, prompt, now)?;
                TokenizedPrefix::rendered(&tok, &r, prompt, false)?.ids
            }
            None => TokenizedPrefix::new(&tok, prompt, false)?.ids,
        };
        Ok(Some((entry.id.clone(), ids)))
    }

    /// Tokenizer ids selected (all when `ids` is empty), failing on an unknown id.
    pub fn select_tokenizers(&self, ids: &[String]) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(self
                .config
                .tokenizers
                .iter()
                .map(|t| t.id.clone())
                .collect());
        }
        ids.iter()
            .map(|id| self.tokenizers.entry(id).map(|e| e.id.clone()))
            .collect()
    }

    /// Fingerprints every pair, using the cache and tokenizing only the misses. `now` is the
    /// time chat templates that read the clock render (`strftime_now`). Whole or nothing: the
    /// first pair that fails fails the call (the daemon's generations); see
    /// [`Analyzer::evaluate_each`] for a result per pair.
    pub fn evaluate(
        &self,
        pairs: &[(&Prompt, String)],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Evaluation>> {
        self.evaluate_each(pairs, now)?.into_iter().collect()
    }

    /// Like [`Analyzer::evaluate`], with a result per pair, in order: a tokenizer that cannot
    /// load or a template that cannot load or render fails only its own pairs (issue #19).
    /// The outer error is for the request as a whole (a counting tokenizer among the pairs).
    pub fn evaluate_each(
        &self,
        pairs: &[(&Prompt, String)],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Result<Evaluation>>> {
        use crate::error::Error;
        let started = std::time::Instant::now();
        if let Some((_, t)) = pairs
            .iter()
            .find(|(_, t)| self.tokenizers.entry(t).is_ok_and(|e| e.format.is_count()))
        {
            return Err(Error::Other(format!(
                "tokenizer `{t}` counts by calling its provider: the analyzer has no ids for it"
            )));
        }
        // Errors are kept as their one-line text: one tokenizer's error is every one of its
        // pairs' error.
        let failed = |m: &String| Error::Other(m.clone());
        let tok_ids: BTreeSet<&str> = pairs.iter().map(|(_, t)| t.as_str()).collect();
        let tok_ids: Vec<&str> = tok_ids.into_iter().collect();
        let identities: Vec<std::result::Result<Identity, String>> = tok_ids
            .par_iter()
            .map(|id| self.tokenizers.identity(id).map_err(|e| e.to_string()))
            .collect();
        let identity_of =
            |id: &str| &identities[tok_ids.binary_search(&id).expect("collected above")];
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "tokenizer files hashed"
        );
        let bs = self.config.block_size;
        // Render each pair whose tokenizer version has a chat template (cheap next to
        // tokenizing): the rendering is part of the cache key.
        let renderings: Vec<Result<Option<Rendering>>> = pairs
            .par_iter()
            .map(|(p, t)| match self.tokenizers.template(t)? {
                Some(tmpl) => Rendering::new(&tmpl, p, now).map(Some),
                None => Ok(None),
            })
            .collect();
        let looked_up: Vec<Option<(String, Option<PrefixFingerprints>)>> = pairs
            .par_iter()
            .zip(&renderings)
            .map(|((p, t), r)| {
                let (Ok(id), Ok(r)) = (identity_of(t), r) else {
                    return None;
                };
                let key = match r {
                    Some(r) => FpCache::key_rendered(p, id, bs, &r.digest()),
                    None => FpCache::key(p, id, bs),
                };
                let hit = self.cache.get(&key);
                Some((key, hit))
            })
            .collect();
        // Load each tokenizer that has a miss, once, in parallel.
        let needed: BTreeSet<&str> = pairs
            .iter()
            .zip(&looked_up)
            .filter(|(_, l)| matches!(l, Some((_, None))))
            .map(|((_, t), _)| t.as_str())
            .collect();
        let loaded: Vec<(&str, std::result::Result<Arc<Tokenizer>, String>)> = needed
            .into_par_iter()
            .map(|id| (id, self.tokenizers.get(id).map_err(|e| e.to_string())))
            .collect();
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            loaded = loaded.len(),
            "tokenizers loaded"
        );
        Ok(pairs
            .par_iter()
            .zip(looked_up)
            .zip(renderings)
            .map(|(((p, t), looked_up), rendering)| {
                let identity = identity_of(t).as_ref().map_err(failed)?;
                let rendering = rendering?;
                let (key, hit) = looked_up.expect("identity and rendering are fine");
                let (fp, from_cache) = match hit {
                    Some(fp) => (fp, true),
                    None => {
                        let tok = loaded
                            .iter()
                            .find(|(id, _)| id == t)
                            .expect("loaded above")
                            .1
                            .as_ref()
                            .map_err(failed)?;
                        let tp = match &rendering {
                            Some(r) => TokenizedPrefix::rendered(tok, r, p, false)?,
                            None => TokenizedPrefix::new(tok, p, false)?,
                        };
                        let fp = tp.fingerprints(p, bs);
                        self.cache.put(&key, &fp);
                        (fp, false)
                    }
                };
                Ok(Evaluation {
                    prompt: p.id.clone(),
                    tokenizer: t.clone(),
                    identity: identity.clone(),
                    fp,
                    kind: if rendering.is_some() {
                        FingerprintKind::Rendered
                    } else {
                        FingerprintKind::Tokens
                    },
                    from_cache,
                })
            })
            .collect())
    }
}
