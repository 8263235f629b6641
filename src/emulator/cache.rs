//! The emulated prompt caches, keyed by token ids (never text):
//! - [`BreakpointCache`] (Anthropic; OpenAI from GPT-5.6): entries exist only at the content-block
//!   boundaries where a request put a breakpoint, keyed by a hash of everything before the
//!   boundary, each with its TTL, refreshed for free on a hit.
//! - [`SequenceCache`] (OpenAI before GPT-5.6; vLLM; SGLang): token sequences seen earlier; a
//!   request is served the longest common prefix with one of them, which the model's
//!   [`crate::cache_rules::Applied::surviving`] rule then rounds (128-token steps, full blocks).
//!
//! Neither knows HTTP or JSON. Handlers `plan` a request, check the rate limit, then `commit`,
//! so a refused request leaves the cache as it was.
//!
//! Because entries are keyed by ids, a tokenizer swap leaves them in place: they stop matching
//! exactly where the new tokenizer's ids differ, as a provider's cache would.

use std::collections::HashMap;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// A cache key: 128 bits of a SHA-256.
pub type Key = [u8; 16];

/// Entries kept by a [`SequenceCache`] before the least recently used is evicted.
pub const SEQUENCE_CAPACITY: usize = 512;

/// A [`BreakpointCache`] drops its expired entries once it holds this many.
const PURGE_AT: usize = 16_384;

/// A request cut into content blocks: the token offset where each block ends, and the
/// cumulative key of the prefix up to there.
pub struct Blocks {
    pub ends: Vec<usize>,
    keys: Vec<Key>,
}

impl Blocks {
    /// `partition` separates caches that never share entries (provider, model, cache key). Each
    /// block's `tag` (its section or role) is hashed with its ids, so the same ids under another
    /// role are another prefix. Tokens never merge across blocks: each comes tokenized apart.
    pub fn new<'a>(
        partition: &str,
        blocks: impl IntoIterator<Item = (&'a str, &'a [u32])>,
    ) -> Self {
        let mut h = Sha256::new();
        h.update((partition.len() as u64).to_le_bytes());
        h.update(partition.as_bytes());
        let (mut ends, mut keys) = (Vec::new(), Vec::new());
        let mut len = 0;
        let mut buf = Vec::new();
        for (tag, ids) in blocks {
            buf.clear();
            buf.extend_from_slice(&(tag.len() as u64).to_le_bytes());
            buf.extend_from_slice(tag.as_bytes());
            buf.extend_from_slice(&(ids.len() as u64).to_le_bytes());
            for id in ids {
                buf.extend_from_slice(&id.to_le_bytes());
            }
            h.update(&buf);
            len += ids.len();
            ends.push(len);
            let digest = h.clone().finalize();
            let mut key = Key::default();
            key.copy_from_slice(&digest[..16]);
            keys.push(key);
        }
        Self { ends, keys }
    }

    /// Total tokens.
    pub fn len(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }
}

/// A breakpoint on the block with this index, asking for this TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breakpoint {
    pub block: usize,
    pub ttl: Duration,
}

/// What a request would do to a [`BreakpointCache`].
#[derive(Debug, Default)]
pub struct Plan {
    /// Tokens read: the end of the longest live entry found (0 on a miss).
    pub read: usize,
    /// Entries to write, in order: (block, tokens charged for it, TTL). The tokens charged are
    /// the ones between the previous cached position and this breakpoint.
    pub writes: Vec<(usize, usize, Duration)>,
    /// Blocks whose live entries the request uses; their TTL restarts on commit.
    touched: Vec<usize>,
}

impl Plan {
    /// Tokens written, all TTLs together.
    pub fn written(&self) -> usize {
        self.writes.iter().map(|w| w.1).sum()
    }

    /// Tokens written with this TTL.
    pub fn written_with(&self, ttl: Duration) -> usize {
        self.writes.iter().filter(|w| w.2 == ttl).map(|w| w.1).sum()
    }

    /// The end of the last entry read or written: input after it is uncached.
    pub fn cached_end(&self, blocks: &Blocks) -> usize {
        let last_write = self.writes.last().map(|w| blocks.ends[w.0]).unwrap_or(0);
        self.read.max(last_write)
    }
}

struct Entry {
    /// The TTL the entry was written with; a hit restarts it.
    ttl: Duration,
    expires: Instant,
}

#[derive(Default)]
pub struct BreakpointCache {
    entries: HashMap<Key, Entry>,
}

impl BreakpointCache {
    /// Reads: from each breakpoint, walk back at most `lookback` blocks (0: no limit) to the
    /// longest live entry of at least `min` tokens; the longest over all breakpoints wins.
    /// Writes: every breakpoint of at least `min` tokens past the read, among the last
    /// `max_writes` breakpoints (0: all). `bps` must be in block order.
    pub fn plan(
        &self,
        blocks: &Blocks,
        bps: &[Breakpoint],
        min: usize,
        lookback: usize,
        max_writes: usize,
        now: Instant,
    ) -> Plan {
        let min = min.max(1);
        let live = |k: usize| {
            self.entries
                .get(&blocks.keys[k])
                .is_some_and(|e| e.expires > now)
        };
        let mut plan = Plan::default();
        let mut read_block = None;
        for bp in bps {
            let lo = if lookback == 0 {
                0
            } else {
                (bp.block + 1).saturating_sub(lookback)
            };
            if let Some(k) = (lo..=bp.block)
                .rev()
                .find(|&k| blocks.ends[k] >= min && live(k))
            {
                if blocks.ends[k] > plan.read {
                    plan.read = blocks.ends[k];
                    read_block = Some(k);
                }
            }
        }
        plan.touched.extend(read_block);
        let skip = if max_writes == 0 {
            0
        } else {
            bps.len().saturating_sub(max_writes)
        };
        let mut prev = plan.read;
        for bp in &bps[skip..] {
            let end = blocks.ends[bp.block];
            if end < min {
                continue;
            }
            if end <= plan.read {
                if live(bp.block) {
                    plan.touched.push(bp.block);
                }
                continue;
            }
            plan.writes.push((bp.block, end - prev, bp.ttl));
            prev = end;
        }
        plan
    }

    pub fn commit(&mut self, blocks: &Blocks, plan: &Plan, now: Instant) {
        for &k in &plan.touched {
            if let Some(e) = self.entries.get_mut(&blocks.keys[k]) {
                e.expires = now + e.ttl;
            }
        }
        for &(k, _, ttl) in &plan.writes {
            self.entries.insert(
                blocks.keys[k],
                Entry {
                    ttl,
                    expires: now + ttl,
                },
            );
        }
        if self.entries.len() >= PURGE_AT {
            self.entries.retain(|_, e| e.expires > now);
        }
    }

    /// Live entries.
    pub fn len(&self, now: Instant) -> usize {
        self.entries.values().filter(|e| e.expires > now).count()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

struct Stored {
    partition: String,
    ids: Vec<u32>,
    /// `None`: no TTL (self-hosted engines evict by LRU only).
    ttl: Option<Duration>,
    expires: Option<Instant>,
    /// Tick of the last use, for LRU eviction.
    used: u64,
}

impl Stored {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|t| t > now)
    }
}

/// The best match for a request in a [`SequenceCache`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Match {
    /// Longest common prefix with a live stored sequence of the same partition.
    pub lcp: usize,
    /// Length of that stored sequence.
    pub stored_len: usize,
    index: Option<usize>,
}

pub struct SequenceCache {
    seqs: Vec<Stored>,
    capacity: usize,
    tick: u64,
}

impl SequenceCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            seqs: Vec::new(),
            capacity: capacity.max(1),
            tick: 0,
        }
    }

    pub fn longest(&self, partition: &str, ids: &[u32], now: Instant) -> Match {
        let mut best = Match::default();
        for (i, s) in self.seqs.iter().enumerate() {
            if s.partition != partition || !s.live(now) {
                continue;
            }
            let lcp = s.ids.iter().zip(ids).take_while(|(a, b)| a == b).count();
            if lcp > best.lcp {
                best = Match {
                    lcp,
                    stored_len: s.ids.len(),
                    index: Some(i),
                };
            }
        }
        best
    }

    /// Restarts the TTL of the matched sequence (a hit is a use).
    pub fn refresh(&mut self, m: &Match, now: Instant) {
        self.tick += 1;
        if let Some(s) = m.index.and_then(|i| self.seqs.get_mut(i)) {
            s.expires = s.ttl.map(|t| now + t);
            s.used = self.tick;
        }
    }

    /// Stores `ids` with a TTL (`None`: LRU only), replacing stored sequences of the partition
    /// that are prefixes of it; expired sequences go first, then the least recently used.
    pub fn insert(&mut self, partition: &str, ids: &[u32], ttl: Option<Duration>, now: Instant) {
        self.tick += 1;
        self.seqs
            .retain(|s| s.live(now) && !(s.partition == partition && ids.starts_with(&s.ids)));
        if let Some(s) = self
            .seqs
            .iter_mut()
            .find(|s| s.partition == partition && s.ids.starts_with(ids))
        {
            s.used = self.tick;
            return;
        }
        if self.seqs.len() >= self.capacity {
            if let Some(lru) = (0..self.seqs.len()).min_by_key(|&i| self.seqs[i].used) {
                self.seqs.swap_remove(lru);
            }
        }
        self.seqs.push(Stored {
            partition: partition.to_string(),
            ids: ids.to_vec(),
            ttl,
            expires: ttl.map(|t| now + t),
            used: self.tick,
        });
    }

    /// Live sequences.
    pub fn len(&self, now: Instant) -> usize {
        self.seqs.iter().filter(|s| s.live(now)).count()
    }

    /// The token ids of every live sequence (for the engines' KV-cache events).
    pub fn live(&self, now: Instant) -> impl Iterator<Item = &[u32]> {
        self.seqs
            .iter()
            .filter(move |s| s.live(now))
            .map(|s| s.ids.as_slice())
    }

    pub fn clear(&mut self) {
        self.seqs.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M5: Duration = Duration::from_secs(300);

    fn blocks(sizes: &[usize]) -> (Vec<Vec<u32>>, Blocks) {
        let ids: Vec<Vec<u32>> = sizes
            .iter()
            .enumerate()
            .map(|(b, &n)| (0..n as u32).map(|i| i + 1000 * b as u32).collect())
            .collect();
        let b = Blocks::new("p", ids.iter().map(|v| ("user", v.as_slice())));
        (ids, b)
    }

    fn bp(block: usize) -> Breakpoint {
        Breakpoint { block, ttl: M5 }
    }

    #[test]
    fn write_then_read_at_the_breakpoint() {
        let now = Instant::now();
        let mut c = BreakpointCache::default();
        let (_, b) = blocks(&[600, 600, 10]);
        let p = c.plan(&b, &[bp(1)], 1024, 20, 4, now);
        assert_eq!((p.read, p.written(), p.cached_end(&b)), (0, 1200, 1200));
        c.commit(&b, &p, now);
        let p = c.plan(&b, &[bp(1)], 1024, 20, 4, now);
        assert_eq!((p.read, p.written(), p.cached_end(&b)), (1200, 0, 1200));
    }

    #[test]
    fn lookback_is_twenty_blocks() {
        let now = Instant::now();
        let mut c = BreakpointCache::default();
        let mut sizes = vec![2000];
        sizes.extend([5; 24]);
        let (_, b) = blocks(&sizes);
        let p = c.plan(&b, &[bp(0)], 1024, 20, 4, now);
        c.commit(&b, &p, now);
        // Block 19 reaches back to block 0 (19 - 0 < 20); block 20 does not.
        assert_eq!(c.plan(&b, &[bp(19)], 1024, 20, 4, now).read, 2000);
        assert_eq!(c.plan(&b, &[bp(20)], 1024, 20, 4, now).read, 0);
        assert_eq!(c.plan(&b, &[bp(20)], 1024, 0, 4, now).read, 2000);
    }

    #[test]
    fn sequence_cache_keeps_the_longest_and_evicts_lru() {
        let now = Instant::now();
        let mut c = SequenceCache::new(2);
        for ids in [vec![1, 2, 3], vec![1, 2, 3, 4], vec![9, 9], vec![7]] {
            c.insert("p", &ids, None, now);
        }
        // [1,2,3] was replaced by [1,2,3,4], which was then evicted as least recently used.
        assert_eq!(c.len(now), 2);
        assert_eq!(c.longest("p", &[1, 2, 3, 4, 5], now).lcp, 0);
        assert_eq!(c.longest("p", &[9, 9, 1], now).lcp, 2);
        assert_eq!(c.longest("q", &[9, 9, 1], now).lcp, 0);
    }
}
