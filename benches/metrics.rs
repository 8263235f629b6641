//! Criterion bench: rendering `/metrics` with 1,000 (prompt, tokenizer) pairs registered
//! (three series per pair, as the daemon exports). Goal: under 10 ms per render.
//!
//! Run: `cargo bench --bench metrics`.

use criterion::{criterion_group, criterion_main, Criterion};
use metrics_exporter_prometheus::PrometheusBuilder;
use prefix_warden::metrics::{FINGERPRINT_CHANGES, FINGERPRINT_LAST_CHANGE, PROMPT_TOKENS};

fn render(c: &mut Criterion) {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for p in 0..100 {
            for t in 0..10 {
                let labels = [
                    ("prompt", format!("prompt-{p:03}")),
                    ("tokenizer", format!("provider/tokenizer-{t}")),
                ];
                metrics::gauge!(PROMPT_TOKENS, &labels).set(12_345.0);
                metrics::counter!(FINGERPRINT_CHANGES, &labels).increment(p as u64 % 3);
                metrics::gauge!(FINGERPRINT_LAST_CHANGE, &labels).set(1.8e9);
            }
        }
    });
    let text = handle.render();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("prefix_warden_"))
            .count(),
        3_000
    );
    c.bench_function("render_metrics_1000_pairs", |b| {
        b.iter(|| handle.render().len())
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
