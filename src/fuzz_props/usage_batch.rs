//! The `/v1/usage` ingest body: `daemon::ingest::parse_batch` with a fixed set of registered
//! prompt ids, and `usage::normalize` in every `UsageFormat` on the input as JSON.
//!
//! Must hold: no panic, no OOM, bounded time; accepted counts stay within `usage::MAX_TOKENS`
//! each (so counters cannot wrap), and a record's prompt label is a registered id or
//! `unregistered`, never an arbitrary string; a diagnosed miss's tokens stay within
//! `usage::MAX_TOKENS` too.

use std::collections::HashSet;

use crate::daemon::ingest::parse_batch;
use crate::usage::{normalize, Usage, UsageFormat, MAX_TOKENS};

const FORMATS: [UsageFormat; 6] = [
    UsageFormat::Anthropic,
    UsageFormat::OpenaiChat,
    UsageFormat::OpenaiResponses,
    UsageFormat::BedrockConverse,
    UsageFormat::Gemini,
    UsageFormat::OpenaiCompatible,
];

fn bounded(u: &Usage) {
    assert!(u.cache_read <= MAX_TOKENS && u.cache_write <= MAX_TOKENS && u.uncached <= MAX_TOKENS);
    let _ = u.total_input();
}

pub fn check(data: &[u8]) {
    let known: HashSet<String> = ["cline-claude-sonnet-4", "browser-use-agent"]
        .into_iter()
        .map(String::from)
        .collect();
    if let Ok(records) = parse_batch(data, &known) {
        for r in &records {
            assert!(
                r.prompt == "unregistered" || known.contains(&r.prompt),
                "unexpected label"
            );
            bounded(&r.usage);
        }
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for f in FORMATS {
        match normalize(f, &v) {
            Ok(u) => bounded(&u),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
}
