//! The writer half of the store's kill -9 test (`tests/it/store_crash.rs`): records fingerprints
//! into the history at `argv[1]` in a tight loop, starting at record `argv[2]`, and prints
//! `committed <i> <fingerprint>` after each commit returns. The test kills it with SIGKILL at a
//! random moment (mostly inside a transaction, where the loop spends its time) and checks that
//! every printed record is in the reopened, intact database.
//!
//! An example, not a test: it is built by `cargo test` and never counts as a passing test.

use std::io::Write;
use std::path::Path;

use prefix_warden::fingerprint::compute;
use prefix_warden::store::{RecordInput, Store};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: store_crash_child DB FIRST");
    let first: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let mut store = Store::open(Path::new(&path)).expect("open the store");
    let started = std::time::Instant::now();
    let mut out = std::io::stdout().lock();
    // Stops on its own after 60 s, so nothing can hang.
    for i in first..first + 1_000_000 {
        if started.elapsed().as_secs() >= 60 {
            break;
        }
        let ids: Vec<u32> = (0..(i % 50) as u32 + 1).chain([i as u32]).collect();
        let mut fp = compute(&ids, &[("system".into(), ids.len() / 2)], 8);
        fp.token_count = i as usize;
        let prompt = format!("p{}", i % 3);
        store
            .record(
                &RecordInput {
                    prompt: &prompt,
                    tokenizer: "t",
                    tokenizer_sha256: "aaaa",
                    spec_sha256: None,
                    content_sha256: "cccc",
                    fingerprints: &fp,
                },
                i as i64,
            )
            .expect("record");
        if i % 7 == 0 {
            store
                .record_tokenizer("t", "tiktoken", &format!("sha{i}"), None, i as i64)
                .expect("record tokenizer");
        }
        writeln!(out, "committed {i} {}", fp.fingerprint).expect("stdout");
        out.flush().expect("stdout");
    }
}
