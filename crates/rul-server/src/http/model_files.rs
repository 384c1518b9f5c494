//! What the dashboard's model view shows beyond the card: the evaluation tables of the loaded artifact's
//! `metrics.json` (reliability of `confidence`, interval coverage by RUL bucket) and the PNG plots that
//! `rul evaluate --plots <model dir>` wrote next to it. Only the known plot names are served; a name from the
//! client is looked up in that list and never becomes a path.

use std::path::PathBuf;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::errors::{ApiError, ErrorBody};

/// The plots `rul evaluate --plots` draws, in the order the model view shows them.
pub const PLOT_NAMES: [&str; 5] = [
    "scatter.png",
    "errors.png",
    "trajectories.png",
    "alpha_lambda.png",
    "policy.png",
];

/// One bin of the reliability diagram: predictions whose `confidence` fell in `[lo, hi)`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReliabilityBinBody {
    /// Lower edge of the confidence bin.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Predictions in the bin.
    pub count: u64,
    /// Their mean stated confidence.
    pub mean_confidence: f64,
    /// The share of them within the tolerance (observed frequency).
    pub observed: f64,
}

/// Interval quality over test predictions whose true RUL fell in `[lo, hi)`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct IntervalBucketBody {
    /// Lower edge (cycles of true RUL).
    pub lo: f64,
    /// Upper edge; null for the last, unbounded bucket.
    #[schema(required = true)]
    pub hi: Option<f64>,
    /// Predictions in the bucket.
    pub count: u64,
    /// Share of true RULs inside the interval.
    pub coverage: f64,
    /// Mean interval width (cycles).
    pub mean_width: f64,
    /// RMSE of the point estimate (cycles).
    pub rmse: f64,
}

/// Answer of GET /model/evaluation.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct EvaluationBody {
    /// Model version these figures belong to.
    pub version: String,
    /// Reliability diagram of `confidence` on the test set's last cycles (empty when not recorded).
    pub reliability: Vec<ReliabilityBinBody>,
    /// The same over every test cycle.
    pub reliability_all_cycles: Vec<ReliabilityBinBody>,
    /// Interval coverage and width by true-RUL bucket (empty when not recorded).
    pub interval_buckets: Vec<IntervalBucketBody>,
    /// Plots present in the model directory (fetch each from /model/plots/{name}).
    pub plots: Vec<String>,
}

/// The loaded model's evaluation tables and which evaluation plots exist.
#[utoipa::path(
    get,
    path = "/model/evaluation",
    tag = "operations",
    responses(
        (status = 200, description = "Evaluation tables of the loaded model", body = EvaluationBody),
        (status = 503, description = "No model loaded yet", body = ErrorBody),
    )
)]
pub async fn evaluation(State(state): State<AppState>) -> Result<Json<EvaluationBody>, ApiError> {
    let (version, dir) = model_dir(&state)?;
    let body = tokio::task::spawn_blocking(move || read_evaluation(version, &dir))
        .await
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    Ok(Json(body))
}

/// One evaluation plot of the loaded model (PNG), if `rul evaluate --plots` wrote it into the model directory.
#[utoipa::path(
    get,
    path = "/model/plots/{name}",
    tag = "operations",
    params(("name" = String, Path, description = "scatter.png, errors.png, trajectories.png, alpha_lambda.png or policy.png")),
    responses(
        (status = 200, description = "The plot", body = Vec<u8>, content_type = "image/png"),
        (status = 404, description = "Not a known plot name, or the model directory has no such plot", body = ErrorBody),
        (status = 503, description = "No model loaded yet", body = ErrorBody),
    )
)]
pub async fn plot(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let Some(known) = PLOT_NAMES.iter().find(|n| **n == name) else {
        return Err(no_plot());
    };
    let (_, dir) = model_dir(&state)?;
    let path = dir.join(known);
    let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|e| ApiError::internal(&e.to_string()))?
        .map_err(|_| no_plot())?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

fn no_plot() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such evaluation plot",
    )
}

fn model_dir(state: &AppState) -> Result<(String, PathBuf), ApiError> {
    let info = state.predictor.model_info().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no model loaded yet",
        )
    })?;
    Ok((info.version.clone(), info.path.clone()))
}

/// The tables of `dir/metrics.json` (empty when the file or a table is missing or malformed: an artifact
/// without them still serves) and the plots present in `dir`.
pub fn read_evaluation(version: String, dir: &std::path::Path) -> EvaluationBody {
    let metrics: serde_json::Value = std::fs::read(dir.join("metrics.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let test = &metrics["test"];
    EvaluationBody {
        version,
        reliability: table(test, "reliability"),
        reliability_all_cycles: table(test, "reliability_all_cycles"),
        interval_buckets: table(test, "interval_buckets"),
        plots: PLOT_NAMES
            .iter()
            .filter(|n| dir.join(n).is_file())
            .map(|n| n.to_string())
            .collect(),
    }
}

/// `test[key]` as rows of `T`, or no rows when absent or malformed.
fn table<T: serde::de::DeserializeOwned>(test: &serde_json::Value, key: &str) -> Vec<T> {
    serde_json::from_value(test[key].clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_has_its_tables() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fd001");
        let body = read_evaluation("v".into(), &dir);
        assert!(!body.reliability.is_empty());
        assert_eq!(body.interval_buckets.len(), 4);
        assert_eq!(
            body.interval_buckets[3].hi, None,
            "the last bucket is unbounded"
        );
        assert!(
            body.reliability
                .iter()
                .all(|b| (0.0..=1.0).contains(&b.observed))
        );
    }

    #[test]
    fn a_directory_without_metrics_gives_empty_tables() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("scatter.png"), b"png").expect("write");
        let body = read_evaluation("v".into(), dir.path());
        assert!(body.reliability.is_empty() && body.interval_buckets.is_empty());
        assert_eq!(body.plots, ["scatter.png"]);
    }
}
