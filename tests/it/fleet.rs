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

/// `openssl` run in `dir`; panics with its output on failure.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new(crate::live_color::binary("openssl"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        crate::support::stderr(&out)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
fn certificates(dir: &std::path::Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "1", "-subj", "/CN=test-ca"];
    ca.extend(ec);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    // etcd's gateway dials etcd itself with the server certificate as a client one.
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        // The client certificate has no CommonName: with auth enabled, etcd's JSON gateway
        // refuses one that has ("CommonName of client sending a request against gateway will be
        // ignored"); the user comes from the password instead.
        let subj = if name == "server" {
            "/CN=etcd".to_string()
        } else {
            "/O=prefix-warden".to_string()
        };
        let mut req = vec!["req", "-subj", subj.as_str()];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr]);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-days",
                "1",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-extfile",
                &ext,
            ],
        );
    }
}

#[test]
fn a_replica_joins_through_tls_with_a_client_certificate_and_an_etcd_password() {
    let dir = scratch();
    let d = dir.path();
    certificates(d);
    let port = crate::live_color::free_tcp_port();
    let url = format!("https://127.0.0.1:{port}");
    let peer = format!("http://127.0.0.1:{}", crate::live_color::free_tcp_port());
    let mut cmd = std::process::Command::new(crate::live_color::binary("etcd"));
    cmd.current_dir(d).env_clear().args([
        "--name=tls",
        "--data-dir=etcd-tls",
        &format!("--listen-client-urls={url}"),
        &format!("--advertise-client-urls={url}"),
        &format!("--listen-peer-urls={peer}"),
        &format!("--initial-advertise-peer-urls={peer}"),
        &format!("--initial-cluster=tls={peer}"),
        "--cert-file=server.pem",
        "--key-file=server.key",
        "--trusted-ca-file=ca.pem",
        "--client-cert-auth",
        "--heartbeat-interval=10",
        "--election-timeout=50",
    ]);
    let mut server = crate::live_color::Server::spawn(cmd, d.join("etcd-tls.log"));

    // Users, as an operator would set them up: root, and a user that may write only the
    // fleet's keys; then auth on.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_rt = rt.enter();
    let client = {
        let mut pem = std::fs::read(d.join("client.pem")).unwrap();
        pem.extend(std::fs::read(d.join("client.key")).unwrap());
        reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(d.join("ca.pem")).unwrap()).unwrap(),
            )
            .identity(reqwest::Identity::from_pem(&pem).unwrap())
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while rt
        .block_on(client.get(format!("{url}/health")).send())
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(server.exit_log().is_none(), "etcd exited");
        assert!(Instant::now() < deadline, "etcd with TLS not healthy");
        std::thread::sleep(Duration::from_millis(100));
    }
    let b64 = |s: &str| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s);
    for (path, body) in [
        (
            "user/add",
            serde_json::json!({"name": "root", "password": "root-pw"}),
        ),
        ("role/add", serde_json::json!({"name": "root"})),
        (
            "user/grant",
            serde_json::json!({"user": "root", "role": "root"}),
        ),
        (
            "user/add",
            serde_json::json!({"name": "warden", "password": "s3cret-etcd-pw"}),
        ),
        ("role/add", serde_json::json!({"name": "fleet"})),
        (
            "role/grant",
            serde_json::json!({"name": "fleet", "perm": {"permType": "READWRITE",
                "key": b64("/prefix-warden/"), "range_end": b64("/prefix-warden0")}}),
        ),
        (
            "user/grant",
            serde_json::json!({"user": "warden", "role": "fleet"}),
        ),
        ("enable", serde_json::json!({})),
    ] {
        let r = rt
            .block_on(
                client
                    .post(format!("{url}/v3/auth/{path}"))
                    .json(&body)
                    .send(),
            )
            .unwrap();
        let status = r.status();
        let text = rt.block_on(r.text()).unwrap_or_default();
        assert!(status.is_success(), "auth/{path}: {status} {text}");
    }

    let emu = Emu::start(0);
    let start = |name: &str, password: &str| {
        let rd = scratch();
        replica(rd.path(), name, &url, &[&emu]);
        for f in ["ca.pem", "client.pem", "client.key"] {
            std::fs::copy(d.join(f), rd.path().join(f)).unwrap();
        }
        std::fs::write(rd.path().join("etcd-password"), format!("{password}\n")).unwrap();
        let cfg = rd.path().join("daemon.toml");
        let text = std::fs::read_to_string(&cfg).unwrap().replace(
            "request_timeout_ms = 500",
            "request_timeout_ms = 900\nca_file = \"ca.pem\"\ncert_file = \"client.pem\"\n\
             key_file = \"client.key\"\nusername = \"warden\"\npassword_file = \"etcd-password\"",
        );
        std::fs::write(&cfg, text).unwrap();
        let r = Running::start(rd.path());
        (rd, r)
    };
    let (_good_dir, good) = start("good", "s3cret-etcd-pw");
    good.wait_until("the replica holds g0 through TLS and a password", |r| {
        holders(r).get("g0").and_then(|v| v.as_str()) == Some("good")
    });
    let n = emu.requests();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(emu.requests() > n, "the holder warms");

    // A wrong password: refused, said, and nothing warmed from that replica.
    let (_bad_dir, mut bad) = start("bad", "not-the-password");
    bad.wait_until("the refusal shows in /status", |r| {
        let st: serde_json::Value = serde_json::from_str(&r.get("/status").1).unwrap();
        st["cluster"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("refused") && e.contains("authenticate as warden"))
    });
    let st: serde_json::Value = serde_json::from_str(&bad.get("/status").1).unwrap();
    assert_eq!(st["cluster"]["lease_valid_secs"], 0.0, "{st}");
    assert_eq!(
        holders(&good).get("g0").and_then(|v| v.as_str()),
        Some("good")
    );
    let log = bad.wait_log(|l| l.contains("etcd call failed"), Duration::from_secs(5));
    for text in [log.as_str(), &st.to_string()] {
        assert!(
            !text.contains("not-the-password"),
            "the password leaked: {text}"
        );
    }
    let m = bad.get("/metrics").1;
    assert_eq!(
        metric(&m, "prefix_warden_cluster_etcd_up"),
        Some(0.0),
        "etcd counted as down for the refused replica"
    );
    drop(server);
}

#[test]
fn the_kubernetes_example_carries_a_config_the_daemon_accepts() {
    let path = crate::support::root().join("deploy/kubernetes/prefix-warden.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut config = None;
    let mut kinds = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: serde_yaml::Value = serde::Deserialize::deserialize(doc).unwrap();
        let kind = v["kind"].as_str().unwrap().to_string();
        if kind == "ConfigMap" {
            config = v["data"]["daemon.toml"].as_str().map(str::to_string);
        }
        if kind == "Deployment" {
            assert_eq!(v["spec"]["replicas"].as_u64(), Some(3));
        }
        if kind == "Service" {
            assert_eq!(v["spec"]["clusterIP"].as_str(), Some("None"), "headless");
        }
        kinds.push(kind);
    }
    assert_eq!(kinds, ["ConfigMap", "Service", "Deployment"]);
    let config = config.expect("the ConfigMap holds daemon.toml");
    let c = prefix_warden::config::Config::parse(
        std::path::Path::new("/etc/prefix-warden/daemon.toml"),
        &config,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let cluster = c.cluster.expect("[cluster]");
    assert_eq!(
        cluster.endpoints_file.as_deref(),
        Some(std::path::Path::new("/etc/prefix-warden/etcd/endpoints")),
        "the endpoints come from the Secret"
    );
    assert!(cluster.name.is_none(), "each replica is named by its pod");
    assert!(text.contains("fieldPath: metadata.name") && text.contains("PREFIX_WARDEN_REPLICA"));
}
