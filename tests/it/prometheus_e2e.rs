//! End to end through real Prometheus and Alertmanager processes on loopback: Prometheus
//! scrapes the daemon (warming up against its in-process emulator) and evaluates the test copy
//! of the shipped rules (`tests/prometheus/e2e/`, windows shortened from hours to a minute
//! by `tests/prometheus/make-e2e-rules.sh`); the fingerprint alert reaches Alertmanager.
//! Also `promtool check metrics` on the daemon's real `/metrics`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{metric, write_config, Alertmanager, Running};
use crate::support::{get, root, scratch, which, LoopbackServer};

struct Prometheus(LoopbackServer);

impl Prometheus {
    fn start(target: &str, alertmanager: &str) -> Prometheus {
        let rules = root().join("tests/prometheus/e2e/prefix-warden.e2e.rules.yml");
        let am = alertmanager.trim_start_matches("http://").to_string();
        let target = target.to_string();
        Prometheus(LoopbackServer::start(
            "prometheus",
            "prometheus",
            move |dir, port| {
                std::fs::write(
                dir.join("prometheus.yml"),
                format!(
                    "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
                     alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']\n\
                     scrape_configs:\n  - job_name: prefix-warden\n    static_configs:\n      - targets: ['{target}']\n",
                    rules.display()
                ),
            )
            .unwrap();
                vec![
                    format!("--config.file={}", dir.join("prometheus.yml").display()),
                    format!("--storage.tsdb.path={}", dir.join("data").display()),
                    format!("--web.listen-address=127.0.0.1:{port}"),
                ]
            },
        ))
    }

    /// The value of an instant query with one result, if any.
    fn query(&self, q: &str) -> Option<f64> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.0.url),
            &[("query", q)],
        )
        .unwrap();
        let (_, body) = get(url.as_str())?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }
}

fn wait(what: &str, secs: u64, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn emulator_swap_and_fingerprint_change_reach_prometheus_and_alertmanager() {
    let am = Alertmanager::start();
    let d = scratch();
    let emu_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let emu = format!("http://127.0.0.1:{emu_port}");
    std::fs::write(d.path().join("key"), "k\n").unwrap();
    std::fs::write(
        d.path().join("live.json"),
        serde_json::json!({"live": "blue", "colors": {"blue": {"targets": [emu.clone()]}}})
            .to_string(),
    )
    .unwrap();
    write_config(
        d.path(),
        &["deepseek/v3", "openai/o200k_base"],
        "watch_interval_secs = 1",
        |c| {
            let c = c.replace(
                "sha256 = \"ecb6f9fc369894346f0511f4074ca75cee5cd5f3b06d02f1ba35fcd39f8e121d\"\n",
                "sha256 = \"unpinned\"\n",
            );
            format!(
            "{c}\n[emulator]\nlisten = \"127.0.0.1:{emu_port}\"\ntokenizer = \"openai/o200k_base\"\n\n\
             [[warmup]]\ngroup = \"e2e\"\nschedule = \"* * * * * *\"\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n\
             prompts = [\"cline-claude-sonnet-4\"]\napi_key_file = \"key\"\nlookup = {{ backend = \"file\", path = \"live.json\" }}\n"
        )
        },
    );
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    r.wait_until("warm-up reads", |r| {
        metric(&r.get("/metrics").1, "prefix_warden_cache_read_tokens_total{prompt=\"cline-claude-sonnet-4\",provider=\"anthropic\",source=\"warmup\"}").unwrap_or(0.0) > 0.0
    });

    // promtool accepts the daemon's real exposition, warm-up series included.
    let promtool = which("promtool").expect("promtool not found: apt-get install prometheus");
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(r.get("/metrics").1.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let prom = Prometheus::start(&r.addr, am.url());
    let reads = "sum(prefix_warden_cache_read_tokens_total{source=\"warmup\"})";
    let writes = "sum(prefix_warden_cache_write_tokens_total{source=\"warmup\"})";
    wait("Prometheus to scrape warm-up reads", 60, || {
        prom.query(reads).unwrap_or(0.0) > 0.0
    });
    assert_eq!(prom.query("up{job=\"prefix-warden\"}"), Some(1.0));

    // The provider swaps its tokenizer: new writes show up in Prometheus.
    let w0 = prom.query(writes).unwrap_or(0.0);
    let (code, _) = crate::support::http(
        "POST",
        &format!("{emu}/admin/tokenizer"),
        &[("content-type", "application/json")],
        Some(r#"{"tokenizer": "deepseek/v3"}"#),
    );
    assert!((200..300).contains(&code), "{code}");
    wait(
        "cache writes to rise in Prometheus after the swap",
        60,
        || prom.query(writes).unwrap_or(0.0) > w0,
    );

    // A same-vocabulary tokenizer replaces the file behind the deepseek/v3 label.
    std::fs::copy(
        d.path()
            .join("tokenizers/deepseek/deepseek-v4.tokenizer.json.gz"),
        d.path()
            .join("tokenizers/deepseek/deepseek-v3.tokenizer.json.gz"),
    )
    .unwrap();
    wait("the fingerprint change in Prometheus", 60, || {
        prom.query("prefix_warden_fingerprint_changes_total{prompt=\"cline-hermes-4\",tokenizer=\"deepseek/v3\"}") == Some(1.0)
    });
    wait(
        "PromptFingerprintChanged in Alertmanager, via Prometheus",
        90,
        || {
            am.alerts().iter().any(|a| {
                a["labels"]["alertname"] == "PromptFingerprintChanged"
                    && a["labels"]["prompt"] == "cline-hermes-4"
                    && a["labels"]["job"] == "prefix-warden"
            })
        },
    );
    wait("TokenizerSourceChanged in Alertmanager", 60, || {
        am.alerts().iter().any(|a| {
            a["labels"]["alertname"] == "TokenizerSourceChanged"
                && a["labels"]["tokenizer"] == "deepseek/v3"
        })
    });
    assert!(
        !am.alerts()
            .iter()
            .any(|a| a["labels"]["alertname"] == "PrefixWardenDown"),
        "the daemon is up: no down alert"
    );
}
