//! Shared helpers: paths, running the binary, scratch copies of the shipped config.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn prefix() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_prefix"));
    c.env_remove("PREFIX_WARDEN_CONFIG")
        .env_remove("PREFIX_WARDEN_STATE_DIR")
        .env_remove("RUST_LOG");
    c
}

/// Runs `prefix` with `args` in `dir`.
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    prefix()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run prefix")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A copy of the shipped config, prompts, rules and tokenizers in a temp dir, so a test can
/// break or change any of them.
pub fn scratch() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    for item in [
        "daemon.toml",
        "prompts",
        "data",
        "tokenizers",
        "templates",
        "deploy",
    ] {
        copy_recursive(&root().join(item), &d.path().join(item));
    }
    d
}

pub fn copy_recursive(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_recursive(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// Appends a sentence to the `cline-hermes-4` prompt's text in a scratch copy: a prompt edit
/// that changes its fingerprint under every tokenizer.
pub fn edit_hermes_prompt(dir: &Path) {
    let t = dir.join("prompts/texts/cline__cline__system_hermes_4.txt");
    let mut text = std::fs::read_to_string(&t).unwrap();
    text.push_str("\nAlways answer in English.\n");
    std::fs::write(&t, text).unwrap();
}

/// Every corpus text: (file name, text).
pub fn corpus() -> Vec<(String, String)> {
    let dir = root().join("tests/data/corpus");
    let mut v: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// Long runs of every shipped prompt's text, for "no text in output" assertions.
pub fn prompt_text_probes(dir: &Path) -> Vec<String> {
    let prompts = prefix_warden::prompt::load_dir(&dir.join("prompts")).unwrap();
    let mut probes = Vec::new();
    for p in prompts {
        let t = p.text.expose();
        let chars: Vec<char> = t.chars().collect();
        let mut i = 0;
        while i + 40 <= chars.len() {
            let s: String = chars[i..i + 40].iter().collect();
            if s.trim().len() >= 30 {
                probes.push(s);
            }
            i += 97;
        }
    }
    assert!(probes.len() > 100, "enough probes");
    probes
}

pub fn assert_no_prompt_text(dir: &Path, output: &str, what: &str) {
    for p in prompt_text_probes(dir) {
        assert!(!output.contains(&p), "{what} leaks prompt text: {p:?}");
    }
}

/// A server program from Debian's packages (Prometheus, Alertmanager) on a free loopback port,
/// killed when dropped; ready once `GET /-/ready` answers 200.
pub struct LoopbackServer {
    child: std::process::Child,
    pub url: String,
    /// Config and data of the server; removed when dropped.
    _dir: tempfile::TempDir,
}

impl LoopbackServer {
    /// `args` gets a scratch directory and the port; `package` is what to install when the
    /// binary is missing (the test command installs it; a missing one fails, never skips).
    pub fn start(
        bin: &str,
        package: &str,
        args: impl FnOnce(&Path, u16) -> Vec<String>,
    ) -> LoopbackServer {
        Self::start_on(bin, package, free_port(), args)
    }

    /// As [`LoopbackServer::start`], on a port chosen before (a daemon may already be told
    /// to deliver there).
    pub fn start_on(
        bin: &str,
        package: &str,
        port: u16,
        args: impl FnOnce(&Path, u16) -> Vec<String>,
    ) -> LoopbackServer {
        let path = which(bin).unwrap_or_else(|| {
            panic!("{bin} not found: apt-get install {package} (scripts/test.sh does)")
        });
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(path)
            .args(args(dir.path(), port))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let s = LoopbackServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let end = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while get(&format!("{}/-/ready", s.url)).map(|r| r.0) != Some(200) {
            assert!(std::time::Instant::now() < end, "{bin} did not get ready");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        s
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// GET `url` on a throwaway runtime: (status, body), or `None` when nothing answers.
pub fn get(url: &str) -> Option<(u16, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::get(url).await.ok()?;
        Some((r.status().as_u16(), r.text().await.ok()?))
    })
}

/// One HTTP request on a throwaway runtime with the headers given: (status, body). Panics when
/// nothing answers.
pub fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut req = reqwest::Client::new().request(method, url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        (r.status().as_u16(), r.text().await.unwrap())
    })
}

/// How many `*.yaml` files (prompts) `dir` holds.
pub fn yaml_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "yaml")
        })
        .count()
}

/// A tokenizer of the shipped registry, loaded.
pub fn shipped_tokenizer(id: &str) -> prefix_warden::tokenizer::Tokenizer {
    let cfg = prefix_warden::config::Config::load(&root().join("daemon.toml")).unwrap();
    let entry = cfg.tokenizers.iter().find(|t| t.id == id).unwrap();
    prefix_warden::tokenizer::Tokenizer::load(entry).unwrap()
}

/// `prefix fingerprint --format json` of one prompt under `tokenizers`, run in `dir`: each
/// pair's JSON by tokenizer id.
pub fn fingerprint_pairs(
    dir: &Path,
    tokenizers: &[&str],
    prompt: &str,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let mut args = vec!["fingerprint", "--prompt", prompt, "--format", "json"];
    for t in tokenizers {
        args.extend(["--tokenizer", t]);
    }
    let o = run_in(dir, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["tokenizer"].as_str().unwrap().to_string(), p.clone()))
        .collect()
}

/// Runs `prefix args` in `dir`; kills it and fails after `secs` seconds.
pub fn run_deadline(dir: &Path, args: &[&str], secs: u64) -> std::process::Output {
    let mut c: Command = prefix();
    let child = c
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run prefix");
    let id = child.id();
    let started = std::time::Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(secs)) {
        Ok(o) => o.expect("wait for prefix"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            panic!(
                "prefix {args:?} still running after {:?}: killed",
                started.elapsed()
            );
        }
    }
}
