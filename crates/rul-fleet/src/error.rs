//! The fleet's one error type; transports map it once (conflict → 409 / FAILED_PRECONDITION).

use rul_core::PredictError;

/// Everything that can go wrong when ingesting readings or querying the fleet.
#[derive(thiserror::Error, Debug, Clone)]
pub enum FleetError {
    /// The prediction core refused or failed (validation, overloaded, not ready, internal).
    #[error(transparent)]
    Predict(#[from] PredictError),
    /// A reading contradicts what is stored: another reading for an existing cycle, or a cycle going backwards.
    #[error("conflict: {message}")]
    Conflict {
        /// Index of the offending reading in the message.
        reading: usize,
        /// Client-safe explanation.
        message: String,
    },
    /// No such engine.
    #[error("engine not found")]
    NotFound,
    /// No such alert.
    #[error("alert not found")]
    AlertNotFound,
    /// The alert has cleared; it can no longer be acknowledged.
    #[error("alert {0} has cleared")]
    AlertCleared(String),
    /// Another replica owns this engine (FLEET_REPLICAS > 1); send its readings there.
    #[error("engine belongs to replica {owner} of {replicas}")]
    NotOwner {
        /// The owning replica's index.
        owner: u32,
        /// Replicas in all.
        replicas: u32,
    },
    /// The store failed; the detail is for logs only.
    #[error("store error: {0}")]
    Store(String),
}

impl FleetError {
    /// Stable machine-readable kind (metrics label and the `type` of error bodies).
    pub fn kind(&self) -> &'static str {
        match self {
            FleetError::Predict(e) => e.kind(),
            FleetError::Conflict { .. } => "conflict",
            FleetError::NotFound | FleetError::AlertNotFound => "not_found",
            FleetError::AlertCleared(_) => "conflict",
            FleetError::NotOwner { .. } => "wrong_replica",
            FleetError::Store(_) => "store",
        }
    }

    /// A message safe to show clients.
    pub fn public_message(&self) -> String {
        match self {
            FleetError::Predict(e) => e.public_message(),
            FleetError::Conflict { message, .. } => message.clone(),
            FleetError::NotFound => "engine not found".into(),
            FleetError::AlertNotFound => "alert not found".into(),
            FleetError::AlertCleared(id) => {
                format!("alert {id} has cleared; only active alerts can be acknowledged")
            }
            FleetError::NotOwner { owner, replicas } => {
                format!("this engine belongs to replica {owner} of {replicas}; send it there")
            }
            FleetError::Store(_) => "the history store is unavailable".into(),
        }
    }

    /// Shorthand for a validation error on one field of one reading.
    pub(crate) fn invalid(reading: Option<usize>, field: &str, reason: impl Into<String>) -> Self {
        FleetError::Predict(PredictError::Validation(rul_data::ValidationError::single(
            reading,
            Some(field),
            reason,
        )))
    }
}

impl From<sqlx::Error> for FleetError {
    fn from(e: sqlx::Error) -> Self {
        FleetError::Store(e.to_string())
    }
}
