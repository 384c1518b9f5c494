//! The SageMaker client through the real AWS SDK against a loopback stand-in of the SageMaker runtime (which hands
//! the body to our own container's /invocations): signed requests, agreement with the local model, every fault
//! answered locally with source `local_fallback` and counted, and the circuit breaker's transitions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::standin::{Fault, StandIn};
use common::*;
use rul_core::{BreakerConfig, BreakerState, Predictor, Remote};
use rul_sagemaker::{CredentialSource, SageMakerBackend, SageMakerSettings};
use rul_server::config::SageMakerArgs;
use rul_server::{AppState, ServerConfig, http_router};
use serde_json::{Value, json};
use tower::ServiceExt;

const ENDPOINT: &str = "rul-test-endpoint";

fn container_config() -> ServerConfig {
    ServerConfig {
        sagemaker: SageMakerArgs {
            container: true,
            ..SageMakerArgs::default()
        },
        ..config(artifact("sagemaker"))
    }
}

/// Our own container (SageMaker mode) as a router, for the stand-in to forward to.
async fn container() -> Router {
    let config = container_config();
    http_router(AppState::new(ready_predictor(&config).await, &config, None))
}

/// A service whose `use_sagemaker` requests go to `url` (fake static credentials, short timeouts, no retries).
async fn client(url: &str, breaker: BreakerConfig) -> (Router, Predictor) {
    let settings = SageMakerSettings {
        endpoint: ENDPOINT.into(),
        region: "us-east-1".into(),
        endpoint_url: Some(url.to_string()),
        timeout: Duration::from_millis(1_500),
        attempt_timeout: Duration::from_millis(700),
        connect_timeout: Duration::from_millis(500),
        max_attempts: 1,
    };
    let credentials = CredentialSource::Static {
        access_key_id: "AKIDSTANDINTEST".into(),
        secret_access_key: "stand-in-secret-key".into(),
    };
    let backend = SageMakerBackend::new(&settings, credentials).await;
    let config = config(artifact("sagemaker"));
    let predictor = Predictor::start_with_remote(
        config.predictor_config(),
        Some(Remote::new(Arc::new(backend), breaker)),
    );
    predictor.wait_ready().await.expect("model loads");
    let metrics = rul_server::metrics::install().ok();
    (
        http_router(AppState::new(predictor.clone(), &config, metrics)),
        predictor,
    )
}

fn no_trip() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 1_000,
        cooldown: Duration::from_secs(60),
    }
}

async fn predict(router: &Router, engine: &str, n: usize, use_sagemaker: bool) -> Value {
    let mut body = predict_body(engine, n);
    body["use_sagemaker"] = json!(use_sagemaker);
    let request = Request::post("/predict")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let value: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(status, StatusCode::OK, "{value}");
    value
}

fn rul(v: &Value) -> f64 {
    v["predicted_rul"].as_f64().expect("predicted_rul")
}

/// The value of a counter series in Prometheus text, 0 when absent.
fn counter(series: &str) -> f64 {
    let text = rul_server::metrics::install().expect("metrics").render();
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn sagemaker_answers_signed_and_agrees_with_local() {
    let standin = StandIn::start(container().await).await;
    let (router, _) = client(&standin.url(), no_trip()).await;
    for n in [45, 12] {
        let local = predict(&router, "engine-a", n, false).await;
        let remote = predict(&router, "engine-a", n, true).await;
        assert_eq!(local["source"], "local");
        assert_eq!(remote["source"], "sagemaker", "{remote}");
        assert!(remote["fallback_reason"].is_null(), "{remote}");
        assert!(local["fallback_reason"].is_null(), "{local}");
        assert!(
            (rul(&local) - rul(&remote)).abs() < 1e-3,
            "local {local} vs sagemaker {remote}"
        );
        assert_eq!(remote["padded"], local["padded"]);
        assert_eq!(remote["model_version"], local["model_version"]);
        assert_eq!(remote["interval"], local["interval"]);
    }
    let seen = standin.seen();
    assert_eq!(seen.len(), 2);
    for s in seen {
        assert_eq!(s.endpoint, ENDPOINT);
        assert!(
            s.authorization.starts_with("AWS4-HMAC-SHA256 "),
            "not SigV4: {:?}",
            s.authorization
        );
        assert!(s.authorization.contains("Credential=AKIDSTANDINTEST/"));
        assert!(s.authorization.contains("/sagemaker/aws4_request"));
        assert_eq!(s.content_type, "application/json");
    }
}

#[tokio::test]
async fn every_fault_is_answered_locally_and_counted() {
    let standin = StandIn::start(container().await).await;
    let (router, _) = client(&standin.url(), no_trip()).await;
    let local = rul(&predict(&router, "engine-f", 40, false).await);
    for (fault, reason) in [
        (Fault::ServerError, "server_error"),
        (Fault::ModelError, "model_error"),
        (Fault::Malformed, "malformed"),
        (Fault::Slow, "timeout"),
        (Fault::Throttle, "throttled"),
        // Well-formed but implausible for a model with a 125-cycle ceiling: never served as the remote answer.
        (Fault::Huge, "malformed"),
        (Fault::HugelyNegative, "malformed"),
    ] {
        standin.set(fault);
        let series = format!("rul_remote_fallbacks_total{{reason=\"{reason}\"}}");
        let before = counter(&series);
        let answer = predict(&router, "engine-f", 40, true).await;
        assert_eq!(answer["source"], "local_fallback", "{fault:?}: {answer}");
        assert_eq!(answer["fallback_reason"], reason, "{fault:?}: {answer}");
        assert!((rul(&answer) - local).abs() < 1e-9, "{fault:?}");
        assert!(counter(&series) >= before + 1.0, "{series} not counted");
    }
    // Healthy again.
    standin.set(Fault::None);
    assert_eq!(
        predict(&router, "engine-f", 40, true).await["source"],
        "sagemaker"
    );

    // Nothing listening: connection refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let (router, _) = client(&url, no_trip()).await;
    let before = counter("rul_remote_fallbacks_total{reason=\"connect\"}");
    let answer = predict(&router, "engine-f", 40, true).await;
    assert_eq!(answer["source"], "local_fallback", "{answer}");
    assert_eq!(answer["fallback_reason"], "connect", "{answer}");
    assert!(counter("rul_remote_fallbacks_total{reason=\"connect\"}") >= before + 1.0);
}

#[tokio::test]
async fn breaker_opens_after_failures_and_closes_after_the_cooldown() {
    let standin = StandIn::start(container().await).await;
    let breaker = BreakerConfig {
        failure_threshold: 2,
        cooldown: Duration::from_millis(200),
    };
    let (router, predictor) = client(&standin.url(), breaker).await;
    let state = || predictor.remote().expect("remote").breaker_state();
    standin.set(Fault::ServerError);
    for _ in 0..2 {
        assert_eq!(
            predict(&router, "engine-b", 30, true).await["fallback_reason"],
            "server_error"
        );
    }
    assert_eq!(state(), BreakerState::Open);
    let calls = standin.seen().len();
    standin.set(Fault::None);
    let next = predict(&router, "engine-b", 30, true).await;
    if next["source"] == "local_fallback" {
        // Still cooling down: refused without a call.
        assert_eq!(next["fallback_reason"], "circuit_open", "{next}");
        assert_eq!(standin.seen().len(), calls, "an open breaker called out");
        // After the cool-down the breaker lets one probe through; it succeeds, so the breaker closes.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while state() == BreakerState::Open {
            assert!(tokio::time::Instant::now() < deadline, "never half-open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(state(), BreakerState::HalfOpen);
        let probe = predict(&router, "engine-b", 30, true).await;
        assert_eq!(probe["source"], "sagemaker", "{probe}");
    } else {
        // The cool-down had already passed: that request was the half-open probe.
        assert_eq!(next["source"], "sagemaker", "{next}");
    }
    assert_eq!(state(), BreakerState::Closed);
}

#[tokio::test]
async fn breaker_refuses_without_calling_while_open() {
    let standin = StandIn::start(container().await).await;
    let breaker = BreakerConfig {
        failure_threshold: 1,
        cooldown: Duration::from_secs(3_600),
    };
    let (router, predictor) = client(&standin.url(), breaker).await;
    standin.set(Fault::ModelError);
    predict(&router, "engine-o", 30, true).await;
    assert_eq!(
        predictor.remote().expect("remote").breaker_state(),
        BreakerState::Open
    );
    let before = counter("rul_remote_fallbacks_total{reason=\"circuit_open\"}");
    let answer = predict(&router, "engine-o", 30, true).await;
    assert_eq!(answer["fallback_reason"], "circuit_open");
    assert_eq!(
        standin.seen().len(),
        1,
        "the open breaker let a call through"
    );
    assert!(counter("rul_remote_fallbacks_total{reason=\"circuit_open\"}") >= before + 1.0);
}

#[tokio::test]
async fn batch_routes_each_item_and_without_an_endpoint_answers_locally() {
    let standin = StandIn::start(container().await).await;
    let (router, _) = client(&standin.url(), no_trip()).await;
    let mut items: Vec<Value> = (0..4).map(|i| predict_body(&format!("e{i}"), 35)).collect();
    items[1]["use_sagemaker"] = json!(true);
    items[3]["use_sagemaker"] = json!(true);
    let request = Request::post("/predict/batch")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "requests": items }).to_string()))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let body: Value = serde_json::from_slice(&bytes).expect("json");
    let sources: Vec<&str> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["prediction"]["source"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(sources, ["local", "sagemaker", "local", "sagemaker"]);
    assert_eq!(standin.seen().len(), 1, "remote items share one call");

    // No endpoint configured: answered locally, saying so.
    let config = config(artifact("sagemaker"));
    let plain = http_router(AppState::new(ready_predictor(&config).await, &config, None));
    let answer = predict(&plain, "engine-n", 30, true).await;
    assert_eq!(answer["source"], "local_fallback");
    assert_eq!(answer["fallback_reason"], "not_configured");
}
