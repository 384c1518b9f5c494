//! Predictor latency (single request, predict_many of 32/256) and raw Artifact::predict (1/32/256 windows).

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rul_core::{PredictRequest, Predictor, PredictorConfig, neutral_reading};
use rul_data::{Preprocessor, Reading};
use rul_model::Artifact;

/// A plausible history of `n` readings; `phase` makes histories distinct.
fn history(pre: &Preprocessor, n: usize, phase: f64) -> Vec<Reading> {
    let settings = neutral_reading(pre).settings;
    (0..n)
        .map(|i| Reading {
            sensors: pre
                .sensor_bounds()
                .iter()
                .enumerate()
                .map(|(j, b)| {
                    let t = i as f64 / n as f64 + phase + j as f64;
                    (
                        b.name.clone().into(),
                        0.5 * (b.min + b.max) + 0.15 * (b.max - b.min) * t.sin(),
                    )
                })
                .collect(),
            settings,
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    rul_model::write_test_artifact(dir.path(), 7).expect("test artifact");
    let artifact = Artifact::load(dir.path()).expect("load artifact");
    let pre = artifact.preprocessor().clone();
    let (w, f) = (pre.window(), pre.n_features());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Cache off so every iteration does the real work.
    let config = PredictorConfig {
        model_path: dir.path().to_path_buf(),
        cache_capacity: 0,
        max_batch: 256,
        max_wait: Duration::ZERO,
        ..PredictorConfig::default()
    };
    let predictor = Predictor::start(config);
    rt.block_on(predictor.wait_ready()).expect("ready");

    let mut group = c.benchmark_group("predictor");
    let single = PredictRequest {
        engine_id: "bench".into(),
        readings: history(&pre, w + 20, 0.0),
    };
    group.throughput(Throughput::Elements(1));
    group.bench_function("predict_single", |b| {
        b.iter(|| {
            rt.block_on(predictor.predict(black_box(single.clone())))
                .expect("predict")
        })
    });
    for n in [32usize, 256] {
        let reqs: Vec<PredictRequest> = (0..n)
            .map(|i| PredictRequest {
                engine_id: format!("e{i}"),
                readings: history(&pre, w + 20, i as f64),
            })
            .collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("predict_many", n), &reqs, |b, reqs| {
            // Cloning the requests is setup, not measured.
            b.iter_batched(
                || reqs.clone(),
                |reqs| rt.block_on(predictor.predict_many(black_box(reqs))),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    let mut group = c.benchmark_group("artifact");
    let window = pre.prepare(&history(&pre, w, 0.0)).expect("prepare").input;
    for n in [1usize, 32, 256] {
        let inputs: Vec<f32> = window.iter().copied().cycle().take(n * w * f).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("predict", n), &inputs, |b, inputs| {
            b.iter(|| artifact.predict(black_box(inputs), n).expect("forward"))
        });
    }
    group.finish();
    rt.block_on(predictor.shutdown());
}

criterion_group! {
    name = core;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(core);
