//! rul-tune: hyperparameter search for the RUL models and tracked training.
//!
//! - [`space`]: the declared search space (TOML; the plan's Optuna space is the default).
//! - [`sampler`]: random start-up then TPE (the `tpe` crate), seeded per trial.
//! - [`pruner`]: median pruning on per-epoch validation RMSE.
//! - [`store`]: the study directory (settings, one JSON line per finished trial) for resuming.
//! - [`study`]: the objective runner (validation RMSE on held-out engines, never the test set).
//! - [`report`]: best trial, `best.toml`, the trials table.
//! - [`seeds`]: the multi-seed protocol (one configuration, several seeds, mean ± sd).
//! - [`tracked`]: training wrapped in an experiment record (local runs directory, MLflow).
//!
//! The CLI (`rul tune`, `rul train`) only parses arguments and prints.

pub mod error;
pub mod pruner;
pub mod report;
pub mod sampler;
pub mod seeds;
pub mod space;
pub mod store;
pub mod study;
pub mod tracked;

pub use error::TuneError;
pub use pruner::MedianPruner;
pub use report::{BEST_FILE, best_trial, trials_table, write_best};
pub use sampler::Sampler;
pub use seeds::{SeedRun, SeedStudy, Spread, run_seeds, seeds_table};
pub use space::SearchSpace;
pub use store::{StudySettings, StudyStore, TrialRecord, TrialState};
pub use study::{StudyEvent, StudyOutcome, StudyRequest, run_study};
pub use tracked::{TrackedTraining, train_tracked};
