//! The KV-cache event wire format (issue #22) against the engines' own definitions: vLLM's and
//! SGLang's msgspec structs, loaded from their official wheels by
//! `scripts/reference/kv_events_wire.py`, encode batches that prefix-warden decodes to the
//! same events, and decode what prefix-warden encodes to the events it meant; vLLM's own
//! `sha256_cbor` block-hash chain (`scripts/reference/kv_block_hash.py`) hashes generated
//! sequences as `kv_events::hash` does. The venv (msgspec, cbor2) and the wheels (`pip
//! download --no-deps`) are made here, under `target/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use prefix_warden::kv_events::wire::{self, Batch, BlockHash, Encoding, Event, Medium};
use serde_json::{json, Value};

use crate::support::root;

const MSGSPEC: &str = "msgspec==0.23.0";
/// vLLM's `sha256_cbor` serializer (vLLM requires it unpinned).
const CBOR2: &str = "cbor2==6.3.0";
const WHEELS: [&str; 2] = ["vllm==0.34.0", "sglang==0.5.23"];

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The reference python (a venv with msgspec) and the directory of the two wheels.
fn reference() -> (PathBuf, PathBuf) {
    let target = root().join("target");
    let venv = target.join("kv-events-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    }
    run(Command::new(&python).args([
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        MSGSPEC,
        CBOR2,
    ]));
    let wheels = target.join("kv-events-wheels");
    run(Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "-d",
        ])
        .arg(&wheels)
        .args(WHEELS));
    (python, wheels)
}

/// A batch as the script's JSON view shows it.
fn view(b: &Batch) -> Value {
    let events: Vec<Value> = b
        .events
        .iter()
        .map(|e| match e {
            Event::Stored {
                hashes,
                parent,
                token_ids,
                block_size,
                medium,
                group,
            } => json!({
                "type": "BlockStored",
                "hashes": hashes.iter().map(|h| h.0).collect::<Vec<_>>(),
                "medium": medium.label(),
                "group": group,
                "parent": parent.map(|p| p.0),
                "token_ids": token_ids,
                "block_size": block_size,
            }),
            Event::Removed {
                hashes,
                medium,
                group,
            } => json!({
                "type": "BlockRemoved",
                "hashes": hashes.iter().map(|h| h.0).collect::<Vec<_>>(),
                "medium": medium.label(),
                "group": group,
            }),
            Event::AllCleared => json!({"type": "AllBlocksCleared"}),
        })
        .collect();
    json!({"ts": b.ts, "events": events, "rank": b.rank})
}

fn batches() -> Vec<(&'static str, Batch, Encoding)> {
    let stored =
        |hashes: &[u64], parent: Option<u64>, n: u32, bs: u32, medium, group| Event::Stored {
            hashes: hashes.iter().map(|&h| BlockHash(h)).collect(),
            parent: parent.map(BlockHash),
            token_ids: (0..n).map(|i| i * 7 + 1).collect(),
            block_size: bs,
            medium,
            group,
        };
    let vllm = |int_hashes| Encoding {
        tagged: true,
        int_hashes,
        sglang: false,
    };
    vec![
        (
            "vllm-int",
            Batch {
                ts: 1_796_000_010.5,
                events: vec![
                    stored(&[1, u64::MAX], None, 32, 16, Medium::Gpu, 0),
                    stored(&[5], Some(u64::MAX), 16, 16, Medium::Other, 3),
                    Event::Removed {
                        hashes: vec![BlockHash(5)],
                        medium: Medium::Other,
                        group: 3,
                    },
                    Event::AllCleared,
                ],
                rank: Some(1),
            },
            vllm(true),
        ),
        (
            "vllm-bytes",
            Batch {
                ts: 1_796_000_011.0,
                events: vec![stored(&[42, 43], None, 64, 32, Medium::Gpu, 0)],
                rank: None,
            },
            vllm(false),
        ),
        (
            "sglang",
            Batch {
                ts: 1_796_000_012.0,
                events: vec![
                    stored(&[u64::MAX - 6, 3], None, 2, 1, Medium::Gpu, 0),
                    Event::Removed {
                        hashes: vec![BlockHash(3)],
                        medium: Medium::Other,
                        group: 0,
                    },
                ],
                rank: Some(0),
            },
            Encoding {
                tagged: true,
                int_hashes: true,
                sglang: true,
            },
        ),
    ]
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn the_engines_structs_and_prefix_warden_read_each_others_batches() {
    let (python, wheels) = reference();
    let script = root().join("scripts/reference/kv_events_wire.py");
    let d = tempfile::tempdir().unwrap();
    // The engines encode; we decode.
    let out = run(Command::new(&python)
        .arg(&script)
        .arg("encode")
        .arg(&wheels)
        .arg(d.path()));
    assert!(out.contains("encoded 3"), "{out}");
    for case in ["vllm-int", "vllm-bytes", "sglang"] {
        let bytes = std::fs::read(d.path().join(format!("{case}.msgpack"))).unwrap();
        let b = wire::decode(&bytes).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            view(&b),
            read_json(&d.path().join(format!("{case}.json"))),
            "{case}"
        );
    }
    // We encode; the engines decode.
    for (case, b, e) in batches() {
        std::fs::write(
            d.path().join(format!("rust-{case}.msgpack")),
            wire::encode(&b, e),
        )
        .unwrap();
        std::fs::write(
            d.path().join(format!("rust-{case}.json")),
            view(&b).to_string(),
        )
        .unwrap();
    }
    let out = run(Command::new(&python)
        .arg(&script)
        .arg("decode")
        .arg(&wheels)
        .arg(d.path()));
    assert!(out.contains("decoded 3"), "{out}");
}

/// vLLM's `init_none_hash` and `request_block_hasher`, run from its wheel over generated
/// sequences and seeds (`kv_block_hash.py`), against `kv_events::hash`: every `NONE_HASH`,
/// every block's digest and its int form equal.
#[test]
fn vllms_sha256_cbor_chain_and_prefix_wardens_agree_on_generated_sequences() {
    use prefix_warden::kv_events::hash::{int_form, NoneHashSeed, Sha256Cbor};
    let (python, wheels) = reference();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("hashes.json");
    let said = run(Command::new(&python)
        .arg(root().join("scripts/reference/kv_block_hash.py"))
        .arg(&wheels)
        .arg(&out)
        .args(["1000", "22"]));
    assert!(said.contains("hashed 1000 cases"), "{said}");
    let cases = read_json(&out);
    let hex = |d: &[u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut blocks = 0;
    let mut seeded = 0;
    for (i, c) in cases.as_array().unwrap().iter().enumerate() {
        let seed = match c["seed"].as_str() {
            None => NoneHashSeed::unset(),
            Some(s) => {
                seeded += 1;
                NoneHashSeed::pythonhashseed(s).unwrap_or_else(|e| panic!("case {i}: {e}"))
            }
        };
        let h = Sha256Cbor::new(&seed);
        assert_eq!(hex(h.none_hash()), c["none_hash"], "case {i}: NONE_HASH");
        let ids: Vec<u32> = c["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| u32::try_from(v.as_u64().unwrap()).unwrap())
            .collect();
        let bs = c["block_size"].as_u64().unwrap() as usize;
        let chain = h.chain(&ids, bs);
        let want: Vec<&str> = c["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let got: Vec<String> = chain.iter().map(hex).collect();
        assert_eq!(got, want, "case {i}: block size {bs}, {} ids", ids.len());
        let ints: Vec<u64> = chain.iter().map(|d| int_form(d).0).collect();
        let want_ints: Vec<u64> = c["ints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(ints, want_ints, "case {i}: int form");
        blocks += chain.len();
    }
    // The generator reached what the comparison is for.
    assert!(
        blocks > 1000 && seeded > 300,
        "{blocks} blocks, {seeded} seeded"
    );
}

/// One `prefix emulate --engine vllm` publishing KV-cache events, with a replay socket.
struct Engine {
    child: std::process::Child,
    base: String,
    events: String,
    replay: String,
}

impl Engine {
    fn start(dir: &Path) -> Engine {
        Engine::start_with(dir, &[])
    }

    /// With more `prefix emulate` arguments (`--kv-hash-seed`).
    fn start_with(dir: &Path, extra: &[&str]) -> Engine {
        let (http, events, replay) = (
            crate::support::free_port(),
            crate::support::free_port(),
            crate::support::free_port(),
        );
        let (events, replay) = (
            format!("tcp://127.0.0.1:{events}"),
            format!("tcp://127.0.0.1:{replay}"),
        );
        let mut child = crate::support::prefix()
            .current_dir(dir)
            .args([
                "emulate",
                "--engine",
                "vllm",
                "--tokenizer",
                "openai/o200k_base",
            ])
            .args(["--listen", &format!("127.0.0.1:{http}")])
            .args(["--kv-events", &events, "--kv-replay", &replay])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{http}");
        for _ in 0..300 {
            if crate::support::get(&format!("{base}/admin/stats")).is_some() {
                return Engine {
                    child,
                    base,
                    events,
                    replay,
                };
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the engine emulator did not come up");
    }

    /// A completion whose prompt is these token ids.
    fn send(&self, ids: &[u32]) {
        let body = json!({"model": "Qwen3-8B", "prompt": ids, "max_tokens": 1});
        let (code, b) = crate::daemon::post(
            &format!("{}/v1/completions", self.base),
            &body.to_string(),
            None,
        );
        assert_eq!(code, 200, "{b}");
    }

    fn admin(&self, body: Value) {
        let (code, b) =
            crate::daemon::post(&format!("{}/admin/kv", self.base), &body.to_string(), None);
        assert_eq!(code, 200, "{b}");
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits up to 15 s for `f`.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..150 {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("not within 15 s: {what}");
}

/// The fleet: three emulated vLLM hosts publish events; the prefix is resident on all
/// three; evicted on one, only that one is not; an eviction published while its batch was never
/// sent (a gap) is recovered by replay; a dead publisher is unknown, never resident.
#[test]
fn three_emulated_vllm_hosts_residency_eviction_gap_replay_and_a_dead_publisher() {
    use prefix_warden::kv_events::residency::Prefix;
    use prefix_warden::residency::{Decision, HostSpec, Residency};
    let d = crate::support::scratch();
    let hosts: Vec<Engine> = (0..3).map(|_| Engine::start(d.path())).collect();
    // 100 tokens of prefix: 6 full blocks of 16 are warmable (the block of the last token
    // never is).
    let prefix: Vec<u32> = (1000..1100).collect();
    let specs: Vec<HostSpec> = hosts
        .iter()
        .map(|h| HostSpec {
            name: h.base.clone(),
            events: h.events.clone(),
            replay: Some(h.replay.clone()),
            topic: String::new(),
            hash_seed: None,
        })
        .collect();
    let r = Residency::start(
        specs,
        vec![Prefix {
            id: "p".into(),
            ids: prefix.clone(),
        }],
        std::time::Duration::from_secs(4),
    )
    .unwrap();
    let names: Vec<String> = hosts.iter().map(|h| h.base.clone()).collect();
    let decide = |i: usize| r.shared.decide(&names[i], "p");
    // SUB sockets connect asynchronously: let them join before the first events.
    std::thread::sleep(std::time::Duration::from_millis(500));
    for (i, h) in hosts.iter().enumerate() {
        let mut ids = prefix.clone();
        ids.extend(5000 + i as u32 * 100..5000 + i as u32 * 100 + 40);
        h.send(&ids);
    }
    eventually("resident on all three", || {
        (0..3).all(|i| decide(i) == Decision::Resident)
    });
    let view = &r.shared.hosts()[&names[0]];
    assert_eq!(view.prefixes[0].gpu_tokens, 96, "{view:?}");
    assert_eq!(view.prefixes[0].warmable_tokens, Some(96));

    // Evicted on host 1 only.
    hosts[1].admin(json!({"evict": true}));
    eventually("host 1 not resident", || decide(1) == Decision::NotResident);
    assert_eq!(
        (decide(0), decide(2)),
        (Decision::Resident, Decision::Resident)
    );

    // Host 0: its eviction's batch is kept for replay but never published; the next batch
    // shows the gap, and replay brings the eviction.
    hosts[0].admin(json!({"drop_next": 1}));
    hosts[0].admin(json!({"evict": true}));
    hosts[0].send(&(7000..7040).collect::<Vec<u32>>());
    eventually("host 0's missed eviction replayed", || {
        decide(0) == Decision::NotResident
    });

    // Host 2's publisher dies: unknown within stale_after, never resident.
    let mut hosts = hosts;
    drop(hosts.pop());
    eventually("the dead publisher unknown", || {
        r.shared.hosts()[&names[2]].unknown.is_some()
    });
    assert_eq!(decide(2), Decision::Unknown);
    assert_eq!(decide(1), Decision::NotResident, "a live host stays known");
}

impl Engine {
    /// Engine requests answered so far (admin calls excluded).
    fn requests(&self) -> u64 {
        let body = crate::support::get(&format!("{}/admin/stats", self.base)).unwrap();
        let v: Value = serde_json::from_str(&body.1).unwrap();
        v["requests"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(p, _)| p.starts_with("/v1/"))
            .flat_map(|(_, by)| by.as_object().unwrap().values())
            .map(|n| n.as_u64().unwrap())
            .sum()
    }
}

/// The daemon config of the engine tests: a `vllm` group `g` warming `cline-hermes-4` on
/// `hosts` every 2 s, each host's `[[warmup.kv_events]]` entry with `entry(i)` appended.
fn write_engine_config(dir: &Path, hosts: &[Engine], entry: impl Fn(usize) -> String) {
    use crate::daemon::write_config;
    // The emulated engine's chat template (src/emulator/engine.rs), so the prefix ids the
    // daemon matches are the ids the emulator caches, as a real engine's template would be.
    std::fs::write(
        dir.join("templates/emulator.jinja"),
        "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}",
    )
    .unwrap();
    let doc = json!({"live": "blue", "colors": {"blue": {"targets": hosts.iter().map(|h| h.base.clone()).collect::<Vec<_>>()}}});
    std::fs::write(dir.join("live.json"), doc.to_string()).unwrap();
    let publishers: String = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            format!(
                "\n[[warmup.kv_events]]\ntarget = \"{}\"\nendpoint = \"{}\"\nreplay = \"{}\"\n{}",
                h.base,
                h.events,
                h.replay,
                entry(i)
            )
        })
        .collect();
    write_config(dir, &["openai/o200k_base"], "", |c| {
        let c = c[..c.find("[emulator]").unwrap_or(c.len())].to_string();
        let o200k = c
            .split("[[tokenizer]]")
            .find(|b| b.contains("id = \"openai/o200k_base\""))
            .unwrap();
        // The entry's own keys (the [daemon] table follows it).
        let o200k = o200k[..o200k.find("\n[").unwrap_or(o200k.len())].to_string();
        let chat = o200k
            .replace("id = \"openai/o200k_base\"", "id = \"emulator/o200k-chat\"")
            .lines()
            .filter(|l| !l.starts_with("models"))
            .collect::<Vec<_>>()
            .join("\n");
        format!(
            "{c}\n[[tokenizer]]{chat}\nmodels = [\"vllm/Qwen3-8B\"]\ntemplate = {{ file = \"templates/emulator.jinja\", sha256 = \"unpinned\" }}\n\n\
             [[warmup]]\ngroup = \"g\"\nschedule = \"*/2 * * * * *\"\nprovider = \"vllm\"\nmodel = \"Qwen3-8B\"\n\
             prompts = [\"cline-hermes-4\"]\nkv_stale_after_secs = 10\n\
             lookup = {{ backend = \"file\", path = \"live.json\" }}\n{publishers}"
        )
    });
}

/// The "Done when": a daemon warming three emulated vLLM hosts that publish their
/// KV-cache events skips hosts where the prefix is resident; when one host evicts it, the next
/// tick warms only that one; a dead publisher's host is reported unknown in /metrics.
#[test]
fn the_next_tick_warms_only_the_host_that_evicted_the_prefix() {
    use crate::daemon::{metric, Running};
    let d = crate::support::scratch();
    let hosts: Vec<Engine> = (0..3).map(|_| Engine::start(d.path())).collect();
    write_engine_config(d.path(), &hosts, |_| String::new());
    let r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let resident = |r: &Running, host: &str| {
        let m = r.get("/metrics").1;
        let gpu = metric(
            &m,
            &format!("prefix_warden_kv_resident_tokens{{group=\"g\",prompt=\"cline-hermes-4\",tokenizer=\"emulator/o200k-chat\",host=\"{host}\",medium=\"gpu\"}}"),
        );
        let warmable = metric(
            &m,
            &format!("prefix_warden_kv_warmable_tokens{{group=\"g\",prompt=\"cline-hermes-4\",tokenizer=\"emulator/o200k-chat\",host=\"{host}\"}}"),
        );
        matches!((gpu, warmable), (Some(g), Some(w)) if w > 0.0 && g >= w)
    };
    let skipped = |r: &Running| {
        metric(
            &r.get("/metrics").1,
            "prefix_warden_warmup_requests_total{prompt=\"cline-hermes-4\",provider=\"vllm\",result=\"skipped_resident\"}",
        )
        .unwrap_or(0.0)
    };
    r.wait_until("resident on all three hosts", |r| {
        hosts.iter().all(|h| resident(r, &h.base))
    });
    // Every host resident: the next ticks send nothing.
    let before: Vec<u64> = hosts.iter().map(Engine::requests).collect();
    let s0 = skipped(&r);
    r.wait_until("two ticks that skip all three hosts", |r| {
        skipped(r) >= s0 + 6.0
    });
    let after: Vec<u64> = hosts.iter().map(Engine::requests).collect();
    assert_eq!(before, after, "a resident prefix was warmed again");

    // Host 1 evicts it: the next tick warms host 1 only.
    hosts[1].admin(json!({"evict": true}));
    r.wait_until("host 1 warmed again", |_| hosts[1].requests() > after[1]);
    r.wait_until("resident again on host 1", |r| resident(r, &hosts[1].base));
    assert_eq!(hosts[0].requests(), after[0], "host 0 was resident");
    assert_eq!(hosts[2].requests(), after[2], "host 2 was resident");
    // `prefix status` shows it per host.
    r.wait_until("status shows three resident hosts", |r| {
        let out = crate::support::stdout(&crate::support::run_in(
            d.path(),
            &["status", "--url", &format!("http://{}", r.addr)],
        ));
        out.contains("where each prefix is cached")
            && hosts.iter().all(|h| {
                out.lines().any(|l| {
                    l.contains(&h.base) && l.contains("cline-hermes-4") && l.ends_with("yes")
                })
            })
    });

    // Host 2's publisher (and engine) dies: unknown, so warmed (and failing), never skipped.
    let dead = hosts[2].base.clone();
    let mut hosts = hosts;
    drop(hosts.pop());
    r.wait_until("the dead host unknown in /metrics", |r| {
        metric(
            &r.get("/metrics").1,
            &format!("prefix_warden_kv_host_known{{group=\"g\",host=\"{dead}\"}}"),
        ) == Some(0.0)
    });
}

/// The hash cross-check (`hash = "sha256_cbor"`): three emulated vLLM hosts hash their blocks
/// with vLLM's chain under PYTHONHASHSEED unset, 42 and 7; the daemon expects unset, 42 and
/// 42. The first two agree on every checked block; the third's disagreements are counted in
/// /metrics and shown by `prefix status`, and the prefix is still resident there (tokens
/// decide). The WARN names the host and the prompt id, nothing of the prompt.
#[test]
fn a_daemon_expecting_another_hash_seed_counts_disagreements_and_shows_them() {
    use crate::daemon::{metric, Running};
    let d = crate::support::scratch();
    let hosts = [
        Engine::start(d.path()),
        Engine::start_with(d.path(), &["--kv-hash-seed", "42"]),
        Engine::start_with(d.path(), &["--kv-hash-seed", "7"]),
    ];
    write_engine_config(d.path(), &hosts, |i| {
        if i == 0 {
            "hash = \"sha256_cbor\"\n".into()
        } else {
            "hash = \"sha256_cbor\"\nhash_seed = \"42\"\n".into()
        }
    });
    let mut r = Running::start(d.path());
    r.wait_until("ready", |r| r.get("/readyz").0 == 200);
    let counter = |r: &Running, name: &str, host: &str| {
        metric(
            &r.get("/metrics").1,
            &format!("{name}{{group=\"g\",host=\"{host}\"}}"),
        )
    };
    let checks =
        |r: &Running, h: &Engine| counter(r, "prefix_warden_kv_hash_checks_total", &h.base);
    let disagreements =
        |r: &Running, h: &Engine| counter(r, "prefix_warden_kv_hash_disagreements_total", &h.base);
    r.wait_until("every host's prefix blocks checked", |r| {
        hosts.iter().all(|h| checks(r, h).is_some_and(|n| n > 0.0))
    });
    let checked: Vec<f64> = hosts.iter().map(|h| checks(&r, h).unwrap()).collect();
    assert_eq!(disagreements(&r, &hosts[0]), Some(0.0), "unset = unset");
    assert_eq!(disagreements(&r, &hosts[1]), Some(0.0), "42 = 42");
    let wrong = disagreements(&r, &hosts[2]).unwrap();
    assert!(
        wrong > 0.0 && wrong <= checked[2],
        "{wrong} of {}",
        checked[2]
    );
    // `prefix status`: the HASH DISAGREEMENTS column, and host 2 resident all the same.
    r.wait_until("status shows the disagreements", |r| {
        let out = crate::support::stdout(&crate::support::run_in(
            d.path(),
            &["status", "--url", &format!("http://{}", r.addr)],
        ));
        let row = |h: &Engine| {
            out.lines()
                .find(|l| l.contains(&h.base) && l.contains("cline-hermes-4"))
                .map(|l| l.split_whitespace().rev().take(2).collect::<Vec<_>>())
        };
        out.contains("HASH DISAGREEMENTS")
            && row(&hosts[0]) == Some(vec!["yes", "0"])
            && row(&hosts[1]) == Some(vec!["yes", "0"])
            && row(&hosts[2])
                .is_some_and(|c| c[0] == "yes" && c[1].parse::<u64>().is_ok_and(|n| n > 0))
    });
    let warn = r.wait_log(
        |l| l.contains("carry hashes other than"),
        std::time::Duration::from_secs(30),
    );
    let v: Value = serde_json::from_str(&warn).unwrap();
    assert_eq!(v["level"], "WARN", "{warn}");
    assert_eq!(v["host"], hosts[2].base.as_str(), "{warn}");
    assert_eq!(v["prompts"], "cline-hermes-4", "{warn}");
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "checks",
            "disagreements",
            "host",
            "level",
            "message",
            "prompts",
            "target",
            "timestamp"
        ],
        "{warn}"
    );
}
