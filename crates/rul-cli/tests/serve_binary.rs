//! Starts the real `rul serve` binary with environment configuration on ephemeral ports, checks
//! REST and gRPC agree, that /metrics moves, and that SIGTERM first reports not-ready and lets an in-flight
//! request finish.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{read_response, readings};

fn start(model: &std::path::Path) -> common::Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rul"));
    command
        .arg("serve")
        .env("MODEL_PATH", model)
        .env("HTTP_PORT", "0")
        .env("SHUTDOWN_DELAY_SECS", "2");
    common::start(command)
}

/// A JSON exchange with the REST server; returns (status, body).
fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    common::http(addr, method, path, "application/json", body)
}

#[test]
fn serve_binary_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    rul_model::write_test_artifact(&model, 5).expect("test artifact");
    let mut server = start(&model);
    common::wait_for_200(server.http, "/ready");

    // REST and gRPC answer the same for the same engine history.
    let body = serde_json::json!({"engine_id": "e2e-1", "sensor_data": readings()}).to_string();
    let (status, text) = http(server.http, "POST", "/predict", &body);
    assert_eq!(status, 200, "{text}");
    let rest: serde_json::Value = serde_json::from_str(&text).expect("json");
    let file = dir.path().join("readings.json");
    std::fs::write(&file, serde_json::to_string(&readings()).expect("json")).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_rul"))
        .args(["predict", "--engine", "e2e-1", "--grpc"])
        .arg(server.grpc.to_string())
        .arg("--readings")
        .arg(&file)
        .output()
        .expect("rul predict");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let grpc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let (a, b) = (
        rest["predicted_rul"].as_f64().expect("rul"),
        grpc["rul"].as_f64().expect("rul"),
    );
    assert!((a - b).abs() < 1e-9, "REST {a} vs gRPC {b}");
    assert_eq!(rest["model_version"], grpc["model_version"]);

    // Metrics moved for both transports.
    let (status, metrics) = http(server.http, "GET", "/metrics", "");
    assert_eq!(status, 200);
    let counted = |transport: &str| {
        metrics.lines().any(|l| {
            l.starts_with("rul_requests_total{")
                && l.contains(&format!("transport=\"{transport}\""))
                && !l.ends_with(" 0")
        })
    };
    assert!(counted("http") && counted("grpc"), "{metrics}");
    assert!(metrics.contains("rul_predictions_total"), "{metrics}");

    // SIGHUP reloads the artifact at MODEL_PATH: swap in another model and watch the version change.
    let before = rest["model_version"].as_str().expect("version").to_string();
    let other = dir.path().join("other");
    rul_model::write_test_artifact(&other, 6).expect("second artifact");
    std::fs::rename(&model, dir.path().join("old")).expect("move old model");
    std::fs::rename(&other, &model).expect("move new model");
    let hup = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let (_, card) = http(server.http, "GET", "/model", "");
        let v: serde_json::Value = serde_json::from_str(&card).unwrap_or_default();
        let version = v["version"].as_str().unwrap_or_default().to_string();
        if (!version.is_empty() && version != before) || Instant::now() > deadline {
            break version;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_ne!(after, before, "SIGHUP did not reload the model");

    // SIGTERM while a request is half sent: it still completes, then the process exits cleanly.
    let mut inflight = TcpStream::connect(server.http).expect("connect");
    inflight
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = serde_json::json!({"engine_id": "e2e-2", "sensor_data": readings()}).to_string();
    let (first, rest_of_body) = body.split_at(body.len() / 2);
    write!(
        inflight,
        "POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    )
    .expect("write");
    inflight.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    // First the process reports not-ready while it still serves, so load balancers move away.
    let deadline = Instant::now() + Duration::from_secs(10);
    while http(server.http, "GET", "/ready", "").0 != 503 {
        assert!(
            Instant::now() < deadline,
            "/ready never answered 503 after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, _) = http(server.http, "GET", "/health", "");
    assert_eq!(status, 200, "still serving during the shutdown delay");
    inflight
        .write_all(rest_of_body.as_bytes())
        .expect("finish body");
    let (status, text) = read_response(&mut inflight);
    assert_eq!(status, 200, "in-flight request after SIGTERM: {text}");
    let exit = server.child.wait().expect("wait");
    assert!(exit.success(), "exit status {exit:?}");
}
