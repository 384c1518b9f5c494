//! The fleet end to end through the real binary on the shipped FD001 model: `rul replay` of the whole FD001 test
//! set over gRPC and REST, each engine's final raw estimate against `/predict` on its full history, and
//! `kill -9` mid-stream losing no acknowledged reading. Needs the C-MAPSS data (`CMAPSS_DIR`); skips without it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rul_client::pb::{self, reading_ack};
use tokio_stream::StreamExt;

fn shipped_model() -> PathBuf {
    rul_testkit::models_dir().join("fd001")
}

fn serve(db: &str) -> common::Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rul"));
    command
        .arg("serve")
        .env("MODEL_PATH", shipped_model())
        .env("HTTP_PORT", "0")
        .env("DATABASE_URL", db)
        .env("CACHE_CAPACITY", "0");
    let server = common::start(command);
    common::wait_for_200(server.http, "/ready");
    server
}

fn replay(server: &common::Server, to: &str, data: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_rul"))
        .args([
            "replay", "--subset", "FD001", "--split", "test", "--json", "--to", to,
        ])
        .args(["--grpc", &server.grpc.to_string()])
        .args(["--http", &format!("http://{}", server.http)])
        .args(["--prefix", &format!("{to}-")])
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("rul replay");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn get(server: &common::Server, path: &str) -> serde_json::Value {
    let (status, body) = common::http(server.http, "GET", path, "text/plain", "");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

#[test]
fn replaying_fd001_test_over_both_routes_matches_predict() {
    let Some(data) = rul_testkit::cmapss_dir() else {
        return;
    };
    let db = tempfile::tempdir().expect("tempdir");
    let server = serve(&format!(
        "sqlite://{}",
        db.path().join("fleet.db").display()
    ));
    let fd001 = rul_data::load_subset(&data, rul_data::Subset::FD001).expect("FD001");
    let total: usize = fd001.test.iter().map(|e| e.cycles.len()).sum();
    for to in ["grpc", "rest"] {
        let report = replay(&server, to, &data);
        assert_eq!(report["accepted"], total, "{to}: {report}");
        assert_eq!(report["errors"], 0, "{to}: {report}");
        assert!(!report["ranking"].as_array().expect("ranking").is_empty());
    }
    let page = get(&server, "/engines?limit=1000");
    assert_eq!(page["total"], 200, "100 engines per route");
    let lowers: Vec<f64> = page["engines"]
        .as_array()
        .expect("engines")
        .iter()
        .map(|e| e["latest"]["lower"].as_f64().expect("lower"))
        .collect();
    assert!(
        lowers.windows(2).all(|w| w[0] <= w[1]),
        "sorted by lower bound"
    );
    for engine in fd001.test.iter().step_by(7) {
        let history: Vec<serde_json::Value> = (0..engine.cycles.len())
            .map(|c| {
                let mut r = rul_client::replay::reading_json(engine, c);
                // /predict takes only the model's inputs; the fleet routes accept every sensor.
                if let Some(o) = r.as_object_mut() {
                    o.retain(|k, _| rul_data::DEFAULT_SENSORS.contains(&k.as_str()));
                }
                r
            })
            .collect();
        let body = serde_json::json!({ "engine_id": "full", "sensor_data": history }).to_string();
        let (status, text) =
            common::http(server.http, "POST", "/predict", "application/json", &body);
        assert_eq!(status, 200, "{text}");
        let expected =
            serde_json::from_str::<serde_json::Value>(&text).expect("json")["predicted_rul"]
                .as_f64()
                .expect("rul");
        for to in ["grpc", "rest"] {
            let view = get(&server, &format!("/engines/{to}-{:03}", engine.unit));
            let got = view["latest"]["rul_model"].as_f64().expect("rul_model");
            assert!(
                (got - expected).abs() < 1e-9,
                "{to} engine {}: {got} vs {expected}",
                engine.unit
            );
            assert_eq!(view["last_cycle"], engine.last_cycle());
        }
    }
    alerts_follow_the_trajectories(&server, &fd001.test);
    other_subsets_drift(&server, &data);
}

/// FD003's test engines (another fault mode) fed to the FD001 model: GET /drift names drifting FD003 engines
/// and no FD001 engine; readings outside the model's plausibility bounds are refused, not flagged.
fn other_subsets_drift(server: &common::Server, data: &Path) {
    let quiet = get(server, "/drift");
    assert_eq!(quiet["drifting"], 0, "FD001's own test engines: {quiet}");
    assert_eq!(quiet["sensors"].as_array().expect("sensors").len(), 14);
    let out = Command::new(env!("CARGO_BIN_EXE_rul"))
        .args(["replay", "--subset", "FD003", "--split", "test", "--json"])
        .args(["--to", "grpc", "--grpc", &server.grpc.to_string()])
        .args(["--prefix", "fd003-"])
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("rul replay");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert!(
        report["accepted"].as_u64().expect("accepted") > 10_000,
        "{report}"
    );
    let drift = get(server, "/drift");
    let ids: Vec<&str> = drift["engines"]
        .as_array()
        .expect("engines")
        .iter()
        .map(|e| e["engine_id"].as_str().expect("id"))
        .collect();
    assert!(ids.len() >= 20, "FD003 engines drift: {drift}");
    assert!(ids.iter().all(|id| id.starts_with("fd003-")), "{ids:?}");
}

/// With the default ALERT_RUL_BELOW=30 (clear above 40): each replayed engine has exactly as many alerts as its
/// stored trajectory crosses below 30 after being clear, so none opened twice for one crossing, and its quality
/// and drift are reported (the shipped model ships its training profile).
fn alerts_follow_the_trajectories(server: &common::Server, engines: &[rul_data::Engine]) {
    let listed = get(server, "/alerts?limit=1000");
    let alerts = listed["alerts"].as_array().expect("alerts");
    let mut crossing_engines = 0;
    for engine in engines {
        let id = format!("grpc-{:03}", engine.unit);
        let trajectory = get(server, &format!("/engines/{id}/predictions?limit=10000"));
        let mut active = false;
        let mut crossings = 0;
        for p in trajectory["predictions"].as_array().expect("predictions") {
            assert!(p["quality"]["flags"].is_array(), "{p}");
            let lower = p["lower"].as_f64().expect("lower");
            if !active && lower < 30.0 {
                active = true;
                crossings += 1;
            } else if active && lower > 40.0 {
                active = false;
            }
        }
        let raised = alerts
            .iter()
            .filter(|a| a["engine_id"] == id.as_str())
            .count();
        assert_eq!(raised, crossings, "{id}: alerts vs crossings");
        crossing_engines += usize::from(crossings > 0);
        let view = get(server, &format!("/engines/{id}"));
        assert_eq!(
            view["drift"]["drifting"], false,
            "{id}: FD001's own test engines stay quiet"
        );
    }
    assert!(
        crossing_engines > 0,
        "some FD001 test engines end near failure"
    );
}

#[test]
fn kill_9_loses_no_acknowledged_reading() {
    let Some(data) = rul_testkit::cmapss_dir() else {
        return;
    };
    let db = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", db.path().join("fleet.db").display());
    let fd001 = rul_data::load_subset(&data, rul_data::Subset::FD001).expect("FD001");
    let engines: Vec<_> = fd001.test.into_iter().take(20).collect();
    let order = rul_client::replay::interleaved(&engines);
    let mut server = serve(&url);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let acked = runtime.block_on(async {
        let mut client = rul_client::grpc_client(&server.grpc.to_string())
            .await
            .expect("client");
        let messages: Vec<pb::ReadingMessage> = order
            .iter()
            .map(|&(e, c)| rul_client::replay::reading_message("k-", &engines[e], c))
            .collect();
        let mut acks = client
            .stream_readings(tokio_stream::iter(messages))
            .await
            .expect("stream")
            .into_inner();
        let mut acked = Vec::new();
        while let Some(Ok(ack)) = acks.next().await {
            if matches!(ack.result, Some(reading_ack::Result::Prediction(_))) {
                acked.push((ack.engine_id.clone(), ack.cycle));
            }
            if acked.len() == 500 {
                // SIGKILL: no drain, no flush; whatever was acknowledged must already be committed.
                server.child.kill().expect("kill -9");
                server.child.wait().expect("reaped");
            }
        }
        acked
    });
    assert!(
        acked.len() >= 500,
        "only {} acks before the kill",
        acked.len()
    );
    let restarted = serve(&url);
    let mut stored = std::collections::HashSet::new();
    for engine in &engines {
        let id = format!("k-{:03}", engine.unit);
        let (status, body) = common::http(
            restarted.http,
            "GET",
            &format!("/engines/{id}/readings?limit=10000"),
            "text/plain",
            "",
        );
        if status == 404 {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        for r in v["readings"].as_array().expect("readings") {
            stored.insert((id.clone(), r["cycle"].as_u64().expect("cycle")));
        }
    }
    let lost: Vec<_> = acked.iter().filter(|a| !stored.contains(a)).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged readings lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
}
