//! The warm-up loop end to end: the daemon as a process, provider emulators in this test
//! process, a `file` live-color lookup, ticks every second or two.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prefix_warden::emulator::{Emulator, EmulatorConfig};

use crate::daemon::{metric, write_config, Running};
use crate::support::{root, scratch};

/// A hosted-API emulator on a free loopback port, served from its own thread.
pub(crate) struct Emu {
    emulator: Emulator,
    pub url: String,
}

impl Emu {
    pub(crate) fn start(requests_per_minute: u32) -> Emu {
        let cfg = prefix_warden::config::Config::load(&root().join("daemon.toml")).unwrap();
        let rules = prefix_warden::cache_rules::CacheRules::load(&cfg.cache_rules).unwrap();
        let registry = Arc::new(prefix_warden::tokenizer::Registry::new(&cfg));
        let mut ec = EmulatorConfig::hosted("openai/o200k_base");
        ec.requests_per_minute = requests_per_minute;
        let emulator = Emulator::new(registry, rules, ec).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let e = emulator.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                e.serve(l, std::future::pending()).await.unwrap();
            });
        });
        Emu {
            emulator,
            url: format!("http://{}", rx.recv().unwrap()),
        }
    }

    /// Provider requests answered (any status), admin calls excluded.
    pub(crate) fn requests(&self) -> u64 {
        self.emulator
            .stats()
            .counters
            .requests
            .iter()
            .filter(|(p, _)| p.starts_with("/v1/"))
            .flat_map(|(_, by)| by.values())
            .sum()
    }

    fn admin(&self, path: &str, body: serde_json::Value) {
        let url = format!("{}{path}", self.url);
        let (code, _) = crate::support::http(
            "POST",
            &url,
            &[("content-type", "application/json")],
            Some(&body.to_string()),
        );
        assert!((200..300).contains(&code), "{path}: {code}");
    }
}

fn live_file(dir: &std::path::Path, live: &str, blue: &[&str], green: &[&str]) {
    let doc = serde_json::json!({"live": live, "colors": {"blue": {"targets": blue}, "green": {"targets": green}}});
    let p = dir.join("live.json");
    let tmp = dir.join("live.json.tmp");
    std::fs::write(&tmp, doc.to_string()).unwrap();
    std::fs::rename(tmp, p).unwrap(); // as deploy tooling should: atomically
}

/// A config with one Anthropic warm-up group ticking every `every` seconds, emulator off.
fn setup(dir: &std::path::Path, every: u32, extra: &str) {
    setup_group(dir, "anthropic", "claude-sonnet-4-5", every, extra);
}

/// A config with one warm-up group of `provider` and `model` ticking every `every` seconds,
/// emulator off.
fn setup_group(dir: &std::path::Path, provider: &str, model: &str, every: u32, extra: &str) {
    std::fs::write(dir.join("key"), "test-key\n").unwrap();
    write_config(dir, &["openai/o200k_base"], "", |c| {
        let c = c[..c.find("[emulator]").unwrap_or(c.len())].to_string();
        format!(
            "{c}\n[[warmup]]\ngroup = \"g\"\nschedule = \"*/{every} * * * * *\"\nprovider = \"{provider}\"\nmodel = \"{model}\"\n\
             prompts = [\"cline-claude-sonnet-4\"]\napi_key_file = \"key\"\nbrownout_retries = 1\nbrownout_delay_ms = 200\n{extra}\n\
             lookup = {{ backend = \"file\", path = \"live.json\" }}\n"
        )
    });
}

fn runs(r: &Running, color: &str, result: &str) -> f64 {
    metric(
        &r.get("/metrics").1,
        &format!(
            "prefix_warden_warmup_runs_total{{group=\"g\",color=\"{color}\",result=\"{result}\"}}"
        ),
    )
    .unwrap_or(0.0)
}

fn read_tokens(r: &Running) -> f64 {
    metric(
        &r.get("/metrics").1,
        "prefix_warden_cache_read_tokens_total{prompt=\"cline-claude-sonnet-4\",provider=\"anthropic\",source=\"warmup\"}",
    )
    .unwrap_or(0.0)
}

fn write_tokens(r: &Running) -> f64 {
    metric(
        &r.get("/metrics").1,
        "prefix_warden_cache_write_tokens_total{prompt=\"cline-claude-sonnet-4\",provider=\"anthropic\",source=\"warmup\"}",
    )
    .unwrap_or(0.0)
}

#[test]
fn warmups_follow_a_blue_green_flip_within_one_tick() {
    let (blue, green) = (Emu::start(0), Emu::start(0));
    let d = scratch();
    setup(d.path(), 1, "");
    live_file(d.path(), "blue", &[&blue.url], &[&green.url]);
    let r = Running::start(d.path());
    r.wait_until("cache reads from warm-ups on blue", |r| {
        read_tokens(r) > 0.0
    });
    assert!(runs(&r, "blue", "success") >= 2.0);
    assert_eq!(green.requests(), 0, "the idle color gets nothing");
    let m = r.get("/metrics").1;
    assert_eq!(
        metric(&m, "prefix_warden_live_color{group=\"g\",color=\"blue\"}"),
        Some(1.0)
    );

    live_file(d.path(), "green", &[&blue.url], &[&green.url]);
    let flipped = Instant::now();
    r.wait_until("a warm-up on green", |_| green.requests() > 0);
    assert!(
        flipped.elapsed() < Duration::from_secs(4),
        "within one tick (1 s) plus a request"
    );
    let blue_after = blue.requests();
    r.wait_until("two more green runs", |r| {
        runs(r, "green", "success") >= 2.0
    });
    assert_eq!(
        blue.requests(),
        blue_after,
        "the old color's targets get none after the flip"
    );
    let m = r.get("/metrics").1;
    assert_eq!(
        metric(&m, "prefix_warden_live_color{group=\"g\",color=\"green\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&m, "prefix_warden_live_color{group=\"g\",color=\"blue\"}"),
        Some(0.0)
    );
    let s: serde_json::Value = serde_json::from_str(&r.get("/status").1).unwrap();
    assert_eq!(s["warmups"]["g"]["color"], "green");
    assert!(
        s["warmups"]["g"]["latency_ms_p99"].as_u64().is_some(),
        "{s}"
    );
}

#[test]
fn a_lookup_outage_fails_loudly_and_the_success_timestamp_goes_stale() {
    let emu = Emu::start(0);
    let d = scratch();
    setup(d.path(), 1, "");
    live_file(d.path(), "blue", &[&emu.url], &[&emu.url]);
    let mut r = Running::start(d.path());
    r.wait_until("a success", |r| runs(r, "blue", "success") >= 1.0);
    let last = |r: &Running| {
        metric(
            &r.get("/metrics").1,
            "prefix_warden_warmup_last_success_timestamp_seconds{group=\"g\"}",
        )
        .unwrap()
    };
    std::fs::remove_file(d.path().join("live.json")).unwrap();
    let before = emu.requests();
    r.wait_until("lookup failures", |r| {
        runs(r, "unknown", "lookup_failed") >= 2.0
    });
    let stale = last(&r);
    r.wait_until("another failure", |r| {
        runs(r, "unknown", "lookup_failed") >= 3.0
    });
    assert_eq!(last(&r), stale, "the success timestamp stops advancing");
    assert!(
        emu.requests() <= before + 1,
        "no warm-ups without a live color (one may have been in flight)"
    );
    r.wait_log(
        |l| l.contains("cannot tell which color is live"),
        Duration::from_secs(5),
    );
    // No targets for the live color is its own result.
    live_file(d.path(), "green", &[&emu.url], &[]);
    r.wait_until("no_targets", |r| runs(r, "unknown", "no_targets") >= 1.0);
    // Back: successes resume and the timestamp moves again.
    live_file(d.path(), "blue", &[&emu.url], &[&emu.url]);
    r.wait_until("recovery", |r| last(r) > stale);
}

#[test]
fn a_provider_tokenizer_swap_turns_reads_into_writes() {
    let emu = Emu::start(0);
    let d = scratch();
    setup(d.path(), 2, "");
    live_file(d.path(), "blue", &[&emu.url], &[&emu.url]);
    let r = Running::start(d.path());
    r.wait_until("steady reads", |r| read_tokens(r) > 0.0);
    // (runs, reads, writes) at each run boundary, polled much faster than the 2 s ticks.
    let deltas_over = |r: &Running, n_runs: f64| -> Vec<(f64, f64)> {
        let mut snaps = vec![(runs(r, "blue", "success"), read_tokens(r), write_tokens(r))];
        let end = Instant::now() + Duration::from_secs(60);
        while snaps.last().unwrap().0 < snaps[0].0 + n_runs && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(100));
            let s = (runs(r, "blue", "success"), read_tokens(r), write_tokens(r));
            if s.0 != snaps.last().unwrap().0 {
                snaps.push(s);
            }
        }
        snaps
            .windows(2)
            .map(|w| (w[1].1 - w[0].1, w[1].2 - w[0].2))
            .collect()
    };
    let before = deltas_over(&r, 2.0);
    assert!(
        before.iter().any(|(rd, wr)| *rd > 0.0 && *wr == 0.0),
        "steady state: reads, no writes: {before:?}"
    );
    // The provider ships a new tokenizer: the cached entries no longer match.
    emu.admin(
        "/admin/tokenizer",
        serde_json::json!({"tokenizer": "openai/cl100k_base"}),
    );
    let after = deltas_over(&r, 3.0);
    assert!(
        after.iter().any(|(rd, wr)| *rd == 0.0 && *wr > 0.0),
        "a run after the swap reads nothing and writes: {after:?}"
    );
    assert!(
        after.last().is_some_and(|(rd, _)| *rd > 0.0),
        "then the new entries are read: {after:?}"
    );
}

#[test]
fn a_429_storm_is_not_retried_in_a_tight_loop_and_the_reserve_is_kept() {
    let emu = Emu::start(0);
    let d = scratch();
    setup(d.path(), 1, "max_attempts = 3");
    live_file(d.path(), "blue", &[&emu.url], &[&emu.url]);
    let r = Running::start(d.path());
    r.wait_until("a success", |r| runs(r, "blue", "success") >= 1.0);
    // 429s whose body says ok, with retry-after 2 s.
    emu.admin(
        "/admin/faults",
        serde_json::json!({"mode": "rate_limit_ok_body", "retry_after_secs": 2}),
    );
    let start = emu.requests();
    let t = Instant::now();
    r.wait_until("rate-limited requests counted", |r| {
        metric(&r.get("/metrics").1, "prefix_warden_warmup_requests_total{prompt=\"cline-claude-sonnet-4\",provider=\"anthropic\",result=\"rate_limited\"}")
            .unwrap_or(0.0)
            >= 3.0
    });
    std::thread::sleep(Duration::from_secs(6));
    let sent = emu.requests() - start;
    let secs = t.elapsed().as_secs_f64();
    // Every request after a 429 waits for its retry-after (2 s), across runs too, and runs
    // never overlap: at most one request per 2 s.
    assert!(
        (sent as f64) <= secs / 2.0 + 3.0,
        "{sent} requests in {secs:.1} s"
    );
    assert!(
        runs(&r, "blue", "deferred_budget") >= 1.0,
        "runs end deferred, not failed"
    );
    assert!(
        runs(&r, "unknown", "skipped_overlap") >= 1.0,
        "ticks during a long run are skipped, not queued"
    );
    emu.admin("/admin/faults", serde_json::json!({"mode": "none"}));
}

#[test]
fn warmups_stop_at_the_rate_limit_reserve() {
    // 20 requests a minute; a 50% reserve leaves warm-ups about 10 of them.
    let emu = Emu::start(20);
    let d = scratch();
    setup(d.path(), 1, "reserve_fraction = 0.5");
    live_file(d.path(), "blue", &[&emu.url], &[&emu.url]);
    let r = Running::start(d.path());
    r.wait_until("deferred runs", |r| {
        runs(r, "unknown", "deferred_budget") + runs(r, "blue", "deferred_budget") >= 2.0
    });
    let sent = emu.requests();
    assert!(sent >= 9, "warm-ups ran until the reserve ({sent})");
    // What live traffic sees now: at least the reserve is left (the window refills over the
    // minute, so warm-ups may have used a little more than half in total, never the reserve).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let remaining: f64 = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/v1/messages", emu.url))
            .header("x-api-key", "live-traffic")
            .header("anthropic-version", "2023-06-01")
            .json(&serde_json::json!({"model": "claude-sonnet-4-5", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "live traffic still gets through");
        r.headers()["anthropic-ratelimit-requests-remaining"].to_str().unwrap().parse().unwrap()
    });
    assert!(
        remaining >= 8.0,
        "live traffic found {remaining} of 20 requests left: the 50% reserve was not kept"
    );
}

#[test]
fn a_short_brown_out_is_retried_within_the_tick() {
    let emu = Emu::start(0);
    let d = scratch();
    // Ticks every second; lookups retried 6 times, 500 ms apart: a 1.5 s gap in the live-color
    // file (longer than a tick, so some tick surely falls into it) is absorbed.
    write_config(d.path(), &["openai/o200k_base"], "", |c| c);
    std::fs::write(d.path().join("key"), "k\n").unwrap();
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    std::fs::write(
        d.path().join("daemon.toml"),
        format!(
            "{cfg}\n[[warmup]]\ngroup = \"g\"\nschedule = \"* * * * * *\"\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n\
             prompts = [\"cline-claude-sonnet-4\"]\napi_key_file = \"key\"\nbrownout_retries = 6\nbrownout_delay_ms = 500\n\
             lookup = {{ backend = \"file\", path = \"live.json\" }}\n"
        ),
    )
    .unwrap();
    live_file(d.path(), "blue", &[&emu.url], &[&emu.url]);
    let mut r = Running::start(d.path());
    r.wait_until("a success", |r| runs(r, "blue", "success") >= 1.0);
    // Both colors gone for a moment, as during a switch; back well within the retries.
    std::fs::remove_file(d.path().join("live.json")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    live_file(d.path(), "green", &[&emu.url], &[&emu.url]);
    r.wait_log(
        |l| l.contains("retrying within the tick"),
        Duration::from_secs(10),
    );
    r.wait_until("a green success", |r| runs(r, "green", "success") >= 1.0);
    assert_eq!(
        runs(&r, "unknown", "lookup_failed"),
        0.0,
        "brown-outs never counted as failures"
    );
}

/// Issue: after a prompt edit and SIGHUP the warm-ups kept sending the old text (reads went on
/// rising, writes never moved), and a schedule edit took effect only after a restart.
#[test]
fn a_prompt_and_schedule_edit_reach_the_warmups_on_reload() {
    let emu = Emu::start(0);
    let d = scratch();
    setup(d.path(), 2, "");
    live_file(d.path(), "blue", &[&emu.url], &[]);
    let r = Running::start(d.path());
    r.wait_until("a cache read from the warm-ups", |r| read_tokens(r) > 0.0);
    let interval = |r: &Running| {
        metric(
            &r.get("/metrics").1,
            "prefix_warden_warmup_interval_seconds{group=\"g\"}",
        )
    };
    assert_eq!(interval(&r), Some(2.0));
    let writes = write_tokens(&r);
    // One word of the warmed prompt, and the schedule from every 2 s to every 1 s.
    let t = d
        .path()
        .join("prompts/texts/cline__cline__system_claude_sonnet_4.txt");
    let text = std::fs::read_to_string(&t).unwrap();
    std::fs::write(&t, text.replacen(" the ", " THE ", 1)).unwrap();
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    std::fs::write(
        d.path().join("daemon.toml"),
        cfg.replace("*/2 * * * * *", "*/1 * * * * *"),
    )
    .unwrap();
    let edited = Instant::now();
    r.hup();
    r.wait_until("a cache write of the new prefix", |r| {
        write_tokens(r) > writes
    });
    assert!(
        edited.elapsed() < Duration::from_secs(5),
        "the write came {:?} after the edit: more than two ticks",
        edited.elapsed()
    );
    r.wait_until("the new interval", |r| interval(r) == Some(1.0));
    let st: serde_json::Value = serde_json::from_str(&r.get("/status").1).unwrap();
    assert_eq!(st["generation"], 2, "{st}");
    assert_eq!(st["warmups"]["g"]["interval_secs"], 1.0, "{st}");
    // Ticks now come every second: at least 3 runs in 4 s.
    let runs_now = |r: &Running| runs(r, "blue", "success");
    let before = runs_now(&r);
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        runs_now(&r) - before >= 3.0,
        "{} runs in 4 s",
        runs_now(&r) - before
    );
}

/// The shipped demo: two in-process emulators, blue and green. Warm-ups land on the live
/// color's emulator; after the flip, on the other one. Each run logs one INFO line with the
/// group, color, targets, result and tokens (never text), and `prefix status` shows the color.
#[test]
fn the_shipped_demo_shows_the_flip_in_the_targets_warmed() {
    use crate::daemon::Running;
    let d = crate::support::scratch();
    crate::support::copy_recursive(
        &crate::support::root().join("deploy"),
        &d.path().join("deploy"),
    );
    let ports: Vec<u16> = (0..3).map(|_| crate::support::free_port()).collect();
    let ports_in = |s: String| {
        s.replace("127.0.0.1:9464", &format!("127.0.0.1:{}", ports[0]))
            .replace("127.0.0.1:9465", &format!("127.0.0.1:{}", ports[1]))
            .replace("127.0.0.1:9466", &format!("127.0.0.1:{}", ports[2]))
    };
    let cfg = d.path().join("daemon.toml");
    let text = ports_in(std::fs::read_to_string(&cfg).unwrap())
        .replace("schedule = \"0 * * * * *\"", "schedule = \"*/2 * * * * *\"")
        .replace("jitter_secs = 5", "jitter_secs = 0");
    assert!(
        text.contains("*/2 * * * * *"),
        "the demo groups' schedule changed?"
    );
    std::fs::write(&cfg, text).unwrap();
    let colors = d.path().join("deploy/live-color.json");
    let doc = ports_in(std::fs::read_to_string(&colors).unwrap());
    std::fs::write(&colors, &doc).unwrap();
    let (blue, green) = (
        format!("http://127.0.0.1:{}", ports[1]),
        format!("http://127.0.0.1:{}", ports[2]),
    );
    let mut r = Running::start(d.path());
    let is_run = |l: &str, color: &str, target: &str| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
        v["message"] == "warm-up run"
            && v["color"] == color
            && v["targets"] == target
            && v["result"] == "success"
    };
    let line = r.wait_log(|l| is_run(l, "blue", &blue), Duration::from_secs(60));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["level"], "INFO", "{line}");
    for field in ["group", "cache_read_tokens", "cache_write_tokens"] {
        assert!(!v[field].is_null(), "{field} missing: {line}");
    }
    assert!(
        crate::support::prompt_text_probes(d.path())
            .iter()
            .all(|p| !line.contains(p.as_str())),
        "a warm-up log line carries prompt text"
    );
    let stats = |base: &str| -> u64 {
        let (_, b) = crate::support::get(&format!("{base}/admin/stats")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        [
            "cache_read_tokens",
            "cache_write_tokens",
            "uncached_input_tokens",
        ]
        .iter()
        .map(|k| v[*k].as_u64().unwrap())
        .sum()
    };
    assert!(stats(&blue) > 0);
    assert_eq!(stats(&green), 0, "nothing warms green while blue is live");
    // The flip: the next runs warm green's emulator, with no restart.
    std::fs::write(
        &colors,
        doc.replace("\"live\": \"blue\"", "\"live\": \"green\""),
    )
    .unwrap();
    r.wait_log(|l| is_run(l, "green", &green), Duration::from_secs(60));
    assert!(stats(&green) > 0);
    let st = crate::support::run_in(
        d.path(),
        &["status", "--url", &format!("http://{}", r.addr)],
    );
    let out = crate::support::stdout(&st);
    assert!(
        out.lines()
            .any(|l| l.contains("green") && l.contains(&green)),
        "{out}"
    );
}

/// Issue #21: each warm-up names the previous warm-up of its (prompt, target) as the comparison,
/// so the provider says why the next one missed. After a prompt edit and a reload the next
/// warm-up is diagnosed `edit_reason`, counted under `source="warmup"`, and its WARN line joins
/// the fingerprint change the daemon reported; after a switch of the group's model it is
/// `model_changed`, joined with the previous model. No line carries prompt text.
fn warmups_say_why_they_missed(
    provider: &str,
    label: &str,
    model: &str,
    new_model: &str,
    edit_reason: &str,
) {
    let emu = Emu::start(0);
    let d = scratch();
    setup_group(d.path(), provider, model, 1, "");
    live_file(d.path(), "blue", &[&emu.url], &[]);
    let mut r = Running::start(d.path());
    let series = |name: &str, tail: &str| {
        format!("prefix_warden_{name}{{prompt=\"cline-claude-sonnet-4\",provider=\"{label}\",source=\"warmup\",{tail}}}")
    };
    let count = |r: &Running, s: &str| metric(&r.get("/metrics").1, s).unwrap_or(0.0);
    // The second warm-up is compared with the first: the same request, no miss.
    let same = if label == "anthropic" {
        "no_reason"
    } else {
        "hit"
    };
    r.wait_until("a diagnosed warm-up", |r| {
        count(
            r,
            &series("cache_diagnoses_total", &format!("result=\"{same}\"")),
        ) >= 1.0
    });
    let misses = |r: &Running, reason: &str| {
        count(
            r,
            &series("cache_misses_total", &format!("reason=\"{reason}\"")),
        )
    };
    assert_eq!(misses(&r, edit_reason), 0.0, "no miss before the edit");

    // Hold the warm-ups (the live color has no targets) while the prompt is edited and the
    // daemon reloads and records the fingerprint change, so the next warm-up finds it reported.
    live_file(d.path(), "blue", &[], &[]);
    let held = runs(&r, "unknown", "no_targets");
    r.wait_until("a run without targets", |r| {
        runs(r, "unknown", "no_targets") > held
    });
    let t = d
        .path()
        .join("prompts/texts/cline__cline__system_claude_sonnet_4.txt");
    let text = std::fs::read_to_string(&t).unwrap();
    std::fs::write(&t, text.replacen(" the ", " THE ", 1)).unwrap();
    r.hup();
    r.wait_until("the fingerprint change", |r| {
        metric(
            &r.get("/metrics").1,
            "prefix_warden_fingerprint_changes_total{prompt=\"cline-claude-sonnet-4\",tokenizer=\"openai/o200k_base\"}",
        )
        .unwrap_or(0.0)
            >= 1.0
    });
    live_file(d.path(), "blue", &[&emu.url], &[]);
    r.wait_until("a warm-up miss after the edit", |r| {
        misses(r, edit_reason) >= 1.0
    });
    assert!(
        count(
            &r,
            &series(
                "cache_missed_tokens_total",
                &format!("reason=\"{edit_reason}\"")
            )
        ) > 1000.0,
        "the provider counts the prompt's tokens as missed"
    );
    let is_miss = |l: &str, reason: &str| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
        v["message"] == "warm-up missed the cache" && v["reason"] == reason
    };
    let line = r.wait_log(|l| is_miss(l, edit_reason), Duration::from_secs(10));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["level"], "WARN", "{line}");
    assert_eq!(v["prompt"], "cline-claude-sonnet-4", "{line}");
    assert_eq!(v["group"], "g", "{line}");
    assert_eq!(v["target_url"], emu.url.as_str(), "{line}");
    assert!(v["missed_tokens"].as_u64().unwrap() > 1000, "{line}");
    assert_eq!(v["explained_by"], "fingerprint_change", "{line}");
    assert!(
        v["changed_at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{line}"
    );
    crate::support::assert_no_prompt_text(d.path(), &line, "the miss line");

    // The group moves to another model: the next warm-up is compared with the old model's.
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    std::fs::write(
        d.path().join("daemon.toml"),
        cfg.replace(
            &format!("model = \"{model}\""),
            &format!("model = \"{new_model}\""),
        ),
    )
    .unwrap();
    r.hup();
    r.wait_until("a model_changed miss", |r| {
        misses(r, "model_changed") >= 1.0
    });
    let line = r.wait_log(|l| is_miss(l, "model_changed"), Duration::from_secs(10));
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["explained_by"], "model_switch", "{line}");
    assert_eq!(v["previous_model"], model, "{line}");
    // Then the new model's warm-ups compare with each other again: no more misses.
    let after = misses(&r, "model_changed") + misses(&r, edit_reason);
    let diagnosed = count(
        &r,
        &series("cache_diagnoses_total", &format!("result=\"{same}\"")),
    );
    r.wait_until("another diagnosed warm-up", |r| {
        count(
            r,
            &series("cache_diagnoses_total", &format!("result=\"{same}\"")),
        ) > diagnosed
    });
    assert_eq!(misses(&r, "model_changed") + misses(&r, edit_reason), after);
    // A provider that cannot diagnose says so: counted as such, not as a miss.
    emu.admin("/admin/diagnostics", serde_json::json!({"unavailable": 1}));
    r.wait_until("an unavailable diagnosis", |r| {
        count(
            r,
            &series("cache_diagnoses_total", "result=\"unavailable\""),
        ) >= 1.0
    });
    assert_eq!(misses(&r, "model_changed") + misses(&r, edit_reason), after);
    // An answer whose diagnostics cannot be read: the warm-up still succeeds (its usage is
    // good), the diagnosis is counted as malformed and logged once, without prompt text.
    let failed = runs(&r, "blue", "failure");
    emu.admin("/admin/diagnostics", serde_json::json!({"malformed": 1}));
    let line = r.wait_log(
        |l| l.contains("cache diagnostics unreadable"),
        Duration::from_secs(10),
    );
    assert!(
        line.contains("moon_phase_changed"),
        "names the value: {line}"
    );
    crate::support::assert_no_prompt_text(d.path(), &line, "the unreadable-diagnostics line");
    r.wait_until("a malformed diagnosis", |r| {
        count(r, &series("cache_diagnoses_total", "result=\"malformed\"")) >= 1.0
    });
    assert_eq!(
        runs(&r, "blue", "failure"),
        failed,
        "the warm-up did not fail"
    );
    assert_eq!(
        metric(
            &r.get("/metrics").1,
            &format!("prefix_warden_warmup_requests_total{{prompt=\"cline-claude-sonnet-4\",provider=\"{label}\",result=\"bad_response\"}}")
        )
        .unwrap_or(0.0),
        0.0
    );
}

#[test]
fn anthropic_warmups_say_why_they_missed() {
    warmups_say_why_they_missed(
        "anthropic",
        "anthropic",
        "claude-sonnet-4-5",
        "claude-sonnet-4-6",
        "system_changed",
    );
}

#[test]
fn openai_responses_warmups_say_why_they_missed() {
    warmups_say_why_they_missed(
        "openai-responses",
        "openai",
        "gpt-5.6",
        "gpt-5.7",
        "input_changed",
    );
}
