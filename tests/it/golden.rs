//! Fingerprints and block hashes equal the golden vectors computed by an independent
//! implementation of docs/fingerprint.md (scripts/reference/gen_golden_fingerprints.py).

use std::collections::BTreeMap;

use prefix_warden::config::Config;
use prefix_warden::fingerprint::{compute, fingerprint};
use prefix_warden::tokenizer::Tokenizer;
use rayon::prelude::*;

use crate::support::{corpus, root};

#[derive(serde::Deserialize)]
struct Golden {
    vectors: Vec<Vector>,
    corpus: BTreeMap<String, BTreeMap<String, CorpusEntry>>,
}

#[derive(serde::Deserialize)]
struct Vector {
    ids: Vec<u32>,
    fingerprint: String,
    block_size: usize,
    blocks: Vec<String>,
}

#[derive(serde::Deserialize)]
struct CorpusEntry {
    count: usize,
    fingerprint: String,
    blocks16_first: Option<String>,
    blocks16_last: Option<String>,
    blocks16_len: usize,
}

fn golden() -> Golden {
    serde_json::from_slice(
        &std::fs::read(root().join("tests/data/golden/fingerprints.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn hand_picked_vectors() {
    let g = golden();
    assert!(g.vectors.len() >= 8);
    for v in &g.vectors {
        assert_eq!(fingerprint(&v.ids), v.fingerprint, "ids {:?}", v.ids);
        let fp = compute(&v.ids, &[("all".into(), v.ids.len())], v.block_size);
        assert_eq!(fp.fingerprint, v.fingerprint);
        assert_eq!(
            fp.blocks, v.blocks,
            "blocks of {:?} at B={}",
            v.ids, v.block_size
        );
    }
}

#[test]
fn corpus_fingerprints_under_every_tokenizer() {
    let g = golden();
    let cfg = Config::load(&root().join("daemon.toml")).unwrap();
    let texts = corpus();
    // Entries with a chat template read the same files as bare ones (templates.rs checks them).
    let bare = cfg.tokenizers.par_iter().filter(|t| t.template.is_none());
    bare.for_each(|entry| {
        let tok = Tokenizer::load(entry).unwrap();
        let want = &g.corpus[&entry.id];
        for (name, text) in &texts {
            let w = &want[name];
            let ids = tok.encode(text).unwrap();
            let fp = compute(&ids, &[], 16);
            assert_eq!(fp.token_count, w.count, "{} {name}", entry.id);
            assert_eq!(fp.fingerprint, w.fingerprint, "{} {name}", entry.id);
            assert_eq!(fp.blocks.len(), w.blocks16_len);
            assert_eq!(fp.blocks.first(), w.blocks16_first.as_ref());
            assert_eq!(fp.blocks.last(), w.blocks16_last.as_ref());
        }
    });
}
