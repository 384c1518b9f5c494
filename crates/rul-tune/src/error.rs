//! Errors of a tuning study (a failing trial is not one: it is recorded as `failed`).

use std::path::PathBuf;

/// Why a study could not run or continue.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// A study file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The search space is malformed or yields an invalid training configuration.
    #[error("search space ({source_name}): {problem}")]
    Space {
        /// Where the problem is (file, parameter, …).
        source_name: String,
        /// What is wrong.
        problem: String,
    },
    /// The study directory holds something unreadable or from other settings.
    #[error("study {path}: {problem}")]
    Study {
        /// The study directory or file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The request itself is unusable (e.g. no seeds).
    #[error("{0}")]
    Invalid(String),
    /// The TPE sampler refused its input.
    #[error("sampler: {0}")]
    Sampler(String),
    /// The run could not be recorded (runs directory not writable).
    #[error("tracking: {0}")]
    Track(#[from] rul_track::TrackError),
    /// Training failed (for `rul train`; in a study this marks the trial failed instead).
    #[error(transparent)]
    Train(#[from] rul_model::TrainError),
}

impl TuneError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TuneError::Io {
            path: path.into(),
            source,
        }
    }
}
