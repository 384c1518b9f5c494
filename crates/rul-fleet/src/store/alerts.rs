//! Alerts in the store: one row per alert, upserted on every change (in the same transaction as the
//! prediction that caused it), and the queries behind `GET /alerts` and the start-up rebuild.

use sqlx::Row;

use super::{AnyQuery, Store};
use crate::alerts::{Alert, AlertState, Severity};
use crate::error::FleetError;

/// Upsert of one alert row (15 parameters).
pub(crate) const UPSERT: &str = "INSERT INTO alerts (alert_id, engine_id, severity, state, threshold, \
     opened_cycle, opened_lower, last_lower, updated_cycle, opened_ms, acked_by, ack_note, acked_ms, \
     cleared_cycle, cleared_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
     ON CONFLICT (alert_id) DO UPDATE SET severity = excluded.severity, state = excluded.state, \
     last_lower = excluded.last_lower, updated_cycle = excluded.updated_cycle, acked_by = excluded.acked_by, \
     ack_note = excluded.ack_note, acked_ms = excluded.acked_ms, cleared_cycle = excluded.cleared_cycle, \
     cleared_ms = excluded.cleared_ms";

const COLUMNS: &str = "alert_id, engine_id, severity, state, threshold, opened_cycle, opened_lower, \
     last_lower, updated_cycle, opened_ms, acked_by, ack_note, acked_ms, cleared_cycle, cleared_ms";

/// Binds `a` to [`UPSERT`].
pub(crate) fn bind<'q>(q: AnyQuery<'q>, a: &Alert) -> AnyQuery<'q> {
    q.bind(a.alert_id.clone())
        .bind(a.engine_id.clone())
        .bind(a.severity.as_str())
        .bind(a.state.as_str())
        .bind(a.threshold)
        .bind(a.opened_cycle as i64)
        .bind(a.opened_lower)
        .bind(a.last_lower)
        .bind(a.updated_cycle as i64)
        .bind(a.opened_ms)
        .bind(a.acked_by.clone())
        .bind(a.ack_note.clone())
        .bind(a.acked_ms)
        .bind(a.cleared_cycle.map(|c| c as i64))
        .bind(a.cleared_ms)
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Alert, FleetError> {
    let text = |name: &str| row.try_get::<String, _>(name);
    let severity = Severity::parse(&text("severity")?)
        .ok_or_else(|| FleetError::Store("alerts: unknown severity in the store".into()))?;
    let state = AlertState::parse(&text("state")?)
        .ok_or_else(|| FleetError::Store("alerts: unknown state in the store".into()))?;
    Ok(Alert {
        alert_id: text("alert_id")?,
        engine_id: text("engine_id")?,
        severity,
        state,
        threshold: row.try_get("threshold")?,
        opened_cycle: row.try_get::<i64, _>("opened_cycle")? as u64,
        opened_lower: row.try_get("opened_lower")?,
        last_lower: row.try_get("last_lower")?,
        updated_cycle: row.try_get::<i64, _>("updated_cycle")? as u64,
        opened_ms: row.try_get("opened_ms")?,
        acked_by: row.try_get("acked_by")?,
        ack_note: row.try_get("ack_note")?,
        acked_ms: row.try_get("acked_ms")?,
        cleared_cycle: row
            .try_get::<Option<i64>, _>("cleared_cycle")?
            .map(|c| c as u64),
        cleared_ms: row.try_get("cleared_ms")?,
    })
}

impl Store {
    /// Alerts, newest first: all, or those in `state`, or one engine's; at most `limit`.
    pub async fn alerts(
        &self,
        state: Option<AlertState>,
        engine: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Alert>, FleetError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM alerts WHERE ($1 = '' OR state = $1) AND ($2 = '' OR engine_id = $2) \
             ORDER BY opened_ms DESC, alert_id LIMIT $3"
        ))
        .bind(state.map_or("", AlertState::as_str))
        .bind(engine.unwrap_or("").to_string())
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// One alert by id.
    pub async fn alert(&self, alert_id: &str) -> Result<Option<Alert>, FleetError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM alerts WHERE alert_id = $1"))
            .bind(alert_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Every alert not yet cleared (start-up rebuild).
    pub(crate) async fn active_alerts(&self) -> Result<Vec<Alert>, FleetError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM alerts WHERE state <> 'cleared'"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }
}
