//! One engine host's KV-cache events read into how much of each registered prefix it holds.
//!
//! The events carry each stored block's token ids and its parent's hash, so a prefix is matched
//! block by block along the chain without reproducing the engine's hash: a block is kept when
//! it is the first block of a sequence (no parent) and its tokens are some registered prefix's
//! first block, or when its parent is kept at depth `d` and its tokens are block `d + 1` of one
//! of the prefixes its parent matched. Everything else is counted and dropped, so memory is
//! bounded by the registered prefixes, not by the traffic: at most [`MAX_KEPT`] blocks per host.
//!
//! Resident tokens of a prefix, per medium: the leading blocks with at least one kept block at
//! each depth, in every KV-cache group the host has published (hybrid models need all of them),
//! times the block size. Only full blocks are ever cached; a prefix shorter than one block is
//! never resident (`prefix check` warns about it).
//!
//! Hash cross-check ([`Host::with_hash_check`]): where the engine's hash can be reproduced
//! (vLLM's `sha256_cbor` with a known seed, [`super::hash`]), every stored block that matches a
//! registered prefix's tokens is also compared with the hash the prefix's chain gives it at its
//! depth; a difference is counted as a disagreement (the engine hashes differently than
//! configured: another seed or algorithm, extra keys such as a LoRA or a cache salt, or another
//! hash block size). Tokens still decide residency: the hash only reports.
//!
//! Sequence numbers: a batch whose `seq` is the next one is applied; an older one is a duplicate
//! (a replay overlapping what arrived) and skipped; a newer one is a gap, which the caller fills
//! from the publisher's replay socket, or else reports the host as unknown. A `seq` far behind
//! the last (a restarted publisher counts from 0) empties the index: a restarted engine's cache
//! is empty.

use std::collections::HashMap;

use super::hash::{int_form, Sha256Cbor};
use super::wire::{Batch, BlockHash, Event, Medium};

/// Most blocks kept per host.
pub const MAX_KEPT: usize = 1 << 20;

/// A registered prefix: its id (for the caller) and its token ids under the engine's tokenizer.
#[derive(Debug, Clone)]
pub struct Prefix {
    pub id: String,
    pub ids: Vec<u32>,
}

#[derive(Debug, Clone)]
struct Kept {
    depth: u32,
    /// Indices of the prefixes this chain matches up to here.
    prefixes: Vec<u32>,
}

/// Counters of what was read, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub batches: u64,
    pub events: u64,
    /// Stored blocks not on a registered prefix's chain (or past [`MAX_KEPT`]).
    pub dropped_blocks: u64,
    /// Removed blocks that were not kept.
    pub ignored_removals: u64,
    pub duplicates: u64,
    /// Events whose block size differs from the host's first one.
    pub block_size_mismatches: u64,
    pub restarts: u64,
    /// Stored blocks on a registered prefix's chain whose hash was compared with the expected
    /// one (only with a hash check).
    pub hash_checks: u64,
    /// Of those, the ones whose hash differed.
    pub hash_disagreements: u64,
}

/// The expected hashes of each prefix's blocks.
struct HashCheck {
    hasher: Sha256Cbor,
    /// Per prefix, the int form of each full block's hash at the host's block size; computed
    /// when the block size is known.
    expected: Option<Vec<Vec<BlockHash>>>,
    /// Per prefix, blocks whose hash differed.
    disagreements: Vec<u64>,
}

/// What applying one frame did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// Already seen (a replay overlap).
    Duplicate,
    /// Batches `from..to` are missing: replay from `from`, then apply this one again.
    Gap {
        from: u64,
        to: u64,
    },
}

/// One host's index.
pub struct Host {
    prefixes: Vec<Prefix>,
    block_size: Option<u32>,
    kept: HashMap<(Medium, u32, BlockHash), Kept>,
    /// Kept blocks per (prefix, medium, group), by depth.
    depth_counts: HashMap<(u32, Medium, u32), Vec<u32>>,
    /// Groups the host has published.
    groups: Vec<u32>,
    last_seq: Option<u64>,
    pub counts: Counts,
    hash_check: Option<HashCheck>,
}

/// How far behind the last seq a batch must be to mean a restarted publisher rather than a
/// replay overlap (vLLM's replay buffer holds 10,000 batches).
const RESTART_BEHIND: u64 = 1 << 20;

impl Host {
    pub fn new(prefixes: Vec<Prefix>) -> Host {
        Host {
            prefixes,
            block_size: None,
            kept: HashMap::new(),
            depth_counts: HashMap::new(),
            groups: Vec::new(),
            last_seq: None,
            counts: Counts::default(),
            hash_check: None,
        }
    }

    /// Also compares each stored block on a registered prefix's chain with the hash `hasher`
    /// gives it (see the module doc).
    pub fn with_hash_check(mut self, hasher: Sha256Cbor) -> Host {
        self.hash_check = Some(HashCheck {
            hasher,
            expected: None,
            disagreements: vec![0; self.prefixes.len()],
        });
        self
    }

    /// Blocks of prefix `i` whose hash differed from the expected one (0 without a check).
    pub fn hash_disagreements(&self, i: usize) -> u64 {
        self.hash_check
            .as_ref()
            .and_then(|c| c.disagreements.get(i).copied())
            .unwrap_or(0)
    }

    /// Whether the host's hashes are cross-checked.
    pub fn hash_checked(&self) -> bool {
        self.hash_check.is_some()
    }

    /// The block size the host's events use, once one arrived.
    pub fn block_size(&self) -> Option<u32> {
        self.block_size
    }

    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Blocks kept now.
    pub fn kept_blocks(&self) -> usize {
        self.kept.len()
    }

    /// Applies the batch published as `seq`, unless it is a duplicate or past a gap.
    pub fn apply(&mut self, seq: u64, batch: &Batch) -> Applied {
        if let Some(last) = self.last_seq {
            if seq <= last {
                if last - seq < RESTART_BEHIND {
                    self.counts.duplicates += 1;
                    return Applied::Duplicate;
                }
                self.counts.restarts += 1;
                self.clear();
            } else if seq > last + 1 {
                return Applied::Gap {
                    from: last + 1,
                    to: seq,
                };
            }
        }
        self.last_seq = Some(seq);
        self.counts.batches += 1;
        for e in &batch.events {
            self.counts.events += 1;
            self.event(e);
        }
        Applied::Applied
    }

    /// Forgets the sequence (a gap that replay could not fill): the next batch starts afresh,
    /// with an empty index, since what was missed may have evicted anything.
    pub fn reset(&mut self) {
        self.last_seq = None;
        self.clear();
    }

    fn clear(&mut self) {
        self.kept.clear();
        self.depth_counts.clear();
    }

    fn event(&mut self, e: &Event) {
        match e {
            Event::Stored {
                hashes,
                parent,
                token_ids,
                block_size,
                medium,
                group,
            } => {
                let bs = *self.block_size.get_or_insert(*block_size);
                if bs != *block_size {
                    self.counts.block_size_mismatches += 1;
                    return;
                }
                if !self.groups.contains(group) {
                    self.groups.push(*group);
                }
                if let Some(c) = &mut self.hash_check {
                    if c.expected.is_none() {
                        c.expected = Some(
                            self.prefixes
                                .iter()
                                .map(|p| {
                                    let chain = c.hasher.chain(&p.ids, bs as usize);
                                    chain.iter().map(int_form).collect()
                                })
                                .collect(),
                        );
                    }
                }
                let (mut depth, mut candidates) = match parent {
                    None => (0u32, (0..self.prefixes.len() as u32).collect::<Vec<_>>()),
                    Some(p) => match self.kept.get(&(*medium, *group, *p)) {
                        Some(k) => (k.depth + 1, k.prefixes.clone()),
                        None => {
                            self.counts.dropped_blocks += hashes.len() as u64;
                            return;
                        }
                    },
                };
                let bs = bs as usize;
                for (i, h) in hashes.iter().enumerate() {
                    let tokens = &token_ids[i * bs..(i + 1) * bs];
                    let start = depth as usize * bs;
                    candidates.retain(|&c| {
                        self.prefixes[c as usize]
                            .ids
                            .get(start..start + bs)
                            .is_some_and(|b| b == tokens)
                    });
                    if candidates.is_empty() {
                        self.counts.dropped_blocks += (hashes.len() - i) as u64;
                        return;
                    }
                    self.check_hash(*h, depth, &candidates);
                    if self.kept.len() >= MAX_KEPT {
                        self.counts.dropped_blocks += (hashes.len() - i) as u64;
                        return;
                    }
                    let key = (*medium, *group, *h);
                    if !self.kept.contains_key(&key) {
                        for &c in &candidates {
                            let v = self.depth_counts.entry((c, *medium, *group)).or_default();
                            if v.len() <= depth as usize {
                                v.resize(depth as usize + 1, 0);
                            }
                            v[depth as usize] += 1;
                        }
                        self.kept.insert(
                            key,
                            Kept {
                                depth,
                                prefixes: candidates.clone(),
                            },
                        );
                    }
                    depth += 1;
                }
            }
            Event::Removed {
                hashes,
                medium,
                group,
            } => {
                for h in hashes {
                    match self.kept.remove(&(*medium, *group, *h)) {
                        Some(k) => {
                            for c in k.prefixes {
                                if let Some(v) = self.depth_counts.get_mut(&(c, *medium, *group)) {
                                    if let Some(n) = v.get_mut(k.depth as usize) {
                                        *n = n.saturating_sub(1);
                                    }
                                }
                            }
                        }
                        None => self.counts.ignored_removals += 1,
                    }
                }
            }
            Event::AllCleared => self.clear(),
        }
    }

    /// Compares a matched block's hash with the one the candidates' chain gives it at `depth`
    /// (the candidates share every token up to there, so one chain answers for all).
    fn check_hash(&mut self, h: BlockHash, depth: u32, candidates: &[u32]) {
        let Some(c) = &mut self.hash_check else {
            return;
        };
        let want = c
            .expected
            .as_ref()
            .and_then(|e| e.get(candidates[0] as usize))
            .and_then(|chain| chain.get(depth as usize));
        self.counts.hash_checks += 1;
        if want != Some(&h) {
            self.counts.hash_disagreements += 1;
            for &i in candidates {
                c.disagreements[i as usize] += 1;
            }
        }
    }

    /// Leading tokens of prefix `i` resident on `medium` (0 before any event).
    pub fn resident_tokens(&self, i: usize, medium: Medium) -> usize {
        let Some(bs) = self.block_size else {
            return 0;
        };
        if self.groups.is_empty() {
            return 0;
        }
        let leading = |g: u32| {
            self.depth_counts
                .get(&(i as u32, medium, g))
                .map_or(0, |v| v.iter().take_while(|&&n| n > 0).count())
        };
        let blocks = self.groups.iter().map(|&g| leading(g)).min().unwrap_or(0);
        (blocks * bs as usize).min(self.prefixes[i].ids.len())
    }

    /// Tokens of prefix `i` a warm-up can make resident on this host: its full blocks but the
    /// one holding its last token (engines never serve that one from cache). `None` until the
    /// host's block size is known.
    pub fn warmable_tokens(&self, i: usize) -> Option<usize> {
        let bs = self.block_size? as usize;
        Some(self.prefixes[i].ids.len().saturating_sub(1) / bs * bs)
    }

    pub fn prefixes(&self) -> &[Prefix] {
        &self.prefixes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(hashes: &[u64], parent: Option<u64>, tokens: std::ops::Range<u32>) -> Event {
        Event::Stored {
            hashes: hashes.iter().map(|&h| BlockHash(h)).collect(),
            parent: parent.map(BlockHash),
            token_ids: tokens.collect(),
            block_size: 4,
            medium: Medium::Gpu,
            group: 0,
        }
    }

    fn batch(events: Vec<Event>) -> Batch {
        Batch {
            ts: 0.0,
            events,
            rank: None,
        }
    }

    fn host() -> Host {
        Host::new(vec![
            Prefix {
                id: "a".into(),
                ids: (0..10).collect(),
            },
            Prefix {
                id: "b".into(),
                ids: (0..4).chain(50..58).collect(),
            },
        ])
    }

    #[test]
    fn a_chain_along_a_prefix_is_resident_block_by_block() {
        let mut h = host();
        assert_eq!(
            h.apply(0, &batch(vec![stored(&[1, 2], None, 0..8)])),
            Applied::Applied
        );
        assert_eq!(h.resident_tokens(0, Medium::Gpu), 8, "two full blocks of a");
        assert_eq!(
            h.resident_tokens(1, Medium::Gpu),
            4,
            "b shares the first block"
        );
        assert_eq!(h.warmable_tokens(0), Some(8));
        assert_eq!(h.resident_tokens(0, Medium::Other), 0);
        // b's second block hangs off the shared first one.
        h.apply(1, &batch(vec![stored(&[3], Some(1), 50..54)]));
        assert_eq!(h.resident_tokens(1, Medium::Gpu), 8);
        // Unrelated traffic is dropped, not kept.
        h.apply(
            2,
            &batch(vec![
                stored(&[9, 10], None, 100..108),
                stored(&[11], Some(10), 0..4),
            ]),
        );
        assert_eq!(h.kept_blocks(), 3);
        assert_eq!(h.counts.dropped_blocks, 3);
        // Evicting a's second block leaves one block resident.
        h.apply(
            3,
            &batch(vec![Event::Removed {
                hashes: vec![BlockHash(2)],
                medium: Medium::Gpu,
                group: 0,
            }]),
        );
        assert_eq!(h.resident_tokens(0, Medium::Gpu), 4);
        h.apply(4, &batch(vec![Event::AllCleared]));
        assert_eq!(h.resident_tokens(1, Medium::Gpu), 0);
    }

    #[test]
    fn gaps_duplicates_and_restarts() {
        let mut h = host();
        h.apply(5, &batch(vec![stored(&[1], None, 0..4)]));
        assert_eq!(h.apply(5, &batch(vec![])), Applied::Duplicate);
        assert_eq!(h.apply(9, &batch(vec![])), Applied::Gap { from: 6, to: 9 });
        assert_eq!(h.last_seq(), Some(5), "a gap applies nothing");
        // A publisher that restarted counts from 0, far behind: its cache is empty.
        let mut far = host();
        far.apply(RESTART_BEHIND + 10, &batch(vec![stored(&[1], None, 0..4)]));
        assert_eq!(far.apply(0, &batch(vec![])), Applied::Applied);
        assert_eq!(
            (far.counts.restarts, far.resident_tokens(0, Medium::Gpu)),
            (1, 0)
        );
        h.reset();
        assert_eq!(h.resident_tokens(0, Medium::Gpu), 0);
        assert_eq!(h.apply(9, &batch(vec![])), Applied::Applied);
    }

    #[test]
    fn the_hash_check_counts_blocks_whose_hash_is_not_the_chains() {
        use crate::kv_events::hash::{NoneHashSeed, Sha256Cbor};
        let seed = NoneHashSeed::pythonhashseed("7").unwrap();
        let hasher = Sha256Cbor::new(&seed);
        let ids: Vec<u32> = (0..10).collect();
        let chain: Vec<u64> = hasher
            .chain(&ids, 4)
            .iter()
            .map(|d| int_form(d).0)
            .collect();
        let mut h = host().with_hash_check(hasher.clone());
        // The engine's own hashes: agreed.
        h.apply(0, &batch(vec![stored(&chain, None, 0..8)]));
        assert_eq!((h.counts.hash_checks, h.counts.hash_disagreements), (2, 0));
        // Another seed's first block: still resident (tokens decide), but a disagreement, for
        // both prefixes that start with it; the second block hangs off it and is checked
        // against the chain too.
        let other = Sha256Cbor::new(&NoneHashSeed::unset());
        let theirs: Vec<u64> = other.chain(&ids, 4).iter().map(|d| int_form(d).0).collect();
        h.apply(
            1,
            &batch(vec![Event::AllCleared, stored(&theirs, None, 0..8)]),
        );
        assert_eq!((h.counts.hash_checks, h.counts.hash_disagreements), (4, 2));
        assert_eq!(h.resident_tokens(0, Medium::Gpu), 8);
        assert_eq!((h.hash_disagreements(0), h.hash_disagreements(1)), (2, 1));
        // Blocks off every prefix's chain are not checked.
        h.apply(2, &batch(vec![stored(&[99], None, 100..104)]));
        assert_eq!(h.counts.hash_checks, 4);
        // Without a check nothing is counted.
        let mut plain = host();
        plain.apply(0, &batch(vec![stored(&theirs, None, 0..8)]));
        assert_eq!(plain.counts.hash_checks, 0);
        assert!(!plain.hash_checked());
    }

    #[test]
    fn memory_stays_bounded_by_the_registered_prefixes() {
        let mut h = host();
        for seq in 0..10_000u64 {
            h.apply(
                seq,
                &batch(vec![stored(&[seq * 2 + 100], None, 1000..1004)]),
            );
        }
        assert_eq!(h.kept_blocks(), 0);
        assert_eq!(h.counts.dropped_blocks, 10_000);
    }
}
