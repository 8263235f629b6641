//! The KV-cache event wire format (issue #22) against the engines' own definitions: vLLM's and
//! SGLang's msgspec structs, loaded from their official wheels by
//! `scripts/reference/kv_events_wire.py`, encode batches that prefix-warden decodes to the
//! same events, and decode what prefix-warden encodes to the events it meant. The venv
//! (msgspec) and the wheels (`pip download --no-deps`) are made here, under `target/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use prefix_warden::kv_events::wire::{self, Batch, BlockHash, Encoding, Event, Medium};
use serde_json::{json, Value};

use crate::support::root;

const MSGSPEC: &str = "msgspec==0.23.0";
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
