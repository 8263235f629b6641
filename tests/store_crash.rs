//! kill -9 of a process writing the history, at random moments, over and over: every record it
//! reported as committed must be in the reopened database, which must pass `quick_check`.
//!
//! A test target with its own `main` (`harness = false` in Cargo.toml): the same binary is the
//! writer when `PW_STORE_CRASH_CHILD` is set, so no helper ever counts as a passing test. The
//! writer records fingerprints in a tight loop and prints `committed <i> <fingerprint>` after
//! each commit returns; the kill lands at a random sub-millisecond moment, mostly inside a
//! transaction, where the loop spends its time.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prefix_warden::fingerprint::compute;
use prefix_warden::store::{RecordInput, Store};

/// Set in the writer: "<database path>\n<first record>".
const CHILD_ENV: &str = "PW_STORE_CRASH_CHILD";

fn main() {
    if let Ok(v) = std::env::var(CHILD_ENV) {
        let (path, first) = v.split_once('\n').expect("path and first record");
        child(path, first.parse().expect("first record"));
        return;
    }
    committed_records_survive_kill_9_at_random_moments(Reader::None);
    // Issue #18, class 1: an operator's `sqlite3 FILE 'PRAGMA integrity_check'` (another
    // process opening and closing the file) while the daemon runs its passes, each of which
    // calls `Store::check`. Closing any descriptor of the file drops the process's POSIX
    // locks, so a `check` that opened the file made the outside reader's close look like the
    // last one: it checkpointed and deleted the `-wal` the writer kept appending to.
    committed_records_survive_kill_9_at_random_moments(Reader::Outside);
    println!("store_crash: 2 passed, 0 failed");
}

/// Whether another process reads the database while the writer runs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reader {
    None,
    Outside,
}

/// The writer: records in a tight loop and prints each commit; like the daemon's pass, every
/// commit is followed by the cheap `Store::check`.
fn child(path: &str, first: u64) {
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
        if i.is_multiple_of(7) {
            store
                .record_tokenizer("t", "tiktoken", &format!("sha{i}"), None, i as i64)
                .expect("record tokenizer");
        }
        assert_eq!(store.check(), prefix_warden::store::Health::Ok);
        writeln!(out, "committed {i} {}", fp.fingerprint).expect("stdout");
        out.flush().expect("stdout");
    }
}

/// An outside process's reads, over and over until `stop`: open, `PRAGMA integrity_check`,
/// a count, close, as an operator's `sqlite3` would.
fn outside_reader(db: &Path, stop: &std::sync::atomic::AtomicBool) -> usize {
    let mut reads = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Ok(c) = rusqlite::Connection::open(db) {
            let _ = c.busy_timeout(Duration::from_secs(2));
            let ok: Result<String, _> = c.query_row("PRAGMA integrity_check", [], |r| r.get(0));
            if ok.is_ok() {
                reads += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    reads
}

/// The test: the writer killed at random moments, over and over.
fn committed_records_survive_kill_9_at_random_moments(reader_kind: Reader) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut committed: HashMap<u64, String> = HashMap::new();
    let mut next = 0u64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ std::process::id() as u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..12 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, format!("{}\n{next}", db.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let mut parts = line.split(' ');
                if let (Some("committed"), Some(i), Some(fp)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    if tx
                        .send((i.parse::<u64>().unwrap(), fp.to_string()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        });
        // The outside reader is its own process: this one, not the writer.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let outside = (reader_kind == Reader::Outside).then(|| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || outside_reader(&db, &stop))
        });
        // A random number of commits, then a random sub-millisecond moment: the loop spends
        // its time inside `record`, so the kill mostly lands mid-transaction. With an outside
        // reader, at least 100 passes per round.
        let want = match reader_kind {
            Reader::None => 20 + rand(200) as usize,
            Reader::Outside => 100 + rand(200) as usize,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = 0;
        while seen < want && Instant::now() < deadline {
            if let Ok((i, fp)) = rx.recv_timeout(Duration::from_millis(100)) {
                committed.insert(i, fp);
                seen += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(rand(900)));
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = outside {
            let reads = t.join().unwrap();
            assert!(reads > 0, "round {round}: the outside reader never read");
        }
        for (i, fp) in rx.try_iter() {
            committed.insert(i, fp);
        }
        assert!(
            seen >= want,
            "round {round}: the child committed only {seen}"
        );

        let store = Store::open(&db).unwrap();
        assert_eq!(
            store.quick_check(),
            prefix_warden::store::Health::Ok,
            "round {round}"
        );
        let mut stored: HashMap<u64, String> = HashMap::new();
        for p in 0..3 {
            for s in store.history(&format!("p{p}"), "t", usize::MAX).unwrap() {
                stored.insert(s.token_count as u64, s.fingerprint.clone());
            }
        }
        for (i, fp) in &committed {
            assert_eq!(
                stored.get(i),
                Some(fp),
                "{reader_kind:?} round {round}: committed record {i} of {}",
                committed.len()
            );
        }
        next = stored.keys().max().copied().unwrap_or(0) + 1;
    }
}
