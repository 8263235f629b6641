//! Block lengths of a model no registered tokenizer serves (Claude's is private), for
//! `simulate` and `discover`: what the logs' usage pins (core, [`crate::traffic::lengths`]),
//! then, with `--remote`, the model's `anthropic-count` tokenizer, then a `--stand-in`
//! tokenizer (approximate). A block no source covers is an error naming the flags that help.
//!
//! Counting: a block's length is the count of the request prefix up to its end minus the
//! count up to its start (its first occurrence), so one call per distinct boundary, plus one
//! for the empty prefix. Each counted request is tools, system and one user message holding the
//! message blocks as text blocks and then [`super::USER`] (every API wants a message; the
//! constant cancels in the difference). Counts are cached like the fingerprints' counts,
//! under `state_dir/counts/` per request and day. Without `--remote` nothing is sent.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{json, Value};

use crate::analyzer::Analyzer;
use crate::config::{TokenizerEntry, TokenizerFormat};
use crate::error::{Error, Result};
use crate::traffic::lengths::{self, Gathered, Key, Lengths, Source};
use crate::traffic::request::{Block, Section};
use crate::traffic::simulate::Limits;

/// Most count calls one run makes (a call is a request to the provider, even if free): past
/// it the run stops, naming the limit.
pub const MAX_CALLS: usize = 20_000;

/// Which sources besides usage may give lengths.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Ask the model's counting tokenizer (`--remote`).
    pub remote: bool,
    /// A registered tokenizer standing in (`--stand-in`).
    pub stand_in: Option<String>,
}

/// The `anthropic-count` tokenizer of `model`: its `models` globs serve it, or it counts for
/// that model (`anthropic/` + its `model`).
fn count_entry<'a>(a: &'a Analyzer, model: &str) -> Option<&'a TokenizerEntry> {
    a.config.tokenizers.iter().find(|t| {
        t.format == TokenizerFormat::AnthropicCount
            && (crate::diff::serves(&t.models, model)
                || t.count
                    .as_ref()
                    .is_some_and(|c| format!("anthropic/{}", c.model) == model))
    })
}

/// Lengths of every block of each model of the logs `want` accepts (models no tokenizer
/// serves), one pass over the logs for usage. A model left incomplete is an error when
/// `strict` (simulate); otherwise it is missing from the first map and the second says why.
pub fn block_lengths(
    a: &Analyzer,
    logs: &[&Path],
    want: impl FnMut(&str) -> bool,
    src: &Sources,
    lim: &Limits,
    strict: bool,
) -> Result<(BTreeMap<String, Lengths>, BTreeMap<String, String>)> {
    let gathered = lengths::gather(logs, want, lim)?;
    resolve(a, logs, gathered, src, strict)
}

/// [`block_lengths`] from facts already gathered (discover gathers them in its own pass).
pub fn resolve(
    a: &Analyzer,
    logs: &[&Path],
    gathered: BTreeMap<String, (Gathered, lengths::First)>,
    src: &Sources,
    strict: bool,
) -> Result<(BTreeMap<String, Lengths>, BTreeMap<String, String>)> {
    // A stand-in is checked before anything is read again, whether or not it is needed.
    let stand_in = match &src.stand_in {
        Some(id) => {
            if a.tokenizers.entry(id)?.format.is_count() {
                return Err(Error::Other(format!(
                    "--stand-in {id}: a counting tokenizer has no ids; name a tokenizer with a file (e.g. openai/o200k_base), or use --remote"
                )));
            }
            Some(id)
        }
        None => None,
    };
    let mut out = BTreeMap::new();
    let mut open = BTreeMap::new();
    // Count calls of the whole run, every model's together.
    let mut calls = 0usize;
    for (model, (g, first)) in gathered {
        let mut l = g.solve_usage();
        let counter = count_entry(a, &model);
        if src.remote && g.unpinned(&l) > 0 {
            if let Some(e) = counter {
                count_missing(a, e, logs, &model, (&g, &first), &mut l, &mut calls)?;
            }
        }
        if let Some(id) = stand_in {
            if g.unpinned(&l) > 0 {
                let tok = a.tokenizers.get(id)?;
                lengths::fill_stand_in(logs, &model, &tok, &mut l)?;
            }
        }
        let n = g.unpinned(&l);
        if n > 0 {
            let remote = match (src.remote, counter) {
                (false, _) => "--remote (count them with the model's anthropic-count tokenizer) or ",
                // --remote without a counting tokenizer for the model: say so.
                (true, None) => "a [[tokenizer]] of format anthropic-count whose `model` is this one (for --remote) or ",
                (true, Some(_)) => "",
            };
            let why = format!(
                "{model}: no registered tokenizer serves it and {n} of {} distinct block(s) have no length (the logs' usage does not pin them): pass {remote}--stand-in TOKENIZER (approximate)",
                g.blocks(),
            );
            if strict {
                return Err(Error::Other(why));
            }
            open.insert(model, why);
            continue;
        }
        g.finish(&mut l);
        out.insert(model, l);
    }
    Ok((out, open))
}

/// The count request of a request prefix (see the module doc).
fn body(model: &str, blocks: &[Block]) -> Value {
    let mut tools = Vec::new();
    let mut system = Vec::new();
    let mut content = Vec::new();
    for b in blocks {
        match b.section {
            Section::Tools => tools.push(
                serde_json::from_str::<Value>(&b.text)
                    .unwrap_or_else(|_| json!({"type": "text", "text": b.text})),
            ),
            Section::System => system.push(json!({"type": "text", "text": b.text})),
            Section::Messages => content.push(json!({"type": "text", "text": b.text})),
        }
    }
    content.push(json!({"type": "text", "text": super::USER}));
    let mut v = json!({
        "model": model,
        "messages": [{"role": "user", "content": content}],
    });
    if !system.is_empty() {
        v["system"] = Value::Array(system);
    }
    if !tools.is_empty() {
        v["tools"] = Value::Array(tools);
    }
    v
}

/// Counts the blocks `l` lacks: for each, its first request's prefix up to its end and up to
/// its start, each distinct prefix once (and each request once a day, on disk).
fn count_missing(
    a: &Analyzer,
    entry: &TokenizerEntry,
    logs: &[&Path],
    model: &str,
    (g, first): (&Gathered, &HashMap<Key, (usize, usize, usize)>),
    l: &mut Lengths,
    calls: &mut usize,
) -> Result<()> {
    let super::Counter {
        spec: c,
        what,
        key,
        client,
    } = super::Counter::new(a, entry)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    let dir = a.config.state_dir.join("counts");
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let url = format!("{}/v1/messages/count_tokens", c.endpoint);
    // Which positions of which lines are wanted, per log.
    let mut wanted: Vec<HashMap<usize, Vec<(usize, Key)>>> = vec![HashMap::new(); logs.len()];
    for (k, (f, line, pos)) in g.missing(l, first) {
        wanted[f].entry(line).or_default().push((pos, k));
    }
    // Counts of prefixes already asked for in this run, by the keys of their blocks.
    let mut memo: HashMap<Vec<Key>, u64> = HashMap::new();
    let mut found: Vec<(Key, u32)> = Vec::new();
    for (f, log) in logs.iter().enumerate() {
        if wanted[f].is_empty() {
            continue;
        }
        let mut stats = crate::traffic::ReadStats::default();
        crate::traffic::read_log(log, &mut stats, |rec| {
            let Some(positions) = wanted[f].get(&rec.line) else {
                return Ok(());
            };
            if rec.model_name() != model {
                return Ok(());
            }
            let keys: Vec<Key> = rec
                .blocks
                .iter()
                .map(|b| crate::traffic::blocks::key_of(&b.text))
                .collect();
            for &(pos, k) in positions {
                let mut ends = [0u64; 2];
                for (i, end) in [pos, pos + 1].into_iter().enumerate() {
                    // A log rewritten between the passes: that line's positions no longer
                    // fit, and are left to the other sources.
                    let Some(prefix) = keys.get(..end).map(<[Key]>::to_vec) else {
                        continue;
                    };
                    if let Some(&n) = memo.get(&prefix) {
                        ends[i] = n;
                        continue;
                    }
                    let b = body(&c.model, &rec.blocks[..end]);
                    let cache = super::cache_path(&dir, &url, &b, &day);
                    let n = match super::read_cached(&cache) {
                        Some(n) => n,
                        None if *calls >= MAX_CALLS => {
                            return Err(Error::Other(format!(
                                "{what}: --remote would make more than {MAX_CALLS} count calls; split the logs by time, or use --stand-in"
                            )))
                        }
                        None => {
                            *calls += 1;
                            let n = rt
                                .block_on(super::request::send(
                                    &client,
                                    entry.format,
                                    &url,
                                    &b,
                                    key.as_ref(),
                                ))
                                .map_err(|m| {
                                    Error::Other(format!(
                                        "{what}, {}: line {}: {m}",
                                        log.display(),
                                        rec.line
                                    ))
                                })?;
                            super::write_cached(&dir, &cache, &day, n);
                            n
                        }
                    };
                    memo.insert(prefix, n);
                    ends[i] = n;
                }
                let len = ends[1].saturating_sub(ends[0]);
                found.push((k, u32::try_from(len).unwrap_or(u32::MAX)));
            }
            Ok(())
        })?;
    }
    for (k, n) in found {
        l.insert(k, n, Source::Count);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counted_prefix_is_tools_system_and_one_user_message_ending_in_the_fixed_text() {
        let b = |section, text: &str| Block {
            section,
            text: text.into(),
            breakpoint: false,
        };
        let v = body(
            "claude-sonnet-4-6",
            &[
                b(
                    Section::Tools,
                    r#"{"name":"t","input_schema":{"type":"object"}}"#,
                ),
                b(Section::System, "S"),
                b(Section::Messages, "q"),
                b(Section::Messages, "a"),
            ],
        );
        assert_eq!(v["tools"][0]["name"], "t");
        assert_eq!(v["system"], json!([{"type": "text", "text": "S"}]));
        let content = &v["messages"][0]["content"];
        assert_eq!(v["messages"].as_array().unwrap().len(), 1);
        assert_eq!(content[0]["text"], "q");
        assert_eq!(content[1]["text"], "a");
        assert_eq!(content[2]["text"], super::super::USER);
        // The empty prefix: the fixed message alone, no system or tools keys.
        let empty = body("m", &[]);
        assert!(empty.get("system").is_none() && empty.get("tools").is_none());
        assert_eq!(
            empty["messages"][0]["content"][0]["text"],
            super::super::USER
        );
    }
}
