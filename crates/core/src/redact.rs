//! The one redaction path: every error message built from something that can quote a secret
//! (a chat template's `raise_exception`, a provider's error body, a log line that failed to
//! parse) passes through [`Redactor::clean`] before it reaches an error, a log line or
//! `/status`.
//!
//! Whole-text matching is not enough: a template can raise `messages[0].content[0:60]`, and a
//! provider can echo a slice of the request. So the check is by fragment: any run of
//! [`WINDOW`] bytes of the message that also occurs in a secret is cut out (with everything
//! overlapping it), and the message says how much was removed. A run that is only whitespace,
//! ASCII punctuation and digits is not a fragment (it would match every text and say nothing).
//!
//! Cost: an Aho-Corasick automaton over the message's windows (a message is capped at
//! [`MAX_MESSAGE`] bytes first), then one pass over each secret: linear in the secrets' size,
//! no index kept between errors. Errors are rare; the secrets are the prompts already in
//! memory.

use std::borrow::Cow;

/// Bytes in one fragment: any 16 consecutive bytes of a secret found in a message are cut.
pub const WINDOW: usize = 16;
/// Longest message kept; the rest is replaced by a count before matching.
pub const MAX_MESSAGE: usize = 4096;
/// A window needs this many bytes that are not ASCII whitespace, punctuation or digits.
const MIN_SIGNIFICANT: usize = 4;

/// The secrets an error may quote: prompt texts, tool definitions, request bodies, log lines.
#[derive(Default, Clone)]
pub struct Redactor<'a> {
    secrets: Vec<Cow<'a, str>>,
}

impl std::fmt::Debug for Redactor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl<'a> Redactor<'a> {
    /// A redactor for these secrets.
    pub fn new(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        Redactor {
            secrets: secrets.into_iter().map(Cow::Borrowed).collect(),
        }
    }

    /// One more secret.
    pub fn add(&mut self, secret: impl Into<Cow<'a, str>>) {
        self.secrets.push(secret.into());
    }

    /// Every string in `v` (keys and values) as a secret: a request body we sent.
    pub fn add_json_strings(&mut self, v: &'a serde_json::Value) {
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::String(s) => self.secrets.push(Cow::Borrowed(s)),
                serde_json::Value::Array(a) => stack.extend(a),
                serde_json::Value::Object(o) => {
                    for (k, v) in o {
                        self.secrets.push(Cow::Borrowed(k));
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
    }

    /// An owned copy (for a long-lived redactor built from borrowed texts).
    pub fn into_owned(self) -> Redactor<'static> {
        Redactor {
            secrets: self
                .secrets
                .into_iter()
                .map(|s| Cow::Owned(s.into_owned()))
                .collect(),
        }
    }

    /// `message` with every fragment of a secret cut out, capped at [`MAX_MESSAGE`] bytes and
    /// with line breaks, other control characters and bidi overrides escaped as `\u{..}`
    /// ([`crate::escape`]: one line, safe for a terminal). A message that quoted nothing is
    /// returned as it was, apart from that.
    pub fn clean(&self, message: &str) -> String {
        let capped = cap(message);
        let cut = self.fragments(capped);
        let mut out = String::with_capacity(capped.len());
        let mut at = 0;
        for (start, end) in cut {
            out.push_str(&capped[at..start]);
            out.push_str(&format!("<redacted {} bytes>", end - start));
            at = end;
        }
        out.push_str(&capped[at..]);
        if capped.len() < message.len() {
            out.push_str(&format!(
                " <{} more bytes cut>",
                message.len() - capped.len()
            ));
        }
        crate::escape::escape(&out).into_owned()
    }

    /// Whether `message` quotes a fragment of any secret.
    pub fn quotes_secret(&self, message: &str) -> bool {
        !self.fragments(cap(message)).is_empty()
    }

    /// Byte ranges of `message` (merged, on char boundaries) covered by a window found in a
    /// secret.
    fn fragments(&self, message: &str) -> Vec<(usize, usize)> {
        let bytes = message.as_bytes();
        if bytes.len() < WINDOW || self.secrets.is_empty() {
            return Vec::new();
        }
        let starts: Vec<usize> = (0..=bytes.len() - WINDOW)
            .filter(|&i| significant(&bytes[i..i + WINDOW]))
            .collect();
        if starts.is_empty() {
            return Vec::new();
        }
        let patterns: Vec<&[u8]> = starts.iter().map(|&i| &bytes[i..i + WINDOW]).collect();
        let Ok(ac) = aho_corasick::AhoCorasick::new(&patterns) else {
            // Cannot happen for a few thousand 16-byte patterns; if it does, cut everything
            // rather than risk a leak.
            return vec![(0, message.len())];
        };
        let mut hit = vec![false; patterns.len()];
        for s in &self.secrets {
            for m in ac.find_overlapping_iter(s.as_bytes()) {
                hit[m.pattern().as_usize()] = true;
            }
            if hit.iter().all(|h| *h) {
                break;
            }
        }
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        // Equal windows are distinct patterns here, each with its own position; a window that
        // occurs twice in the message matches both.
        let mut matched_text: std::collections::HashSet<&[u8]> = Default::default();
        for (k, h) in hit.iter().enumerate() {
            if *h {
                matched_text.insert(patterns[k]);
            }
        }
        for (k, &i) in starts.iter().enumerate() {
            if !(hit[k] || matched_text.contains(patterns[k])) {
                continue;
            }
            let (mut s, mut e) = (i, i + WINDOW);
            while !message.is_char_boundary(s) {
                s -= 1;
            }
            while !message.is_char_boundary(e) {
                e += 1;
            }
            match ranges.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => ranges.push((s, e)),
            }
        }
        ranges
    }
}

/// At most [`MAX_MESSAGE`] bytes of `message`, on a char boundary.
fn cap(message: &str) -> &str {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

fn significant(w: &[u8]) -> bool {
    w.iter()
        .filter(|b| !(b.is_ascii_whitespace() || b.is_ascii_punctuation() || b.is_ascii_digit()))
        .count()
        >= MIN_SIGNIFICANT
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "You are Cline, a highly skilled software engineer with extensive \
        knowledge in many programming languages.\n\n====\n\nTOOL USE 使用工具 — ünïcödé 🙂 text";

    #[test]
    fn fragments_of_twenty_to_sixty_characters_are_cut_wherever_they_start() {
        let r = Redactor::new([PROMPT]);
        let chars: Vec<(usize, char)> = PROMPT.char_indices().collect();
        let mut checked = 0;
        for len in [20usize, 33, 60] {
            for start in (0..chars.len().saturating_sub(len)).step_by(7) {
                let s = chars[start].0;
                let e = chars.get(start + len).map_or(PROMPT.len(), |c| c.0);
                let frag = &PROMPT[s..e];
                if !frag.as_bytes().windows(WINDOW).any(significant) {
                    continue;
                }
                let msg = format!("chat template line 3: invalid operation: {frag} (in x)");
                let out = r.clean(&msg);
                // No run of WINDOW significant bytes of the fragment survives.
                for w in frag.as_bytes().windows(WINDOW).filter(|w| significant(w)) {
                    assert!(
                        !out.as_bytes().windows(WINDOW).any(|o| o == w),
                        "{frag:?} leaked through {out:?}"
                    );
                }
                assert!(
                    out.starts_with("chat template line 3: invalid operation: "),
                    "{out}"
                );
                assert!(out.contains("<redacted "), "{out}");
                checked += 1;
            }
        }
        assert!(checked > 30, "{checked}");
    }

    #[test]
    fn a_message_quoting_nothing_is_kept_on_one_line() {
        let r = Redactor::new([PROMPT]);
        let msg = "count endpoint: HTTP 500 (api_error)\nretry later";
        assert_eq!(
            r.clean(msg),
            "count endpoint: HTTP 500 (api_error)\\u{a}retry later"
        );
        assert!(!r.quotes_secret(msg));
        // Words the prompt also has, in another order, and runs of digits and punctuation are
        // not fragments; a 16-byte run of the prompt is.
        assert!(!r.quotes_secret("engineer, software, skilled: 2026-12-02 ======== ...."));
        assert!(r.quotes_secret("x software engineer y"));
        assert_eq!(
            Redactor::default().clean("x\ty\u{202e}"),
            "x\\u{9}y\\u{202e}"
        );
    }

    #[test]
    fn long_messages_are_capped_before_matching() {
        let r = Redactor::new([PROMPT]);
        let msg = "a".repeat(MAX_MESSAGE + 10);
        let out = r.clean(&msg);
        assert!(
            out.ends_with(" <10 more bytes cut>"),
            "{}",
            &out[out.len() - 30..]
        );
        let multi = "é".repeat(MAX_MESSAGE);
        assert!(r.clean(&multi).len() < multi.len());
    }
}
