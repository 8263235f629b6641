//! The distinct blocks of a log under one tokenizer, each tokenized once: interned by the first
//! 96 bits of the SHA-256 of its text (never the text itself; a collision among a billion blocks
//! has odds under 1e-11), their ids in one flat pool.
//!
//! What is kept is chosen by [`Keep`], so that a million requests fit in a few hundred MB:
//! `discover` needs the ids of a block only once a second request carries it (it can then lie
//! on a shared prefix) or when it is long enough to share [`Keep::SharedOrLong`] tokens with a
//! sibling; a block seen once and shorter than that keeps only its length.
//!
//! Where no tokenizer serves the model, a store takes each block's length from
//! [`super::lengths::Lengths`] and gives it pseudo ids ([`super::lengths::pseudo_ids`]).

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::lengths::{self, Lengths};
use crate::error::{Error, Result};
use crate::tokenizer::Tokenizer;

/// Where a store's ids come from.
enum Encoder {
    Tokenizer(Arc<Tokenizer>),
    /// No tokenizer serves the model: lengths from usage, counts or a stand-in, pseudo ids.
    Lengths(Arc<Lengths>),
}

/// Which blocks keep their ids (and text, when asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every block (`simulate` compares token prefixes of every request).
    All,
    /// Blocks seen at least twice, and blocks of at least this many tokens.
    SharedOrLong(usize),
}

/// A block's index in its [`BlockStore`].
pub type BlockId = u32;

/// 12 bytes a block.
struct Meta {
    /// Start in the pool, or [`NOT_KEPT`].
    start: u32,
    len: u32,
    seen: u32,
}

pub struct BlockStore {
    encoder: Encoder,
    keep: Keep,
    keep_text: bool,
    index: HashMap<[u8; 12], BlockId>,
    /// Most ids the pool may hold (the caller's memory bound; at most [`MAX_POOL`]).
    max_ids: usize,
    meta: Vec<Meta>,
    pool: Vec<u32>,
    texts: HashMap<BlockId, Box<str>>,
}

const NOT_KEPT: u32 = u32::MAX;

/// Tokens a request's framing may add to one block beyond its text's bytes (role markers,
/// tool-schema wrapping), for the plausibility bound of usage-pinned lengths.
const MAX_FRAMING_TOKENS: usize = 1024;

/// A block's key: the first 96 bits of the SHA-256 of its text.
pub fn key_of(text: &str) -> [u8; 12] {
    let digest = Sha256::digest(text.as_bytes());
    let mut key = [0u8; 12];
    key.copy_from_slice(&digest[..12]);
    key
}

/// Most ids kept in one pool (16 GB of them).
const MAX_POOL: usize = NOT_KEPT as usize - 1;

/// Most distinct blocks per store (ids are `u32`).
const MAX_BLOCKS: usize = u32::MAX as usize;

impl BlockStore {
    pub fn new(tokenizer: Arc<Tokenizer>, keep: Keep, keep_text: bool) -> Self {
        Self::with_encoder(Encoder::Tokenizer(tokenizer), keep, keep_text)
    }

    /// A store whose blocks' lengths come from `lengths` (every block of the traffic must
    /// have one), their ids pseudo ids.
    pub fn from_lengths(lengths: Arc<Lengths>, keep: Keep, keep_text: bool) -> Self {
        Self::with_encoder(Encoder::Lengths(lengths), keep, keep_text)
    }

    fn with_encoder(encoder: Encoder, keep: Keep, keep_text: bool) -> Self {
        Self {
            encoder,
            keep,
            keep_text,
            index: HashMap::new(),
            max_ids: MAX_POOL,
            meta: Vec::new(),
            pool: Vec::new(),
            texts: HashMap::new(),
        }
    }

    /// The same store with at most `n` ids in its pool: past it, [`BlockStore::intern`] is an
    /// error.
    pub fn with_max_ids(mut self, n: usize) -> Self {
        self.max_ids = n.min(MAX_POOL);
        self
    }

    /// The tokenizer, when the ids are real.
    pub fn tokenizer(&self) -> Option<&Arc<Tokenizer>> {
        match &self.encoder {
            Encoder::Tokenizer(t) => Some(t),
            Encoder::Lengths(_) => None,
        }
    }

    /// The tokenizer's id, or `lengths:<sources>` ([`Lengths::label`]).
    pub fn label(&self) -> &str {
        match &self.encoder {
            Encoder::Tokenizer(t) => &t.id,
            Encoder::Lengths(l) => l.label(),
        }
    }

    fn encode(&self, text: &str, key: &[u8; 12]) -> Result<Vec<u32>> {
        match &self.encoder {
            Encoder::Tokenizer(t) => t.encode(text),
            Encoder::Lengths(l) => {
                let n = l
                    .get(key)
                    .ok_or_else(|| Error::Other("internal: a block without a length".into()))?
                    as usize;
                // A token is at least a byte of the block's text, plus the framing a
                // request adds around it: a length far past that is usage that does not
                // add up, refused before its ids are made (they would be its only bound).
                let most = text.len() + MAX_FRAMING_TOKENS;
                if n > most {
                    return Err(Error::Other(format!(
                        "the logs' usage gives a block of {} bytes {n} tokens (at most {most} are possible): the usage is inconsistent; pass --stand-in TOKENIZER",
                        text.len()
                    )));
                }
                Ok(lengths::pseudo_ids(key, n))
            }
        }
    }

    fn kept(&self, len: usize, seen: u32) -> bool {
        match self.keep {
            Keep::All => true,
            Keep::SharedOrLong(min) => seen >= 2 || len >= min,
        }
    }

    /// The block of `text`, tokenized the first time it is seen (and again the second time if
    /// its ids were not kept then).
    pub fn intern(&mut self, text: &str) -> Result<BlockId> {
        let key = key_of(text);
        if let Some(&b) = self.index.get(&key) {
            let m = &mut self.meta[b as usize];
            m.seen = m.seen.saturating_add(1);
            let (missing, len, seen) = (m.start == NOT_KEPT, m.len as usize, m.seen);
            if missing && self.kept(len, seen) {
                let ids = self.encode(text, &key)?;
                self.store(b, &ids, text)?;
            }
            return Ok(b);
        }
        if self.meta.len() >= MAX_BLOCKS {
            return Err(Error::Other(format!(
                "more than {MAX_BLOCKS} distinct blocks under one tokenizer"
            )));
        }
        let ids = self.encode(text, &key)?;
        let b = self.meta.len() as BlockId;
        self.meta.push(Meta {
            start: NOT_KEPT,
            len: u32::try_from(ids.len()).unwrap_or(u32::MAX),
            seen: 1,
        });
        self.index.insert(key, b);
        if self.kept(ids.len(), 1) {
            self.store(b, &ids, text)?;
        }
        Ok(b)
    }

    fn store(&mut self, b: BlockId, ids: &[u32], text: &str) -> Result<()> {
        if self.pool.len() + ids.len() > self.max_ids {
            return Err(Error::Other(format!(
                "more than {} token ids of distinct blocks under one tokenizer",
                self.max_ids
            )));
        }
        self.meta[b as usize].start = self.pool.len() as u32;
        self.pool.extend_from_slice(ids);
        if self.keep_text {
            self.texts.insert(b, text.into());
        }
        Ok(())
    }

    /// Tokens in the block.
    pub fn len(&self, b: BlockId) -> usize {
        self.meta[b as usize].len as usize
    }

    /// The block's ids, when kept.
    pub fn ids(&self, b: BlockId) -> Option<&[u32]> {
        let m = &self.meta[b as usize];
        if m.start == NOT_KEPT {
            return None;
        }
        let s = m.start as usize;
        Some(&self.pool[s..s + m.len as usize])
    }

    /// The block's text, when kept and asked for.
    pub fn text(&self, b: BlockId) -> Option<&str> {
        self.texts.get(&b).map(|t| &**t)
    }

    /// Distinct blocks.
    pub fn count(&self) -> usize {
        self.meta.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(keep: Keep) -> BlockStore {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tokenizers/mistral/tekken_240911.json.gz");
        let tok = Tokenizer::load_file(
            "tekken",
            &path,
            crate::config::TokenizerFormat::Tekken,
            None,
        )
        .unwrap();
        BlockStore::new(Arc::new(tok), keep, true)
    }

    #[test]
    fn a_block_seen_once_and_short_keeps_only_its_length() {
        let mut s = store(Keep::SharedOrLong(64));
        let a = s.intern("Hello there.").unwrap();
        assert_eq!(s.ids(a), None);
        assert_eq!(s.text(a), None);
        assert!(s.len(a) > 0);
        // The second sight keeps ids and text, equal to a direct encoding.
        assert_eq!(s.intern("Hello there.").unwrap(), a);
        let direct = s.tokenizer().unwrap().encode("Hello there.").unwrap();
        assert_eq!(s.ids(a), Some(direct.as_slice()));
        assert_eq!(s.text(a), Some("Hello there."));
        assert_eq!(s.count(), 1);
    }

    #[test]
    fn long_blocks_and_keep_all_keep_ids_at_first_sight() {
        let long = "word ".repeat(100);
        let mut s = store(Keep::SharedOrLong(64));
        let b = s.intern(&long).unwrap();
        assert_eq!(s.ids(b).map(<[u32]>::len), Some(s.len(b)));
        let mut all = store(Keep::All);
        let c = all.intern("x").unwrap();
        assert!(all.ids(c).is_some());
    }
}
