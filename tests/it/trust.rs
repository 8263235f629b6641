//! Issue #18, "trust on every surface": one regression test per class that broke, each driving
//! the real binary. Fragments of prompt text seeded through every error path (a template's
//! `raise_exception`, a count endpoint that echoes the request) never come out; files that
//! are not regular files never hang a command; a pass with failed pairs is not a success.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::daemon::{write_config, Running};
use crate::support::{prefix, scratch, stderr, stdout};

fn mkfifo(path: &std::path::Path) {
    let _ = std::fs::remove_file(path);
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// Class 3: a prompt's `text_file` that is a FIFO made `daemon --once` block in `open()`
/// forever; so did a `[[watch]]` source.
#[test]
fn a_fifo_as_text_file_or_watch_source_hung_daemon_once() {
    let d = scratch();
    write_config(d.path(), &["openai/o200k_base"], "", |c| c);
    let text = d
        .path()
        .join("prompts/texts/cline__cline__system_hermes_4.txt");
    mkfifo(&text);
    let o = crate::support::run_deadline(d.path(), &["daemon", "--once"], 30);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cline__cline__system_hermes_4.txt: not a regular file (a FIFO)"),
        "{err}"
    );

    let d = scratch();
    write_config(d.path(), &["openai/o200k_base"], "", |c| {
        format!("{c}\n[[watch]]\nname = \"deprecations\"\nsource = \"page.fifo\"\n")
    });
    mkfifo(&d.path().join("page.fifo"));
    let o = crate::support::run_deadline(d.path(), &["daemon", "--once"], 60);
    // The unreadable source is a warning and a counted failure, not a hang; the pass itself
    // fingerprints every pair.
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("not a regular file (a FIFO)"),
        "{}",
        stderr(&o)
    );
}

/// Class 3: a FIFO dropped into a running daemon's prompts folder wedged the automatic reload,
/// and after SIGTERM the process never exited.
#[test]
fn a_fifo_in_the_prompts_folder_wedged_reload_and_sigterm() {
    let d = scratch();
    write_config(
        d.path(),
        &["openai/o200k_base"],
        "watch_interval_secs = 1",
        |c| c,
    );
    let mut r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    mkfifo(&d.path().join("prompts/zz-dropped.yaml"));
    r.wait_until("the reload refused", |r| {
        let s: serde_json::Value = serde_json::from_str(&r.get("/status").1).unwrap();
        s["last_reload_error"]
            .as_str()
            .is_some_and(|e| e.contains("zz-dropped.yaml: not a regular file (a FIFO)"))
    });
    assert_eq!(r.get("/readyz").0, 200, "the running config is kept");
    let started = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &r.child.id().to_string()])
        .status()
        .unwrap()
        .success());
    loop {
        if r.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no exit 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A count endpoint that answers 500 with an error whose `type` and `message` echo a
/// fragment (20 to 60 characters, at a varying offset) of the longest string of the request.
/// Every fragment it sent is kept for the scan.
struct EchoingProvider {
    base: String,
    seeded: Arc<Mutex<Vec<String>>>,
}

impl EchoingProvider {
    fn start() -> EchoingProvider {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", l.local_addr().unwrap());
        let seeded = Arc::new(Mutex::new(Vec::new()));
        let out = seeded.clone();
        std::thread::spawn(move || {
            for (n, conn) in l.incoming().enumerate() {
                let Ok(mut c) = conn else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let mut strings = Vec::new();
                collect_strings(&v, &mut strings);
                let longest = strings
                    .iter()
                    .max_by_key(|s| s.len())
                    .cloned()
                    .unwrap_or_default();
                let chars: Vec<char> = longest.chars().collect();
                let want = 20 + (n * 13) % 41;
                let start = (n * 97) % chars.len().saturating_sub(want).max(1);
                let frag: String = chars.iter().skip(start).take(want).collect();
                out.lock().unwrap().push(frag.clone());
                let answer = serde_json::json!({
                    "type": "error",
                    "error": {"type": frag, "status": frag, "message": frag}
                })
                .to_string();
                let _ = write!(
                    c,
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        EchoingProvider { base, seeded }
    }
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// A template that raises with a slice of the system prompt; each tokenizer gets another slice.
fn raising_template(dir: &std::path::Path, name: &str, slice: &str) -> String {
    let body = format!("{{{{ raise_exception('cannot render: ' + messages[0].content{slice}) }}}}");
    std::fs::write(dir.join(name), &body).unwrap();
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(body.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Class 2: a template's `raise_exception(messages[0].content[0:60])` and a count endpoint
/// echoing the request in its error `type` put prompt text in the error, the ERROR log and
/// `/status`. The scan seeds fragments of 20 to 60 characters through both paths, all three
/// counting formats and four template slices, and finds none in any output. Also: a pass
/// whose pairs failed exits 2 (`daemon --once` exited 0 with 80 of 90 pairs failed).
#[test]
fn leak_scan_seeds_prompt_fragments_through_every_error_path() {
    let d = scratch();
    let echo = EchoingProvider::start();
    let slices = ["[0:60]", "[7:47]", "[100:121]", "[-33:]"];
    let mut extra = String::new();
    for (i, slice) in slices.iter().enumerate() {
        let name = format!("raise-{i}.jinja");
        let sha = raising_template(d.path(), &name, slice);
        extra.push_str(&format!(
            "\n[[tokenizer]]\nid = \"leak/raise-{i}\"\nprovider = \"qwen\"\nformat = \"hf-json\"\nfile = \"tokenizers/qwen/qwen3.tokenizer.json.gz\"\nsha256 = \"aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4\"\nmodels = [\"vllm/Qwen3-*\"]\ntemplate = {{ file = \"{name}\", sha256 = \"{sha}\" }}\n"
        ));
    }
    for (id, provider, format, model) in [
        (
            "leak/anthropic-count",
            "anthropic",
            "anthropic-count",
            "claude-sonnet-4-6",
        ),
        ("leak/openai-count", "openai", "openai-count", "gpt-5.5"),
        (
            "leak/gemini-count",
            "gemini",
            "gemini-count",
            "gemini-2.5-flash",
        ),
    ] {
        extra.push_str(&format!(
            "\n[[tokenizer]]\nid = \"{id}\"\nprovider = \"{provider}\"\nformat = \"{format}\"\nmodel = \"{model}\"\nendpoint = \"{}\"\napi_key_env = \"PW_LEAK_KEY\"\n",
            echo.base
        ));
    }
    // Only failing tokenizers: every pair fails, so no prompt has a fingerprint.
    write_config(d.path(), &[], "", |c| format!("{c}{extra}"));
    let o = prefix()
        .current_dir(d.path())
        .env("PW_LEAK_KEY", "k")
        .args(["daemon", "--once"])
        .output()
        .unwrap();
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(2), "a pass with failed pairs: {err}");
    assert!(err.contains("the pass failed: 7 error(s)"), "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["ready"], false);
    assert_eq!(
        status["last_evaluation_errors"].as_array().unwrap().len(),
        7
    );
    let seeded = echo.seeded.lock().unwrap().clone();
    assert!(
        seeded.len() >= 3,
        "every counting format was called: {seeded:?}"
    );
    let mut fragments = seeded;
    // The template slices, taken from every prompt text.
    let prompts = prefix_warden::prompt::load_dir(&d.path().join("prompts")).unwrap();
    for p in &prompts {
        let chars: Vec<char> = p.text.expose().chars().collect();
        for (a, b) in [
            (0, 60),
            (7, 47),
            (100, 121),
            (chars.len().saturating_sub(33), chars.len()),
        ] {
            let f: String = chars[a.min(chars.len())..b.min(chars.len())]
                .iter()
                .collect();
            if f.trim().len() >= 20 {
                fragments.push(f);
            }
        }
    }
    let scan = |what: &str, text: &str| {
        for f in &fragments {
            // Any 20-character run of a seeded fragment counts as a leak.
            let c: Vec<char> = f.chars().collect();
            for w in c.windows(20) {
                let w: String = w.iter().collect();
                assert!(
                    !text.contains(&w),
                    "{what} leaks {w:?} (of a fragment {f:?})"
                );
            }
        }
    };
    scan("daemon --once stdout (/status)", &out);
    scan("daemon --once stderr (the ERROR log)", &err);
    assert!(
        err.contains("<redacted "),
        "the errors say what was cut: {err}"
    );

    // The same pairs through `prefix fingerprint --remote`.
    let o = prefix()
        .current_dir(d.path())
        .env("PW_LEAK_KEY", "k")
        .args(["fingerprint", "--remote"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    scan("fingerprint --remote stdout", &stdout(&o));
    scan("fingerprint --remote stderr", &stderr(&o));
}

/// Readiness: `/readyz` said ready with 0 pairs. Now every prompt needs a fingerprint, or
/// `/readyz` answers 503 naming the prompts without one.
#[test]
fn readyz_said_ready_with_no_fingerprinted_pair() {
    let d = scratch();
    let sha = raising_template(d.path(), "raise.jinja", "[0:30]");
    write_config(d.path(), &[], "", |c| {
        format!("{c}\n[[tokenizer]]\nid = \"leak/raise\"\nprovider = \"qwen\"\nformat = \"hf-json\"\nfile = \"tokenizers/qwen/qwen3.tokenizer.json.gz\"\nsha256 = \"aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4\"\nmodels = [\"vllm/Qwen3-*\"]\ntemplate = {{ file = \"raise.jinja\", sha256 = \"{sha}\" }}\n")
    });
    let mut r = Running::start(d.path());
    r.wait_log(|l| l.contains("\"ready\""), Duration::from_secs(120));
    let (code, body) = r.get("/readyz");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.starts_with("not ready: no fingerprint for 5 of 5 prompts ("),
        "{body}"
    );
    assert!(body.contains("cline-hermes-4"), "{body}");
}

/// The count endpoints' timeout was a constant (30 s); it is `timeout_secs` on the entry,
/// range-checked with file, line and field.
#[test]
fn the_count_timeout_is_a_config_value() {
    let d = scratch();
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(20));
        drop(conns);
    });
    let entry = |t: &str| {
        format!("\n[[tokenizer]]\nid = \"slow/count\"\nprovider = \"anthropic\"\nformat = \"anthropic-count\"\nmodel = \"claude-sonnet-4-6\"\nendpoint = \"{base}\"\napi_key_env = \"PW_SLOW_KEY\"\ntimeout_secs = {t}\n")
    };
    let shipped = std::fs::read_to_string(d.path().join("daemon.toml")).unwrap();
    write_config(d.path(), &[], "", |c| format!("{c}{}", entry("0")));
    let o = crate::support::run_deadline(d.path(), &["check"], 30);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("timeout_secs") && err.contains("0 is out of range (1 to 300)"),
        "{err}"
    );
    assert!(
        err.contains("daemon.toml:") && err.contains("tokenizer[0].timeout_secs"),
        "{err}"
    );

    std::fs::write(d.path().join("daemon.toml"), &shipped).unwrap();
    write_config(d.path(), &[], "", |c| format!("{c}{}", entry("1")));
    let started = Instant::now();
    let o = prefix()
        .current_dir(d.path())
        .env("PW_SLOW_KEY", "k")
        .args(["fingerprint", "--remote", "--prompt", "cline-hermes-4"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        took < Duration::from_secs(10),
        "took {took:?} with timeout_secs = 1"
    );
    assert!(stderr(&o).contains("slow/count"), "{}", stderr(&o));
    drop(held);
}

/// Class 2, the log path: lines that fail to parse in every way a request can (JSON cut
/// mid-string, wrong types, unknown roles and block types, a control character in the model)
/// each carry fragments of a registered prompt; no report of `discover`, `lint` or `simulate`,
/// table or JSON, quotes one.
#[test]
fn leak_scan_seeds_prompt_fragments_through_bad_log_lines() {
    let d = scratch();
    let prompts = prefix_warden::prompt::load_dir(&d.path().join("prompts")).unwrap();
    let text: Vec<char> = prompts[0].text.expose().chars().collect();
    let mut fragments = Vec::new();
    let mut lines = Vec::new();
    for k in 0..12usize {
        let len = 20 + (k * 7) % 41;
        let start = (k * 131) % (text.len() - len);
        let f: String = text[start..start + len].iter().collect();
        let j = serde_json::to_string(&f).unwrap();
        lines.push(match k % 6 {
            0 => format!("{{\"model\": \"gpt-5.5\", \"messages\": [{{\"role\": \"system\", \"content\": {j}"),
            1 => format!("{{\"model\": {j}, \"messages\": [{{\"role\": \"system\", \"content\": {j}}}]}}"),
            2 => format!("{{\"model\": \"gpt-5.5\", \"messages\": [{{\"role\": {j}, \"content\": \"x\"}}]}}"),
            3 => format!("{{\"model\": \"gpt-5.5\", \"messages\": {j}}}"),
            4 => format!("{{\"model\": \"gpt-5.5\", \"messages\": [{{\"role\": \"system\", \"content\": [{{\"type\": {j}, \"text\": {j}}}]}}]}}"),
            _ => format!("{{\"model\": [{j}], \"system\": {j}, \"messages\": 7}}"),
        });
        fragments.push(f);
    }
    std::fs::write(d.path().join("bad.jsonl"), lines.join("\n") + "\n").unwrap();
    for args in [
        vec!["discover", "bad.jsonl"],
        vec!["discover", "--format", "json", "bad.jsonl"],
        vec!["lint", "bad.jsonl"],
        vec!["lint", "--format", "json", "bad.jsonl"],
        vec!["simulate", "--model", "openai/gpt-5.5", "bad.jsonl"],
        vec![
            "simulate",
            "--model",
            "openai/gpt-5.5",
            "--format",
            "json",
            "bad.jsonl",
        ],
    ] {
        let o = crate::support::run_deadline(d.path(), &args, 120);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(
            all.contains("bad.jsonl"),
            "{args:?} reports the bad lines: {all}"
        );
        for f in &fragments {
            let c: Vec<char> = f.chars().collect();
            for w in c.windows(20) {
                let w: String = w.iter().collect();
                let at = all.lines().find(|l| l.contains(&w)).unwrap_or_default();
                assert!(!all.contains(&w), "{args:?} leaks {w:?} in {at:?}");
            }
        }
    }
}
