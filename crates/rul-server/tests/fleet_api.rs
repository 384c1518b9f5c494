//! The fleet routes: REST in process (`oneshot`), the gRPC reading stream and read side over a real port.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use rul_server::budget::ByteBudget;
use rul_server::grpc::pb::prediction_service_client::PredictionServiceClient;
use rul_server::grpc::pb::{self, reading_ack};
use rul_server::grpc::{convert, grpc_routes, serve_grpc};
use rul_server::{AppState, http_router, shutdown};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tower::ServiceExt;

const TOKEN: &str = "fleet-admin-token-0123456789";

async fn fleet_for(config: &rul_server::ServerConfig) -> (rul_core::Predictor, rul_fleet::Fleet) {
    let predictor = ready_predictor(config).await;
    let store = rul_fleet::Store::connect(&config.fleet.database_url)
        .await
        .expect("store");
    let fleet = rul_fleet::Fleet::open(predictor.clone(), store, Default::default())
        .await
        .expect("fleet");
    (predictor, fleet)
}

async fn router() -> Router {
    let mut config = config(artifact("fleet"));
    config.admin_token = Some(TOKEN.into());
    let (predictor, fleet) = fleet_for(&config).await;
    http_router(AppState::new(predictor, &config, None).with_fleet(Some(fleet)))
}

async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    token: bool,
) -> (StatusCode, Value) {
    let mut builder = Request::builder().method(method).uri(uri);
    if token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    }
    let request = match body {
        Some(b) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => builder.body(Body::empty()),
    }
    .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("JSON body")
    };
    (status, value)
}

/// Readings of cycles `from..=to` of a 200-cycle life.
fn cycles(from: usize, to: usize) -> Value {
    let readings: Vec<Value> = (from..=to)
        .map(|c| {
            let mut r = reading_json(c - 1, 200);
            r["cycle"] = json!(c);
            r
        })
        .collect();
    json!({ "readings": readings })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_ingest_list_history_and_delete() {
    let router = router().await;
    let (status, body) = call(
        &router,
        "POST",
        "/engines/e-1/readings",
        Some(cycles(1, 20)),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 20);
    let p = &body["prediction"];
    assert_eq!(p["cycle"], 20);
    assert!(p["lower"].as_f64().unwrap() <= p["rul"].as_f64().unwrap());
    for key in [
        "rul_model",
        "model_lower",
        "model_upper",
        "confidence",
        "model_version",
        "at",
        "level",
    ] {
        assert!(!p[key].is_null(), "{key} missing in {p}");
    }

    // Redelivery, conflict, backwards, gap.
    let (status, body) = call(
        &router,
        "POST",
        "/engines/e-1/readings",
        Some(cycles(20, 20)),
        false,
    )
    .await;
    assert_eq!(
        (status, body["duplicates"].clone()),
        (StatusCode::OK, json!(1))
    );
    let mut changed = cycles(20, 20);
    changed["readings"][0]["s2"] = json!(642.9);
    let (status, body) = call(
        &router,
        "POST",
        "/engines/e-1/readings",
        Some(changed),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["type"], "conflict");
    let (status, body) = call(
        &router,
        "POST",
        "/engines/e-1/readings",
        Some(cycles(25, 26)),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["gaps"], json!([{ "after_cycle": 20, "missing": 4 }]));

    // Bad bodies: missing cycle, NaN-like string, too many readings.
    let (status, _) = call(
        &router,
        "POST",
        "/engines/e-1/readings",
        Some(json!({"readings": [{"s2": 1.0}]})),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &router,
        "POST",
        "/engines/e-1/readings",
        Some(json!({"readings": []})),
        false,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    call(
        &router,
        "PUT",
        "/engines/e-2",
        Some(json!({"tags": ["wing-left"]})),
        false,
    )
    .await;
    call(
        &router,
        "POST",
        "/engines/e-2/readings",
        Some(cycles(1, 190)),
        false,
    )
    .await;
    let (status, page) = call(&router, "GET", "/engines", None, false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 2);
    // Most urgent first: ordered by the tracked interval's lower bound.
    let lowers: Vec<f64> = page["engines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["latest"]["lower"].as_f64().unwrap())
        .collect();
    assert!(lowers.windows(2).all(|w| w[0] <= w[1]), "{lowers:?}");
    let (_, tagged) = call(&router, "GET", "/engines?tag=wing-left", None, false).await;
    assert_eq!(tagged["total"], 1);
    let (status, _) = call(&router, "GET", "/engines?limit=abc", None, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, engine) = call(&router, "GET", "/engines/e-1", None, false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (engine["readings"].clone(), engine["missing_cycles"].clone()),
        (json!(22), json!(4))
    );
    let (_, trajectory) = call(
        &router,
        "GET",
        "/engines/e-1/predictions?from_cycle=5&to_cycle=10",
        None,
        false,
    )
    .await;
    let got: Vec<u64> = trajectory["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["cycle"].as_u64().unwrap())
        .collect();
    assert_eq!(got, vec![5, 6, 7, 8, 9, 10]);
    let (_, readings) = call(&router, "GET", "/engines/e-1/readings?limit=3", None, false).await;
    assert_eq!(readings["readings"].as_array().unwrap().len(), 3);
    assert!(readings["readings"][0]["values"]["s2"].is_number());

    let (status, _) = call(&router, "GET", "/engines/nobody", None, false).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&router, "DELETE", "/engines/e-1", None, false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&router, "DELETE", "/engines/e-1", None, true).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&router, "GET", "/engines/e-1/predictions", None, false).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The gRPC service of `fleet` on an ephemeral port: a connected client, the server's byte budget, and the
/// trigger that stops it (dropped: stopped).
async fn serve_fleet_grpc(
    config: rul_server::ServerConfig,
    predictor: rul_core::Predictor,
    fleet: rul_fleet::Fleet,
) -> (
    PredictionServiceClient<Channel>,
    ByteBudget,
    shutdown::Trigger,
) {
    let (routes, _reporter) = grpc_routes(predictor, Some(fleet), &config)
        .await
        .expect("routes");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("http://{}", listener.local_addr().expect("addr"));
    let (trigger, stop) = shutdown::channel();
    let admission = rul_server::budget::Admission::new(&config);
    let budget = admission.bytes.clone();
    tokio::spawn(
        async move { serve_grpc(listener, routes, &config, admission, stop.wait()).await },
    );
    let client = PredictionServiceClient::connect(addr)
        .await
        .expect("connect");
    (client, budget, trigger)
}

/// A stream gives each message's bytes back once it is decoded: one long stream carries many times
/// MAX_INFLIGHT_BYTES, and afterwards nothing is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_stream_returns_its_bytes_message_by_message() {
    let mut config = config(artifact("fleet"));
    config.connections.max_inflight_bytes = 32 * 1024;
    config.grpc_max_message_bytes = 4096;
    config.body_limit_bytes = 4096;
    config.validate().expect("a valid configuration");
    let (predictor, fleet) = fleet_for(&config).await;
    let (mut client, budget, _trigger) = serve_fleet_grpc(config, predictor, fleet).await;
    let history = raw_readings(1000);
    let messages: Vec<_> = history
        .iter()
        .enumerate()
        .map(|(c, reading)| pb::ReadingMessage {
            engine_id: "long".into(),
            cycle: c as u64 + 1,
            reading: Some(convert::proto_reading(reading)),
        })
        .collect();
    let wire: usize = messages
        .iter()
        .map(|m| prost::Message::encoded_len(m) + 5)
        .sum();
    assert!(wire > 4 * 32 * 1024, "the stream carries {wire} bytes");
    let mut acks = client
        .stream_readings(tokio_stream::iter(messages))
        .await
        .expect("stream")
        .into_inner();
    let mut answered = 0;
    while let Some(ack) = tokio::time::timeout(Duration::from_secs(120), acks.message())
        .await
        .expect("acks keep coming")
        .expect("no stream error")
    {
        assert!(
            !matches!(ack.result, Some(reading_ack::Result::Error(_))),
            "{ack:?}"
        );
        answered += 1;
    }
    assert_eq!(answered, 1000);
    wait_until("the stream's bytes are back", || budget.in_use() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_stream_answers_every_message_in_order_and_survives_bad_ones() {
    let config = config(artifact("fleet"));
    let (predictor, fleet) = fleet_for(&config).await;
    let (mut client, _budget, _trigger) = serve_fleet_grpc(config, predictor, fleet).await;

    let history = raw_readings(30);
    let mut messages = Vec::new();
    for c in 0..30 {
        for e in ["g-1", "g-2"] {
            messages.push(pb::ReadingMessage {
                engine_id: e.into(),
                cycle: c as u64 + 1,
                reading: Some(convert::proto_reading(&history[c])),
            });
        }
        if c == 10 {
            // A NaN, a conflict (cycle 1 again, other values) and an empty engine id: errors, stream goes on.
            let mut nan = convert::proto_reading(&history[c]);
            nan.s2 = Some(f64::NAN);
            messages.push(pb::ReadingMessage {
                engine_id: "g-1".into(),
                cycle: 99,
                reading: Some(nan),
            });
            messages.push(pb::ReadingMessage {
                engine_id: "g-2".into(),
                cycle: 1,
                reading: Some(convert::proto_reading(&history[5])),
            });
            messages.push(pb::ReadingMessage {
                engine_id: String::new(),
                cycle: 1,
                reading: Some(convert::proto_reading(&history[5])),
            });
        }
    }
    let expected: Vec<(String, u64)> = messages
        .iter()
        .map(|m| (m.engine_id.clone(), m.cycle))
        .collect();
    let mut acks = client
        .stream_readings(tokio_stream::iter(messages))
        .await
        .expect("stream")
        .into_inner();
    let mut got = Vec::new();
    let mut errors = Vec::new();
    while let Some(ack) = tokio::time::timeout(Duration::from_secs(60), acks.message())
        .await
        .expect("acks keep coming")
        .expect("no stream error")
    {
        if let Some(reading_ack::Result::Error(e)) = &ack.result {
            errors.push((ack.engine_id.clone(), e.r#type.clone(), e.code));
        }
        got.push((ack.engine_id, ack.cycle));
    }
    assert_eq!(got, expected, "one ack per message, in message order");
    assert_eq!(
        errors,
        vec![
            ("g-1".to_string(), "validation".to_string(), 3),
            ("g-2".to_string(), "conflict".to_string(), 9),
            (String::new(), "validation".to_string(), 3),
        ]
    );
    let page = client
        .list_engines(pb::ListEnginesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.total, 2);
    let g1 = client
        .get_engine(pb::GetEngineRequest {
            engine_id: "g-1".into(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!((g1.readings, g1.last_cycle), (30, Some(30)));
    assert_eq!(g1.latest.expect("latest").cycle, 30);
    let missing = client
        .get_engine(pb::GetEngineRequest {
            engine_id: "nope".into(),
        })
        .await
        .expect_err("unknown engine");
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

/// The next alert event of a WatchAlerts stream.
async fn next_alert(watch: &mut tonic::Streaming<pb::Alert>) -> pb::Alert {
    tokio::time::timeout(Duration::from_secs(30), watch.message())
        .await
        .expect("an alert event within 30 s")
        .expect("stream ok")
        .expect("stream open")
}

/// Sets one engine's alert threshold (label `alert_rul_below`).
async fn set_threshold(router: &Router, engine: &str, threshold: f64) {
    let labels = json!({ "labels": { "alert_rul_below": format!("{threshold:.1}") } });
    let uri = format!("/engines/{engine}");
    let (status, body) = call(router, "PUT", &uri, Some(labels), false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn alerts(router: &Router, query: &str) -> Vec<Value> {
    let (status, body) = call(router, "GET", &format!("/alerts{query}"), None, false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["alerts"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_open_once_ack_and_clear_with_hysteresis() {
    let router = router().await;
    // Threshold 0 first: no bound falls below it.
    set_threshold(&router, "al-1", 0.0).await;
    let uri = "/engines/al-1/readings";
    let (status, body) = call(&router, "POST", uri, Some(cycles(1, 30)), false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lower = body["prediction"]["lower"].as_f64().unwrap();
    assert!(alerts(&router, "").await.is_empty());

    // A threshold far above the bound: the next prediction opens one alert, later ones add none.
    set_threshold(&router, "al-1", lower + 60.0).await;
    for c in 31..=36 {
        let (status, body) = call(&router, "POST", uri, Some(cycles(c, c)), false).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let open = alerts(&router, "?state=open").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["alert_id"], "al-1@31");
    assert_eq!(open[0]["engine_id"], "al-1");
    assert_eq!(open[0]["state"], "open");

    // Acknowledge: admin token required; then it is listed as acked.
    let ack = json!({"who": "planner", "note": "borescope on Monday"});
    let ack_uri = "/alerts/al-1@31/ack";
    let (status, _) = call(&router, "POST", ack_uri, Some(ack.clone()), false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = call(&router, "POST", ack_uri, Some(ack.clone()), true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["state"].clone(), body["acked_by"].clone()),
        (json!("acked"), json!("planner"))
    );
    assert_eq!(alerts(&router, "?state=acked").await.len(), 1);
    assert!(alerts(&router, "?state=open").await.is_empty());

    // Threshold to 0 (clears above 10): the next prediction clears it; a cleared alert cannot be acked.
    set_threshold(&router, "al-1", 0.0).await;
    let (status, body) = call(&router, "POST", uri, Some(cycles(37, 37)), false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["prediction"]["lower"].as_f64().unwrap() > 10.0,
        "{body}"
    );
    let cleared = alerts(&router, "?state=cleared&engine_id=al-1").await;
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert_eq!(cleared[0]["cleared_cycle"], 37);
    let (status, body) = call(&router, "POST", ack_uri, Some(ack.clone()), true).await;
    assert_eq!(
        (status, body["type"].clone()),
        (StatusCode::CONFLICT, json!("conflict"))
    );

    // Unknown alert, bad queries and bodies.
    let (status, _) = call(&router, "POST", "/alerts/nope@1/ack", Some(ack), true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&router, "GET", "/alerts?state=closed", None, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(&router, "GET", "/alerts?limit=0", None, false).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let empty_who = json!({"who": " "});
    let (status, _) = call(&router, "POST", ack_uri, Some(empty_who), true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_receives_alerts_and_retries_failures() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // A loopback receiver that refuses its first delivery (503) and accepts the rest.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let calls = Arc::new(AtomicUsize::new(0));
    let receiver = {
        let calls = calls.clone();
        Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let (calls, tx) = (calls.clone(), tx.clone());
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    let _ = tx.send(body);
                    StatusCode::NO_CONTENT
                }
            }),
        )
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let config = config(artifact("fleet"));
    let (predictor, fleet) = fleet_for(&config).await;
    let hook = rul_server::webhook::spawn(&fleet, url);
    let router = http_router(AppState::new(predictor, &config, None).with_fleet(Some(fleet)));
    set_threshold(&router, "wh-1", 100_000.0).await;
    let uri = "/engines/wh-1/readings";
    let (status, body) = call(&router, "POST", uri, Some(cycles(1, 3)), false).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let delivered = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("webhook delivery within 30 s")
        .expect("receiver open");
    assert_eq!(delivered["alert_id"], "wh-1@1");
    assert_eq!(delivered["state"], "open");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one refused attempt, one retry"
    );
    hook.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_alerts_list_watch_and_ack() {
    let mut config = config(artifact("fleet"));
    config.admin_token = Some(TOKEN.into());
    let (predictor, fleet) = fleet_for(&config).await;
    let mut meta = rul_fleet::EngineMeta::default();
    meta.labels
        .insert("alert_rul_below".into(), "100000".into());
    fleet.register("w-1", meta).await.expect("register");
    let (mut client, _budget, _trigger) = serve_fleet_grpc(config, predictor, fleet).await;
    let mut watch = client
        .watch_alerts(pb::WatchAlertsRequest {})
        .await
        .expect("watch")
        .into_inner();

    let history = raw_readings(3);
    let messages: Vec<_> = (0..3)
        .map(|c| pb::ReadingMessage {
            engine_id: "w-1".into(),
            cycle: c as u64 + 1,
            reading: Some(convert::proto_reading(&history[c])),
        })
        .collect();
    let mut acks = client
        .stream_readings(tokio_stream::iter(messages))
        .await
        .expect("stream")
        .into_inner();
    let mut answered = 0;
    while let Some(ack) = acks.message().await.expect("no stream error") {
        assert!(ack.result.is_some(), "{ack:?}");
        answered += 1;
    }
    assert_eq!(answered, 3);

    let opened = next_alert(&mut watch).await;
    assert_eq!(
        (opened.alert_id.as_str(), opened.state.as_str()),
        ("w-1@1", "open")
    );
    let listed = client
        .list_alerts(pb::ListAlertsRequest {
            state: "open".into(),
            engine_id: "w-1".into(),
            limit: 0,
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.alerts.len(), 1);

    let ack = pb::AckAlertRequest {
        alert_id: "w-1@1".into(),
        who: "planner".into(),
        note: String::new(),
    };
    let denied = client.ack_alert(ack.clone()).await.expect_err("no token");
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    let mut request = tonic::Request::new(ack);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {TOKEN}").parse().expect("metadata"),
    );
    let acked = client.ack_alert(request).await.expect("ack").into_inner();
    assert_eq!(acked.state, "acked");
    assert_eq!(next_alert(&mut watch).await.state, "acked");
    let bad = client
        .list_alerts(pb::ListAlertsRequest {
            state: "closed".into(),
            ..Default::default()
        })
        .await
        .expect_err("bad state");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
}
