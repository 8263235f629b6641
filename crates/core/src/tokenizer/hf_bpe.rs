//! Byte-level BPE `tokenizer.json` files (GPT-2, Qwen, DeepSeek, Llama 3 style) encoded
//! natively, without the `tokenizers` crate, with the same ids as its
//! `encode(text, add_special_tokens = false)`.
//!
//! [`HfBpe::from_json`] accepts a file only when every stage is one implemented here exactly,
//! and otherwise says which rule failed, so the caller falls back to the `tokenizers` crate:
//! - added tokens without `single_word`, `lstrip` or `rstrip`: matched leftmost-longest, those
//!   with `normalized: false` in the original text first, the others in the normalized text;
//! - normalizer: none, `NFC`, `NFKC` or an empty `Sequence` (the same Unicode tables as the
//!   `tokenizers` crate: `unicode-normalization-alignments`);
//! - pre-tokenizer: `ByteLevel` with its GPT-2 pattern, or a `Sequence` of `Split` (a known
//!   pattern, `Isolated`, not inverted: the text between matches is kept as pieces too) ending
//!   in `ByteLevel` without regex; never a prefix space;
//! - model: `BPE` with no dropout, byte fallback or subword affixes, every byte a token, every
//!   merge's parts and result in the vocabulary. Merging is `tokenizers`' `Word::merge_all`:
//!   the adjacent pair with the lowest merge rank first, leftmost on ties.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde_json::Value;
use unicode_normalization_alignments::{IsNormalized, UnicodeNormalization};

use super::hf_json::unicode_to_byte;
use super::pretok::{Splitter, GPT2_PATTERN};
use super::quick_check::Form;
use super::table_cache::{Cached, Reader, Writer};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Normalizer {
    None,
    Nfc,
    Nfkc,
}

impl Normalizer {
    fn apply(self, s: &str) -> std::borrow::Cow<'_, str> {
        if self == Self::None {
            return s.into();
        }
        // Block by block, each ending before an ASCII character (see `align`: no form composes
        // across one), so only blocks that need it pay for normalization, and each block is
        // checked once: the text is copied from the first block that is not normalized on.
        let mut out: Option<String> = None;
        let mut start = 0;
        while start < s.len() {
            let mut end = (start + BLOCK).min(s.len());
            while end < s.len() && !(s.as_bytes()[end].is_ascii()) {
                end += 1;
            }
            let block = &s[start..end];
            if self.is_normalized(block) {
                if let Some(out) = out.as_mut() {
                    out.push_str(block);
                }
            } else {
                let out = out.get_or_insert_with(|| {
                    let mut out = String::with_capacity(s.len() + s.len() / 8);
                    out.push_str(&s[..start]);
                    out
                });
                self.normalize_into(block, out);
            }
            start = end;
        }
        out.map_or(s.into(), std::borrow::Cow::Owned)
    }

    /// The quick check's form, if any.
    fn form(self) -> Option<Form> {
        match self {
            Self::None => None,
            Self::Nfc => Some(Form::Nfc),
            Self::Nfkc => Some(Form::Nfkc),
        }
    }

    fn is_normalized(self, s: &str) -> bool {
        s.is_ascii()
            || self
                .form()
                .is_none_or(|f| f.quick_check(s) == IsNormalized::Yes)
    }

    fn normalize_into(self, s: &str, out: &mut String) {
        match self {
            Self::None => out.push_str(s),
            Self::Nfc => out.extend(s.nfc().map(|(c, _)| c)),
            Self::Nfkc => out.extend(s.nfkc().map(|(c, _)| c)),
        }
    }
}

/// Normalization works on blocks of about this many bytes.
const BLOCK: usize = 4096;

/// Added tokens matched in the text (leftmost-longest, as `tokenizers`' `AddedVocabulary`).
///
/// A match starts only at some token's first byte. Where the tokens have at most three
/// distinct first bytes (every shipped file: `<`, and DeepSeek V4's one token that starts with
/// `｜`), those bytes are found with `memchr` and the automaton runs anchored at each; otherwise
/// it searches with the prefilter the `aho-corasick` crate chooses, which for V4's tokens was
/// two bytes of `｜`'s encoding that CJK and Cyrillic text is full of (3% of V4's encode against
/// 0.7% for V3's; docs/tokenizer-profile.md, tenth round).
struct AddedMatcher {
    ac: Option<aho_corasick::AhoCorasick>,
    /// The tokens' distinct first bytes, when there are at most three.
    firsts: Vec<u8>,
    ids: Vec<u32>,
}

impl AddedMatcher {
    fn new(tokens: Vec<(String, u32)>) -> Result<Self, String> {
        if tokens.is_empty() {
            return Ok(Self {
                ac: None,
                firsts: vec![],
                ids: vec![],
            });
        }
        let ac = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .start_kind(aho_corasick::StartKind::Both)
            .build(tokens.iter().map(|(s, _)| s.as_bytes()))
            .map_err(|e| format!("added tokens: {e}"))?;
        let mut firsts: Vec<u8> = tokens
            .iter()
            .filter_map(|(s, _)| s.bytes().next())
            .collect();
        firsts.sort_unstable();
        firsts.dedup();
        if firsts.len() > 3 {
            firsts.clear();
        }
        Ok(Self {
            ac: Some(ac),
            firsts,
            ids: tokens.into_iter().map(|(_, id)| id).collect(),
        })
    }

    /// Splits `text` into (start, end, Some(id)) for added tokens and (start, end, None) for
    /// the text between them.
    fn split(&self, text: &str, out: &mut Vec<(usize, usize, Option<u32>)>) {
        let mut at = 0;
        let mut take = |m: aho_corasick::Match, at: &mut usize| {
            if m.start() > *at {
                out.push((*at, m.start(), None));
            }
            out.push((m.start(), m.end(), Some(self.ids[m.pattern().as_usize()])));
            *at = m.end();
        };
        if let Some(ac) = &self.ac {
            let hay = text.as_bytes();
            if self.firsts.is_empty() {
                for m in ac.find_iter(text) {
                    take(m, &mut at);
                }
            } else {
                let mut from = 0;
                while let Some(p) = self.next_first(&hay[from..]).map(|i| from + i) {
                    let input = aho_corasick::Input::new(hay)
                        .range(p..)
                        .anchored(aho_corasick::Anchored::Yes);
                    // Built for anchored searches (`StartKind::Both`), the one thing
                    // `try_find` could report as unsupported here.
                    match ac.try_find(input).ok().flatten() {
                        Some(m) => {
                            take(m, &mut at);
                            from = at;
                        }
                        None => from = p + 1,
                    }
                }
            }
        }
        if at < text.len() || text.is_empty() {
            out.push((at, text.len(), None));
        }
    }

    /// Where the first of the tokens' first bytes in `hay` is.
    #[inline]
    fn next_first(&self, hay: &[u8]) -> Option<usize> {
        match *self.firsts.as_slice() {
            [a] => memchr::memchr(a, hay),
            [a, b] => memchr::memchr2(a, b, hay),
            [a, b, c] => memchr::memchr3(a, b, c, hay),
            _ => None,
        }
    }
}

/// Pieces longer than this that start with a CJK character or kana (a lead byte 0xE3-0xE9:
/// U+3000-U+9FFF; first or after one leading ASCII byte) are cut where no merge joins two
/// characters ([`super::seams`]) and the parts encoded one by one: such a run is rarely seen
/// twice, its words often. Shorter pieces are the memo's, and so are the long words of other
/// scripts, which come back whole (cut too, they took 3.4% of DeepSeek's samples for nothing).
const CUT_ABOVE: usize = 16;

pub struct HfBpe {
    normalizer: Normalizer,
    raw_added: AddedMatcher,
    normalized_added: AddedMatcher,
    /// The `Split` pre-tokenizers in order (several in a row may be one: [`Splitter::fused`]).
    splits: Vec<Splitter>,
    byte_ids: [u32; 256],
    /// (left id, right id) -> (merge rank, merged id).
    merges: super::merge::Merges,
    /// The characters a merge may start from whole.
    atoms: super::atoms::Atoms,
    /// Where a long piece can be cut into parts that merge on their own.
    seams: super::seams::Seams,
    /// The bytes of every token that the merges make from those bytes, -> its id: a piece
    /// found here is that one token, as merging it would give (checked for each token when the
    /// engine is built), without merging.
    whole: super::rank_table::RankTable,
    /// id -> bytes, for offsets (empty for ids that are not vocabulary tokens).
    id_bytes: Vec<Box<[u8]>>,
}

fn is_false(v: &Value, key: &str) -> bool {
    v.get(key)
        .is_none_or(|x| x.is_null() || x == &Value::Bool(false))
}

/// The parts of a tokenizer.json the native engine reads; strings borrowed from the file where
/// they need no unescaping.
#[derive(serde::Deserialize)]
struct File<'a> {
    #[serde(default)]
    normalizer: Option<Value>,
    #[serde(default)]
    pre_tokenizer: Option<Value>,
    #[serde(borrow)]
    model: Model<'a>,
    #[serde(default, borrow)]
    added_tokens: Vec<AddedToken<'a>>,
}

#[derive(serde::Deserialize)]
struct Model<'a> {
    #[serde(rename = "type")]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    dropout: Option<f64>,
    #[serde(default)]
    byte_fallback: Option<bool>,
    #[serde(default)]
    ignore_merges: Option<bool>,
    #[serde(default, borrow)]
    continuing_subword_prefix: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    end_of_word_suffix: Option<Cow<'a, str>>,
    #[serde(borrow)]
    vocab: FxHashMap<Cow<'a, str>, u64>,
    #[serde(borrow)]
    merges: Vec<Merge<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Merge<'a> {
    Joined(#[serde(borrow)] Cow<'a, str>),
    Pair(#[serde(borrow)] Cow<'a, str>, #[serde(borrow)] Cow<'a, str>),
}

#[derive(serde::Deserialize)]
struct AddedToken<'a> {
    id: u64,
    #[serde(borrow)]
    content: Cow<'a, str>,
    #[serde(default)]
    single_word: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default = "yes")]
    normalized: bool,
}

fn yes() -> bool {
    true
}

/// What loading a tokenizer.json natively gives: the engine, the id -> bytes table of ordinary
/// tokens, and the added tokens.
pub struct Loaded {
    pub engine: HfBpe,
    pub vocab: Vec<(u32, Vec<u8>)>,
    pub special_tokens: BTreeMap<String, u32>,
}

/// A checked tokenizer.json's tables: what [`HfBpe`] is built from and the table cache keeps.
pub struct Parts {
    normalizer: Normalizer,
    patterns: Vec<String>,
    /// Added tokens matched in the original text, and those matched after normalization.
    raw: Vec<(String, u32)>,
    normalized: Vec<(String, u32)>,
    special_tokens: BTreeMap<String, u32>,
    id_bytes: Vec<Box<[u8]>>,
    /// (left, right, merged) in merge-rank order.
    merges: Vec<(u32, u32, u32)>,
    added_ids: Vec<u32>,
    /// The tokens the merges make from their own bytes (worked out once, when the file is
    /// parsed, and kept in the table cache): a piece with those bytes is that token.
    whole: Vec<u32>,
}

/// byte -> id of its one-byte token (the first listed).
fn byte_ids(id_bytes: &[Box<[u8]>]) -> Result<[u32; 256], String> {
    let mut byte_ids = [0u32; 256];
    let mut seen = [false; 256];
    for (id, b) in (0u32..).zip(id_bytes) {
        if let [x] = b[..] {
            if !seen[usize::from(x)] {
                byte_ids[usize::from(x)] = id;
                seen[usize::from(x)] = true;
            }
        }
    }
    match seen.iter().position(|s| !s) {
        Some(b) => Err(format!("no token for the byte 0x{b:02x}")),
        None => Ok(byte_ids),
    }
}

/// The merge table of a merges list (the first rule for a pair wins).
fn merge_table(list: &[(u32, u32, u32)]) -> super::merge::Merges {
    let mut merges = super::merge::Merges::with_capacity(list.len());
    for (rank, &(a, b, m)) in (0u32..).zip(list) {
        merges.insert_first(a, b, rank, m);
    }
    merges
}

/// The ids of the tokens that merging their own bytes gives back whole.
fn whole_tokens(
    id_bytes: &[Box<[u8]>],
    merges: &super::merge::Merges,
    byte_ids: &[u32; 256],
    added_ids: &[u32],
) -> Vec<u32> {
    let added: rustc_hash::FxHashSet<u32> = added_ids.iter().copied().collect();
    let (mut syms, mut pairs) = (Vec::new(), Vec::new());
    let mut whole = Vec::new();
    for (id, b) in (0u32..).zip(id_bytes) {
        if b.is_empty() || added.contains(&id) {
            continue;
        }
        syms.clear();
        syms.extend(b.iter().map(|&x| byte_ids[usize::from(x)]));
        merges.apply(&mut syms, &mut pairs);
        if syms[..] == [id] {
            whole.push(id);
        }
    }
    whole
}

impl Parts {
    pub fn build(self) -> Result<Loaded, String> {
        let byte_ids = byte_ids(&self.id_bytes)?;
        let mut merges = merge_table(&self.merges);
        merges.index_bytes(&byte_ids);
        let atoms = super::atoms::Atoms::of_merges(
            &self.merges,
            &merges,
            &self.id_bytes,
            &byte_ids,
            &self.whole,
        );
        let bytes = |id: u32| self.id_bytes.get(id as usize).map_or(&[][..], |b| &b[..]);
        let seams = super::seams::Seams::of_merges(
            self.merges.iter().map(|&(l, r, _)| (bytes(l), bytes(r))),
        );
        // Distinct keys: merging is deterministic, so two ids with the same bytes cannot both
        // be given back whole.
        let whole = super::rank_table::RankTable::of(self.whole.iter().filter_map(|&id| {
            let b = self.id_bytes.get(id as usize)?;
            (!b.is_empty()).then_some((&b[..], id))
        }));
        let mut splits = Vec::with_capacity(self.patterns.len());
        let mut patterns = &self.patterns[..];
        // Splits in a row that one does as well, in one pass (DeepSeek's first two or three).
        let names: Vec<&str> = patterns.iter().map(String::as_str).collect();
        if let Some((fused, n)) = Splitter::fused(&names) {
            splits.push(fused);
            patterns = &patterns[n..];
        }
        for p in patterns {
            splits.push(known(p)?);
        }
        let added: rustc_hash::FxHashSet<u32> = self.added_ids.iter().copied().collect();
        let vocab = self
            .id_bytes
            .iter()
            .enumerate()
            .filter(|(id, b)| !b.is_empty() && !added.contains(&(*id as u32)))
            .map(|(id, b)| (id as u32, b.to_vec()))
            .collect();
        // The quick check's bit set is built with the engine, not by its first encode.
        if let Some(form) = self.normalizer.form() {
            form.prepare();
        }
        Ok(Loaded {
            engine: HfBpe {
                normalizer: self.normalizer,
                raw_added: AddedMatcher::new(self.raw)?,
                normalized_added: AddedMatcher::new(self.normalized)?,
                splits,
                byte_ids,
                merges,
                atoms,
                seams,
                whole,
                id_bytes: self.id_bytes,
            },
            vocab,
            special_tokens: self.special_tokens,
        })
    }
}

impl Cached for Parts {
    fn write(&self, w: &mut Writer) {
        w.u32(match self.normalizer {
            Normalizer::None => 0,
            Normalizer::Nfc => 1,
            Normalizer::Nfkc => 2,
        });
        w.u32(self.patterns.len() as u32);
        self.patterns.iter().for_each(|p| w.str(p));
        for list in [&self.raw, &self.normalized] {
            w.u32(list.len() as u32);
            for (s, id) in list {
                w.str(s);
                w.u32(*id);
            }
        }
        w.u32(self.special_tokens.len() as u32);
        for (s, id) in &self.special_tokens {
            w.str(s);
            w.u32(*id);
        }
        w.u32(self.id_bytes.len() as u32);
        self.id_bytes.iter().for_each(|b| w.bytes(b));
        w.u32(self.merges.len() as u32);
        for &(a, b, m) in &self.merges {
            w.u32(a);
            w.u32(b);
            w.u32(m);
        }
        for list in [&self.added_ids, &self.whole] {
            w.u32(list.len() as u32);
            list.iter().for_each(|&id| w.u32(id));
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, String> {
        let normalizer = match r.u32()? {
            0 => Normalizer::None,
            1 => Normalizer::Nfc,
            2 => Normalizer::Nfkc,
            _ => return Err("table cache: unknown normalizer".into()),
        };
        let n = r.count(4)?;
        let patterns = (0..n)
            .map(|_| Ok(r.str()?.to_string()))
            .collect::<Result<_, String>>()?;
        let pairs = |r: &mut Reader<'_>| -> Result<Vec<(String, u32)>, String> {
            let n = r.count(8)?;
            (0..n)
                .map(|_| Ok((r.str()?.to_string(), r.u32()?)))
                .collect()
        };
        let raw = pairs(r)?;
        let normalized = pairs(r)?;
        let special_tokens = pairs(r)?.into_iter().collect();
        let n = r.count(4)?;
        let id_bytes = (0..n)
            .map(|_| Ok(r.bytes()?.into()))
            .collect::<Result<_, String>>()?;
        let n = r.count(12)?;
        let merges = (0..n)
            .map(|_| Ok((r.u32()?, r.u32()?, r.u32()?)))
            .collect::<Result<_, String>>()?;
        let ids = |r: &mut Reader<'_>| -> Result<Vec<u32>, String> {
            let n = r.count(4)?;
            (0..n).map(|_| r.u32()).collect()
        };
        let added_ids = ids(r)?;
        let whole = ids(r)?;
        Ok(Self {
            normalizer,
            patterns,
            raw,
            normalized,
            special_tokens,
            id_bytes,
            merges,
            added_ids,
            whole,
        })
    }
}

impl HfBpe {
    /// The native engine for a tokenizer.json, or the reason it cannot give the `tokenizers`
    /// crate's ids (the caller then uses that crate).
    pub fn from_bytes(bytes: &[u8]) -> Result<Loaded, String> {
        Self::parse(bytes)?.build()
    }

    /// Reads and checks a tokenizer.json into the tables the engine is built from (what the
    /// table cache keeps).
    pub fn parse(bytes: &[u8]) -> Result<Parts, String> {
        let file: File<'_> =
            serde_json::from_slice(bytes).map_err(|e| format!("cannot read it natively: {e}"))?;
        let normalizer = match file.normalizer.as_ref().filter(|v| !v.is_null()) {
            None => Normalizer::None,
            Some(n) => match n.get("type").and_then(Value::as_str) {
                Some("NFC") => Normalizer::Nfc,
                Some("NFKC") => Normalizer::Nfkc,
                Some("Sequence")
                    if n.get("normalizers")
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.is_empty()) =>
                {
                    Normalizer::None
                }
                other => return Err(format!("normalizer {other:?} is not implemented natively")),
            },
        };
        let patterns = pre_tokenizer(file.pre_tokenizer.as_ref().filter(|v| !v.is_null()))?;

        let model = &file.model;
        if model.kind.as_deref() != Some("BPE") {
            return Err("the model is not BPE".into());
        }
        if model.byte_fallback == Some(true) {
            return Err("model.byte_fallback is set".into());
        }
        if model.ignore_merges == Some(true) {
            return Err("model.ignore_merges is set".into());
        }
        if model.dropout.is_some() {
            return Err("model.dropout is set".into());
        }
        if model
            .continuing_subword_prefix
            .as_deref()
            .is_some_and(|s| !s.is_empty())
            || model
                .end_of_word_suffix
                .as_deref()
                .is_some_and(|s| !s.is_empty())
        {
            return Err("model.continuing_subword_prefix or end_of_word_suffix is set".into());
        }
        let table = unicode_to_byte();
        let limit = u64::from(crate::bounded::MAX_RANK);
        let added_ids: rustc_hash::FxHashSet<u64> =
            file.added_tokens.iter().map(|t| t.id).collect();
        let mut id_bytes: Vec<Box<[u8]>> = Vec::new();
        for (s, &id) in &model.vocab {
            if id > limit {
                return Err(format!("vocab id {id} is out of range (at most {limit})"));
            }
            if added_ids.contains(&id) {
                continue; // matched as an added token, never produced by merges
            }
            let bytes: Vec<u8> = s
                .chars()
                .map(|c| table.get(&c).copied())
                .collect::<Option<_>>()
                .ok_or_else(|| format!("vocab token {id} is not byte-level"))?;
            if id_bytes.len() <= id as usize {
                id_bytes.resize(id as usize + 1, Box::default());
            }
            id_bytes[id as usize] = bytes.into();
        }
        let mut merges = Vec::with_capacity(model.merges.len());
        let mut joined = String::new();
        for (rank, m) in model.merges.iter().enumerate() {
            let (a, b) = match m {
                Merge::Joined(s) => s.split_once(' ').ok_or("a merge is not `a b`")?,
                Merge::Pair(a, b) => (a.as_ref(), b.as_ref()),
            };
            let id = |s: &str| {
                model
                    .vocab
                    .get(s)
                    .map(|&i| i as u32)
                    .ok_or_else(|| format!("merge {rank}: a part is not in the vocabulary"))
            };
            joined.clear();
            joined.push_str(a);
            joined.push_str(b);
            let merged = id(&joined)?;
            merges.push((id(a)?, id(b)?, merged));
        }

        let mut raw = vec![];
        let mut normalized = vec![];
        let mut special_tokens = BTreeMap::new();
        for t in &file.added_tokens {
            if t.single_word || t.lstrip || t.rstrip {
                return Err("an added token has single_word, lstrip or rstrip".into());
            }
            if t.id > limit {
                return Err(format!("added token id {} is out of range", t.id));
            }
            special_tokens.insert(t.content.to_string(), t.id as u32);
            if t.content.is_empty() {
                continue;
            }
            if t.normalized {
                normalized.push((normalizer.apply(&t.content).into_owned(), t.id as u32));
            } else {
                raw.push((t.content.to_string(), t.id as u32));
            }
        }
        let added_ids: Vec<u32> = added_ids.into_iter().map(|id| id as u32).collect();
        // The file's vocabulary map and merge strings (29 MB resident for Qwen3) go before the
        // merge table is built from their ids.
        drop(file);
        let whole = whole_tokens(
            &id_bytes,
            &merge_table(&merges),
            &byte_ids(&id_bytes)?,
            &added_ids,
        );
        Ok(Parts {
            normalizer,
            patterns,
            raw,
            normalized,
            special_tokens,
            id_bytes,
            merges,
            added_ids,
            whole,
        })
    }

    /// Ids of `text`, and when `offsets` is given, the byte range of `text` each covers.
    pub fn encode_into(
        &self,
        text: &str,
        ids: &mut Vec<u32>,
        mut offsets: Option<&mut Vec<(usize, usize)>>,
    ) {
        let mut raw_parts = Vec::new();
        self.raw_added.split(text, &mut raw_parts);
        let mut memo = super::memo::Memo::for_text(text.len());
        let (mut syms, mut pairs) = (Vec::new(), Vec::new());
        let mut parts = Vec::new();
        for (rs, re, added) in raw_parts {
            if let Some(id) = added {
                ids.push(id);
                if let Some(o) = offsets.as_deref_mut() {
                    o.push((rs, re));
                }
                continue;
            }
            let segment = &text[rs..re];
            let normalized = self.normalizer.apply(segment);
            // Normalized byte -> original byte; identity when normalization changed nothing.
            let map = match &normalized {
                std::borrow::Cow::Owned(n) if offsets.is_some() && n != segment => {
                    Some(align(segment, n, self.normalizer))
                }
                _ => None,
            };
            let orig = |i: usize| rs + map.as_ref().map_or(i, |m: &Vec<usize>| m[i]);
            parts.clear();
            self.normalized_added.split(&normalized, &mut parts);
            for &(ns, ne, added) in &parts {
                if let Some(id) = added {
                    ids.push(id);
                    if let Some(o) = offsets.as_deref_mut() {
                        o.push((orig(ns), orig(ne)));
                    }
                    continue;
                }
                let nbytes = normalized.as_bytes();
                self.pre_tokenize(&normalized, ns, ne, &mut |ps, pe| {
                    let first = ids.len();
                    let piece = &nbytes[ps..pe];
                    let mut encode = |p: &[u8], ids: &mut Vec<u32>| match self.whole.get(p) {
                        Some(id) => ids.push(id),
                        None => memo.encode(p, ids, |p, out| {
                            self.merges.apply_bytes(
                                p,
                                &self.byte_ids,
                                &self.atoms,
                                &mut syms,
                                &mut pairs,
                                out,
                            )
                        }),
                    };
                    if piece.len() > CUT_ABOVE
                        && piece[..2].iter().any(|b| (0xE3..=0xE9).contains(b))
                    {
                        self.seams.cut(piece, &self.atoms, |p| encode(p, ids));
                    } else {
                        encode(piece, ids);
                    }
                    if let Some(o) = offsets.as_deref_mut() {
                        // A byte-level token may end inside a character; like the `tokenizers`
                        // crate, report the whole characters it touches.
                        let mut at = ps;
                        for &id in &ids[first..] {
                            let len = self.id_bytes.get(id as usize).map_or(0, |b| b.len());
                            let (a, b) = (orig(at), orig((at + len).min(pe)));
                            o.push((floor_char(text, a), ceil_char(text, b)));
                            at += len;
                        }
                    }
                });
            }
        }
    }

    /// Applies the split patterns in order, each to the pieces of the one before (`Isolated`:
    /// matches and the text between them are pieces), calling `f` for each final piece. One
    /// or two patterns (every shipped tokenizer.json) are one loop with `f` inlined in it: with
    /// a call through `dyn FnMut` per piece, DeepSeek ran 7% more mispredicted branches
    /// (docs/tokenizer-profile.md, seventh round).
    fn pre_tokenize(&self, text: &str, start: usize, end: usize, f: &mut impl FnMut(usize, usize)) {
        match self.splits.as_slice() {
            [] => {
                if start < end {
                    f(start, end)
                }
            }
            [only] => isolated(only, text, start, end, f),
            [first, second] => isolated(first, text, start, end, &mut |a, b| {
                isolated(second, text, a, b, f)
            }),
            _ => self.pre_tokenize_from(text, start, end, 0, f),
        }
    }

    /// [`HfBpe::pre_tokenize`] from the split at `level` on, for any number of splits.
    fn pre_tokenize_from(
        &self,
        text: &str,
        start: usize,
        end: usize,
        level: usize,
        f: &mut dyn FnMut(usize, usize),
    ) {
        match self.splits.get(level) {
            None if start < end => f(start, end),
            None => {}
            Some(splitter) => isolated(splitter, text, start, end, &mut |a, b| {
                self.pre_tokenize_from(text, a, b, level + 1, f)
            }),
        }
    }
}

/// Calls `f` for each piece of `text[start..end]` split by `splitter`, `Isolated`: its
/// matches and the text between them.
#[inline(always)]
fn isolated(
    splitter: &Splitter,
    text: &str,
    start: usize,
    end: usize,
    f: &mut impl FnMut(usize, usize),
) {
    if start == end {
        return;
    }
    let piece = &text[start..end];
    let mut at = 0;
    // The splitters in use never fail on valid text (the fast forms cannot).
    let _ = splitter.pieces(piece, |a, b| {
        if a > at {
            f(start + at, start + a);
        }
        if b > a {
            f(start + a, start + b);
        }
        at = b;
    });
    if at < piece.len() {
        f(start + at, end);
    }
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn pre_tokenizer(p: Option<&Value>) -> Result<Vec<String>, String> {
    let byte_level = |v: &Value, with_regex: bool| -> Result<(), String> {
        if !is_false(v, "add_prefix_space") {
            return Err("pre_tokenizer ByteLevel adds a prefix space".into());
        }
        let uses_regex = v.get("use_regex").and_then(Value::as_bool).unwrap_or(true);
        if uses_regex != with_regex {
            return Err(format!(
                "pre_tokenizer ByteLevel use_regex={uses_regex} here is not implemented natively"
            ));
        }
        Ok(())
    };
    let p = p.ok_or("no pre_tokenizer")?;
    match p.get("type").and_then(Value::as_str) {
        Some("ByteLevel") => {
            byte_level(p, true)?;
            Ok(vec![GPT2_PATTERN.to_string()])
        }
        Some("Sequence") => {
            let list = p
                .get("pretokenizers")
                .and_then(Value::as_array)
                .ok_or("pre_tokenizer Sequence without a list")?;
            let (last, splits) = list.split_last().ok_or("an empty pre_tokenizer Sequence")?;
            if last.get("type").and_then(Value::as_str) != Some("ByteLevel") {
                return Err("the pre_tokenizer Sequence does not end in ByteLevel".into());
            }
            byte_level(last, false)?;
            splits
                .iter()
                .map(|s| {
                    if s.get("type").and_then(Value::as_str) != Some("Split")
                        || s.get("behavior").and_then(Value::as_str) != Some("Isolated")
                        || !is_false(s, "invert")
                    {
                        return Err(format!(
                            "pre_tokenizer step {} is not an isolated Split",
                            s.get("type").unwrap_or(&Value::Null)
                        ));
                    }
                    let pattern = s
                        .get("pattern")
                        .and_then(|p| p.get("Regex"))
                        .and_then(Value::as_str)
                        .ok_or("a Split pattern is not a Regex")?;
                    // Compiled once, when the engine is built (`Parts::build`).
                    if !Splitter::has_fast_form(pattern) {
                        return Err("a split pattern is not one of the known ones".into());
                    }
                    Ok(pattern.to_string())
                })
                .collect()
        }
        other => Err(format!(
            "pre_tokenizer {other:?} is not implemented natively"
        )),
    }
}

/// A splitter for a pattern whose fast form is checked against the regex engine; the
/// `tokenizers` crate runs other patterns on Oniguruma, whose semantics we do not reproduce.
fn known(pattern: &str) -> Result<Splitter, String> {
    let s = Splitter::new(pattern)?;
    if s.is_fast() {
        Ok(s)
    } else {
        Err("a split pattern is not one of the known ones".into())
    }
}

/// Normalized byte -> original byte, for a segment whose normalization changed it. Text is
/// normalized in chunks that start at ASCII characters (no normalization form composes a
/// character with an ASCII one that follows it, or reorders across one), so every byte of a
/// chunk maps to the chunk's start and its end to the chunk's end.
fn align(segment: &str, normalized: &str, form: Normalizer) -> Vec<usize> {
    let mut map = Vec::with_capacity(normalized.len() + 1);
    let mut chunk_start = 0;
    let mut built = String::with_capacity(normalized.len());
    let bytes = segment.as_bytes();
    for i in 1..=segment.len() {
        if i == segment.len() || (bytes[i].is_ascii() && segment.is_char_boundary(i)) {
            let chunk = &segment[chunk_start..i];
            let n = form.apply(chunk);
            if n == chunk {
                map.extend(chunk_start..i);
            } else {
                map.extend(std::iter::repeat_n(chunk_start, n.len()));
            }
            built.push_str(&n);
            chunk_start = i;
        }
    }
    map.push(segment.len());
    if built != normalized {
        // Not expected; stay monotone and in bounds: everything maps to the segment's start.
        return (0..=normalized.len())
            .map(|i| {
                if i == normalized.len() {
                    segment.len()
                } else {
                    0
                }
            })
            .collect();
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// The shipped tokenizer.json files the native engine takes, loaded once per test run.
    fn shipped() -> &'static [(&'static str, HfBpe)] {
        static ENGINES: OnceLock<Vec<(&'static str, HfBpe)>> = OnceLock::new();
        ENGINES.get_or_init(|| {
            [
                "deepseek/deepseek-v3",
                "qwen/qwen3",
                "anthropic/claude-legacy",
            ]
            .into_iter()
            .map(|name| {
                let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("../../tokenizers/{name}.tokenizer.json.gz"));
                let bytes = super::super::read_maybe_gzip(&path).expect("shipped file");
                (
                    name,
                    HfBpe::from_bytes(&bytes).expect("native engine").engine,
                )
            })
            .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
        #[test]
        fn starting_from_whole_characters_changes_no_id_of_the_shipped_merges(
            chars in proptest::collection::vec(
                proptest::sample::select(super::super::atoms::SCRIPT_CHARS), 1..24),
        ) {
            let piece: String = chars.into_iter().collect();
            let none = super::super::atoms::Atoms::default();
            for (name, e) in shipped() {
                let (mut with, mut without) = (vec![], vec![]);
                e.merges.apply_bytes(piece.as_bytes(), &e.byte_ids, &e.atoms, &mut vec![], &mut vec![], &mut with);
                e.merges.apply_bytes(piece.as_bytes(), &e.byte_ids, &none, &mut vec![], &mut vec![], &mut without);
                prop_assert_eq!(with, without, "{} {:?}", name, piece);
            }
        }
    }

    /// Common CJK characters and kana (words of one to four of them are tokens), with the
    /// characters of the other scripts and what stands beside them.
    fn cjk_text() -> impl Strategy<Value = String> {
        const CJK: &str = "中国人民我们的是在有这个上来到时大地为子你说生年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间知世什两次使身者被高已亲其进此话常与活正感見語本、。「」ーカタナひらがなアイウエオンの漢字";
        let chars: Vec<char> = CJK
            .chars()
            .chain(super::super::atoms::SCRIPT_CHARS.iter().copied())
            .collect();
        proptest::collection::vec(
            prop_oneof![
                6 => proptest::sample::select(chars[..CJK.chars().count()].to_vec()),
                1 => proptest::sample::select(chars),
            ],
            1..60,
        )
        .prop_map(|c| c.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
        /// A piece cut where no merge joins two characters merges, part by part, to the ids of
        /// the whole piece merged from its bytes.
        #[test]
        fn cutting_a_piece_at_its_seams_changes_no_id_of_the_shipped_merges(piece in cjk_text()) {
            let none = super::super::atoms::Atoms::default();
            for (name, e) in shipped() {
                let p = piece.as_bytes();
                let mut whole = vec![];
                e.merges.apply_bytes(p, &e.byte_ids, &none, &mut vec![], &mut vec![], &mut whole);
                let mut cut = vec![];
                e.seams.cut(p, &e.atoms, |part| {
                    e.merges.apply_bytes(part, &e.byte_ids, &e.atoms, &mut vec![], &mut vec![], &mut cut)
                });
                prop_assert_eq!(cut, whole, "{} {:?}", name, piece);
            }
        }
    }

    /// The cuts are where no merge joins: a CJK sentence comes apart into its words, and a
    /// word that is one token stays whole.
    #[test]
    fn a_cjk_sentence_is_cut_into_words() {
        for (name, e) in shipped() {
            let parts = |s: &str| {
                let mut v: Vec<String> = vec![];
                e.seams.cut(s.as_bytes(), &e.atoms, |p| {
                    v.push(String::from_utf8(p.to_vec()).unwrap())
                });
                v
            };
            let sentence = parts("我们的人民在中国生活了很多年，看到了世界的变化。");
            assert!(sentence.len() >= 6, "{name}: {sentence:?}");
            assert_eq!(
                sentence.concat(),
                "我们的人民在中国生活了很多年，看到了世界的变化。"
            );
            assert!(
                sentence.iter().any(|p| p.contains("中国")),
                "{name}: {sentence:?}"
            );
        }
    }

    /// The added tokens' split, by the automaton's own unanchored search: what `split` gives
    /// when the tokens have more than three first bytes.
    fn split_by_find_iter(
        tokens: &[(String, u32)],
        text: &str,
    ) -> Vec<(usize, usize, Option<u32>)> {
        let mut m = AddedMatcher::new(tokens.to_vec()).unwrap();
        m.firsts.clear();
        let mut out = vec![];
        m.split(text, &mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
        /// Anchored at the tokens' first bytes (found with `memchr`), the split is the
        /// automaton's leftmost-longest search: on text made of DeepSeek V4's added tokens (all
        /// of them: those matched in the normalized text start with `<` or `｜`), pieces of them
        /// and what is around them in prompts.
        #[test]
        fn added_tokens_found_from_their_first_bytes_are_the_automatons_matches(
            parts in proptest::collection::vec(0usize..14, 0..24),
        ) {
            static V4: OnceLock<Vec<(String, u32)>> = OnceLock::new();
            let tokens = V4.get_or_init(|| {
                let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../tokenizers/deepseek/deepseek-v4.tokenizer.json.gz");
                let bytes = super::super::read_maybe_gzip(&path).expect("shipped file");
                let json: Value = serde_json::from_slice(&bytes).unwrap();
                json["added_tokens"].as_array().unwrap().iter()
                    .map(|t| (t["content"].as_str().unwrap().to_string(), t["id"].as_u64().unwrap() as u32))
                    .collect()
            });
            let firsts: std::collections::BTreeSet<u8> = tokens.iter().map(|(s, _)| s.as_bytes()[0]).collect();
            prop_assert!(firsts.len() == 2, "V4's tokens start with two bytes: {:?}", firsts);
            let pick = |k: usize| tokens[k * 97 % tokens.len()].0.as_str();
            let text: String = parts.iter().map(|&k| match k {
                0 => "<",
                1 => "｜",
                2 => "<｜",
                3 => "text 東京，",
                4 => pick(3),
                5 => pick(40),
                6 => pick(7).trim_end_matches('>'),
                7 => "<｜end▁of▁sentence｜>",
                8 => "<｜end▁of▁sentence",
                9 => " ",
                10 => pick(1000),
                11 => "｜DSML｜",
                12 => "｜DSM",
                _ => "ｌ",
            }).collect();
            let m = AddedMatcher::new(tokens.clone()).unwrap();
            prop_assert_eq!(m.firsts.len(), 2);
            let mut got = vec![];
            m.split(&text, &mut got);
            prop_assert_eq!(got, split_by_find_iter(tokens, &text), "{:?}", text);
        }
    }

    #[test]
    fn the_shipped_merges_start_most_single_character_tokens_whole() {
        for (name, e) in shipped() {
            assert!(e.atoms.count() > 1000, "{name}: {} atoms", e.atoms.count());
        }
    }
}
