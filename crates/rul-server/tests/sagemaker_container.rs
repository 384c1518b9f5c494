//! The SageMaker container contract in process: /ping before and after the model is warm, /invocations with
//! TensorFlow-Serving JSON (normalised arrays and raw objects) and CSV (with and without a header) agreeing with
//! /predict, wrong shapes answered 4xx with the one error shape, and SageMaker's 6 MB body limit.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use rul_server::config::{INVOCATIONS_MAX_BYTES, SageMakerArgs};
use rul_server::input::{RawRequest, to_core_request};
use rul_server::{AppState, ServerConfig, http_router};
use serde_json::{Value, json};
use tower::ServiceExt;

fn container_config() -> ServerConfig {
    ServerConfig {
        sagemaker: SageMakerArgs {
            container: true,
            ..SageMakerArgs::default()
        },
        ..config(artifact("container"))
    }
}

async fn container() -> Router {
    let config = container_config();
    http_router(AppState::new(ready_predictor(&config).await, &config, None))
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

fn invocation(content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post("/invocations")
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("request")
}

/// The REST answer for the same readings, for comparison.
async fn local_rul(router: &Router, n: usize) -> f64 {
    let request = Request::post("/predict")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(predict_body("cmp", n).to_string()))
        .expect("request");
    let (status, body) = send(router, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["predicted_rul"].as_f64().expect("rul")
}

/// The normalised window the serving model's preprocessor makes of `n` synthetic readings, as rows.
fn normalised_rows(n: usize) -> Vec<Vec<f64>> {
    let pre = rul_data::Preprocessor::load(&artifact("container").join("preprocessor.json"))
        .expect("preprocessor");
    let request = to_core_request(RawRequest {
        engine_id: "x".into(),
        readings: raw_readings(n),
        use_sagemaker: false,
    })
    .expect("valid");
    let prepared = pre.prepare(&request.readings).expect("prepare");
    prepared
        .input
        .chunks(pre.n_features())
        .map(|row| row.iter().map(|&v| f64::from(v)).collect())
        .collect()
}

fn prediction(body: &Value, i: usize) -> f64 {
    body["predictions"][i][0].as_f64().expect("prediction")
}

#[tokio::test]
async fn ping_is_503_until_the_model_is_warm_then_200() {
    let cold_config = container_config();
    let cold = http_router(AppState::new(broken_predictor(), &cold_config, None));
    let ping = || Request::get("/ping").body(Body::empty()).expect("request");
    let (status, body) = send(&cold, ping()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let (status, body) = send(&cold, invocation("text/csv", "0.1")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["type"], "not_ready");

    let warm = container().await;
    let (status, body) = send(&warm, ping()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ready"], true);

    // Outside container mode the SageMaker routes do not exist.
    let plain_config = config(artifact("container"));
    let plain = http_router(AppState::new(
        ready_predictor(&plain_config).await,
        &plain_config,
        None,
    ));
    assert_eq!(send(&plain, ping()).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn json_and_csv_invocations_agree_with_predict() {
    let router = container().await;
    let (n_long, n_short) = (45, 10);
    let (long, short) = (
        local_rul(&router, n_long).await,
        local_rul(&router, n_short).await,
    );
    let close = |a: f64, b: f64| (a - b).abs() < 1e-3;

    // Normalised arrays, two windows (the short one is the padded full window the preprocessor made).
    let body = json!({ "instances": [normalised_rows(n_long), normalised_rows(n_short)] });
    let (status, answer) = send(&router, invocation("application/json", body.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(close(prediction(&answer, 0), long), "{answer} vs {long}");
    assert!(close(prediction(&answer, 1), short), "{answer} vs {short}");
    assert!(answer["model_version"].is_string());

    // Raw readings as objects.
    let body = json!({ "instances": [readings_json(n_long), readings_json(n_short)] });
    let (status, answer) = send(
        &router,
        invocation("application/json; charset=utf-8", body.to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(close(prediction(&answer, 0), long), "{answer} vs {long}");
    assert!(close(prediction(&answer, 1), short), "{answer} vs {short}");

    // CSV without a header: normalised rows.
    let csv: String = normalised_rows(n_long)
        .iter()
        .map(|row| {
            let cells: Vec<String> = row.iter().map(f64::to_string).collect();
            cells.join(",") + "\n"
        })
        .collect();
    let (status, answer) = send(&router, invocation("text/csv", csv)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(close(prediction(&answer, 0), long), "{answer} vs {long}");

    // CSV with a header: raw readings.
    let mut csv = SENSORS.join(",") + "\n";
    for reading in readings_json(n_long) {
        let cells: Vec<String> = SENSORS.iter().map(|s| reading[s].to_string()).collect();
        csv += &(cells.join(",") + "\n");
    }
    let (status, answer) = send(&router, invocation("text/csv", csv)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(close(prediction(&answer, 0), long), "{answer} vs {long}");
}

#[tokio::test]
async fn wrong_shapes_are_structured_4xx() {
    let router = container().await;
    let features = normalised_rows(1)[0].len();
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("application/json", "{".into(), 400, "invalid_json"),
        ("application/json", "[]".into(), 400, "invalid_request"),
        (
            "application/json",
            r#"{"inputs": []}"#.into(),
            400,
            "invalid_request",
        ),
        (
            "application/json",
            r#"{"instances": []}"#.into(),
            422,
            "validation",
        ),
        (
            "application/json",
            r#"{"instances": [[]]}"#.into(),
            422,
            "validation",
        ),
        (
            "application/json",
            r#"{"instances": [[[0.5]]]}"#.into(),
            422,
            "validation",
        ),
        (
            "application/json",
            json!({"instances": [[vec![1e9; features]]]}).to_string(),
            422,
            "validation",
        ),
        (
            "application/json",
            r#"{"instances": [[[0.5], {"s2": 1}]]}"#.into(),
            400,
            "invalid_request",
        ),
        (
            "application/json",
            r#"{"instances": [[{"s2": 642.0}]]}"#.into(),
            422,
            "validation",
        ),
        (
            "application/json",
            r#"{"instances": [[{"s99": 1}]]}"#.into(),
            400,
            "invalid_request",
        ),
        (
            "application/json",
            json!({"instances": vec![vec![vec![0.5; features]]; 257]}).to_string(),
            422,
            "validation",
        ),
        ("text/csv", "".into(), 422, "validation"),
        ("text/csv", "0.1,abc\n".into(), 400, "invalid_request"),
        ("text/csv", "s2,nope\n1,2\n".into(), 400, "invalid_request"),
        ("text/csv", "0.1,0.2\n".into(), 422, "validation"),
        (
            "application/x-npy",
            "\u{93}NUMPY".into(),
            415,
            "unsupported_media_type",
        ),
    ];
    for (content_type, body, expected, kind) in cases {
        let (status, answer) = send(&router, invocation(content_type, body.clone())).await;
        assert_eq!(
            status.as_u16(),
            expected,
            "{content_type} {body:.80}: {answer}"
        );
        assert_eq!(answer["type"], kind, "{body:.80}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    // A raw-reading violation names the window.
    let body = json!({ "instances": [readings_json(5), [{"s2": 642.0}]] });
    let (_, answer) = send(&router, invocation("application/json", body.to_string())).await;
    let fields: Vec<&str> = answer["details"]
        .as_array()
        .expect("violations")
        .iter()
        .filter_map(|v| v["field"].as_str())
        .collect();
    assert!(
        fields.iter().all(|f| f.starts_with("instances[1]")),
        "{fields:?}"
    );
}

#[tokio::test]
async fn bodies_over_six_megabytes_are_413_and_large_ones_below_are_served() {
    let router = container().await;
    let oversize = vec![b' '; INVOCATIONS_MAX_BYTES + 1];
    let (status, answer) = send(&router, invocation("application/json", oversize)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["type"], "payload_too_large");

    // 2 MB (above the REST body limit of 1 MiB) is fine for /invocations: parsed off the async workers.
    let mut body = json!({ "instances": [normalised_rows(30)] }).to_string();
    body.push_str(&" ".repeat(2 * 1024 * 1024));
    let (status, answer) = send(&router, invocation("application/json", body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}
