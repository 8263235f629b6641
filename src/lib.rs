//! prefix-warden: keeps LLM prompt caches warm and honest.
//!
//! # Layout
//! - [`config`]: `daemon.toml`, strict parsing with file/line/field errors.
//! - [`tokenizer`]: the tokenizer registry; tiktoken, tekken and HF `tokenizer.json` engines.
//! - [`prompt`]: the prompt registry, `prompts/*.yaml`, segments and breakpoints.
//! - [`prefix`]: a prompt's token sequence under one tokenizer (segments tokenized apart).
//! - [`fingerprint`]: the documented fingerprint and block-hash functions.
//! - [`fp_cache`]: on-disk fingerprint cache keyed by prompt and tokenizer content.
//! - [`store`]: the daemon's SQLite history of fingerprints and tokenizer observations.
//! - [`analyzer`]: ties the above together; fingerprints (prompt, tokenizer) pairs.
//! - [`cache_rules`]: provider cache rules as data and the survival arithmetic.
//! - [`diff`]: what a tokenizer change does to each prompt; [`report`] renders it.
//! - [`daemon`]: the long-running service.
//! - [`emulator`]: a local Anthropic/OpenAI/vLLM/SGLang server with the documented cache rules.
//! - [`live_color`]: which blue/green color is live now (file, http, dns or etcd), for warm-ups.
//! - [`warmup`]: the warm-up loop: live-color lookup each tick, provider clients, rate limits.
//! - [`usage`]: provider usage objects normalized to cache reads, writes and uncached tokens.
//! - [`backoff`]: bounded, jittered retry delays.
//! - [`cli`], [`logging`], [`schedule`], [`error`]: the edges.
#![forbid(unsafe_code)]

// The analyzer core, re-exported so `crate::config` and `prefix_warden::tokenizer` read the same
// in both crates. The core cannot do network IO (see its crate doc).
pub use prefix_warden_core::{
    analyzer, bounded, cache_rules, config, diagnostics, diff, error, fingerprint, fp_cache,
    kv_events, lifecycle, memory, money, prefix, prompt, provider, redact, report, schedule,
    template, tokenizer, traffic, usage,
};

pub mod backoff;
pub mod body;
pub mod check;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod count;
pub mod daemon;
pub mod emulator;
#[doc(hidden)]
pub mod fuzz_props;
pub mod live_color;
pub mod logging;
pub mod metrics;
pub mod progress;
pub mod residency;
pub mod server;
pub mod status;
pub mod store;
pub mod warmup;
