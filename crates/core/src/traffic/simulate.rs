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

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use super::reader::{read_log, ReadStats};
use super::request::Section;
use crate::analyzer::Analyzer;
use crate::cache_rules::{Applied, Layout, RuleKind};
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
    pub without_warmup: Totals,
    /// Each candidate warm-up interval, cheapest first.
    pub warmups: Vec<Totals>,
    /// Per hour, predicted cached tokens without warm-ups (as the logs were made), and the
    /// observed ones when the logs carry `usage`.
    pub hours: Vec<HourFit>,
}

struct Req {
    t: f64,
    ids: Vec<u32>,
    layout_ends: Vec<usize>,
    breakpoint: Option<usize>,
    observed: Option<u64>,
}

struct Entry {
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

/// Replays `reqs` (sorted by time) with `warmups`; returns totals and each request's
/// predicted read.
fn replay(a: &Applied, reqs: &[Req], warmups: &Warmups) -> (Totals, Vec<u64>) {
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
    let mut last_prefix: Option<(Vec<u32>, Vec<usize>)> = None;
    // One request against the cache: (read, written, uncached).
    let send = |cache: &mut Vec<Entry>,
                now: f64,
                ids: &[u32],
                ends: &[usize],
                bps: &[usize]|
     -> (u64, u64, u64) {
        // Alive while strictly before its expiry, as the emulator and providers count it.
        cache.retain(|e| e.expires > now);
        let new = Layout {
            len: ids.len(),
            block_ends: ends,
            breakpoints: bps,
        };
        let mut best = (0usize, None);
        for (i, e) in cache.iter().enumerate() {
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
            cache.push(Entry {
                ids: ids.to_vec(),
                ends: ends.to_vec(),
                bps: bps.to_vec(),
                expires: now + ttl,
                used: now,
            });
            if cache.len() > MAX_ENTRIES {
                let lru = (0..cache.len())
                    .min_by(|&x, &y| cache[x].used.total_cmp(&cache[y].used))
                    .expect("non-empty");
                cache.swap_remove(lru);
            }
        }
        let read = best.0 as u64;
        (read, written as u64, (ids.len() - best.0 - written) as u64)
    };
    let cost = |r: u64, w: u64, u: u64| {
        price * (r as f64 * a.read_multiplier() + w as f64 * rule.write_multiplier + u as f64)
    };
    for q in reqs {
        while let Some(w) = next_warm.filter(|w| *w <= q.t) {
            if let Some((ids, ends)) = &last_prefix {
                let bps = [ends.len() - 1];
                let (r, wr, u) = send(&mut cache, w, ids, ends, &bps);
                t.warmup_tokens += r + wr + u;
                t.cost_usd += cost(r, wr, u);
            }
            next_warm = warmups.next(w + 1.0, start).filter(|n| *n > w);
        }
        let bps: Vec<usize> = q.breakpoint.into_iter().collect();
        let (r, w, u) = send(&mut cache, q.t, &q.ids, &q.layout_ends, &bps);
        t.read += r;
        t.written += w;
        t.uncached += u;
        t.cost_usd += cost(r, w, u);
        per_req.push(r);
        if let Some(b) = q.breakpoint {
            let end = q.layout_ends[b];
            last_prefix = Some((q.ids[..end].to_vec(), q.layout_ends[..=b].to_vec()));
        }
    }
    (t, per_req)
}

/// Candidate warm-up intervals, seconds.
const CADENCES: [u64; 8] = [60, 120, 240, 270, 300, 600, 1800, 3300];

pub fn simulate(
    a: &Analyzer,
    logs: &[&Path],
    model: &str,
    warmup: Option<Warmups>,
) -> Result<Simulation> {
    let applied = a.rules.for_model(model).ok_or_else(|| {
        Error::Other(format!(
            "no cache rule for `{model}` in {}",
            a.config.cache_rules.display()
        ))
    })?;
    let entry = a.bare_tokenizer_for(model).ok_or_else(|| {
        Error::Other(format!(
            "no registered tokenizer serves `{model}` (models globs of [[tokenizer]])"
        ))
    })?;
    let tok = a.tokenizers.get(&entry.id)?;
    let mut read = ReadStats::default();
    let mut interned: HashMap<String, (usize, usize)> = HashMap::new();
    let mut pool: Vec<u32> = Vec::new();
    let mut reqs = Vec::new();
    let mut without_timestamp = 0;
    let mut failure = None;
    for log in logs {
        read_log(log, &mut read, |rec| {
            if failure.is_some() || rec.model_name() != model {
                return;
            }
            let Some(ts) = rec.timestamp else {
                without_timestamp += 1;
                return;
            };
            let mut ids = Vec::new();
            let mut ends = Vec::new();
            let mut bp = None;
            for (i, b) in rec.blocks.iter().enumerate() {
                let (s, e) = match interned.get(&b.text) {
                    Some(&r) => r,
                    None => match tok.encode(&b.text) {
                        Ok(v) => {
                            let r = (pool.len(), pool.len() + v.len());
                            pool.extend(v);
                            interned.insert(b.text.clone(), r);
                            r
                        }
                        Err(e) => {
                            failure = Some(e);
                            return;
                        }
                    },
                };
                ids.extend_from_slice(&pool[s..e]);
                ends.push(ids.len());
                if b.section != Section::Messages {
                    bp = Some(i);
                }
            }
            reqs.push(Req {
                t: ts,
                ids,
                layout_ends: ends,
                breakpoint: bp,
                observed: rec.usage.map(|u| u.0),
            });
        })?;
        if let Some(e) = failure.take() {
            return Err(e);
        }
    }
    reqs.sort_by(|x, y| x.t.total_cmp(&y.t));
    let (without, predicted) = replay(&applied, &reqs, &Warmups::None);
    let mut options: Vec<Warmups> = CADENCES.iter().map(|&c| Warmups::Every(c)).collect();
    match warmup {
        Some(Warmups::Every(c)) if CADENCES.contains(&c) => {}
        Some(w) => options.push(w),
        None => {}
    }
    let mut warmups: Vec<Totals> = options
        .iter()
        .map(|w| replay(&applied, &reqs, w).0)
        .collect();
    warmups.sort_by(|x, y| x.cost_usd.total_cmp(&y.cost_usd));
    let mut hours: BTreeMap<i64, HourFit> = BTreeMap::new();
    for (q, p) in reqs.iter().zip(&predicted) {
        let h = (q.t as i64).div_euclid(3600) * 3600;
        let e = hours.entry(h).or_insert(HourFit {
            hour: h,
            requests: 0,
            predicted_read: 0,
            observed_read: None,
        });
        e.requests += 1;
        e.predicted_read += p;
        if let Some(o) = q.observed {
            e.observed_read = Some(e.observed_read.unwrap_or(0) + o);
        }
    }
    Ok(Simulation {
        model: model.to_string(),
        rule: applied.rule.id.clone(),
        tokenizer: tok.id.clone(),
        read,
        without_timestamp,
        without_warmup: without,
        warmups,
        hours: hours.into_values().collect(),
    })
}
