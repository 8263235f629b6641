//! The token sequence of a prompt under one tokenizer: each segment tokenized on its own and
//! the ids concatenated, since providers never merge tokens across content blocks.

use crate::error::Result;
use crate::fingerprint::{self, PrefixFingerprints};
use crate::prompt::Prompt;
use crate::tokenizer::Tokenizer;

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
