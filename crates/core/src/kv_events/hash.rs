//! vLLM's `sha256_cbor` block-hash chain (`--prefix-caching-hash-algo sha256_cbor`), so a
//! stored block's hash can be cross-checked against the one its tokens should have.
//!
//! As vLLM 0.34.0 computes it (`vllm/v1/core/kv_cache_utils.py`, `vllm/utils/hashing.py`):
//!
//! - `h[i] = sha256(cbor2.dumps((parent, tuple(block_token_ids), extra_keys), canonical=True))`
//!   over full blocks only, `parent` the previous block's 32-byte digest or, for the first
//!   block, `NONE_HASH`;
//! - `NONE_HASH = sha256_cbor(seed)`, the seed a text string: `PYTHONHASHSEED` when the engine
//!   has it set, else the fixed `"vllm-none-hash"` ([`DEFAULT_SEED`], for the cryptographic
//!   algorithms; releases before the fixed default used a random seed when unset, which no
//!   subscriber can reproduce);
//! - the events publish a hash as its digest's last 8 bytes, big-endian
//!   (`maybe_convert_block_hash`, [`int_form`]), or the raw digest with
//!   `VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=0` (whose last 8 bytes the wire decoder keeps too).
//!
//! Only `extra_keys = None` is reproduced (plain text requests: no LoRA, multimodal input,
//! cache salt or prompt embeddings), and only a chain whose hash block size is the events'
//! `block_size`. The canonical CBOR of this one shape is written here by hand: an array of
//! three, a byte string, an array of unsigned integers (each in its shortest head), `null`.

use sha2::{Digest, Sha256};

use super::wire::BlockHash;

/// The seed vLLM derives `NONE_HASH` from when `PYTHONHASHSEED` is unset.
pub const DEFAULT_SEED: &str = "vllm-none-hash";

/// A block's digest.
pub type Digest32 = [u8; 32];

/// What `NONE_HASH` is derived from: `PYTHONHASHSEED` as the engine's environment has it, or
/// vLLM's default. Only values Python itself starts with are accepted (`random`, or a decimal
/// integer in `0..=4294967295`): any other `PYTHONHASHSEED` stops the engine before it hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoneHashSeed(String);

/// Longest `PYTHONHASHSEED` accepted (digits, leading zeros included).
pub const MAX_SEED_LEN: usize = 32;

impl NoneHashSeed {
    /// `PYTHONHASHSEED` unset: vLLM's fixed default.
    pub fn unset() -> NoneHashSeed {
        NoneHashSeed(DEFAULT_SEED.to_string())
    }

    /// The value of `PYTHONHASHSEED`, checked as Python checks it.
    pub fn pythonhashseed(s: &str) -> Result<NoneHashSeed, String> {
        if s == "random" {
            return Ok(NoneHashSeed(s.to_string()));
        }
        let digits =
            !s.is_empty() && s.len() <= MAX_SEED_LEN && s.bytes().all(|b| b.is_ascii_digit());
        let in_range = digits
            && s.trim_start_matches('0')
                .parse::<u64>()
                .map_or(s.trim_start_matches('0').is_empty(), |v| {
                    v <= u64::from(u32::MAX)
                });
        if in_range {
            Ok(NoneHashSeed(s.to_string()))
        } else {
            Err(format!(
                "`{}` is not a PYTHONHASHSEED Python accepts (`random` or an integer 0..=4294967295, at most {MAX_SEED_LEN} digits)",
                crate::escape::escape(&s.chars().take(40).collect::<String>())
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The chain's hasher for one seed.
#[derive(Debug, Clone)]
pub struct Sha256Cbor {
    none: Digest32,
}

/// A CBOR head: major type and argument, in its shortest form (canonical).
fn head(h: &mut Sha256, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        h.update([m | n as u8]);
    } else if n <= 0xff {
        h.update([m | 24, n as u8]);
    } else if n <= 0xffff {
        h.update([m | 25]);
        h.update((n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        h.update([m | 26]);
        h.update((n as u32).to_be_bytes());
    } else {
        h.update([m | 27]);
        h.update(n.to_be_bytes());
    }
}

const UINT: u8 = 0;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const NULL: u8 = 0xf6;

impl Sha256Cbor {
    pub fn new(seed: &NoneHashSeed) -> Sha256Cbor {
        let mut h = Sha256::new();
        head(&mut h, TEXT, seed.0.len() as u64);
        h.update(seed.0.as_bytes());
        Sha256Cbor {
            none: h.finalize().into(),
        }
    }

    /// `NONE_HASH`: the first block's parent.
    pub fn none_hash(&self) -> &Digest32 {
        &self.none
    }

    /// One full block's digest (`hash_block_tokens` with no extra keys).
    pub fn block(&self, parent: Option<&Digest32>, tokens: &[u32]) -> Digest32 {
        let mut h = Sha256::new();
        head(&mut h, ARRAY, 3);
        head(&mut h, BYTES, 32);
        h.update(parent.unwrap_or(&self.none));
        head(&mut h, ARRAY, tokens.len() as u64);
        for &t in tokens {
            head(&mut h, UINT, t.into());
        }
        h.update([NULL]);
        h.finalize().into()
    }

    /// The digests of every full block of `ids` in blocks of `block_size` (none when it is 0).
    pub fn chain(&self, ids: &[u32], block_size: usize) -> Vec<Digest32> {
        if block_size == 0 {
            return Vec::new();
        }
        let mut out: Vec<Digest32> = Vec::with_capacity(ids.len() / block_size);
        for tokens in ids.chunks_exact(block_size) {
            let d = self.block(out.last(), tokens);
            out.push(d);
        }
        out
    }
}

/// The hash as events carry it by default: the digest's last 8 bytes, big-endian.
pub fn int_form(d: &Digest32) -> BlockHash {
    let mut last = [0u8; 8];
    last.copy_from_slice(&d[24..]);
    BlockHash(u64::from_be_bytes(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: &Digest32) -> String {
        d.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_canonical_cbor_heads_are_the_shortest() {
        // The boundaries of RFC 8949's argument sizes (4.2.1: preferred serialization).
        for (n, want) in [
            (0u64, vec![0x00]),
            (23, vec![0x17]),
            (24, vec![0x18, 24]),
            (255, vec![0x18, 0xff]),
            (256, vec![0x19, 1, 0]),
            (65_535, vec![0x19, 0xff, 0xff]),
            (65_536, vec![0x1a, 0, 1, 0, 0]),
            (u64::from(u32::MAX), vec![0x1a, 0xff, 0xff, 0xff, 0xff]),
        ] {
            let (mut a, mut b) = (Sha256::new(), Sha256::new());
            head(&mut a, UINT, n);
            b.update(&want);
            assert_eq!(a.finalize(), b.finalize(), "{n}");
        }
    }

    #[test]
    fn the_seed_is_checked_as_python_checks_pythonhashseed() {
        for ok in ["0", "42", "4294967295", "007", "random"] {
            assert_eq!(NoneHashSeed::pythonhashseed(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "4294967296", "-1", " 1", "1e3", "abc", &"1".repeat(33)] {
            assert!(NoneHashSeed::pythonhashseed(bad).is_err(), "{bad:?}");
        }
        assert_eq!(NoneHashSeed::unset().as_str(), DEFAULT_SEED);
    }

    #[test]
    fn a_chain_links_each_block_to_its_parent() {
        let h = Sha256Cbor::new(&NoneHashSeed::unset());
        let ids: Vec<u32> = (0..40).collect();
        let c = h.chain(&ids, 16);
        assert_eq!(c.len(), 2, "full blocks only");
        assert_eq!(c[0], h.block(None, &ids[..16]));
        assert_eq!(c[1], h.block(Some(&c[0]), &ids[16..32]));
        assert_ne!(c[1], h.block(None, &ids[16..32]));
        let other = Sha256Cbor::new(&NoneHashSeed::pythonhashseed("0").unwrap());
        assert_ne!(
            hex(&other.chain(&ids, 16)[0]),
            hex(&c[0]),
            "the seed matters"
        );
        assert_eq!(int_form(&c[0]).0.to_be_bytes(), c[0][24..]);
    }
}
