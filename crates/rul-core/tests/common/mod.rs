//! Shared fixtures: two real tiny artifacts (written once per test binary) and reading generators.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use rul_core::{PredictRequest, Predictor, PredictorConfig, neutral_reading};
use rul_data::{Preprocessor, Reading};

pub struct Fixture {
    pub a: PathBuf,
    pub b: PathBuf,
    pub pre: Preprocessor,
}

/// Two artifacts with different seeds (so different versions), shared by every test in the binary.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let a = rul_testkit::test_artifact("rul-core", 1).to_path_buf();
        let b = rul_testkit::test_artifact("rul-core", 2).to_path_buf();
        let pre = rul_model::Artifact::load(&a)
            .expect("load")
            .preprocessor()
            .clone();
        Fixture { a, b, pre }
    })
}

/// Config for tests: no cache unless asked, no waiting.
pub fn config(path: &Path) -> PredictorConfig {
    PredictorConfig {
        model_path: path.to_path_buf(),
        max_batch: 64,
        max_wait: Duration::ZERO,
        queue_capacity: 1024,
        cache_ttl: Duration::from_secs(300),
        cache_capacity: 0,
        engine: Default::default(),
        idle_spin: std::time::Duration::ZERO,
    }
}

pub async fn ready(config: PredictorConfig) -> Predictor {
    let p = Predictor::start(config);
    p.wait_ready().await.expect("model becomes ready");
    p
}

/// A plausible history of `n` readings whose values wander inside the training range; `phase` varies it.
pub fn history(pre: &Preprocessor, n: usize, phase: f64) -> Vec<Reading> {
    let neutral = neutral_reading(pre);
    (0..n)
        .map(|i| {
            let t = i as f64 / n.max(1) as f64;
            let sensors = pre.sensor_bounds().iter().enumerate().map(|(j, b)| {
                let mid = 0.5 * (b.min + b.max);
                let amp = 0.15 * (b.max - b.min);
                (
                    b.name.as_str(),
                    mid + amp * (3.0 * t + phase + j as f64).sin(),
                )
            });
            Reading::from_named(sensors, neutral.settings)
        })
        .collect()
}

pub fn request(engine: &str, readings: Vec<Reading>) -> PredictRequest {
    PredictRequest {
        engine_id: engine.to_string(),
        readings,
    }
}
