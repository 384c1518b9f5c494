//! The MLflow client and run against a stub tracking server (plain HTTP on a loopback port):
//! the request sequence and bodies of one run, and a server error turning MLflow off for the
//! rest of the run with one warning while the local record completes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use rul_track::local::read_run;
use rul_track::{Run, RunEnd, RunSpec, RunStatus, TrackSettings};
use serde_json::Value;

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Starts a stub answering like MLflow; `fail_log_batch` makes runs/log-batch answer 500.
fn stub(fail_log_batch: bool) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or_default().to_string();
            let target = parts.next().unwrap_or_default().to_string();
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = header.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let path = target.split('?').next().unwrap_or_default().to_string();
            let (status, answer) = match (method.as_str(), path.as_str()) {
                ("GET", "/api/2.0/mlflow/experiments/get-by-name") => (
                    "404 Not Found",
                    r#"{"error_code":"RESOURCE_DOES_NOT_EXIST","message":"no such experiment"}"#,
                ),
                ("POST", "/api/2.0/mlflow/experiments/create") => {
                    ("200 OK", r#"{"experiment_id":"7"}"#)
                }
                ("POST", "/api/2.0/mlflow/runs/create") => (
                    "200 OK",
                    r#"{"run":{"info":{"run_id":"r1","artifact_uri":"mlflow-artifacts:/7/r1/artifacts"}}}"#,
                ),
                ("POST", "/api/2.0/mlflow/runs/log-batch") if fail_log_batch => (
                    "500 Internal Server Error",
                    r#"{"error_code":"INTERNAL_ERROR","message":"disk full"}"#,
                ),
                _ => ("200 OK", "{}"),
            };
            log.lock().unwrap().push(Seen { method, path, body });
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (format!("http://{addr}"), seen)
}

fn spec() -> RunSpec {
    RunSpec {
        name: "stub-run".into(),
        params: BTreeMap::from([
            ("epochs".into(), "2".into()),
            ("model.kind".into(), "lstm".into()),
        ]),
        tags: BTreeMap::from([("rul.subset".into(), "FD001".into())]),
        data_files: BTreeMap::from([("train_FD001.txt".into(), "ab12".into())]),
    }
}

#[test]
fn one_run_makes_the_expected_requests() {
    let (uri, seen) = stub(false);
    let tmp = tempfile::tempdir().unwrap();
    let artifact = tmp.path().join("artifact");
    std::fs::create_dir_all(artifact.join("sub")).unwrap();
    std::fs::write(artifact.join("model.json"), b"{}").unwrap();
    std::fs::write(artifact.join("sub/w.bin"), b"0123").unwrap();
    let settings = TrackSettings {
        runs_dir: Some(tmp.path().join("runs")),
        mlflow_uri: Some(uri),
        experiment: "exp".into(),
    };
    let mut run = Run::start(&settings, spec()).unwrap();
    run.log_step(1, &[("val_rmse", 20.0), ("lr", 1e-3)]);
    run.log_step(2, &[("val_rmse", 18.5), ("lr", f64::NAN)]);
    let record = run.finish(RunEnd {
        error: None,
        metrics: BTreeMap::from([("test_rmse".into(), 17.0)]),
        artifact: Some(artifact.clone()),
    });
    assert!(record.warnings.is_empty(), "{:?}", record.warnings);
    assert_eq!(
        record.mlflow.as_ref().map(|m| m.run_id.as_str()),
        Some("r1")
    );

    let seen = seen.lock().unwrap().clone();
    let calls: Vec<String> = seen
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    assert_eq!(
        calls,
        vec![
            "GET /api/2.0/mlflow/experiments/get-by-name",
            "POST /api/2.0/mlflow/experiments/create",
            "POST /api/2.0/mlflow/runs/create",
            "POST /api/2.0/mlflow/runs/log-batch",
            "POST /api/2.0/mlflow/runs/log-batch",
            "POST /api/2.0/mlflow/runs/log-batch",
            "POST /api/2.0/mlflow/runs/log-batch",
            "POST /api/2.0/mlflow/runs/log-batch",
            "PUT /api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/model/model.json",
            "PUT /api/2.0/mlflow-artifacts/artifacts/7/r1/artifacts/model/sub/w.bin",
            "POST /api/2.0/mlflow/runs/update",
        ]
    );
    let create = seen[2].json();
    assert_eq!(create["experiment_id"], "7");
    assert_eq!(create["run_name"], "stub-run");
    let params = seen[3].json();
    let keys: Vec<&str> = params["params"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        vec!["epochs", "model.kind", "data.train_FD001.txt.sha256"]
    );
    let step2 = seen[5].json();
    let metrics = step2["metrics"].as_array().unwrap();
    assert_eq!(
        metrics.len(),
        1,
        "the NaN learning rate is left out: {metrics:?}"
    );
    assert_eq!(metrics[0]["key"], "val_rmse");
    assert_eq!(metrics[0]["step"], 2);
    assert_eq!(seen[6].json()["tags"][0]["key"], "rul.status");
    assert_eq!(seen[7].json()["metrics"][0]["key"], "test_rmse");
    assert_eq!(seen[9].body, b"0123");
    assert_eq!(seen[10].json()["status"], "FINISHED");

    let (local, lines) = read_run(&tmp.path().join("runs").join(&record.id)).unwrap();
    assert_eq!(local, record);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].metrics.len(), 1);
}

#[test]
fn a_server_error_stops_mlflow_logging_with_one_warning() {
    let (uri, seen) = stub(true);
    let tmp = tempfile::tempdir().unwrap();
    let settings = TrackSettings {
        runs_dir: Some(tmp.path().join("runs")),
        mlflow_uri: Some(uri),
        experiment: "exp".into(),
    };
    let mut run = Run::start(&settings, spec()).unwrap();
    run.log_step(1, &[("val_rmse", 20.0)]);
    let record = run.finish(RunEnd {
        error: Some("diverged".into()),
        ..RunEnd::default()
    });
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.warnings.len(), 1, "{:?}", record.warnings);
    assert!(
        record.warnings[0].contains("disk full"),
        "{}",
        record.warnings[0]
    );
    // The params batch failed: nothing was sent after it.
    let calls = seen.lock().unwrap().len();
    assert_eq!(
        calls, 4,
        "get-by-name, create experiment, create run, one failed log-batch"
    );
    let (local, _) = read_run(&tmp.path().join("runs").join(&record.id)).unwrap();
    assert_eq!(local.status, RunStatus::Failed);
    assert_eq!(local.error.as_deref(), Some("diverged"));
}
