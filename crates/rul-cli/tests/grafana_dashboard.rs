//! deploy/grafana/rul-dashboard.json against the service it watches: the dashboard's structure for the Grafana
//! schema version it names, and every panel query's metric names among those a real `rul serve` exports
//! (scraped from /metrics after traffic on every path the dashboard covers: REST and gRPC, the fleet, alerts,
//! and a remote endpoint that fails over to the local model).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

/// The schema version the dashboard is written for (Grafana 11.0).
const SCHEMA_VERSION: u64 = 39;
/// Panel types of Grafana 11 the dashboard may use.
const PANEL_TYPES: [&str; 6] = ["row", "timeseries", "stat", "gauge", "bargauge", "table"];

fn dashboard() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/rul-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("dashboard JSON");
    serde_json::from_str(&text).expect("valid JSON")
}

/// Every panel, rows' collapsed children included.
fn panels(dash: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dash["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(children) = p["panels"].as_array() {
            out.extend(children);
        }
    }
    out
}

/// The `rul_*` metric names a PromQL expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    let mut in_string = false;
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            in_string = !in_string;
        }
        if !in_string && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
        } else {
            if word.starts_with("rul_") {
                names.insert(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    names
}

#[test]
fn structure_matches_the_schema_version_it_names() {
    let dash = dashboard();
    assert_eq!(dash["schemaVersion"], SCHEMA_VERSION);
    for key in ["title", "uid"] {
        assert!(dash[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
    }
    assert!(
        dash["uid"].as_str().is_some_and(|u| u.len() <= 40),
        "uid at most 40 characters"
    );
    assert!(dash["time"]["from"].is_string() && dash["time"]["to"].is_string());
    assert!(
        dash["id"].is_null(),
        "provisioned dashboards leave id to Grafana"
    );
    let variables: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .map(|v| v["name"].as_str().expect("variable name"))
        .collect();
    assert!(variables.contains(&"datasource") && variables.contains(&"job"));

    let mut ids = HashSet::new();
    for panel in panels(&dash) {
        let title = panel["title"].as_str().expect("title");
        assert!(
            ids.insert(panel["id"].as_u64().expect("numeric id")),
            "duplicate id at {title}"
        );
        let kind = panel["type"].as_str().expect("type");
        assert!(PANEL_TYPES.contains(&kind), "{title}: panel type {kind}");
        let grid = &panel["gridPos"];
        let (x, w, h) = (grid["x"].as_u64(), grid["w"].as_u64(), grid["h"].as_u64());
        let (Some(x), Some(w), Some(h), Some(_)) = (x, w, h, grid["y"].as_u64()) else {
            panic!("{title}: gridPos needs integer x, y, w, h");
        };
        assert!(
            w >= 1 && h >= 1 && x + w <= 24,
            "{title}: gridPos outside the 24 columns"
        );
        if kind == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["type"], "prometheus", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        let mut refs = HashSet::new();
        for t in targets {
            assert!(
                refs.insert(t["refId"].as_str().expect("refId")),
                "{title}: duplicate refId"
            );
            let expr = t["expr"].as_str().expect("expr");
            assert!(
                !metric_names(expr).is_empty(),
                "{title}: {expr} reads no rul_ metric"
            );
        }
    }
    // What the issue asks the dashboard to show.
    let all: BTreeSet<String> = panels(&dash)
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .flat_map(|t| metric_names(t["expr"].as_str().unwrap_or_default()))
        .collect();
    for wanted in [
        "rul_requests_total",
        "rul_request_duration_seconds_bucket",
        "rul_queue_depth",
        "rul_batch_size_bucket",
        "rul_cache_hits_total",
        "rul_remote_fallbacks_total",
        "rul_remote_breaker_state",
        "rul_engines",
        "rul_fleet_readings_total",
    ] {
        assert!(all.contains(wanted), "no panel shows {wanted}");
    }
}

/// Sample names of a Prometheus text exposition.
fn exported(scrape: &str) -> HashSet<String> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_query_names_a_metric_the_service_exports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    rul_model::write_test_artifact(&model, 5).expect("test artifact");
    // A remote endpoint on a port nothing listens on: every remote call fails over to the local model.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let mut command = Command::new(env!("CARGO_BIN_EXE_rul"));
    command
        .arg("serve")
        .env("MODEL_PATH", &model)
        .env("HTTP_PORT", "0")
        .env("ALERT_RUL_BELOW", "100000")
        .env("ALERT_CLEAR_ABOVE", "100000")
        .env("SAGEMAKER_ENDPOINT", "rul-test")
        .env("SAGEMAKER_ENDPOINT_URL", format!("http://{closed}"))
        .env("SAGEMAKER_MAX_ATTEMPTS", "1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    let server = common::start(command);
    common::wait_for_200(server.http, "/ready");

    let readings = common::readings();
    let http = |method: &str, path: &str, body: &Value| {
        common::http(
            server.http,
            method,
            path,
            "application/json",
            &body.to_string(),
        )
    };
    // The same history twice: a cache miss, then a hit.
    let local = json!({ "engine_id": "g-1", "sensor_data": readings });
    for _ in 0..2 {
        let (status, body) = http("POST", "/predict", &local);
        assert_eq!(status, 200, "{body}");
    }
    let remote = json!({ "engine_id": "g-2", "sensor_data": readings, "use_sagemaker": true });
    let (status, body) = http("POST", "/predict", &remote);
    assert_eq!(status, 200, "answered locally: {body}");
    let (status, body) = http(
        "POST",
        "/predict",
        &json!({ "engine_id": "g-3", "sensor_data": [] }),
    );
    assert_eq!(status, 422, "{body}");
    let cycles: Vec<Value> = readings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut r = r.clone();
            r["cycle"] = json!(i + 1);
            r
        })
        .collect();
    let (status, body) = http(
        "POST",
        "/engines/g-4/readings",
        &json!({ "readings": cycles }),
    );
    assert_eq!(status, 200, "{body}");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut client = rul_client::grpc_client(&server.grpc.to_string())
            .await
            .expect("gRPC client");
        client
            .list_engines(rul_client::pb::ListEnginesRequest::default())
            .await
            .expect("gRPC call");
    });
    let (status, scrape) = common::http(server.http, "GET", "/metrics", "text/plain", "");
    assert_eq!(status, 200);
    let names = exported(&scrape);

    let dash = dashboard();
    let mut missing = BTreeSet::new();
    for panel in panels(&dash) {
        for t in panel["targets"].as_array().into_iter().flatten() {
            for name in metric_names(t["expr"].as_str().unwrap_or_default()) {
                if !names.contains(&name) {
                    missing.insert(format!(
                        "{name} ({})",
                        panel["title"].as_str().unwrap_or("?")
                    ));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "queries name metrics /metrics does not export: {missing:?}\n{scrape}"
    );
}
