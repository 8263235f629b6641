//! SentencePiece `.model` files (Mistral v1/v3/v7, Llama 2, Gemma): BPE and unigram models
//! with the normalization they carry, giving the ids of the Python `sentencepiece` package's
//! `encode(text, out_type=int)` (no BOS/EOS).
//!
//! The pipeline is `sentencepiece_processor.cc`'s: normalize ([`normalizer`]), encode with the
//! model ([`bpe`] or [`unigram`]), then spell unknown pieces as `<0xNN>` byte pieces when the
//! model has byte fallback, or merge runs of unknown pieces into one `<unk>` otherwise.
//! User-defined pieces are matched whole in the text; control pieces (`<s>`, `[INST]`) never
//! are. Offsets are byte ranges of the original text that tile it: a character spelled in
//! byte pieces belongs to its last byte piece, the others are empty, and whitespace removed by
//! the normalizer belongs to the neighbouring token.

mod bpe;
mod normalizer;
mod proto;
mod unigram;

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use normalizer::{Normalizer, PrefixMatcher, SPACE};
use proto::{ModelType, PieceType};

/// The vocabulary: each piece's text, score and type, and the two lookups SentencePiece keeps
/// (mergeable pieces, and the reserved ones: control, unknown, byte).
pub struct Pieces {
    strings: Vec<Box<str>>,
    scores: Vec<f32>,
    kinds: Vec<PieceType>,
    mergeable: FxHashMap<Box<str>, u32>,
    reserved: FxHashMap<Box<str>, u32>,
    unk_id: u32,
}

impl Pieces {
    fn new(pieces: Vec<proto::Piece>) -> Result<Self, String> {
        let n = pieces.len();
        let mut p = Pieces {
            strings: Vec::with_capacity(n),
            scores: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            mergeable: FxHashMap::default(),
            reserved: FxHashMap::default(),
            unk_id: u32::MAX,
        };
        for (i, piece) in pieces.into_iter().enumerate() {
            let id = i as u32;
            if piece.piece.is_empty() {
                return Err(format!("piece {i} is empty"));
            }
            let table = match piece.kind {
                PieceType::Normal | PieceType::UserDefined | PieceType::Unused => &mut p.mergeable,
                PieceType::Unknown | PieceType::Control | PieceType::Byte => &mut p.reserved,
            };
            if table.insert(piece.piece.clone().into(), id).is_some() {
                return Err(format!("piece {i} ({:?}) is defined twice", piece.kind));
            }
            if piece.kind == PieceType::Unknown {
                if p.unk_id != u32::MAX {
                    return Err(format!("piece {i}: a second unknown piece"));
                }
                p.unk_id = id;
            }
            p.strings.push(piece.piece.into());
            p.scores.push(piece.score);
            p.kinds.push(piece.kind);
        }
        if p.unk_id == u32::MAX {
            return Err("no unknown piece (`<unk>`) is defined".into());
        }
        Ok(p)
    }

    /// SentencePiece's `PieceToId`: reserved pieces first, then mergeable ones, else `<unk>`.
    pub fn piece_to_id(&self, s: &str) -> u32 {
        self.reserved
            .get(s)
            .or_else(|| self.mergeable.get(s))
            .copied()
            .unwrap_or(self.unk_id)
    }

    pub fn mergeable_id(&self, s: &str) -> Option<u32> {
        self.mergeable.get(s).copied()
    }

    pub fn mergeable(&self) -> impl Iterator<Item = &str> {
        self.mergeable.keys().map(|k| &**k)
    }

    pub fn mergeable_with_ids(&self) -> impl Iterator<Item = (&str, u32)> {
        self.mergeable.iter().map(|(k, &v)| (&**k, v))
    }

    pub fn normal_scores(&self) -> impl Iterator<Item = f32> + '_ {
        self.kinds
            .iter()
            .zip(&self.scores)
            .filter(|(k, _)| **k == PieceType::Normal)
            .map(|(_, s)| *s)
    }

    pub fn scores(&self) -> impl Iterator<Item = f32> + '_ {
        self.scores.iter().copied()
    }

    pub fn score(&self, id: u32) -> f32 {
        self.scores[id as usize]
    }

    fn kind(&self, id: u32) -> PieceType {
        self.kinds[id as usize]
    }

    pub fn is_unused(&self, id: u32) -> bool {
        self.kind(id) == PieceType::Unused
    }

    pub fn is_user_defined(&self, id: u32) -> bool {
        self.kind(id) == PieceType::UserDefined
    }

    pub fn unk_id(&self) -> u32 {
        self.unk_id
    }
}

enum Model {
    Bpe,
    Unigram(Box<unigram::Trie>),
}

/// A loaded SentencePiece model.
pub struct SentencePiece {
    pieces: Pieces,
    normalizer: Normalizer,
    users: PrefixMatcher,
    model: Model,
    /// Whether normalized text may be encoded in independent chunks ([`bpe::chunkable`]).
    chunked: bool,
    byte_fallback: bool,
    /// byte -> id of its `<0xNN>` piece (`<unk>` when the model has none).
    byte_ids: [u32; 256],
    special_tokens: BTreeMap<String, u32>,
}

impl SentencePiece {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let proto = proto::parse(bytes, crate::bounded::MAX_RANK as usize)?;
        let normalizer =
            Normalizer::new(&proto.normalizer, proto.trainer.treat_whitespace_as_suffix)?;
        let pieces = Pieces::new(proto.pieces)?;
        let users = PrefixMatcher::new(
            pieces
                .strings
                .iter()
                .zip(&pieces.kinds)
                .filter(|(_, k)| **k == PieceType::UserDefined)
                .map(|(s, _)| &**s),
        );
        let chunked = bpe::chunkable(&pieces);
        let model = match proto.trainer.model_type {
            ModelType::Bpe => Model::Bpe,
            ModelType::Unigram => Model::Unigram(Box::new(unigram::Trie::new(&pieces)?)),
        };
        let mut byte_ids = [pieces.unk_id; 256];
        for (b, slot) in byte_ids.iter_mut().enumerate() {
            *slot = pieces.piece_to_id(&format!("<0x{b:02X}>"));
        }
        let special_tokens = pieces
            .strings
            .iter()
            .zip(&pieces.kinds)
            .enumerate()
            .filter(|(_, (_, k))| {
                matches!(
                    k,
                    PieceType::Control | PieceType::UserDefined | PieceType::Unknown
                )
            })
            .map(|(i, (s, _))| (s.to_string(), i as u32))
            .collect();
        Ok(Self {
            pieces,
            normalizer,
            users,
            model,
            chunked,
            byte_fallback: proto.trainer.byte_fallback,
            byte_ids,
            special_tokens,
        })
    }

    /// Which model the file holds, for `prefix check`.
    pub fn model_name(&self) -> &'static str {
        match self.model {
            Model::Bpe => "bpe",
            Model::Unigram(_) => "unigram",
        }
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        Ok(self.run(text, false).0)
    }

    pub fn encode_with_offsets(&self, text: &str) -> Result<super::IdsWithOffsets, String> {
        let (ids, offsets) = self.run(text, true);
        Ok((ids, offsets.unwrap_or_default()))
    }

    /// Normalize, encode chunk by chunk, and turn model pieces into ids as they come (nothing
    /// per token is kept but the ids, and the offsets when asked for).
    fn run(&self, text: &str, want_offsets: bool) -> (Vec<u32>, Option<Vec<(usize, usize)>>) {
        let norm = self.normalizer.normalize(text, &self.users, want_offsets);
        let map = norm.to_orig.as_deref();
        let orig = |i: usize| map.map_or(0, |m| m[i] as usize);
        let mut ids = Vec::with_capacity(norm.text.len() / 4);
        let mut offsets: Option<Vec<(usize, usize)>> = want_offsets.then(Vec::new);
        let mut prev_unk = false;
        let bytes = norm.text.as_bytes();
        let mut emit = |start: usize, end: usize, id: u32| {
            let (a, b) = (orig(start), orig(end));
            let kind = self.pieces.kind(id);
            if kind == PieceType::Control {
                ids.push(id);
                if let Some(o) = offsets.as_mut() {
                    o.push((a, a));
                }
                return;
            }
            let unk = id == self.pieces.unk_id;
            if unk && self.byte_fallback {
                let piece = &bytes[start..end];
                for (i, &byte) in piece.iter().enumerate() {
                    ids.push(self.byte_ids[byte as usize]);
                    if let Some(o) = offsets.as_mut() {
                        o.push(if i + 1 == piece.len() { (a, b) } else { (a, a) });
                    }
                }
            } else if unk && prev_unk {
                if let Some(last) = offsets.as_mut().and_then(|o| o.last_mut()) {
                    last.1 = b;
                }
            } else {
                ids.push(id);
                if let Some(o) = offsets.as_mut() {
                    o.push((a, b));
                }
            }
            prev_unk = unk;
        };
        let mut score = 0.0f32;
        let mut scratch = Vec::new();
        bpe::for_each_chunk(&norm.text, self.chunked, |s, e| {
            let chunk = &norm.text[s..e];
            match &self.model {
                Model::Bpe => bpe::encode_chunk(chunk, s, &self.users, &self.pieces, &mut emit),
                Model::Unigram(trie) => unigram::encode_chunk(
                    chunk,
                    s,
                    trie,
                    &self.pieces,
                    &mut score,
                    &mut scratch,
                    &mut emit,
                ),
            }
        });
        // Whitespace the normalizer removed at either end belongs to the nearest token, so the
        // offsets tile the whole text.
        if let Some(o) = offsets.as_mut() {
            if let Some(first) = o.first_mut() {
                first.0 = 0;
            }
            if let Some(last) = o.last_mut() {
                last.1 = text.len();
            }
        }
        (ids, offsets)
    }

    /// (id, bytes) of every ordinary piece: normal and unused pieces with `▁` as a space, byte
    /// pieces as their byte. Control, unknown and user-defined pieces are special tokens.
    pub fn vocab(&self) -> impl Iterator<Item = (u32, Vec<u8>)> + '_ {
        self.pieces
            .strings
            .iter()
            .zip(&self.pieces.kinds)
            .enumerate()
            .filter_map(move |(i, (s, k))| {
                let bytes = match k {
                    PieceType::Normal | PieceType::Unused => s.replace(SPACE, " ").into_bytes(),
                    PieceType::Byte => {
                        let b = self.byte_ids.iter().position(|&id| id == i as u32)?;
                        vec![b as u8]
                    }
                    _ => return None,
                };
                Some((i as u32, bytes))
            })
    }

    pub fn special_tokens(&self) -> &BTreeMap<String, u32> {
        &self.special_tokens
    }
}
