//! rul-model: burn models, training loop, evaluation metrics (RMSE, MAE, PHM08), split-conformal
//! calibration, plots and the versioned model artifact.
//!
//! Entry points for the CLI: [`TrainConfig::for_subset`] / [`TrainConfig::from_file`] (TOML or
//! JSON, see `configs/`), [`train_subset`] (split, train, calibrate, evaluate, write an artifact),
//! [`Artifact::load`], [`evaluate()`](evaluate::evaluate) (test set) and
//! [`evaluate_subset`] (test set plus the held-out run-to-failure engines: prognostic metrics,
//! interval buckets, ECE, maintenance policies), [`write_plots`] / [`write_prognostic_plots`],
//! [`recalibrate::recalibrate`] (`rul calibrate`) and [`write_test_artifact`] for downstream
//! tests. Training progress arrives through a callback
//! (one [`EpochReport`] per epoch); `tracing` carries the same at debug level.
//!
//! Everything runs on burn's Flex CPU backend. Training holds a process-wide lock because the
//! backend's random generator is global (one training at a time keeps runs deterministic).

pub mod artifact;
pub mod calibration;
pub mod card;
pub mod confidence;
pub mod config;
pub mod error;
pub mod evaluate;
pub mod infer;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod plots;
pub mod recalibrate;
pub mod synthetic;
pub mod train;

pub use artifact::{Artifact, ModelSpec};
pub use calibration::{Calibration, CalibrationConfig};
pub use card::ModelCard;
pub use config::TrainConfig;
pub use error::{ArtifactError, TrainError};
pub use evaluate::{EvalReport, evaluate, evaluate_subset};
pub use infer::{FastModel, InferenceEngine};
pub use metrics::PointMetrics;
pub use model::ModelConfig;
pub use pipeline::{TrainSummary, train_subset};
pub use plots::{PlotError, write_plots, write_prognostic_plots};
pub use synthetic::{write_test_artifact, write_test_artifact_with_window};
pub use train::{EpochReport, StopReason};

#[cfg(test)]
mod tests;
