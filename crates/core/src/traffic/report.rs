//! `prefix discover`, `lint` and `simulate` output: a table, JSON or Markdown. Ids, counts and
//! fingerprints only. Strings from the logs (models, tool names, bad-line reasons) are escaped
//! for the terminal: in tables by [`table`], elsewhere with [`Escaped`].

use std::fmt::Write as _;

use super::discover::Discovery;
use crate::escape::Escaped;
use crate::report::{table, Format};

pub fn discovery(d: &Discovery, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(d).expect("serializable") + "\n";
    }
    let md = format == Format::Markdown;
    let mut out = String::new();
    let _ =
        writeln!(
        out,
        "{}prefix discover: {} request(s) read, {} bad line(s), {} distinct block(s) tokenized{}\n",
        if md { "# " } else { "" },
        d.read.records,
        d.read.bad_lines,
        d.distinct_blocks,
        d.span_hours.map(|h| format!(", over {h:.1} h")).unwrap_or_default()
    );
    for (m, l) in &d.lengths {
        out.push_str(&l.summary(m));
        out.push('\n');
    }
    let mut rows = vec![vec![
        "PREFIX".to_string(),
        "TOKENIZER".into(),
        "MODEL".into(),
        "REQUESTS".into(),
        "REQ/H".into(),
        "TOKENS".into(),
        "REGISTERED".into(),
    ]];
    for c in &d.candidates {
        rows.push(vec![
            c.id.clone(),
            c.tokenizer.clone(),
            c.model.clone(),
            c.requests.to_string(),
            c.requests_per_hour
                .map(|r| format!("{r:.1}"))
                .unwrap_or_else(|| "-".into()),
            c.tokens.to_string(),
            match (&c.registered, &c.diverges_from) {
                (Some(p), _) => format!("yes: {p}"),
                (None, Some((p, t))) => format!("no: diverges from {p} at token {t}"),
                (None, None) if c.prefix_of.is_some() => format!(
                    "no: the first {} tokens of {}",
                    c.tokens,
                    c.prefix_of.as_deref().unwrap_or_default()
                ),
                (None, None) => "no".into(),
            },
        ]);
    }
    if d.candidates.is_empty() {
        out.push_str("no shared prefix meets --min-requests and --min-tokens\n");
    } else {
        out.push_str(&table(&rows, md));
    }
    if !d.unserved_models.is_empty() {
        let _ = writeln!(out, "\nno registered tokenizer serves (requests skipped):");
        for (m, n) in &d.unserved_models {
            let _ = writeln!(out, "  {}: {n}", Escaped(m));
        }
        for why in d.lengths_too_large.values() {
            let _ = writeln!(out, "  ({})", Escaped(why));
        }
    }
    reported_section(&mut out, &d.read.reported, md);
    if d.read.bad_lines > 0 {
        out.push('\n');
        bad_lines_section(&mut out, &d.read);
    }
    out
}

/// The providers' own diagnostics the logs carried, by provider and outcome (nothing when
/// no line carries them).
fn reported_section(out: &mut String, r: &super::reasons::Reported, md: bool) {
    if r.is_empty() {
        return;
    }
    let mut rows = vec![vec![
        "PROVIDER".to_string(),
        "REPORTED".into(),
        "REQUESTS".into(),
        "MISSED TOKENS".into(),
    ]];
    for x in r.rows() {
        rows.push(vec![
            x.provider.to_string(),
            x.reported.to_string(),
            x.requests.to_string(),
            x.missed_tokens.to_string(),
        ]);
    }
    out.push_str("\ncache diagnostics the providers reported in the logs:\n");
    out.push_str(&table(&rows, md));
}

/// Predicted miss reasons, and the table of predicted against reported ones, disagreements
/// first.
fn reasons_section(out: &mut String, s: &super::simulate::Simulation, md: bool) {
    let r = &s.reasons;
    let mut rows = vec![vec!["PREDICTED".to_string(), "REQUESTS".into()]];
    for c in &r.predicted {
        rows.push(vec![
            c.predicted.label().to_string(),
            c.requests.to_string(),
        ]);
    }
    out.push_str("\npredicted outcome of each request, without warm-ups (breakpoints as sent):\n");
    out.push_str(&table(&rows, md));
    if r.with_diagnostics > 0 {
        let _ = writeln!(
            out,
            "\nagainst the providers' diagnostics: {} request(s) carry them, {} agree, {} disagree, {} not compared by the provider",
            r.with_diagnostics, r.agree, r.disagree, r.not_compared
        );
        let mut rows = vec![vec![
            "PREDICTED".to_string(),
            "REPORTED".into(),
            "REQUESTS".into(),
            "AGREES".into(),
        ]];
        for p in &r.pairs {
            rows.push(vec![
                p.predicted.label().to_string(),
                p.reported.to_string(),
                p.requests.to_string(),
                agrees_cell(p.agrees).into(),
            ]);
        }
        out.push_str(&table(&rows, md));
    }
    if !s.per_request_reasons.is_empty() {
        let mut rows = vec![vec![
            "FILE:LINE".to_string(),
            "PREDICTED".into(),
            "REPORTED".into(),
            "AGREES".into(),
        ]];
        for q in &s.per_request_reasons {
            rows.push(vec![
                format!("{}:{}", q.file, q.line),
                q.predicted.label().to_string(),
                q.reported.unwrap_or("-").to_string(),
                agrees_cell(q.agrees).into(),
            ]);
        }
        out.push_str("every request's reason, disagreements first:\n");
        out.push_str(&table(&rows, md));
    }
}

fn agrees_cell(a: Option<bool>) -> &'static str {
    match a {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "-",
    }
}

/// One indented `file:line: reason` line per kept bad line (a reason may quote the log).
/// "bad lines (N; the first M listed):", then the kept ones as `list_bad_lines` writes them.
fn bad_lines_section(out: &mut String, read: &super::ReadStats) {
    let _ = writeln!(
        out,
        "bad lines ({}; the first {} listed):",
        read.bad_lines,
        read.bad.len()
    );
    list_bad_lines(out, read);
}

fn list_bad_lines(out: &mut String, read: &super::ReadStats) {
    for b in &read.bad {
        let _ = writeln!(
            out,
            "  {}:{}: {}",
            Escaped(&b.file),
            b.line,
            Escaped(&b.reason)
        );
    }
}

/// `prefix lint` output.
pub fn lint(l: &super::lint::Lint, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(l).expect("serializable") + "\n";
    }
    let md = format == Format::Markdown;
    let mut out = String::new();
    let mut rows = vec![vec![
        "SUBJECT".to_string(),
        "WHERE".into(),
        "BYTES".into(),
        "CLASS".into(),
        "VARIES".into(),
        "REQUESTS".into(),
        "TOKENS/DAY".into(),
    ]];
    for f in &l.findings {
        rows.push(vec![
            f.subject.clone(),
            f.location.clone(),
            format!("{}..{}", f.bytes.0, f.bytes.1),
            f.class.to_string(),
            match f.varies {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => "?".into(),
            },
            f.requests.to_string(),
            format!("{:.0}", f.tokens_per_day),
        ]);
    }
    if l.findings.is_empty() {
        out.push_str("no cache-hostile span found\n");
    } else {
        out.push_str(&table(&rows, md));
    }
    let _ = writeln!(
        out,
        "\n{} finding(s), ~{:.0} uncacheable tokens per day; {} log request(s) read, {} bad line(s)",
        l.findings.len(),
        l.tokens_per_day,
        l.read.records,
        l.read.bad_lines
    );
    list_bad_lines(&mut out, &l.read);
    reported_section(&mut out, &l.read.reported, md);
    out
}

/// `prefix simulate` output.
pub fn simulation(s: &super::simulate::Simulation, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(s).expect("serializable") + "\n";
    }
    let md = format == Format::Markdown;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}prefix simulate: {} request(s) of {} replayed under rule {} (tokenizer {}){}\n",
        if md { "# " } else { "" },
        s.without_warmup.requests,
        Escaped(&s.model),
        s.rule,
        s.tokenizer,
        if s.without_timestamp + s.too_many_blocks > 0 {
            format!(
                "; skipped: {} without a timestamp, {} with more than 65535 blocks",
                s.without_timestamp, s.too_many_blocks
            )
        } else {
            String::new()
        }
    );
    if let Some(l) = &s.lengths {
        out.push_str(&l.summary(&s.model));
        out.push('\n');
    }
    // Lines that were not requests are counted and listed here too, as discover and lint do:
    // a replay of fewer requests than the log holds must say so.
    if s.read.bad_lines > 0 {
        bad_lines_section(&mut out, &s.read);
        out.push('\n');
    }
    let mut rows = vec![vec![
        "WARM-UP".to_string(),
        "READ".into(),
        "WRITTEN".into(),
        "UNCACHED".into(),
        "WARM-UP TOKENS".into(),
        "COST $".into(),
    ]];
    let row = |t: &super::simulate::Totals| {
        vec![
            t.warmup.clone(),
            t.read.to_string(),
            t.written.to_string(),
            t.uncached.to_string(),
            t.warmup_tokens.to_string(),
            crate::money::text(t.cost_usd, 4),
        ]
    };
    rows.push(row(&s.without_warmup));
    rows.extend(s.warmups.iter().map(row));
    out.push_str(&table(&rows, md));
    if let Some(best) = s.warmups.first() {
        let _ = writeln!(
            out,
            "\ncheapest: {} (${} vs ${} without warm-ups)",
            if best.cost_usd < s.without_warmup.cost_usd {
                format!("warm-ups {}", best.warmup)
            } else {
                "no warm-up".to_string()
            },
            crate::money::text(best.cost_usd.min(s.without_warmup.cost_usd), 4),
            crate::money::text(s.without_warmup.cost_usd, 4)
        );
    }
    if !s.hours.is_empty() {
        let mut rows = vec![vec![
            "HOUR (UTC)".to_string(),
            "REQUESTS".into(),
            "PREDICTED READ".into(),
            "OBSERVED READ".into(),
        ]];
        for h in &s.hours {
            rows.push(vec![
                chrono::DateTime::from_timestamp(h.hour, 0)
                    .map(|t| t.format("%Y-%m-%d %H:00").to_string())
                    .unwrap_or_default(),
                h.requests.to_string(),
                h.predicted_read.to_string(),
                h.observed_read
                    .map_or_else(|| "-".into(), |o| o.to_string()),
            ]);
        }
        out.push_str("\ncached tokens per hour, without warm-ups: predicted, and observed where the logs carry usage:\n");
        out.push_str(&table(&rows, md));
    }
    if !s.placements.is_empty() {
        let mut rows = vec![vec![
            "BREAKPOINTS".to_string(),
            "READ".into(),
            "WRITTEN".into(),
            "UNCACHED".into(),
            "COST $".into(),
        ]];
        for p in &s.placements {
            rows.push(vec![
                p.placement.name().to_string(),
                p.read.to_string(),
                p.written.to_string(),
                p.uncached.to_string(),
                crate::money::text(p.cost_usd, 4),
            ]);
        }
        let _ = writeln!(
            out,
            "\nbreakpoint placements without warm-ups (warm-ups above use {}), cheapest first:",
            s.placement.name()
        );
        out.push_str(&table(&rows, md));
    }
    let f = &s.requests_fit;
    if f.requests_with_usage > 0 {
        let _ = writeln!(
            out,
            "\nper request with usage: {} request(s), {} exact, {} within 10%, mean error {:.1} tokens",
            f.requests_with_usage, f.exact, f.close, f.mean_abs_error
        );
        let listed = if s.per_request.is_empty() {
            &f.worst
        } else {
            &s.per_request
        };
        if !listed.is_empty() {
            let mut rows = vec![vec![
                "FILE:LINE".to_string(),
                "PREDICTED READ".into(),
                "OBSERVED READ".into(),
            ]];
            for r in listed {
                rows.push(vec![
                    format!("{}:{}", r.file, r.line),
                    r.predicted_read.to_string(),
                    r.observed_read.to_string(),
                ]);
            }
            out.push_str(if s.per_request.is_empty() {
                "furthest from the prediction:\n"
            } else {
                "every request:\n"
            });
            out.push_str(&table(&rows, md));
        }
    }
    reasons_section(&mut out, s, md);
    out
}
