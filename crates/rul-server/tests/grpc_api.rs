//! gRPC tests over a real ephemeral port with a tonic client: status mapping, per-item batch errors, limits,
//! deadlines, health and reflection; after every bad call a good one still succeeds.

mod common;

use std::time::Duration;

use common::*;
use hyper_util::rt::TokioExecutor;
use prost::bytes::{Buf, BufMut};
use rul_core::Predictor;
use rul_server::ServerConfig;
use rul_server::budget::{Admission, ByteBudget};
use rul_server::grpc::pb::prediction_service_client::PredictionServiceClient;
use rul_server::grpc::pb::{self, batch_item};
use rul_server::grpc::{convert, grpc_routes, serve_grpc, set_serving};
use rul_server::http::predict::SensorReadingBody;
use rul_server::shutdown;
use tokio::net::TcpListener;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceExt;

struct Server {
    addr: String,
    predictor: Predictor,
    budget: ByteBudget,
    /// The call limit and byte budget the gRPC listener draws on (a REST router can share them).
    admission: Admission,
    reporter: tonic_health::server::HealthReporter,
    _stop: shutdown::Trigger,
}

impl Server {
    async fn start(config: ServerConfig) -> Server {
        let predictor = Predictor::start(config.predictor_config());
        let (routes, reporter) = grpc_routes(predictor.clone(), None, &config)
            .await
            .expect("routes");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = format!("http://{}", listener.local_addr().expect("addr"));
        let (trigger, stop) = shutdown::channel();
        let admission = Admission::new(&config);
        let budget = admission.bytes.clone();
        let served = admission.clone();
        tokio::spawn(
            async move { serve_grpc(listener, routes, &config, served, stop.wait()).await },
        );
        Server {
            addr,
            predictor,
            budget,
            admission,
            reporter,
            _stop: trigger,
        }
    }

    async fn ready(config: ServerConfig) -> Server {
        let server = Server::start(config).await;
        tokio::time::timeout(Duration::from_secs(60), server.predictor.wait_ready())
            .await
            .expect("warm in time")
            .expect("model loads");
        set_serving(&server.reporter, true).await;
        server
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(self.addr.clone())
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    async fn client(&self) -> PredictionServiceClient<Channel> {
        PredictionServiceClient::new(self.channel().await).max_decoding_message_size(64 << 20)
    }

    /// A client whose transport keeps no timer of its own: tonic's `Channel` also enforces `grpc-timeout`
    /// locally, racing the server's answer and reporting `Cancelled` when its own timer wins. Over a plain
    /// hyper HTTP/2 client the header travels and only the server can end the call.
    fn client_without_local_deadline(&self) -> PredictionServiceClient<BareHttp2> {
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build_http();
        let origin = self.addr.parse().expect("origin");
        PredictionServiceClient::with_origin(tower::util::BoxCloneService::new(http), origin)
    }
}

type BareHttp2 = tower::util::BoxCloneService<
    tonic::codegen::http::Request<tonic::body::Body>,
    tonic::codegen::http::Response<hyper::body::Incoming>,
    hyper_util::client::legacy::Error,
>;

fn default_config() -> ServerConfig {
    config(artifact("grpc"))
}

fn request(engine: &str, n: usize) -> pb::RulRequest {
    pb::RulRequest {
        engine_id: engine.to_string(),
        sensor_data: raw_readings(n).iter().map(convert::proto_reading).collect(),
        use_sagemaker: false,
    }
}

/// The status message is the JSON error shape.
fn body_of(status: &Status) -> serde_json::Value {
    let body: serde_json::Value =
        serde_json::from_str(status.message()).expect("JSON status message");
    assert!(
        body["error"].is_string() && body["type"].is_string(),
        "{body}"
    );
    body
}

async fn expect_code(
    client: &mut PredictionServiceClient<Channel>,
    req: pb::RulRequest,
    code: Code,
) -> serde_json::Value {
    let status = client.predict_rul(req).await.expect_err("should fail");
    assert_eq!(status.code(), code, "{status:?}");
    body_of(&status)
}

async fn assert_still_serves(client: &mut PredictionServiceClient<Channel>) {
    let answer = client
        .predict_rul(request("follow-up", 40))
        .await
        .expect("follow-up succeeds")
        .into_inner();
    assert!(answer.rul >= 0.0);
}

#[tokio::test]
async fn health_is_not_serving_until_ready_then_serving() {
    let server = Server::start(default_config()).await;
    let mut health = HealthClient::new(server.channel().await);
    let check = |service: &str| tonic_health::pb::HealthCheckRequest {
        service: service.to_string(),
    };
    for service in ["", "rul.v1.PredictionService"] {
        let status = health
            .check(check(service))
            .await
            .expect("check")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::NotServing as i32, "{service}");
    }
    server.predictor.wait_ready().await.expect("ready");
    set_serving(&server.reporter, true).await;
    for service in ["", "rul.v1.PredictionService"] {
        let status = health
            .check(check(service))
            .await
            .expect("check")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
}

#[tokio::test]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = Server::start(default_config()).await;
    let mut client = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = stream
        .message()
        .await
        .expect("message")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer: {response:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"rul.v1.PredictionService".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn predict_answers_with_every_field() {
    let server = Server::ready(default_config()).await;
    let mut client = server.client().await;
    let mut req = tonic::Request::new(request("engine-9", 40));
    req.metadata_mut()
        .insert("x-request-id", "grpc-req-1".parse().expect("metadata"));
    let response = client.predict_rul(req).await.expect("ok");
    assert_eq!(
        response
            .metadata()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("grpc-req-1")
    );
    let r = response.into_inner();
    assert_eq!(r.engine_id, "engine-9");
    assert_eq!(r.predicted_rul, r.rul.trunc() as i32);
    assert!(r.lower <= r.rul.max(r.lower) && r.lower <= r.upper && r.lower >= 0.0);
    assert!(r.level > 0.0 && r.level < 1.0);
    assert!((0.0..=1.0).contains(&r.confidence));
    assert!(!r.model_version.is_empty());
    assert_eq!(r.source, "local");
    // Unset, as REST's null: a local answer has no fallback reason.
    assert_eq!(r.fallback_reason, None);
    assert!(r.tolerance > 0.0);
}

#[tokio::test]
async fn not_ready_is_unavailable() {
    let server = Server::start(config(&missing_artifact())).await;
    let mut client = server.client().await;
    let body = expect_code(&mut client, request("1", 30), Code::Unavailable).await;
    assert_eq!(body["type"], "not_ready");
}

#[tokio::test]
async fn empty_readings_are_invalid_argument() {
    let server = Server::ready(default_config()).await;
    let mut client = server.client().await;
    let body = expect_code(&mut client, request("1", 0), Code::InvalidArgument).await;
    assert_eq!(body["type"], "validation");
    assert!(body["details"].as_array().is_some_and(|v| !v.is_empty()));
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn too_many_readings_are_invalid_argument() {
    let server = Server::ready(default_config()).await;
    let mut client = server.client().await;
    expect_code(&mut client, request("1", 501), Code::InvalidArgument).await;
    assert_still_serves(&mut client).await;
}

/// MAX_INFLIGHT_BYTES bounds request bytes, not only calls: a call whose message does not fit beside the ones
/// being handled is refused at once, and the bytes come back when the holder is answered.
#[tokio::test]
async fn request_bytes_beyond_the_budget_are_resource_exhausted() {
    let big = request("big", 500);
    let size = prost::Message::encoded_len(&big) + 5;
    let mut config = default_config();
    config.connections.max_inflight_bytes = size * 3 / 2;
    config.grpc_max_message_bytes = size;
    config.body_limit_bytes = 1024;
    config.validate().expect("a valid configuration");
    let server = Server::ready(config).await;
    let mut client = server.client().await;
    let pause = server.predictor.pause_model_thread().await.expect("pause");
    let holder = tokio::spawn({
        let (mut client, big) = (client.clone(), big.clone());
        async move { client.predict_rul(big).await }
    });
    wait_until("the first message is read", || {
        server.budget.in_use() >= size
    })
    .await;
    let body = expect_code(&mut client, big.clone(), Code::ResourceExhausted).await;
    assert_eq!(body["type"], "overloaded", "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("MAX_INFLIGHT_BYTES")),
        "{body}"
    );
    drop(pause);
    holder.await.expect("join").expect("the holder is answered");
    assert_eq!(server.budget.in_use(), 0, "every byte came back");
    client.predict_rul(big).await.expect("fits again");
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn missing_sensor_is_named() {
    let server = Server::ready(default_config()).await;
    let mut client = server.client().await;
    let mut req = request("1", 30);
    req.sensor_data[3].s11 = None;
    let body = expect_code(&mut client, req, Code::InvalidArgument).await;
    let details = body["details"].as_array().expect("violations");
    assert!(
        details
            .iter()
            .any(|v| v["field"] == "s11" && v["reading"] == 3),
        "{body}"
    );
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn non_finite_values_are_invalid_argument() {
    let server = Server::ready(default_config()).await;
    let mut client = server.client().await;
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut req = request("1", 30);
        req.sensor_data[7].s7 = Some(bad);
        let body = expect_code(&mut client, req, Code::InvalidArgument).await;
        assert!(
            body["details"]
                .as_array()
                .is_some_and(|d| d.iter().any(|v| v["field"] == "s7")),
            "{body}"
        );
    }
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn out_of_bounds_values_are_invalid_argument() {
    let server = Server::ready(default_config()).await;
    let mut client = server.client().await;
    for bad in [1e9, -1e9, 1e300] {
        let mut req = request("1", 30);
        req.sensor_data[0].s2 = Some(bad);
        expect_code(&mut client, req, Code::InvalidArgument).await;
    }
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn bad_engine_ids_are_invalid_argument() {
    let server = Server::ready(default_config()).await;
    let mut client = server.client().await;
    for id in [String::new(), "x".repeat(10 * 1024), "a\u{0}b".to_string()] {
        let body = expect_code(&mut client, request(&id, 30), Code::InvalidArgument).await;
        assert!(
            body["details"]
                .as_array()
                .is_some_and(|d| d.iter().any(|v| v["field"] == "engine_id")),
            "{body}"
        );
    }
    // use_sagemaker without an endpoint configured is answered locally, saying so.
    let mut req = request("1", 30);
    req.use_sagemaker = true;
    let answer = client
        .predict_rul(req)
        .await
        .expect("fallback")
        .into_inner();
    assert_eq!(answer.source, "local_fallback");
    assert_eq!(answer.fallback_reason.as_deref(), Some("not_configured"));
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn batch_isolates_the_bad_item() {
    let server = Server::ready(default_config()).await;
    let mut client = server.client().await;
    let mut bad = request("bad", 30);
    bad.sensor_data[1].s3 = Some(f64::NAN);
    let batch = pb::BatchRulRequest {
        requests: vec![request("a", 30), bad, request("b", 5)],
    };
    let single = client
        .predict_rul(batch.requests[1].clone())
        .await
        .expect_err("bad single call");
    let answer = client
        .batch_predict_rul(batch)
        .await
        .expect("batch ok")
        .into_inner();
    assert_eq!(answer.responses.len(), 3);
    // One typed encoding: the failed single call's status detail is the batch item's Error.
    assert_eq!(
        answer.responses[1].result,
        convert::error_detail(&single).map(batch_item::Result::Error),
        "single-call detail vs batch item"
    );
    assert!(matches!(
        answer.responses[0].result,
        Some(batch_item::Result::Response(_))
    ));
    match &answer.responses[1].result {
        Some(batch_item::Result::Error(e)) => {
            assert_eq!(e.code, Code::InvalidArgument as i32);
            assert_eq!(e.r#type, "validation");
            assert!(
                e.violations
                    .iter()
                    .any(|v| v.field.as_deref() == Some("s3")),
                "{e:?}"
            );
        }
        other => panic!("expected an error item, got {other:?}"),
    }
    assert_eq!(answer.responses[1].engine_id, "bad");
    assert!(matches!(
        answer.responses[2].result,
        Some(batch_item::Result::Response(_))
    ));

    let status = client
        .batch_predict_rul(pb::BatchRulRequest { requests: vec![] })
        .await
        .expect_err("empty");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn oversize_messages_are_resource_exhausted() {
    let server = Server::ready(ServerConfig {
        grpc_max_message_bytes: 16 * 1024,
        ..default_config()
    })
    .await;
    let mut client = server.client().await;
    let body = expect_code(&mut client, request("big", 400), Code::ResourceExhausted).await;
    assert_eq!(body["type"], "payload_too_large");
    assert_still_serves(&mut client).await;
}

/// Sends raw bytes as the request message, to test what the server does with malformed protobuf.
#[derive(Clone, Default)]
struct RawCodec;
struct RawEncoder;
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

#[tokio::test]
async fn malformed_protobuf_is_a_client_error_and_server_keeps_serving() {
    let metrics = rul_server::metrics::install().expect("metrics");
    let server = Server::ready(default_config()).await;
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    for garbage in [
        vec![0xff, 0xff, 0xff, 0xff, 0x0f],
        vec![0x0a, 0x50, 0x01],
        b"definitely not protobuf".to_vec(),
    ] {
        grpc.ready().await.expect("ready");
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/rul.v1.PredictionService/PredictRUL",
        );
        let status = grpc
            .unary(tonic::Request::new(garbage), path, RawCodec)
            .await
            .expect_err("malformed");
        // The client sent bytes that are not the message: its mistake, named without internal type names.
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(
            status.message(),
            "request body is not a valid rul.v1.RULRequest message"
        );
    }
    assert_still_serves(&mut server.client().await).await;
    let text = metrics.render();
    let counted = text
        .lines()
        .find(|l| l.starts_with("rul_grpc_invalid_messages_total{message=\"rul.v1.RULRequest\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
    assert!(counted.is_some_and(|n| n >= 3.0), "{text}");
}

#[tokio::test]
async fn deadlines_are_honoured() {
    let server = Server::ready(default_config()).await;
    let mut client = server.client_without_local_deadline();
    let pause = server.predictor.pause_model_thread().await.expect("pause");
    let mut req = tonic::Request::new(request("late", 30));
    req.set_timeout(Duration::from_millis(200));
    let status = client.predict_rul(req).await.expect_err("deadline");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    // The same type and message as REST's 504 answer.
    assert_eq!(body_of(&status)["type"], "timeout", "{status:?}");
    assert_eq!(body_of(&status)["error"], "request timed out", "{status:?}");
    drop(pause);
    assert_still_serves(&mut server.client().await).await;
}

#[tokio::test]
async fn server_timeout_caps_client_deadlines() {
    let server = Server::ready(ServerConfig {
        request_timeout_ms: 150,
        ..default_config()
    })
    .await;
    let mut client = server.client().await;
    let pause = server.predictor.pause_model_thread().await.expect("pause");
    let status = client
        .predict_rul(request("late", 30))
        .await
        .expect_err("deadline");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    drop(pause);
    assert_still_serves(&mut client).await;
}

/// CONCURRENCY_LIMIT is one limit over both transports: with 2 slots, one REST and one gRPC call held at the
/// paused model fill it, and a third call is shed on either transport with the same error.
#[tokio::test]
async fn one_call_limit_covers_both_transports() {
    let server = Server::ready(ServerConfig {
        concurrency_limit: 2,
        ..default_config()
    })
    .await;
    let config = default_config();
    let router = rul_server::http_router(
        rul_server::AppState::new(server.predictor.clone(), &config, None)
            .with_admission(server.admission.clone()),
    );
    let rest = |engine: &str| {
        let body = serde_json::json!({
            "engine_id": engine,
            "sensor_data": raw_readings(30).iter().map(SensorReadingBody::from_raw).collect::<Vec<_>>(),
        });
        axum::http::Request::post("/predict")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .expect("request")
    };
    let mut client = server.client().await;
    let pause = server.predictor.pause_model_thread().await.expect("pause");
    let held_grpc = tokio::spawn({
        let mut client = client.clone();
        async move { client.predict_rul(request("held-grpc", 30)).await }
    });
    let held_rest = tokio::spawn(router.clone().oneshot(rest("held-rest")));
    let calls = server.admission.calls.clone();
    wait_until("both held calls hold a slot", move || {
        calls.available() == 0
    })
    .await;

    let body = expect_code(
        &mut client,
        request("shed-grpc", 30),
        Code::ResourceExhausted,
    )
    .await;
    assert_eq!(body["type"], "overloaded");
    let shed = router
        .clone()
        .oneshot(rest("shed-rest"))
        .await
        .expect("infallible");
    assert_eq!(shed.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
    let bytes = axum::body::to_bytes(shed.into_body(), 1 << 20)
        .await
        .expect("body");
    let rest_body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(rest_body["type"], body["type"]);
    assert_eq!(rest_body["error"], body["error"]);

    drop(pause);
    held_grpc
        .await
        .expect("join")
        .expect("held gRPC call completes");
    let held = held_rest.await.expect("join").expect("infallible");
    assert_eq!(held.status(), axum::http::StatusCode::OK);
    assert_still_serves(&mut client).await;
}

#[tokio::test]
async fn overload_is_resource_exhausted() {
    let server = Server::ready(ServerConfig {
        concurrency_limit: 1,
        ..default_config()
    })
    .await;
    let mut client = server.client().await;
    let pause = server.predictor.pause_model_thread().await.expect("pause");
    let first = tokio::spawn({
        let mut client = client.clone();
        async move { client.predict_rul(request("holder", 30)).await }
    });
    let calls = server.admission.calls.clone();
    wait_until("the held call holds the only slot", move || {
        calls.available() == 0
    })
    .await;
    let body = expect_code(&mut client, request("shed", 30), Code::ResourceExhausted).await;
    assert_eq!(body["type"], "overloaded");
    drop(pause);
    first.await.expect("join").expect("held request completes");
    assert_still_serves(&mut client).await;
}
