//! prefix-warden's analyzer core: everything that turns files into fingerprints and diffs.
//!
//! Invariant (enforced by the dependency tree, checked in CI with `cargo tree`): this crate
//! cannot do network IO. It depends on no async runtime and no HTTP crate (no tokio, hyper,
//! reqwest or axum); the daemon, warm-ups, lookups, ingest and the emulator live in the
//! `prefix-warden` crate, which depends on this one, never the reverse.
//!
//! # Layout
//! - [`config`]: `daemon.toml`, strict parsing with file/line/field errors, one file per section.
//! - [`tokenizer`]: the tokenizer registry; tiktoken, tekken and HF `tokenizer.json` engines.
//! - [`prompt`]: the prompt registry, `prompts/*.yaml`, segments and breakpoints.
//! - [`template`]: chat templates rendered as transformers renders them (minijinja).
//! - [`prefix`]: a prompt's token sequence under one tokenizer (segments tokenized apart).
//! - [`fingerprint`]: the documented fingerprint and block-hash functions.
//! - [`fp_cache`]: on-disk fingerprint cache keyed by prompt and tokenizer content.
//! - [`analyzer`]: ties the above together; fingerprints (prompt, tokenizer) pairs.
//! - [`cache_rules`]: provider cache rules as data and the survival arithmetic.
//! - [`diff`]: what a tokenizer change does to each prompt; [`report`] renders it.
//! - [`provider`]: the one table of provider APIs, their names and metric labels.
//! - [`usage`]: provider usage objects normalized to cache reads, writes and uncached tokens.
//! - [`schedule`]: cron parsing, shared by the daemon and warm-ups.
//! - [`bounded`]: file reads with a size limit checked while reading, regular files only.
//! - [`redact`]: the one path that cuts fragments of secrets out of error messages.
//! - [`error`]: the error type; every message names file, line and field.
//! - [`escape`]: outside text (request logs) made safe to print: controls and bidi as `\u{..}`.
//! - [`confined_dir`]: files created inside one opened directory, never through a link.
// One module may allow `unsafe` and does: `tokenizer::hw` (its two files: `huge.rs`, 2 MiB pages
// for large tables, the fuzz target `huge_pages` over it; `sse2.rs`, byte classes with SSE2
// compares for the block splits, Miri over its own test and the fuzz target `split_blocks` over
// the split; the invariants in each file's doc). Nothing else.
#![deny(unsafe_code)]

pub mod analyzer;
pub mod bounded;
pub mod cache_rules;
pub mod config;
#[cfg(unix)]
pub mod confined_dir;
pub mod data_file;
pub mod diagnostics;
pub mod diff;
pub mod error;
pub mod escape;
pub mod fingerprint;
pub mod fp_cache;
pub mod kv_events;
pub mod lifecycle;
pub mod memory;
pub mod money;
pub mod prefix;
pub mod prompt;
pub mod provider;
pub mod redact;
pub mod report;
pub mod schedule;
pub mod template;
pub mod tokenizer;
pub mod traffic;
pub mod usage;
