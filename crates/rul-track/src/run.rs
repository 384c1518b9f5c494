//! One tracked run: started with its parameters, fed metrics step by step, finished with its
//! final metrics and artifact. Writes the local run folder and, when configured, mirrors
//! everything to MLflow (best effort: failures become warnings, never errors).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::TrackError;
use crate::local::{LocalRun, MetricsLine};
use crate::mlflow::{MlflowClient, MlflowMetric};

/// Environment variable naming the MLflow tracking server (as MLflow's own clients use it).
pub const MLFLOW_URI_ENV: &str = "MLFLOW_TRACKING_URI";
/// Environment variable naming the MLflow experiment (as MLflow's own clients use it).
pub const MLFLOW_EXPERIMENT_ENV: &str = "MLFLOW_EXPERIMENT_NAME";

/// Where runs are recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackSettings {
    /// Local runs directory (None: no local record).
    pub runs_dir: Option<PathBuf>,
    /// MLflow tracking server (None: no MLflow).
    pub mlflow_uri: Option<String>,
    /// MLflow experiment name.
    pub experiment: String,
}

impl TrackSettings {
    /// `runs_dir` as given, MLflow from `MLFLOW_TRACKING_URI` (ignored when empty) and the
    /// experiment from `MLFLOW_EXPERIMENT_NAME`, else `default_experiment`.
    pub fn from_env(runs_dir: Option<PathBuf>, default_experiment: &str) -> Self {
        let non_empty = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            runs_dir,
            mlflow_uri: non_empty(MLFLOW_URI_ENV),
            experiment: non_empty(MLFLOW_EXPERIMENT_ENV)
                .unwrap_or_else(|| default_experiment.to_string()),
        }
    }

    /// Records nothing (for tests and library callers that track elsewhere).
    pub fn disabled() -> Self {
        Self {
            runs_dir: None,
            mlflow_uri: None,
            experiment: String::new(),
        }
    }
}

/// What a run is, known before it starts.
#[derive(Clone, Debug, Default)]
pub struct RunSpec {
    /// Human-readable name (MLflow's run name).
    pub name: String,
    /// Parameters (see [`crate::flatten_params`]).
    pub params: BTreeMap<String, String>,
    /// Tags (subset, model kind, study and trial, …).
    pub tags: BTreeMap<String, String>,
    /// Input data files and their SHA-256 (hex).
    pub data_files: BTreeMap<String, String>,
}

/// How a run ended.
#[derive(Clone, Debug, Default)]
pub struct RunEnd {
    /// Why it failed (None: finished).
    pub error: Option<String>,
    /// Final metrics (validation, test, timings).
    pub metrics: BTreeMap<String, f64>,
    /// Artifact directory written by the run.
    pub artifact: Option<PathBuf>,
}

/// Lifecycle state of a run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Started, not finished (or the process died).
    Running,
    /// Ended normally.
    Finished,
    /// Ended with an error.
    Failed,
}

impl RunStatus {
    fn as_mlflow(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
        }
    }
}

/// Where a run lives in MLflow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MlflowRef {
    /// Tracking server.
    pub tracking_uri: String,
    /// Experiment id.
    pub experiment_id: String,
    /// Run id.
    pub run_id: String,
    /// The run's artifact URI.
    pub artifact_uri: String,
}

/// The content of `run.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// Local run id (`<timestamp>-<hex>`), also the folder name.
    pub id: String,
    /// Run name.
    pub name: String,
    /// MLflow experiment name (also recorded when MLflow is off).
    pub experiment: String,
    /// State.
    pub status: RunStatus,
    /// Start time (RFC 3339, UTC).
    pub started: String,
    /// End time.
    pub ended: Option<String>,
    /// Parameters.
    pub params: BTreeMap<String, String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Input data files and their SHA-256.
    pub data_files: BTreeMap<String, String>,
    /// Final metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Artifact directory.
    pub artifact: Option<PathBuf>,
    /// Why the run failed.
    pub error: Option<String>,
    /// The MLflow run, when one was created.
    pub mlflow: Option<MlflowRef>,
    /// Tracking problems (MLflow unreachable, a file not written); the run itself went on.
    pub warnings: Vec<String>,
}

/// A run in progress. Dropping it without [`Run::finish`] leaves the local record `RUNNING`.
#[derive(Debug)]
pub struct Run {
    record: RunRecord,
    local: Option<LocalRun>,
    mlflow: Option<(MlflowClient, MlflowRef)>,
}

impl Run {
    /// Starts a run: creates the local folder (an error here is returned, since the caller
    /// asked for a record it would not get) and, when configured, the MLflow run (an error
    /// there is only a warning).
    pub fn start(settings: &TrackSettings, spec: RunSpec) -> Result<Self, TrackError> {
        let now = chrono::Utc::now();
        let id = format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), unique_hex());
        let local = match &settings.runs_dir {
            Some(dir) => Some(LocalRun::create(dir, &id)?),
            None => None,
        };
        let mut run = Run {
            record: RunRecord {
                id,
                name: spec.name,
                experiment: settings.experiment.clone(),
                status: RunStatus::Running,
                started: rul_data::time::rfc3339(now),
                ended: None,
                params: spec.params,
                tags: spec.tags,
                data_files: spec.data_files,
                metrics: BTreeMap::new(),
                artifact: None,
                error: None,
                mlflow: None,
                warnings: Vec::new(),
            },
            local,
            mlflow: None,
        };
        if let Some(uri) = &settings.mlflow_uri {
            match run.start_mlflow(uri, &settings.experiment, now.timestamp_millis()) {
                Ok(m) => {
                    run.record.mlflow = Some(m.1.clone());
                    run.mlflow = Some(m);
                }
                Err(e) => run.warn(format!("MLflow logging disabled for this run: {e}")),
            }
        }
        if let Some(local) = &run.local {
            local.write_record(&run.record)?;
        }
        Ok(run)
    }

    fn start_mlflow(
        &self,
        uri: &str,
        experiment: &str,
        start_ms: i64,
    ) -> Result<(MlflowClient, MlflowRef), TrackError> {
        let client = MlflowClient::new(uri)?;
        let experiment_id = client.experiment_id(experiment)?;
        let mut tags: Vec<(String, String)> = self.record.tags.clone().into_iter().collect();
        tags.push(("rul.local_run_id".into(), self.record.id.clone()));
        let created = client.create_run(&experiment_id, &self.record.name, start_ms, &tags)?;
        let mut params: Vec<(String, String)> = self.record.params.clone().into_iter().collect();
        params.extend(
            self.record
                .data_files
                .iter()
                .map(|(name, sha)| (format!("data.{name}.sha256"), sha.clone())),
        );
        client.log_batch(&created.run_id, &params, &[], &[])?;
        Ok((
            client.clone(),
            MlflowRef {
                tracking_uri: client.uri().to_string(),
                experiment_id,
                run_id: created.run_id,
                artifact_uri: created.artifact_uri,
            },
        ))
    }

    /// The local run folder, when there is one.
    pub fn dir(&self) -> Option<&Path> {
        self.local.as_ref().map(LocalRun::dir)
    }

    /// The record so far.
    pub fn record(&self) -> &RunRecord {
        &self.record
    }

    /// Logs one step's metrics (non-finite values are skipped). Never fails: problems become
    /// warnings, and an MLflow failure stops MLflow logging for the rest of the run.
    pub fn log_step(&mut self, step: u64, metrics: &[(&str, f64)]) {
        let timestamp_ms = chrono::Utc::now().timestamp_millis();
        let finite: BTreeMap<String, f64> = metrics
            .iter()
            .filter(|(_, v)| v.is_finite())
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        if let Some(local) = &mut self.local
            && let Err(e) = local.append_metrics(&MetricsLine {
                step,
                timestamp_ms,
                metrics: finite.clone(),
            })
        {
            self.warn(format!("local metrics not written: {e}"));
        }
        let batch: Vec<MlflowMetric> = finite
            .into_iter()
            .map(|(key, value)| MlflowMetric {
                key,
                value,
                timestamp: timestamp_ms,
                step: i64::try_from(step).unwrap_or(i64::MAX),
            })
            .collect();
        self.mlflow_call(|c, r| c.log_batch(&r.run_id, &[], &[], &batch));
    }

    /// Ends the run: final metrics, artifact path (and upload to MLflow when the server proxies
    /// artifacts), status. Returns the final record; tracking problems are in its `warnings`.
    pub fn finish(mut self, end: RunEnd) -> RunRecord {
        let now = chrono::Utc::now();
        let status = if end.error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        };
        self.record.status = status;
        self.record.ended = Some(rul_data::time::rfc3339(now));
        self.record.error = end.error;
        self.record.metrics = end
            .metrics
            .into_iter()
            .filter(|(_, v)| v.is_finite())
            .collect();
        self.record.artifact = end.artifact;

        let ts = now.timestamp_millis();
        let finals: Vec<MlflowMetric> = self
            .record
            .metrics
            .iter()
            .map(|(k, v)| MlflowMetric {
                key: k.clone(),
                value: *v,
                timestamp: ts,
                step: 0,
            })
            .collect();
        let mut tags = vec![("rul.status".to_string(), status.as_mlflow().to_string())];
        if let Some(a) = &self.record.artifact {
            tags.push(("rul.artifact_dir".into(), a.display().to_string()));
        }
        if let Some(dir) = self.dir() {
            tags.push(("rul.local_run_dir".into(), dir.display().to_string()));
        }
        if let Some(e) = &self.record.error {
            tags.push(("rul.error".into(), e.chars().take(5000).collect()));
        }
        self.mlflow_call(|c, r| c.log_batch(&r.run_id, &[], &tags, &finals));
        if let Some(artifact) = self.record.artifact.clone() {
            match self.record.mlflow.as_ref().map(|m| m.artifact_uri.clone()) {
                Some(uri) if uri.starts_with("mlflow-artifacts:") => {
                    self.mlflow_call(|c, _| c.upload_dir(&uri, &artifact, "model").map(|_| ()));
                }
                Some(uri) => tracing::info!(
                    %uri,
                    "MLflow artifact store is not proxied by the server; artifact not uploaded"
                ),
                None => {}
            }
        }
        self.mlflow_call(|c, r| c.update_run(&r.run_id, status.as_mlflow(), ts));
        if let Some(local) = &self.local
            && let Err(e) = local.write_record(&self.record)
        {
            let message = format!("run record not written: {e}");
            tracing::warn!("{message}");
            self.record.warnings.push(message);
        }
        self.record
    }

    /// Runs one MLflow request; a failure is warned once and turns MLflow off for this run.
    fn mlflow_call(
        &mut self,
        call: impl FnOnce(&MlflowClient, &MlflowRef) -> Result<(), TrackError>,
    ) {
        let Some((client, reference)) = &self.mlflow else {
            return;
        };
        if let Err(e) = call(client, reference) {
            self.mlflow = None;
            self.warn(format!("MLflow logging stopped for this run: {e}"));
        }
    }

    fn warn(&mut self, message: String) {
        tracing::warn!(run = %self.record.id, "{message}");
        self.record.warnings.push(message);
    }
}

/// Eight hex digits that differ between runs of one process and (almost surely) between
/// processes: std's randomly keyed hasher over a counter, the process id and the time.
fn unique_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.write_i64(chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default());
    format!("{:08x}", h.finish() as u32)
}
