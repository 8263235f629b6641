//! The status page at `GET /`: the `/status` document as one HTML page for a person with a
//! browser. Read-only, no script, no external asset (one inline style sheet), so the strict
//! [`CSP`] holds; every value from the document is escaped by [`esc`], since prompt ids,
//! errors and targets may hold `<>&"'`.
//!
//! Invariant: it renders a [`Status`] and nothing else, so it shows what `/status` shows
//! (ids, fingerprints, counts, times), never prompt text.

use std::fmt::Write as _;

use crate::status::{GroupStatus, PairStatus, Status};

/// The page's `Content-Security-Policy`: nothing loads, nothing runs, no framing, no forms.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:78em;padding:0 1em;color:#1b1b1b;background:#fff}
h1{font-size:1.4em;margin:0 0 .4em}h2{font-size:1.1em;margin:1.6em 0 .4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #e4e4e4;vertical-align:top}
th{background:#f3f3f3;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12.5px ui-monospace,monospace}code.w{overflow-wrap:anywhere}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:0}
dt{color:#555}dd{margin:0}.ok{color:#0a6b2d;font-weight:600}.bad{color:#a4161a;font-weight:600}.muted{color:#666}
ul.err{margin:.3em 0;padding-left:1.2em;color:#a4161a}tr.first td{border-top:2px solid #ccc}";

/// `s` with `& < > " '` as entities: safe in element text and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A Unix time as UTC and how long before (or after) `now`; `never` when absent.
fn when(t: Option<f64>, now: f64) -> String {
    let Some(t) = t else {
        return "<span class=\"muted\">never</span>".into();
    };
    let utc = chrono::DateTime::from_timestamp(t as i64, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let rel = if t > now {
        format!("in {}", span(t - now))
    } else {
        format!("{} ago", span(now - t))
    };
    format!("{utc} <span class=\"muted\">({rel})</span>")
}

fn span(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// The whole page for `st`, times relative to `now` (Unix seconds).
pub fn render(st: &Status, now: f64) -> String {
    let mut h = String::with_capacity(16 << 10);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>prefix-warden {v}</title><style>{STYLE}</style></head><body>\n\
         <h1>prefix-warden {v}</h1>\n",
        v = esc(&st.version)
    );
    summary(&mut h, st, now);
    problems(&mut h, st);
    prompts(&mut h, &st.pairs, now);
    warmups(&mut h, st, now);
    alerts(&mut h, st, now);
    h.push_str(
        "<p class=\"muted\">The same data as JSON: <a href=\"/status\">/status</a>; \
         counters: <a href=\"/metrics\">/metrics</a>. Read-only; reload the page to refresh.</p>\n\
         </body></html>\n",
    );
    h
}

fn summary(h: &mut String, st: &Status, now: f64) {
    h.push_str("<section id=\"summary\"><h2>Daemon</h2><dl>\n");
    let state = if st.ready {
        "<span class=\"ok\">ready</span>".to_string()
    } else if !st.unfingerprinted.is_empty() {
        format!(
            "<span class=\"bad\">not ready</span>: no fingerprint for {} prompt(s) ({})",
            st.unfingerprinted.len(),
            esc(&st.unfingerprinted.join(", "))
        )
    } else if st.last_evaluation.is_none() {
        "<span class=\"bad\">not ready</span>: first evaluation pass not done".into()
    } else {
        "<span class=\"bad\">not ready</span>".into()
    };
    let store = match &st.store.last_problem {
        None => "<span class=\"ok\">healthy</span>".to_string(),
        Some(p) => format!(
            "<span class=\"bad\">recovered {} time(s)</span>, last {}: {}",
            st.store.recoveries,
            when(st.store.last_recovery, now),
            esc(p)
        ),
    };
    let rows = [
        ("State", state),
        ("Generation", st.generation.to_string()),
        (
            "Config",
            format!("<code>{}</code>", esc(&st.config.display().to_string())),
        ),
        ("Started", when(Some(st.started_at), now)),
        ("Last evaluation", when(st.last_evaluation, now)),
        ("History database", store),
    ];
    for (k, v) in rows {
        let _ = writeln!(h, "<dt>{k}</dt><dd>{v}</dd>");
    }
    h.push_str("</dl></section>\n");
}

fn problems(h: &mut String, st: &Status) {
    h.push_str("<section id=\"problems\"><h2>Errors</h2>\n");
    if st.last_evaluation_errors.is_empty() && st.last_reload_error.is_none() {
        h.push_str("<p class=\"ok\">No evaluation or reload error.</p>\n");
    }
    if let Some(e) = &st.last_reload_error {
        let _ = writeln!(
            h,
            "<p>Last reload failed (the running config is kept):</p><ul class=\"err\"><li><code class=\"w\">{}</code></li></ul>",
            esc(e)
        );
    }
    if !st.last_evaluation_errors.is_empty() {
        h.push_str("<p>Errors of the last evaluation:</p><ul class=\"err\">\n");
        for e in &st.last_evaluation_errors {
            let _ = writeln!(h, "<li><code class=\"w\">{}</code></li>", esc(e));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
}

fn prompts(h: &mut String, pairs: &[PairStatus], now: f64) {
    let mut pairs: Vec<&PairStatus> = pairs.iter().collect();
    pairs.sort_by(|a, b| (&a.prompt, &a.tokenizer).cmp(&(&b.prompt, &b.tokenizer)));
    let _ = writeln!(
        h,
        "<section id=\"prompts\"><h2>Prompts and fingerprints</h2>\n<p>{} (prompt, tokenizer) pair(s), {} changed since start.</p>",
        pairs.len(),
        pairs.iter().filter(|p| p.changes_since_start > 0).count()
    );
    if pairs.is_empty() {
        h.push_str("<p class=\"muted\">No fingerprint yet.</p></section>\n");
        return;
    }
    h.push_str(
        "<table><thead><tr><th>Prompt</th><th>Tokenizer</th><th>Kind</th><th>Tokens</th>\
         <th>Fingerprint</th><th>Last change</th><th>Changes since start</th></tr></thead><tbody>\n",
    );
    let mut last: Option<&str> = None;
    for p in pairs {
        let first = last != Some(p.prompt.as_str());
        last = Some(&p.prompt);
        let _ = writeln!(
            h,
            "<tr{cls}><td>{prompt}</td><td><code title=\"sha256 {sha}\">{tok}</code></td><td>{kind}</td>\
             <td class=\"n\">{count}</td><td><code class=\"w\">{fp}</code></td><td>{change}</td><td class=\"n\">{changes}</td></tr>",
            cls = if first { " class=\"first\"" } else { "" },
            prompt = if first {
                format!("<code>{}</code>", esc(&p.prompt))
            } else {
                String::new()
            },
            sha = esc(&p.tokenizer_sha256),
            tok = esc(&p.tokenizer),
            kind = esc(&p.kind.to_string()),
            count = p.token_count,
            fp = esc(&p.fingerprint),
            change = when(Some(p.last_change as f64), now),
            changes = if p.changes_since_start > 0 {
                format!("<span class=\"bad\">{}</span>", p.changes_since_start)
            } else {
                "0".into()
            },
        );
    }
    h.push_str("</tbody></table></section>\n");
}

fn warmups(h: &mut String, st: &Status, now: f64) {
    h.push_str("<section id=\"warmups\"><h2>Warm-up groups</h2>\n");
    if st.warmups.is_empty() {
        h.push_str("<p class=\"muted\">No warm-up group configured.</p></section>\n");
        return;
    }
    h.push_str(
        "<table><thead><tr><th>Group</th><th>Color</th><th>Targets</th><th>Last result</th>\
         <th>Last run</th><th>Last success</th><th>Runs</th><th>Requests</th><th>p50 / p99 ms</th>\
         <th>Last error</th></tr></thead><tbody>\n",
    );
    let ms = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
    for (name, g) in &st.warmups {
        let GroupStatus {
            color,
            reason,
            targets,
            last_result,
            ..
        } = g;
        let color = match (color, reason) {
            (Some(c), _) => esc(c),
            (None, Some(r)) => format!("<span class=\"muted\">- ({})</span>", esc(r)),
            (None, None) => "-".into(),
        };
        let targets = if targets.is_empty() {
            "-".to_string()
        } else {
            targets
                .iter()
                .map(|t| format!("<code>{}</code>", esc(t)))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let result = match last_result {
            None => "<span class=\"muted\">-</span>".to_string(),
            Some(crate::status::RunResult::Success) => "<span class=\"ok\">success</span>".into(),
            Some(r) => format!("<span class=\"bad\">{}</span>", r.label()),
        };
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{color}</td><td>{targets}</td><td>{result}</td><td>{}</td>\
             <td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} / {}</td><td>{}</td></tr>",
            esc(name),
            when(g.last_run, now),
            when(g.last_success, now),
            g.runs,
            g.requests,
            ms(g.latency_ms_p50),
            ms(g.latency_ms_p99),
            g.last_error
                .as_deref()
                .map(|e| format!("<code class=\"w\">{}</code>", esc(e)))
                .unwrap_or_default(),
        );
    }
    h.push_str("</tbody></table></section>\n");
}

fn alerts(h: &mut String, st: &Status, now: f64) {
    h.push_str("<section id=\"alerts\"><h2>Alerts</h2>\n");
    let am = match &st.alertmanager {
        Some(u) => format!("<a href=\"{u}\">{u}</a>", u = esc(u)),
        None => "Alertmanager (no <code>daemon.alertmanager_url</code> configured)".into(),
    };
    let _ = writeln!(
        h,
        "<p>Alerts this daemon raised and still sends to Alertmanager (fingerprint and tokenizer \
         changes, firing for an hour). The alerts of the Prometheus rules over \
         <code>/metrics</code> (warm-up failures, cache hit ratio, retirements) live in {am}.</p>"
    );
    if st.alerts_firing.is_empty() {
        h.push_str("<p class=\"ok\">None firing.</p></section>\n");
        return;
    }
    h.push_str(
        "<table><thead><tr><th>Alert</th><th>Severity</th><th>Labels</th><th>Since</th>\
         <th>Ends</th><th>Delivered</th></tr></thead><tbody>\n",
    );
    for a in &st.alerts_firing {
        let labels = a
            .labels
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "alertname" | "severity" | "service"))
            .map(|(k, v)| format!("<code>{}={}</code>", esc(k), esc(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            h,
            "<tr><td class=\"bad\">{}</td><td>{}</td><td>{labels}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&a.alertname),
            esc(&a.severity),
            when(Some(a.starts_at), now),
            when(Some(a.ends_at), now),
            if a.delivered {
                "yes"
            } else {
                "<span class=\"bad\">not yet</span>"
            },
        );
    }
    h.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_special_character_is_escaped() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
    }

    #[test]
    fn hostile_values_never_reach_the_page_raw() {
        let evil = r#"x"><script>alert('1')</script>&"#;
        let mut st = Status {
            version: "1.0".into(),
            last_evaluation_errors: vec![format!("prompt {evil}: failed")],
            last_reload_error: Some(evil.into()),
            unfingerprinted: vec![evil.into()],
            alertmanager: Some(format!("http://am/{evil}")),
            ..Default::default()
        };
        st.pairs.push(PairStatus {
            prompt: evil.into(),
            tokenizer: evil.into(),
            tokenizer_sha256: evil.into(),
            kind: crate::fingerprint::FingerprintKind::Tokens,
            fingerprint: "ab12".into(),
            token_count: 3,
            last_change: 0,
            changes_since_start: 1,
        });
        st.warmups.insert(
            evil.into(),
            GroupStatus {
                color: Some(evil.into()),
                targets: vec![evil.into()],
                last_error: Some(evil.into()),
                ..Default::default()
            },
        );
        st.alerts_firing.push(crate::status::FiringAlert {
            alertname: evil.into(),
            severity: evil.into(),
            labels: [("prompt".to_string(), evil.to_string())].into(),
            ..Default::default()
        });
        let page = render(&st, 100.0);
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains(evil), "{page}");
        // 1 error + 1 reload error + unfingerprinted + alertmanager link (twice) + prompt +
        // tokenizer + its sha + group + color + target + error + alertname + severity + label.
        let escaped = esc(evil);
        assert!(page.matches(&escaped).count() >= 15, "{page}");
    }

    #[test]
    fn the_reason_for_not_ready_is_shown() {
        let st = Status {
            unfingerprinted: vec!["p1".into(), "p2".into()],
            last_evaluation: Some(1.0),
            ..Default::default()
        };
        let page = render(&st, 2.0);
        assert!(
            page.contains("not ready</span>: no fingerprint for 2 prompt(s) (p1, p2)"),
            "{page}"
        );
        let ready = render(
            &Status {
                ready: true,
                ..Default::default()
            },
            2.0,
        );
        assert!(ready.contains("class=\"ok\">ready<"), "{ready}");
    }
}
