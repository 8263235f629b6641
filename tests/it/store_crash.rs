//! kill -9 of a process writing the history, at random moments, over and over: every record it
//! reported as committed must be in the reopened database, which must pass `integrity_check`.

use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use prefix_warden::store::Store;

/// The example binary `store_crash_child`, built by `cargo test`.
fn child_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples/store_crash_child");
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo test` (which builds examples)",
        p.display()
    );
    p
}

#[test]
fn committed_records_survive_kill_9_at_random_moments() {
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
        let mut child = Command::new(child_binary())
            .args([db.to_str().unwrap(), &next.to_string()])
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
        // A random number of commits, then a random sub-millisecond moment: the loop spends
        // its time inside `record`, so the kill mostly lands mid-transaction.
        let want = 20 + rand(200) as usize;
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
                "round {round}: committed record {i}"
            );
        }
        next = stored.keys().max().copied().unwrap_or(0) + 1;
    }
}
