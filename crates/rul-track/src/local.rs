//! The local runs directory: one folder per run holding `run.json` (the [`RunRecord`],
//! rewritten at the end) and `metrics.jsonl` (one line per logged step, appended as it happens,
//! so a crashed run still shows how far it got).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TrackError;
use crate::run::RunRecord;

/// File holding the run record.
pub const RUN_FILE: &str = "run.json";
/// File holding one [`MetricsLine`] per step.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// One line of `metrics.jsonl`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MetricsLine {
    /// Step (the epoch for training runs).
    pub step: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Metric name to value (non-finite values are left out).
    pub metrics: BTreeMap<String, f64>,
}

/// An open run folder.
#[derive(Debug)]
pub struct LocalRun {
    dir: PathBuf,
    metrics: File,
}

impl LocalRun {
    /// Creates `<runs_dir>/<id>/` (and `runs_dir` itself) with an empty metrics file.
    pub fn create(runs_dir: &Path, id: &str) -> Result<Self, TrackError> {
        let dir = runs_dir.join(id);
        std::fs::create_dir_all(&dir).map_err(|e| TrackError::io(&dir, e))?;
        let path = dir.join(METRICS_FILE);
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TrackError::io(&path, e))?;
        Ok(Self { dir, metrics })
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one step's metrics as a single line.
    pub fn append_metrics(&mut self, line: &MetricsLine) -> Result<(), TrackError> {
        let mut text = serde_json::to_string(line).map_err(|source| TrackError::Json {
            what: "metrics line",
            source,
        })?;
        text.push('\n');
        self.metrics
            .write_all(text.as_bytes())
            .map_err(|e| TrackError::io(self.dir.join(METRICS_FILE), e))
    }

    /// Writes `run.json` (through a temporary file, so a reader never sees half a record).
    pub fn write_record(&self, record: &RunRecord) -> Result<(), TrackError> {
        let text = serde_json::to_string_pretty(record).map_err(|source| TrackError::Json {
            what: "run record",
            source,
        })?;
        let tmp = self.dir.join(format!("{RUN_FILE}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| TrackError::io(&tmp, e))?;
        let path = self.dir.join(RUN_FILE);
        std::fs::rename(&tmp, &path).map_err(|e| TrackError::io(&path, e))
    }
}

/// Reads a run folder back: its record and every metrics line.
pub fn read_run(dir: &Path) -> Result<(RunRecord, Vec<MetricsLine>), TrackError> {
    let path = dir.join(RUN_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrackError::io(&path, e))?;
    let record = serde_json::from_str(&text).map_err(|source| TrackError::Json {
        what: "run record",
        source,
    })?;
    let path = dir.join(METRICS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| TrackError::io(&path, e))?;
    let mut lines = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        lines.push(
            serde_json::from_str(line).map_err(|source| TrackError::Json {
                what: "metrics line",
                source,
            })?,
        );
    }
    Ok((record, lines))
}
