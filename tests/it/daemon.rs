//! `prefix daemon` end to end on a scratch copy of the shipped config: ready, metrics, a
//! tokenizer file replaced behind its label, a broken reload, SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::{assert_no_prompt_text, get, http, prefix, scratch, LoopbackServer};

pub(crate) struct Running {
    pub child: Child,
    pub addr: String,
    log: mpsc::Receiver<String>,
    lines: Vec<String>,
}

impl Running {
    pub fn start(dir: &std::path::Path) -> Running {
        Self::start_with(dir, &[])
    }

    /// Starts the daemon with extra environment. systemd sets WATCHDOG_PID to the service's
    /// pid; a shell that execs the daemon does the same here.
    pub(crate) fn start_with(dir: &std::path::Path, env: &[(&str, &str)]) -> Running {
        let mut cmd = if env.iter().any(|(k, _)| *k == "WATCHDOG_USEC") {
            let mut c = std::process::Command::new("sh");
            c.args([
                "-c",
                "WATCHDOG_PID=$$ exec \"$0\" \"$@\"",
                prefix().get_program().to_str().unwrap(),
            ]);
            c
        } else {
            prefix()
        };
        let mut child = cmd
            .current_dir(dir)
            .envs(env.iter().copied())
            .args(["--log-format", "json", "daemon"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mut r = Running {
            child,
            addr: String::new(),
            log: rx,
            lines: Vec::new(),
        };
        let l = r.wait_log(|l| l.contains("daemon listening"), Duration::from_secs(60));
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        r.addr = v["listen"].as_str().unwrap().to_string();
        r
    }

    pub fn hup(&self) {
        assert!(std::process::Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
    }

    pub fn wait_log(&mut self, f: impl Fn(&str) -> bool, timeout: Duration) -> String {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(l) = self.log.recv_timeout(Duration::from_millis(200)) {
                self.lines.push(l.clone());
                if f(&l) {
                    return l;
                }
            }
        }
        panic!("log line not seen; log so far:\n{}", self.lines.join("\n"));
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let url = format!("http://{}{}", self.addr, path);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let r = reqwest::get(&url).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    pub fn wait_until(&self, what: &str, f: impl Fn(&Self) -> bool) {
        let end = Instant::now() + Duration::from_secs(90);
        while Instant::now() < end {
            if f(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("timed out waiting for {what}");
    }
}

impl Drop for Running {
    /// A failing test must not leave a daemon behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real Alertmanager (Debian's `prometheus-alertmanager`) on a free loopback port.
pub(crate) struct Alertmanager(LoopbackServer);

impl Alertmanager {
    pub fn start() -> Alertmanager {
        Self::start_on(crate::support::free_port())
    }

    pub fn start_on(port: u16) -> Alertmanager {
        Alertmanager(LoopbackServer::start_on(
            "prometheus-alertmanager",
            "prometheus-alertmanager",
            port,
            |dir, port| {
                std::fs::write(
                    dir.join("am.yml"),
                    "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
                )
                .unwrap();
                vec![
                    format!("--config.file={}", dir.join("am.yml").display()),
                    format!("--storage.path={}", dir.join("data").display()),
                    format!("--web.listen-address=127.0.0.1:{port}"),
                    "--cluster.listen-address=".into(),
                ]
            },
        ))
    }

    pub fn url(&self) -> &str {
        &self.0.url
    }

    /// Alerts Alertmanager holds now, as JSON.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let (_, body) = get(&format!("{}/api/v2/alerts", self.0.url)).unwrap();
        serde_json::from_str(&body).unwrap()
    }
}

pub(crate) fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn tokenizer_swap_reload_failure_and_sigterm() {
    let am = Alertmanager::start();
    let d = scratch();
    let cfg_path = d.path().join("daemon.toml");
    // Listen on a free port, poll files every second, and float the deepseek/v3 label (no pin),
    // as a provider serving "latest" behind one URL would.
    let cfg = write_config(
        d.path(),
        &["deepseek/v3", "openai/o200k_base"],
        &format!(
            "watch_interval_secs = 1\nschedule = \"0 0 * * * *\"\nalertmanager_url = \"{}\"\nwebhook_url = \"http://127.0.0.1:1/unreachable\"",
            am.url()
        ),
        |c| c.replace("sha256 = \"ecb6f9fc369894346f0511f4074ca75cee5cd5f3b06d02f1ba35fcd39f8e121d\"\n", "sha256 = \"unpinned\"\n"),
    );
    let mut r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let (_, m) = r.get("/metrics");
    assert_eq!(
        metric(&m, "prefix_warden_evaluations_total{result=\"success\"}"),
        Some(1.0),
        "{m}"
    );
    assert!(m.contains("prefix_warden_build_info{version=\""), "{m}");
    let key = "prefix_warden_fingerprint_changes_total{prompt=\"cline-hermes-4\",tokenizer=\"deepseek/v3\"}";
    assert_eq!(metric(&m, key), Some(0.0), "{m}");
    let status =
        |r: &Running| -> serde_json::Value { serde_json::from_str(&r.get("/status").1).unwrap() };
    let fp_of = |s: &serde_json::Value, p: &str, t: &str| -> String {
        s["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["prompt"] == p && x["tokenizer"] == t)
            .unwrap()["fingerprint"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = status(&r);

    // The same-vocabulary variant (DeepSeek V4: same BPE, added tokens moved) behind the v3 label.
    std::fs::copy(
        d.path()
            .join("tokenizers/deepseek/deepseek-v4.tokenizer.json.gz"),
        d.path()
            .join("tokenizers/deepseek/deepseek-v3.tokenizer.json.gz"),
    )
    .unwrap();
    r.wait_until("the change in /metrics", |r| {
        metric(&r.get("/metrics").1, key) == Some(1.0)
    });
    let m = r.get("/metrics").1;
    assert_eq!(
        metric(
            &m,
            "prefix_warden_tokenizer_source_changes_total{tokenizer=\"deepseek/v3\"}"
        ),
        Some(1.0)
    );
    // Prompts without `<think>` keep their fingerprint.
    let unchanged = "prefix_warden_fingerprint_changes_total{prompt=\"cline-claude-sonnet-4\",tokenizer=\"deepseek/v3\"}";
    assert_eq!(metric(&m, unchanged), Some(0.0));
    let after = status(&r);
    assert_ne!(
        fp_of(&before, "cline-hermes-4", "deepseek/v3"),
        fp_of(&after, "cline-hermes-4", "deepseek/v3")
    );
    assert_eq!(
        fp_of(&before, "cline-claude-sonnet-4", "deepseek/v3"),
        fp_of(&after, "cline-claude-sonnet-4", "deepseek/v3")
    );
    let ev = r.wait_log(
        |l| l.contains("\"event\":\"fingerprint_changed\"") && l.contains("cline-hermes-4"),
        Duration::from_secs(30),
    );
    assert!(
        ev.contains("first_divergent_block") && ev.contains("surviving"),
        "{ev}"
    );
    // Issue #20: only models the tokenizer serves are counted (deepseek/v3 does not serve the
    // prompt's Hermes models; they were listed, lengthening every line).
    assert!(!ev.contains("Hermes-4-70B"), "{ev}");

    // A broken config keeps the daemon running on the old one.
    std::fs::write(&cfg_path, format!("{cfg}\nbogus = [\n")).unwrap();
    r.wait_until("a reload failure", |r| {
        metric(
            &r.get("/metrics").1,
            "prefix_warden_config_reload_failures_total",
        ) == Some(1.0)
    });
    let s = status(&r);
    assert!(
        s["last_reload_error"]
            .as_str()
            .unwrap()
            .contains("daemon.toml:"),
        "{s}"
    );
    assert_eq!(r.get("/healthz").0, 200);

    // SIGTERM: exit 0 within 5 s.
    let t = Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &r.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let code = loop {
        if let Some(s) = r.child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    while let Ok(l) = r.log.recv_timeout(Duration::from_millis(200)) {
        r.lines.push(l);
    }
    assert_no_prompt_text(d.path(), &r.lines.join("\n"), "daemon log");
}

/// Rewrites the scratch config to keep only the `keep` tokenizers, with a `[daemon]` section.
pub(crate) fn write_config(
    dir: &std::path::Path,
    keep: &[&str],
    daemon: &str,
    edit: impl Fn(String) -> String,
) -> String {
    let cfg = std::fs::read_to_string(dir.join("daemon.toml")).unwrap();
    let mut parts = cfg.split("[[tokenizer]]");
    let head = parts.next().unwrap().to_string();
    let kept: String = parts
        .filter(|b| keep.iter().any(|k| b.contains(&format!("id = \"{k}\""))))
        .map(|b| format!("[[tokenizer]]{b}"))
        .collect();
    let out = edit(format!(
        "{head}{kept}\n[daemon]\nlisten = \"127.0.0.1:0\"\n{daemon}\n"
    ));
    std::fs::write(dir.join("daemon.toml"), &out).unwrap();
    out
}

/// A loopback HTTP server standing in for a tokenizer CDN: serves `body` with an ETag and
/// answers If-None-Match with 304, or a configured error status.
mod cdn {
    use std::sync::{Arc, Mutex};

    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    #[derive(Default)]
    pub struct Files {
        pub body: Vec<u8>,
        pub status: u16,
        pub requests: u32,
        pub not_modified: u32,
        /// Hold every answer this long (a slow CDN).
        pub delay_ms: u64,
    }

    pub type Shared = Arc<Mutex<Files>>;

    async fn serve(State(s): State<Shared>, h: HeaderMap) -> impl IntoResponse {
        let delay = {
            let mut f = s.lock().unwrap();
            f.requests += 1;
            f.delay_ms
        };
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        let mut f = s.lock().unwrap();
        if f.status != 200 {
            return (
                StatusCode::from_u16(f.status).unwrap(),
                HeaderMap::new(),
                Vec::new(),
            );
        }
        let etag = format!("\"{}\"", prefix_warden::tokenizer::sha256_hex(&f.body));
        let mut headers = HeaderMap::new();
        headers.insert("etag", etag.parse().unwrap());
        if h.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
            f.not_modified += 1;
            return (StatusCode::NOT_MODIFIED, headers, Vec::new());
        }
        (StatusCode::OK, headers, f.body.clone())
    }

    /// Starts the server on a free port; returns its base URL.
    pub fn start(files: Shared) -> String {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                let app = axum::Router::new()
                    .route("/tokenizer.json.gz", axum::routing::get(serve))
                    .with_state(files);
                axum::serve(l, app).await.unwrap();
            });
        });
        format!("http://{}", rx.recv().unwrap())
    }
}

#[test]
fn url_source_updates_verifies_and_keeps_the_last_good_copy() {
    let d = scratch();
    let tok = d
        .path()
        .join("tokenizers/deepseek/deepseek-v3.tokenizer.json.gz");
    let v3 = std::fs::read(&tok).unwrap();
    let v4 = std::fs::read(
        d.path()
            .join("tokenizers/deepseek/deepseek-v4.tokenizer.json.gz"),
    )
    .unwrap();
    let files: cdn::Shared = Default::default();
    *files.lock().unwrap() = cdn::Files {
        body: v3.clone(),
        status: 200,
        ..Default::default()
    };
    let base = cdn::start(files.clone());
    write_config(
        d.path(),
        &["deepseek/v3"],
        "watch_interval_secs = 1\nsource_poll_secs = 1",
        |c| {
            c.replace(
                "sha256 = \"ecb6f9fc369894346f0511f4074ca75cee5cd5f3b06d02f1ba35fcd39f8e121d\"\n",
                &format!("sha256 = \"unpinned\"\nsource = \"{base}/tokenizer.json.gz\"\n"),
            )
        },
    );
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let fetches = |r: &Running, result: &str| {
        metric(&r.get("/metrics").1, &format!("prefix_warden_tokenizer_source_fetches_total{{tokenizer=\"deepseek/v3\",result=\"{result}\"}}")).unwrap_or(0.0)
    };
    // Same content: unchanged, then answered with 304s.
    r.wait_until("a 304", |_| files.lock().unwrap().not_modified >= 1);
    assert!(fetches(&r, "unchanged") >= 2.0);
    assert_eq!(fetches(&r, "updated"), 0.0);

    // New content behind the URL: downloaded, verified, installed, detected.
    files.lock().unwrap().body = v4.clone();
    let changes = "prefix_warden_tokenizer_source_changes_total{tokenizer=\"deepseek/v3\"}";
    r.wait_until("the content change", |r| {
        metric(&r.get("/metrics").1, changes) == Some(1.0)
    });
    assert_eq!(fetches(&r, "updated"), 1.0);
    // The fetched copy lives under state_dir (the config directory may be read-only, as
    // under the shipped unit); the configured file is never written.
    let copy = d.path().join("state/tokenizer-sources/deepseek__v3");
    assert_eq!(std::fs::read(&copy).unwrap(), v4, "local copy replaced");
    assert_eq!(
        std::fs::read(&tok).unwrap(),
        v3,
        "the configured file is untouched"
    );
    let v4_sha = prefix_warden::tokenizer::sha256_hex(
        &prefix_warden::tokenizer::gunzip_if_needed(v4.clone()).unwrap(),
    );
    assert!(
        d.path()
            .join("state/tokenizer-cache")
            .join(&v4_sha)
            .exists(),
        "content-addressed copy"
    );

    // A 200 that is not a tokenizer (an error page) is rejected; the last good copy stays.
    files.lock().unwrap().body = b"<html>maintenance</html>".to_vec();
    r.wait_until("a rejection", |r| fetches(r, "rejected") >= 1.0);
    assert_eq!(std::fs::read(&copy).unwrap(), v4);
    // A server error is a failure; the copy stays and the daemon stays healthy.
    files.lock().unwrap().status = 503;
    r.wait_until("a failure", |r| fetches(r, "failed") >= 1.0);
    assert_eq!(std::fs::read(&copy).unwrap(), v4);
    assert_eq!(r.get("/healthz").0, 200);
    assert_eq!(
        metric(&r.get("/metrics").1, changes),
        Some(1.0),
        "no change counted for bad downloads"
    );
}

/// Issue: a slow tokenizer-source download held SIGTERM for up to 120 s, past the unit's
/// TimeoutStopSec=10s.
#[test]
fn sigterm_does_not_wait_for_a_slow_source_download() {
    let d = scratch();
    let files: cdn::Shared = Default::default();
    *files.lock().unwrap() = cdn::Files {
        body: Vec::new(),
        status: 200,
        delay_ms: 60_000,
        ..Default::default()
    };
    let base = cdn::start(files.clone());
    write_config(d.path(), &["deepseek/v3"], "source_poll_secs = 1", |c| {
        c.replace(
            "sha256 = \"ecb6f9fc369894346f0511f4074ca75cee5cd5f3b06d02f1ba35fcd39f8e121d\"\n",
            &format!("sha256 = \"unpinned\"\nsource = \"{base}/tokenizer.json.gz\"\n"),
        )
    });
    let mut r = Running::start(d.path());
    // The start-up check is already hanging on the CDN.
    let end = Instant::now() + Duration::from_secs(30);
    while files.lock().unwrap().requests == 0 {
        assert!(Instant::now() < end, "no download started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let sent = Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &r.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = loop {
        if let Some(s) = r.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn pinned_source_with_other_content_is_rejected() {
    let d = scratch();
    let tok = d
        .path()
        .join("tokenizers/deepseek/deepseek-v3.tokenizer.json.gz");
    let v3 = std::fs::read(&tok).unwrap();
    let files: cdn::Shared = Default::default();
    let v4 = std::fs::read(
        d.path()
            .join("tokenizers/deepseek/deepseek-v4.tokenizer.json.gz"),
    )
    .unwrap();
    *files.lock().unwrap() = cdn::Files {
        body: v4,
        status: 200,
        ..Default::default()
    };
    let base = cdn::start(files.clone());
    write_config(d.path(), &["deepseek/v3"], "source_poll_secs = 1", |c| {
        c.replace(
            "models = [\"vllm/DeepSeek-V3*\"",
            &format!("source = \"{base}/tokenizer.json.gz\"\nmodels = [\"vllm/DeepSeek-V3*\""),
        )
    });
    let mut r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let l = r.wait_log(
        |l| l.contains("new tokenizer content rejected"),
        Duration::from_secs(30),
    );
    assert!(l.contains("sha256 mismatch: pinned ecb6f9fc"), "{l}");
    assert_eq!(std::fs::read(&tok).unwrap(), v3);
}

#[test]
fn systemd_notify_ready_watchdog_stopping() {
    use std::os::unix::net::UnixDatagram;
    let d = scratch();
    write_config(d.path(), &["openai/o200k_base"], "", |c| c);
    let sock_path = d.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let r = Running::start_with(
        d.path(),
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let mut buf = [0u8; 512];
    let mut recv = || -> String {
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    // Watchdog pings may come first (start-up); READY=1 comes once the first pass is done.
    let mut seen = Vec::new();
    while !seen.iter().any(|m: &String| m.contains("READY=1")) {
        seen.push(recv());
    }
    assert_eq!(r.get("/readyz").0, 200, "READY=1 only after the first pass");
    let watchdogs = (0..3)
        .map(|_| recv())
        .filter(|m| m.contains("WATCHDOG=1"))
        .count();
    assert!(watchdogs >= 2, "pings every WATCHDOG_USEC/2: {seen:?}");
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &r.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let mut stopping = false;
    for _ in 0..20 {
        if recv().contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 on SIGTERM");
}

#[test]
fn kill_9_after_ready_keeps_every_reported_fingerprint_and_mid_pass_keeps_the_store_sound() {
    let d = scratch();
    write_config(
        d.path(),
        &["openai/o200k_base", "openai/cl100k_base"],
        "",
        |c| c,
    );
    let mut r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let status: serde_json::Value = serde_json::from_str(&r.get("/status").1).unwrap();
    r.child.kill().unwrap(); // SIGKILL
    r.child.wait().unwrap();
    let store =
        prefix_warden::store::Store::open(&d.path().join("state/prefix-warden.sqlite")).unwrap();
    let latest = store.latest_all().unwrap();
    let pairs = status["pairs"].as_array().unwrap();
    assert_eq!(latest.len(), 10);
    assert_eq!(pairs.len(), 10);
    for p in pairs {
        let s = latest
            .iter()
            .find(|s| s.prompt == p["prompt"] && s.tokenizer == p["tokenizer"])
            .unwrap();
        assert_eq!(s.fingerprint, p["fingerprint"].as_str().unwrap());
    }
    // A restart on the same store sees the same fingerprints: nothing counts as changed.
    drop(store);
    let r2 = Running::start(d.path());
    r2.wait_until("ready again", |r| r.get("/readyz").0 == 200);
    let m = r2.get("/metrics").1;
    let changed: f64 = m
        .lines()
        .filter(|l| l.starts_with("prefix_warden_fingerprint_changes_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(changed, 0.0, "{m}");
    drop(r2);

    // Killed in the middle of cold passes (fingerprint cache gone, so every pair is tokenized
    // and recorded): the store stays sound and the next start gets ready with every pair.
    // scripts/faults.py kill9 cold does this 100 times.
    for (round, ms) in [150u64, 450, 900].into_iter().enumerate() {
        let _ = std::fs::remove_dir_all(d.path().join("state/fingerprint-cache"));
        let mut r = Running::start(d.path());
        std::thread::sleep(Duration::from_millis(ms));
        r.child.kill().unwrap();
        r.child.wait().unwrap();
        let store = prefix_warden::store::Store::open(&d.path().join("state/prefix-warden.sqlite"))
            .unwrap();
        assert_eq!(
            store.quick_check(),
            prefix_warden::store::Health::Ok,
            "round {round}"
        );
    }
    let r3 = Running::start(d.path());
    r3.wait_until("ready after the kills", |r| r.get("/readyz").0 == 200);
    let s: serde_json::Value = serde_json::from_str(&r3.get("/status").1).unwrap();
    assert_eq!(s["pairs"].as_array().unwrap().len(), 10);
    assert_eq!(s["store"]["recoveries"], 0, "{s}");
}

#[test]
fn sighup_reloads_and_a_bad_config_keeps_the_running_one() {
    let d = scratch();
    let cfg = write_config(
        d.path(),
        &["openai/o200k_base"],
        "watch_interval_secs = 3600",
        |c| c,
    );
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let key = "prefix_warden_fingerprint_changes_total{prompt=\"cline-hermes-4\",tokenizer=\"openai/o200k_base\"}";
    // A prompt edit is not noticed by polling here (hourly), only by SIGHUP.
    crate::support::edit_hermes_prompt(d.path());
    r.hup();
    r.wait_until("the change after SIGHUP", |r| {
        metric(&r.get("/metrics").1, key) == Some(1.0)
    });
    // A broken config: SIGHUP keeps the running one, counts the failure, names file and line.
    std::fs::write(
        d.path().join("daemon.toml"),
        cfg.replace("block_size = 16", "block_size = \"sixteen\""),
    )
    .unwrap();
    r.hup();
    r.wait_until("a reload failure", |r| {
        metric(
            &r.get("/metrics").1,
            "prefix_warden_config_reload_failures_total",
        ) == Some(1.0)
    });
    let s: serde_json::Value = serde_json::from_str(&r.get("/status").1).unwrap();
    let err = s["last_reload_error"]
        .as_str()
        .unwrap_or_else(|| panic!("{s}"));
    assert!(
        err.contains("daemon.toml:") && err.contains("block_size"),
        "{err}"
    );
    assert_eq!(r.get("/readyz").0, 200);
    assert_eq!(
        s["pairs"].as_array().unwrap().len(),
        5,
        "still serving the running config"
    );
    // Fixed again: the error clears.
    std::fs::write(d.path().join("daemon.toml"), &cfg).unwrap();
    r.hup();
    r.wait_until("the error to clear", |r| {
        serde_json::from_str::<serde_json::Value>(&r.get("/status").1).unwrap()["last_reload_error"]
            .is_null()
    });
}

/// A GET with an `Authorization` header as given.
fn get_with(url: &str, authorization: &str) -> (u16, String) {
    http("GET", url, &[("authorization", authorization)], None)
}

/// A JSON POST with an `Authorization` header as given.
fn post_with(url: &str, body: &str, authorization: &str) -> (u16, String) {
    http(
        "POST",
        url,
        &[
            ("content-type", "application/json"),
            ("authorization", authorization),
        ],
        Some(body),
    )
}

/// A JSON POST, with a bearer token when given. Anthropic's Messages API requires
/// `anthropic-version`; other endpoints ignore it.
pub(crate) fn post(url: &str, body: &str, token: Option<&str>) -> (u16, String) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![
        ("content-type", "application/json"),
        ("anthropic-version", "2023-06-01"),
    ];
    if let Some(b) = &bearer {
        headers.push(("authorization", b));
    }
    http("POST", url, &headers, Some(body))
}

#[test]
fn usage_ingest_counts_traffic_per_provider() {
    let d = scratch();
    std::fs::write(d.path().join("ingest.token"), "s3cret-token\n").unwrap();
    write_config(
        d.path(),
        &["openai/o200k_base"],
        "ingest_token_file = \"ingest.token\"",
        |c| c,
    );
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let url = format!("http://{}/v1/usage", r.addr);
    let batch = r#"{"records": [
        {"prompt": "cline-claude-sonnet-4", "provider": "anthropic", "usage": {"input_tokens": 21, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 12000, "output_tokens": 300}},
        {"prompt": "browser-use-agent", "provider": "openai-chat", "usage": {"prompt_tokens": 5300, "completion_tokens": 9, "prompt_tokens_details": {"cached_tokens": 5248}}},
        {"prompt": "browser-use-agent", "provider": "gemini", "usage_metadata": {"prompt_token_count": 5000, "cached_content_token_count": 4096}},
        {"prompt": "somebody-elses-prompt", "provider": "bedrock", "usage": {"inputTokens": 10, "cacheReadInputTokens": 2000, "cacheWriteInputTokens": 1000}},
        {"prompt": "another-unknown", "provider": "vllm", "usage": {"prompt_tokens": 100, "prompt_tokens_details": {"cached_tokens": 96}}}
    ]}"#;
    assert_eq!(
        post(&url, batch, None).0,
        401,
        "token required when configured"
    );
    assert_eq!(post(&url, batch, Some("wrong")).0, 401);
    // Issue #18: /status (prompt ids, groups, targets) follows the same token rule, and the
    // scheme is matched case-insensitively (RFC 9110).
    assert_eq!(r.get("/status").0, 401, "/status without the token");
    let status_url = format!("http://{}/status", r.addr);
    for (auth, want) in [
        ("bearer s3cret-token", 200),
        ("BEARER s3cret-token", 200),
        ("Bearer wrong", 401),
        ("Basic s3cret-token", 401),
    ] {
        assert_eq!(get_with(&status_url, auth).0, want, "{auth}");
    }
    let one = r#"[{"prompt": "x", "provider": "vllm", "usage": {"prompt_tokens": 1, "prompt_tokens_details": {"cached_tokens": 0}}}]"#;
    let lower = post_with(&url, one, "bearer s3cret-token");
    assert_eq!(lower.0, 200, "lower-case scheme on /v1/usage: {}", lower.1);
    // `prefix status` sends the token (from --token-file, or the config's ingest_token_file
    // when no --url is given); without it the daemon says 401.
    let base = format!("http://{}", r.addr);
    let out = crate::support::run_in(d.path(), &["status", "--url", &base]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    let out = crate::support::run_in(
        d.path(),
        &["status", "--url", &base, "--token-file", "ingest.token"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before_batch = r.get("/metrics").1;
    assert_eq!(
        metric(&before_batch, "prefix_warden_usage_records_total"),
        Some(1.0),
        "the lower-case batch counted"
    );
    let (code, body) = post(&url, batch, Some("s3cret-token"));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"accepted\":5"), "{body}");
    let m = r.get("/metrics").1;
    assert_eq!(metric(&m, "prefix_warden_usage_records_total"), Some(6.0));
    let v = |name: &str, prompt: &str, provider: &str| {
        metric(&m, &format!("prefix_warden_{name}_total{{prompt=\"{prompt}\",provider=\"{provider}\",source=\"traffic\"}}")).unwrap_or(-1.0)
    };
    assert_eq!(
        v("cache_read_tokens", "cline-claude-sonnet-4", "anthropic"),
        12000.0
    );
    assert_eq!(
        v(
            "uncached_input_tokens",
            "cline-claude-sonnet-4",
            "anthropic"
        ),
        21.0
    );
    assert_eq!(
        v("cache_read_tokens", "browser-use-agent", "openai"),
        5248.0
    );
    assert_eq!(
        v("uncached_input_tokens", "browser-use-agent", "openai"),
        52.0,
        "prompt_tokens includes cached tokens"
    );
    assert_eq!(
        v("cache_read_tokens", "browser-use-agent", "gemini"),
        4096.0
    );
    assert_eq!(v("cache_write_tokens", "unregistered", "bedrock"), 1000.0);
    assert_eq!(
        v("cache_read_tokens", "unregistered", "vllm"),
        96.0,
        "unknown ids are counted together"
    );
    assert!(
        !m.contains("somebody-elses-prompt"),
        "no label per unknown id"
    );

    // Bad batches are rejected whole, naming the problem.
    let before = r.get("/metrics").1;
    for (body, needle) in [
        ("{not json", "not JSON"),
        (
            r#"[{"prompt": "cline-claude-sonnet-4", "provider": "anthropic", "usage": {"input_tokens": 1}}, {"prompt": "x", "provider": "cohere", "usage": {}}]"#,
            "records[1]: unknown provider `cohere`",
        ),
        (
            r#"[{"prompt": "x", "provider": "openai-chat", "usage": {"completion_tokens": 1}}]"#,
            "records[0].usage: missing `prompt_tokens`",
        ),
        (r#"{"rows": []}"#, "expected an array"),
    ] {
        let (code, resp) = post(&url, body, Some("s3cret-token"));
        assert_eq!(code, 400, "{body}");
        assert!(resp.contains(needle), "{resp}");
    }
    let after = r.get("/metrics").1;
    assert_eq!(
        metric(&before, "prefix_warden_uncached_input_tokens_total{prompt=\"cline-claude-sonnet-4\",provider=\"anthropic\",source=\"traffic\"}"),
        metric(&after, "prefix_warden_uncached_input_tokens_total{prompt=\"cline-claude-sonnet-4\",provider=\"anthropic\",source=\"traffic\"}"),
        "a rejected batch counts nothing"
    );
    // The body limit.
    let big = format!(
        "[{}]",
        vec![r#"{"prompt":"a","provider":"anthropic","usage":{"input_tokens":1}}"#; 20_000]
            .join(",")
    );
    assert_eq!(post(&url, &big, Some("s3cret-token")).0, 413);
}

/// Issue #21: a usage record may carry the provider's own cache diagnostics verbatim
/// (Anthropic `diagnostics`, OpenAI Responses `prompt_cache_diagnostics`); the daemon counts
/// every diagnosis by result and every miss, and its missed tokens, by one closed set of
/// reasons. A diagnostics object on a provider that does not send it, or an unknown reason, is
/// a 400 naming the record, and counts nothing.
#[test]
fn usage_ingest_counts_provider_diagnostics_by_reason() {
    let d = scratch();
    write_config(d.path(), &["openai/o200k_base"], "", |c| c);
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let url = format!("http://{}/v1/usage", r.addr);
    let batch = r#"[
        {"prompt": "cline-claude-sonnet-4", "provider": "anthropic", "usage": {"input_tokens": 12021, "cache_read_input_tokens": 0}, "diagnostics": {"cache_miss_reason": {"type": "system_changed", "cache_missed_input_tokens": 12000}}},
        {"prompt": "cline-claude-sonnet-4", "provider": "anthropic", "usage": {"input_tokens": 9000}, "diagnostics": {"cache_miss_reason": {"type": "system_changed", "cache_missed_input_tokens": 8990}}},
        {"prompt": "cline-claude-sonnet-4", "provider": "anthropic", "usage": {"input_tokens": 21, "cache_read_input_tokens": 12000}, "diagnostics": {"cache_miss_reason": null}},
        {"prompt": "browser-use-agent", "provider": "openai-responses", "usage": {"input_tokens": 5300}, "prompt_cache_diagnostics": {"type": "cache_miss", "reason": "prompt_cache_key_changed", "cache_missed_tokens": 5120, "comparison_reusable_tokens": 5248}},
        {"prompt": "browser-use-agent", "provider": "openai-responses", "usage": {"input_tokens": 5300, "input_tokens_details": {"cached_tokens": 5248}}, "prompt_cache_diagnostics": {"type": "cache_hit"}},
        {"prompt": "browser-use-agent", "provider": "openai-responses", "usage": {"input_tokens": 5300}, "prompt_cache_diagnostics": {"type": "comparison_response_not_found"}}
    ]"#;
    let (code, body) = post(&url, batch, None);
    assert_eq!(code, 200, "{body}");
    let m = r.get("/metrics").1;
    let v = |series: &str| metric(&m, series).unwrap_or_else(|| panic!("no {series}"));
    assert_eq!(
        v(
            r#"prefix_warden_cache_misses_total{prompt="cline-claude-sonnet-4",provider="anthropic",source="traffic",reason="system_changed"}"#
        ),
        2.0
    );
    assert_eq!(
        v(
            r#"prefix_warden_cache_missed_tokens_total{prompt="cline-claude-sonnet-4",provider="anthropic",source="traffic",reason="system_changed"}"#
        ),
        20990.0
    );
    assert_eq!(
        v(
            r#"prefix_warden_cache_diagnoses_total{prompt="cline-claude-sonnet-4",provider="anthropic",source="traffic",result="no_reason"}"#
        ),
        1.0
    );
    assert_eq!(
        v(
            r#"prefix_warden_cache_misses_total{prompt="browser-use-agent",provider="openai",source="traffic",reason="cache_key_changed"}"#
        ),
        1.0
    );
    assert_eq!(
        v(
            r#"prefix_warden_cache_diagnoses_total{prompt="browser-use-agent",provider="openai",source="traffic",result="hit"}"#
        ),
        1.0
    );
    assert_eq!(
        v(
            r#"prefix_warden_cache_diagnoses_total{prompt="browser-use-agent",provider="openai",source="traffic",result="no_comparison"}"#
        ),
        1.0
    );

    for (body, needle) in [
        (
            r#"[{"prompt": "x", "provider": "openai-chat", "usage": {"prompt_tokens": 1}, "diagnostics": {"cache_miss_reason": null}}]"#,
            "records[0].diagnostics: this provider's responses do not carry it",
        ),
        (
            r#"[{"prompt": "x", "provider": "anthropic", "usage": {"input_tokens": 1}, "diagnostics": {"cache_miss_reason": {"type": "cosmic_ray"}}}]"#,
            "records[0].diagnostics: unknown cache_miss_reason type `cosmic_ray`",
        ),
        (
            r#"[{"prompt": "x", "provider": "openai-responses", "usage": {"input_tokens": 1}, "prompt_cache_diagnostics": {"type": "cache_miss", "reason": "tools_changed"}}]"#,
            "records[0].prompt_cache_diagnostics: missing `cache_missed_tokens`",
        ),
    ] {
        let (code, resp) = post(&url, body, None);
        assert_eq!(code, 400, "{body}");
        assert!(resp.contains(needle), "{resp}");
    }
    let after = r.get("/metrics").1;
    assert_eq!(
        after
            .matches("prefix_warden_cache_diagnoses_total{")
            .count(),
        m.matches("prefix_warden_cache_diagnoses_total{").count(),
        "a rejected batch counts nothing"
    );
}
