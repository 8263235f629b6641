//! `prefix check`: the config, every tokenizer file (pins verified), the prompts, the cache
//! rules, the warm-up groups' lookups and keys, and the retirement dates of every model the
//! config registers or warms. A model within the data's warning window (30 days) is a warning;
//! a retired one makes the check fail after the report is printed. Every tokenizer or template
//! entry that fails to load is its own error line (issue #19: not only the first); the other
//! entries are still checked and listed, and the check exits 2 at the end.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use rayon::prelude::*;
use serde::Serialize;

use crate::analyzer::Analyzer;
use crate::error::{Error, Result};
use crate::lifecycle::Status;
use crate::report::{self, Format};
use crate::tokenizer::Tokenizer;

#[derive(Debug, Serialize)]
pub struct CheckedTokenizer {
    pub id: String,
    pub format: String,
    /// Vocabulary size; `None` for counting tokenizers (no local ids).
    pub ids: Option<usize>,
    pub engine: String,
    /// The file's sha256; `None` for counting tokenizers.
    pub sha256: Option<String>,
    pub pinned: bool,
}

#[derive(Debug, Serialize)]
pub struct ModelLifecycle {
    /// `provider/model`.
    pub model: String,
    /// `prompt <id>`, `warmup <group>`.
    pub used_by: Vec<String>,
    /// `unknown` (no data for the provider), `current`, `retiring` or `retired`.
    pub status: &'static str,
    /// The retirement day, when the data knows one.
    pub retires: Option<String>,
    /// Days until retirement (negative: since).
    pub days: Option<i64>,
    /// Where the date comes from.
    pub source: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub config: String,
    pub tokenizers: Vec<CheckedTokenizer>,
    pub prompts: usize,
    pub cache_rules: usize,
    pub models: Vec<ModelLifecycle>,
    pub warnings: Vec<String>,
    /// One line per tokenizer entry whose file, spec or chat template failed to load; those
    /// entries are absent from `tokenizers`.
    pub errors: Vec<String>,
}

pub fn run(config: &Path, format: Format, today: Option<NaiveDate>) -> Result<super::cli::Outcome> {
    let a = Analyzer::load(config)?;
    let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let r = build(&a, today)?;
    super::cli::print(&render(&r, format))?;
    if format != Format::Json {
        for w in &r.warnings {
            eprintln!("warning: {w}");
        }
    }
    let retired: Vec<&ModelLifecycle> = r.models.iter().filter(|m| m.status == "retired").collect();
    let retired = (!retired.is_empty()).then(|| {
        format!(
            "{} retired model(s) in use: {} (see data/model-lifecycle.toml; move to a current model)",
            retired.len(),
            retired
                .iter()
                .map(|m| format!("{} ({})", m.model, m.used_by.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        )
    });
    // One line per failing entry (and the retired models' line), no summary line: with one
    // failure the output is the one error line it always was.
    let mut errors: Vec<String> = r.errors.iter().cloned().chain(retired).collect();
    if let Some(last) = errors.pop() {
        crate::progress::clear();
        for e in &errors {
            eprintln!("error: {e}");
        }
        return Err(Error::Other(last));
    }
    Ok(super::cli::Outcome::Ok)
}

fn build(a: &Analyzer, today: NaiveDate) -> Result<CheckReport> {
    // Counting tokenizers have no file and are never called from here. Each entry loads on
    // its own: one that fails is an error line, never the end of the check.
    let loaded: Vec<std::result::Result<(Arc<Tokenizer>, String), String>> = a
        .config
        .tokenizers
        .par_iter()
        .filter(|t| !t.format.is_count())
        .map(|t| {
            let tok = a.tokenizers.get(&t.id).map_err(|e| e.to_string())?;
            // A version that renders: say with what (its template is verified when loaded).
            let engine = match a.tokenizers.template(&t.id).map_err(|e| e.to_string())? {
                Some(tmpl) if tmpl.kind() == "harmony" => format!("{} + harmony", tok.engine()),
                Some(tmpl) => format!("{} + template {}", tok.engine(), &tmpl.sha256[..12]),
                None => tok.engine(),
            };
            Ok((tok, engine))
        })
        .collect();
    let mut tokenizers = Vec::new();
    let mut errors = Vec::new();
    for l in loaded {
        let (t, engine) = match l {
            Ok(l) => l,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        tokenizers.push(CheckedTokenizer {
            id: t.id.clone(),
            format: t.identity.format.to_string(),
            ids: Some(t.vocab_size),
            engine,
            sha256: Some(t.identity.file_sha256.clone()),
            pinned: a.tokenizers.entry(&t.id)?.sha256.is_some(),
        });
    }
    for t in a.config.tokenizers.iter() {
        let Some(c) = &t.count else { continue };
        tokenizers.push(CheckedTokenizer {
            id: t.id.clone(),
            format: t.format.to_string(),
            ids: None,
            engine: format!("count by {}, model {}", c.endpoint, c.model),
            sha256: None,
            pinned: false,
        });
    }
    let mut warnings = Vec::new();
    // Lookup clients are built as the daemon builds them (no request is sent); the DNS
    // resolver wants a runtime around it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    let _guard = rt.enter();
    for (i, (w, loc)) in a.config.warmups.iter().enumerate() {
        let at = |e: Error| Error::Invalid {
            file: loc.file.clone(),
            line: loc.line,
            field: format!("warmup[{i}].lookup"),
            message: e.to_string(),
        };
        let lookup = crate::live_color::Lookup::new(&w.lookup, &a.config.base_dir).map_err(at)?;
        // A file lookup is read and parsed as the first tick will (issue #20: a missing path
        // passed here and failed at the daemon's next tick). Network lookups are not sent.
        if lookup.is_local() {
            rt.block_on(lookup.resolve())
                .map_err(|e| at(Error::Other(e.to_string())))?;
        }
        if let Err(e) = crate::warmup::api_key(w, &a.config.base_dir) {
            warnings.push(format!("{loc}: warmup[{i}]: {e}"));
        }
    }
    for p in &a.prompts {
        for m in &p.models {
            if a.rules.for_model(m).is_none() {
                warnings.push(format!(
                    "{}: prompt `{}`: no cache rule for model `{m}`",
                    p.file.display(),
                    p.id
                ));
            }
        }
    }
    warnings.extend(below_minimum(a)?);
    let mut models = Vec::new();
    for (model, used_by) in a.used_models() {
        let entry = a.lifecycle.for_model(&model);
        let (status, days) = match a.lifecycle.status(&model, today) {
            Status::Unknown => ("unknown", None),
            Status::Current => ("current", None),
            Status::Retiring(d) => ("retiring", Some(d)),
            Status::Retired(d) => ("retired", Some(-d)),
        };
        if status == "retiring" {
            warnings.push(format!(
                "model `{model}` ({}) retires on {} ({} day(s) left); source: {}",
                used_by.join(", "),
                entry.map(|e| e.retires.to_string()).unwrap_or_default(),
                days.unwrap_or(0),
                entry.map(|e| e.source.as_str()).unwrap_or_default()
            ));
        }
        models.push(ModelLifecycle {
            days: entry.map(|e| (e.retires - today).num_days()),
            retires: entry.map(|e| e.retires.to_string()),
            source: entry.map(|e| e.source.clone()),
            model,
            used_by,
            status,
        });
    }
    Ok(CheckReport {
        config: a.config.path.display().to_string(),
        tokenizers,
        prompts: a.prompts.len(),
        cache_rules: a.rules.rules.len(),
        models,
        warnings,
        errors,
    })
}

/// A warning for every (prompt, model) whose prompt is shorter than the model's minimum
/// cacheable prefix, or, on an engine (a `blocks` rule), than one full block plus the token
/// after it (an engine never serves the block holding the last token, so such a prefix is never
/// cached: a real report in vLLM's tracker): the provider never caches it, so warming it is paid
/// for nothing. The pairs are the prompts' `models` and every warm-up group's prompts under its
/// model. Counted under the model's local tokenizer (the fingerprint cache makes this cheap
/// after the first run); a model with no local tokenizer (Claude) is skipped: `check` never
/// calls a provider.
fn below_minimum(a: &Analyzer) -> Result<Vec<String>> {
    use crate::cache_rules::RuleKind;
    let mut used: Vec<(&crate::prompt::Prompt, String)> = Vec::new();
    for p in &a.prompts {
        used.extend(p.models.iter().map(|m| (p, m.clone())));
    }
    for (w, _) in &a.config.warmups {
        let m = format!("{}/{}", w.provider.provider().label(), w.model);
        for id in &w.prompts {
            if let Some(p) = a.prompts.iter().find(|p| &p.id == id) {
                if !used.iter().any(|(q, n)| q.id == p.id && *n == m) {
                    used.push((p, m.clone()));
                }
            }
        }
    }
    let mut pairs = Vec::new();
    let mut wanted = Vec::new();
    for (p, m) in used {
        let (Some(rule), Some(t)) = (a.rules.for_model(&m), a.bare_tokenizer_for(&m)) else {
            continue;
        };
        let block = (rule.rule.kind == RuleKind::Blocks && rule.rule.block_size > 1)
            .then_some(rule.rule.block_size);
        if rule.model.min_tokens > 0 || block.is_some() {
            pairs.push((p, t.id.clone()));
            wanted.push((p, m, rule.model.min_tokens, block));
        }
    }
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    // A tokenizer that fails to load is already an error line of the check: its pairs are
    // skipped here.
    let evals = a.evaluate_each(&pairs, chrono::Utc::now())?;
    let mut out = Vec::new();
    for ((p, model, min, block), ev) in wanted.into_iter().zip(evals) {
        let Ok(ev) = ev else { continue };
        if let Some(bs) = block.filter(|bs| ev.fp.token_count.saturating_sub(1) < *bs) {
            out.push(format!(
                "{}: prompt `{}` is {} tokens under {}, shorter than one {bs}-token block of {model} and the token after it (an engine never serves the block holding the last token): it is never cached",
                p.file.display(),
                p.id,
                ev.fp.token_count,
                ev.tokenizer
            ));
        } else if ev.fp.token_count < min {
            out.push(format!(
                "{}: prompt `{}` is {} tokens under {}, shorter than the {min}-token minimum {model} caches: it is never cached",
                p.file.display(),
                p.id,
                ev.fp.token_count,
                ev.tokenizer
            ));
        }
    }
    Ok(out)
}

fn render(r: &CheckReport, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(r).expect("serializable") + "\n";
    }
    let md = format == Format::Markdown;
    let mut rows = vec![vec![
        "TOKENIZER".to_string(),
        "FORMAT".into(),
        "IDS".into(),
        "ENGINE".into(),
        "SHA256".into(),
    ]];
    for t in &r.tokenizers {
        rows.push(vec![
            t.id.clone(),
            t.format.clone(),
            t.ids.map_or_else(|| "-".into(), |n| n.to_string()),
            t.engine.clone(),
            match &t.sha256 {
                None => "- (no file: the provider counts; not called by check)".into(),
                Some(sha) => format!(
                    "{} ({})",
                    &sha[..12],
                    if t.pinned {
                        "pinned, verified"
                    } else {
                        "UNPINNED: content changes are recorded and alerted"
                    }
                ),
            },
        ]);
    }
    let mut out = report::table(&rows, md);
    let mut rows = vec![vec![
        "MODEL".to_string(),
        "USED BY".into(),
        "RETIRES".into(),
        "STATUS".into(),
    ]];
    for m in &r.models {
        rows.push(vec![
            m.model.clone(),
            m.used_by.join(", "),
            m.retires.clone().unwrap_or_else(|| "-".into()),
            match (m.status, m.days) {
                ("retiring", Some(d)) => format!("RETIRING in {d} day(s)"),
                ("retired", Some(d)) => format!("RETIRED {} day(s) ago", -d),
                (s, _) => s.to_string(),
            },
        ]);
    }
    out.push('\n');
    out.push_str(&report::table(&rows, md));
    let retired = r.models.iter().filter(|m| m.status == "retired").count();
    out.push_str(&format!(
        "\n{}: {} tokenizer(s), {} prompt(s), {} cache rule(s) in {}\n",
        if retired == 0 && r.errors.is_empty() {
            "ok"
        } else {
            "failed"
        },
        r.tokenizers.len(),
        r.prompts,
        r.cache_rules,
        r.config
    ));
    out
}
