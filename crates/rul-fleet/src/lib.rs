//! rul-fleet: engines report one cycle at a time; this crate keeps each engine's stream, its tracked RUL and
//! its history (no transports here — REST, gRPC and MQTT adapters call [`Fleet`]).
//!
//! - [`Fleet::ingest`] takes one or more readings of one engine, each with its cycle number. Cycles must
//!   increase: a redelivered reading (same cycle, same values) is acknowledged and ignored, another reading for
//!   a stored cycle or a cycle going backwards is a conflict, gaps are allowed and reported. Messages for one
//!   engine are applied in arrival order (a FIFO turn per engine); different engines run concurrently, so the
//!   prediction core batches them.
//! - Each new reading gets the model's estimate on the engine's last window (exactly what `/predict` on the
//!   same history answers) and a tracked RUL from [`tracker`] (a Kalman filter: RUL falls by one per cycle).
//! - A reading is acknowledged only after it and its prediction are committed to the [`Store`] (SQLite by
//!   default, PostgreSQL); commits are grouped. On start, [`Fleet::open`] rebuilds every engine from the store,
//!   so the next prediction after any stop equals the one an uninterrupted service would have given.

pub mod alerts;
pub mod drift;
mod error;
mod fleet;
pub mod input_eval;
pub mod ownership;
pub mod quality;
mod state;
pub mod store;
pub mod tracker;
pub mod tracking_eval;
mod types;

pub use alerts::{Alert, AlertPolicy, AlertState, Severity};
pub use error::FleetError;
pub use fleet::{DriftReport, EngineDrift, Fleet, FleetConfig, FleetEvent};
pub use ownership::{Ownership, replica_of};
pub use quality::{FlagKind, Quality, QualityFlag, QualityPolicy};
pub use store::Store;
pub use tracker::{TRACKER_FILE, TrackState, Tracked, Tracker, TrackerConfig, TrackerFileError};
pub use types::{
    CycleReading, EngineMeta, EnginePage, EngineView, Gap, IngestReport, ListQuery,
    MAX_READINGS_PER_MESSAGE, MAX_TAG_CHARS, MAX_TAGS, SortKey, StoredReading, TrackedPrediction,
    rfc3339_ms,
};

/// Deletes history older than `days` once an hour (and once at start); runs until the runtime stops.
pub fn spawn_retention(store: Store, days: u32) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let cutoff = chrono::Utc::now().timestamp_millis() - i64::from(days) * 86_400_000;
            match store.prune(cutoff).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, days, "pruned history past retention"),
                Err(e) => tracing::warn!(error = %e, "history pruning failed"),
            }
        }
    })
}
