//! `prefix diff`: what a tokenizer change does to each registered prompt's cached prefix.
//!
//! A side is a tokenizer and, for self-hosted engines, the chat template it renders requests
//! with: a template revision with the same tokenizer file changes the rendered ids as surely
//! as a new vocabulary, and the report names which of the two changed ([`Cause`]).
//!
//! Per prompt: token counts under both tokenizers, whether the fingerprint changed, the first
//! divergent token and block, the byte ranges of text that now tokenize differently, and per
//! cache rule of the prompt's models the tokens that survive, the tokens to write again and
//! what that costs. Ids are compared only when both tokenizers share a vocabulary (the same
//! id -> bytes table); otherwise nothing survives by definition.

use rayon::prelude::*;
use serde::Serialize;

use crate::cache_rules::{CacheRules, Layout};
use crate::error::Result;
use crate::fingerprint::{self, first_divergent_block};
use crate::prefix::Rendering;
use crate::prefix::TokenizedPrefix;
use crate::prompt::Prompt;
use crate::template::ChatTemplate;
use crate::tokenizer::Tokenizer;

/// One side of a diff: a tokenizer, and the chat template it renders requests with (if any).
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub tokenizer: &'a Tokenizer,
    pub template: Option<&'a ChatTemplate>,
}

/// What differs between the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Same tokenizer content and same rendering.
    Nothing,
    /// The tokenizer changed (file or spec); rendering, if any, is the same.
    Tokenizer,
    /// Same tokenizer, different chat template (or one side renders, the other does not).
    Rendering,
    /// Both changed.
    TokenizerAndRendering,
}

impl Cause {
    fn of(from: Side, to: Side) -> Self {
        let ti = |s: Side| {
            (
                s.tokenizer.identity.file_sha256.clone(),
                s.tokenizer.identity.spec_sha256.clone(),
                s.tokenizer.identity.format,
            )
        };
        let tokenizer = ti(from) != ti(to);
        let rendering = from.template.map(|t| &t.sha256) != to.template.map(|t| &t.sha256)
            || from.template.map(|t| (&t.bos_token, &t.eos_token))
                != to.template.map(|t| (&t.bos_token, &t.eos_token));
        match (tokenizer, rendering) {
            (false, false) => Self::Nothing,
            (true, false) => Self::Tokenizer,
            (false, true) => Self::Rendering,
            (true, true) => Self::TokenizerAndRendering,
        }
    }
}

/// How many divergent byte ranges a report lists per prompt.
pub const MAX_RANGES: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct TokenizerSide {
    pub id: String,
    pub format: String,
    pub file_sha256: String,
    pub vocab_hash: String,
    pub vocab_size: usize,
    /// sha256 of the chat template this side renders with; `None`: bare segments.
    pub template_sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub from: TokenizerSide,
    pub to: TokenizerSide,
    /// Both tokenizers map ids to the same bytes, so ids are comparable.
    pub same_vocabulary: bool,
    /// What changed between the sides: the tokenizer, the rendering, or both.
    pub cause: Cause,
    pub block_size: usize,
    pub prompts: Vec<PromptDiff>,
    /// Prompts that could not be rendered or tokenized on a side, with the one-line error:
    /// each fails alone, every other prompt is in `prompts` (issue #19).
    pub failed: Vec<FailedPrompt>,
    pub summary: Summary,
}

/// A prompt that could not be diffed: which side failed and why (one line, redacted by the
/// caller's redaction path where the error came from a template).
#[derive(Debug, Clone, Serialize)]
pub struct FailedPrompt {
    pub prompt: String,
    /// `from` or `to`.
    pub side: &'static str,
    pub error: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PromptDiff {
    pub prompt: String,
    pub from_tokens: usize,
    pub to_tokens: usize,
    pub from_fingerprint: String,
    pub to_fingerprint: String,
    pub fingerprint_changed: bool,
    /// Index of the first token that differs; `None` when the sequences are equal.
    pub first_divergent_token: Option<usize>,
    /// Byte offset in the text where that token starts.
    pub first_divergent_byte: Option<usize>,
    pub first_divergent_block: Option<usize>,
    /// The first few byte ranges `[start, end)` of text that tokenize differently.
    pub divergent_ranges: Vec<(usize, usize)>,
    pub divergent_range_count: usize,
    pub breakpoints: Vec<BreakpointDiff>,
    pub rules: Vec<RuleImpact>,
    /// Models of the prompt that no cache rule covers.
    pub models_without_rule: Vec<String>,
    /// Models of the prompt that the `from` tokenizer does not serve (its registry entry's
    /// `models` globs): a diff speaks only of the models whose cache the upgrade touches.
    pub models_not_served: Vec<String>,
    pub explanation: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BreakpointDiff {
    pub segment: String,
    pub from_tokens: usize,
    pub to_tokens: usize,
    pub changed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleImpact {
    pub model: String,
    pub rule: String,
    /// Tokens served from cache per request before the change (steady state).
    pub cached_before: usize,
    /// Of those, tokens still served from cache right after the change.
    pub surviving: usize,
    /// Tokens that must be written again to get back to steady state.
    pub rewrite: usize,
    /// Extra spend per day while requests miss on the rewritten tokens (upper bound: no
    /// warm-up refills the cache), USD.
    #[serde(serialize_with = "crate::money::serialize")]
    pub cold_cost_per_day_usd: f64,
    /// One write of the rewritten tokens, USD (per cache copy).
    #[serde(serialize_with = "crate::money::serialize")]
    pub rewrite_cost_usd: f64,
    /// Prefix input cost per day in steady state, before and after, USD.
    #[serde(serialize_with = "crate::money::serialize")]
    pub steady_cost_per_day_before_usd: f64,
    #[serde(serialize_with = "crate::money::serialize")]
    pub steady_cost_per_day_after_usd: f64,
    /// Engines (`blocks` rules): survival counted in the engine's KV-cache blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_blocks: Option<EngineBlocks>,
}

/// An engine's view of a change: its prefix cache holds whole blocks (vLLM 16 tokens, SGLang
/// pages), each keyed by its tokens and its parent's, so a block survives only when every token
/// up to its end is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EngineBlocks {
    /// The engine's block size (the rule's `block_size`).
    pub block_size: usize,
    /// Full blocks served from cache before the change.
    pub cached_before: usize,
    /// Of those, blocks still served right after it.
    pub surviving: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Prompts diffed (the failed ones are counted apart).
    pub prompts: usize,
    /// Prompts that could not be rendered or tokenized on a side.
    pub failed: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub from_tokens: usize,
    pub to_tokens: usize,
    #[serde(serialize_with = "crate::money::serialize")]
    pub cold_cost_per_day_usd: f64,
    #[serde(serialize_with = "crate::money::serialize")]
    pub steady_cost_delta_per_day_usd: f64,
}

pub fn side(s: Side) -> TokenizerSide {
    let t = s.tokenizer;
    TokenizerSide {
        id: t.id.clone(),
        format: t.identity.format.to_string(),
        file_sha256: t.identity.file_sha256.clone(),
        vocab_hash: t.vocab_hash.clone(),
        vocab_size: t.vocab_size,
        template_sha256: s.template.map(|t| t.sha256.clone()),
    }
}

/// A prompt's ids on one side: rendered when the side has a template.
fn tokenize(s: Side, p: &Prompt, now: chrono::DateTime<chrono::Utc>) -> Result<TokenizedPrefix> {
    match s.template {
        Some(t) => TokenizedPrefix::rendered(s.tokenizer, &Rendering::new(t, p, now)?, p, true),
        None => TokenizedPrefix::new(s.tokenizer, p, true),
    }
}

/// Diffs every prompt between two sides. `served` is the `models` glob list of the `from`
/// tokenizer's registry entry: only those of a prompt's models are priced. `now` is the time
/// templates that read the clock render. A prompt that cannot be rendered or tokenized on a
/// side is listed in [`DiffReport::failed`]; every other prompt is still diffed.
pub fn diff(
    from: Side,
    to: Side,
    prompts: &[&Prompt],
    rules: &CacheRules,
    block_size: usize,
    served: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<DiffReport> {
    let same_vocabulary = from.tokenizer.vocab_hash == to.tokenizer.vocab_hash;
    let cause = Cause::of(from, to);
    let results: Vec<std::result::Result<PromptDiff, FailedPrompt>> = prompts
        .par_iter()
        .map(|p| {
            let fail = |side: &'static str| {
                move |e: crate::error::Error| FailedPrompt {
                    prompt: p.id.clone(),
                    side,
                    error: e.to_string(),
                }
            };
            let a = tokenize(from, p, now).map_err(fail("from"))?;
            let b = tokenize(to, p, now).map_err(fail("to"))?;
            Ok(diff_prompt(
                p,
                &a,
                &b,
                same_vocabulary,
                cause,
                rules,
                block_size,
                served,
            ))
        })
        .collect();
    let mut prompts = Vec::with_capacity(results.len());
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(d) => prompts.push(d),
            Err(f) => failed.push(f),
        }
    }
    let changed = prompts.iter().filter(|d| d.fingerprint_changed).count();
    let summary = Summary {
        prompts: prompts.len(),
        failed: failed.len(),
        changed,
        unchanged: prompts.len() - changed,
        from_tokens: prompts.iter().map(|d| d.from_tokens).sum(),
        to_tokens: prompts.iter().map(|d| d.to_tokens).sum(),
        cold_cost_per_day_usd: prompts
            .iter()
            .flat_map(|d| &d.rules)
            .map(|r| r.cold_cost_per_day_usd)
            .sum(),
        steady_cost_delta_per_day_usd: prompts
            .iter()
            .flat_map(|d| &d.rules)
            .map(|r| r.steady_cost_per_day_after_usd - r.steady_cost_per_day_before_usd)
            .sum(),
    };
    Ok(DiffReport {
        from: side(from),
        to: side(to),
        same_vocabulary,
        cause,
        block_size,
        prompts,
        failed,
        summary,
    })
}

#[allow(clippy::too_many_arguments)]
fn diff_prompt(
    p: &Prompt,
    a: &TokenizedPrefix,
    b: &TokenizedPrefix,
    same_vocabulary: bool,
    cause: Cause,
    rules: &CacheRules,
    block_size: usize,
    served: &[String],
) -> PromptDiff {
    let fa = a.fingerprints(p, block_size);
    let fb = b.fingerprints(p, block_size);
    let identical = a.ids == b.ids;
    // With different vocabularies equal ids mean different bytes: nothing is shared.
    let lcp = if same_vocabulary {
        fingerprint::common_prefix_len(&a.ids, &b.ids)
    } else {
        0
    };
    let first_divergent_token = (!identical || !same_vocabulary).then_some(lcp);
    let first_divergent_byte = first_divergent_token.map(|i| {
        a.offsets
            .get(i)
            .or(b.offsets.get(i))
            .map(|o| o.0)
            .unwrap_or(p.text.expose().len())
    });
    let first_divergent_block = if same_vocabulary {
        first_divergent_block(&fa.blocks, &fb.blocks).or_else(|| {
            (fa.blocks.len() != fb.blocks.len()).then_some(fa.blocks.len().min(fb.blocks.len()))
        })
    } else {
        Some(0)
    };
    let (divergent_ranges, divergent_range_count) = if same_vocabulary && !identical {
        let all = divergent_ranges(a, b);
        let n = all.len();
        (all.into_iter().take(MAX_RANGES).collect(), n)
    } else if !same_vocabulary {
        (vec![(0, p.text.expose().len())], 1)
    } else {
        (Vec::new(), 0)
    };
    let breakpoints = fa
        .breakpoints
        .iter()
        .zip(&fb.breakpoints)
        .map(|(x, y)| BreakpointDiff {
            segment: x.segment.clone(),
            from_tokens: x.tokens,
            to_tokens: y.tokens,
            changed: x.fingerprint != y.fingerprint || !same_vocabulary,
        })
        .collect();
    let bp_idx: Vec<usize> = p
        .segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.breakpoint)
        .map(|(i, _)| i)
        .collect();
    let old = Layout {
        len: a.ids.len(),
        block_ends: &a.segment_ends,
        breakpoints: &bp_idx,
    };
    let new = Layout {
        len: b.ids.len(),
        block_ends: &b.segment_ends,
        breakpoints: &bp_idx,
    };
    let mut rules_out = Vec::new();
    let mut models_without_rule = Vec::new();
    let (models, models_not_served): (Vec<&String>, Vec<&String>) =
        p.models.iter().partition(|m| serves(served, m));
    let models_not_served = models_not_served.into_iter().cloned().collect();
    for m in models {
        let Some(ap) = rules.for_model(m) else {
            models_without_rule.push(m.clone());
            continue;
        };
        let price = ap.model.input_usd_per_mtok / 1e6;
        let read = ap.read_multiplier();
        let cached_before = ap.cacheable(&old);
        let cached_after = ap.cacheable(&new);
        let surviving = ap.surviving(&old, &new, lcp);
        let rewrite = cached_after.saturating_sub(surviving);
        let r = p.requests_per_day;
        let steady =
            |len: usize, cached: usize| r * price * (cached as f64 * read + (len - cached) as f64);
        rules_out.push(RuleImpact {
            model: m.clone(),
            rule: ap.rule.id.clone(),
            cached_before,
            surviving,
            rewrite,
            cold_cost_per_day_usd: r * rewrite as f64 * price * (1.0 - read),
            rewrite_cost_usd: rewrite as f64 * price * ap.rule.write_multiplier,
            steady_cost_per_day_before_usd: steady(old.len, cached_before),
            steady_cost_per_day_after_usd: steady(new.len, cached_after),
            engine_blocks: (ap.rule.kind == crate::cache_rules::RuleKind::Blocks).then(|| {
                let bs = ap.rule.block_size.max(1);
                EngineBlocks {
                    block_size: bs,
                    cached_before: cached_before / bs,
                    surviving: surviving / bs,
                }
            }),
        });
    }
    let explanation = if !same_vocabulary {
        format!(
            "vocabulary changed: token ids are not comparable, no cached prefix survives; {} -> {} tokens ({:+.1}%)",
            a.ids.len(),
            b.ids.len(),
            pct(a.ids.len(), b.ids.len())
        )
    } else if identical {
        "unchanged: identical token ids, every cached prefix survives".to_string()
    } else if matches!(cause, Cause::Rendering) {
        // Template tokens map to empty ranges of the prompt text.
        let framing = a
            .offsets
            .get(lcp)
            .or(b.offsets.get(lcp))
            .is_none_or(|o| o.0 == o.1);
        format!(
            "rendering changed (same tokenizer, different chat template): rendered ids diverge at token {lcp}, {}",
            if framing {
                format!("in the template's own text near byte {} of the prompt", first_divergent_byte.unwrap_or(0))
            } else {
                format!("at byte {} of the prompt text", first_divergent_byte.unwrap_or(0))
            }
        )
    } else {
        format!(
            "{}ids diverge at token {} (byte {}); {} region(s) of the text tokenize differently",
            if cause == Cause::TokenizerAndRendering {
                "tokenizer and chat template changed, same vocabulary: "
            } else {
                "same vocabulary, "
            },
            lcp,
            first_divergent_byte.unwrap_or(0),
            divergent_range_count
        )
    };
    PromptDiff {
        prompt: p.id.clone(),
        from_tokens: a.ids.len(),
        to_tokens: b.ids.len(),
        fingerprint_changed: fa.fingerprint != fb.fingerprint
            || !same_vocabulary && !a.ids.is_empty(),
        from_fingerprint: fa.fingerprint,
        to_fingerprint: fb.fingerprint,
        first_divergent_token,
        first_divergent_byte,
        first_divergent_block,
        divergent_ranges,
        divergent_range_count,
        breakpoints,
        rules: rules_out,
        models_without_rule,
        models_not_served,
        explanation,
    }
}

/// Whether a tokenizer whose entry lists `globs` serves `model` (`provider/model`).
pub fn serves(globs: &[String], model: &str) -> bool {
    globs
        .iter()
        .any(|g| crate::cache_rules::glob_match(g, model))
}

fn pct(a: usize, b: usize) -> f64 {
    if a == 0 {
        0.0
    } else {
        (b as f64 - a as f64) * 100.0 / a as f64
    }
}

/// Byte ranges covered by tokens that are not present, with the same span and id, in the
/// other sequence; merged where they overlap or touch.
pub fn divergent_ranges(a: &TokenizedPrefix, b: &TokenizedPrefix) -> Vec<(usize, usize)> {
    use std::collections::HashSet;
    let set = |t: &TokenizedPrefix| -> HashSet<(usize, usize, u32)> {
        t.offsets
            .iter()
            .zip(&t.ids)
            .map(|(o, id)| (o.0, o.1, *id))
            .collect()
    };
    let (sa, sb) = (set(a), set(b));
    let mut spans: Vec<(usize, usize)> = sa
        .difference(&sb)
        .chain(sb.difference(&sa))
        .map(|&(s, e, _)| (s, e))
        .collect();
    spans.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}
