//! The emulator's counters (`GET /admin/stats`): answers by path and status, and raw token
//! totals (read from cache, written to cache, uncached input, output) from which tests and
//! dashboards compute ratios themselves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Engine, Shared};

/// Counters since start or the last `POST /admin/reset`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Provider answers by path, then by status code (`"dropped"` for a cut connection).
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Tokens served from cache (Anthropic `cache_read_input_tokens`, OpenAI `cached_tokens`).
    pub cache_read_tokens: u64,
    /// Tokens written to cache (Anthropic `cache_creation_input_tokens`, OpenAI 5.6+
    /// `cache_write_tokens`; for implicit caches, the newly cacheable tokens).
    pub cache_write_tokens: u64,
    /// Input tokens neither read from nor written to cache.
    pub uncached_input_tokens: u64,
    pub output_tokens: u64,
}

impl Counters {
    pub fn answer(&mut self, path: &str, status: &str) {
        *self
            .requests
            .entry(path.to_string())
            .or_default()
            .entry(status.to_string())
            .or_default() += 1;
    }

    pub fn tokens(&mut self, read: usize, written: usize, uncached: usize, output: usize) {
        self.cache_read_tokens += read as u64;
        self.cache_write_tokens += written as u64;
        self.uncached_input_tokens += uncached as u64;
        self.output_tokens += output as u64;
    }
}

/// What `GET /admin/stats` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub engine: Engine,
    /// Registry id of the tokenizer in use.
    pub tokenizer: String,
    #[serde(flatten)]
    pub counters: Counters,
    /// Live cache entries (breakpoint entries plus stored sequences).
    pub cache_entries: usize,
}

pub fn snapshot(shared: &Shared) -> Stats {
    let st = shared.lock();
    let now = st.now();
    Stats {
        engine: shared.cfg.engine,
        tokenizer: st.tokenizer.id.clone(),
        counters: st.counters.clone(),
        cache_entries: st.breakpoints.len(now) + st.sequences.len(now),
    }
}
