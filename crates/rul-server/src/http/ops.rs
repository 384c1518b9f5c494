//! The operations handlers: /health, /ready, /model, /metrics (small, read-only).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rul_core::ModelInfo;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::errors::{ApiError, ErrorBody};

/// Liveness answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct HealthResponse {
    /// Always "healthy" while the process serves HTTP.
    pub status: String,
    /// SERVICE_NAME.
    pub service: String,
    /// Server build version.
    pub version: String,
}

/// Readiness answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReadyResponse {
    /// Whether the model is loaded and warm.
    pub ready: bool,
    /// Loaded model version, when ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// Why not ready, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The serving model's card, as GET /model answers it (the core's `ModelInfo` without the server-side path).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ModelResponse {
    /// Content-hash version, e.g. "fd001-3f2a9c1b".
    pub version: String,
    /// C-MAPSS subset the model was trained on, e.g. "FD001".
    pub subset: String,
    /// Network architecture name, e.g. "conv_lstm".
    pub architecture: String,
    /// Window length in cycles (fewer readings are edge-padded).
    pub window: usize,
    /// Features per cycle fed to the network.
    pub n_features: usize,
    /// Sensors every reading must carry for this model.
    pub sensors: Vec<String>,
    /// Nominal coverage of the prediction interval, e.g. 0.9.
    pub calibration_level: f64,
    /// Tolerance (cycles) of the `confidence` figure.
    pub calibration_tolerance: f64,
    /// Headline evaluation metrics (name -> value); null when the artifact records none.
    #[schema(value_type = Option<Object>, required = true)]
    pub metrics: serde_json::Value,
    /// When training finished (RFC 3339, UTC); null when not recorded.
    #[schema(required = true)]
    pub created: Option<String>,
    /// The model card (Markdown).
    pub card: String,
}

impl ModelResponse {
    /// The card of `info` (metrics that are not a JSON object are reported as null).
    pub fn from_info(info: &ModelInfo) -> Self {
        let metrics = match &info.metrics {
            serde_json::Value::Object(_) => info.metrics.clone(),
            _ => serde_json::Value::Null,
        };
        Self {
            version: info.version.clone(),
            subset: info.subset.clone(),
            architecture: info.architecture.clone(),
            window: info.window,
            n_features: info.n_features,
            sensors: info.sensors.clone(),
            calibration_level: info.calibration_level,
            calibration_tolerance: info.calibration_tolerance,
            metrics,
            created: info.created.clone(),
            card: info.card.clone(),
        }
    }
}

/// Liveness: the process is up (does not depend on the model).
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = HealthResponse)))]
pub async fn health(State(state): State<AppState>) -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "healthy".into(),
        service: state.service_name.to_string(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Readiness: 200 once the model is loaded and warmed up, 503 before and from the start of a shutdown.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = ReadyResponse),
        (status = 503, description = "Not ready (loading, warming up, or shutting down)", body = ReadyResponse),
    )
)]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<ReadyResponse>) {
    if state.draining.is_set() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ReadyResponse {
                ready: false,
                model_version: None,
                reason: Some("shutting down".to_string()),
            }),
        );
    }
    if state.predictor.is_ready() {
        let model_version = state.predictor.model_info().map(|m| m.version.clone());
        (
            StatusCode::OK,
            Json(ReadyResponse {
                ready: true,
                model_version,
                reason: None,
            }),
        )
    } else {
        let reason = Some("model loading or warming up".to_string());
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ReadyResponse {
                ready: false,
                model_version: None,
                reason,
            }),
        )
    }
}

/// The loaded model's card: version, subset, window, features, sensors, calibration, metrics.
#[utoipa::path(
    get,
    path = "/model",
    tag = "operations",
    responses(
        (status = 200, description = "Model card", body = ModelResponse),
        (status = 503, description = "No model loaded yet", body = ErrorBody),
    )
)]
pub async fn model(State(state): State<AppState>) -> Result<Json<ModelResponse>, ApiError> {
    // The server-side directory is an internal detail; /admin/reload (authenticated) still reports it.
    match state.predictor.model_info() {
        Some(info) => Ok(Json(ModelResponse::from_info(&info))),
        None => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no model loaded yet",
        )),
    }
}

/// Prometheus text exposition of every `rul_*` metric.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 404, description = "No metrics recorder installed in this process", body = ErrorBody),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let Some(handle) = state.metrics.as_ref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics recorder not installed",
        ));
    };
    let text = handle.render();
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
