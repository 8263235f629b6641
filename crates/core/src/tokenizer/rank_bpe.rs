//! Rank-based byte-pair encoding: tiktoken `.tiktoken` files and Mistral tekken JSON.
//!
//! Both formats are a table of byte strings ordered by merge rank plus a split regex; they
//! differ only in packaging. Encoding is `tiktoken`'s `encode_ordinary`: split by the pattern
//! ([`super::Splitter`]: a hand-written scanner or the `regex` crate for known patterns,
//! `fancy-regex` as tiktoken uses for others), look each piece up whole, and merge the pieces
//! not in the table from their bytes, by rank ([`super::merge::by_rank`]), looking strings up
//! in a table laid out for it ([`super::rank_table`]). Special-token text is ordinary text
//! here, as hosted APIs treat it.

use std::collections::BTreeMap;

use base64::Engine as _;
use rustc_hash::FxHashMap;
use serde::Deserialize;

/// The parts of a tiktoken encoding that the rank file does not carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TiktokenSpec {
    /// The split regex (fancy-regex syntax, as in tiktoken).
    pub pattern: String,
    #[serde(default)]
    pub special_tokens: BTreeMap<String, u32>,
    /// Added to every rank to give the token id (0 for OpenAI's files).
    #[serde(default)]
    pub id_offset: u32,
    /// Where the pattern and special tokens were taken from.
    #[serde(default)]
    pub source: Option<String>,
}

/// A loaded rank table with its regex, ready to encode.
pub struct RankBpe {
    /// token bytes -> rank, the table BPE merges by.
    table: super::rank_table::RankTable,
    /// byte -> rank of the one-byte token.
    byte_rank: [u32; 256],
    /// The characters a merge may start from whole.
    atoms: super::atoms::Atoms,
    splitter: super::Splitter,
    /// rank -> bytes; an empty entry is a gap in the ranks. Used for byte offsets and the
    /// vocabulary hash.
    decoder: Vec<Vec<u8>>,
    id_offset: u32,
    special_tokens: BTreeMap<String, u32>,
}

impl RankBpe {
    pub fn new(
        ranks: FxHashMap<Vec<u8>, u32>,
        pattern: &str,
        id_offset: u32,
        special_tokens: BTreeMap<String, u32>,
    ) -> Result<Self, String> {
        let max_rank = ranks.values().copied().max().unwrap_or(0);
        // The decoder table is sized by the largest rank: check it before allocating, so a file
        // with rank 4000000000 is an error, not a 96 GB allocation.
        let limit = crate::bounded::MAX_RANK;
        if max_rank > limit {
            return Err(format!(
                "rank {max_rank} is out of range (at most {limit}; real vocabularies stay under 300000)"
            ));
        }
        if let Some(bad) = special_tokens.values().find(|&&id| id > limit) {
            return Err(format!(
                "special token id {bad} is out of range (at most {limit})"
            ));
        }
        if id_offset > limit {
            return Err(format!(
                "id offset {id_offset} is out of range (at most {limit})"
            ));
        }
        let max = max_rank as usize;
        let mut decoder = vec![Vec::new(); if ranks.is_empty() { 0 } else { max + 1 }];
        for (bytes, &rank) in &ranks {
            if bytes.is_empty() {
                return Err(format!("rank {rank} has an empty token"));
            }
            let slot = &mut decoder[rank as usize];
            if !slot.is_empty() {
                return Err(format!("rank {rank} appears twice"));
            }
            *slot = bytes.clone();
        }
        // Every single byte must have a rank, or BPE cannot encode arbitrary text.
        let mut byte_rank = [0u32; 256];
        for b in 0..=255u8 {
            match ranks.get(&[b][..]) {
                Some(&r) => byte_rank[usize::from(b)] = r,
                None => return Err(format!("no rank for the single byte 0x{b:02x}")),
            }
        }
        // Special tokens are never matched by `encode_ordinary`; they are kept for the
        // vocabulary description only.
        let splitter = super::Splitter::new(pattern)?;
        let table = super::rank_table::RankTable::new(&ranks);
        Ok(Self {
            atoms: super::atoms::Atoms::of_ranks(&table),
            table,
            byte_rank,
            splitter,
            decoder,
            id_offset,
            special_tokens,
        })
    }

    /// How the text is split: `scanner split`, `regex split` or `fancy-regex split` (an
    /// unknown pattern).
    pub fn splitter_name(&self) -> String {
        format!("{} split", self.splitter.name())
    }

    /// Token ids of `text`, special-token text treated as ordinary text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let mut ids = super::huge::with_capacity(text.len() / 3);
        let mut covered = 0;
        let mut skipped = None;
        let mut parts = Vec::new();
        let mut memo = super::memo::Memo::for_text(text.len());
        self.splitter.pieces(text, |start, end| {
            // Real split patterns cover every byte; one that skips text would give ids of
            // some other text (found by fuzzing: fuzz/regressions/tekken-pattern-skips-text).
            if start != covered && skipped.is_none() {
                skipped = Some((covered, start));
            }
            covered = end;
            let piece = &text.as_bytes()[start..end];
            if piece.is_empty() {
                return; // an empty match: nothing to encode
            }
            // A piece in the table whole is one token (tiktoken looks it up first too); the
            // others are merged from their bytes, once per call (the memo).
            match self.table.get(piece) {
                Some(r) => ids.push(r),
                None => memo.encode(piece, &mut ids, |p, out| {
                    super::merge::by_rank(
                        p,
                        &self.table,
                        &self.byte_rank,
                        &self.atoms,
                        &mut parts,
                        out,
                    )
                }),
            }
        })?;
        if let Some((a, b)) = skipped {
            return Err(format!(
                "the split pattern skips bytes {a}..{b} of the text"
            ));
        }
        if covered != text.len() {
            return Err(format!(
                "the split pattern skips bytes {covered}..{} of the text",
                text.len()
            ));
        }
        if self.id_offset != 0 {
            ids.iter_mut().for_each(|r| *r += self.id_offset);
        }
        Ok(ids)
    }

    /// Ids with the byte range of the text each one covers.
    pub fn encode_with_offsets(&self, text: &str) -> Result<super::IdsWithOffsets, String> {
        let ids = self.encode(text)?;
        let mut offsets = Vec::with_capacity(ids.len());
        let mut pos = 0;
        for &id in &ids {
            let len = self.decoder[(id - self.id_offset) as usize].len();
            offsets.push((pos, pos + len));
            pos += len;
        }
        Ok((ids, offsets))
    }

    /// (id, bytes) of every ordinary token, in id order.
    pub fn vocab(&self) -> impl Iterator<Item = (u32, &[u8])> {
        self.decoder
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.is_empty())
            .map(|(r, b)| (r as u32 + self.id_offset, b.as_slice()))
    }

    pub fn special_tokens(&self) -> &BTreeMap<String, u32> {
        &self.special_tokens
    }
}

/// Parses a `.tiktoken` rank file: one `base64-token rank` pair per line.
pub fn parse_rank_file(bytes: &[u8]) -> Result<FxHashMap<Vec<u8>, u32>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not a text file (invalid UTF-8 at byte {})",
            e.valid_up_to()
        )
    })?;
    let mut ranks = FxHashMap::default();
    ranks.reserve(text.len() / 12);
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let bad = || format!("line {}: expected `<base64 token> <rank>`", i + 1);
        let (tok, rank) = line.split_once(' ').ok_or_else(bad)?;
        let tok = base64::engine::general_purpose::STANDARD
            .decode(tok)
            .map_err(|_| bad())?;
        let rank: u32 = rank.trim().parse().map_err(|_| bad())?;
        if ranks.insert(tok, rank).is_some() {
            return Err(format!("line {}: token appears twice", i + 1));
        }
    }
    if ranks.is_empty() {
        return Err("no ranks in file".into());
    }
    Ok(ranks)
}

#[derive(Deserialize)]
struct TekkenFile {
    config: TekkenConfig,
    vocab: Vec<TekkenToken>,
    #[serde(default)]
    special_tokens: Vec<TekkenSpecial>,
}

#[derive(Deserialize)]
struct TekkenConfig {
    pattern: String,
    default_vocab_size: usize,
    default_num_special_tokens: usize,
}

#[derive(Deserialize)]
struct TekkenToken {
    rank: u32,
    token_bytes: String,
}

#[derive(Deserialize)]
struct TekkenSpecial {
    rank: u32,
    token_str: String,
}

/// A rank table with what it is encoded with: what [`RankBpe`] is built from and the table
/// cache keeps.
pub struct RankParts {
    pub ranks: Vec<(Vec<u8>, u32)>,
    pub pattern: String,
    pub id_offset: u32,
    pub special_tokens: BTreeMap<String, u32>,
}

impl RankParts {
    pub fn build(self) -> Result<RankBpe, String> {
        RankBpe::new(
            self.ranks.into_iter().collect(),
            &self.pattern,
            self.id_offset,
            self.special_tokens,
        )
    }
}

impl super::table_cache::Cached for RankParts {
    fn write(&self, w: &mut super::table_cache::Writer) {
        w.str(&self.pattern);
        w.u32(self.id_offset);
        w.u32(self.special_tokens.len() as u32);
        for (s, id) in &self.special_tokens {
            w.str(s);
            w.u32(*id);
        }
        w.u32(self.ranks.len() as u32);
        for (b, r) in &self.ranks {
            w.bytes(b);
            w.u32(*r);
        }
    }

    fn read(r: &mut super::table_cache::Reader<'_>) -> Result<Self, String> {
        let pattern = r.str()?.to_string();
        let id_offset = r.u32()?;
        let n = r.count(8)?;
        let special_tokens = (0..n)
            .map(|_| Ok((r.str()?.to_string(), r.u32()?)))
            .collect::<Result<_, String>>()?;
        let n = r.count(8)?;
        let ranks = (0..n)
            .map(|_| Ok((r.bytes()?.to_vec(), r.u32()?)))
            .collect::<Result<_, String>>()?;
        Ok(Self {
            ranks,
            pattern,
            id_offset,
            special_tokens,
        })
    }
}

/// Loads a Mistral tekken JSON file: `default_num_special_tokens` ids come first, so
/// id = rank + that number, and only the first `default_vocab_size - num_special` ranks are
/// used (as `mistral_common`'s `Tekkenizer` does).
pub fn load_tekken(bytes: &[u8]) -> Result<RankBpe, String> {
    tekken_parts(bytes)?.build()
}

/// mistral_common's special tokens for tekken files that list none, in rank order.
const TEKKEN_DEFAULT_SPECIALS: [&str; 20] = [
    "<unk>",
    "<s>",
    "</s>",
    "[INST]",
    "[/INST]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    "[TOOL_CALLS]",
    "[IMG]",
    "<pad>",
    "[IMG_BREAK]",
    "[IMG_END]",
    "[PREFIX]",
    "[MIDDLE]",
    "[SUFFIX]",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CONTENT]",
];

/// The rank table, pattern and ids of a tekken file.
pub fn tekken_parts(bytes: &[u8]) -> Result<RankParts, String> {
    let f: TekkenFile =
        serde_json::from_slice(bytes).map_err(|e| format!("not a tekken file: {e}"))?;
    let n_special = f.config.default_num_special_tokens;
    let limit = crate::bounded::MAX_RANK as usize;
    if f.config.default_vocab_size > limit || n_special > limit {
        return Err(format!(
            "config.default_vocab_size {} or default_num_special_tokens {n_special} is out of range (at most {limit})",
            f.config.default_vocab_size
        ));
    }
    let inner = f
        .config
        .default_vocab_size
        .checked_sub(n_special)
        .ok_or("config.default_vocab_size is smaller than config.default_num_special_tokens")?;
    let mut ranks = FxHashMap::default();
    for t in f.vocab.iter().filter(|t| (t.rank as usize) < inner) {
        let b = base64::engine::general_purpose::STANDARD
            .decode(&t.token_bytes)
            .map_err(|_| format!("vocab rank {}: token_bytes is not base64", t.rank))?;
        if ranks.insert(b, t.rank).is_some() {
            return Err(format!("vocab rank {}: token appears twice", t.rank));
        }
    }
    // Files without a `special_tokens` list (tekken v3 and older) use mistral_common's
    // `Tekkenizer.DEPRECATED_SPECIAL_TOKENS`, ranks 0 to 19.
    let specials = if f.special_tokens.is_empty() {
        TEKKEN_DEFAULT_SPECIALS
            .iter()
            .zip(0u32..)
            .map(|(s, r)| (s.to_string(), r))
            .collect()
    } else {
        f.special_tokens
            .into_iter()
            .map(|s| (s.token_str, s.rank))
            .collect()
    };
    let offset = u32::try_from(n_special).map_err(|_| "too many special tokens")?;
    Ok(RankParts {
        ranks: ranks.into_iter().collect(),
        pattern: f.config.pattern,
        id_offset: offset,
        special_tokens: specials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> RankBpe {
        let mut ranks: FxHashMap<Vec<u8>, u32> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        ranks.insert(b"ab".to_vec(), 256);
        ranks.insert(b"abc".to_vec(), 257);
        RankBpe::new(ranks, r"\w+|\s+|[^\w\s]+", 0, Default::default()).unwrap()
    }

    #[test]
    fn a_pattern_that_matches_empty_or_skips_text_is_an_error_not_a_panic() {
        // Found by fuzzing: an empty match reached byte_pair_split's `piece.len() > 1` assert.
        let ranks: FxHashMap<Vec<u8>, u32> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        let t = RankBpe::new(ranks.clone(), r"[a-z]*", 0, Default::default()).unwrap();
        let e = t.encode("ab, cd").unwrap_err();
        assert!(e.contains("skips bytes 2..3"), "{e}");
        assert_eq!(t.encode("abcd").unwrap().len(), 4);
        let regression = include_bytes!("../../../../fuzz/regressions/tekken-pattern-skips-text");
        let t = load_tekken(regression).unwrap();
        assert!(t
            .encode_with_offsets("Hello, world! 42 tokens\n\tüñí 日本 🦀.")
            .is_err());
    }

    #[test]
    fn a_huge_rank_is_an_error_before_any_allocation() {
        // Rank 4000000000 once sized a 96 GB table and aborted the process.
        let mut ranks: FxHashMap<Vec<u8>, u32> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
        ranks.insert(b"ab".to_vec(), 4_000_000_000);
        let e = RankBpe::new(ranks, r"\w+", 0, Default::default())
            .err()
            .unwrap();
        assert!(e.contains("rank 4000000000 is out of range"), "{e}");
        let file = "YQ== 0\nYg== 4000000000\n";
        let r = parse_rank_file(file.as_bytes()).unwrap();
        assert!(RankBpe::new(r, r"\w+", 0, Default::default()).is_err());
        let e = load_tekken(br#"{"config": {"pattern": "a", "default_vocab_size": 18446744073709551615, "default_num_special_tokens": 0}, "vocab": [], "special_tokens": []}"#).err().unwrap();
        assert!(e.contains("out of range"), "{e}");
    }

    #[test]
    fn merges_by_rank_and_reports_byte_offsets() {
        let (ids, offs) = tiny().encode_with_offsets("abc ab!").unwrap();
        assert_eq!(ids, vec![257, b' ' as u32, 256, b'!' as u32]);
        assert_eq!(offs, vec![(0, 3), (3, 4), (4, 6), (6, 7)]);
    }

    #[test]
    fn rank_file_errors_name_the_line() {
        assert!(parse_rank_file(b"YQ== 0\nnot-base64!! 1\n")
            .unwrap_err()
            .contains("line 2"));
        assert!(parse_rank_file(b"YQ== 0\nYQ== 1\n")
            .unwrap_err()
            .contains("twice"));
        assert!(parse_rank_file(b"").is_err());
    }

    #[test]
    fn missing_single_byte_rank_is_an_error_not_a_panic() {
        let ranks: FxHashMap<Vec<u8>, u32> = [(b"a".to_vec(), 0)].into_iter().collect();
        assert!(RankBpe::new(ranks, ".", 0, Default::default()).is_err());
    }
}
