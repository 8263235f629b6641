//! What a warm-up compares itself with (issue #21): the previous successful warm-up of the same
//! (group, prompt, target), whose response id the next request names so the provider says why
//! it missed; and what changed in between, so a miss the daemon can explain reads as explained.
//!
//! Anthropic requests carry `diagnostics.previous_message_id`, OpenAI Responses requests
//! `prompt_cache_options.comparison_response_id`. One [`Previous`] is kept per (prompt, target)
//! of a group, in the group's runtime state (it outlives a reload: a prompt edit reloads, and
//! the first warm-up after it must still be compared with the last one before it); prompts a
//! group no longer warms are dropped when its generation goes live, and the whole map when the
//! group goes. Fingerprint changes reach the warm-ups through [`FingerprintChanges`], written by
//! the daemon's evaluation pass. Nothing here holds prompt text: ids, hashes, models, times.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};

use super::provider::ProviderKind;
use super::state::lock;
use crate::diagnostics::MissReason;

/// At most this many (prompt, target) entries per group: targets come from lookups, and a
/// lookup that names new hosts every tick must not grow the map without bound. The oldest
/// entry goes first.
pub const MAX_PER_GROUP: usize = 1024;

/// The previous successful warm-up of one (prompt, target).
#[derive(Debug, Clone, PartialEq)]
pub struct Previous {
    /// The response's `id` (`msg_…`, `resp_…`): what the next request names.
    pub id: String,
    /// The API that issued the id: it is never named to another one (a group's provider can
    /// change on reload).
    pub api: ProviderKind,
    /// The model warmed, so a `model_changed` miss can name the model before the switch.
    pub model: String,
    /// The prompt's content hash then: another hash now means the prompt was edited since.
    pub content_sha256: String,
    /// When the answer came (the injectable clock).
    pub at: DateTime<Utc>,
}

/// A response id worth naming back to the provider, or `None`.
pub fn usable_id(id: &str) -> Option<String> {
    crate::diagnostics::is_response_id(id).then(|| id.to_string())
}

/// One group's previous warm-ups by (prompt id, target).
#[derive(Default)]
pub struct Comparisons(Mutex<BTreeMap<(String, String), Previous>>);

impl Comparisons {
    /// The previous warm-up of `prompt` on `target` that `api` can be asked about.
    pub fn get(&self, prompt: &str, target: &str, api: ProviderKind) -> Option<Previous> {
        lock(&self.0)
            .get(&(prompt.to_string(), target.to_string()))
            .filter(|p| p.api == api)
            .cloned()
    }

    /// Records a successful warm-up, replacing the one before; the oldest entry goes when the
    /// group is at [`MAX_PER_GROUP`].
    pub fn record(&self, prompt: &str, target: &str, p: Previous) {
        let mut m = lock(&self.0);
        let key = (prompt.to_string(), target.to_string());
        if !m.contains_key(&key) && m.len() >= MAX_PER_GROUP {
            if let Some(oldest) = m.iter().min_by_key(|(_, v)| v.at).map(|(k, _)| k.clone()) {
                m.remove(&oldest);
            }
        }
        m.insert(key, p);
    }

    /// Keeps only the prompts a group warms now.
    pub fn retain_prompts(&self, prompts: &[String]) {
        lock(&self.0).retain(|(p, _), _| prompts.contains(p));
    }

    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// When each prompt's fingerprint last changed (under any tokenizer), as the daemon's
/// evaluation pass found it; one per daemon, shared by every generation's warm-ups.
#[derive(Clone, Default)]
pub struct FingerprintChanges(Arc<Mutex<BTreeMap<String, DateTime<Utc>>>>);

impl FingerprintChanges {
    pub fn record(&self, prompt: &str, at: DateTime<Utc>) {
        let mut m = lock(&self.0);
        let e = m.entry(prompt.to_string()).or_insert(at);
        *e = (*e).max(at);
    }

    /// The last change of `prompt`'s fingerprint after `after`.
    pub fn since(&self, prompt: &str, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        lock(&self.0).get(prompt).copied().filter(|t| *t > after)
    }

    /// Forgets prompts the running config no longer has.
    pub fn retain(&self, prompts: &[&str]) {
        lock(&self.0).retain(|p, _| prompts.contains(&p.as_str()));
    }
}

/// What the daemon knows that explains a miss, joined into the miss's log line.
#[derive(Debug, Clone, PartialEq)]
pub enum Explanation {
    /// The prompt was edited since the previous warm-up and its fingerprint change was
    /// recorded after it (the daemon logged `fingerprint_changed`, PromptFingerprintChanged
    /// fired).
    FingerprintChange { changed_at: DateTime<Utc> },
    /// The prompt's content changed since the previous warm-up and the evaluation pass has not
    /// recorded the fingerprint change yet (the warm-up ran first after the reload).
    PromptEdit,
    /// The group warmed another model before.
    ModelSwitch { previous_model: String },
    /// Nothing the daemon knows of: the interesting case.
    Unexplained,
}

impl Explanation {
    /// What explains a miss of `reason` after `prev`, the warm-up compared with: a model
    /// switch for `model_changed`, a prompt change for the others, whichever there is
    /// otherwise.
    pub fn of(
        reason: MissReason,
        prev: &Previous,
        model: &str,
        content_sha256: &str,
        prompt: &str,
        changes: &FingerprintChanges,
    ) -> Explanation {
        let switched = (prev.model != model).then(|| Explanation::ModelSwitch {
            previous_model: prev.model.clone(),
        });
        // Only an edit of the prompt itself changes what the provider compares: a fingerprint
        // change without one (our tokenizer changed) explains nothing on its side.
        let edited =
            (prev.content_sha256 != content_sha256).then(|| match changes.since(prompt, prev.at) {
                Some(changed_at) => Explanation::FingerprintChange { changed_at },
                None => Explanation::PromptEdit,
            });
        let first = if reason == MissReason::ModelChanged {
            switched.or(edited)
        } else {
            edited.or(switched)
        };
        first.unwrap_or(Explanation::Unexplained)
    }

    /// The `explained_by` field of the log line.
    pub fn label(&self) -> &'static str {
        match self {
            Explanation::FingerprintChange { .. } => "fingerprint_change",
            Explanation::PromptEdit => "prompt_edit",
            Explanation::ModelSwitch { .. } => "model_switch",
            Explanation::Unexplained => "none",
        }
    }

    /// The `changed_at` field: when the fingerprint change was recorded (RFC 3339, UTC).
    pub fn changed_at(&self) -> Option<String> {
        match self {
            Explanation::FingerprintChange { changed_at } => {
                Some(changed_at.to_rfc3339_opts(SecondsFormat::Secs, true))
            }
            _ => None,
        }
    }

    /// The `previous_model` field.
    pub fn previous_model(&self) -> Option<&str> {
        match self {
            Explanation::ModelSwitch { previous_model } => Some(previous_model),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prev(model: &str, sha: &str, at: i64) -> Previous {
        Previous {
            id: "msg_1".into(),
            api: ProviderKind::Anthropic,
            model: model.into(),
            content_sha256: sha.into(),
            at: DateTime::from_timestamp(at, 0).unwrap(),
        }
    }

    #[test]
    fn a_miss_is_joined_with_what_changed_since_the_compared_warmup() {
        let changes = FingerprintChanges::default();
        let p = prev("m1", "a", 100);
        let of = |r, model, sha| Explanation::of(r, &p, model, sha, "p", &changes);
        assert_eq!(
            of(MissReason::SystemChanged, "m1", "a"),
            Explanation::Unexplained
        );
        // Edited, the pass not yet done: the content hash says so.
        assert_eq!(
            of(MissReason::SystemChanged, "m1", "b"),
            Explanation::PromptEdit
        );
        // A change recorded before the compared warm-up explains nothing.
        changes.record("p", DateTime::from_timestamp(50, 0).unwrap());
        assert_eq!(
            of(MissReason::SystemChanged, "m1", "a"),
            Explanation::Unexplained
        );
        changes.record("p", DateTime::from_timestamp(120, 0).unwrap());
        // A fingerprint change without an edit (our tokenizer changed) is not the provider's.
        assert_eq!(
            of(MissReason::SystemChanged, "m1", "a"),
            Explanation::Unexplained
        );
        let e = of(MissReason::SystemChanged, "m1", "b");
        assert_eq!(e.label(), "fingerprint_change");
        assert_eq!(e.changed_at().as_deref(), Some("1970-01-01T00:02:00Z"));
        // A model switch explains model_changed first, and the others when nothing else does.
        let e = of(MissReason::ModelChanged, "m2", "b");
        assert_eq!(e.previous_model(), Some("m1"));
        assert_eq!(e.label(), "model_switch");
        assert_eq!(
            of(MissReason::InputChanged, "m2", "b").label(),
            "fingerprint_change"
        );
        changes.retain(&[]);
        assert_eq!(
            of(MissReason::ToolsChanged, "m2", "a").label(),
            "model_switch"
        );
    }

    #[test]
    fn one_entry_per_prompt_and_target_bounded_and_only_for_its_api() {
        let c = Comparisons::default();
        c.record("p", "http://a", prev("m", "s", 1));
        c.record("p", "http://a", prev("m", "s", 2));
        assert_eq!(c.len(), 1);
        assert!(c.get("p", "http://a", ProviderKind::Anthropic).is_some());
        assert!(c
            .get("p", "http://a", ProviderKind::OpenaiResponses)
            .is_none());
        for i in 0..MAX_PER_GROUP + 10 {
            c.record("q", &format!("http://t{i}"), prev("m", "s", 10 + i as i64));
        }
        assert_eq!(c.len(), MAX_PER_GROUP);
        assert!(
            c.get("p", "http://a", ProviderKind::Anthropic).is_none(),
            "the oldest went first"
        );
        c.retain_prompts(&["p".to_string()]);
        assert!(c.is_empty());
        assert_eq!(usable_id("msg_01abc").as_deref(), Some("msg_01abc"));
        assert_eq!(usable_id("msg 1"), None);
        assert_eq!(usable_id(""), None);
        assert_eq!(usable_id(&"x".repeat(300)), None);
    }
}
