//! `prefix simulate`: the traffic of one model replayed in time order against its cache rule
//! (`data/cache-rules.toml`, through [`crate::cache_rules::Applied::surviving`], the same
//! arithmetic `prefix diff` and the emulator use), with and without warm-ups.
//!
//! Each request's blocks are tokenized (each distinct block once) under the model's tokenizer.
//! The cache holds what earlier requests wrote, each entry until its TTL passes (refreshed when
//! read; engines' `blocks` rules have no TTL). A request reads what the best live entry gives
//! it, writes what it caches beyond that, and pays the rest uncached. Breakpoints (`auto`): one
//! at the end of the last tools/system block. A warm-up at an interval re-sends the most recent
//! request's prefix up to its breakpoint. When logs carry `usage`, predicted cached tokens are
//! compared with the observed ones, per request and per hour.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use rayon::prelude::*;

use super::blocks::{BlockId, BlockStore, Keep};
use super::reader::{read_log, ReadStats};
use super::reasons::{self, Predicted, ReasonSummary, RequestReason};
use super::request::Section;
use crate::analyzer::Analyzer;
use crate::cache_rules::{Applied, Layout, RuleKind};
use crate::diagnostics::Diagnosis;
use crate::error::{Error, Result};
use crate::fingerprint::common_prefix_len;

/// Cache entries kept for rules without a TTL (engines evict least recently used).
const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    /// `none`, `every N s` or `cron EXPR`.
    pub warmup: String,
    /// Warm-up interval in seconds, for the fixed cadences.
    pub warmup_every_secs: Option<u64>,
    pub requests: usize,
    pub read: u64,
    pub written: u64,
    pub uncached: u64,
    /// Tokens the warm-ups themselves sent (read + written + uncached).
    pub warmup_tokens: u64,
    #[serde(serialize_with = "crate::money::serialize")]
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HourFit {
    /// Unix seconds of the hour's start.
    pub hour: i64,
    pub requests: usize,
    pub predicted_read: u64,
    /// From the logs' `usage`, when the hour's requests carry it.
    pub observed_read: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Simulation {
    pub model: String,
    pub rule: String,
    pub tokenizer: String,
    pub read: ReadStats,
    /// Requests of the model without a timestamp (not replayed).
    pub without_timestamp: usize,
    /// Requests of the model with more than 65,535 blocks (not replayed).
    pub too_many_blocks: usize,
    /// Breakpoints the warm-up comparison uses. The per-hour and per-request fits compare the
    /// logs' usage with the breakpoints as sent (what the provider saw).
    pub placement: Placement,
    pub without_warmup: Totals,
    /// Each candidate warm-up interval, cheapest first.
    pub warmups: Vec<Totals>,
    /// Per hour, predicted cached tokens without warm-ups (as the logs were made), and the
    /// observed ones when the logs carry `usage`.
    pub hours: Vec<HourFit>,
    /// Each breakpoint placement without warm-ups, cheapest first (`breakpoints` rules only).
    pub placements: Vec<PlacementCost>,
    /// Per request with `usage`: how close the predictions are, and the worst ones.
    pub requests_fit: FitSummary,
    /// Every request with `usage` (`--per-request`), in time order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_request: Vec<RequestFit>,
    /// Why each request missed, as predicted (without warm-ups, breakpoints as sent), and
    /// against the providers' diagnostics where the logs carry them.
    pub reasons: ReasonSummary,
    /// Every request's predicted reason (`--per-request`), disagreements with the provider
    /// first, then in time order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_request_reasons: Vec<RequestReason>,
    /// Where block lengths came from when no tokenizer serves the model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lengths: Option<super::lengths::LengthsReport>,
}

/// One request of the model, its blocks by reference (ids stay in the [`BlockStore`]).
struct Req {
    t: f64,
    /// Its blocks: `seq[start..start + len]`.
    start: u32,
    len: u16,
    /// The last tools block and the last tools/system block.
    last_tools: Option<u16>,
    last_fixed: Option<u16>,
    /// Blocks the client marked as breakpoints.
    sent: Vec<u16>,
    observed: Option<u64>,
    file: u32,
    line: u32,
    /// The response's id and the id the request named for diagnostics, hashed ([`id_hash`]).
    response: Option<u64>,
    compared_with: Option<u64>,
    /// OpenAI's `prompt_cache_key`, hashed.
    cache_key: Option<u64>,
    /// The provider's diagnostics of the response.
    diagnosis: Option<Diagnosis>,
}

/// A response id as a 64-bit hash: the replay only matches ids, never shows them.
fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The traffic of one model, ready to replay any number of times.
struct Traffic {
    store: BlockStore,
    seq: Vec<BlockId>,
    reqs: Vec<Req>,
    /// Response ids of other models' requests (at most [`Limits::requests`]): a request that
    /// names one as its comparison switched models.
    other_models: HashSet<u64>,
}

impl Traffic {
    /// The request's ids and the token offset where each block ends.
    fn fill(&self, q: &Req, ids: &mut Vec<u32>, ends: &mut Vec<usize>) {
        ids.clear();
        ends.clear();
        let s = q.start as usize;
        for &b in &self.seq[s..s + q.len as usize] {
            ids.extend_from_slice(self.store.ids(b).unwrap_or_default());
            ends.push(ids.len());
        }
    }
}

/// Where a request's cache breakpoints go (rules of the `breakpoints` kind; the others cache
/// the longest prefix on their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// One at the end of the last tools/system block.
    Auto,
    /// Where the client put them (`cache_control`, `prompt_cache_breakpoint`).
    AsSent,
    /// One at the end of the last tools block (the system prompt uncached).
    Tools,
    /// `auto` plus one at the end of the request, so the next turn of a conversation reads it.
    Conversation,
}

impl Placement {
    pub const ALL: [Placement; 4] = [
        Placement::Auto,
        Placement::AsSent,
        Placement::Tools,
        Placement::Conversation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Placement::Auto => "auto",
            Placement::AsSent => "as-sent",
            Placement::Tools => "tools",
            Placement::Conversation => "conversation",
        }
    }

    /// The block a warm-up re-sends up to (its breakpoint): the placement's last breakpoint
    /// in the tools/system blocks.
    fn warm_end(self, q: &Req) -> Option<usize> {
        let fixed = q.last_fixed.map(usize::from)?;
        match self {
            Placement::Auto | Placement::Conversation => Some(fixed),
            Placement::Tools => q.last_tools.map(usize::from),
            Placement::AsSent => q
                .sent
                .iter()
                .map(|&b| b as usize)
                .filter(|&b| b <= fixed)
                .max(),
        }
    }

    fn of(self, q: &Req) -> Vec<usize> {
        let last = (q.len as usize).checked_sub(1);
        let mut v: Vec<usize> = match self {
            Placement::Auto => q.last_fixed.map(usize::from).into_iter().collect(),
            Placement::AsSent => q.sent.iter().map(|&b| b as usize).collect(),
            Placement::Tools => q.last_tools.map(usize::from).into_iter().collect(),
            Placement::Conversation => q
                .last_fixed
                .map(usize::from)
                .into_iter()
                .chain(last)
                .collect(),
        };
        v.dedup();
        v
    }
}

/// The cost of the traffic, without warm-ups, with one breakpoint placement.
#[derive(Debug, Clone, Serialize)]
pub struct PlacementCost {
    pub placement: Placement,
    pub read: u64,
    pub written: u64,
    pub uncached: u64,
    #[serde(serialize_with = "crate::money::serialize")]
    pub cost_usd: f64,
}

/// Predicted against observed cached tokens of one request that carries `usage`.
#[derive(Debug, Clone, Serialize)]
pub struct RequestFit {
    pub file: String,
    pub line: usize,
    pub predicted_read: u64,
    pub observed_read: u64,
}

/// How the requests with `usage` compare with their predictions.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FitSummary {
    pub requests_with_usage: usize,
    pub exact: usize,
    /// Within 10% of the observed (or both under 128 tokens apart).
    pub close: usize,
    pub mean_abs_error: f64,
    /// The requests furthest from their prediction, worst first.
    pub worst: Vec<RequestFit>,
}

/// Requests listed in [`FitSummary::worst`].
const WORST: usize = 10;

struct Entry {
    /// The `prompt_cache_key` that wrote it (OpenAI routes by it: another key never reads it).
    key: Option<u64>,
    ids: Vec<u32>,
    ends: Vec<usize>,
    bps: Vec<usize>,
    expires: f64,
    used: f64,
}

/// When warm-ups run.
pub enum Warmups {
    None,
    Every(u64),
    Cron(Box<crate::schedule::Schedule>, String),
}

impl Warmups {
    fn label(&self) -> String {
        match self {
            Warmups::None => "none".into(),
            Warmups::Every(s) => format!("every {s} s"),
            Warmups::Cron(_, e) => format!("cron {e}"),
        }
    }

    /// The first tick at or after `t` (Unix seconds); `start` anchors fixed intervals.
    fn next(&self, t: f64, start: f64) -> Option<f64> {
        match self {
            Warmups::None => None,
            Warmups::Every(s) => {
                let s = *s as f64;
                Some(start + ((t - start) / s).ceil().max(0.0) * s)
            }
            Warmups::Cron(c, _) => {
                let at = chrono::DateTime::from_timestamp(t.ceil() as i64 - 1, 0)?;
                c.after(&at).next().map(|d| d.timestamp() as f64)
            }
        }
    }
}

/// Replays the traffic (sorted by time) with `warmups` and breakpoints at `placement`;
/// returns totals and each request's predicted read. Its cache may hold `max_cached` ids.
fn replay(
    a: &Applied,
    traffic: &Traffic,
    warmups: &Warmups,
    placement: Placement,
    max_cached: usize,
) -> Result<(Totals, Vec<u64>)> {
    let reqs = &traffic.reqs;
    let rule = a.rule;
    let ttl = if rule.kind == RuleKind::Blocks {
        f64::INFINITY
    } else {
        rule.ttl_seconds as f64
    };
    let price = a.model.input_usd_per_mtok / 1e6;
    let mut cache: Vec<Entry> = Vec::new();
    let every = match warmups {
        Warmups::Every(s) => Some(*s),
        _ => None,
    };
    let mut t = Totals {
        warmup: warmups.label(),
        warmup_every_secs: every,
        requests: reqs.len(),
        read: 0,
        written: 0,
        uncached: 0,
        warmup_tokens: 0,
        cost_usd: 0.0,
    };
    let mut per_req = Vec::with_capacity(reqs.len());
    let start = reqs.first().map_or(0.0, |r| r.t);
    let mut next_warm = warmups.next(start, start);
    let mut last_prefix: Option<(Option<u64>, Vec<u32>, Vec<usize>)> = None;
    // Ids the live entries hold.
    let mut cached = 0usize;
    // One request against the cache: (read, written, uncached).
    let mut send = |cache: &mut Vec<Entry>,
                    now: f64,
                    key: Option<u64>,
                    ids: &[u32],
                    ends: &[usize],
                    bps: &[usize]|
     -> Result<(u64, u64, u64)> {
        // Alive while strictly before its expiry, as the emulator and providers count it.
        cache.retain(|e| {
            let alive = e.expires > now;
            if !alive {
                cached -= e.ids.len();
            }
            alive
        });
        let new = Layout {
            len: ids.len(),
            block_ends: ends,
            breakpoints: bps,
        };
        let mut best = (0usize, None);
        for (i, e) in cache.iter().enumerate().filter(|(_, e)| e.key == key) {
            let old = Layout {
                len: e.ids.len(),
                block_ends: &e.ends,
                breakpoints: &e.bps,
            };
            let r = a.surviving(&old, &new, common_prefix_len(&e.ids, ids));
            if r > best.0 {
                best = (r, Some(i));
            }
        }
        if let Some(i) = best.1 {
            cache[i].expires = now + ttl;
            cache[i].used = now;
        }
        let cacheable = a.cacheable(&new);
        let written = cacheable.saturating_sub(best.0);
        if cacheable > 0 && written > 0 {
            cached += ids.len();
            if cached > max_cached {
                return Err(Error::Other(format!(
                    "the simulated cache would hold more than {max_cached} token ids at once (at Unix time {now:.0}); split the logs by time and simulate each part"
                )));
            }
            cache.push(Entry {
                ids: ids.to_vec(),
                ends: ends.to_vec(),
                bps: bps.to_vec(),
                key,
                expires: now + ttl,
                used: now,
            });
            // Engines (no TTL) evict the least recently used; hosted caches expire by TTL.
            if rule.kind == RuleKind::Blocks && cache.len() > MAX_ENTRIES {
                let lru = (0..cache.len())
                    .min_by(|&x, &y| cache[x].used.total_cmp(&cache[y].used))
                    .expect("non-empty");
                cached -= cache.swap_remove(lru).ids.len();
            }
        }
        let read = best.0 as u64;
        Ok((read, written as u64, (ids.len() - best.0 - written) as u64))
    };
    let cost = |r: u64, w: u64, u: u64| {
        price * (r as f64 * a.read_multiplier() + w as f64 * rule.write_multiplier + u as f64)
    };
    let (mut ids, mut ends) = (Vec::new(), Vec::new());
    for q in reqs {
        while let Some(w) = next_warm.filter(|w| *w <= q.t) {
            if let Some((key, ids, ends)) = &last_prefix {
                let bps = [ends.len() - 1];
                let (r, wr, u) = send(&mut cache, w, *key, ids, ends, &bps)?;
                t.warmup_tokens += r + wr + u;
                t.cost_usd += cost(r, wr, u);
            }
            next_warm = warmups.next(w + 1.0, start).filter(|n| *n > w);
        }
        traffic.fill(q, &mut ids, &mut ends);
        let bps = placement.of(q);
        let (r, w, u) = send(&mut cache, q.t, q.cache_key, &ids, &ends, &bps)?;
        t.read += r;
        t.written += w;
        t.uncached += u;
        t.cost_usd += cost(r, w, u);
        per_req.push(r);
        if let Some(b) = placement.warm_end(q) {
            let end = ends[b];
            last_prefix = Some((q.cache_key, ids[..end].to_vec(), ends[..=b].to_vec()));
        }
    }
    Ok((t, per_req))
}

/// Candidate warm-up intervals, seconds.
const CADENCES: [u64; 8] = [60, 120, 240, 270, 300, 600, 1800, 3300];

/// What to replay besides the built-in cadences.
pub struct Options {
    pub warmup: Option<Warmups>,
    pub placement: Placement,
    /// List every request with `usage` (predicted against observed), not only the worst.
    pub per_request: bool,
    pub limits: Limits,
    /// Block lengths for a model no tokenizer serves ([`super::lengths`]).
    pub lengths: Option<std::sync::Arc<super::lengths::Lengths>>,
}

/// What one simulation may hold, so that its memory has a bound whatever the logs hold: each
/// request of the model costs about 200 bytes (its record and its prediction in every replay),
/// each block reference 4 (plus about 40 for a distinct block), each token id 4. Past a limit
/// the run stops with one line naming the file and line where it was passed (split the logs by
/// time); nothing is dropped silently. Figures in `docs/traffic.md`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests of the model replayed.
    pub requests: usize,
    /// Blocks of those requests, counted per request.
    pub block_refs: usize,
    /// Token ids of the distinct blocks; a quarter of it is what one replay's cache may hold.
    pub token_ids: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            requests: 2_000_000,
            block_refs: 16_000_000,
            token_ids: 64_000_000,
        }
    }
}

pub fn simulate(a: &Analyzer, logs: &[&Path], model: &str, o: Options) -> Result<Simulation> {
    let applied = a.rules.for_model(model).ok_or_else(|| {
        Error::Other(format!(
            "no cache rule for `{model}` in {}",
            a.config.cache_rules.display()
        ))
    })?;
    let store = match (a.bare_tokenizer_for(model), &o.lengths) {
        (Some(entry), _) => BlockStore::new(a.tokenizers.get(&entry.id)?, Keep::All, false),
        (None, Some(l)) => BlockStore::from_lengths(l.clone(), Keep::All, false),
        (None, None) => {
            return Err(Error::Other(format!(
                "no registered tokenizer serves `{model}` (models globs of [[tokenizer]])"
            )))
        }
    };
    let mut tokenizer = store.label().to_string();
    // Pseudo ids are exact at whole-block breakpoints only (the `lengths` report says so too).
    if o.lengths.is_some()
        && applied.rule.kind != RuleKind::Breakpoints
        && !tokenizer.ends_with("(approximate)")
    {
        tokenizer.push_str(" (approximate)");
    }
    let mut read = ReadStats::default();
    let mut traffic = Traffic {
        store: store.with_max_ids(o.limits.token_ids),
        seq: Vec::new(),
        reqs: Vec::new(),
        other_models: HashSet::new(),
    };
    let mut without_timestamp = 0;
    let mut too_many_blocks = 0;
    let lim = o.limits;
    for (f, log) in logs.iter().enumerate() {
        read_log(log, &mut read, |rec| {
            if rec.model_name() != model {
                if let Some(id) = &rec.response_id {
                    if traffic.other_models.len() < lim.requests {
                        traffic.other_models.insert(id_hash(id));
                    }
                }
                return Ok(());
            }
            let Some(ts) = rec.timestamp else {
                without_timestamp += 1;
                return Ok(());
            };
            if rec.blocks.len() > u16::MAX as usize {
                too_many_blocks += 1;
                return Ok(());
            }
            let held = if traffic.reqs.len() >= lim.requests {
                Some(format!("{} requests", lim.requests))
            } else if traffic.seq.len() + rec.blocks.len() > lim.block_refs {
                Some(format!("{} block references", lim.block_refs))
            } else {
                None
            };
            if let Some(what) = held {
                return Err(Error::Other(format!(
                    "{}: line {}: simulate holds at most {what} of one model; split the logs by time and simulate each part",
                    log.display(),
                    rec.line
                )));
            }
            let start = traffic.seq.len() as u32;
            let mut q = Req {
                t: ts,
                start,
                len: rec.blocks.len() as u16,
                last_tools: None,
                last_fixed: None,
                sent: Vec::new(),
                observed: rec.usage.map(|u| u.0),
                file: f as u32,
                line: u32::try_from(rec.line).unwrap_or(u32::MAX),
                response: rec.response_id.as_deref().map(id_hash),
                compared_with: rec.compared_with.as_deref().map(id_hash),
                cache_key: rec.cache_key.as_deref().map(id_hash),
                diagnosis: rec.diagnosis,
            };
            for (i, b) in rec.blocks.iter().enumerate() {
                let id = traffic.store.intern(&b.text).map_err(|e| {
                    Error::Other(format!("{}: line {}: {e}", log.display(), rec.line))
                })?;
                traffic.seq.push(id);
                let i = i as u16;
                match b.section {
                    Section::Tools => {
                        q.last_tools = Some(i);
                        q.last_fixed = Some(i);
                    }
                    Section::System => q.last_fixed = Some(i),
                    Section::Messages => {}
                }
                if b.breakpoint {
                    q.sent.push(i);
                }
            }
            // OpenAI from GPT-5.6 (a breakpoint rule) also caches at the latest message,
            // unless the request asks for explicit breakpoints only.
            let last = rec.blocks.len().checked_sub(1).map(|l| l as u16);
            if let Some(l) = last.filter(|_| {
                rec.api.provider() == "openai"
                    && !rec.explicit_only
                    && applied.rule.kind == RuleKind::Breakpoints
            }) {
                if q.sent.last() != Some(&l) {
                    q.sent.push(l);
                }
            }
            traffic.reqs.push(q);
            Ok(())
        })?;
    }
    traffic.reqs.sort_by(|x, y| x.t.total_cmp(&y.t));
    let placement = o.placement;
    let mut options: Vec<Warmups> = CADENCES.iter().map(|&c| Warmups::Every(c)).collect();
    match o.warmup {
        Some(Warmups::Every(c)) if CADENCES.contains(&c) => {}
        Some(w) => options.push(w),
        None => {}
    }
    options.insert(0, Warmups::None);
    // Every replay is independent: one per core.
    let max_cached = o.limits.token_ids / 4;
    let mut runs: Vec<(Totals, Vec<u64>)> = options
        .par_iter()
        .map(|w| replay(&applied, &traffic, w, placement, max_cached))
        .collect::<Result<_>>()?;
    let (without, mut predicted) = runs.remove(0);
    let mut warmups: Vec<Totals> = runs.into_iter().map(|r| r.0).collect();
    warmups.sort_by(|x, y| x.cost_usd.total_cmp(&y.cost_usd));
    let placements = if applied.rule.kind == RuleKind::Breakpoints {
        let runs: Vec<(Placement, Totals, Vec<u64>)> = Placement::ALL
            .par_iter()
            .map(|&p| {
                let (t, per) = if p == placement {
                    (without.clone(), predicted.clone())
                } else {
                    replay(&applied, &traffic, &Warmups::None, p, max_cached)?
                };
                Ok((p, t, per))
            })
            .collect::<Result<_>>()?;
        let mut costs = Vec::new();
        for (p, t, per) in runs {
            // The logs' usage came from the breakpoints the client sent: the fit compares
            // with that replay, whatever placement drives the warm-ups.
            if p == Placement::AsSent {
                predicted = per;
            }
            costs.push(PlacementCost {
                placement: p,
                read: t.read,
                written: t.written,
                uncached: t.uncached,
                cost_usd: t.cost_usd,
            });
        }
        costs.sort_by(|x, y| x.cost_usd.total_cmp(&y.cost_usd));
        costs
    } else {
        Vec::new()
    };
    // The fit's replay: breakpoints as sent for breakpoint rules (what the provider saw).
    let fit_placement = if applied.rule.kind == RuleKind::Breakpoints {
        Placement::AsSent
    } else {
        placement
    };
    let why = predict_reasons(&applied, &traffic, &predicted, fit_placement);
    let mut per_request_reasons = Vec::new();
    if o.per_request {
        for (q, (p, same)) in traffic.reqs.iter().zip(&why) {
            per_request_reasons.push(RequestReason {
                file: logs[q.file as usize].display().to_string(),
                line: q.line as usize,
                predicted: *p,
                reported: q.diagnosis.as_ref().map(reasons::reported_label),
                agrees: q
                    .diagnosis
                    .as_ref()
                    .and_then(|d| reasons::agrees(*p, d))
                    .filter(|_| *same),
            });
        }
        // Stable: time order within each group.
        per_request_reasons.sort_by_key(|r| reasons::disagreement_first(r.agrees));
    }
    let reasons = ReasonSummary::of(
        &why.iter()
            .zip(&traffic.reqs)
            .map(|((p, same), q)| (*p, q.diagnosis, *same))
            .collect::<Vec<_>>(),
    );
    let mut hours: BTreeMap<i64, HourFit> = BTreeMap::new();
    let mut fits: Vec<RequestFit> = Vec::new();
    let mut fit = FitSummary::default();
    let mut abs_error = 0u64;
    for (q, &p) in traffic.reqs.iter().zip(&predicted) {
        let h = (q.t as i64).div_euclid(3600) * 3600;
        let e = hours.entry(h).or_insert(HourFit {
            hour: h,
            requests: 0,
            predicted_read: 0,
            observed_read: None,
        });
        e.requests += 1;
        e.predicted_read += p;
        if let Some(obs) = q.observed {
            e.observed_read = Some(e.observed_read.unwrap_or(0) + obs);
            fit.requests_with_usage += 1;
            let err = p.abs_diff(obs);
            abs_error += err;
            fit.exact += usize::from(err == 0);
            fit.close += usize::from(err * 10 <= obs || err < 128);
            fits.push(RequestFit {
                file: logs[q.file as usize].display().to_string(),
                line: q.line as usize,
                predicted_read: p,
                observed_read: obs,
            });
        }
    }
    if fit.requests_with_usage > 0 {
        fit.mean_abs_error = abs_error as f64 / fit.requests_with_usage as f64;
    }
    let per_request = if o.per_request {
        fits.clone()
    } else {
        Vec::new()
    };
    fits.sort_by_key(|f| std::cmp::Reverse(f.predicted_read.abs_diff(f.observed_read)));
    fits.retain(|f| f.predicted_read != f.observed_read);
    fits.truncate(WORST);
    fit.worst = fits;
    Ok(Simulation {
        model: model.to_string(),
        rule: applied.rule.id.clone(),
        tokenizer,
        read,
        without_timestamp,
        too_many_blocks,
        placement,
        without_warmup: without,
        warmups,
        placements,
        hours: hours.into_values().collect(),
        requests_fit: fit,
        per_request,
        reasons,
        per_request_reasons,
        lengths: o.lengths.as_ref().map(|l| {
            let mut r = l.report.clone();
            // Pseudo ids are exact at whole-block breakpoints only.
            r.approximate |= applied.rule.kind != RuleKind::Breakpoints;
            r
        }),
    })
}

/// The sections of a request's blocks: tools, system, messages (ranges of `q`'s blocks).
fn sections(q: &Req) -> [std::ops::Range<usize>; 3] {
    let tools = q.last_tools.map_or(0, |t| t as usize + 1);
    let fixed = q.last_fixed.map_or(0, |t| t as usize + 1).max(tools);
    [0..tools, tools..fixed, fixed..q.len as usize]
}

/// Each request's predicted outcome, in `traffic.reqs` order, from the replay's predicted
/// reads (`predicted`, breakpoints at `placement`).
///
/// A request is compared with its reference: the request it named for diagnostics when the
/// logs hold it (another model's: `model_changed`; one they do not hold makes the prediction
/// not comparable with the provider's, which used that one), else the latest earlier request with the
/// same first block, else the latest earlier request. The first part that differs, in the
/// order the providers compare them, is the reason: the `prompt_cache_key`, the tools, the
/// system blocks, the messages (when the reference's are not where this request's start).
/// With the structure unchanged, a request that reads less than the reference leaves cacheable
/// lost it to the TTL (or, for engines, to eviction); one with nothing cacheable is below the
/// minimum, or marks no breakpoint.
fn predict_reasons(
    a: &Applied,
    traffic: &Traffic,
    predicted: &[u64],
    placement: Placement,
) -> Vec<(Predicted, bool)> {
    let blocks = |q: &Req| {
        let s = q.start as usize;
        &traffic.seq[s..s + q.len as usize]
    };
    let mut by_id: HashMap<u64, usize> = HashMap::new();
    let mut by_first: HashMap<BlockId, usize> = HashMap::new();
    let mut last: Option<usize> = None;
    let (mut ids, mut ends) = (Vec::new(), Vec::new());
    let (mut ref_ids, mut ref_ends) = (Vec::new(), Vec::new());
    let mut out = Vec::with_capacity(traffic.reqs.len());
    for (i, q) in traffic.reqs.iter().enumerate() {
        let first = blocks(q).first().copied();
        let named = q.compared_with.and_then(|h| {
            if let Some(&j) = by_id.get(&h) {
                Some(Some(j))
            } else if traffic.other_models.contains(&h) {
                Some(None)
            } else {
                None
            }
        });
        // A named comparison the logs do not hold: predicted against another reference.
        let same_reference = q.compared_with.is_none() || named.is_some();
        let reference = match named {
            Some(Some(j)) => Some(j),
            Some(None) => {
                out.push((Predicted::ModelChanged, true));
                remember(q, i, first, &mut by_id, &mut by_first, &mut last);
                continue;
            }
            None => first.and_then(|b| by_first.get(&b).copied()).or(last),
        };
        let p = match reference {
            None => Predicted::FirstRequest,
            Some(j) => {
                let r = &traffic.reqs[j];
                let (qs, rs) = (sections(q), sections(r));
                let (qb, rb) = (blocks(q), blocks(r));
                if q.cache_key != r.cache_key {
                    Predicted::CacheKeyChanged
                } else if qb[qs[0].clone()] != rb[rs[0].clone()] {
                    Predicted::ToolsChanged
                } else if qb[qs[1].clone()] != rb[rs[1].clone()] {
                    Predicted::SystemChanged
                } else if !qb[qs[2].clone()].starts_with(&rb[rs[2].clone()]) {
                    Predicted::MessagesChanged
                } else {
                    traffic.fill(q, &mut ids, &mut ends);
                    traffic.fill(r, &mut ref_ids, &mut ref_ends);
                    let (bps, ref_bps) = (placement.of(q), placement.of(r));
                    let new = Layout {
                        len: ids.len(),
                        block_ends: &ends,
                        breakpoints: &bps,
                    };
                    let old = Layout {
                        len: ref_ids.len(),
                        block_ends: &ref_ends,
                        breakpoints: &ref_bps,
                    };
                    let potential = a.surviving(&old, &new, common_prefix_len(&ref_ids, &ids));
                    if a.cacheable(&new) == 0 {
                        if a.rule.kind == RuleKind::Breakpoints && bps.is_empty() {
                            Predicted::NoBreakpoint
                        } else {
                            Predicted::BelowMinimum
                        }
                    } else if predicted[i] >= potential as u64 {
                        Predicted::Hit
                    } else if a.rule.kind == RuleKind::Blocks {
                        Predicted::Evicted
                    } else {
                        Predicted::TtlExpired
                    }
                }
            }
        };
        out.push((p, same_reference));
        remember(q, i, first, &mut by_id, &mut by_first, &mut last);
    }
    out
}

/// Makes request `i` visible to the requests after it.
fn remember(
    q: &Req,
    i: usize,
    first: Option<BlockId>,
    by_id: &mut HashMap<u64, usize>,
    by_first: &mut HashMap<BlockId, usize>,
    last: &mut Option<usize>,
) {
    if let Some(h) = q.response {
        by_id.insert(h, i);
    }
    if let Some(b) = first {
        by_first.insert(b, i);
    }
    *last = Some(i);
}
