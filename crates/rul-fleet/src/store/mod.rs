//! The history store: engines, readings and tracked predictions in SQLite (default, WAL, embedded) or
//! PostgreSQL, through one pool of sqlx's Any driver so both run the same portable SQL and migrations.

mod alerts;
mod writer;

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::{mpsc, oneshot};

use writer::AnyQuery;
pub(crate) use writer::WriteBatch;

use crate::error::FleetError;
use crate::quality::Quality;
use crate::tracker::TrackState;
use crate::types::{CycleReading, EngineMeta, StoredReading, TrackedPrediction, rfc3339_ms};

/// Versioned schema migrations (portable SQL), embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Jobs that may wait for the writer before ingestion backs off.
const WRITE_QUEUE: usize = 4096;

/// One engine as stored: metadata, bookkeeping, its last readings and latest prediction.
#[derive(Debug)]
pub(crate) struct StoredEngine {
    pub(crate) meta: EngineMeta,
    pub(crate) created_ms: i64,
    pub(crate) first_cycle: Option<u64>,
    pub(crate) count: u64,
    /// Oldest first.
    pub(crate) recent: Vec<CycleReading>,
    pub(crate) latest: Option<TrackedPrediction>,
}

/// Handle to the store: a connection pool plus the group-commit writer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    writes: mpsc::Sender<writer::Job>,
    backend: &'static str,
}

impl Store {
    /// Connects to `url` (`sqlite://FILE` — created if missing — or `postgres://…`), applies migrations and
    /// starts the writer. SQLite runs in WAL mode with `synchronous=FULL`: a commit survives a crash.
    pub async fn connect(url: &str) -> Result<Store, FleetError> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        let url = if sqlite && !url.contains('?') && !url.contains(":memory:") {
            format!("{url}?mode=rwc")
        } else {
            url.to_string()
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| FleetError::Store(format!("DATABASE_URL: {e}")))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| FleetError::Store(format!("migrations: {e}")))?;
        let (writes, rx) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(writer::run(pool.clone(), rx));
        Ok(Store {
            pool,
            writes,
            backend: if sqlite { "sqlite" } else { "postgres" },
        })
    }

    /// "sqlite" or "postgres".
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Commits `batch` (grouped with whatever else is queued); returns once it is durable.
    pub(crate) async fn commit(&self, batch: WriteBatch) -> Result<(), FleetError> {
        let (done, wait) = oneshot::channel();
        self.writes
            .send(writer::Job { batch, done })
            .await
            .map_err(|_| FleetError::Store("store writer stopped".into()))?;
        wait.await
            .map_err(|_| FleetError::Store("store writer stopped".into()))?
    }

    /// Every engine with its last `keep` readings and latest prediction (start-up rebuild).
    pub(crate) async fn load_all(
        &self,
        keep: usize,
    ) -> Result<HashMap<String, StoredEngine>, FleetError> {
        let mut engines = HashMap::new();
        for row in sqlx::query("SELECT engine_id, tags, labels, created_ms FROM engines")
            .fetch_all(&self.pool)
            .await?
        {
            let id: String = row.try_get("engine_id")?;
            let meta = parse_meta(
                &row.try_get::<String, _>("tags")?,
                &row.try_get::<String, _>("labels")?,
            );
            engines.insert(
                id,
                StoredEngine {
                    meta,
                    created_ms: row.try_get("created_ms")?,
                    first_cycle: None,
                    count: 0,
                    recent: Vec::new(),
                    latest: None,
                },
            );
        }
        for row in sqlx::query(
            "SELECT engine_id, MIN(cycle) AS first_cycle, COUNT(*) AS n FROM readings GROUP BY engine_id",
        )
        .fetch_all(&self.pool)
        .await?
        {
            let id: String = row.try_get("engine_id")?;
            if let Some(e) = engines.get_mut(&id) {
                e.first_cycle = Some(row.try_get::<i64, _>("first_cycle")? as u64);
                e.count = row.try_get::<i64, _>("n")? as u64;
            }
        }
        for row in sqlx::query(
            "SELECT engine_id, cycle, vals FROM (SELECT engine_id, cycle, vals, ROW_NUMBER() OVER \
             (PARTITION BY engine_id ORDER BY cycle DESC) AS k FROM readings) recent WHERE k <= $1 \
             ORDER BY engine_id, cycle",
        )
        .bind(keep as i64)
        .fetch_all(&self.pool)
        .await?
        {
            let id: String = row.try_get("engine_id")?;
            let cycle = row.try_get::<i64, _>("cycle")? as u64;
            let reading = CycleReading::from_json(cycle, &row.try_get::<String, _>("vals")?)?;
            if let Some(e) = engines.get_mut(&id) {
                e.recent.push(reading);
            }
        }
        for row in sqlx::query(&format!(
            "SELECT {PREDICTION_COLUMNS} FROM predictions p WHERE cycle = \
             (SELECT MAX(cycle) FROM predictions q WHERE q.engine_id = p.engine_id)"
        ))
        .fetch_all(&self.pool)
        .await?
        {
            let p = prediction_from_row(&row)?;
            if let Some(e) = engines.get_mut(&p.engine_id) {
                e.latest = Some(p);
            }
        }
        Ok(engines)
    }

    /// The stored reading of `engine` at `cycle`, if any (for redeliveries older than the in-memory window).
    pub(crate) async fn reading_at(
        &self,
        engine: &str,
        cycle: u64,
    ) -> Result<Option<CycleReading>, FleetError> {
        let row = sqlx::query("SELECT vals FROM readings WHERE engine_id = $1 AND cycle = $2")
            .bind(engine.to_string())
            .bind(cycle as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| CycleReading::from_json(cycle, &r.try_get::<String, _>("vals")?))
            .transpose()
    }

    /// An engine's last `n` stored readings, oldest first.
    pub(crate) async fn last_readings(
        &self,
        engine: &str,
        n: usize,
    ) -> Result<Vec<CycleReading>, FleetError> {
        let rows = sqlx::query(
            "SELECT cycle, vals FROM readings WHERE engine_id = $1 ORDER BY cycle DESC LIMIT $2",
        )
        .bind(engine.to_string())
        .bind(n as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut readings = rows
            .iter()
            .map(|row| {
                let cycle = row.try_get::<i64, _>("cycle")? as u64;
                CycleReading::from_json(cycle, &row.try_get::<String, _>("vals")?)
            })
            .collect::<Result<Vec<_>, _>>()?;
        readings.reverse();
        Ok(readings)
    }

    /// An engine's predictions with `from <= cycle <= to`, oldest first, at most `limit`.
    pub async fn predictions(
        &self,
        engine: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<TrackedPrediction>, FleetError> {
        let rows = sqlx::query(&format!(
            "SELECT {PREDICTION_COLUMNS} FROM predictions WHERE engine_id = $1 AND cycle >= $2 AND cycle <= $3 \
             ORDER BY cycle LIMIT $4"
        ))
        .bind(engine.to_string())
        .bind(clamp_i64(from))
        .bind(clamp_i64(to))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(prediction_from_row).collect()
    }

    /// An engine's readings with `from <= cycle <= to`, oldest first, at most `limit`.
    pub async fn readings(
        &self,
        engine: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<StoredReading>, FleetError> {
        let rows = sqlx::query(
            "SELECT cycle, vals FROM readings WHERE engine_id = $1 AND cycle >= $2 AND cycle <= $3 \
             ORDER BY cycle LIMIT $4",
        )
        .bind(engine.to_string())
        .bind(clamp_i64(from))
        .bind(clamp_i64(to))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let cycle = row.try_get::<i64, _>("cycle")? as u64;
                let r = CycleReading::from_json(cycle, &row.try_get::<String, _>("vals")?)?;
                Ok(StoredReading {
                    cycle,
                    values: r.named(),
                })
            })
            .collect()
    }

    /// Deletes readings and predictions received before `cutoff_ms` (retention); returns rows removed.
    pub async fn prune(&self, cutoff_ms: i64) -> Result<u64, FleetError> {
        let mut removed = 0;
        for sql in [
            "DELETE FROM readings WHERE received_ms < $1",
            "DELETE FROM predictions WHERE created_ms < $1",
        ] {
            removed += sqlx::query(sql)
                .bind(cutoff_ms)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(removed)
    }
}

const PREDICTION_COLUMNS: &str = "engine_id, cycle, rul, lower_bound, upper_bound, rul_model, model_lower, \
     model_upper, level, confidence, track_mean, track_var, model_version, created_ms, quality";

fn prediction_from_row(row: &sqlx::any::AnyRow) -> Result<TrackedPrediction, FleetError> {
    let cycle = row.try_get::<i64, _>("cycle")? as u64;
    Ok(TrackedPrediction {
        engine_id: row.try_get("engine_id")?,
        cycle,
        rul: row.try_get("rul")?,
        lower: row.try_get("lower_bound")?,
        upper: row.try_get("upper_bound")?,
        rul_model: row.try_get("rul_model")?,
        model_lower: row.try_get("model_lower")?,
        model_upper: row.try_get("model_upper")?,
        level: row.try_get("level")?,
        confidence: row.try_get("confidence")?,
        model_version: row.try_get("model_version")?,
        at: rfc3339_ms(row.try_get("created_ms")?),
        track: TrackState {
            cycle,
            mean: row.try_get("track_mean")?,
            var: row.try_get("track_var")?,
        },
        quality: Quality::from_json(row.try_get::<Option<String>, _>("quality")?.as_deref()),
    })
}

fn parse_meta(tags: &str, labels: &str) -> EngineMeta {
    EngineMeta {
        tags: serde_json::from_str(tags).unwrap_or_default(),
        labels: serde_json::from_str(labels).unwrap_or_default(),
    }
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
