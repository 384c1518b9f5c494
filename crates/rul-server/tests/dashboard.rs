//! The dashboard's server side in process: the embedded page and its headers, GET /events (live fleet changes
//! as Server-Sent Events, ended by shutdown), GET /alerts/policy, GET /model/evaluation and /model/plots.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::{Body, BodyDataStream};
use axum::http::{Request, StatusCode, header};
use common::*;
use futures_util::StreamExt;
use rul_server::{AppState, http_router, shutdown};
use serde_json::{Value, json};
use tower::ServiceExt;

async fn state() -> AppState {
    let config = config(artifact("dashboard"));
    let predictor = ready_predictor(&config).await;
    let store = rul_fleet::Store::connect(&config.fleet.database_url)
        .await
        .expect("store");
    let fleet = rul_fleet::Fleet::open(predictor.clone(), store, Default::default())
        .await
        .expect("fleet");
    AppState::new(predictor, &config, None).with_fleet(Some(fleet))
}

async fn get(router: &Router, uri: &str) -> axum::response::Response {
    let request = Request::get(uri).body(Body::empty()).expect("request");
    router.clone().oneshot(request).await.expect("infallible")
}

async fn text(response: axum::response::Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
        .await
        .expect("body");
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_are_served_with_a_same_origin_policy() {
    let router = http_router(state().await);
    for uri in ["/", "/ui/"] {
        let response = get(&router, uri).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("ascii")
            .to_string();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .expect("ascii")
                .starts_with("text/html")
        );
        assert!(text(response).await.contains("/ui/app.js"));
    }
    for name in rul_server::http::ui::asset_names() {
        let response = get(&router, &format!("/ui/{name}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let kind = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .to_string();
        let wanted = match name.rsplit('.').next() {
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("svg") => "image/svg+xml",
            _ => "text/html",
        };
        assert!(kind.starts_with(wanted), "{name}: {kind}");
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
    }
    for bad in [
        "/ui/nope.js",
        "/ui/..%2Fmod.rs",
        "/ui/%2E%2E%2Fassets%2Fapp.js",
        "/ui/mod.rs",
    ] {
        let response = get(&router, bad).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{bad}");
        let body: Value = serde_json::from_str(&text(response).await).expect("ErrorBody");
        assert_eq!(body["type"], "not_found");
    }
}

/// The next complete SSE frame (`event:` and `data:` lines) of `stream`, skipping keep-alive comments.
async fn next_frame(stream: &mut BodyDataStream, buffer: &mut String) -> Option<(String, Value)> {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut event = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if event.is_empty() {
                continue;
            }
            return Some((event, serde_json::from_str(&data).expect("JSON data")));
        }
        // A guard against a hang, not a timing assertion: events are awaited in order.
        let chunk = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .expect("an event within 60 s")?;
        buffer.push_str(std::str::from_utf8(&chunk.expect("chunk")).expect("utf-8"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_engine_and_alert_changes_and_end_at_shutdown() {
    let (trigger, stop) = shutdown::channel();
    let router = http_router(state().await.with_shutdown(stop));
    let response = get(&router, "/events").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    let mut stream = response.into_body().into_data_stream();
    let mut buffer = String::new();
    let (event, _) = next_frame(&mut stream, &mut buffer).await.expect("hello");
    assert_eq!(event, "hello");

    // Subscribed before hello: the registration and the readings that follow are all seen, in order.
    let put = Request::put("/engines/%3Cscript%3Ex")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({ "tags": ["a"], "labels": { "alert_rul_below": "1000" } }).to_string(),
        ))
        .expect("request");
    assert_eq!(
        router
            .clone()
            .oneshot(put)
            .await
            .expect("infallible")
            .status(),
        StatusCode::OK
    );
    let readings: Vec<Value> = (1..=5)
        .map(|c| {
            let mut r = reading_json(c - 1, 200);
            r["cycle"] = json!(c);
            r
        })
        .collect();
    let post = Request::post("/engines/%3Cscript%3Ex/readings")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "readings": readings }).to_string()))
        .expect("request");
    assert_eq!(
        router
            .clone()
            .oneshot(post)
            .await
            .expect("infallible")
            .status(),
        StatusCode::OK
    );

    let (event, body) = next_frame(&mut stream, &mut buffer)
        .await
        .expect("registered");
    assert_eq!(
        (event.as_str(), &body["engine_id"]),
        ("engine", &json!("<script>x"))
    );
    assert!(body["latest"].is_null());
    let mut seen_alert = None;
    let mut last_cycle = None;
    while seen_alert.is_none() || last_cycle != Some(5) {
        let (event, body) = next_frame(&mut stream, &mut buffer).await.expect("event");
        match event.as_str() {
            "engine" => last_cycle = body["last_cycle"].as_u64(),
            "alert" => seen_alert = Some(body),
            other => panic!("unexpected event {other}: {body}"),
        }
    }
    let alert = seen_alert.expect("alert");
    assert_eq!(alert["engine_id"], "<script>x");
    assert_eq!(alert["state"], "open");

    trigger.fire();
    assert!(
        next_frame(&mut stream, &mut buffer).await.is_none(),
        "the stream ends at shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_evaluation_and_plots() {
    let router = http_router(state().await);
    let policy: Value =
        serde_json::from_str(&text(get(&router, "/alerts/policy").await).await).expect("json");
    let defaults = rul_fleet::AlertPolicy::default();
    assert_eq!(policy["rul_below"], defaults.rul_below);
    assert_eq!(policy["critical_below"], defaults.critical_below);
    assert_eq!(policy["engine_label"], "alert_rul_below");

    let response = get(&router, "/model/evaluation").await;
    assert_eq!(response.status(), StatusCode::OK);
    let evaluation: Value = serde_json::from_str(&text(response).await).expect("json");
    for key in [
        "reliability",
        "reliability_all_cycles",
        "interval_buckets",
        "plots",
    ] {
        assert!(evaluation[key].is_array(), "{key}: {evaluation}");
    }
    for name in [
        "scatter.png",
        "../metrics.json",
        "metrics.json",
        "..%2Fmetrics.json",
    ] {
        let response = get(&router, &format!("/model/plots/{name}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{name}");
    }

    let doc: Value =
        serde_json::from_str(&text(get(&router, "/openapi.json").await).await).expect("json");
    for path in [
        "/",
        "/ui/{file}",
        "/events",
        "/alerts/policy",
        "/model/evaluation",
        "/model/plots/{name}",
    ] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} not in /openapi.json"
        );
    }
}
