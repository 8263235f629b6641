//! Replicas coordinated through a real etcd (issue #23): two daemons share two warm-up groups,
//! one holder each; a SIGKILLed holder's group is taken over within the lease TTL plus a tick;
//! `prefix status` says who holds what; a reload that changes `[cluster]` is refused.
//! The three-member etcd, three-replica fault run is `scripts/fleet-faults.py` (scripts/test.sh
//! runs its short version).

use std::time::{Duration, Instant};

use crate::daemon::{metric, write_config, Running};
use crate::live_color::Etcd;
use crate::support::{run_in, scratch, stdout};
use crate::warmup::Emu;

const TTL: u64 = 2;

/// A replica's config: two groups ticking every second, each warming its own emulator.
fn replica(dir: &std::path::Path, name: &str, etcd: &str, emus: &[&Emu]) {
    std::fs::write(dir.join("key"), "test-key\n").unwrap();
    let mut groups = String::new();
    for (i, e) in emus.iter().enumerate() {
        let live = format!("live-{i}.json");
        std::fs::write(
            dir.join(&live),
            serde_json::json!({"live": "blue", "colors": {"blue": {"targets": [e.url]}}})
                .to_string(),
        )
        .unwrap();
        groups.push_str(&format!(
            "\n[[warmup]]\ngroup = \"g{i}\"\nschedule = \"* * * * * *\"\nprovider = \"anthropic\"\n\
             model = \"claude-sonnet-4-5\"\nprompts = [\"cline-claude-sonnet-4\"]\napi_key_file = \"key\"\n\
             diagnostics = false\nlookup = {{ backend = \"file\", path = \"{live}\" }}\n"
        ));
    }
    write_config(dir, &["openai/o200k_base"], "", |c| {
        let c = c[..c.find("[emulator]").unwrap_or(c.len())].to_string();
        format!(
            "{c}\n[cluster]\nendpoints = [\"{etcd}\"]\nname = \"{name}\"\nlease_ttl_secs = {TTL}\n\
             request_timeout_ms = 500\n{groups}"
        )
    });
}

fn held(r: &Running, group: &str) -> f64 {
    metric(
        &r.get("/metrics").1,
        &format!("prefix_warden_cluster_group_held{{group=\"{group}\"}}"),
    )
    .unwrap_or(-1.0)
}

fn holders(r: &Running) -> serde_json::Map<String, serde_json::Value> {
    let st: serde_json::Value = serde_json::from_str(&r.get("/status").1).unwrap();
    st["cluster"]["holders"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn two_replicas_share_the_groups_and_take_over_a_killed_holders_group() {
    let dir = scratch();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let etcd = rt.block_on(Etcd::start(dir.path()));
    let emus = [Emu::start(0), Emu::start(0)];
    let (a_dir, b_dir) = (scratch(), scratch());
    replica(a_dir.path(), "a", &etcd.endpoint, &[&emus[0], &emus[1]]);
    replica(b_dir.path(), "b", &etcd.endpoint, &[&emus[0], &emus[1]]);
    let (mut a, b) = (Running::start(a_dir.path()), Running::start(b_dir.path()));

    // Both groups held, one by each replica (two groups over two replicas: one each), and
    // every replica sees the same holders.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut both = serde_json::Map::new();
    while Instant::now() < deadline {
        both = holders(&a);
        let spread: std::collections::BTreeSet<_> = both.values().map(|v| v.to_string()).collect();
        if both.len() == 2 && spread.len() == 2 && holders(&b) == both {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(both.len(), 2, "both groups held: {both:?}");
    assert_eq!(
        both.values()
            .map(|v| v.to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        2,
        "one group per replica: {both:?}"
    );
    for g in ["g0", "g1"] {
        assert_eq!(held(&a, g) + held(&b, g), 1.0, "{g} held exactly once");
    }

    // Exactly one warm-up per tick and group: over 4 s, each emulator gets 3 to 5 requests
    // (not 6 to 10, as two replicas warming both would send).
    let before: Vec<u64> = emus.iter().map(Emu::requests).collect();
    std::thread::sleep(Duration::from_secs(4));
    for (i, e) in emus.iter().enumerate() {
        let n = e.requests() - before[i];
        assert!((3..=5).contains(&n), "g{i}: {n} warm-ups in 4 ticks");
    }

    // `prefix status` names the holders and the fleet.
    let a_cfg = a_dir.path().join("daemon.toml");
    let out = run_in(
        a_dir.path(),
        &["status", "--url", &format!("http://{}", a.addr)],
    );
    let text = stdout(&out);
    assert!(
        text.contains("fleet: replica a, 2 replica(s) registered (a, b), etcd up"),
        "{text}"
    );
    assert!(text.contains("HELD BY"), "{text}");
    for (g, r) in &both {
        let line = text
            .lines()
            .find(|l| l.contains(g.as_str()))
            .unwrap_or_default();
        assert!(
            line.contains(r.as_str().unwrap()),
            "{g} held by {r}: {text}"
        );
    }

    // A reload that changes [cluster] is refused; the running generation stays.
    let cfg = std::fs::read_to_string(&a_cfg).unwrap();
    std::fs::write(
        &a_cfg,
        cfg.replace("lease_ttl_secs = 2", "lease_ttl_secs = 5"),
    )
    .unwrap();
    a.hup();
    a.wait_log(
        |l| l.contains("config reload failed") && l.contains("[cluster] changed"),
        Duration::from_secs(10),
    );
    std::fs::write(&a_cfg, cfg).unwrap();

    // SIGKILL b: its group is warmed by a within the lease TTL plus one tick.
    let b_group = both
        .iter()
        .find(|(_, r)| r.as_str() == Some("b"))
        .map(|(g, _)| g.clone())
        .unwrap();
    let i: usize = b_group[1..].parse().unwrap();
    let mut b = b;
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let killed = Instant::now();
    let n = emus[i].requests();
    while emus[i].requests() == n {
        assert!(
            killed.elapsed() < Duration::from_secs(TTL + 3),
            "{b_group} not taken over within the lease TTL plus a tick"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The lease expires at most TTL after the kill (it was renewed before); etcd's expiry sweep
    // runs every 500 ms; the next tick follows within a second.
    let took = killed.elapsed();
    assert!(
        took <= Duration::from_millis(TTL * 1000 + 500 + 1000 + 200),
        "takeover took {took:?}"
    );
    assert_eq!(
        holders(&a).get(&b_group).and_then(|v| v.as_str()),
        Some("a")
    );
    assert_eq!(held(&a, &b_group), 1.0);
    drop(etcd);
}
