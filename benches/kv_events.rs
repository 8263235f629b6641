//! KV-cache event ingest (issue #22): 64 engine hosts publish at once, over real ZMQ on
//! loopback, to the daemon's subscriber (`prefix_warden::residency`, one thread); the figure is
//! the events per second that thread applies, the resident memory over the run, and the time
//! from an eviction being published to the warm-up decision seeing it.
//!
//! Each host publishes batches of 100 events in the engine's encoding (tagged maps, int
//! hashes), pre-encoded so the publishers cost little: 90 `BlockStored` of one 16-token block
//! that no registered prefix starts with (the bulk of a busy engine's traffic: counted and
//! dropped), and 10 that extend a registered prefix's chain or remove its blocks again (kept,
//! then released). Token ids come from a xorshift generator: no two batches repeat.
//!
//! Publishers send pre-encoded batches (64 distinct ones per host, cycled, each under its own
//! `seq`) at a fixed offered rate, so they take little CPU from the one subscriber thread; the
//! figure that does not depend on them is the events applied per CPU-second of that thread
//! (`/proc/self/task/<tid>/stat`).
//!
//! Run: `cargo bench --bench kv_events -- [SECONDS] [HOSTS] [BATCHES/S PER HOST]` (default 10 s,
//! 64 hosts, 100 batches/s each: 640,000 events/s offered); figures in docs/reliability.md.

use std::time::{Duration, Instant};

use prefix_warden::kv_events::residency::Prefix;
use prefix_warden::kv_events::wire::{self, Batch, BlockHash, Encoding, Event, Medium};
use prefix_warden::residency::{Decision, HostSpec, Residency};

const EVENTS_PER_BATCH: usize = 100;
/// vLLM's current encoding: tagged events, int hashes.
const VLLM: Encoding = Encoding {
    tagged: true,
    int_hashes: true,
    sglang: false,
};
const BLOCK: u32 = 16;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One batch of host `h`, number `n`: mostly unrelated blocks, some along the prefix.
fn batch(h: u64, n: u64, prefix: &[u32], rng: &mut Rng) -> Vec<u8> {
    let mut events = Vec::with_capacity(EVENTS_PER_BATCH);
    for _ in 0..EVENTS_PER_BATCH - 10 {
        events.push(Event::Stored {
            hashes: vec![BlockHash(rng.next())],
            parent: None,
            token_ids: (0..BLOCK)
                .map(|_| 100_000 + (rng.next() % 50_000) as u32)
                .collect(),
            block_size: BLOCK,
            medium: Medium::Gpu,
            group: 0,
        });
    }
    // The prefix's first 5 blocks stored under fresh hashes, then removed again.
    let base = (h << 40) | (n << 8);
    let hashes: Vec<BlockHash> = (0..5).map(|i| BlockHash(base + i)).collect();
    for (i, &hash) in hashes.iter().enumerate() {
        let s = i * BLOCK as usize;
        events.push(Event::Stored {
            hashes: vec![hash],
            parent: i.checked_sub(1).map(|p| hashes[p]),
            token_ids: prefix[s..s + BLOCK as usize].to_vec(),
            block_size: BLOCK,
            medium: Medium::Gpu,
            group: 0,
        });
    }
    for &hash in hashes.iter().rev() {
        events.push(Event::Removed {
            hashes: vec![hash],
            medium: Medium::Gpu,
            group: 0,
        });
    }
    wire::encode(
        &Batch {
            ts: 0.0,
            events,
            rank: Some(0),
        },
        VLLM,
    )
}

/// CPU seconds the thread named `name` has used (utime + stime, at 100 ticks a second).
fn thread_cpu(name: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    for t in dir.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // Fields after the `(comm)`: state is the 1st, utime the 12th, stime the 13th.
            let rest = stat.rsplit(')').next().unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
                + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
            return ticks / 100.0;
        }
    }
    0.0
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let secs: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let hosts: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let rate: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100);
    let prefix: Vec<u32> = (0..2049).map(|i| 1 + i * 7 % 90_000).collect();
    let ctx = zmq::Context::new();
    let mut pubs = Vec::new();
    let mut specs = Vec::new();
    for h in 0..hosts {
        let s = ctx.socket(zmq::PUB).unwrap();
        s.set_sndhwm(1000).unwrap();
        s.bind("tcp://127.0.0.1:*").unwrap();
        let ep = s.get_last_endpoint().unwrap().unwrap();
        specs.push(HostSpec {
            name: format!("host-{h}"),
            events: ep,
            replay: None,
            topic: String::new(),
            hash_seed: None,
        });
        pubs.push(s);
    }
    let rss_start = rss_kib();
    let r = Residency::start(
        specs,
        vec![Prefix {
            id: "p".into(),
            ids: prefix.clone(),
        }],
        Duration::from_secs(600),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1000)); // SUB sockets join
    let events_of =
        |r: &Residency| -> u64 { r.shared.hosts().values().map(|v| v.counts.events).sum() };
    // Publishers: one thread each, as 64 engines would be; paced at most by the sockets.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut threads = Vec::new();
    for (h, s) in pubs.into_iter().enumerate() {
        let (stop, prefix) = (stop.clone(), prefix.clone());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (h as u64 + 1));
        let pool: Vec<Vec<u8>> = (0..64)
            .map(|n| batch(h as u64, n, &prefix, &mut rng))
            .collect();
        threads.push(std::thread::spawn(move || {
            let t0 = Instant::now();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let payload = &pool[(n % 64) as usize];
                s.send_multipart([&b""[..], &n.to_be_bytes()[..], &payload[..]], 0)
                    .unwrap();
                n += 1;
                // The offered rate: `rate` batches a second.
                let due = t0 + Duration::from_secs_f64(n as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            n
        }));
    }
    let started = Instant::now();
    let cpu0 = thread_cpu("kv-events-sub");
    let first = events_of(&r);
    let mut samples = Vec::new();
    let mut rss_max = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(500));
        rss_max = rss_max.max(rss_kib());
        samples.push((started.elapsed().as_secs_f64(), events_of(&r), rss_kib()));
    }
    let applied = events_of(&r) - first;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = thread_cpu("kv-events-sub") - cpu0;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let published: u64 =
        threads.into_iter().map(|t| t.join().unwrap()).sum::<u64>() * EVENTS_PER_BATCH as u64;
    let views = r.shared.hosts();
    let dropped: u64 = views.values().map(|v| v.counts.dropped_blocks).sum();
    let (_, gaps) = r.shared.tallies();
    let lost: u64 = gaps.iter().filter(|((_, ok), _)| !ok).map(|(_, n)| n).sum();
    let kept_max = views.values().map(|v| v.prefixes[0].gpu_tokens).max();
    println!("kv_events ingest: {hosts} hosts, {secs} s, one subscriber thread");
    println!(
        "  applied {applied} events in {elapsed:.1} s: {:.0} events/s ({published} published, {} offered a second; gaps lost: {lost})",
        applied as f64 / elapsed,
        hosts as u64 * rate * EVENTS_PER_BATCH as u64
    );
    println!(
        "  subscriber thread: {cpu:.2} CPU-seconds, {:.0} events per CPU-second",
        applied as f64 / cpu.max(0.01)
    );
    println!("  blocks dropped (not on a registered chain): {dropped}; resident prefix tokens now (max over hosts): {kept_max:?}");
    let mid = samples.get(samples.len() / 2).map_or(0, |s| s.2);
    println!(
        "  RSS: {} MiB before subscribing, {} MiB at half time, {} MiB at the end, {} MiB max",
        rss_start / 1024,
        mid / 1024,
        samples.last().map_or(0, |s| s.2) / 1024,
        rss_max / 1024
    );

    // Eviction to decision: a quiet host with the prefix resident; its blocks removed; how
    // long until the warm-up decision says so.
    let s = ctx.socket(zmq::PUB).unwrap();
    s.bind("tcp://127.0.0.1:*").unwrap();
    let ep = s.get_last_endpoint().unwrap().unwrap();
    let r = Residency::start(
        vec![HostSpec {
            name: "quiet".into(),
            events: ep,
            replay: None,
            topic: String::new(),
            hash_seed: None,
        }],
        vec![Prefix {
            id: "p".into(),
            ids: prefix.clone(),
        }],
        Duration::from_secs(600),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let n_blocks = (prefix.len() - 1) / BLOCK as usize;
    let hashes: Vec<BlockHash> = (0..n_blocks as u64).map(|i| BlockHash(7_000 + i)).collect();
    let store = wire::encode(
        &Batch {
            ts: 0.0,
            events: vec![Event::Stored {
                hashes: hashes.clone(),
                parent: None,
                token_ids: prefix[..n_blocks * BLOCK as usize].to_vec(),
                block_size: BLOCK,
                medium: Medium::Gpu,
                group: 0,
            }],
            rank: None,
        },
        VLLM,
    );
    s.send_multipart([&b""[..], &0u64.to_be_bytes()[..], &store[..]], 0)
        .unwrap();
    let until = |want: Decision| {
        let t = Instant::now();
        while r.shared.decide("quiet", "p") != want {
            assert!(t.elapsed() < Duration::from_secs(10), "no {want:?}");
            std::hint::spin_loop();
        }
        t.elapsed()
    };
    until(Decision::Resident);
    let mut waits = Vec::new();
    for k in 0..20u64 {
        let evict = wire::encode(
            &Batch {
                ts: 0.0,
                events: vec![Event::Removed {
                    hashes: vec![hashes[n_blocks - 1]],
                    medium: Medium::Gpu,
                    group: 0,
                }],
                rank: None,
            },
            VLLM,
        );
        let restore = wire::encode(
            &Batch {
                ts: 0.0,
                events: vec![Event::Stored {
                    hashes: vec![hashes[n_blocks - 1]],
                    parent: Some(hashes[n_blocks - 2]),
                    token_ids: prefix[(n_blocks - 1) * BLOCK as usize..n_blocks * BLOCK as usize]
                        .to_vec(),
                    block_size: BLOCK,
                    medium: Medium::Gpu,
                    group: 0,
                }],
                rank: None,
            },
            VLLM,
        );
        let t = Instant::now();
        s.send_multipart([&b""[..], &(1 + 2 * k).to_be_bytes()[..], &evict[..]], 0)
            .unwrap();
        until(Decision::NotResident);
        waits.push(t.elapsed());
        s.send_multipart([&b""[..], &(2 + 2 * k).to_be_bytes()[..], &restore[..]], 0)
            .unwrap();
        until(Decision::Resident);
    }
    waits.sort();
    println!(
        "  eviction published -> decision NotResident: median {:.2} ms, max {:.2} ms (20 evictions)",
        waits[waits.len() / 2].as_secs_f64() * 1e3,
        waits[waits.len() - 1].as_secs_f64() * 1e3
    );
}
