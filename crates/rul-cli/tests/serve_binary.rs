//! Starts the real `rul serve` binary with environment configuration on ephemeral ports, checks
//! REST and gRPC agree, that /metrics moves, and that SIGTERM lets an in-flight request finish.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    http: SocketAddr,
    grpc: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(model: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rul"))
        .arg("serve")
        .env("MODEL_PATH", model)
        .env("HOST", "127.0.0.1")
        .env("HTTP_PORT", "0")
        .env("GRPC_PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "info")
        .env("SHUTDOWN_GRACE_SECS", "20")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn rul serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (http, grpc) = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("read log line");
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v["message"] == "listening" {
            let addr = |k: &str| {
                v[k].as_str()
                    .expect("address")
                    .parse::<SocketAddr>()
                    .expect("socket address")
            };
            break (addr("http"), addr("grpc"));
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, http, grpc }
}

/// A minimal HTTP/1.1 exchange; returns (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    read_response(&mut s)
}

fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn wait_ready(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http(addr, "GET", "/ready", "").0 == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server never became ready");
}

/// A history of 40 cycles from the synthetic fleet the test model was trained on.
fn readings() -> Vec<serde_json::Value> {
    let engine = &rul_data::synthetic::fleet(3, 11)[0];
    engine.cycles[engine.cycles.len() - 40..]
        .iter()
        .map(|c| {
            let mut o = serde_json::Map::new();
            for s in rul_data::DEFAULT_SENSORS {
                let i = rul_data::sensor_index(s).expect("sensor");
                o.insert(s.into(), c.sensors[i].into());
            }
            serde_json::Value::Object(o)
        })
        .collect()
}

#[test]
fn serve_binary_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    rul_model::write_test_artifact(&model, 5).expect("test artifact");
    let mut server = start(&model);
    wait_ready(server.http);

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
    std::thread::sleep(Duration::from_millis(300));
    inflight
        .write_all(rest_of_body.as_bytes())
        .expect("finish body");
    let (status, text) = read_response(&mut inflight);
    assert_eq!(status, 200, "in-flight request after SIGTERM: {text}");
    let exit = server.child.wait().expect("wait");
    assert!(exit.success(), "exit status {exit:?}");
}
