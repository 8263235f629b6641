//! Request logs, read one record at a time: what teams actually send, as opposed to the
//! prefixes they registered.
//!
//! - [`reader`]: JSON-lines files (optionally gzip or zstd) of raw request bodies (Anthropic
//!   Messages, OpenAI Chat Completions and Responses), OpenAI Batch input lines and Anthropic
//!   Message Batches lines, each optionally with a timestamp and the response (its `usage`,
//!   `id` and cache diagnostics). A bad
//!   line is counted and reported by number; it never stops the run.
//! - [`frames`]: a compressed log's gzip members and zstd frames, all of them, as one stream.
//! - [`request`]: a request body to its cacheable blocks in the provider's order (tools, system,
//!   messages), each a content block tokenized on its own.
//! - [`discover`]: `prefix discover`: the shared prefixes of the traffic, from a radix tree over
//!   blocks whose edges are token sequences (each distinct block tokenized once).
//! - [`lengths`]: block lengths where no tokenizer serves the model (usage, counts, a
//!   stand-in), and pseudo ids for them.
//! - [`shadow`]: which discovered prefixes are worth a line of their own.
//! - [`lint`]: `prefix lint`: cache-hostile spans in prompts and logs.
//! - [`simulate`]: `prefix simulate`: one model's traffic replayed against its cache rule.
//! - [`reasons`]: why requests missed: the providers' diagnostics in the logs, the reasons
//!   `simulate` predicts, and where the two disagree.
//! - [`stub`]: `discover --write-prompts`: prompt stubs serialized as YAML, written inside the
//!   directory and never through a link.
//! - [`report`]: all three as a table, JSON or Markdown (strings from logs escaped).

pub mod blocks;
pub mod discover;
pub mod frames;
pub mod lengths;
pub mod lint;
pub mod reader;
pub mod reasons;
pub mod report;
pub mod request;
pub mod shadow;
pub mod simulate;
pub mod stub;

pub use reader::{read_log, read_records, BadLine, ReadStats};
pub use request::{Api, Block, Record, Section};
