//! The data crate's error type: every variant names the file and the problem.

use std::path::PathBuf;

/// Why reading, fitting, saving or loading data failed.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {problem}")]
    Parse {
        file: String,
        line: usize,
        problem: String,
    },
    #[error(
        "data file not found: tried {tried:?} (set --data-dir or CMAPSS_DIR, or run `rul data fetch`)"
    )]
    Missing { tried: Vec<PathBuf> },
    #[error("{file}: has {found} RUL values but the test file has {expected} units")]
    RulLength {
        file: String,
        expected: usize,
        found: usize,
    },
    #[error("invalid preprocessor configuration: {0}")]
    InvalidConfig(String),
    #[error("preprocessor file {path}: {problem}")]
    Preprocessor { path: String, problem: String },
}
