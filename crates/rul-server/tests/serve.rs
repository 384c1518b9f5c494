//! Whole-process tests through `serve_with_listeners` on ephemeral ports: readiness drives health, REST and gRPC
//! agree, metrics move, shutdown drains in-flight requests, startup failures are reported; plus the client and
//! the load generator against the live server.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::running::Running;
use common::*;
use rul_client::{PredictCall, loadgen};
use rul_server::grpc::pb::prediction_service_client::PredictionServiceClient;
use rul_server::grpc::{convert, pb};
use rul_server::{ServeError, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

#[tokio::test]
async fn rest_and_grpc_agree_and_metrics_move() {
    // Expectations that match the artifact do not stop startup. The cache is off, so both answers come from
    // the model, not one from the other's cached entry.
    let config = ServerConfig {
        rul_ceiling: Some(125.0),
        cache_capacity: 0,
        ..config(artifact("serve"))
    };
    let server = Running::start(config).await;
    server.wait_serving().await;
    let http = reqwest::Client::new();
    let ready = http
        .get(url(server.http, "/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);

    let rest: serde_json::Value = http
        .post(url(server.http, "/predict"))
        .json(&predict_body("same-engine", 45))
        .send()
        .await
        .expect("rest")
        .json()
        .await
        .expect("json");
    let mut grpc = PredictionServiceClient::connect(format!("http://{}", server.grpc))
        .await
        .expect("connect");
    let answer = grpc
        .predict_rul(pb::RulRequest {
            engine_id: "same-engine".into(),
            sensor_data: raw_readings(45)
                .iter()
                .map(convert::proto_reading)
                .collect(),
            use_sagemaker: false,
        })
        .await
        .expect("grpc")
        .into_inner();
    let rest_rul = rest["predicted_rul"].as_f64().expect("rest rul");
    assert!(
        (rest_rul - answer.rul).abs() < 1e-9,
        "REST {rest_rul} vs gRPC {}",
        answer.rul
    );
    assert_eq!(rest["model_version"], answer.model_version.as_str());
    assert_eq!(answer.predicted_rul, rest_rul.trunc() as i32);
    assert_eq!(rest["cached"], false, "{rest}");
    assert!(!answer.cached);

    let text = http
        .get(url(server.http, "/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        text.lines().any(|l| l.starts_with("rul_requests_total{")
            && l.contains("transport=\"grpc\"")
            && l.contains("route=\"/rul.v1.PredictionService/PredictRUL\"")
            && l.contains("status=\"0\"")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("rul_requests_total{")
            && l.contains("transport=\"http\"")
            && l.contains("route=\"/predict\"")),
        "{text}"
    );
    assert!(
        text.contains("rul_request_duration_seconds_bucket{transport=\"grpc\""),
        "{text}"
    );
    server.stop().await.expect("clean stop");
}

/// Reads one response head (up to the blank line) from `stream`.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("an answer in time")
            .expect("read");
        assert_eq!(
            n,
            1,
            "connection closed after {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let server = Running::start(config(artifact("serve"))).await;
    server.wait_serving().await;
    let body = predict_body("in-flight", 30).to_string();
    let (first, second) = body.as_bytes().split_at(body.len() / 2);
    let mut stream = TcpStream::connect(server.http).await.expect("connect");
    // `Expect: 100-continue`: the server's interim answer says the handler is reading the body, so the request is
    // in flight before the stop (an explicit signal instead of a sleep).
    let head = format!(
        "POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let interim = read_head(&mut stream).await;
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    stream.write_all(first).await.expect("first half");

    // Shut down while the request is half sent; once the drain has begun (health leaves SERVING), the server
    // must still be waiting for that request.
    let mut health = server.health().await;
    let http_addr = server.http;
    let Running { stop, task, .. } = server;
    let _ = stop.expect("sender").send(());
    while common::running::grpc_status(&mut health).await
        == Some(tonic_health::pb::health_check_response::ServingStatus::Serving)
    {
        tokio::task::yield_now().await;
    }
    assert!(
        !task.is_finished(),
        "server must wait for the in-flight request"
    );

    stream.write_all(second).await.expect("second half");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("\"predicted_rul\""), "{text}");

    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("stops")
        .expect("join")
        .expect("clean stop");
    assert!(
        TcpStream::connect(http_addr).await.is_err(),
        "listener must be closed after shutdown"
    );
}

#[tokio::test]
async fn startup_fails_clearly_when_the_model_cannot_load() {
    let server = Running::start(config(&missing_artifact())).await;
    let result = tokio::time::timeout(Duration::from_secs(30), server.task)
        .await
        .expect("fails fast")
        .expect("join");
    match result {
        Err(ServeError::Model { path, .. }) => assert!(path.contains("no-such-artifact")),
        other => panic!("expected a model load error, got {other:?}"),
    }
}

#[tokio::test]
async fn startup_fails_when_the_artifact_disagrees_with_the_config() {
    let config = ServerConfig {
        sequence_length: Some(9999),
        ..config(artifact("serve"))
    };
    let server = Running::start(config).await;
    let result = tokio::time::timeout(Duration::from_secs(60), server.task)
        .await
        .expect("fails")
        .expect("join");
    match result {
        Err(ServeError::ArtifactMismatch(message)) => {
            assert!(message.contains("SEQUENCE_LENGTH=9999"), "{message}")
        }
        other => panic!("expected a mismatch error, got {other:?}"),
    }
}

#[tokio::test]
async fn startup_fails_when_the_ceiling_disagrees() {
    let config = ServerConfig {
        rul_ceiling: Some(99.0),
        ..config(artifact("serve"))
    };
    let server = Running::start(config).await;
    let result = tokio::time::timeout(Duration::from_secs(60), server.task)
        .await
        .expect("fails")
        .expect("join");
    match result {
        Err(ServeError::ArtifactMismatch(message)) => {
            assert!(message.contains("RUL_CEILING=99"), "{message}")
        }
        other => panic!("expected a mismatch error, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_config_is_refused_before_serving() {
    let config = ServerConfig {
        max_batch: 0,
        ..config(artifact("serve"))
    };
    let server = Running::start(config).await;
    let result = tokio::time::timeout(Duration::from_secs(5), server.task)
        .await
        .expect("fails")
        .expect("join");
    assert!(matches!(result, Err(ServeError::Config(_))), "{result:?}");
}

#[tokio::test]
async fn client_and_load_generator_work_against_a_live_server() {
    let server = Running::start(config(artifact("serve"))).await;
    server.wait_serving().await;

    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("readings.csv");
    let mut text = SENSORS.join(",");
    text.push('\n');
    for reading in raw_readings(35) {
        let row: Vec<String> = SENSORS
            .iter()
            .map(|s| {
                reading.sensors[s[1..].parse::<usize>().expect("index") - 1]
                    .expect("value")
                    .to_string()
            })
            .collect();
        text.push_str(&row.join(","));
        text.push('\n');
    }
    std::fs::write(&csv, text).expect("write csv");
    let readings = rul_client::read_readings_file(&csv).expect("readings");
    let grpc_addr = server.grpc.to_string();
    let out =
        rul_client::predict_grpc(&grpc_addr, "cli-engine", &readings, Duration::from_secs(10))
            .await
            .expect("predict");
    assert_eq!(out.engine_id, "cli-engine");
    let rest = rul_client::predict_http(
        &server.http.to_string(),
        "cli-engine",
        &readings,
        Duration::from_secs(10),
    )
    .await
    .expect("predict http");
    assert!((rest.rul - out.rul).abs() < 1e-9);
    assert_eq!(
        (
            rest.predicted_rul,
            rest.lower,
            rest.upper,
            &rest.model_version
        ),
        (out.predicted_rul, out.lower, out.upper, &out.model_version)
    );
    let err = rul_client::predict_grpc(&grpc_addr, "", &readings, Duration::from_secs(10))
        .await
        .expect_err("invalid");
    assert!(
        matches!(
            err,
            rul_client::ClientError::Status(tonic::Code::InvalidArgument, _)
        ),
        "{err:?}"
    );

    let bodies: Vec<PredictCall> = (0..3)
        .map(|i| serde_json::from_value(predict_body(&format!("lg-{i}"), 30)).expect("body"))
        .collect();
    let plan = loadgen::LoadgenConfig {
        grpc: Some(grpc_addr),
        http: Some(server.http.to_string()),
        requests: bodies,
        concurrency: vec![1, 4],
        duration: Duration::from_secs(2),
        max_requests: 40,
        timeout: Duration::from_secs(5),
        unique_engine_ids: true,
    };
    let report = loadgen::run(&plan).await.expect("loadgen");
    assert_eq!(report.rows.len(), 4);
    for row in &report.rows {
        assert_eq!(row.errors, 0, "{row:?}");
        assert!(row.requests > 0 && row.requests <= 40, "{row:?}");
        assert!(
            row.p50_ms <= row.p95_ms && row.p95_ms <= row.p99_ms && row.p99_ms <= row.max_ms,
            "{row:?}"
        );
    }
    assert!(report.to_markdown().contains("| grpc | 4 |"));
    server.stop().await.expect("clean stop");
}
