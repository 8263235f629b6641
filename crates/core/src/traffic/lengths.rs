//! Block lengths where no tokenizer serves the model (Claude's is private): from the logs' own
//! usage where it pins them, from the provider's count endpoint (done by the main crate, which
//! fills [`Lengths`] through [`Lengths::insert`]: the core does no network IO), or from a
//! stand-in tokenizer the user names (approximate). Never a guess: a block no source covers
//! is an error naming the flags that would help.
//!
//! Usage pins lengths through linear equations over a request's blocks: Anthropic's
//! `cache_read_input_tokens + cache_creation_input_tokens` is the length up to the request's
//! last breakpoint (when it cached anything), and `input + read + creation` the whole
//! request's. Blocks that always follow one another (same predecessor and successor in every
//! request, no breakpoint, section change or request end between them) form a **run**, one
//! unknown: its length sits on its last block and the others get 0, which no breakpoint can
//! see (a run never spans one). Equations with one unknown run are solved, repeatedly.
//!
//! Without ids, blocks get **pseudo ids** ([`pseudo_ids`]): derived from the block's key and the
//! position, so identical blocks give identical ids and different blocks differ at their first
//! token. That is exact for `breakpoints` rules (a hit is a whole-block prefix up to a
//! breakpoint) and approximate for token-prefix rules (two different blocks that start with the
//! same tokens share none here).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

use super::blocks::key_of;
use super::reader::{read_log, ReadStats};
use super::request::Record;
use super::simulate::Limits;
use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;

/// A block's key (as [`super::blocks`] interns it).
pub type Key = [u8; 12];

/// Where a block's length came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Pinned by the logs' usage.
    Usage,
    /// The provider's count endpoint (`--remote`), counts of request prefixes differenced.
    Count,
    /// A stand-in tokenizer the user named (`--stand-in`): approximate.
    StandIn,
}

/// Pseudo ids of a block of `len` tokens: the first from the key's first 32 bits, the rest
/// mixed from the key and the position (splitmix64).
pub fn pseudo_ids(key: &Key, len: usize) -> Vec<u32> {
    let head = u32::from_le_bytes([key[0], key[1], key[2], key[3]]);
    let seed = u64::from_le_bytes([
        key[4], key[5], key[6], key[7], key[8], key[9], key[10], key[11],
    ]);
    (0..len)
        .map(|i| {
            if i == 0 {
                return head;
            }
            let mut z = seed.wrapping_add((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) as u32
        })
        .collect()
}

/// How lengths were found and how well they agree with the logs' usage: in every report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LengthsReport {
    /// `usage`, `count`, `stand-in:<id>`, or a mix (`usage+count`).
    pub source: String,
    /// Distinct blocks, and how many lengths each source gave.
    pub blocks: usize,
    pub by_source: BTreeMap<String, usize>,
    /// Blocks pinned by usage only as part of a run (their run's length is known).
    pub pinned_in_runs: usize,
    pub requests: usize,
    /// Requests whose every block's length usage pinned.
    pub requests_pinned: usize,
    /// A stand-in or the count endpoint gave some lengths: every figure is approximate.
    pub approximate: bool,
    pub calibration: Calibration,
}

/// Predicted total input tokens (the sum of the blocks' lengths) against the logs' usage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Calibration {
    /// Requests with usage the comparison covers.
    pub requests: usize,
    pub exact: usize,
    /// Mean absolute error, % of the usage's total.
    pub mean_abs_pct_error: f64,
    pub max_abs_pct_error: f64,
}

impl LengthsReport {
    /// Two lines for the text reports: the sources, then the calibration.
    pub fn summary(&self, model: &str) -> String {
        let by: Vec<String> = self
            .by_source
            .iter()
            .map(|(k, n)| {
                if k == "usage" && self.pinned_in_runs > 0 {
                    format!("{k} {n} ({} in runs)", self.pinned_in_runs)
                } else {
                    format!("{k} {n}")
                }
            })
            .collect();
        let c = &self.calibration;
        let calibration = if c.requests == 0 {
            "no request carries usage: the error cannot be measured".to_string()
        } else {
            format!(
                "{} request(s), predicted total input tokens off by {:.2}% on average (max {:.2}%), {} exact",
                c.requests, c.mean_abs_pct_error, c.max_abs_pct_error, c.exact
            )
        };
        format!(
            "block lengths of {} (no tokenizer serves it): {} of {} distinct block(s); {} of {} request(s) pinned by usage{}\ncalibration against usage: {calibration}\n",
            crate::escape::Escaped(model),
            by.join(", "),
            self.blocks,
            self.requests_pinned,
            self.requests,
            if self.approximate {
                "; figures approximate"
            } else {
                ""
            },
        )
    }
}

/// Every distinct block's length, by key.
#[derive(Debug, Default)]
pub struct Lengths {
    map: HashMap<Key, (u32, Source)>,
    stand_in: Option<String>,
    label: String,
    pub report: LengthsReport,
}

impl Lengths {
    pub fn get(&self, key: &Key) -> Option<u32> {
        self.map.get(key).map(|v| v.0)
    }

    /// Sets a block's length unless it has one.
    pub fn insert(&mut self, key: Key, len: u32, source: Source) {
        self.map.entry(key).or_insert((len, source));
    }

    /// `lengths:<sources>`, with ` (approximate)` when a stand-in gave some: what reports show
    /// in place of a tokenizer id.
    pub fn label(&self) -> &str {
        &self.label
    }
}

const NONE: u32 = u32::MAX;
const VARIES: u32 = u32::MAX - 1;

/// One request's usage facts: `sum(blocks[from..end]) = value`.
struct Fact {
    from: u32,
    end: u32,
    value: u64,
}

/// One request: its blocks (`seq[start..start + len]`) and what its usage says.
struct Req {
    start: u32,
    len: u32,
    facts: Vec<Fact>,
    total: Option<u64>,
}

/// The distinct blocks of one model's requests and the usage facts about them.
pub struct Gathered {
    pub model: String,
    index: HashMap<Key, u32>,
    keys: Vec<Key>,
    /// The one block that always follows (precedes) each, [`NONE`] or [`VARIES`].
    succ: Vec<u32>,
    pred: Vec<u32>,
    /// A boundary is after the block in some request (end, breakpoint, section change).
    cut_after: Vec<bool>,
    seq: Vec<u32>,
    reqs: Vec<Req>,
}

impl Gathered {
    fn new(model: &str) -> Self {
        Gathered {
            model: model.to_string(),
            index: HashMap::new(),
            keys: Vec::new(),
            succ: Vec::new(),
            pred: Vec::new(),
            cut_after: Vec::new(),
            seq: Vec::new(),
            reqs: Vec::new(),
        }
    }

    /// Distinct blocks.
    pub fn blocks(&self) -> usize {
        self.keys.len()
    }

    fn add(&mut self, rec: &Record, lim: &Limits, log: &Path) -> Result<()> {
        if self.reqs.len() >= lim.requests || self.seq.len() + rec.blocks.len() > lim.block_refs {
            return Err(Error::Other(format!(
                "{}: line {}: block lengths hold at most {} requests and {} block references of one model; split the logs by time",
                log.display(),
                rec.line,
                lim.requests,
                lim.block_refs
            )));
        }
        let start = self.seq.len() as u32;
        let last_bp = rec.blocks.iter().rposition(|b| b.breakpoint);
        let mut prev = NONE;
        for (i, b) in rec.blocks.iter().enumerate() {
            let k = key_of(&b.text);
            let id = *self.index.entry(k).or_insert_with(|| {
                self.keys.push(k);
                self.succ.push(NONE);
                self.pred.push(NONE);
                self.cut_after.push(false);
                (self.keys.len() - 1) as u32
            });
            let link = |slot: &mut u32, v: u32| {
                *slot = match *slot {
                    NONE => v,
                    s if s == v => s,
                    _ => VARIES,
                }
            };
            // The first block of a request has no predecessor: a run cannot start earlier.
            link(
                &mut self.pred[id as usize],
                if i == 0 { VARIES } else { prev },
            );
            if i > 0 {
                link(&mut self.succ[prev as usize], id);
            }
            let next_section = rec.blocks.get(i + 1).map(|n| n.section);
            if b.breakpoint || next_section.is_none_or(|s| s != b.section) {
                self.cut_after[id as usize] = true;
            }
            self.seq.push(id);
            prev = id;
        }
        // The prefix up to the last breakpoint, and the rest of the request: two segments.
        let mut facts = Vec::new();
        let total = rec.usage.map(|u| u.1);
        let n = rec.blocks.len() as u32;
        let head = match (rec.usage, rec.cache_written, last_bp) {
            (Some((read, t)), Some(written), Some(bp))
                if read + written > 0 && read + written <= t =>
            {
                Some((bp as u32 + 1, read + written))
            }
            _ => None,
        };
        match (head, total) {
            (Some((end, v)), Some(t)) => {
                facts.push(Fact {
                    from: 0,
                    end,
                    value: v,
                });
                if end < n {
                    facts.push(Fact {
                        from: end,
                        end: n,
                        value: t - v,
                    });
                }
            }
            (None, Some(t)) => facts.push(Fact {
                from: 0,
                end: n,
                value: t,
            }),
            _ => {}
        }
        self.reqs.push(Req {
            start,
            len: rec.blocks.len() as u32,
            facts,
            total,
        });
        Ok(())
    }

    fn req_blocks(&self, q: &Req) -> &[u32] {
        &self.seq[q.start as usize..(q.start + q.len) as usize]
    }

    /// Runs: for each block, its run and whether it ends the run.
    fn runs(&self) -> (Vec<u32>, Vec<bool>) {
        let n = self.keys.len();
        let joins = |a: usize| -> Option<usize> {
            let b = self.succ[a];
            (b < VARIES
                && !self.cut_after[a]
                && self.pred[b as usize] == a as u32
                && b as usize != a)
                .then_some(b as usize)
        };
        let mut run = vec![NONE; n];
        let mut last = vec![true; n];
        let mut next_run = 0u32;
        let starts: Vec<usize> = (0..n)
            .filter(|&b| {
                let p = self.pred[b];
                !(p < VARIES && joins(p as usize) == Some(b))
            })
            .collect();
        for s in starts {
            let mut b = s;
            while run[b] == NONE {
                run[b] = next_run;
                match joins(b) {
                    Some(c) if run[c] == NONE => {
                        last[b] = false;
                        b = c;
                    }
                    _ => break,
                }
            }
            next_run += 1;
        }
        // Cycles (a block that follows itself through others) are runs of one each.
        for r in run.iter_mut().filter(|r| **r == NONE) {
            *r = next_run;
            next_run += 1;
        }
        (run, last)
    }

    /// The lengths usage pins (see the module doc), and how many blocks and requests.
    pub fn solve_usage(&self) -> Lengths {
        let (run, last) = self.runs();
        let n_runs = run.iter().map(|&r| r as usize + 1).max().unwrap_or(0);
        // Equations over runs: terms (run, multiplicity), value.
        struct Eq {
            terms: Vec<(u32, u64)>,
            value: i128,
            unknown: usize,
        }
        let mut eqs: Vec<Eq> = Vec::new();
        let mut of_run: Vec<Vec<u32>> = vec![Vec::new(); n_runs];
        for q in &self.reqs {
            let blocks = self.req_blocks(q);
            for f in &q.facts {
                let mut terms: BTreeMap<u32, u64> = BTreeMap::new();
                for &b in &blocks[f.from as usize..f.end as usize] {
                    if last[b as usize] {
                        *terms.entry(run[b as usize]).or_default() += 1;
                    }
                }
                let e = eqs.len() as u32;
                for &r in terms.keys() {
                    of_run[r as usize].push(e);
                }
                eqs.push(Eq {
                    unknown: terms.len(),
                    terms: terms.into_iter().collect(),
                    value: f.value as i128,
                });
            }
        }
        // A run's length sits on its last block, so only last blocks count in the equations
        // above: a run is counted once per occurrence.
        let mut solved: Vec<Option<u64>> = vec![None; n_runs];
        let mut work: Vec<u32> = (0..eqs.len() as u32)
            .filter(|&e| eqs[e as usize].unknown == 1)
            .collect();
        while let Some(e) = work.pop() {
            let eq = &eqs[e as usize];
            if eq.unknown != 1 {
                continue;
            }
            let Some(&(r, c)) = eq.terms.iter().find(|(r, _)| solved[*r as usize].is_none()) else {
                continue;
            };
            let rest = eq.value;
            // Inconsistent usage (a negative or fractional length) pins nothing.
            if rest < 0 || rest % c as i128 != 0 || rest / c as i128 > u32::MAX as i128 {
                continue;
            }
            let x = (rest / c as i128) as u64;
            solved[r as usize] = Some(x);
            for &o in &of_run[r as usize] {
                let oe = &mut eqs[o as usize];
                // Terms are sorted by run.
                let c = oe
                    .terms
                    .binary_search_by_key(&r, |t| t.0)
                    .map_or(0, |i| oe.terms[i].1);
                oe.value -= (c * x) as i128;
                oe.unknown -= 1;
                if oe.unknown == 1 {
                    work.push(o);
                }
            }
        }
        let mut l = Lengths::default();
        let mut in_runs = 0;
        for (b, k) in self.keys.iter().enumerate() {
            if let Some(x) = solved[run[b] as usize] {
                let len = if last[b] { x as u32 } else { 0 };
                l.map.insert(*k, (len, Source::Usage));
                let alone =
                    last[b] && (self.pred[b] >= VARIES || run[self.pred[b] as usize] != run[b]);
                in_runs += usize::from(!alone);
            }
        }
        l.report.pinned_in_runs = in_runs;
        l.report.requests_pinned = self
            .reqs
            .iter()
            .filter(|q| {
                self.req_blocks(q)
                    .iter()
                    .all(|&b| solved[run[b as usize] as usize].is_some())
            })
            .count();
        l
    }

    /// Blocks without a length, each with the first request that carries it, for the count
    /// endpoint: (log index, line, position in the request).
    pub fn missing(&self, l: &Lengths, first: &First) -> Vec<(Key, (usize, usize, usize))> {
        self.keys
            .iter()
            .filter(|k| l.get(k).is_none())
            .filter_map(|k| first.get(k).map(|f| (*k, *f)))
            .collect()
    }

    /// How many distinct blocks `l` has no length for.
    pub fn unpinned(&self, l: &Lengths) -> usize {
        self.keys.iter().filter(|k| l.get(k).is_none()).count()
    }

    /// Fills in the report: sources, the label, and the calibration against usage.
    pub fn finish(&self, l: &mut Lengths) {
        let mut by: BTreeMap<String, usize> = BTreeMap::new();
        for k in &self.keys {
            if let Some((_, s)) = l.map.get(k) {
                let name = match s {
                    Source::Usage => "usage".to_string(),
                    Source::Count => "count".to_string(),
                    Source::StandIn => {
                        format!("stand-in:{}", l.stand_in.as_deref().unwrap_or("?"))
                    }
                };
                *by.entry(name).or_default() += 1;
            }
        }
        let source = by.keys().cloned().collect::<Vec<_>>().join("+");
        // A stand-in's lengths are another tokenizer's; counted ones frame every block as text
        // in one user message (docs/traffic.md): both make every figure approximate, and the
        // label, which reports show where a tokenizer id would be (each discover row,
        // simulate's heading), says so.
        l.report.approximate = by
            .keys()
            .any(|k| k.starts_with("stand-in:") || k == "count");
        l.label = if l.report.approximate {
            format!("lengths:{source} (approximate)")
        } else {
            format!("lengths:{source}")
        };
        l.report.source = source;
        l.report.by_source = by;
        l.report.blocks = self.keys.len();
        l.report.requests = self.reqs.len();
        let mut c = Calibration::default();
        let mut sum = 0.0;
        for q in &self.reqs {
            let Some(t) = q.total.filter(|&t| t > 0) else {
                continue;
            };
            let mut p = 0u64;
            let mut complete = true;
            for &b in self.req_blocks(q) {
                match l.get(&self.keys[b as usize]) {
                    Some(n) => p += u64::from(n),
                    None => complete = false,
                }
            }
            if !complete {
                continue;
            }
            let e = p.abs_diff(t) as f64 * 100.0 / t as f64;
            c.requests += 1;
            c.exact += usize::from(p == t);
            sum += e;
            c.max_abs_pct_error = c.max_abs_pct_error.max(e);
        }
        if c.requests > 0 {
            c.mean_abs_pct_error = sum / c.requests as f64;
        }
        l.report.calibration = c;
    }
}

/// A block's first occurrence: (log index, line, position in the request).
pub type First = HashMap<Key, (usize, usize, usize)>;

/// Reads the requests of every model `want` accepts (asked once per model) in `logs`, in one
/// pass: their distinct blocks, usage facts, and each block's first occurrence, bounded by
/// `lim` per model.
pub fn gather(
    logs: &[&Path],
    mut want: impl FnMut(&str) -> bool,
    lim: &Limits,
) -> Result<BTreeMap<String, (Gathered, First)>> {
    let mut out: BTreeMap<String, (Gathered, First)> = BTreeMap::new();
    let mut asked: HashMap<String, bool> = HashMap::new();
    let mut read = ReadStats::default();
    for (f, log) in logs.iter().enumerate() {
        read_log(log, &mut read, |rec| {
            let model = rec.model_name();
            let wanted = match asked.get(&model) {
                Some(&w) => w,
                None => {
                    let w = want(&model);
                    asked.insert(model, w);
                    w
                }
            };
            if wanted {
                gather_record(&mut out, f, &rec, lim, log)?;
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// Adds one record (of log number `f`) to its model's facts.
pub fn gather_record(
    out: &mut BTreeMap<String, (Gathered, First)>,
    f: usize,
    rec: &Record,
    lim: &Limits,
    log: &Path,
) -> Result<()> {
    let (g, first) = out
        .entry(rec.model_name())
        .or_insert_with_key(|m| (Gathered::new(m), First::new()));
    for (i, b) in rec.blocks.iter().enumerate() {
        first.entry(key_of(&b.text)).or_insert((f, rec.line, i));
    }
    g.add(rec, lim, log)
}

/// Gives every block of `model` still without a length its length under `tok` (approximate).
pub fn fill_stand_in(logs: &[&Path], model: &str, tok: &Tokenizer, l: &mut Lengths) -> Result<()> {
    l.stand_in = Some(tok.id.clone());
    let mut read = ReadStats::default();
    for log in logs {
        read_log(log, &mut read, |rec| {
            if rec.model_name() != model {
                return Ok(());
            }
            for b in &rec.blocks {
                let k = key_of(&b.text);
                if l.get(&k).is_none() {
                    let n = tok.encode(&b.text)?.len();
                    l.insert(k, u32::try_from(n).unwrap_or(u32::MAX), Source::StandIn);
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::request::{Api, Block, Section};

    fn rec(blocks: &[(&str, Section, bool)], usage: Option<(u64, u64, u64)>) -> Record {
        Record {
            line: 1,
            api: Api::Anthropic,
            model: "claude-x".into(),
            timestamp: Some(0.0),
            blocks: blocks
                .iter()
                .map(|(t, s, bp)| Block {
                    section: *s,
                    text: t.to_string(),
                    breakpoint: *bp,
                })
                .collect(),
            usage: usage.map(|(r, _, t)| (r, t)),
            cache_written: usage.map(|u| u.1),
            response_id: None,
            compared_with: None,
            diagnosis: None,
            cache_key: None,
            explicit_only: false,
        }
    }

    fn gathered(recs: &[Record]) -> Gathered {
        let mut g = Gathered::new("anthropic/claude-x");
        for r in recs {
            g.add(r, &Limits::default(), Path::new("t.log")).unwrap();
        }
        g
    }

    use Section::{Messages as M, System as S};

    #[test]
    fn usage_pins_the_breakpoint_prefix_then_each_new_turn_as_a_run() {
        // Turn 1: [sys(bp), u1]; turn 2: [sys(bp), u1, a1, u2]: a1 and u2 always together.
        let recs = [
            rec(&[("sys", S, true), ("u1", M, false)], Some((0, 1500, 1510))),
            rec(
                &[
                    ("sys", S, true),
                    ("u1", M, false),
                    ("a1", M, false),
                    ("u2", M, false),
                ],
                Some((1500, 0, 1540)),
            ),
        ];
        let g = gathered(&recs);
        let mut l = g.solve_usage();
        g.finish(&mut l);
        assert_eq!(l.get(&key_of("sys")), Some(1500));
        assert_eq!(l.get(&key_of("u1")), Some(10));
        // u1 ends request 1, so it is cut; a1 and u2 form a run: 30 on u2, 0 on a1.
        assert_eq!(l.get(&key_of("a1")), Some(0));
        assert_eq!(l.get(&key_of("u2")), Some(30));
        assert_eq!(g.unpinned(&l), 0);
        assert_eq!(l.report.pinned_in_runs, 2);
        assert_eq!(l.report.requests_pinned, 2);
        assert_eq!(l.report.source, "usage");
        assert_eq!(l.label(), "lengths:usage");
        assert_eq!(l.report.calibration.requests, 2);
        assert_eq!(l.report.calibration.mean_abs_pct_error, 0.0);
    }

    #[test]
    fn what_usage_cannot_separate_stays_unpinned() {
        // Two system blocks under one breakpoint, each also seen elsewhere: only their sum
        // is known.
        let recs = [
            rec(
                &[("s1", S, false), ("s2", S, true), ("u", M, false)],
                Some((0, 100, 105)),
            ),
            rec(&[("s2", S, false), ("s1", S, true), ("v", M, false)], None),
        ];
        let g = gathered(&recs);
        let l = g.solve_usage();
        // The rest of the request after the breakpoint: total minus read and written.
        assert_eq!(l.get(&key_of("u")), Some(5));
        assert_eq!(l.get(&key_of("s1")), None);
        assert_eq!(g.unpinned(&l), 3);
        // An inconsistent fact (a fraction) pins nothing.
        let recs = [rec(
            &[("x", S, false), ("x", S, true), ("u", M, false)],
            Some((0, 101, 101)),
        )];
        let g = gathered(&recs);
        assert_eq!(g.solve_usage().get(&key_of("x")), None);
    }

    #[test]
    fn facts_past_the_limits_stop_with_one_line_naming_file_and_line() {
        let lim = Limits {
            requests: 1,
            block_refs: 100,
            token_ids: 100,
        };
        let mut g = Gathered::new("anthropic/claude-x");
        let r = rec(&[("s", S, true), ("u", M, false)], None);
        g.add(&r, &lim, Path::new("t.log")).unwrap();
        let e = g.add(&r, &lim, Path::new("t.log")).unwrap_err().to_string();
        assert!(
            e.starts_with("t.log: line 1: block lengths hold at most 1 requests"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn a_conversation_of_1500_turns_logged_at_every_turn_is_solved_in_seconds() {
        // 1,125,000 block references; every turn adds an answer and a question (a run).
        let texts: Vec<String> = (0..3000).map(|i| format!("m{i}")).collect();
        let mut g = Gathered::new("anthropic/claude-x");
        let lim = Limits::default();
        for turn in 1..=1500usize {
            let mut blocks = vec![("sys", S, true)];
            blocks.extend(texts[..2 * turn - 1].iter().map(|t| (t.as_str(), M, false)));
            // 1000 tokens of system prompt, 10 per message.
            let total = 1000 + 10 * (2 * turn as u64 - 1);
            g.add(
                &rec(&blocks, Some((1000, 0, total))),
                &lim,
                Path::new("t.log"),
            )
            .unwrap();
        }
        let started = std::time::Instant::now();
        let mut l = g.solve_usage();
        g.finish(&mut l);
        assert_eq!(g.unpinned(&l), 0);
        assert_eq!(l.report.requests_pinned, 1500);
        assert_eq!(l.report.calibration.exact, 1500);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn pseudo_ids_agree_for_equal_blocks_and_differ_at_the_first_token() {
        let (a, b) = (key_of("a"), key_of("b"));
        assert_eq!(pseudo_ids(&a, 5), pseudo_ids(&a, 5));
        assert_eq!(pseudo_ids(&a, 3), pseudo_ids(&a, 5)[..3]);
        assert_ne!(pseudo_ids(&a, 1), pseudo_ids(&b, 1));
    }
}
