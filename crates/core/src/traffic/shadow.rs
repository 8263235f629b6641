//! Which of `discover`'s candidates are worth a line of their own: one is shadowed by a
//! candidate that more requests share (under the same tokenizer) when that one is its prefix
//! and fewer than `min_gain` tokens shorter (requests in the same minute sharing a timestamp).
//!
//! Comparing each candidate with every kept one was quadratic in the candidates (a log of many
//! conversations has one per turn). Here the kept ones are indexed by (tokenizer, length, hash
//! of their ids), and a candidate looks up only its own prefixes of the `min_gain` lengths that
//! could shadow it: linear in the candidates' ids. The hash is polynomial modulo 2^61 − 1 with
//! a base drawn at random per run (no input can be made to collide on purpose), and every hit
//! is confirmed by comparing ids, so the result is exactly the pairwise one.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// One candidate: its tokenizer, its requests and its ids.
pub struct Candidate<'a> {
    pub tokenizer: &'a str,
    pub requests: usize,
    pub ids: &'a [u32],
}

const P: u64 = (1 << 61) - 1;

fn mul_mod(a: u64, b: u64) -> u64 {
    let x = u128::from(a) * u128::from(b);
    let r = (x & u128::from(P)) + (x >> 61);
    let r = r as u64;
    if r >= P {
        r - P
    } else {
        r
    }
}

/// The candidates not shadowed, most requests first (ties in input order).
pub fn unshadowed(c: &[Candidate<'_>], min_gain: usize) -> Vec<usize> {
    let base = {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        (h.finish() % (P - (1 << 32))) + (1 << 32)
    };
    let mut order: Vec<usize> = (0..c.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(c[i].requests));
    // (tokenizer, length, hash of the ids) -> kept candidates.
    let mut index: HashMap<(&str, usize, u64), Vec<usize>> = HashMap::new();
    let mut kept = Vec::new();
    let mut prefix_hash: Vec<u64> = Vec::new();
    for i in order {
        let ids = c[i].ids;
        prefix_hash.clear();
        prefix_hash.push(0);
        let mut h = 0u64;
        for &id in ids {
            h = (mul_mod(h, base) + u64::from(id) + 1) % P;
            prefix_hash.push(h);
        }
        // Lengths L with len − L < min_gain (none when min_gain is 0).
        let lo = (ids.len() + 1).saturating_sub(min_gain);
        let shadowed = (lo..=ids.len()).any(|len| {
            index
                .get(&(c[i].tokenizer, len, prefix_hash[len]))
                .is_some_and(|js| {
                    js.iter()
                        .any(|&j| c[j].requests > c[i].requests && ids.starts_with(c[j].ids))
                })
        });
        if !shadowed {
            kept.push(i);
            index
                .entry((c[i].tokenizer, ids.len(), prefix_hash[ids.len()]))
                .or_default()
                .push(i);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pairwise definition, as `discover` had it.
    fn pairwise(c: &[Candidate<'_>], min_gain: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..c.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(c[i].requests));
        let mut kept: Vec<usize> = Vec::new();
        for i in order {
            let shadowed = kept.iter().any(|&j| {
                c[j].tokenizer == c[i].tokenizer
                    && c[j].requests > c[i].requests
                    && c[i].ids.starts_with(c[j].ids)
                    && c[i].ids.len() - c[j].ids.len() < min_gain
            });
            if !shadowed {
                kept.push(i);
            }
        }
        kept
    }

    #[test]
    fn the_same_as_comparing_every_pair() {
        // Prefixes of a few sequences at many lengths, two tokenizers, a range of counts.
        let seqs: Vec<Vec<u32>> = (0..4u32)
            .map(|s| (0..300).map(|k| (k * 7 + s * (k % 3)) % 11).collect())
            .collect();
        let mut c = Vec::new();
        for (n, s) in seqs.iter().enumerate() {
            for len in (0..300usize).step_by(13 + n) {
                c.push(Candidate {
                    tokenizer: if len.is_multiple_of(2) { "a" } else { "b" },
                    requests: 1 + (len * 31 + n) % 9,
                    ids: &s[..len],
                });
            }
        }
        for gain in [0, 1, 20, 64, 500] {
            assert_eq!(unshadowed(&c, gain), pairwise(&c, gain), "min_gain {gain}");
        }
        assert!(unshadowed(&c, 64).len() < c.len(), "some are shadowed");
    }

    #[test]
    fn a_hundred_thousand_conversations_were_compared_pairwise() {
        // 100,000 distinct conversations: the first 40 ids three requests share, all 50 two
        // of them do (10 ids more: shadowed). Every pair was 2·10^10 comparisons.
        let seqs: Vec<Vec<u32>> = (0..100_000u32)
            .map(|s| (0..50).map(|k| s * 50 + k).collect())
            .collect();
        let mut c = Vec::new();
        for s in &seqs {
            c.push(Candidate {
                tokenizer: "t",
                requests: 2,
                ids: &s[..],
            });
            c.push(Candidate {
                tokenizer: "t",
                requests: 3,
                ids: &s[..40],
            });
        }
        let kept = unshadowed(&c, 64);
        assert_eq!(kept.len(), 100_000);
        assert!(kept.iter().all(|&i| c[i].ids.len() == 40));
    }
}
