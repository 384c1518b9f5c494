//! Shared fixtures of the fleet tests: a tiny trained model, a prediction core, plausible readings, and
//! stores on SQLite always and PostgreSQL when `RUL_TEST_POSTGRES_URL` is set (CI sets it; with `CI=true`
//! and no URL the PostgreSQL runs fail).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use rul_core::{Predictor, PredictorConfig, neutral_reading};
use rul_data::{Preprocessor, Reading};
use rul_fleet::{Fleet, FleetConfig, FleetError, Store};
use sqlx::Executor;
use tempfile::TempDir;

pub struct Fixture {
    pub model: PathBuf,
    pub pre: Preprocessor,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let model = rul_testkit::test_artifact("rul-fleet", 7).to_path_buf();
        let pre = rul_model::Artifact::load(&model)
            .unwrap()
            .preprocessor()
            .clone();
        Fixture { model, pre }
    })
}

pub async fn predictor() -> Predictor {
    let p = Predictor::start(PredictorConfig {
        model_path: fixture().model.clone(),
        max_wait: Duration::ZERO,
        cache_capacity: 0,
        ..Default::default()
    });
    p.wait_ready().await.unwrap();
    p
}

/// A plausible reading that drifts with the cycle, so consecutive windows differ.
pub fn reading(cycle: u64) -> Reading {
    let mut r = neutral_reading(&fixture().pre);
    let bounds = fixture().pre.sensor_bounds();
    for (j, b) in bounds.iter().enumerate() {
        r.sensors[input(j)] =
            Some(b.min + (b.max - b.min) * (0.3 + 0.4 * ((cycle % 50) as f64 / 50.0)));
    }
    r
}

/// Position (in s1..s21) of the test model's `j`-th input.
pub fn input(j: usize) -> usize {
    rul_data::sensor_index(&fixture().pre.config().sensors[j]).expect("a sensor")
}

/// Where a test's store lives; `url` opens it (again, for restart tests).
pub struct Db {
    pub url: String,
    _dir: Option<TempDir>,
}

pub async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fleet.db").display());
    Db {
        url,
        _dir: Some(dir),
    }
}

/// A fresh schema in the PostgreSQL test database, or None when no server is configured (outside CI).
pub async fn postgres(name: &str) -> Option<Db> {
    let Ok(base) = std::env::var("RUL_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must set RUL_TEST_POSTGRES_URL so the store tests also run on PostgreSQL"
        );
        eprintln!("skipping PostgreSQL run of {name}: RUL_TEST_POSTGRES_URL is not set");
        return None;
    };
    sqlx::any::install_default_drivers();
    let schema = format!("fleet_{name}_{}", std::process::id());
    let pool = sqlx::AnyPool::connect(&base).await.unwrap();
    pool.execute(
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}").as_str(),
    )
    .await
    .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(Db {
        url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        _dir: None,
    })
}

pub async fn open(db: &Db) -> Fleet {
    open_with(db, FleetConfig::default()).await
}

/// The fleet over `db` with `config`.
pub async fn open_with(db: &Db, config: FleetConfig) -> Fleet {
    let store = Store::connect(&db.url).await.unwrap();
    Fleet::open(predictor().await, store, config).await.unwrap()
}

/// Runs `$body(db)` on SQLite and, when configured, PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $body(sqlite().await).await;
            if let Some(db) = postgres(stringify!($name)).await {
                $body(db).await;
            }
        }
    };
}

pub async fn ingest_one(
    fleet: &Fleet,
    id: &str,
    cycle: u64,
) -> Result<rul_fleet::IngestReport, FleetError> {
    fleet
        .ingest(id.to_string(), vec![(cycle, reading(cycle))])
        .await
}
