//! The whole in-process request path for `rul bench model`: what a transport hands the prediction
//! core (engine id + readings) to the answer — validation, preprocessing, the queue, the model
//! thread's forward pass and the reply — with the cache off, so every request runs the network.
//! Its difference from the network alone is what the request path itself costs.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use rul_core::{PredictRequest, Predictor, PredictorConfig};
use rul_data::Engine;
use rul_model::InferenceEngine;
use serde::Serialize;

use crate::bench_model::Single;

/// Readings per request, as the plan's clients send them.
pub const READINGS: usize = 50;

/// One engine's request-path figures.
#[derive(Serialize)]
pub struct RequestPath {
    pub engine: InferenceEngine,
    pub readings_per_request: usize,
    /// `Predictor::predict` of one request at a time.
    pub single: Single,
    /// Requests per `Predictor::predict_many` call.
    pub batch: usize,
    pub per_request_us: f64,
    pub requests_per_s: f64,
}

/// `count` requests of the last [`READINGS`] cycles of the test engines long enough (cycled),
/// with the model's sensors and the operating settings, named as the transports name them.
pub fn requests(test: &[Engine], sensors: &[String], count: usize) -> Vec<PredictRequest> {
    let long: Vec<&Engine> = test.iter().filter(|e| e.cycles.len() >= READINGS).collect();
    long.iter()
        .cycle()
        .take(if long.is_empty() { 0 } else { count })
        .enumerate()
        .map(|(n, engine)| PredictRequest {
            engine_id: format!("bench-{n}"),
            readings: engine.cycles[engine.cycles.len() - READINGS..]
                .iter()
                .map(|c| c.reading(sensors))
                .collect(),
        })
        .collect()
}

/// Times the request path of `engine` on the artifact at `model`: one request alone for `budget`,
/// then `predict_many` of all of `reqs` for `budget`; the model thread polls for `idle_spin`
/// after each batch (`MODEL_IDLE_SPIN_US`).
pub fn measure(
    model: &Path,
    engine: InferenceEngine,
    reqs: &[PredictRequest],
    budget: Duration,
    idle_spin: Duration,
) -> anyhow::Result<RequestPath> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")?;
    runtime.block_on(async {
        let predictor = Predictor::start(PredictorConfig {
            model_path: model.to_path_buf(),
            max_batch: reqs.len().max(1),
            max_wait: Duration::ZERO,
            queue_capacity: reqs.len().max(1),
            cache_ttl: Duration::ZERO,
            cache_capacity: 0,
            engine,
            idle_spin,
        });
        predictor.wait_ready().await.context("loading the model")?;
        let first = reqs.first().context("no test engine has enough cycles")?;
        for _ in 0..10 {
            predictor.predict(first.clone()).await?;
        }
        let mut times = Vec::new();
        let start = Instant::now();
        while start.elapsed() < budget || times.len() < 10 {
            let req = first.clone();
            let t = Instant::now();
            std::hint::black_box(predictor.predict(req).await?);
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let single = Single::from_times(times);
        let mut calls = 0usize;
        let mut spent = Duration::ZERO;
        while spent < budget || calls < 3 {
            let batch = reqs.to_vec();
            let t = Instant::now();
            let answers = predictor.predict_many(batch).await;
            spent += t.elapsed();
            if let Some(Err(e)) = answers.into_iter().find(Result::is_err) {
                anyhow::bail!("a benchmark request failed: {e}");
            }
            calls += 1;
        }
        predictor.shutdown().await;
        let per_request = spent.as_secs_f64() / (calls * reqs.len()) as f64;
        Ok(RequestPath {
            engine,
            readings_per_request: READINGS,
            single,
            batch: reqs.len(),
            per_request_us: per_request * 1e6,
            requests_per_s: 1.0 / per_request,
        })
    })
}
