//! The token sequence of a prompt under one tokenizer.
//!
//! - Bare ([`TokenizedPrefix::new`]): each segment tokenized on its own and the ids
//!   concatenated, since hosted providers never merge tokens across content blocks.
//! - Rendered ([`TokenizedPrefix::rendered`]), for a tokenizer version with a chat template:
//!   the request the prompt describes (its text as the system message, its tools) rendered as
//!   the engine renders it and tokenized whole, special tokens matched. Rendered twice, with
//!   two different user messages ([`crate::template::PROBE_USERS`]); the ids both renderings
//!   start with are the prefix every such request shares, which is what an engine's prefix
//!   cache reuses. Segment ends are located in the rendering and mapped to token positions.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::fingerprint::{self, PrefixFingerprints};
use crate::prompt::Prompt;
use crate::template::{ChatTemplate, Conversation, PROBE_USERS};
use crate::tokenizer::Tokenizer;

/// A prompt's request rendered by a chat template, with each probe user message.
pub struct Rendering {
    pub texts: [String; 2],
    /// Byte range in `texts[0]` where the prompt text appears, and the byte range of the
    /// prompt text it is (a template may trim the system message).
    pub at: (usize, usize),
    pub text_range: (usize, usize),
}

impl Rendering {
    /// Renders `prompt` with `template` at time `now`. Errors name the prompt file and never
    /// quote its text.
    pub fn new(template: &ChatTemplate, prompt: &Prompt, now: DateTime<Utc>) -> Result<Self> {
        let bad = |message: String| Error::Invalid {
            file: prompt.file.clone(),
            line: 1,
            field: "text".into(),
            message,
        };
        let system = prompt.text.expose();
        let tools = prompt.tools.as_ref().map(|t| t.expose());
        let render = |user: &str| {
            template
                .render(
                    &Conversation {
                        system,
                        tools,
                        user,
                    },
                    now,
                )
                // The file names the prompt; the caller's line names the pair: the message is
                // the template's own (its id once per line, not twice).
                .map_err(bad)
        };
        let texts = [render(PROBE_USERS[0])?, render(PROBE_USERS[1])?];
        // Where the system text is in the rendering: verbatim, or trimmed.
        let trimmed_start = system.len() - system.trim_start().len();
        let trimmed = system.trim();
        let (at, text_range) = if let Some(i) = texts[0].find(system) {
            ((i, i + system.len()), (0, system.len()))
        } else if let Some(i) = texts[0].find(trimmed).filter(|_| !trimmed.is_empty()) {
            (
                (i, i + trimmed.len()),
                (trimmed_start, trimmed_start + trimmed.len()),
            )
        } else {
            return Err(bad(
                "the chat template does not render the prompt text as its system message (verbatim or trimmed), so its breakpoints cannot be placed"
                    .into(),
            ));
        };
        Ok(Self {
            texts,
            at,
            text_range,
        })
    }

    /// sha256 over both renderings: with the prompt's content, the key of its fingerprints
    /// (a template that prints today's date renders differently tomorrow).
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for t in &self.texts {
            h.update((t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Position in `texts[0]` of byte `b` of the prompt text (clamped to the rendered part).
    fn rendered_pos(&self, b: usize) -> usize {
        self.at.0 + b.clamp(self.text_range.0, self.text_range.1) - self.text_range.0
    }

    /// Byte of the prompt text at rendered position `r` (clamped to the text).
    fn text_pos(&self, r: usize) -> usize {
        self.text_range.0 + r.clamp(self.at.0, self.at.1) - self.at.0
    }
}

/// A prompt's ids under a tokenizer, with where each segment ends.
#[derive(Debug, Clone)]
pub struct TokenizedPrefix {
    pub ids: Vec<u32>,
    /// Token index where each segment ends (exclusive), in segment order.
    pub segment_ends: Vec<usize>,
    /// Byte range in the prompt text of each token; filled only when asked for.
    pub offsets: Vec<(usize, usize)>,
}

impl TokenizedPrefix {
    pub fn new(tok: &Tokenizer, prompt: &Prompt, with_offsets: bool) -> Result<Self> {
        let mut ids = Vec::new();
        let mut offsets = Vec::new();
        let mut segment_ends = Vec::with_capacity(prompt.segments.len());
        for seg in &prompt.segments {
            let text = &prompt.text.expose()[seg.start..seg.end];
            if with_offsets {
                let (i, o) = tok.encode_with_offsets(text)?;
                ids.extend(i);
                offsets.extend(o.into_iter().map(|(a, b)| (a + seg.start, b + seg.start)));
            } else {
                ids.extend(tok.encode(text)?);
            }
            segment_ends.push(ids.len());
        }
        Ok(Self {
            ids,
            segment_ends,
            offsets,
        })
    }

    /// The shared prefix of a prompt's rendered request (see the module doc). Offsets, when
    /// asked for, are mapped back to the prompt text (template tokens get empty ranges at the
    /// nearest end of the text).
    pub fn rendered(
        tok: &Tokenizer,
        r: &Rendering,
        prompt: &Prompt,
        with_offsets: bool,
    ) -> Result<Self> {
        let (ids_a, offs_a) = tok.encode_rendered_with_offsets(&r.texts[0])?;
        let (ids_b, _) = tok.encode_rendered_with_offsets(&r.texts[1])?;
        let n = crate::fingerprint::common_prefix_len(&ids_a, &ids_b);
        let offs = &offs_a[..n];
        let segment_ends = prompt
            .segments
            .iter()
            .map(|s| {
                let pos = r.rendered_pos(s.end);
                offs.partition_point(|&(_, end)| end <= pos)
            })
            .collect();
        let offsets = if with_offsets {
            offs.iter()
                .map(|&(a, b)| (r.text_pos(a), r.text_pos(b)))
                .collect()
        } else {
            Vec::new()
        };
        let mut ids = ids_a;
        ids.truncate(n);
        Ok(Self {
            ids,
            segment_ends,
            offsets,
        })
    }

    /// Breakpoints as (segment name, token end) for [`fingerprint::compute`].
    pub fn breakpoints(&self, prompt: &Prompt) -> Vec<(String, usize)> {
        prompt
            .segments
            .iter()
            .zip(&self.segment_ends)
            .filter(|(s, _)| s.breakpoint)
            .map(|(s, e)| (s.name.clone(), *e))
            .collect()
    }

    pub fn fingerprints(&self, prompt: &Prompt, block_size: usize) -> PrefixFingerprints {
        fingerprint::compute(&self.ids, &self.breakpoints(prompt), block_size)
    }
}
