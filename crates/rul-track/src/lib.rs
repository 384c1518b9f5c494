//! rul-track: experiment tracking for training runs and tuning trials.
//!
//! Every run is written to a local runs directory (`<runs>/<timestamp>-<id>/run.json` with
//! parameters, tags, data checksums, final metrics and the artifact path, plus `metrics.jsonl`
//! with one line per step). When an MLflow tracking URI is configured (`MLFLOW_TRACKING_URI`),
//! the same run is logged to MLflow through its REST API 2.0: experiment (by name, created on
//! first use), run, parameters, tags, metrics with steps, the final status and, when the server
//! proxies artifacts, the artifact directory.
//!
//! MLflow is best effort: a failure is logged with `tracing::warn!`, recorded in the run's
//! `warnings`, and MLflow logging stops for that run; training never fails because of it.
//! This crate knows nothing about models (no burn): callers hand it names and numbers.

pub mod error;
pub mod local;
pub mod mlflow;
pub mod params;
pub mod run;

pub use error::TrackError;
pub use mlflow::{MlflowClient, MlflowMetric};
pub use params::flatten_params;
pub use run::{
    MLFLOW_EXPERIMENT_ENV, MLFLOW_URI_ENV, MlflowRef, Run, RunEnd, RunRecord, RunSpec, RunStatus,
    TrackSettings,
};
