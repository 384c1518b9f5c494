//! Group commit: one task owns every write; whatever is queued when it wakes goes into one transaction, so
//! throughput pays one fsync per group, not per reading, and a reading is acknowledged only after its commit.

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use crate::error::FleetError;
use crate::types::{CycleReading, EngineMeta, TrackedPrediction};

/// Most jobs folded into one transaction.
const MAX_GROUP: usize = 256;
/// Rows per multi-row INSERT (4–14 parameters each; far below SQLite's 32766-variable limit).
const ROWS_PER_STATEMENT: usize = 200;

/// Everything one ingest message (or admin call) writes, committed together.
#[derive(Default)]
pub(crate) struct WriteBatch {
    /// Engines to insert if absent (engine id, metadata, created ms).
    pub(crate) new_engines: Vec<(String, EngineMeta, i64)>,
    /// Engines whose metadata is replaced.
    pub(crate) meta_updates: Vec<(String, EngineMeta, i64)>,
    /// Readings of one engine.
    pub(crate) readings: Vec<(String, CycleReading, i64)>,
    /// Predictions (one per new reading).
    pub(crate) predictions: Vec<(TrackedPrediction, i64)>,
    /// Engines whose whole history is removed.
    pub(crate) deletes: Vec<String>,
    /// Alerts opened or changed.
    pub(crate) alerts: Vec<crate::alerts::Alert>,
}

pub(crate) struct Job {
    pub(crate) batch: WriteBatch,
    pub(crate) done: oneshot::Sender<Result<(), FleetError>>,
}

/// Runs until every sender is gone: takes what is queued (up to [`MAX_GROUP`] jobs), writes it in one
/// transaction, answers every job with the commit's outcome.
pub(crate) async fn run(pool: AnyPool, mut rx: mpsc::Receiver<Job>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        let started = std::time::Instant::now();
        let result = commit(&pool, &group).await;
        metrics::histogram!("rul_store_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("rul_store_commit_jobs").record(group.len() as f64);
        if let Err(e) = &result {
            tracing::error!(error = %e, jobs = group.len(), "store commit failed");
        }
        for job in group.drain(..) {
            let _ = job.done.send(result.clone());
        }
    }
}

async fn commit(pool: &AnyPool, jobs: &[Job]) -> Result<(), FleetError> {
    let mut tx = pool.begin().await?;
    let engines: Vec<_> = jobs.iter().flat_map(|j| &j.batch.new_engines).collect();
    insert_rows(
        &mut tx,
        "INSERT INTO engines (engine_id, tags, labels, created_ms, updated_ms) VALUES ",
        5,
        " ON CONFLICT (engine_id) DO NOTHING",
        &engines,
        |q, (id, meta, ms)| {
            let (tags, labels) = meta_json(meta);
            q.bind(id.clone())
                .bind(tags)
                .bind(labels)
                .bind(*ms)
                .bind(*ms)
        },
    )
    .await?;
    for job in jobs {
        for (id, meta, ms) in &job.batch.meta_updates {
            let (tags, labels) = meta_json(meta);
            sqlx::query(
                "INSERT INTO engines (engine_id, tags, labels, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (engine_id) DO UPDATE SET tags = excluded.tags, labels = excluded.labels, \
                 updated_ms = excluded.updated_ms",
            )
            .bind(id.clone())
            .bind(tags)
            .bind(labels)
            .bind(*ms)
            .execute(&mut *tx)
            .await?;
        }
        for id in &job.batch.deletes {
            for table in ["alerts", "predictions", "readings", "engines"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE engine_id = $1"))
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    let readings: Vec<_> = jobs.iter().flat_map(|j| &j.batch.readings).collect();
    insert_rows(
        &mut tx,
        "INSERT INTO readings (engine_id, cycle, vals, received_ms) VALUES ",
        4,
        " ON CONFLICT (engine_id, cycle) DO NOTHING",
        &readings,
        |q, (id, r, ms)| {
            q.bind(id.clone())
                .bind(r.cycle as i64)
                .bind(r.values_json())
                .bind(*ms)
        },
    )
    .await?;
    let predictions: Vec<_> = jobs.iter().flat_map(|j| &j.batch.predictions).collect();
    insert_rows(
        &mut tx,
        "INSERT INTO predictions (engine_id, cycle, rul, lower_bound, upper_bound, rul_model, model_lower, \
         model_upper, level, confidence, track_mean, track_var, model_version, created_ms, quality) VALUES ",
        15,
        " ON CONFLICT (engine_id, cycle) DO NOTHING",
        &predictions,
        |q, (p, ms)| {
            q.bind(p.engine_id.clone())
                .bind(p.cycle as i64)
                .bind(p.rul)
                .bind(p.lower)
                .bind(p.upper)
                .bind(p.rul_model)
                .bind(p.model_lower)
                .bind(p.model_upper)
                .bind(p.level)
                .bind(p.confidence)
                .bind(p.track.mean)
                .bind(p.track.var)
                .bind(p.model_version.clone())
                .bind(*ms)
                .bind(p.quality.to_json())
        },
    )
    .await?;
    for alert in jobs.iter().flat_map(|j| &j.batch.alerts) {
        super::alerts::bind(sqlx::query(super::alerts::UPSERT), alert)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Multi-row INSERTs of `rows`, [`ROWS_PER_STATEMENT`] at a time, with `$n` placeholders (valid on both backends).
async fn insert_rows<'r, T>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    head: &str,
    columns: usize,
    tail: &str,
    rows: &[&'r T],
    bind: impl for<'q> Fn(AnyQuery<'q>, &'r T) -> AnyQuery<'q>,
) -> Result<(), FleetError> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = multi_row_sql(head, columns, chunk.len(), tail);
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = bind(query, *row);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `head ($1, $2), ($3, $4) tail` for `rows` rows of `columns` parameters.
fn multi_row_sql(head: &str, columns: usize, rows: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + tail.len() + rows * columns * 6);
    sql.push_str(head);
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * columns + c + 1).to_string());
        }
        sql.push(')');
    }
    sql.push_str(tail);
    sql
}

/// Tags and labels as the JSON text the engines table stores.
pub(crate) fn meta_json(meta: &EngineMeta) -> (String, String) {
    (
        serde_json::to_string(&meta.tags).unwrap_or_else(|_| "[]".into()),
        serde_json::to_string(&meta.labels).unwrap_or_else(|_| "{}".into()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(
            multi_row_sql(
                "INSERT INTO t (a, b) VALUES ",
                2,
                2,
                " ON CONFLICT DO NOTHING"
            ),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
    }
}
