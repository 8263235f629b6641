//! Criterion benches: tokenizing the whole corpus under each engine, and fingerprinting a long
//! id sequence. Throughput is reported in bytes (tokenize) and ids (fingerprint).
//!
//! Run: `cargo bench --bench tokenize`. Figures are comparable only within one run.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prefix_warden::config::Config;
use prefix_warden::fingerprint;
use prefix_warden::tokenizer::Tokenizer;

fn corpus() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn tokenize(c: &mut Criterion) {
    let cfg = Config::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("daemon.toml")).unwrap();
    let texts = corpus();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let mut g = c.benchmark_group("tokenize_corpus");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    for id in [
        "openai/cl100k_base",
        "openai/o200k_base",
        "mistral/tekken-240718",
        "qwen/qwen3",
        "deepseek/v3",
        "anthropic/claude-legacy",
        "mistral/spm-v3",
    ] {
        let tok = Tokenizer::load(cfg.tokenizer(id).unwrap()).unwrap();
        g.bench_with_input(BenchmarkId::new("single_thread", id), &tok, |b, tok| {
            b.iter(|| {
                texts
                    .iter()
                    .map(|t| tok.encode(t).unwrap().len())
                    .sum::<usize>()
            })
        });
    }
    g.finish();
}

fn fingerprints(c: &mut Criterion) {
    let ids: Vec<u32> = (0..20_000u32)
        .map(|i| i.wrapping_mul(2_654_435_761) % 200_000)
        .collect();
    let mut g = c.benchmark_group("fingerprint");
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.bench_function("whole_prefix_20k_ids", |b| {
        b.iter(|| fingerprint::fingerprint(&ids))
    });
    g.bench_function("with_blocks16_and_3_breakpoints_20k_ids", |b| {
        let bps = vec![
            ("a".to_string(), 5_000),
            ("b".to_string(), 12_000),
            ("c".to_string(), 20_000),
        ];
        b.iter(|| fingerprint::compute(&ids, &bps, 16))
    });
    g.finish();
}

/// The split step alone: the known patterns on `regex` automata against `fancy-regex`.
fn split(c: &mut Criterion) {
    use prefix_warden::tokenizer::Splitter;
    let texts = corpus();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let mut g = c.benchmark_group("split_corpus");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    for (name, spec) in [
        ("cl100k", "tokenizers/openai/cl100k_base.spec.json"),
        ("o200k", "tokenizers/openai/o200k_base.spec.json"),
    ] {
        let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(spec);
        let (spec, _) = prefix_warden::tokenizer::read_spec(name, &spec).unwrap();
        for (engine, s) in [
            ("regex", Splitter::new(&spec.pattern).unwrap()),
            ("fancy-regex", Splitter::fancy(&spec.pattern).unwrap()),
        ] {
            g.bench_with_input(BenchmarkId::new(engine, name), &s, |b, s| {
                b.iter(|| {
                    let mut n = 0;
                    for t in &texts {
                        s.pieces(t, |_, _| n += 1).unwrap();
                    }
                    n
                })
            });
        }
    }
    g.finish();
}

fn load(c: &mut Criterion) {
    let cfg = Config::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("daemon.toml")).unwrap();
    let mut g = c.benchmark_group("load");
    g.sample_size(10);
    let state = tempfile::tempdir().unwrap();
    for id in ["openai/o200k_base", "qwen/qwen3", "mistral/spm-v3"] {
        let e = cfg.tokenizer(id).unwrap().clone();
        g.bench_function(BenchmarkId::new("parse", id), |b| {
            b.iter(|| Tokenizer::load(&e).unwrap().vocab_size)
        });
        g.bench_function(BenchmarkId::new("table_cache", id), |b| {
            b.iter(|| {
                Tokenizer::load_cached(&e, Some(state.path()))
                    .unwrap()
                    .vocab_size
            })
        });
    }
    g.finish();
}

criterion_group!(benches, tokenize, split, fingerprints, load);
criterion_main!(benches);
