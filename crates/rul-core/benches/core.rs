//! Predictor latency (single request, predict_many of 32/256, 50 readings per request, cache off) and raw
//! Artifact::predict (1/32/256 windows), on the shipped `models/fd001` and, as an extra, the 10-cycle test model.
//! The difference between the two is what the request path costs; `rul bench model` prints it directly.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rul_core::{PredictRequest, Predictor, PredictorConfig, neutral_reading};
use rul_data::{Preprocessor, Reading};
use rul_model::Artifact;

/// A plausible history of `n` readings; `phase` makes histories distinct.
fn history(pre: &Preprocessor, n: usize, phase: f64) -> Vec<Reading> {
    let settings = neutral_reading(pre).settings;
    (0..n)
        .map(|i| {
            let sensors = pre.sensor_bounds().iter().enumerate().map(|(j, b)| {
                let t = i as f64 / n as f64 + phase + j as f64;
                (
                    b.name.as_str(),
                    0.5 * (b.min + b.max) + 0.15 * (b.max - b.min) * t.sin(),
                )
            });
            Reading::from_named(sensors, settings)
        })
        .collect()
}

/// Readings per request, as the plan's clients send them.
const READINGS: usize = 50;

fn benches(c: &mut Criterion) {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fd001");
    bench_model(c, "fd001", &shipped);
    let toy = tempfile::tempdir().expect("tempdir");
    rul_model::write_test_artifact(toy.path(), 7).expect("test artifact");
    bench_model(c, "toy", toy.path());
}

/// Both groups for the artifact at `dir`, named `predictor/NAME` and `artifact/NAME`.
fn bench_model(c: &mut Criterion, name: &str, dir: &Path) {
    let artifact = Artifact::load(dir).expect("load artifact");
    let pre = artifact.preprocessor().clone();
    let (w, f) = (pre.window(), pre.n_features());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // Cache off so every iteration does the real work.
    let config = PredictorConfig {
        model_path: dir.to_path_buf(),
        cache_capacity: 0,
        max_batch: 256,
        max_wait: Duration::ZERO,
        ..PredictorConfig::default()
    };
    let predictor = Predictor::start(config);
    rt.block_on(predictor.wait_ready()).expect("ready");

    let mut group = c.benchmark_group(format!("predictor/{name}"));
    let single = PredictRequest {
        engine_id: "bench".into(),
        readings: history(&pre, READINGS.max(w), 0.0),
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
                readings: history(&pre, READINGS.max(w), i as f64),
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

    let mut group = c.benchmark_group(format!("artifact/{name}"));
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
