//! Two `rul serve` replicas on one PostgreSQL database (FLEET_REPLICAS=2), each fed by its own `rul replay
//! --replica I/2` at the same time: every FD001 test reading is stored once, in cycle order, with its
//! prediction, and a reading sent to the wrong replica is refused with the owner's index. Needs the C-MAPSS
//! data and `RUL_TEST_POSTGRES_URL` (skips without them outside CI; with `CI=true` a missing URL fails).

mod common;

use std::process::Command;

use sqlx::Executor;

/// A fresh schema in the PostgreSQL test database; the URL selects it.
fn fresh_schema(base: &str) -> String {
    let schema = format!("replicas_{}", std::process::id());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(base).await.expect("PostgreSQL");
        pool.execute(
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}").as_str(),
        )
        .await
        .expect("schema");
    });
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

fn replica(db: &str, index: u32) -> common::Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rul"));
    command
        .arg("serve")
        .env("MODEL_PATH", rul_testkit::models_dir().join("fd001"))
        .env("HTTP_PORT", "0")
        .env("DATABASE_URL", db)
        .env("FLEET_REPLICAS", "2")
        .env("FLEET_REPLICA", index.to_string());
    let server = common::start(command);
    common::wait_for_200(server.http, "/ready");
    server
}

fn get(server: &common::Server, path: &str) -> serde_json::Value {
    let (status, body) = common::http(server.http, "GET", path, "text/plain", "");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

#[test]
fn two_replicas_on_one_database_lose_and_reorder_nothing() {
    let Some(data) = rul_testkit::cmapss_dir() else {
        return;
    };
    let Ok(base) = std::env::var("RUL_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set RUL_TEST_POSTGRES_URL for the two-replica test"
        );
        eprintln!("skipping: RUL_TEST_POSTGRES_URL is not set");
        return;
    };
    let db = fresh_schema(&base);
    let servers = [replica(&db, 0), replica(&db, 1)];

    // A misrouted reading is refused with its owner, and nothing is stored for it.
    let misrouted = (0..)
        .map(|n| format!("probe-{n}"))
        .find(|id| rul_fleet::replica_of(id, 2) == 1)
        .expect("an id owned by replica 1");
    let mut reading = common::readings()[0].clone();
    reading["cycle"] = 1.into();
    let body = serde_json::json!({ "readings": [reading] }).to_string();
    let (status, answer) = common::http(
        servers[0].http,
        "POST",
        &format!("/engines/{misrouted}/readings"),
        "application/json",
        &body,
    );
    assert_eq!(status, 421, "{answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
    assert_eq!(answer["type"], "wrong_replica");
    assert_eq!(answer["details"]["owner"], 1);

    // Both replays at once, each into its own replica.
    let replays: Vec<_> = servers
        .iter()
        .enumerate()
        .map(|(i, server)| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_rul"));
            command
                .args(["replay", "--subset", "FD001", "--split", "test", "--json"])
                .args(["--to", "grpc", "--grpc", &server.grpc.to_string()])
                .args(["--replica", &format!("{i}/2")])
                .arg("--data-dir")
                .arg(&data);
            std::thread::spawn(move || command.output().expect("rul replay"))
        })
        .collect();
    let mut accepted = 0;
    for handle in replays {
        let out = handle.join().expect("replay thread");
        assert!(
            out.status.success(),
            "replay failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report");
        assert_eq!(report["errors"], 0, "{report}");
        accepted += report["accepted"].as_u64().expect("accepted");
    }

    let fd001 = rul_data::load_subset(&data, rul_data::Subset::FD001).expect("FD001");
    let total: usize = fd001.test.iter().map(|e| e.cycles.len()).sum();
    assert_eq!(accepted as usize, total);
    let counts: Vec<u64> = servers
        .iter()
        .map(|s| {
            get(s, "/engines?limit=1")
                .get("total")
                .and_then(|t| t.as_u64())
                .expect("total")
        })
        .collect();
    assert_eq!(
        counts.iter().sum::<u64>(),
        100,
        "each replica lists only its own engines: {counts:?}"
    );
    assert!(
        counts.iter().all(|&c| c > 20),
        "the hash splits the fleet: {counts:?}"
    );
    for engine in &fd001.test {
        let id = format!("FD001-test-{:03}", engine.unit);
        let owner = &servers[rul_fleet::replica_of(&id, 2) as usize];
        let stored = get(owner, &format!("/engines/{id}/readings?limit=10000"));
        let cycles: Vec<u64> = stored["readings"]
            .as_array()
            .expect("readings")
            .iter()
            .map(|r| r["cycle"].as_u64().expect("cycle"))
            .collect();
        let expected: Vec<u64> = engine.cycles.iter().map(|c| u64::from(c.cycle)).collect();
        assert_eq!(cycles, expected, "{id}: every reading once, in order");
        let trajectory = get(owner, &format!("/engines/{id}/predictions?limit=10000"));
        let predicted: Vec<u64> = trajectory["predictions"]
            .as_array()
            .expect("predictions")
            .iter()
            .map(|p| p["cycle"].as_u64().expect("cycle"))
            .collect();
        assert_eq!(predicted, expected, "{id}: a prediction per reading");
    }
}
