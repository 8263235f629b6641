//! Rendering of `prefix fingerprint` and `prefix diff` results as a table, JSON or Markdown.
//!
//! Output carries ids, fingerprints, counts and byte offsets. Prompt text appears only when
//! the caller passes the text source explicitly (`--show-text`).

use std::fmt::Write as _;

use serde::Serialize;

use crate::analyzer::Evaluation;
use crate::diff::{DiffReport, PromptDiff};
use crate::prompt::Prompt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
}

/// Text lookup for `--show-text`; `None` means text must not be shown.
pub type ShowText<'a> = Option<&'a [Prompt]>;

#[derive(Serialize)]
struct FingerprintJson<'a> {
    pairs: Vec<PairJson<'a>>,
    from_cache: usize,
    tokenized: usize,
}

#[derive(Serialize)]
struct PairJson<'a> {
    prompt: &'a str,
    tokenizer: &'a str,
    tokenizer_sha256: &'a str,
    /// `tokens` (bare segments) or `rendered` (the request as the chat template renders it).
    kind: crate::fingerprint::FingerprintKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    template_sha256: Option<&'a str>,
    #[serde(flatten)]
    fp: &'a crate::fingerprint::PrefixFingerprints,
}

pub fn fingerprints(evals: &[Evaluation], format: Format, show: ShowText) -> String {
    let hits = evals.iter().filter(|e| e.from_cache).count();
    match format {
        Format::Json => {
            let j = FingerprintJson {
                pairs: evals
                    .iter()
                    .map(|e| PairJson {
                        prompt: &e.prompt,
                        tokenizer: &e.tokenizer,
                        tokenizer_sha256: &e.identity.file_sha256,
                        kind: e.kind,
                        template_sha256: e.identity.template_sha256.as_deref(),
                        fp: &e.fp,
                    })
                    .collect(),
                from_cache: hits,
                tokenized: evals.len() - hits,
            };
            serde_json::to_string_pretty(&j).expect("serializable") + "\n"
        }
        Format::Table | Format::Markdown => {
            let md = format == Format::Markdown;
            let mut rows = vec![vec![
                "PROMPT".into(),
                "TOKENIZER".into(),
                "KIND".into(),
                "TOKENS".into(),
                "FINGERPRINT".into(),
            ]];
            for e in evals {
                rows.push(vec![
                    e.prompt.clone(),
                    e.tokenizer.clone(),
                    e.kind.to_string(),
                    e.fp.token_count.to_string(),
                    e.fp.fingerprint.clone(),
                ]);
                if e.fp.breakpoints.len() > 1 {
                    for b in &e.fp.breakpoints {
                        rows.push(vec![
                            format!("  @{}", b.segment),
                            String::new(),
                            String::new(),
                            b.tokens.to_string(),
                            b.fingerprint.clone(),
                        ]);
                    }
                }
            }
            let mut out = table(&rows, md);
            if let Some(prompts) = show {
                for p in prompts
                    .iter()
                    .filter(|p| evals.iter().any(|e| e.prompt == p.id))
                {
                    let _ = writeln!(
                        out,
                        "\n--- text of {} ({} bytes) ---",
                        p.id,
                        p.text.expose().len()
                    );
                    out.push_str(p.text.expose());
                    out.push('\n');
                }
            }
            let _ = writeln!(
                out,
                "\n{} pair(s): {} from cache, {} tokenized",
                evals.len(),
                hits,
                evals.len() - hits
            );
            out
        }
    }
}

pub fn diff(r: &DiffReport, format: Format, show: ShowText) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(r).expect("serializable") + "\n",
        Format::Table => diff_text(r, false, show),
        Format::Markdown => diff_text(r, true, show),
    }
}

fn diff_text(r: &DiffReport, md: bool, show: ShowText) -> String {
    let mut out = String::new();
    let h = |out: &mut String, level: usize, s: &str| {
        if md {
            let _ = writeln!(out, "{} {s}\n", "#".repeat(level));
        } else {
            let _ = writeln!(out, "{s}");
        }
    };
    h(
        &mut out,
        1,
        &format!("prefix diff: {} -> {}", r.from.id, r.to.id),
    );
    let vocab = if r.same_vocabulary {
        format!("vocabulary: same ({} ids): ids are comparable, only text that now splits differently loses its cache", r.from.vocab_size)
    } else {
        format!(
            "vocabulary: different ({} -> {} ids): token ids are not comparable, nothing cached under {} survives",
            r.from.vocab_size, r.to.vocab_size, r.from.id
        )
    };
    let _ = writeln!(out, "{}{vocab}", if md { "- " } else { "" });
    let tmpl = |t: &Option<String>| match t {
        Some(s) => format!("chat template sha256 {}", short(s)),
        None => "bare segments".to_string(),
    };
    let cause = match r.cause {
        crate::diff::Cause::Nothing => "nothing: same tokenizer, same rendering",
        crate::diff::Cause::Tokenizer => "the tokenizer",
        crate::diff::Cause::Rendering => "the rendering: same tokenizer, different chat template",
        crate::diff::Cause::TokenizerAndRendering => "the tokenizer and the rendering",
    };
    if r.from.template_sha256.is_some() || r.to.template_sha256.is_some() {
        let _ = writeln!(
            out,
            "{}rendering: {} -> {}",
            if md { "- " } else { "" },
            tmpl(&r.from.template_sha256),
            tmpl(&r.to.template_sha256)
        );
    }
    let _ = writeln!(out, "{}changed: {cause}", if md { "- " } else { "" });
    let _ = writeln!(
        out,
        "{}files: {} sha256 {} -> {} sha256 {}\n",
        if md { "- " } else { "" },
        r.from.format,
        short(&r.from.file_sha256),
        r.to.format,
        short(&r.to.file_sha256)
    );
    let mut rows = vec![vec![
        "PROMPT".to_string(),
        "TOKENS".into(),
        "FINGERPRINT".into(),
        "FIRST DIVERGENCE".into(),
        "COLD $/DAY".into(),
    ]];
    for p in &r.prompts {
        rows.push(vec![
            p.prompt.clone(),
            format!("{} -> {}", p.from_tokens, p.to_tokens),
            if p.fingerprint_changed {
                "changed"
            } else {
                "same"
            }
            .into(),
            divergence(p),
            crate::money::text(
                p.rules.iter().map(|x| x.cold_cost_per_day_usd).sum::<f64>(),
                2,
            ),
        ]);
    }
    out.push_str(&table(&rows, md));
    for p in &r.prompts {
        out.push('\n');
        h(
            &mut out,
            2,
            &format!(
                "{}: {}",
                p.prompt,
                if p.fingerprint_changed {
                    "changed"
                } else {
                    "unchanged"
                }
            ),
        );
        let li = if md { "- " } else { "  " };
        let _ = writeln!(out, "{li}{}", p.explanation);
        let _ = writeln!(
            out,
            "{li}fingerprint {} -> {}",
            p.from_fingerprint, p.to_fingerprint
        );
        if p.divergent_range_count > 0 {
            // An empty range is a place, not text: the template's own text was inserted there
            // (a rendering change), so it is named as such rather than printed as `[0, 0)`.
            let ranges: Vec<String> = p
                .divergent_ranges
                .iter()
                .map(|(a, b)| {
                    if a == b {
                        format!("template text at byte {a}")
                    } else {
                        format!("[{a}, {b})")
                    }
                })
                .collect();
            let more = p
                .divergent_range_count
                .saturating_sub(p.divergent_ranges.len());
            let _ = writeln!(
                out,
                "{li}text that tokenizes differently (byte ranges): {}{}",
                ranges.join(" "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            );
            if let Some(prompts) = show {
                if let Some(pr) = prompts.iter().find(|x| x.id == p.prompt) {
                    for (a, b) in p.divergent_ranges.iter().filter(|(a, b)| a != b) {
                        let t = char_span(pr.text.expose(), *a, *b);
                        let _ = writeln!(out, "{li}  [{a}, {b}) {t:?}");
                    }
                }
            }
        }
        if p.breakpoints.len() > 1 {
            let bps: Vec<String> = p
                .breakpoints
                .iter()
                .map(|b| {
                    format!(
                        "@{} {}->{} {}",
                        b.segment,
                        b.from_tokens,
                        b.to_tokens,
                        if b.changed { "changed" } else { "same" }
                    )
                })
                .collect();
            let _ = writeln!(out, "{li}breakpoints: {}", bps.join(", "));
        }
        if !p.rules.is_empty() {
            let mut rows = vec![vec![
                "MODEL".to_string(),
                "RULE".into(),
                "CACHED BEFORE".into(),
                "SURVIVES".into(),
                "REWRITE".into(),
                "COLD $/DAY".into(),
                "REWRITE $".into(),
                "STEADY $/DAY".into(),
            ]];
            for x in &p.rules {
                // Engines: the surviving blocks too (`7 (0/7 blk of 16)`).
                let blocks = |tokens: usize, f: fn(&crate::diff::EngineBlocks) -> usize| match &x
                    .engine_blocks
                {
                    Some(b) => format!(
                        "{tokens} ({}/{} blk of {})",
                        f(b),
                        b.cached_before,
                        b.block_size
                    ),
                    None => tokens.to_string(),
                };
                rows.push(vec![
                    x.model.clone(),
                    x.rule.clone(),
                    x.cached_before.to_string(),
                    blocks(x.surviving, |b| b.surviving),
                    x.rewrite.to_string(),
                    crate::money::text(x.cold_cost_per_day_usd, 2),
                    crate::money::text(x.rewrite_cost_usd, 4),
                    format!(
                        "{} -> {}",
                        crate::money::text(x.steady_cost_per_day_before_usd, 2),
                        crate::money::text(x.steady_cost_per_day_after_usd, 2)
                    ),
                ]);
            }
            if md {
                out.push('\n');
            }
            for line in table(&rows, md).lines() {
                let _ = writeln!(out, "{}{line}", if md { "" } else { "  " });
            }
        }
        if p.rules.is_empty() && p.models_without_rule.is_empty() {
            let _ = writeln!(
                out,
                "{li}no model of this prompt is served by {} (its registry entry's `models`); nothing priced",
                r.from.id
            );
        }
        if !p.models_not_served.is_empty() {
            let _ = writeln!(
                out,
                "{li}not served by {}: {}",
                r.from.id,
                p.models_not_served.join(", ")
            );
        }
        if !p.models_without_rule.is_empty() {
            let _ = writeln!(
                out,
                "{li}no cache rule for: {}",
                p.models_without_rule.join(", ")
            );
        }
    }
    let s = &r.summary;
    out.push('\n');
    h(&mut out, 2, "summary");
    let _ = writeln!(
        out,
        "{} prompt(s): {} changed, {} unchanged; tokens {} -> {} ({:+.1}%); up to ${}/day extra while caches are cold; steady-state change ${}/day",
        s.prompts,
        s.changed,
        s.unchanged,
        s.from_tokens,
        s.to_tokens,
        if s.from_tokens == 0 { 0.0 } else { (s.to_tokens as f64 - s.from_tokens as f64) * 100.0 / s.from_tokens as f64 },
        crate::money::text(s.cold_cost_per_day_usd, 2),
        crate::money::signed(s.steady_cost_delta_per_day_usd, 2)
    );
    out
}

fn divergence(p: &PromptDiff) -> String {
    match (p.first_divergent_token, p.first_divergent_byte) {
        (Some(t), Some(b)) => format!("token {t} (byte {b})"),
        (Some(t), None) => format!("token {t}"),
        _ => "-".into(),
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Left-aligned columns; Markdown pipes when `md`. Every cell is escaped for the terminal
/// ([`crate::escape::escape`]): a table never carries a control or bidi character, whichever
/// source (a request log, a daemon's answer) its cells came from, and a cell stays on one line.
pub fn table(rows: &[Vec<String>], md: bool) -> String {
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| crate::escape::escape(c)).collect())
        .collect();
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, r) in rows.iter().enumerate() {
        if md {
            let _ = writeln!(
                out,
                "| {} |",
                r.iter()
                    .map(|c| c.replace('|', "\\|"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
            if i == 0 {
                let _ = writeln!(out, "|{}", "---|".repeat(r.len()));
            }
        } else {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(c, s)| format!("{s:<w$}", w = widths[c]))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
    }
    out
}

/// The text of byte range `[a, b)`, widened to whole characters: byte-level BPE tokens may
/// start or end inside a multi-byte character, and slicing there would panic.
pub fn char_span(text: &str, a: usize, b: usize) -> &str {
    let mut a = a.min(text.len());
    let mut b = b.clamp(a, text.len());
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    while !text.is_char_boundary(b) {
        b += 1;
    }
    &text[a..b]
}

#[cfg(test)]
mod char_span_tests {
    use super::char_span;

    #[test]
    fn ranges_inside_characters_widen_instead_of_panicking() {
        let t = "ab漢字😀c";
        for a in 0..=t.len() + 2 {
            for b in 0..=t.len() + 2 {
                let s = char_span(t, a, b);
                assert!(t.contains(s));
            }
        }
        assert_eq!(char_span(t, 3, 4), "漢");
        assert_eq!(char_span(t, 9, 10), "😀");
    }
}
