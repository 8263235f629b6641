//! Provider prompt-cache rules as data (`data/cache-rules.toml`) and the survival arithmetic:
//! given the old and new token sequences of a prefix, how many cached tokens each provider
//! would still serve from cache.
//!
//! Three kinds of rule cover every provider in `shared/reference/provider-cache-semantics.md`:
//! - `breakpoints` (Anthropic, Bedrock, OpenAI from GPT-5.6): entries exist only at the
//!   breakpoints the old requests wrote; a new request reads one when the prefix up to it is
//!   identical, its length reaches the model's minimum, and one of the new request's
//!   breakpoints lies within `lookback_blocks` content blocks after it.
//! - `prefix` (OpenAI before GPT-5.6, Gemini implicit): the longest common prefix, if it
//!   reaches the minimum, rounded down to `step` tokens.
//! - `blocks` (vLLM, SGLang): full blocks of the common prefix; with `recompute_last` the
//!   block holding the last token is never a hit.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheRules {
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    /// The provider part of a prompt's `provider/model` names that this rule serves.
    pub provider: String,
    #[serde(default)]
    pub description: String,
    /// Where the rule comes from.
    #[serde(default)]
    pub source: String,
    pub kind: RuleKind,
    /// `prefix` kind: hits grow in steps of this many tokens.
    #[serde(default = "one")]
    pub step: usize,
    /// `blocks` kind: tokens per KV block (or page).
    #[serde(default = "one")]
    pub block_size: usize,
    /// `blocks` kind: the last prompt token is always recomputed, so its block never hits.
    #[serde(default)]
    pub recompute_last: bool,
    /// `breakpoints` kind: how many content blocks back from a breakpoint a read looks for
    /// an entry; 0 means no limit.
    #[serde(default)]
    pub lookback_blocks: usize,
    /// `breakpoints` kind: only the last this many breakpoints are used; 0 means no limit.
    #[serde(default)]
    pub max_breakpoints: usize,
    /// `breakpoints` kind: the n-th breakpoint needs n × the minimum (Bedrock).
    #[serde(default)]
    pub cumulative_minimum: bool,
    /// Price of a cache read, relative to the uncached input price.
    pub read_multiplier: f64,
    /// Price of a cache write, relative to the uncached input price.
    pub write_multiplier: f64,
    /// Lifetime of an entry without a hit, for warm-up planning; 0 means evicted by LRU only.
    #[serde(default)]
    pub ttl_seconds: u64,
    #[serde(rename = "model")]
    pub models: Vec<ModelRule>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRule {
    /// Model name glob (`*` matches any run of characters), without the provider part.
    pub pattern: String,
    /// Shortest prefix that is cached at all.
    #[serde(default)]
    pub min_tokens: usize,
    /// List price of uncached input, USD per million tokens.
    pub input_usd_per_mtok: f64,
    /// Overrides the rule's read multiplier for this model.
    #[serde(default)]
    pub read_multiplier: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Breakpoints,
    Prefix,
    Blocks,
}

fn one() -> usize {
    1
}

/// A prefix as a provider sees it: its length and its content blocks.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    pub len: usize,
    /// Token offset where each content block ends.
    pub block_ends: &'a [usize],
    /// Indices into `block_ends` of the blocks that carry a breakpoint, increasing.
    pub breakpoints: &'a [usize],
}

/// What a rule says about one model, resolved.
#[derive(Debug, Clone, Copy)]
pub struct Applied<'a> {
    pub rule: &'a Rule,
    pub model: &'a ModelRule,
}

impl CacheRules {
    pub fn load(path: &Path) -> Result<Self> {
        Self::parse(path, &crate::data_file::read(path)?)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let invalid = |line, field: String, message: String| Error::Invalid {
            file: path.to_path_buf(),
            line,
            field,
            message,
        };
        let rules: CacheRules = crate::data_file::parse(path, text)?;
        for (i, r) in rules.rules.iter().enumerate() {
            if r.step == 0 || r.block_size == 0 {
                return Err(invalid(
                    1,
                    format!("rule[{i}]"),
                    format!("rule `{}`: step and block_size must be at least 1", r.id),
                ));
            }
        }
        Ok(rules)
    }

    /// The rule and model entry for a `provider/model` name: the first rule of that provider
    /// with a matching model pattern.
    pub fn for_model(&self, name: &str) -> Option<Applied<'_>> {
        let (provider, model) = name.split_once('/')?;
        self.rules
            .iter()
            .filter(|r| r.provider == provider)
            .find_map(|rule| {
                rule.models
                    .iter()
                    .find(|m| glob_match(&m.pattern, model))
                    .map(|model| Applied { rule, model })
            })
    }
}

/// The most a `--price` may say, USD per million input tokens (list prices are under 100).
pub const MAX_PRICE_USD_PER_MTOK: f64 = 10_000.0;

impl CacheRules {
    /// Prices each of `models` (full names, `provider/model`) that `glob` matches at `usd` per
    /// million uncached input tokens, in place of the price its rule gives: for self-hosted
    /// engines, shipped at 0, a compute cost. Each match gets a rule of its own (the exact name,
    /// first in its rule's list, the rest copied). Returns the models repriced; an error when
    /// the price is out of range or no model has a rule.
    pub fn with_price(
        &mut self,
        glob: &str,
        usd: f64,
        models: &[String],
    ) -> std::result::Result<Vec<String>, String> {
        if !(0.0..=MAX_PRICE_USD_PER_MTOK).contains(&usd) {
            return Err(format!(
                "--price {glob}={usd}: the price must be 0 to {MAX_PRICE_USD_PER_MTOK} USD per million tokens"
            ));
        }
        let mut repriced = Vec::new();
        for name in models.iter().filter(|m| glob_match(glob, m)) {
            let Some((provider, model)) = name.split_once('/') else {
                continue;
            };
            let Some((ri, mi)) = self
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.provider == provider)
                .find_map(|(ri, r)| {
                    r.models
                        .iter()
                        .position(|m| glob_match(&m.pattern, model))
                        .map(|mi| (ri, mi))
                })
            else {
                continue;
            };
            let rule = &mut self.rules[ri];
            let mut exact = rule.models[mi].clone();
            exact.pattern = model.to_string();
            exact.input_usd_per_mtok = usd;
            rule.models.insert(0, exact);
            repriced.push(name.clone());
        }
        if repriced.is_empty() {
            return Err(format!(
                "--price {glob}=...: no model of the selected prompts matches `{glob}` and has cache rules"
            ));
        }
        Ok(repriced)
    }
}

impl Applied<'_> {
    pub fn read_multiplier(&self) -> f64 {
        self.model
            .read_multiplier
            .unwrap_or(self.rule.read_multiplier)
    }

    /// Tokens served from cache for a request laid out as `new`, when the cache holds what
    /// requests laid out as `old` wrote and the two id sequences share `lcp` leading tokens.
    pub fn surviving(&self, old: &Layout, new: &Layout, lcp: usize) -> usize {
        let r = self.rule;
        let min = self.model.min_tokens;
        let lcp = lcp.min(old.len).min(new.len);
        match r.kind {
            RuleKind::Prefix => {
                if lcp >= min && lcp > 0 {
                    lcp / r.step * r.step
                } else {
                    0
                }
            }
            RuleKind::Blocks => {
                let full = lcp / r.block_size * r.block_size;
                if r.recompute_last {
                    full.min(new.len.saturating_sub(1) / r.block_size * r.block_size)
                } else {
                    full
                }
            }
            RuleKind::Breakpoints => {
                let used = |bps: &[usize]| -> Vec<usize> {
                    let skip = if r.max_breakpoints > 0 {
                        bps.len().saturating_sub(r.max_breakpoints)
                    } else {
                        0
                    };
                    bps[skip..].to_vec()
                };
                let entries = used(old.breakpoints);
                let reads = used(new.breakpoints);
                entries
                    .iter()
                    .enumerate()
                    .filter_map(|(nth, &k)| {
                        let off = *old.block_ends.get(k)?;
                        let need = if r.cumulative_minimum {
                            min * (nth + 1)
                        } else {
                            min
                        };
                        let same_boundary = new.block_ends.get(k) == Some(&off);
                        let reachable = reads.iter().any(|&j| {
                            j >= k && (r.lookback_blocks == 0 || j - k < r.lookback_blocks)
                        });
                        (same_boundary && off <= lcp && off >= need.max(1) && reachable)
                            .then_some(off)
                    })
                    .max()
                    .unwrap_or(0)
            }
        }
    }

    /// Tokens cached in steady state for a request laid out as `l` (old == new).
    pub fn cacheable(&self, l: &Layout) -> usize {
        self.surviving(l, l, l.len)
    }
}

/// `*`-only glob match.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob() {
        assert!(glob_match(
            "claude-sonnet-4-5*",
            "claude-sonnet-4-5-20250929"
        ));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("gpt-5.*-mini", "gpt-5.1-mini"));
        assert!(!glob_match("gpt-5.*-mini", "gpt-5.1"));
        assert!(!glob_match("gpt-4o", "gpt-4o-mini"));
    }

    /// `diff --price`: only the matching models change price, and only in this copy.
    #[test]
    fn a_price_override_reprices_only_the_matching_models() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/cache-rules.toml");
        let mut rules = CacheRules::load(&path).unwrap();
        let price = |r: &CacheRules, m: &str| r.for_model(m).unwrap().model.input_usd_per_mtok;
        let models: Vec<String> = ["vllm/Qwen3-32B", "vllm/Hermes-4-70B", "openai/gpt-5.5"]
            .map(String::from)
            .into();
        assert_eq!(price(&rules, "vllm/Qwen3-32B"), 0.0);
        let openai = price(&rules, "openai/gpt-5.5");
        let got = rules.with_price("vllm/Qwen3-*", 0.3, &models).unwrap();
        assert_eq!(got, ["vllm/Qwen3-32B"]);
        assert_eq!(price(&rules, "vllm/Qwen3-32B"), 0.3);
        assert_eq!(price(&rules, "vllm/Hermes-4-70B"), 0.0);
        assert_eq!(price(&rules, "openai/gpt-5.5"), openai);
        assert!(rules
            .with_price("sglang/*", 0.3, &models)
            .unwrap_err()
            .contains("no model"));
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e9] {
            assert!(rules.with_price("vllm/*", bad, &models).is_err(), "{bad}");
        }
    }
}
