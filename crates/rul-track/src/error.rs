//! Errors of the local runs directory and of the MLflow client.

use std::path::PathBuf;

/// Why recording a run failed.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// A runs-directory file could not be created or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A record could not be encoded as JSON.
    #[error("encoding {what} as JSON: {source}")]
    Json {
        /// What was being encoded.
        what: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// The MLflow tracking URI is not an http(s) URL.
    #[error("MLflow tracking URI {uri:?} is not an http:// or https:// URL")]
    BadUri {
        /// The URI as given.
        uri: String,
    },
    /// An MLflow request failed (unreachable, refused, or an unexpected answer).
    #[error("MLflow {endpoint}: {problem}")]
    Mlflow {
        /// The REST endpoint (path only).
        endpoint: String,
        /// What went wrong, with MLflow's error code and message when it sent one.
        problem: String,
    },
}

impl TrackError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrackError::Io {
            path: path.into(),
            source,
        }
    }
}
