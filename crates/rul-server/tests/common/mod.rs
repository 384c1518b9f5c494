//! Shared fixtures of the integration tests: a tiny real model artifact, configs on ephemeral ports, readings.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use rul_core::{Predictor, PredictorConfig};
use rul_server::ServerConfig;

#[allow(unused_imports)]
pub use rul_testkit::readings::{
    SENSORS, predict_body, raw_readings, reading_json, readings_json, value,
};
pub use rul_testkit::{missing_artifact, scratch_sqlite_url as fresh_sqlite_url};

/// The test binary's artifact (a tiny real model, trained once per process).
pub fn artifact(name: &str) -> &'static Path {
    rul_testkit::test_artifact(&format!("rul-server-{name}"), 7)
}

/// Server config for tests: loopback, ephemeral ports, the given model, a fresh SQLite fleet store.
pub fn config(model: &Path) -> ServerConfig {
    ServerConfig {
        host: "127.0.0.1".into(),
        http_port: 0,
        grpc_port: 0,
        model_path: model.to_path_buf(),
        shutdown_grace_secs: 5,
        shutdown_delay_secs: 0,
        fleet: rul_server::FleetArgs {
            database_url: fresh_sqlite_url(),
            ..Default::default()
        },
        ..ServerConfig::default()
    }
}

/// The byte budget `config` asks for (MAX_INFLIGHT_BYTES), as `serve` would create it.
pub fn budget_of(config: &ServerConfig) -> rul_server::budget::ByteBudget {
    rul_server::budget::ByteBudget::new(config.connections.max_inflight_bytes)
}

/// Waits until `condition` holds (checked every few milliseconds; panics after 30 s).
pub async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A predictor on `config`'s model, already warm.
pub async fn ready_predictor(config: &ServerConfig) -> Predictor {
    let predictor = Predictor::start(config.predictor_config());
    tokio::time::timeout(Duration::from_secs(60), predictor.wait_ready())
        .await
        .expect("model warm within 60 s")
        .expect("model loads");
    predictor
}

/// A predictor whose model never loads.
pub fn broken_predictor() -> Predictor {
    Predictor::start(PredictorConfig {
        model_path: missing_artifact(),
        ..PredictorConfig::default()
    })
}
pub mod running;
pub mod standin;
