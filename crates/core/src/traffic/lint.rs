//! `prefix lint`: cache-hostile spans in registered prompts and in logged requests.
//!
//! In a prompt's text (and in the system blocks of logged requests): dates and times, UUIDs,
//! other high-entropy ids, per-user paths: anything that is rendered per request, user or day
//! makes every token after it a cache miss. From logs: tool schemas whose JSON key order
//! changes between requests, and tool lists whose order changes. In a prompt's layout: content
//! after the last breakpoint, which is never cached.
//!
//! A finding names the prompt (or `log:<model>`), the byte range in the text (or block), the
//! class and the tokens per day it costs (the tokens from the span to the end of the prefix,
//! times the requests per day). Never the text.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;

use super::reader::{read_log, ReadStats};
use super::request::Section;
use crate::analyzer::Analyzer;
use crate::error::Result;
use crate::prefix::TokenizedPrefix;
use crate::template::ojson::Json;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    DateTime,
    Uuid,
    HighEntropyId,
    UserPath,
    ToolKeyOrder,
    ToolsOrder,
    AfterLastBreakpoint,
    /// Versions of a system block that agree up to a point and differ after it: a template
    /// variable, or an edit deployed beside the old text.
    Divergence,
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Class::DateTime => "date-time",
            Class::Uuid => "uuid",
            Class::HighEntropyId => "high-entropy-id",
            Class::UserPath => "user-path",
            Class::ToolKeyOrder => "tool-key-order",
            Class::ToolsOrder => "tools-order",
            Class::AfterLastBreakpoint => "after-last-breakpoint",
            Class::Divergence => "divergence",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// A prompt id, or `log:<provider/model>`.
    pub subject: String,
    /// Which block (for logs: `system[i]`, `tools`) or segment.
    pub location: String,
    /// Byte range in the prompt text or block.
    pub bytes: (usize, usize),
    pub class: Class,
    /// Requests it was seen in (logs), or the prompt's requests per day.
    pub requests: usize,
    /// Logs: the span's content differs between requests (rendered per request: certainly
    /// hostile). `None` for a prompt's text, where only the shape is known.
    pub varies: Option<bool>,
    /// Tokens per day it makes uncacheable (estimate).
    pub tokens_per_day: f64,
}

#[derive(Debug, Serialize)]
pub struct Lint {
    pub read: ReadStats,
    pub findings: Vec<Finding>,
    pub tokens_per_day: f64,
}

fn detectors() -> &'static [(Class, Regex)] {
    static D: OnceLock<Vec<(Class, Regex)>> = OnceLock::new();
    D.get_or_init(|| {
        let r = |s: &str| Regex::new(s).expect("a valid detector");
        vec![
            (Class::Uuid, r(r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")),
            (Class::DateTime, r(r"\b(?:19|20)\d\d-[01]\d-[0-3]\d(?:[T ][0-2]\d:[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?\b")),
            (Class::DateTime, r(r"(?i)\b[0-3]?\d (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* (?:19|20)\d\d\b")),
            (Class::DateTime, r(r"(?i)\b(?:january|february|march|april|may|june|july|august|september|october|november|december) [0-3]?\d, (?:19|20)\d\d\b")),
            (Class::DateTime, r(r"\b[0-2]\d:[0-5]\d:[0-5]\d\b")),
            (Class::UserPath, r(r"(?:/home/|/Users/)[A-Za-z0-9._-]+/|(?i:C:\\Users\\)[^\\\s]+\\")),
            (Class::HighEntropyId, r(r"\b[A-Za-z0-9_-]{24,}\b")),
        ]
    })
}

/// Distinct texts of one system block kept for the divergence check.
const MAX_VERSIONS: usize = 32;

/// Where `b` starts to differ from `a` and where (in `b`) the two agree again to the end,
/// on character boundaries.
fn differing(a: &str, b: &str) -> (usize, usize) {
    let mut start = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !b.is_char_boundary(start) {
        start -= 1;
    }
    let max_suffix = a.len().min(b.len()) - start;
    let mut suffix = a
        .bytes()
        .rev()
        .zip(b.bytes().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    while !b.is_char_boundary(b.len() - suffix) {
        suffix -= 1;
    }
    (start, (b.len() - suffix).max(start))
}

/// Shannon entropy per character, and whether letters and digits are mixed.
fn looks_random(s: &str) -> bool {
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    let has_alpha = s.bytes().any(|b| b.is_ascii_alphabetic());
    if !(has_digit && has_alpha) || s.contains("__") {
        return false;
    }
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    let h: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    h >= 4.0
}

/// Byte ranges of `data:<type>;base64,<payload>` URIs in `text`, payload included.
fn embedded_assets(text: &str) -> Vec<(usize, usize)> {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r"data:[a-zA-Z0-9.+/-]{1,100}(?:;[a-zA-Z0-9=._-]{1,100})*;base64,[A-Za-z0-9+/=_-]+",
        )
        .expect("a valid pattern")
    });
    re.find_iter(text).map(|m| (m.start(), m.end())).collect()
}

/// Cache-hostile spans in `text`, as (class, byte range), without overlaps.
pub fn spans(text: &str) -> Vec<(Class, (usize, usize))> {
    // Kept spans by start. They never overlap, so the only one that can overlap a new span
    // is the last one starting before its end: one lookup, where scanning them all was
    // quadratic in the spans of a block.
    let mut kept: BTreeMap<usize, (usize, Class)> = BTreeMap::new();
    let assets = embedded_assets(text);
    for (class, re) in detectors() {
        for m in re.find_iter(text) {
            if *class == Class::HighEntropyId && !looks_random(m.as_str()) {
                continue;
            }
            // Base64 in a `data:` URI is an embedded asset (an icon in a tool schema): the
            // same bytes in every request, random-looking but not an id (issue #20).
            if *class == Class::HighEntropyId
                && assets.iter().any(|&(s, e)| s <= m.start() && m.end() <= e)
            {
                continue;
            }
            let r = (m.start(), m.end());
            let overlaps = kept
                .range(..r.1)
                .next_back()
                .is_some_and(|(&start, &(end, _))| start < r.1 && r.0 < end);
            if overlaps {
                continue;
            }
            kept.insert(r.0, (r.1, *class));
        }
    }
    let out: Vec<(Class, (usize, usize))> =
        kept.into_iter().map(|(s, (e, c))| (c, (s, e))).collect();
    // One finding per run: spans of a class less than MERGE_GAP bytes apart (a base64 blob
    // split by punctuation, a date and its time) are one.
    let mut merged: Vec<(Class, (usize, usize))> = Vec::new();
    for (c, r) in out {
        match merged.last_mut() {
            Some((lc, lr)) if *lc == c && r.0 <= lr.1 + MERGE_GAP => lr.1 = lr.1.max(r.1),
            _ => merged.push((c, r)),
        }
    }
    merged
}

/// Bytes between two spans of one class that still make them one finding.
const MERGE_GAP: usize = 64;

/// Lints the registered prompts (under the first tokenizer serving each prompt's first model,
/// or the first registered one) and the logs.
pub fn lint(a: &Analyzer, logs: &[&Path]) -> Result<Lint> {
    let mut findings = Vec::new();
    for p in &a.prompts {
        let entry = a
            .bare_tokenizers()
            .find(|t| p.models.iter().any(|m| crate::diff::serves(&t.models, m)))
            .or_else(|| a.bare_tokenizers().next());
        let Some(entry) = entry else { continue };
        let tok = a.tokenizers.get(&entry.id)?;
        let tp = TokenizedPrefix::new(&tok, p, true)?;
        let total = tp.ids.len();
        // Tokens from byte b to the end of the cacheable prefix (the last breakpoint).
        let last_bp = p
            .segments
            .iter()
            .zip(&tp.segment_ends)
            .filter(|(s, _)| s.breakpoint)
            .map(|(_, e)| *e)
            .next_back()
            .unwrap_or(0);
        let tokens_after = |b: usize| {
            let first = tp.offsets.partition_point(|o| o.1 <= b);
            last_bp.saturating_sub(first)
        };
        let per_day = p.requests_per_day;
        for (class, r) in spans(p.text.expose()) {
            findings.push(Finding {
                subject: p.id.clone(),
                location: segment_of(p, r.0),
                bytes: r,
                class,
                requests: per_day.round() as usize,
                varies: None,
                tokens_per_day: tokens_after(r.0) as f64 * per_day,
            });
        }
        if last_bp < total {
            let start = p
                .segments
                .iter()
                .zip(&tp.segment_ends)
                .filter(|(s, _)| s.breakpoint)
                .map(|(s, _)| s.end)
                .next_back()
                .unwrap_or(0);
            findings.push(Finding {
                subject: p.id.clone(),
                location: segment_of(p, start),
                bytes: (start, p.text.expose().len()),
                class: Class::AfterLastBreakpoint,
                requests: per_day.round() as usize,
                varies: None,
                tokens_per_day: (total - last_bp) as f64 * per_day,
            });
        }
    }
    let mut read = ReadStats::default();
    // Per model: hostile spans in system blocks, each tool's key orders, tool-list orders.
    // (model, system block, class) -> (first range, requests, bytes after, distinct contents).
    type Seen = ((usize, usize), usize, usize, HashSet<[u8; 32]>);
    let mut span_seen: HashMap<(String, usize, Class), Seen> = HashMap::new();
    let mut tool_forms: HashMap<(String, String), HashSet<String>> = HashMap::new();
    let mut tool_uses: HashMap<(String, String), usize> = HashMap::new();
    let mut tool_lists: HashMap<String, HashMap<Vec<String>, usize>> = HashMap::new();
    // (model, system block) -> its distinct texts (at most MAX_VERSIONS kept, found by their
    // sha256) and their requests.
    type Version = ([u8; 32], String, usize);
    let mut versions: HashMap<(String, usize), Vec<Version>> = HashMap::new();
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    for log in logs {
        read_log(log, &mut read, |rec| {
            if let Some(t) = rec.timestamp {
                first = first.min(t);
                last = last.max(t);
            }
            let model = rec.model_name();
            let mut names = Vec::new();
            let mut sys_i = 0;
            for b in &rec.blocks {
                match b.section {
                    Section::Tools => {
                        if let Ok(v) = Json::parse(&b.text) {
                            let f = v.get("function").unwrap_or(&v);
                            let name = f
                                .get("name")
                                .and_then(Json::as_str)
                                .unwrap_or("?")
                                .to_string();
                            let key = (model.clone(), name.clone());
                            tool_forms
                                .entry(key.clone())
                                .or_default()
                                .insert(b.text.clone());
                            *tool_uses.entry(key).or_default() += 1;
                            names.push(name);
                        }
                    }
                    Section::System => {
                        for (class, r) in spans(&b.text) {
                            let e = span_seen.entry((model.clone(), sys_i, class)).or_insert((
                                r,
                                0,
                                0,
                                HashSet::new(),
                            ));
                            e.1 += 1;
                            if e.3.len() < 2 {
                                use sha2::{Digest, Sha256};
                                e.3.insert(Sha256::digest(&b.text.as_bytes()[r.0..r.1]).into());
                            }
                            // Bytes after the span in the prefix, for the cost estimate.
                            e.2 = e.2.max(b.text.len() - r.0);
                        }
                        let digest: [u8; 32] = {
                            use sha2::{Digest, Sha256};
                            Sha256::digest(b.text.as_bytes()).into()
                        };
                        let v = versions.entry((model.clone(), sys_i)).or_default();
                        match v.iter().position(|x| x.0 == digest) {
                            Some(k) => v[k].2 += 1,
                            None if v.len() < MAX_VERSIONS => v.push((digest, b.text.clone(), 1)),
                            None => {}
                        }
                        sys_i += 1;
                    }
                    Section::Messages => {}
                }
            }
            if !names.is_empty() {
                *tool_lists
                    .entry(model)
                    .or_default()
                    .entry(names)
                    .or_default() += 1;
            }
            Ok(())
        })?;
    }
    let days = if last > first {
        ((last - first) / 86_400.0).max(1.0 / 24.0)
    } else {
        1.0
    };
    for ((model, i), mut v) in versions {
        if v.len() < 2 {
            continue;
        }
        // Against the most frequent version: where each other one starts to differ, and the
        // bytes until both agree again (their common suffix).
        v.sort_by(|x, y| y.2.cmp(&x.2).then(x.1.cmp(&y.1)));
        let base = &v[0].1;
        let mut at: BTreeMap<usize, (usize, usize, usize)> = BTreeMap::new();
        for (_, text, n) in &v[1..] {
            let (start, end) = differing(base, text);
            // Uncacheable from `start` on, in whichever version is longer (a deletion too).
            let after = base.len().max(text.len()) - start;
            let e = at.entry(start).or_insert((end, v[0].2, after));
            e.0 = e.0.max(end);
            e.1 += n;
            e.2 = e.2.max(after);
        }
        for (start, (end, n, after)) in at {
            // Already explained by a span found in the block (a timestamp that varies).
            let explained = span_seen.iter().any(|((m, j, _), s)| {
                *m == model && *j == i && s.0 .0 <= start && start < s.0 .1.max(s.0 .0 + 1)
            });
            if explained {
                continue;
            }
            findings.push(Finding {
                subject: format!("log:{model}"),
                location: format!("system[{i}]"),
                bytes: (start, end),
                class: Class::Divergence,
                requests: n,
                varies: Some(true),
                tokens_per_day: (after as f64 / 4.0) * n as f64 / days,
            });
        }
    }
    for ((model, i, class), (r, n, after, contents)) in span_seen {
        findings.push(Finding {
            subject: format!("log:{model}"),
            location: format!("system[{i}]"),
            bytes: r,
            class,
            requests: n,
            varies: Some(contents.len() > 1),
            // ~4 bytes per token: the logs' tokenizer may not be registered.
            tokens_per_day: (after as f64 / 4.0) * n as f64 / days,
        });
    }
    for ((model, name), forms) in tool_forms {
        if forms.len() < 2 {
            continue;
        }
        // Same content, different key order: compare with keys sorted.
        let canonical: HashSet<String> = forms
            .iter()
            .filter_map(|f| serde_json::from_str::<serde_json::Value>(f).ok())
            .map(|v| v.to_string())
            .collect();
        if canonical.len() < forms.len() {
            let n = tool_uses[&(model.clone(), name.clone())];
            let len = forms.iter().map(String::len).max().unwrap_or(0);
            findings.push(Finding {
                subject: format!("log:{model}"),
                location: format!("tools[{name}]"),
                bytes: (0, len),
                class: Class::ToolKeyOrder,
                requests: n,
                varies: Some(true),
                tokens_per_day: (len as f64 / 4.0) * n as f64 / days,
            });
        }
    }
    for (model, lists) in tool_lists {
        let mut by_set: BTreeMap<Vec<String>, (usize, usize)> = BTreeMap::new();
        for (names, n) in &lists {
            let mut set = names.clone();
            set.sort();
            let e = by_set.entry(set).or_default();
            e.0 += 1;
            e.1 += n;
        }
        for (set, (orders, n)) in by_set {
            if orders > 1 {
                findings.push(Finding {
                    subject: format!("log:{model}"),
                    location: format!("tools[{}]", set.join(",")),
                    bytes: (0, 0),
                    class: Class::ToolsOrder,
                    requests: n,
                    varies: Some(true),
                    tokens_per_day: 0.0,
                });
            }
        }
    }
    findings.sort_by(|a, b| {
        b.tokens_per_day
            .total_cmp(&a.tokens_per_day)
            .then(a.subject.cmp(&b.subject))
            .then(a.bytes.cmp(&b.bytes))
    });
    // A subject's first hostile span already makes everything after it uncacheable: the total
    // is, per subject, its costliest finding.
    let mut worst: HashMap<&str, f64> = HashMap::new();
    for f in &findings {
        let w = worst.entry(f.subject.as_str()).or_default();
        *w = w.max(f.tokens_per_day);
    }
    let tokens_per_day = worst.values().sum();
    Ok(Lint {
        read,
        findings,
        tokens_per_day,
    })
}

fn segment_of(p: &crate::prompt::Prompt, b: usize) -> String {
    p.segments
        .iter()
        .find(|s| s.start <= b && b < s.end)
        .or(p.segments.last())
        .map(|s| format!("segment {}", s.name))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differing_spans_an_insertion_a_replacement_and_a_multibyte_edit() {
        assert_eq!(differing("abcXYZ", "abc12XYZ"), (3, 5));
        assert_eq!(differing("time: 10:00 ok", "time: 11:30 ok"), (7, 10));
        assert_eq!(differing("same", "same"), (4, 4));
        // "é" and "è" share their first byte: the range stays on character boundaries.
        let (a, b) = ("café au lait", "cafè au lait");
        assert_eq!(differing(a, b), (3, 5));
        assert_eq!(differing("abc", "abcdef"), (3, 6));
    }

    #[test]
    fn a_block_of_100000_dates_was_quadratic_in_its_spans() {
        // Dates 100 bytes apart (past MERGE_GAP: one finding each), a UUID inside every tenth.
        let mut t = String::new();
        for i in 0..100_000u32 {
            let date = format!("20{:02}-0{}-1{}", i % 100, 1 + i % 9, i % 10);
            if i.is_multiple_of(10) {
                t.push_str("3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f ");
            }
            t.push_str(&format!("{date} {} ", "x".repeat(98 - date.len())));
        }
        let started = std::time::Instant::now();
        let got = spans(&t);
        // Scanning every kept span per match took minutes here.
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        let count = |c: Class| got.iter().filter(|(k, _)| *k == c).count();
        assert_eq!(
            (count(Class::Uuid), count(Class::DateTime)),
            (10_000, 100_000)
        );
        assert!(
            got.windows(2).all(|w| w[0].1 .1 <= w[1].1 .0),
            "ordered, no overlaps"
        );
    }

    #[test]
    fn detectors_find_what_changes_per_request_and_not_plain_words() {
        let t = "Today is 2026-11-30T09:15:00Z. Session 3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f at /home/alice/project, token sk9Xq2LmZ8vT4wR7yB1nK5pD. Updated 30 Nov 2026, 12:00:01. A_very_long_identifier_name_in_code is fine.";
        let got: Vec<(Class, &str)> = spans(t)
            .into_iter()
            .map(|(c, r)| (c, &t[r.0..r.1]))
            .collect();
        assert_eq!(
            got,
            [
                (Class::DateTime, "2026-11-30T09:15:00Z"),
                (Class::Uuid, "3f2a9c1e-7b4d-4e8a-9c0f-1a2b3c4d5e6f"),
                (Class::UserPath, "/home/alice/"),
                (Class::HighEntropyId, "sk9Xq2LmZ8vT4wR7yB1nK5pD"),
                (Class::DateTime, "30 Nov 2026, 12:00:01"),
            ]
        );
    }

    /// Issue #20: the shipped github-mcp prompt's tool schema embeds PNG icons as `data:`
    /// URIs; each was a `high-entropy-id` finding worth 300 M tokens a day. An id next to one
    /// is still found.
    #[test]
    fn base64_in_a_data_uri_is_an_asset_not_an_id() {
        let png = "iVBORw0KGgoAAAANSUhEUgAAABgAAAAYCAYAAADgdz34AAAABmJLR0QA/wD/AP+gvaeTAAAC20lEQVRIidWUS4wMURSGv3O7kWmPEMRrSMzcbl1dpqtmGuOxsCKECCKxEBusSJhIW";
        let t = format!("{{\"icon\": \"data:image/png;base64,{png}\", \"session\": \"sk9Xq2LmZ8vT4wR7yB1nK5pD\"}}");
        let got: Vec<(Class, &str)> = spans(&t)
            .into_iter()
            .map(|(c, r)| (c, &t[r.0..r.1]))
            .collect();
        assert_eq!(got, [(Class::HighEntropyId, "sk9Xq2LmZ8vT4wR7yB1nK5pD")]);
        let shipped = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../prompts/texts/github__github-mcp-server__mcp_tools_issues_json.txt"
        ))
        .unwrap();
        assert!(shipped.contains("data:image/png;base64,"));
        assert!(
            !spans(&shipped)
                .iter()
                .any(|(c, _)| *c == Class::HighEntropyId),
            "the shipped icons are not ids"
        );
    }
}
