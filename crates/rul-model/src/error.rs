//! Error types of training and of the model artifact; every message names the file or setting.

use std::path::PathBuf;

/// Why training (or evaluation during training) failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration file is unreadable or out of range.
    #[error("training config {path}: {problem}")]
    Config {
        /// File (or "<inline>").
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// The configuration is out of range.
    #[error("invalid training config: {0}")]
    Invalid(String),
    /// The data cannot support training (too few engines or windows).
    #[error("training data: {0}")]
    Data(String),
    /// The preprocessor could not be fitted.
    #[error("preprocessing: {0}")]
    Preprocess(#[from] rul_data::DataError),
    /// Training diverged (non-finite loss).
    #[error("training diverged at epoch {epoch}: loss is {loss}")]
    Diverged {
        /// Epoch (1-based).
        epoch: usize,
        /// The non-finite loss.
        loss: f64,
    },
    /// Calibration failed.
    #[error("calibration: {0}")]
    Calibration(#[from] crate::calibration::CalibrationError),
    /// Writing or re-reading the artifact failed.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
}

/// Why an artifact could not be written, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is missing from the artifact directory.
    #[error("{path}: missing from the model artifact")]
    Missing {
        /// The file that should exist.
        path: PathBuf,
    },
    /// A file's content does not match the manifest (tampered or corrupted).
    #[error(
        "{path}: sha256 {actual} does not match the manifest ({expected}); the file was modified or corrupted"
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Digest recorded in manifest.json.
        expected: String,
        /// Digest of the file on disk.
        actual: String,
    },
    /// A file is unparsable or inconsistent with the rest of the artifact.
    #[error("{path}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The weights file could not be loaded into the model described by model.json.
    #[error("{path}: weights do not load into the {architecture} model in model.json: {problem}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// Architecture name from model.json.
        architecture: String,
        /// burn's error.
        problem: String,
    },
    /// Input to `predict` has the wrong size or non-finite values.
    #[error("invalid model input: {0}")]
    Input(String),
    /// The forward pass failed.
    #[error("model forward pass failed: {0}")]
    Forward(String),
    /// Building a test artifact failed.
    #[error("building the artifact failed: {0}")]
    Build(String),
}

impl ArtifactError {
    /// Shorthand for an [`ArtifactError::Invalid`].
    pub fn invalid(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        ArtifactError::Invalid {
            path: path.into(),
            problem: problem.into(),
        }
    }

    /// Shorthand for an [`ArtifactError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ArtifactError::Io {
            path: path.into(),
            source,
        }
    }
}
