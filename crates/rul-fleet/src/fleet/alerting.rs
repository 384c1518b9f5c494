//! The fleet's alert side: acknowledging, listing, live events and the engine-state gauges.

use crate::alerts::{Alert, AlertState, Severity};
use crate::error::FleetError;
use crate::store::WriteBatch;
use crate::types::now_ms;

use super::{Fleet, FleetEvent};

/// Longest `who` and `note` of an acknowledgement (characters).
pub const MAX_ACK_TEXT: usize = 1000;

impl Fleet {
    /// Acknowledges an active alert (idempotent while it stays active); a cleared alert is a conflict.
    pub async fn ack(&self, alert_id: &str, who: &str, note: &str) -> Result<Alert, FleetError> {
        for (field, text) in [("who", who), ("note", note)] {
            if text.chars().count() > MAX_ACK_TEXT || text.chars().any(char::is_control) {
                return Err(FleetError::invalid(
                    None,
                    field,
                    format!("at most {MAX_ACK_TEXT} characters, no control characters"),
                ));
            }
        }
        if who.trim().is_empty() {
            return Err(FleetError::invalid(None, "who", "must not be empty"));
        }
        let stored = self
            .inner
            .store
            .alert(alert_id)
            .await?
            .ok_or(FleetError::AlertNotFound)?;
        if stored.state == AlertState::Cleared {
            return Err(FleetError::AlertCleared(stored.alert_id));
        }
        let slot = self
            .stored(&stored.engine_id)
            .ok_or(FleetError::AlertNotFound)?;
        let _turn = slot.queue().await;
        if slot.is_retired() {
            return Err(FleetError::AlertNotFound);
        }
        // Under the engine's turn the in-memory alert is authoritative (ingestion may have cleared it).
        let current = slot.state().alert.clone();
        let Some(active) = current.filter(|a| a.alert_id == alert_id) else {
            return Err(FleetError::AlertCleared(alert_id.to_string()));
        };
        let acked = Alert {
            state: AlertState::Acked,
            acked_by: Some(who.to_string()),
            ack_note: Some(note.to_string()),
            acked_ms: Some(now_ms()),
            ..active
        };
        self.inner
            .store
            .commit(WriteBatch {
                alerts: vec![acked.clone()],
                ..Default::default()
            })
            .await?;
        slot.state().alert = Some(acked.clone());
        self.alerted(vec![acked.clone()]);
        Ok(acked)
    }

    /// Alerts, newest first (all, or in one state, or of one engine), at most `limit`.
    pub async fn alerts(
        &self,
        state: Option<AlertState>,
        engine: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Alert>, FleetError> {
        self.inner.store.alerts(state, engine, limit).await
    }

    /// Publishes committed alert changes.
    pub(super) fn alerted(&self, changes: Vec<Alert>) {
        if changes.is_empty() {
            return;
        }
        for change in changes {
            tracing::info!(
                alert = change.alert_id.as_str(),
                severity = change.severity.as_str(),
                state = change.state.as_str(),
                lower = change.last_lower,
                "alert"
            );
            let _ = self.inner.events.send(FleetEvent::Alert(Box::new(change)));
        }
    }
}

/// Engines by their active alert's severity, for `rul_engines{state="ok|warning|critical"}`: kept
/// incrementally, since recounting 10,000 engines on every change would cost O(n) per reading.
#[derive(Debug, Default)]
pub(super) struct EngineCounts(std::sync::Mutex<[i64; 3]>);

impl EngineCounts {
    /// Moves one engine from `from` to `to` (None = no active alert); `added`/`removed` engines pass
    /// `from`/`to` as `Err(())`.
    pub(super) fn shift(
        &self,
        from: Result<Option<Severity>, ()>,
        to: Result<Option<Severity>, ()>,
    ) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(s) = from {
            counts[bucket(s)] -= 1;
        }
        if let Ok(s) = to {
            counts[bucket(s)] += 1;
        }
        publish(&counts);
    }

    /// Sets the counts from every engine's active alert (start-up).
    pub(super) fn recount(&self, alerts: impl Iterator<Item = Option<Severity>>) {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *counts = [0; 3];
        for s in alerts {
            counts[bucket(s)] += 1;
        }
        publish(&counts);
    }
}

fn bucket(s: Option<Severity>) -> usize {
    match s {
        None => 0,
        Some(Severity::Warning) => 1,
        Some(Severity::Critical) => 2,
    }
}

fn publish(counts: &[i64; 3]) {
    for (state, n) in ["ok", "warning", "critical"].into_iter().zip(counts) {
        metrics::gauge!("rul_engines", "state" => state).set(*n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_counts_follow_additions_changes_and_removals() {
        let counts = EngineCounts::default();
        counts.recount([None, Some(Severity::Warning)].into_iter());
        counts.shift(Err(()), Ok(None));
        counts.shift(Ok(None), Ok(Some(Severity::Critical)));
        counts.shift(Ok(Some(Severity::Warning)), Err(()));
        let snapshot = *counts.0.lock().unwrap();
        assert_eq!(snapshot, [1, 0, 1]);
    }
}
