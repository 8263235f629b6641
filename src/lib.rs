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

pub mod analyzer;
pub mod backoff;
pub mod cache_rules;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod diff;
pub mod emulator;
pub mod error;
pub mod fingerprint;
pub mod fp_cache;
pub mod live_color;
pub mod logging;
pub mod metrics;
pub mod prefix;
pub mod prompt;
pub mod report;
pub mod schedule;
pub mod store;
pub mod tokenizer;
pub mod usage;
pub mod warmup;
