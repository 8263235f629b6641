//! The status page at `/` against the real daemon: the data of `/status`, escaped, with strict
//! headers and the token rule of `/status`; and the page in a real browser (Debian's
//! Chromium, headless) with and without JavaScript.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{write_config, Running};
use crate::support::{assert_no_prompt_text, scratch, which};

/// A prompt id, live color and reload error may hold any of these.
const EVIL_ID: &str = r#"evil<script>alert('id')</script>&""#;
const EVIL_COLOR: &str = r#"c<img src=x onerror=alert(1)>&'"#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// GET with an optional `Authorization` value: (status, headers, body).
fn fetch(url: &str, auth: Option<&str>) -> (u16, reqwest::header::HeaderMap, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(url);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        let (s, h) = (r.status().as_u16(), r.headers().clone());
        (s, h, r.text().await.unwrap())
    })
}

/// A scratch daemon with one tokenizer, a prompt with a hostile id, a warm-up group `g` whose
/// one target refuses connections, a group `h` whose lookup answers a hostile color (an error
/// quoting it), and an Alertmanager URL with a password in it (which the page must not show).
fn setup(dir: &Path) {
    let hermes = std::fs::read_to_string(dir.join("prompts/cline-hermes-4.yaml")).unwrap();
    let evil_yaml = format!("'{}'", EVIL_ID.replace('\'', "''"));
    std::fs::write(
        dir.join("prompts/evil.yaml"),
        hermes.replace("id: cline-hermes-4", &format!("id: {evil_yaml}")),
    )
    .unwrap();
    std::fs::write(dir.join("key"), "test-key\n").unwrap();
    let live = serde_json::json!({"live": "blue", "colors": {"blue": {"targets": ["http://127.0.0.1:1/v1"]}}});
    std::fs::write(dir.join("live.json"), live.to_string()).unwrap();
    let evil = serde_json::json!({"live": EVIL_COLOR, "colors": {EVIL_COLOR: {"targets": ["http://127.0.0.1:1/v1"]}}});
    std::fs::write(dir.join("evil.json"), evil.to_string()).unwrap();
    write_config(
        dir,
        &["openai/o200k_base"],
        "watch_interval_secs = 1\nschedule = \"0 0 * * * *\"\nalertmanager_url = \"http://am-user:am-s3cret@127.0.0.1:1/am?x=1\"",
        |c| {
            let c = c[..c.find("[emulator]").unwrap_or(c.len())].to_string();
            let group = |name: &str, file: &str| {
                format!(
                    "\n[[warmup]]\ngroup = \"{name}\"\nschedule = \"* * * * * *\"\nprovider = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n\
                     prompts = [\"cline-claude-sonnet-4\"]\napi_key_file = \"key\"\nbrownout_retries = 1\nbrownout_delay_ms = 100\n\
                     lookup = {{ backend = \"file\", path = \"{file}\" }}\n"
                )
            };
            format!("{c}{}{}", group("g", "live.json"), group("h", "evil.json"))
        },
    );
}

/// Edits a prompt's text, reloads and waits for the two fingerprint-change alerts:
/// `/status`'s `alerts_firing`.
fn fire_alerts(dir: &Path, r: &Running) -> serde_json::Value {
    crate::support::edit_hermes_prompt(dir);
    r.hup();
    r.wait_until("two alerts firing", |r| {
        status(r, None)["alerts_firing"].as_array().unwrap().len() == 2
    });
    let firing = status(r, None)["alerts_firing"].clone();
    assert!(
        firing
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["labels"]["prompt"] == EVIL_ID),
        "{firing}"
    );
    firing
}

/// Until both warm-up groups have run.
fn wait_warmups(r: &Running) {
    r.wait_until("a run of each warm-up group", |r| {
        let st = status(r, None);
        ["g", "h"]
            .iter()
            .all(|g| !st["warmups"][g]["last_result"].is_null())
    });
}

fn status(r: &Running, auth: Option<&str>) -> serde_json::Value {
    let (code, _, body) = fetch(&format!("http://{}/status", r.addr), auth);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn status_page_shows_status_escaped_with_strict_headers_and_the_token_rule() {
    let d = scratch();
    setup(d.path());
    let cfg = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    wait_warmups(&r);
    let st = status(&r, None);
    let url = format!("http://{}/", r.addr);
    let (code, h, page) = fetch(&url, None);
    assert_eq!(code, 200, "{page}");
    for (name, want) in [
        ("content-type", "text/html; charset=utf-8"),
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(
            h.get(name).and_then(|v| v.to_str().ok()),
            Some(want),
            "{name}"
        );
    }
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(
        !page.contains("<script"),
        "only escaped script tags: {page}"
    );
    assert!(!page.contains("<img"), "{page}");

    // Every prompt id, tokenizer and fingerprint of /status is on the page (escaped).
    let pairs = st["pairs"].as_array().unwrap();
    assert_eq!(
        pairs.len(),
        6,
        "five shipped prompts and the hostile one: {st}"
    );
    for p in pairs {
        for key in ["prompt", "tokenizer", "fingerprint"] {
            let v = p[key].as_str().unwrap();
            assert!(page.contains(&esc(v)), "{key} {v} missing: {page}");
        }
        assert!(page.contains(&format!(
            "<td class=\"n\">{}</td>",
            p["token_count"].as_u64().unwrap()
        )));
    }
    assert!(pairs.iter().any(|p| p["prompt"] == EVIL_ID), "{st}");
    assert!(page.contains(&esc(EVIL_ID)), "{page}");
    assert!(!page.contains(EVIL_ID), "raw hostile id: {page}");
    assert!(page.contains(&format!("<dt>Generation</dt><dd>{}</dd>", st["generation"])));
    assert!(page.contains("class=\"ok\">ready<"), "{page}");
    assert!(page.contains(&format!(
        "prefix-warden {}",
        st["version"].as_str().unwrap()
    )));

    // The warm-up groups: color, target and result of `g`; `h`'s error quoting the color.
    let g = &st["warmups"]["g"];
    assert_eq!(g["color"], "blue", "{st}");
    assert!(page.contains("<td>blue</td>"), "{page}");
    assert!(
        page.contains("<code>http://127.0.0.1:1/v1</code>"),
        "{page}"
    );
    let result = g["last_result"].as_str().unwrap();
    assert!(
        page.contains(&format!(">{result}</span>")),
        "{result}: {page}"
    );
    let h_err = st["warmups"]["h"]["last_error"].as_str().unwrap();
    assert!(h_err.contains("<img src=x onerror=alert(1)>"), "{h_err}");
    assert!(page.contains(&esc(h_err)), "{page}");

    // Alerts: where they live, without the URL's password or query.
    assert!(
        page.contains("<a href=\"http://127.0.0.1:1/am\">"),
        "{page}"
    );
    assert!(
        !page.contains("am-s3cret") && !page.contains("x=1"),
        "{page}"
    );
    assert_no_prompt_text(d.path(), &page, "the status page");

    // A prompt edit changes two fingerprints (the hostile prompt shares the text): their
    // alerts fire, undelivered (nothing listens at the Alertmanager URL).
    let firing = fire_alerts(d.path(), &r);
    let page = fetch(&url, None).2;
    for a in firing.as_array().unwrap() {
        let prompt = a["labels"]["prompt"].as_str().unwrap();
        assert!(
            page.contains(&format!("<code>prompt={}</code>", esc(prompt))),
            "{prompt}: {page}"
        );
    }
    assert!(page.contains("PromptFingerprintChanged</td>"), "{page}");
    assert!(page.contains(">not yet</span>"), "{page}");
    assert!(!page.contains("<script"), "{page}");
    // `prefix status` names them too.
    let out = crate::support::run_in(
        d.path(),
        &["status", "--url", &format!("http://{}", r.addr)],
    );
    let text = crate::support::stdout(&out);
    assert!(
        text.contains("2 alert(s) raised and firing: PromptFingerprintChanged ("),
        "{text}"
    );

    // A reload error quoting hostile text is escaped too.
    std::fs::write(
        d.path().join("daemon.toml"),
        cfg.replace(
            "[daemon]\n",
            "[daemon]\n\"<script>alert(2)</script>\" = 1\n",
        ),
    )
    .unwrap();
    r.wait_until("a reload failure", |r| {
        !status(r, None)["last_reload_error"].is_null()
    });
    let err = status(&r, None)["last_reload_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(err.contains("<script>"), "the error quotes the line: {err}");
    let page = fetch(&url, None).2;
    assert!(page.contains(&esc(&err)), "{err}: {page}");
    assert!(!page.contains("<script"), "{page}");

    // With a token configured, `/` answers 401 with the challenge, as `/status` does.
    std::fs::write(d.path().join("ingest.token"), "s3cret-token\n").unwrap();
    std::fs::write(
        d.path().join("daemon.toml"),
        cfg.replace(
            "[daemon]\n",
            "[daemon]\ningest_token_file = \"ingest.token\"\n",
        ),
    )
    .unwrap();
    r.wait_until("the token in force", |r| {
        fetch(&format!("http://{}/status", r.addr), None).0 == 401
    });
    let (code, h, body) = fetch(&url, None);
    assert_eq!(code, 401, "{body}");
    assert_eq!(
        h.get("www-authenticate").and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"prefix-warden\"")
    );
    assert!(!body.contains("cline-hermes-4"), "{body}");
    assert_eq!(fetch(&url, Some("Bearer wrong")).0, 401);
    let (code, _, page) = fetch(&url, Some("bearer s3cret-token"));
    assert_eq!(code, 200);
    assert!(page.contains("cline-hermes-4"), "{page}");
    assert!(
        page.contains("No evaluation or reload error."),
        "the accepted reload cleared the error: {page}"
    );
}

/// A fresh Chromium profile; with `js` false, the content setting that blocks JavaScript on
/// every site (`--blink-settings=scriptEnabled=false` would also stop `--dump-dom` and
/// `--screenshot`, which evaluate in the page; the content setting leaves DevTools working).
fn profile(js: bool) -> tempfile::TempDir {
    let p = tempfile::tempdir().unwrap();
    if !js {
        std::fs::create_dir(p.path().join("Default")).unwrap();
        std::fs::write(
            p.path().join("Default/Preferences"),
            r#"{"profile": {"default_content_setting_values": {"javascript": 2}}}"#,
        )
        .unwrap();
    }
    p
}

/// Runs Chromium headless on `args` + `url` for at most 90 s: its stdout.
fn chromium(bin: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--window-size=1280,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let end = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "chromium {args:?} failed: {st}");
            break;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

#[test]
fn status_page_renders_in_headless_chromium_with_and_without_javascript() {
    let bin = which("chromium").unwrap_or_else(|| {
        panic!("chromium not found: apt-get install chromium (scripts/test.sh does)")
    });
    let d = scratch();
    setup(d.path());
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    wait_warmups(&r);
    fire_alerts(d.path(), &r);
    let url = format!("http://{}/", r.addr);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // A control page proves each profile runs (or blocks) scripts as meant.
    let control = tempfile::tempdir().unwrap();
    let control_page = control.path().join("control.html");
    std::fs::write(
        &control_page,
        "<!DOCTYPE html><body><p>control</p><script>document.body.append('SCRIPT' + 'RAN')</script>",
    )
    .unwrap();
    let control_url = format!("file://{}", control_page.display());
    for (name, js) in [("status-page.png", true), ("status-page-nojs.png", false)] {
        let p = profile(js);
        let dom = chromium(&bin, p.path(), &["--dump-dom"], &control_url);
        assert!(dom.contains("<p>control</p>"), "{dom}");
        assert_eq!(dom.contains("SCRIPTRAN"), js, "scripts ran: {dom}");

        let dom = chromium(&bin, p.path(), &["--dump-dom"], &url);
        for section in [
            "<h1>prefix-warden ",
            "<h2>Daemon</h2>",
            "<h2>Errors</h2>",
            "<h2>Prompts and fingerprints</h2>",
            "<h2>Warm-up groups</h2>",
            "<h2>Alerts</h2>",
            "cline-hermes-4",
            "openai/o200k_base",
            "No evaluation or reload error.",
            "http://127.0.0.1:1/v1",
            "PromptFingerprintChanged",
        ] {
            assert!(
                dom.contains(section),
                "{name}: {section} not in the DOM:\n{dom}"
            );
        }
        // The hostile values stayed text: no element was made of them.
        assert!(!dom.contains("<script"), "{name}: {dom}");
        assert!(!dom.contains("<img"), "{name}: {dom}");
        assert!(
            dom.contains("evil&lt;script&gt;alert('id')&lt;/script&gt;&amp;\""),
            "{name}: {dom}"
        );
        assert_no_prompt_text(d.path(), &dom, "the status page's DOM");

        let shot = shots.join(name);
        let _ = std::fs::remove_file(&shot);
        let p = profile(js);
        chromium(
            &bin,
            p.path(),
            &[&format!("--screenshot={}", shot.display())[..]],
            &url,
        );
        let png = std::fs::read(&shot).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
        assert!(
            png.len() > 20_000,
            "{name}: {} bytes, a blank page?",
            png.len()
        );
    }
}
