//! Cache diagnostics as the providers answer them (issue #21): Anthropic's
//! `diagnostics.cache_miss_reason` when a request names `diagnostics.previous_message_id`, and
//! OpenAI's `prompt_cache_diagnostics` when a Responses request names
//! `prompt_cache_options.comparison_response_id`.
//!
//! Like the providers, the emulator keeps a fingerprint of each request (hashes and token
//! counts, never text) keyed by the response id, and compares the next request with the one it
//! names: the first divergence in cache order (model, tools, system or instructions, messages)
//! is the reason, and the tokens the compared request held from that point on are the missed
//! tokens. It is a comparison of request structure, whether or not the cache hit, as the
//! providers document. The oldest fingerprints are dropped past [`CAPACITY`]; a dropped or
//! unknown id is `previous_message_not_found` / `comparison_response_not_found`. `POST
//! /admin/diagnostics {"unavailable": N, "malformed": M}` makes the next N answers
//! `unavailable` and the M after them a `type` / `reason` outside the documented values;
//! `{"compacted": K}` makes the next K OpenAI comparisons `context_compacted`. OpenAI's
//! cache-keying options (`text.format`, `reasoning.effort`, `text.verbosity`, `service_tier`)
//! are compared after the model and the key: `text_format_changed`, `reasoning_effort_changed`,
//! `verbosity_changed`, `service_tier_changed`.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use serde_json::{json, Value};

/// Fingerprints kept, oldest dropped first.
pub const CAPACITY: usize = 4096;

/// One part of a request in cache order: its hash and tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Part {
    hash: u64,
    tokens: usize,
}

/// A request's fingerprint: what the comparison needs, no text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    model: String,
    /// OpenAI's `prompt_cache_key` (Anthropic: none).
    key: Option<String>,
    /// OpenAI's request options that key the cache, each as (its miss reason, a hash of its
    /// value): `text.format`, `reasoning.effort`, `text.verbosity`, `service_tier`.
    options: Vec<(&'static str, u64)>,
    tools: Part,
    /// The system blocks (Anthropic) or `instructions` (OpenAI).
    system: Part,
    /// Each message block, in order.
    messages: Vec<Part>,
}

impl Shape {
    /// From the request's blocks in cache order, each `(section, ids)`: a section of `tools`,
    /// `system` or `instructions` goes to that part, any other (a message role) to messages.
    pub fn new<'a>(
        model: &str,
        key: Option<&str>,
        blocks: impl Iterator<Item = (&'a str, &'a [u32])>,
    ) -> Shape {
        let mut tools = DefaultHasher::new();
        let mut system = DefaultHasher::new();
        let (mut tools_n, mut system_n) = (0, 0);
        let mut messages = Vec::new();
        for (section, ids) in blocks {
            match section {
                "tools" => {
                    ids.hash(&mut tools);
                    tools_n += ids.len();
                }
                "system" | "instructions" => {
                    ids.hash(&mut system);
                    system_n += ids.len();
                }
                role => {
                    let mut h = DefaultHasher::new();
                    (role, ids).hash(&mut h);
                    messages.push(Part {
                        hash: h.finish(),
                        tokens: ids.len(),
                    });
                }
            }
        }
        Shape {
            model: model.to_string(),
            key: key.map(str::to_string),
            options: Vec::new(),
            tools: Part {
                hash: tools.finish(),
                tokens: tools_n,
            },
            system: Part {
                hash: system.finish(),
                tokens: system_n,
            },
            messages,
        }
    }

    /// The same shape with OpenAI's cache-keying options (see [`Shape::options`]).
    pub fn with_options(mut self, options: Vec<(&'static str, u64)>) -> Shape {
        self.options = options;
        self
    }

    fn total(&self) -> usize {
        self.tools.tokens
            + self.system.tokens
            + self.messages.iter().map(|m| m.tokens).sum::<usize>()
    }
}

/// Where a request first differs from the one it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    None,
    Model,
    CacheKey,
    /// A cache-keying request option (its OpenAI reason).
    Option(&'static str),
    Tools,
    System,
    Messages,
}

/// The first divergence of `new` from `prev`, and the tokens of `prev` from that point on.
pub fn compare(prev: &Shape, new: &Shape) -> (Divergence, usize) {
    let total = prev.total();
    if prev.model != new.model {
        return (Divergence::Model, total);
    }
    if prev.key != new.key {
        return (Divergence::CacheKey, total);
    }
    if let Some((reason, _)) = prev
        .options
        .iter()
        .zip(&new.options)
        .find(|(a, b)| a != b)
        .map(|(a, _)| *a)
    {
        return (Divergence::Option(reason), total);
    }
    if prev.tools != new.tools {
        return (Divergence::Tools, total);
    }
    let after_tools = total - prev.tools.tokens;
    if prev.system != new.system {
        return (Divergence::System, after_tools);
    }
    let mut kept = prev.tools.tokens + prev.system.tokens;
    for (i, m) in prev.messages.iter().enumerate() {
        if new.messages.get(i) != Some(m) {
            return (Divergence::Messages, total - kept);
        }
        kept += m.tokens;
    }
    (Divergence::None, 0)
}

/// The fingerprints kept, by response id.
#[derive(Default)]
pub struct Shapes {
    by_id: HashMap<String, Shape>,
    order: VecDeque<String>,
    /// Answers left to give as `unavailable` (the `diagnostics_unavailable` fault).
    pub unavailable: u32,
    /// Answers left to give outside the documented values (after the `unavailable` ones): a
    /// client's reader must refuse them without losing the usage.
    pub malformed: u32,
    /// OpenAI comparisons left to answer `context_compacted` (the conversation was compacted
    /// between the two requests; nothing in a request shows it).
    pub compacted: u32,
}

impl Shapes {
    pub fn insert(&mut self, id: String, shape: Shape) {
        if self.order.len() >= CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
        self.order.push_back(id.clone());
        self.by_id.insert(id, shape);
    }

    /// One of the `malformed` answers left, if any.
    fn take_malformed(&mut self) -> bool {
        if self.unavailable == 0 && self.malformed > 0 {
            self.malformed -= 1;
            return true;
        }
        false
    }

    /// The comparison with `previous`: `None` when the id is unknown; `Some(None)` when
    /// unavailable.
    fn against(&mut self, previous: &str, new: &Shape) -> Option<Option<(Divergence, usize)>> {
        if self.unavailable > 0 {
            self.unavailable -= 1;
            return Some(None);
        }
        self.by_id.get(previous).map(|p| Some(compare(p, new)))
    }

    /// Anthropic's `diagnostics` object for a request that named `previous` (`None`: the
    /// first turn, `"previous_message_id": null`).
    pub fn anthropic(&mut self, previous: Option<&str>, new: &Shape) -> Value {
        let Some(previous) = previous else {
            return json!({"cache_miss_reason": null});
        };
        if self.take_malformed() {
            return json!({"cache_miss_reason": {"type": "cache_moon_phase_changed"}});
        }
        let reason = match self.against(previous, new) {
            None => json!({"type": "previous_message_not_found"}),
            Some(None) => json!({"type": "unavailable"}),
            Some(Some((d, missed))) => {
                let t = match d {
                    Divergence::None => return json!({"cache_miss_reason": null}),
                    Divergence::Model => "model_changed",
                    // Anthropic has no cache key: a key never differs.
                    Divergence::Tools | Divergence::CacheKey | Divergence::Option(_) => {
                        "tools_changed"
                    }
                    Divergence::System => "system_changed",
                    Divergence::Messages => "messages_changed",
                };
                json!({"type": t, "cache_missed_input_tokens": missed})
            }
        };
        json!({ "cache_miss_reason": reason })
    }

    /// OpenAI's `prompt_cache_diagnostics` object for a request compared with `previous`.
    pub fn openai(&mut self, previous: &str, new: &Shape) -> Value {
        if self.take_malformed() {
            return json!({"type": "cache_miss", "reason": "moon_phase_changed", "cache_missed_tokens": 1});
        }
        match self.against(previous, new) {
            None => json!({"type": "comparison_response_not_found"}),
            Some(None) => json!({"type": "unavailable"}),
            Some(Some((d, missed))) if self.compacted > 0 => {
                self.compacted -= 1;
                let reusable = self.by_id.get(previous).map_or(0, Shape::total);
                let missed = if d == Divergence::None {
                    reusable
                } else {
                    missed
                };
                json!({"type": "cache_miss", "reason": "context_compacted", "cache_missed_tokens": missed, "comparison_reusable_tokens": reusable})
            }
            Some(Some((Divergence::None, _))) => json!({"type": "cache_hit"}),
            Some(Some((d, missed))) => {
                let reason = match d {
                    Divergence::Model => "model_changed",
                    Divergence::CacheKey => "prompt_cache_key_changed",
                    Divergence::Option(reason) => reason,
                    Divergence::Tools => "tools_changed",
                    Divergence::System | Divergence::Messages | Divergence::None => "input_changed",
                };
                let reusable = self.by_id.get(previous).map_or(0, Shape::total);
                json!({"type": "cache_miss", "reason": reason, "cache_missed_tokens": missed, "comparison_reusable_tokens": reusable})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(model: &str, tools: &[u32], system: &[u32], msgs: &[&[u32]]) -> Shape {
        let mut blocks: Vec<(&str, &[u32])> = vec![("tools", tools), ("system", system)];
        blocks.extend(msgs.iter().map(|m| ("user", *m)));
        Shape::new(model, None, blocks.into_iter())
    }

    #[test]
    fn the_first_divergence_in_cache_order_and_the_tokens_after_it() {
        let a = shape("m", &[1, 2], &[3, 4, 5], &[&[6], &[7, 8]]);
        assert_eq!(compare(&a, &a), (Divergence::None, 0));
        assert_eq!(
            compare(&a, &shape("n", &[1, 2], &[3, 4, 5], &[&[6]])),
            (Divergence::Model, 8)
        );
        assert_eq!(
            compare(&a, &shape("m", &[2, 1], &[3, 4, 5], &[&[6]])),
            (Divergence::Tools, 8)
        );
        assert_eq!(
            compare(&a, &shape("m", &[1, 2], &[3, 4], &[&[6]])),
            (Divergence::System, 6)
        );
        assert_eq!(
            compare(&a, &shape("m", &[1, 2], &[3, 4, 5], &[&[6], &[9]])),
            (Divergence::Messages, 2)
        );
        // A longer conversation that starts with the compared one does not diverge.
        assert_eq!(
            compare(
                &a,
                &shape("m", &[1, 2], &[3, 4, 5], &[&[6], &[7, 8], &[10]])
            ),
            (Divergence::None, 0)
        );
    }

    #[test]
    fn openai_options_and_compaction_give_their_reasons() {
        let base = shape("m", &[1], &[2], &[&[3]]);
        let with = |o: Vec<(&'static str, u64)>| base.clone().with_options(o);
        let mut s = Shapes::default();
        s.insert(
            "r1".into(),
            with(vec![
                ("text_format_changed", 1),
                ("service_tier_changed", 1),
            ]),
        );
        let reason = |v: Value| v["reason"].as_str().unwrap_or("").to_string();
        assert_eq!(
            reason(s.openai(
                "r1",
                &with(vec![
                    ("text_format_changed", 2),
                    ("service_tier_changed", 1)
                ])
            )),
            "text_format_changed"
        );
        assert_eq!(
            reason(s.openai(
                "r1",
                &with(vec![
                    ("text_format_changed", 1),
                    ("service_tier_changed", 9)
                ])
            )),
            "service_tier_changed"
        );
        s.compacted = 1;
        let same = with(vec![
            ("text_format_changed", 1),
            ("service_tier_changed", 1),
        ]);
        assert_eq!(reason(s.openai("r1", &same)), "context_compacted");
        assert_eq!(s.openai("r1", &same), json!({"type": "cache_hit"}));
    }

    #[test]
    fn answers_in_each_providers_shape_and_the_oldest_are_dropped() {
        let a = shape("m", &[1], &[2], &[&[3]]);
        let mut s = Shapes::default();
        s.insert("msg_1".into(), a.clone());
        let b = shape("m", &[1], &[9], &[&[3]]);
        assert_eq!(
            s.anthropic(Some("msg_1"), &b),
            json!({"cache_miss_reason": {"type": "system_changed", "cache_missed_input_tokens": 2}})
        );
        assert_eq!(
            s.anthropic(Some("msg_1"), &a),
            json!({"cache_miss_reason": null})
        );
        assert_eq!(s.anthropic(None, &a), json!({"cache_miss_reason": null}));
        assert_eq!(
            s.anthropic(Some("msg_x"), &a),
            json!({"cache_miss_reason": {"type": "previous_message_not_found"}})
        );
        assert_eq!(s.openai("msg_1", &a), json!({"type": "cache_hit"}));
        assert_eq!(
            s.openai("msg_1", &b),
            json!({"type": "cache_miss", "reason": "input_changed", "cache_missed_tokens": 2, "comparison_reusable_tokens": 3})
        );
        s.unavailable = 1;
        s.malformed = 1;
        assert_eq!(s.openai("msg_1", &a), json!({"type": "unavailable"}));
        assert_eq!(
            s.openai("msg_1", &a)["reason"],
            "moon_phase_changed",
            "the malformed answers come after the unavailable ones"
        );
        assert_eq!(s.openai("msg_1", &a), json!({"type": "cache_hit"}));
        for i in 0..CAPACITY {
            s.insert(format!("x{i}"), a.clone());
        }
        assert_eq!(
            s.openai("msg_1", &a),
            json!({"type": "comparison_response_not_found"})
        );
    }
}
