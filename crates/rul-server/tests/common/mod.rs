//! Shared fixtures of the integration tests: a tiny real model artifact, configs on ephemeral ports, readings.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use rul_core::{Predictor, PredictorConfig};
use rul_server::ServerConfig;
use rul_server::input::RawReading;
use serde_json::{Value, json};

// Typical FD001 values of s1..s21 and their drift over a life: the synthetic training fleet's profile.
use rul_data::synthetic::SENSOR_PROFILE as BASE;

/// The 14 informative sensors every default model needs.
pub const SENSORS: [&str; 14] = [
    "s2", "s3", "s4", "s7", "s8", "s9", "s11", "s12", "s13", "s14", "s15", "s17", "s20", "s21",
];

fn sensor_index(name: &str) -> usize {
    name[1..].parse::<usize>().expect("sensor name") - 1
}

/// Plausible value of `sensor` at cycle `i` of `n` (wear grows towards the end).
pub fn value(sensor: &str, i: usize, n: usize) -> f64 {
    let (base, drift) = BASE[sensor_index(sensor)];
    let wear = ((i + 1) as f64 / n.max(1) as f64).powi(3);
    base + drift * wear * 0.8
}

/// One reading as REST JSON.
pub fn reading_json(i: usize, n: usize) -> Value {
    let mut map = serde_json::Map::new();
    for s in SENSORS {
        map.insert(s.to_string(), json!(value(s, i, n)));
    }
    Value::Object(map)
}

/// `n` readings as REST JSON.
pub fn readings_json(n: usize) -> Vec<Value> {
    (0..n).map(|i| reading_json(i, n)).collect()
}

/// A valid POST /predict body.
pub fn predict_body(engine: &str, n: usize) -> Value {
    json!({ "engine_id": engine, "sensor_data": readings_json(n) })
}

/// `n` readings in transport-neutral form (for gRPC and the client).
pub fn raw_readings(n: usize) -> Vec<RawReading> {
    (0..n)
        .map(|i| {
            let mut r = RawReading::default();
            for s in SENSORS {
                r.sensors[sensor_index(s)] = Some(value(s, i, n));
            }
            r
        })
        .collect()
}

/// A small real artifact, trained once per test binary (under the target's tmp dir, recreated each run).
pub fn artifact(name: &str) -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rul-server-{name}-artifact"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.parent().expect("parent")).expect("tmp dir");
        rul_model::write_test_artifact(&dir, 7).expect("test artifact");
        dir
    })
}

/// A directory that holds no artifact.
pub fn missing_artifact() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("rul-server-no-such-artifact")
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

/// A SQLite URL no other test uses (under the target's tmp dir).
pub fn fresh_sqlite_url() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rul-server-fleet-db");
    std::fs::create_dir_all(&dir).expect("db dir");
    let file = dir.join(format!("{}-{n}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    format!("sqlite://{}", file.display())
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
