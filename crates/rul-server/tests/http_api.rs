//! REST router tests, in process with `oneshot` (no port): every documented status, the one error shape,
//! and a good request succeeding after each bad one.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use common::*;
use rul_server::{AppState, ServerConfig, http_router};
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN: &str = "test-admin-token-0123456789";

async fn router_with(config: ServerConfig) -> Router {
    let predictor = ready_predictor(&config).await;
    let metrics = rul_server::metrics::install().ok();
    http_router(AppState::new(predictor, &config, metrics))
}

async fn router() -> Router {
    router_with(config(artifact("http"))).await
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, value)
}

fn post(uri: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::post(uri);
    if let Some(ct) = content_type {
        builder = builder.header(header::CONTENT_TYPE, ct);
    }
    builder.body(body.into()).expect("request")
}

fn post_json(uri: &str, body: &Value) -> Request<Body> {
    post(uri, Some("application/json"), body.to_string())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("request")
}

/// Checks the one error shape and the class.
fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, kind: &str) {
    assert_eq!(status, expected, "body: {body}");
    assert!(body["error"].is_string(), "error missing: {body}");
    assert_eq!(body["type"], kind, "body: {body}");
    assert!(
        body.as_object().is_some_and(|o| o.contains_key("details")),
        "details missing: {body}"
    );
}

/// The router still answers a good request.
async fn assert_still_serves(router: &Router) {
    let (status, _, body) = send(
        router,
        post_json("/predict", &predict_body("follow-up", 40)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "follow-up failed: {body}");
}

#[tokio::test]
async fn health_reports_service() {
    let router = router().await;
    let (status, _, body) = send(&router, get("/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["service"], "ml-prediction-service");
    assert!(body["version"].is_string());
}

#[tokio::test]
async fn ready_is_503_until_a_model_serves() {
    let config = config(&missing_artifact());
    let state = AppState::new(broken_predictor(), &config, None);
    let router = http_router(state);
    let (status, _, body) = send(&router, get("/ready")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["ready"], false);
    let (status, _, body) = send(&router, post_json("/predict", &predict_body("1", 30))).await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    let (status, _, body) = send(&router, get("/model")).await;
    assert_error(status, &body, StatusCode::SERVICE_UNAVAILABLE, "not_ready");

    let router = router_with(common::config(artifact("http"))).await;
    let (status, _, body) = send(&router, get("/ready")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ready"], true);
}

#[tokio::test]
async fn predict_answers_with_interval_and_timestamp() {
    let router = router().await;
    let (status, headers, body) = send(
        &router,
        post_json("/predict", &predict_body("engine-7", 40)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["engine_id"], "engine-7");
    let rul = body["predicted_rul"].as_f64().expect("rul");
    assert!(rul >= 0.0);
    let (lower, upper) = (
        body["interval"]["lower"].as_f64().expect("lower"),
        body["interval"]["upper"].as_f64().expect("upper"),
    );
    assert!(lower <= upper && lower >= 0.0);
    assert!(
        body["interval"]["level"]
            .as_f64()
            .is_some_and(|l| l > 0.0 && l < 1.0)
    );
    assert!(
        body["confidence"]
            .as_f64()
            .is_some_and(|c| (0.0..=1.0).contains(&c))
    );
    assert!(
        body["model_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    assert!(
        body["timestamp"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z')),
        "{body}"
    );
    for key in ["tolerance", "padded", "padded_cycles", "source", "cached"] {
        assert!(!body[key].is_null(), "{key} missing: {body}");
    }
    assert_eq!(body["source"], "local");
    assert!(headers.contains_key("x-request-id"));

    // Fewer readings than the window are padded, and say so.
    let (status, _, body) = send(&router, post_json("/predict", &predict_body("short", 3))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["padded"], true);
    assert!(body["padded_cycles"].as_u64().is_some_and(|p| p > 0));
}

#[tokio::test]
async fn invalid_json_is_400() {
    let router = router().await;
    let (status, _, body) = send(
        &router,
        post("/predict", Some("application/json"), "{\"engine_id\": "),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    let (status, _, body) = send(
        &router,
        post("/predict", Some("application/json"), "not json at all"),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let router = router().await;
    let body_text = predict_body("1", 30).to_string();
    let (status, _, body) = send(
        &router,
        post("/predict", Some("text/plain"), body_text.clone()),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (status, _, body) = send(&router, post("/predict", None, body_text)).await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn missing_fields_are_400() {
    let router = router().await;
    let (status, _, body) = send(
        &router,
        post_json("/predict", &json!({ "sensor_data": readings_json(30) })),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    assert!(
        body["details"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("engine_id")),
        "{body}"
    );
    let (status, _, body) =
        send(&router, post_json("/predict", &json!({ "engine_id": "1" }))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn extra_fields_are_400() {
    let router = router().await;
    let mut body = predict_body("1", 30);
    body["unexpected"] = json!(true);
    let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_request");
    let mut body = predict_body("1", 30);
    body["sensor_data"][0]["s99"] = json!(1.0);
    let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_request");
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn wrong_types_are_400() {
    let router = router().await;
    // The reason is ours: the field's path and what it must be, not serde's "invalid type ... expected f64".
    for (pointer, bad, reason) in [
        ("/engine_id", json!(17), "engine_id must be a string"),
        (
            "/sensor_data",
            json!("many"),
            "sensor_data must be an array",
        ),
        (
            "/sensor_data/0/s2",
            json!(true),
            "sensor_data[0].s2 must be a number",
        ),
        (
            "/sensor_data/0/s2",
            json!("642.1"),
            "sensor_data[0].s2 must be a number",
        ),
        (
            "/sensor_data/0/s3",
            json!([1.0]),
            "sensor_data[0].s3 must be a number",
        ),
        (
            "/use_sagemaker",
            json!("yes"),
            "use_sagemaker must be true or false",
        ),
    ] {
        let mut body = predict_body("1", 30);
        body["use_sagemaker"] = json!(false);
        *body.pointer_mut(pointer).expect("pointer") = bad;
        let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(answer["details"]["reason"], reason, "{answer}");
    }
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn error_bodies_echo_little_and_stay_small() {
    let router = router().await;
    // A 900,000-character field name: the answer names it clipped, and the whole body stays under 16 KB.
    let long = "f".repeat(900_000);
    let mut body = predict_body("1", 30);
    body[long.as_str()] = json!(1);
    let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
    assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_request");
    let size = answer.to_string().len();
    assert!(size <= 16 * 1024, "{size} bytes");
    assert!(
        answer["details"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ffff…")),
        "{answer}"
    );
    // Thousands of violations (every sensor of 500 readings out of range): the first 20 are listed, within 16 KB.
    let mut wild = predict_body("1", 500);
    for reading in wild["sensor_data"].as_array_mut().expect("readings") {
        for s in SENSORS {
            reading[s] = json!(1e9);
        }
    }
    let (status, _, answer) = send(&router, post_json("/predict", &wild)).await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    assert!(answer.to_string().len() <= 16 * 1024);
    assert_eq!(answer["details"].as_array().map(Vec::len), Some(20));
    assert_still_serves(&router).await;
}

/// A valid body as text whose first s2 value is replaced by the raw JSON token `token`.
fn with_token(token: &str) -> String {
    let mut body = predict_body("1", 30);
    body["sensor_data"][0]["s2"] = json!(123456.5);
    let text = body.to_string();
    assert!(text.contains("123456.5"));
    text.replacen("123456.5", token, 1)
}

#[tokio::test]
async fn nan_and_infinity_strings_are_400() {
    let router = router().await;
    for bad in ["\"NaN\"", "\"Infinity\"", "\"-inf\"", "NaN", "Infinity"] {
        let body = with_token(bad);
        let (status, _, answer) =
            send(&router, post("/predict", Some("application/json"), body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(
            answer["type"] == "invalid_request" || answer["type"] == "invalid_json",
            "{answer}"
        );
    }
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn huge_numbers_are_rejected() {
    let router = router().await;
    let body = with_token("1e400");
    let (status, _, answer) = send(&router, post("/predict", Some("application/json"), body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // A finite but absurd value parses and is refused by validation (out of plausible bounds).
    let mut body = predict_body("1", 30);
    body["sensor_data"][5]["s7"] = json!(1e300);
    let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn empty_bodies_are_rejected() {
    let router = router().await;
    let (status, _, body) = send(&router, post("/predict", Some("application/json"), "")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    let (status, _, body) = send(&router, post("/predict", None, "")).await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (status, _, body) = send(&router, post_json("/predict", &json!({}))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let router = router_with(ServerConfig {
        body_limit_bytes: 4096,
        ..config(artifact("http"))
    })
    .await;
    let (status, _, body) = send(&router, post_json("/predict", &predict_body("1", 100))).await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let (status, _, body) = send(&router, post_json("/predict", &predict_body("1", 5))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn ten_thousand_readings_are_refused() {
    // Over the default 1 MiB body limit: 413 before parsing.
    let router = router().await;
    let body = predict_body("1", 10_000);
    let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
    assert_error(
        status,
        &answer,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    // With a limit that admits the body, validation refuses more than 500 readings.
    let router = router_with(ServerConfig {
        body_limit_bytes: 64 << 20,
        ..config(artifact("http"))
    })
    .await;
    let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn validation_failures_are_422_with_violations() {
    let router = router().await;
    let cases = [
        json!({ "engine_id": "1", "sensor_data": [] }),
        json!({ "engine_id": "", "sensor_data": readings_json(30) }),
        json!({ "engine_id": "x".repeat(10_000), "sensor_data": readings_json(30) }),
        json!({ "engine_id": "1", "sensor_data": readings_json(501) }),
    ];
    for case in cases {
        let (status, _, body) = send(&router, post_json("/predict", &case)).await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        );
        assert!(
            body["details"].as_array().is_some_and(|v| !v.is_empty()),
            "{body}"
        );
    }
    // Missing sensor: the violation names reading and field.
    let mut body = predict_body("1", 30);
    body["sensor_data"][4]
        .as_object_mut()
        .expect("object")
        .remove("s9");
    let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    let violation = &answer["details"][0];
    assert_eq!(violation["field"], "s9", "{answer}");
    assert_eq!(violation["reading"], 4, "{answer}");
    // Settings must come as a triple.
    let mut body = predict_body("1", 30);
    body["sensor_data"][0]["setting_1"] = json!(0.0);
    let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_error_shape() {
    let router = router().await;
    let (status, _, body) = send(&router, get("/no/such/route")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, _, body) = send(&router, get("/predict")).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let (status, _, body) = send(&router, post_json("/health", &json!({}))).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    let request = Request::delete("/predict/batch")
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = send(&router, request).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn batch_reports_each_item() {
    let router = router().await;
    let mut bad = predict_body("bad", 30);
    bad["sensor_data"][2]["s4"] = json!(-1e9);
    let body = json!({ "requests": [predict_body("a", 30), bad, predict_body("", 30), predict_body("c", 10)] });
    let (status, _, answer) = send(&router, post_json("/predict/batch", &body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let results = answer["results"].as_array().expect("results");
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["status"], 200);
    assert!(results[0]["prediction"]["predicted_rul"].is_number());
    assert_eq!(results[1]["status"], 422);
    assert_eq!(results[1]["error"]["type"], "validation");
    assert_eq!(results[1]["engine_id"], "bad");
    assert_eq!(results[2]["status"], 422);
    assert_eq!(results[3]["status"], 200);

    let (status, _, answer) = send(
        &router,
        post_json("/predict/batch", &json!({ "requests": [] })),
    )
    .await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    let many: Vec<Value> = (0..257).map(|i| predict_body(&i.to_string(), 1)).collect();
    let (status, _, answer) = send(
        &router,
        post_json("/predict/batch", &json!({ "requests": many })),
    )
    .await;
    assert_error(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn model_card_is_served_without_server_paths() {
    let router = router().await;
    let (status, _, body) = send(&router, get("/model")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert!(body["window"].as_u64().is_some_and(|w| w > 0));
    assert!(body.get("path").is_none());
}

#[tokio::test]
async fn admin_reload_is_guarded() {
    // Disabled without a token: credentials are asked for first (401), presented ones are refused (403).
    let router = router().await;
    let (status, headers, body) = send(&router, post("/admin/reload", None, "")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    let presented = Request::post("/admin/reload")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = send(&router, presented).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "forbidden");

    let router = router_with(ServerConfig {
        admin_token: Some(ADMIN.into()),
        ..config(artifact("http"))
    })
    .await;
    let (status, headers, body) = send(&router, post("/admin/reload", None, "")).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    let wrong = Request::post("/admin/reload")
        .header(header::AUTHORIZATION, "Bearer not-the-token-at-all")
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = send(&router, wrong).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

    let authed = |body: &str, ct: Option<&str>| {
        let mut b =
            Request::post("/admin/reload").header(header::AUTHORIZATION, format!("Bearer {ADMIN}"));
        if let Some(ct) = ct {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        b.body(Body::from(body.to_string())).expect("request")
    };
    let (status, _, body) = send(&router, authed("", None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["version"].is_string());
    // The reload answer is the model card plus the directory, which only this authenticated route reveals.
    assert_eq!(
        body["path"].as_str(),
        Some(artifact("http").display().to_string().as_str())
    );
    for (json_body, ct) in [
        ("{}", Some("application/json")),
        ("{\"model_path\": null}", Some("application/json")),
    ] {
        let (status, _, body) = send(&router, authed(json_body, ct)).await;
        assert_eq!(status, StatusCode::OK, "{json_body}: {body}");
    }

    let (status, _, body) = send(
        &router,
        authed("{\"model_path\": ", Some("application/json")),
    )
    .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");
    // Well-formed JSON of the wrong shape: not an object, a mistyped or unknown field.
    for bad in [
        "null",
        "[\"/srv/model\"]",
        "{\"model_path\": 5}",
        "{\"path\": \"/x\"}",
    ] {
        let (status, _, body) = send(&router, authed(bad, Some("application/json"))).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    }
    // model_path must be an absolute path, checked before anything is read.
    for bad in ["", "models/fd001", "./x"] {
        let request = json!({ "model_path": bad }).to_string();
        let (status, _, body) = send(&router, authed(&request, Some("application/json"))).await;
        assert_error(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        );
        assert_eq!(body["details"][0]["field"], "model_path", "{body}");
    }
    let (status, _, body) = send(
        &router,
        authed("{\"model_path\": \"x\"}", Some("text/plain")),
    )
    .await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );

    let missing = json!({ "model_path": missing_artifact() }).to_string();
    let (status, _, body) = send(&router, authed(&missing, Some("application/json"))).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reload_failed",
    );
    assert!(body["details"]["reason"].is_string(), "{body}");
    // The previous model keeps serving.
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn json_arrays_are_not_objects() {
    // serde would map an array onto a struct's fields in order; the API only takes objects (400).
    let router = router().await;
    let reading = reading_json(0, 1);
    let values: Vec<Value> = reading
        .as_object()
        .expect("object")
        .values()
        .cloned()
        .collect();
    for body in [
        json!(["1", readings_json(30)]),
        json!({ "engine_id": "1", "sensor_data": [values.clone()] }),
        json!({ "engine_id": "1", "sensor_data": [null] }),
    ] {
        let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
    for body in [
        json!([[predict_body("1", 3)]]),
        json!({ "requests": [["1", readings_json(3)]] }),
        json!({ "requests": [{ "engine_id": "1", "sensor_data": [values] }] }),
    ] {
        let (status, _, answer) = send(&router, post_json("/predict/batch", &body)).await;
        assert_error(status, &answer, StatusCode::BAD_REQUEST, "invalid_request");
    }
    assert_still_serves(&router).await;
}

#[tokio::test]
async fn responses_have_the_documented_fields() {
    let router = router().await;
    let (_, _, doc) = send(&router, get("/openapi.json")).await;
    let keys = |schema: &str| -> Vec<String> {
        let mut keys: Vec<String> = doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has no properties"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    let sorted = |value: &Value| -> Vec<String> {
        let mut keys: Vec<String> = value.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    };
    // GET /model: exactly the ModelResponse fields (nullable ones are present as null, never left out).
    let (status, _, card) = send(&router, get("/model")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sorted(&card), keys("ModelResponse"));
    assert!(card["metrics"].is_object() || card["metrics"].is_null());
    // Validation details: an array of {reading, field, reason}.
    let (status, _, error) = send(
        &router,
        post_json("/predict", &json!({ "engine_id": "1", "sensor_data": [] })),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(sorted(&error), keys("ErrorBody"));
    assert_eq!(sorted(&error["details"][0]), keys("ViolationBody"));
    // A prediction carries every PredictResponse field.
    let (status, _, prediction) =
        send(&router, post_json("/predict", &predict_body("f", 30))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sorted(&prediction), keys("PredictResponse"));
    assert!(prediction["padded_cycles"].is_u64());
}

#[tokio::test]
async fn openapi_document_is_served() {
    let router = router().await;
    let (status, _, body) = send(&router, get("/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["openapi"].as_str().is_some_and(|v| v.starts_with('3')));
    assert!(body["paths"]["/predict"]["post"]["responses"]["422"].is_object());
    assert!(body["components"]["schemas"]["PredictBody"].is_object());
}

#[tokio::test]
async fn metrics_count_requests() {
    let router = router().await;
    let count = |text: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.starts_with("rul_requests_total{")
                    && l.contains("transport=\"http\"")
                    && l.contains("route=\"/predict\"")
                    && l.contains("status=\"200\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let scrape = |router: Router| async move {
        let response = router.oneshot(get("/metrics")).await.expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf8")
    };
    let before = count(&scrape(router.clone()).await);
    for i in 0..3 {
        let (status, _, _) = send(
            &router,
            post_json("/predict", &predict_body(&format!("m{i}"), 30)),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let text = scrape(router.clone()).await;
    assert!(count(&text) >= before + 3.0, "{text}");
    assert!(
        text.contains("rul_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(text.contains("rul_predictions_total"), "{text}");
}

#[tokio::test]
async fn request_ids_are_kept_or_generated() {
    let router = router().await;
    let request = Request::get("/health")
        .header("x-request-id", "abc-123")
        .body(Body::empty())
        .expect("request");
    let (_, headers, _) = send(&router, request).await;
    assert_eq!(headers["x-request-id"], "abc-123");
    let (_, headers, _) = send(&router, get("/health")).await;
    assert!(
        headers["x-request-id"]
            .to_str()
            .is_ok_and(|id| id.len() >= 16)
    );
}

#[tokio::test]
async fn cors_follows_configuration() {
    let preflight = || {
        Request::builder()
            .method("OPTIONS")
            .uri("/predict")
            .header(header::ORIGIN, "https://app.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .expect("request")
    };
    let listed = router_with(ServerConfig {
        cors_origins: vec!["https://app.example".into()],
        ..config(artifact("http"))
    })
    .await;
    let (_, headers, _) = send(&listed, preflight()).await;
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://app.example"
    );
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
    // An origin not on the list gets no grant, and every answer says it depends on Origin (caches must not
    // hand one origin's answer to another).
    for method in ["OPTIONS", "GET"] {
        let request = Request::builder()
            .method(method)
            .uri("/health")
            .header(header::ORIGIN, "https://evil.example")
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .expect("request");
        let (_, headers, _) = send(&listed, request).await;
        assert!(
            !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            "{method}"
        );
        let vary: Vec<String> = headers
            .get_all(header::VARY)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
            .collect();
        assert!(
            vary.iter().any(|v| v.contains("origin")),
            "{method}: {vary:?}"
        );
    }

    let any = router_with(ServerConfig {
        cors_origins: vec!["*".into()],
        ..config(artifact("http"))
    })
    .await;
    let (_, headers, _) = send(&any, preflight()).await;
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));

    let plain = router().await;
    let (_, headers, _) = send(&plain, preflight()).await;
    assert!(!headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

/// MAX_INFLIGHT_BYTES bounds request bytes, not only requests: a body that does not fit beside the ones being
/// handled is refused at once with 429, and the bytes come back when the holder is answered.
#[tokio::test]
async fn request_bytes_beyond_the_budget_are_refused_with_429() {
    let body = predict_body("big", 500);
    let size = serde_json::to_vec(&body).expect("json").len();
    let mut config = ServerConfig {
        body_limit_bytes: size + 1024,
        grpc_max_message_bytes: 1024,
        ..config(artifact("http"))
    };
    config.connections.max_inflight_bytes = size * 3 / 2;
    config.validate().expect("a valid configuration");
    let predictor = ready_predictor(&config).await;
    let budget = budget_of(&config);
    let router =
        http_router(AppState::new(predictor.clone(), &config, None).with_budget(budget.clone()));
    let pause = predictor.pause_model_thread().await.expect("pause");
    let first = tokio::spawn({
        let (router, body) = (router.clone(), body.clone());
        async move { send(&router, post_json("/predict", &body)).await }
    });
    wait_until("the first body is read", || budget.in_use() >= size).await;
    let (status, headers, answer) = send(&router, post_json("/predict", &body)).await;
    assert_error(status, &answer, StatusCode::TOO_MANY_REQUESTS, "overloaded");
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("MAX_INFLIGHT_BYTES")),
        "{answer}"
    );
    assert!(headers.contains_key(header::RETRY_AFTER));
    let (status, _, _) = send(&router, get("/health")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "requests without a body are not affected"
    );
    drop(pause);
    let (status, _, answer) = first.await.expect("join");
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(budget.in_use(), 0, "every byte came back");
    let (status, _, answer) = send(&router, post_json("/predict", &body)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn load_is_shed_with_429_and_slow_requests_time_out_with_504() {
    let config = ServerConfig {
        concurrency_limit: 1,
        request_timeout_ms: 300,
        ..config(artifact("http"))
    };
    let predictor = ready_predictor(&config).await;
    let admission = rul_server::budget::Admission::new(&config);
    let router = http_router(
        AppState::new(predictor.clone(), &config, None).with_admission(admission.clone()),
    );
    let pause = predictor.pause_model_thread().await.expect("pause");
    // First request holds the only slot while the model thread is paused.
    let first = tokio::spawn({
        let router = router.clone();
        async move { send(&router, post_json("/predict", &predict_body("slow", 30))).await }
    });
    let calls = admission.calls.clone();
    wait_until("the slow request holds the only slot", move || {
        calls.available() == 0
    })
    .await;
    let (status, headers, body) =
        send(&router, post_json("/predict", &predict_body("shed", 30))).await;
    assert_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "overloaded");
    assert!(headers.contains_key(header::RETRY_AFTER));
    // Health is never shed.
    let (status, _, _) = send(&router, get("/health")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = first.await.expect("join");
    assert_error(status, &body, StatusCode::GATEWAY_TIMEOUT, "timeout");
    drop(pause);
    let calls = admission.calls.clone();
    wait_until("the timed-out request gave its slot back", move || {
        calls.available() == 1
    })
    .await;
    assert_still_serves(&router).await;
}
