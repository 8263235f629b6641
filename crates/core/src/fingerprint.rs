//! Fingerprints of token sequences, as specified in `docs/fingerprint.md`.
//!
//! - fingerprint(ids) = `sha256:` + lowercase hex SHA-256 of the ids as little-endian u32,
//!   concatenated.
//! - block hash list with block size B: entry i is the first 16 hex digits of the SHA-256 of
//!   `ids[0 .. min((i+1)·B, n)]`, i.e. of the prefix up to the end of block i. Each entry
//!   depends on everything before it, so the first differing entry locates the first divergent
//!   block without storing ids or text.
//!
//! A fingerprint depends only on the token ids; the tokenizer's identity is kept beside it.

use sha2::{Digest, Sha256};

/// What a pair's fingerprint is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FingerprintKind {
    /// The prompt's segments tokenized as bare text, each on its own (hosted providers).
    Tokens,
    /// The request rendered by the tokenizer version's chat template, tokenized whole
    /// (self-hosted engines).
    Rendered,
    /// No ids: the provider's count of the request's input tokens, with the model
    /// (hosted models whose tokenizer is private). A change means the provider changed its
    /// tokenizer or framing.
    Count,
}

impl std::fmt::Display for FingerprintKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Tokens => "tokens",
            Self::Rendered => "rendered",
            Self::Count => "count",
        })
    }
}

/// `sha256:<64 hex>` of a token sequence.
pub fn fingerprint(ids: &[u32]) -> String {
    let mut h = Sha256::new();
    feed(&mut h, ids);
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn feed(h: &mut Sha256, ids: &[u32]) {
    let mut buf = [0u8; 4 * 256];
    for chunk in ids.chunks(256) {
        for (i, id) in chunk.iter().enumerate() {
            buf[4 * i..4 * i + 4].copy_from_slice(&id.to_le_bytes());
        }
        h.update(&buf[..4 * chunk.len()]);
    }
}

/// Fingerprints of a prompt's whole prefix, of each breakpoint, and its block hash list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PrefixFingerprints {
    pub token_count: usize,
    pub fingerprint: String,
    pub breakpoints: Vec<BreakpointFingerprint>,
    pub block_size: usize,
    /// 16-hex-digit prefix hashes, one per block (the last may be partial).
    pub blocks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BreakpointFingerprint {
    /// The segment whose end this breakpoint is.
    pub segment: String,
    /// Tokens up to and including this segment.
    pub tokens: usize,
    pub fingerprint: String,
}

/// Computes all fingerprints of `ids` in one pass. `breakpoints` are (segment name, token end)
/// in increasing order.
pub fn compute(
    ids: &[u32],
    breakpoints: &[(String, usize)],
    block_size: usize,
) -> PrefixFingerprints {
    assert!(block_size > 0, "block size is validated at config load");
    let n = ids.len();
    // Cut points: every block end and every breakpoint, in order.
    let mut cuts: Vec<usize> = (1..=n.div_ceil(block_size))
        .map(|i| (i * block_size).min(n))
        .collect();
    cuts.extend(breakpoints.iter().map(|(_, e)| (*e).min(n)));
    cuts.sort_unstable();
    cuts.dedup();
    let mut h = Sha256::new();
    let mut blocks = Vec::with_capacity(n.div_ceil(block_size));
    let mut bps = Vec::with_capacity(breakpoints.len());
    let mut pos = 0;
    for cut in cuts {
        feed(&mut h, &ids[pos..cut]);
        pos = cut;
        if cut > 0 && (cut.is_multiple_of(block_size) || cut == n) {
            blocks.push(hex::encode(&h.clone().finalize()[..8]));
        }
        for (name, end) in breakpoints.iter().filter(|(_, e)| (*e).min(n) == cut) {
            bps.push(BreakpointFingerprint {
                segment: name.clone(),
                tokens: *end,
                fingerprint: format!("sha256:{}", hex::encode(h.clone().finalize())),
            });
        }
    }
    PrefixFingerprints {
        token_count: ids.len(),
        fingerprint: format!("sha256:{}", hex::encode(h.finalize())),
        breakpoints: bps,
        block_size,
        blocks,
    }
}

/// Index of the first block whose hash differs, or `None` when one list is a prefix of the
/// other (including equal lists).
pub fn first_divergent_block(a: &[String], b: &[String]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

/// Length of the longest common prefix of two id sequences.
pub fn common_prefix_len(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_sequence_is_sha256_of_nothing() {
        assert_eq!(
            fingerprint(&[]),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    proptest! {
        #[test]
        fn one_pass_matches_the_definition(ids in proptest::collection::vec(any::<u32>(), 0..300), bs in 1usize..40, cut in 0usize..300) {
            let cut = cut.min(ids.len());
            let fp = compute(&ids, &[("a".into(), cut), ("b".into(), ids.len())], bs);
            prop_assert_eq!(&fp.fingerprint, &fingerprint(&ids));
            prop_assert_eq!(&fp.breakpoints[0].fingerprint, &fingerprint(&ids[..cut]));
            prop_assert_eq!(&fp.breakpoints[1].fingerprint, &fingerprint(&ids));
            prop_assert_eq!(fp.blocks.len(), ids.len().div_ceil(bs));
            for (i, b) in fp.blocks.iter().enumerate() {
                let end = ((i + 1) * bs).min(ids.len());
                prop_assert_eq!(b, &fingerprint(&ids[..end])[7..23]);
            }
        }
    }
}
