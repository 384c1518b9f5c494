//! GET /drift: the fleet's input drift against the serving model's training distribution. The handler only
//! calls [`rul_fleet::Fleet::drift_report`] and maps it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::errors::{ApiError, ErrorBody};
use super::fleet::DriftBody;
use super::fleet::fleet;

/// Answer of GET /drift.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DriftReportBody {
    /// Readings of the fleet the per-input figures cover (the most recent, across engines; DRIFT_FLEET_WINDOW
    /// at most).
    pub readings: usize,
    /// Per-engine score above which an engine counts as drifting (the largest seen on any training engine).
    pub engine_threshold: f64,
    /// Readings one engine's score averages.
    pub engine_window: usize,
    /// Per model input: the fleet's drift and the training statistics.
    pub sensors: Vec<SensorDriftBody>,
    /// Drifting engines, highest score first (at most 1000).
    pub engines: Vec<DriftingEngineBody>,
    /// Drifting engines in all.
    pub drifting: usize,
}

/// One model input across the fleet.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SensorDriftBody {
    /// The input, e.g. "s11".
    pub sensor: String,
    /// Population stability index of the fleet's recent readings over the training deciles (0 = no shift;
    /// above 0.25 is commonly read as significant). Also exported as `rul_input_drift{sensor}`.
    pub psi: f64,
    /// Mean of the fleet's recent readings minus the training mean, in training standard deviations.
    pub mean_shift: f64,
    /// Smallest training value (across operating conditions).
    pub train_min: f64,
    /// Largest training value (across operating conditions).
    pub train_max: f64,
    /// Training mean (first operating condition).
    pub train_mean: f64,
    /// Training standard deviation (first operating condition).
    pub train_std: f64,
}

/// One drifting engine.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DriftingEngineBody {
    /// The engine.
    pub engine_id: String,
    /// Its drift.
    #[serde(flatten)]
    pub drift: DriftBody,
}

impl From<&rul_fleet::DriftReport> for DriftReportBody {
    fn from(r: &rul_fleet::DriftReport) -> Self {
        DriftReportBody {
            readings: r.readings,
            engine_threshold: r.engine_threshold,
            engine_window: r.engine_window,
            sensors: r
                .sensors
                .iter()
                .map(|s| SensorDriftBody {
                    sensor: s.sensor.clone(),
                    psi: s.psi,
                    mean_shift: s.mean_shift,
                    train_min: s.train_min,
                    train_max: s.train_max,
                    train_mean: s.train_mean,
                    train_std: s.train_std,
                })
                .collect(),
            engines: r
                .engines
                .iter()
                .map(|e| DriftingEngineBody {
                    engine_id: e.engine_id.clone(),
                    drift: DriftBody::from(&e.drift),
                })
                .collect(),
            drifting: r.drifting,
        }
    }
}

/// Input drift of the fleet and of each engine against the model's training distribution.
#[utoipa::path(
    get,
    path = "/drift",
    tag = "fleet",
    responses(
        (status = 200, description = "The fleet's drift", body = DriftReportBody),
        (status = 404, description = "The serving model ships no training profile (inputs.json)", body = ErrorBody),
        (status = 503, description = "Fleet not enabled", body = ErrorBody),
    )
)]
pub async fn report(State(state): State<AppState>) -> Result<Json<DriftReportBody>, ApiError> {
    let report = fleet(&state)?.drift_report().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "the serving model has no training profile (inputs.json), so drift is not scored",
        )
    })?;
    Ok(Json(DriftReportBody::from(&report)))
}
