//! Why requests missed the cache: what the providers' diagnostics in the logs report
//! ([`Reported`], read by `discover`, `lint` and `simulate`), what `simulate`'s replay predicts
//! ([`Predicted`]), and whether the two agree ([`agrees`]).
//!
//! The providers' diagnostics compare a request's *structure* with the request it names (model,
//! tools, system, messages), whether or not the cache hit. `simulate` predicts the same
//! structural reasons by comparing the request's blocks with its reference, and adds the causes
//! a structural comparison cannot see: the entry expired (`ttl_expired`), an engine evicted it
//! (`evicted`), or the prefix is below the rule's minimum (`below_minimum`). Those three leave the
//! structure unchanged, so a provider reports them as a hit (OpenAI `cache_hit`) or no reason
//! (Anthropic `null`); the logs' usage is what shows the miss.

use serde::Serialize;

use crate::diagnostics::{Diagnosis, MissReason};

/// The label of what a provider reported: the miss reason, or the result of a non-miss.
pub fn reported_label(d: &Diagnosis) -> &'static str {
    match d {
        Diagnosis::Miss { reason, .. } => reason.label(),
        other => other.result(),
    }
}

/// One row of [`Reported`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportedRow {
    /// `anthropic` or `openai`.
    pub provider: &'static str,
    /// A miss reason ([`MissReason::label`]), or `hit`, `no_reason`, `no_comparison`,
    /// `unavailable`.
    pub reported: &'static str,
    pub requests: u64,
    /// Tokens the provider says the misses would otherwise have read.
    pub missed_tokens: u64,
}

/// The diagnostics the logs carried, by provider and outcome: at most 2 × 12 rows, whatever
/// the logs hold.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Reported {
    rows: Vec<ReportedRow>,
}

impl Reported {
    pub fn add(&mut self, provider: &'static str, d: &Diagnosis) {
        let reported = reported_label(d);
        let missed = match d {
            Diagnosis::Miss { missed_tokens, .. } => *missed_tokens,
            _ => 0,
        };
        match self
            .rows
            .iter_mut()
            .find(|r| r.provider == provider && r.reported == reported)
        {
            Some(r) => {
                r.requests += 1;
                r.missed_tokens = r.missed_tokens.saturating_add(missed);
            }
            None => {
                self.rows.push(ReportedRow {
                    provider,
                    reported,
                    requests: 1,
                    missed_tokens: missed,
                });
                self.rows
                    .sort_by(|a, b| (a.provider, a.reported).cmp(&(b.provider, b.reported)));
            }
        }
    }

    pub fn rows(&self) -> &[ReportedRow] {
        &self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// What `simulate` predicts for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Predicted {
    /// It reads everything its reference left cacheable.
    Hit,
    /// No earlier request to compare with.
    FirstRequest,
    /// Its reference was another model's request.
    ModelChanged,
    /// OpenAI's `prompt_cache_key` differs from the reference's.
    CacheKeyChanged,
    /// The tool definitions differ from the reference's.
    ToolsChanged,
    /// The system blocks (OpenAI: instructions, system and developer messages) differ.
    SystemChanged,
    /// The reference's messages are not where this request's start.
    MessagesChanged,
    /// Same structure, but the entry's TTL passed before this request.
    TtlExpired,
    /// Same structure, but the engine evicted the entry (least recently used).
    Evicted,
    /// Nothing to cache: the prefix is below the rule's minimum.
    BelowMinimum,
    /// Nothing to cache: the rule caches at breakpoints and the request marks none.
    NoBreakpoint,
}

impl Predicted {
    pub fn label(self) -> &'static str {
        match self {
            Predicted::Hit => "hit",
            Predicted::FirstRequest => "first_request",
            Predicted::ModelChanged => "model_changed",
            Predicted::CacheKeyChanged => "cache_key_changed",
            Predicted::ToolsChanged => "tools_changed",
            Predicted::SystemChanged => "system_changed",
            Predicted::MessagesChanged => "messages_changed",
            Predicted::TtlExpired => "ttl_expired",
            Predicted::Evicted => "evicted",
            Predicted::BelowMinimum => "below_minimum",
            Predicted::NoBreakpoint => "no_breakpoint",
        }
    }

    /// A predicted miss (everything but a hit).
    pub fn is_miss(self) -> bool {
        self != Predicted::Hit
    }
}

/// Whether a prediction agrees with what the provider reported; `None` when the provider made
/// no comparison (`no_comparison`, `unavailable`).
///
/// - A structural reason agrees with the same reason; OpenAI reports an edited system prompt
///   or an edited message as `input_changed`, which agrees with either.
/// - `hit`, `first_request`, `ttl_expired`, `evicted`, `below_minimum` and `no_breakpoint`
///   leave the structure as the reference had it: they agree with `hit` and `no_reason`.
pub fn agrees(p: Predicted, d: &Diagnosis) -> Option<bool> {
    use Predicted as P;
    Some(match d {
        Diagnosis::NoComparison | Diagnosis::Unavailable => return None,
        Diagnosis::Hit | Diagnosis::NoReason => matches!(
            p,
            P::Hit
                | P::FirstRequest
                | P::TtlExpired
                | P::Evicted
                | P::BelowMinimum
                | P::NoBreakpoint
        ),
        Diagnosis::Miss { reason, .. } => match reason {
            MissReason::ModelChanged => p == P::ModelChanged,
            MissReason::ToolsChanged => p == P::ToolsChanged,
            MissReason::SystemChanged => p == P::SystemChanged,
            MissReason::MessagesChanged => p == P::MessagesChanged,
            MissReason::InputChanged => matches!(p, P::SystemChanged | P::MessagesChanged),
            MissReason::CacheKeyChanged => p == P::CacheKeyChanged,
            // Not modelled by the replay (request options, compaction): a disagreement that
            // says so.
            MissReason::OptionsChanged | MissReason::ContextCompacted => false,
        },
    })
}

/// One request's predicted reason against the reported one (`--per-request`).
#[derive(Debug, Clone, Serialize)]
pub struct RequestReason {
    pub file: String,
    pub line: usize,
    pub predicted: Predicted,
    /// What the provider reported, when the line carries diagnostics.
    pub reported: Option<&'static str>,
    /// `None` when nothing was reported or the provider made no comparison.
    pub agrees: Option<bool>,
}

/// One cell of the predicted × reported table.
#[derive(Debug, Clone, Serialize)]
pub struct ReasonPair {
    pub predicted: Predicted,
    pub reported: &'static str,
    pub requests: u64,
    pub agrees: Option<bool>,
}

/// Requests with one predicted outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PredictedCount {
    pub predicted: Predicted,
    pub requests: u64,
}

/// The predicted reasons, and how they compare with the reported ones.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReasonSummary {
    /// Predicted outcome of every replayed request (misses and hits).
    pub predicted: Vec<PredictedCount>,
    /// Requests whose line carries the provider's diagnostics.
    pub with_diagnostics: u64,
    pub agree: u64,
    pub disagree: u64,
    /// Reported `no_comparison` or `unavailable`.
    pub not_compared: u64,
    /// Predicted × reported, disagreements first, then by requests.
    pub pairs: Vec<ReasonPair>,
}

impl ReasonSummary {
    /// Tallies `per` (every replayed request, in time order: its prediction, the provider's
    /// diagnosis, and whether the two compared the same requests: not when the request named
    /// a comparison the logs do not hold, since the prediction then used another reference).
    pub fn of(per: &[(Predicted, Option<Diagnosis>, bool)]) -> ReasonSummary {
        use std::collections::BTreeMap;
        let mut s = ReasonSummary::default();
        let mut predicted: BTreeMap<Predicted, u64> = BTreeMap::new();
        let mut pairs: BTreeMap<(Predicted, &'static str), (u64, Option<bool>)> = BTreeMap::new();
        for (p, d, same_reference) in per {
            *predicted.entry(*p).or_default() += 1;
            let Some(d) = d else { continue };
            s.with_diagnostics += 1;
            let a = agrees(*p, d).filter(|_| *same_reference);
            match a {
                Some(true) => s.agree += 1,
                Some(false) => s.disagree += 1,
                None => s.not_compared += 1,
            }
            pairs.entry((*p, reported_label(d))).or_insert((0, a)).0 += 1;
        }
        s.predicted = predicted
            .into_iter()
            .map(|(predicted, requests)| PredictedCount {
                predicted,
                requests,
            })
            .collect();
        s.pairs = pairs
            .into_iter()
            .map(|((predicted, reported), (requests, agrees))| ReasonPair {
                predicted,
                reported,
                requests,
                agrees,
            })
            .collect();
        s.pairs
            .sort_by_key(|p| (disagreement_first(p.agrees), std::cmp::Reverse(p.requests)));
        s
    }
}

/// Sort key: disagreements, then agreements, then requests the provider did not compare.
pub fn disagreement_first(a: Option<bool>) -> u8 {
    match a {
        Some(false) => 0,
        Some(true) => 1,
        None => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miss(reason: MissReason) -> Diagnosis {
        Diagnosis::Miss {
            reason,
            missed_tokens: 100,
        }
    }

    #[test]
    fn structural_reasons_agree_with_their_own_and_openai_input_changed() {
        assert_eq!(
            agrees(Predicted::SystemChanged, &miss(MissReason::SystemChanged)),
            Some(true)
        );
        assert_eq!(
            agrees(Predicted::SystemChanged, &miss(MissReason::InputChanged)),
            Some(true)
        );
        assert_eq!(
            agrees(Predicted::MessagesChanged, &miss(MissReason::InputChanged)),
            Some(true)
        );
        assert_eq!(
            agrees(Predicted::ToolsChanged, &miss(MissReason::SystemChanged)),
            Some(false)
        );
        assert_eq!(
            agrees(Predicted::Hit, &miss(MissReason::ModelChanged)),
            Some(false)
        );
        assert_eq!(
            agrees(Predicted::ModelChanged, &miss(MissReason::CacheKeyChanged)),
            Some(false)
        );
        assert_eq!(
            agrees(
                Predicted::CacheKeyChanged,
                &miss(MissReason::CacheKeyChanged)
            ),
            Some(true)
        );
        assert_eq!(
            agrees(Predicted::Hit, &miss(MissReason::OptionsChanged)),
            Some(false)
        );
    }

    #[test]
    fn cache_state_misses_agree_with_an_unchanged_structure() {
        for p in [
            Predicted::TtlExpired,
            Predicted::Evicted,
            Predicted::BelowMinimum,
            Predicted::Hit,
        ] {
            assert_eq!(agrees(p, &Diagnosis::NoReason), Some(true), "{p:?}");
            assert_eq!(agrees(p, &Diagnosis::Hit), Some(true), "{p:?}");
        }
        assert_eq!(
            agrees(Predicted::SystemChanged, &Diagnosis::Hit),
            Some(false)
        );
        assert_eq!(agrees(Predicted::Hit, &Diagnosis::Unavailable), None);
        assert_eq!(agrees(Predicted::Hit, &Diagnosis::NoComparison), None);
    }

    #[test]
    fn the_summary_lists_disagreements_first() {
        let per = [
            (Predicted::Hit, Some(Diagnosis::NoReason), true),
            (Predicted::Hit, Some(Diagnosis::NoReason), true),
            (
                Predicted::TtlExpired,
                Some(miss(MissReason::SystemChanged)),
                true,
            ),
            (Predicted::SystemChanged, Some(Diagnosis::Unavailable), true),
            (Predicted::FirstRequest, None, true),
            // The named comparison is not in the logs: not compared, whatever both say.
            (
                Predicted::ToolsChanged,
                Some(miss(MissReason::ModelChanged)),
                false,
            ),
        ];
        let s = ReasonSummary::of(&per);
        assert_eq!(
            (s.with_diagnostics, s.agree, s.disagree, s.not_compared),
            (5, 2, 1, 2)
        );
        assert_eq!(s.pairs[0].predicted, Predicted::TtlExpired);
        assert_eq!(s.pairs[0].reported, "system_changed");
        assert_eq!(s.pairs[0].agrees, Some(false));
        assert_eq!(s.pairs[1].requests, 2);
        assert_eq!(s.pairs.last().unwrap().agrees, None);
        let counts: Vec<(Predicted, u64)> = s
            .predicted
            .iter()
            .map(|c| (c.predicted, c.requests))
            .collect();
        assert_eq!(
            counts,
            [
                (Predicted::Hit, 2),
                (Predicted::FirstRequest, 1),
                (Predicted::ToolsChanged, 1),
                (Predicted::SystemChanged, 1),
                (Predicted::TtlExpired, 1),
            ]
        );
    }

    #[test]
    fn reported_rows_stay_one_per_provider_and_outcome() {
        let mut r = Reported::default();
        for _ in 0..3 {
            r.add("anthropic", &miss(MissReason::SystemChanged));
        }
        r.add("openai", &Diagnosis::Hit);
        r.add("anthropic", &Diagnosis::NoReason);
        assert_eq!(r.rows().len(), 3);
        let sys = r
            .rows()
            .iter()
            .find(|x| x.reported == "system_changed")
            .unwrap();
        assert_eq!((sys.requests, sys.missed_tokens), (3, 300));
    }
}
