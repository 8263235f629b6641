//! The `dns` and `etcd` live-color lookups against the real servers: dnsmasq and etcd, spawned
//! on loopback ports by this test harness (never from `src/`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use prefix_warden::live_color::{Lookup, LookupConfig, LookupError};
use serde_json::Value;

fn lookup(cfg: LookupConfig, base: &Path) -> Lookup {
    Lookup::new(&cfg, base).unwrap()
}

// ---- spawned servers ------------------------------------------------------------------

/// A spawned server, killed when dropped (also when a test panics).
pub(crate) struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    pub(crate) fn spawn(mut cmd: Command, log: PathBuf) -> Server {
        let f = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        Server { child, log }
    }

    /// The server's log when it has exited.
    pub(crate) fn exit_log(&mut self) -> Option<String> {
        let status = self.child.try_wait().unwrap()?;
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        Some(format!("({status})\n{log}"))
    }

    /// Panics with the server's log when it has exited.
    fn check_alive(&mut self) {
        if let Some(log) = self.exit_log() {
            panic!("server exited {log}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of a system binary the tests need; never skips.
pub(crate) fn binary(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed; these tests need it: apt-get install dnsmasq etcd-server")
        })
}

pub(crate) fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// ---- dns ------------------------------------------------------------------------------

const TXT: &str = "live.svc.test";
const SRV: &str = "_warm._tcp.{color}.svc.test";

/// The SRV records of both colors; blue's are listed out of order on purpose.
fn srv_records() -> Vec<String> {
    vec![
        "--srv-host=_warm._tcp.blue.svc.test,127.0.0.1,9012,20,5".into(),
        "--srv-host=_warm._tcp.blue.svc.test,127.0.0.2,9011,10,5".into(),
        "--srv-host=_warm._tcp.blue.svc.test,127.0.0.3,9013,10,50".into(),
        "--srv-host=_warm._tcp.green.svc.test,127.0.0.4,9002,0,0".into(),
    ]
}

/// dnsmasq answering only from its command line: `records` are `--txt-record=...` and
/// `--srv-host=...` flags; anything under svc.test that is not listed gets NXDOMAIN, names
/// elsewhere get REFUSED.
fn dnsmasq(dir: &Path, port: u16, records: &[String]) -> Server {
    try_dnsmasq(dir, port, records).unwrap_or_else(|e| panic!("{e}"))
}

fn try_dnsmasq(dir: &Path, port: u16, records: &[String]) -> Result<Server, String> {
    let mut cmd = Command::new(binary("dnsmasq"));
    cmd.args([
        "--no-daemon",
        &format!("--port={port}"),
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",
        "--pid-file=",
        "--local=/svc.test/",
    ])
    .args(records);
    let mut s = Server::spawn(cmd, dir.join(format!("dnsmasq-{port}.log")));
    // Ready once it answers a query (any answer will do).
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.connect(("127.0.0.1", port)).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04live\x03svc\x04test\x00\x00\x10\x00\x01";
    for _ in 0..100 {
        if let Some(log) = s.exit_log() {
            return Err(format!("dnsmasq on port {port} exited:\n{log}"));
        }
        let _ = probe.send(query);
        let mut buf = [0u8; 512];
        if probe.recv(&mut buf).is_ok() {
            return Ok(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("dnsmasq on port {port} did not answer within 7 s"))
}

/// dnsmasq on a free port (retrying when another process takes the port first).
fn dnsmasq_anywhere(dir: &Path, records: &[String]) -> (Server, u16) {
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_tcp_port();
        match try_dnsmasq(dir, port, records) {
            Ok(s) => return (s, port),
            Err(e) => last = e,
        }
    }
    panic!("could not start dnsmasq on a free port: {last}");
}

fn dns_cfg(port: u16) -> LookupConfig {
    LookupConfig::Dns {
        server: format!("127.0.0.1:{port}"),
        color_txt: TXT.into(),
        targets_srv: SRV.into(),
        scheme: None,
    }
}

#[tokio::test]
async fn dns_follows_txt_and_srv_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = srv_records();
    records.push(format!("--txt-record={TXT},blue"));
    let (server, port) = dnsmasq_anywhere(dir.path(), &records);
    let l = lookup(dns_cfg(port), dir.path());
    let blue = l.resolve().await.unwrap();
    assert_eq!(blue.color, "blue");
    // Priority 10 before 20; within 10, weight 50 before 5.
    assert_eq!(
        blue.targets,
        [
            "http://127.0.0.3:9013",
            "http://127.0.0.2:9011",
            "http://127.0.0.1:9012"
        ]
    );
    assert_eq!(blue.prompts, None);
    assert_eq!(
        blue.reason,
        format!("dns 127.0.0.1:{port}: txt {TXT}=blue, srv _warm._tcp.blue.svc.test (3 targets)")
    );

    // The flip: same port, new records, same Lookup.
    drop(server);
    let mut records = srv_records();
    records.push(format!("--txt-record={TXT},green"));
    let server = dnsmasq(dir.path(), port, &records);
    let green = l.resolve().await.unwrap();
    assert_eq!(
        (green.color.as_str(), green.targets.as_slice()),
        ("green", ["http://127.0.0.4:9002".to_string()].as_slice())
    );

    // A color without SRV records has no targets.
    drop(server);
    let mut records = srv_records();
    records.push(format!("--txt-record={TXT},red"));
    let server = dnsmasq(dir.path(), port, &records);
    assert_eq!(l.resolve().await, Err(LookupError::NoTargets("red".into())));

    // No TXT record: the source does not say what is live.
    drop(server);
    let mut server = dnsmasq(dir.path(), port, &srv_records());
    let e = l.resolve().await.unwrap_err();
    assert!(
        matches!(&e, LookupError::Malformed(m) if m.contains("no txt record")),
        "{e}"
    );

    // REFUSED (a name outside the served domain) is a failure, not an absence.
    let l2 = lookup(
        LookupConfig::Dns {
            server: format!("127.0.0.1:{port}"),
            color_txt: "live.elsewhere.test".into(),
            targets_srv: SRV.into(),
            scheme: Some("https".into()),
        },
        dir.path(),
    );
    let e = l2.resolve().await.unwrap_err();
    assert!(
        matches!(&e, LookupError::Unavailable(m) if m.contains("refused")),
        "{e}"
    );
    server.check_alive();
    drop(server);
    assert!(!dnsmasq_is_running(port));
}

#[tokio::test]
async fn dns_txt_quotes_scheme_and_disagreement() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = srv_records();
    records.push(format!("--txt-record={TXT},\" green \""));
    let (server, port) = dnsmasq_anywhere(dir.path(), &records);
    let l = lookup(
        LookupConfig::Dns {
            server: format!("127.0.0.1:{port}"),
            color_txt: format!("{TXT}."),
            targets_srv: SRV.into(),
            scheme: Some("https".into()),
        },
        dir.path(),
    );
    let green = l.resolve().await.unwrap();
    assert_eq!(green.targets, ["https://127.0.0.4:9002"]);
    drop(server);
    let mut records = srv_records();
    records.push(format!("--txt-record={TXT},blue"));
    records.push(format!("--txt-record={TXT},green"));
    let _server = dnsmasq(dir.path(), port, &records);
    let e = l.resolve().await.unwrap_err();
    assert!(
        matches!(&e, LookupError::Malformed(m) if m.contains("disagree")),
        "{e}"
    );
}

#[tokio::test]
async fn dns_without_a_server_is_unavailable() {
    let port = free_tcp_port();
    let l = lookup(dns_cfg(port), Path::new("/"));
    let started = std::time::Instant::now();
    let e = l.resolve().await.unwrap_err();
    assert!(
        matches!(&e, LookupError::Unavailable(m) if m.contains("timed out")),
        "{e}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "one 2 s DNS timeout, not retries"
    );
}

fn dnsmasq_is_running(port: u16) -> bool {
    std::net::UdpSocket::bind(("127.0.0.1", port)).is_err()
}

// ---- etcd -----------------------------------------------------------------------------

pub(crate) struct Etcd {
    server: Server,
    pub endpoint: String,
    client: reqwest::Client,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl Etcd {
    pub(crate) async fn start(dir: &Path) -> Etcd {
        for _ in 0..5 {
            let (client_port, peer_port) = (free_tcp_port(), free_tcp_port());
            let client_url = format!("http://127.0.0.1:{client_port}");
            let peer_url = format!("http://127.0.0.1:{peer_port}");
            let mut cmd = Command::new(binary("etcd"));
            cmd.env_clear()
                .arg("--data-dir")
                .arg(dir.join(format!("etcd-{client_port}")))
                .args([
                    "--name=default",
                    &format!("--listen-client-urls={client_url}"),
                    &format!("--advertise-client-urls={client_url}"),
                    &format!("--listen-peer-urls={peer_url}"),
                    &format!("--initial-advertise-peer-urls={peer_url}"),
                    &format!("--initial-cluster=default={peer_url}"),
                    "--heartbeat-interval=10",
                    "--election-timeout=50",
                    "--logger=zap",
                    "--log-outputs=stderr",
                ]);
            let mut server = Server::spawn(cmd, dir.join(format!("etcd-{client_port}.log")));
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()
                .unwrap();
            for _ in 0..150 {
                if server.exit_log().is_some() {
                    break; // port taken: try others
                }
                let health = client.get(format!("{client_url}/health")).send().await;
                if health.is_ok_and(|r| r.status().is_success()) {
                    return Etcd {
                        server,
                        endpoint: client_url,
                        client,
                    };
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if server.exit_log().is_some() {
                continue; // it exited (most likely a port was taken): try other ports
            }
            panic!("etcd at {client_url} not healthy within 7 s");
        }
        panic!("could not start etcd on free ports in 5 tries");
    }

    async fn call(&self, method: &str, body: Value) {
        let r = self
            .client
            .post(format!("{}/v3/kv/{method}", self.endpoint))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{method}: {}", r.status());
    }

    async fn put(&self, key: &str, value: &str) {
        self.call(
            "put",
            serde_json::json!({"key": b64(key), "value": b64(value)}),
        )
        .await;
    }

    async fn delete(&self, key: &str) {
        self.call("deleterange", serde_json::json!({"key": b64(key)}))
            .await;
    }
}

#[tokio::test]
async fn etcd_follows_the_color_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut etcd = Etcd::start(dir.path()).await;
    let cfg = LookupConfig::Etcd {
        endpoint: format!("{}/", etcd.endpoint),
        color_key: "/pw/live".into(),
        targets_key: "/pw/colors/{color}".into(),
        timeout_ms: Some(1000),
    };
    let l = lookup(cfg, dir.path());
    assert_eq!(
        l.describe(),
        format!(
            "etcd {}/: keys /pw/live, /pw/colors/{{color}}",
            etcd.endpoint
        )
    );
    let e = l.resolve().await.unwrap_err();
    assert!(
        matches!(&e, LookupError::Malformed(m) if m.contains("key /pw/live not found")),
        "{e}"
    );

    etcd.put("/pw/live", "blue\n").await;
    etcd.put(
        "/pw/colors/blue",
        r#"{"targets": ["http://127.0.0.1:9001"], "prompts": ["p1"]}"#,
    )
    .await;
    etcd.put(
        "/pw/colors/green",
        r#"{"targets": ["http://127.0.0.1:9002", "http://127.0.0.1:9003", "http://127.0.0.1:9002"]}"#,
    )
    .await;
    let blue = l.resolve().await.unwrap();
    assert_eq!(blue.color, "blue");
    assert_eq!(blue.targets, ["http://127.0.0.1:9001"]);
    assert_eq!(blue.prompts, Some(vec!["p1".to_string()]));
    assert_eq!(
        blue.reason,
        format!(
            "etcd {}/: /pw/live=blue, /pw/colors/blue (1 target)",
            etcd.endpoint
        )
    );

    etcd.put("/pw/live", "green").await;
    let green = l.resolve().await.unwrap();
    assert_eq!(
        green.targets,
        ["http://127.0.0.1:9002", "http://127.0.0.1:9003"]
    );
    assert_eq!(green.prompts, None);

    etcd.put("/pw/live", "red").await;
    assert_eq!(
        l.resolve().await,
        Err(LookupError::UnknownColor("red".into()))
    );

    etcd.put("/pw/live", "green").await;
    etcd.put("/pw/colors/green", r#"{"targets": []}"#).await;
    assert_eq!(
        l.resolve().await,
        Err(LookupError::NoTargets("green".into()))
    );

    etcd.put("/pw/colors/green", "{not json").await;
    assert!(
        matches!(l.resolve().await, Err(LookupError::Malformed(m)) if m.contains("/pw/colors/green: not json"))
    );

    etcd.put("/pw/live", "").await;
    assert!(matches!(l.resolve().await, Err(LookupError::Malformed(m)) if m.contains("is empty")));

    etcd.delete("/pw/live").await;
    assert!(matches!(l.resolve().await, Err(LookupError::Malformed(m)) if m.contains("not found")));

    etcd.server.check_alive();
    drop(etcd);
    let e = l.resolve().await.unwrap_err();
    assert!(matches!(&e, LookupError::Unavailable(_)), "{e}");
}
