//! A small blocking client for the MLflow tracking server's REST API 2.0: experiments by name,
//! runs, batched parameters/metrics/tags, run status, proxied artifact upload, and the reads
//! the tests use (`runs/get`, `metrics/get-history`, artifact listing).

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::TrackError;

/// MLflow accepts at most this many parameters, and this many entries in all, per log-batch.
const MAX_BATCH_PARAMS: usize = 100;
const MAX_BATCH_ENTRIES: usize = 1000;

/// One metric value at a step, as MLflow stores it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MlflowMetric {
    /// Metric name.
    pub key: String,
    /// Value (must be finite: JSON has no NaN).
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Step (the epoch for training runs).
    pub step: i64,
}

/// A created run: its id and where its artifacts go.
#[derive(Clone, Debug, PartialEq)]
pub struct CreatedRun {
    /// MLflow run id.
    pub run_id: String,
    /// The run's artifact URI (`mlflow-artifacts:/…` when the server proxies artifacts).
    pub artifact_uri: String,
}

/// Blocking REST client for one tracking server.
#[derive(Clone, Debug)]
pub struct MlflowClient {
    base: String,
    http: reqwest::blocking::Client,
}

impl MlflowClient {
    /// A client for `uri` (`http://host:port`, optionally with a path prefix). Short connect
    /// timeouts keep an unreachable server from stalling training.
    pub fn new(uri: &str) -> Result<Self, TrackError> {
        let base = uri.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(TrackError::BadUri {
                uri: uri.to_string(),
            });
        }
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| TrackError::Mlflow {
                endpoint: String::new(),
                problem: format!("building the HTTP client: {e}"),
            })?;
        Ok(Self { base, http })
    }

    /// The tracking URI this client talks to.
    pub fn uri(&self) -> &str {
        &self.base
    }

    /// The id of the experiment called `name`, created when it does not exist yet.
    pub fn experiment_id(&self, name: &str) -> Result<String, TrackError> {
        if let Some(id) = self.find_experiment(name)? {
            return Ok(id);
        }
        match self.post("experiments/create", &json!({ "name": name })) {
            Ok(v) => str_at(&v, &["experiment_id"], "experiments/create"),
            // Another process created it between our two calls.
            Err(e) if e.to_string().contains("RESOURCE_ALREADY_EXISTS") => self
                .find_experiment(name)?
                .ok_or_else(|| mlflow_err("experiments/get-by-name", "experiment vanished")),
            Err(e) => Err(e),
        }
    }

    fn find_experiment(&self, name: &str) -> Result<Option<String>, TrackError> {
        let endpoint = "experiments/get-by-name";
        let resp = self
            .http
            .get(self.url(endpoint))
            .query(&[("experiment_name", name)])
            .send()
            .map_err(|e| mlflow_err(endpoint, e))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let v = decode(endpoint, resp)?;
        str_at(&v, &["experiment", "experiment_id"], endpoint).map(Some)
    }

    /// Starts a run in `experiment_id`.
    pub fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        start_ms: i64,
        tags: &[(String, String)],
    ) -> Result<CreatedRun, TrackError> {
        let endpoint = "runs/create";
        let v = self.post(
            endpoint,
            &json!({
                "experiment_id": experiment_id,
                "run_name": run_name,
                "start_time": start_ms,
                "tags": key_values(tags),
            }),
        )?;
        Ok(CreatedRun {
            run_id: str_at(&v, &["run", "info", "run_id"], endpoint)?,
            artifact_uri: str_at(&v, &["run", "info", "artifact_uri"], endpoint)
                .unwrap_or_default(),
        })
    }

    /// Logs parameters, tags and metrics, split into as many requests as MLflow's limits need.
    pub fn log_batch(
        &self,
        run_id: &str,
        params: &[(String, String)],
        tags: &[(String, String)],
        metrics: &[MlflowMetric],
    ) -> Result<(), TrackError> {
        for chunk in params.chunks(MAX_BATCH_PARAMS) {
            self.post(
                "runs/log-batch",
                &json!({ "run_id": run_id, "params": key_values(chunk) }),
            )?;
        }
        for chunk in tags.chunks(MAX_BATCH_ENTRIES) {
            self.post(
                "runs/log-batch",
                &json!({ "run_id": run_id, "tags": key_values(chunk) }),
            )?;
        }
        let finite: Vec<&MlflowMetric> = metrics.iter().filter(|m| m.value.is_finite()).collect();
        for chunk in finite.chunks(MAX_BATCH_ENTRIES) {
            self.post(
                "runs/log-batch",
                &json!({ "run_id": run_id, "metrics": chunk }),
            )?;
        }
        Ok(())
    }

    /// Sets the run's final status (`FINISHED`, `FAILED` or `KILLED`) and end time.
    pub fn update_run(&self, run_id: &str, status: &str, end_ms: i64) -> Result<(), TrackError> {
        self.post(
            "runs/update",
            &json!({ "run_id": run_id, "status": status, "end_time": end_ms }),
        )
        .map(|_| ())
    }

    /// Uploads every file under `local_dir` to `<artifact_uri>/<dest>/…` through the server's
    /// artifact proxy. Only `mlflow-artifacts:` URIs can be written over HTTP; any other store
    /// (a path on the server, S3, …) gives an error naming it. Returns the number of files.
    pub fn upload_dir(
        &self,
        artifact_uri: &str,
        local_dir: &Path,
        dest: &str,
    ) -> Result<usize, TrackError> {
        let endpoint = "mlflow-artifacts/artifacts";
        let root = proxied_artifact_path(artifact_uri).ok_or_else(|| {
            mlflow_err(
                endpoint,
                format!("artifact URI {artifact_uri:?} is not served by the tracking server"),
            )
        })?;
        let mut files = Vec::new();
        collect_files(local_dir, local_dir, &mut files)?;
        for (path, rel) in &files {
            let body = std::fs::read(path).map_err(|e| TrackError::io(path, e))?;
            let url = format!("{}/api/2.0/{endpoint}/{root}/{dest}/{rel}", self.base);
            let resp = self
                .http
                .put(url)
                .body(body)
                .send()
                .map_err(|e| mlflow_err(endpoint, e))?;
            decode(endpoint, resp)?;
        }
        Ok(files.len())
    }

    /// `runs/get`: the whole run (info, data.params, data.tags, data.metrics latest values).
    pub fn get_run(&self, run_id: &str) -> Result<Value, TrackError> {
        self.get("runs/get", &[("run_id", run_id)])
    }

    /// `metrics/get-history`: every logged value of one metric as `(step, value)`, by step.
    pub fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<(i64, f64)>, TrackError> {
        let endpoint = "metrics/get-history";
        let v = self.get(endpoint, &[("run_id", run_id), ("metric_key", key)])?;
        // int64 fields may arrive as JSON numbers or as strings (protobuf JSON mapping).
        let number = |m: &Value, field: &str| -> Option<f64> {
            match m.get(field) {
                Some(Value::String(s)) => s.parse().ok(),
                Some(other) => other.as_f64(),
                None => Some(0.0),
            }
        };
        let mut out = Vec::new();
        for m in v
            .get("metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match (number(m, "step"), number(m, "value")) {
                (Some(step), Some(value)) => out.push((step as i64, value)),
                _ => return Err(mlflow_err(endpoint, format!("unreadable metric {m}"))),
            }
        }
        out.sort_by_key(|m| m.0);
        Ok(out)
    }

    /// Lists artifact paths directly under `<artifact_uri>/<sub>` (proxied stores only).
    pub fn list_artifacts(&self, artifact_uri: &str, sub: &str) -> Result<Vec<String>, TrackError> {
        let endpoint = "mlflow-artifacts/artifacts";
        let root = proxied_artifact_path(artifact_uri)
            .ok_or_else(|| mlflow_err(endpoint, "not a proxied artifact URI"))?;
        let path = format!("{root}/{sub}");
        let v = self.get(endpoint, &[("path", path.as_str())])?;
        Ok(v.get("files")
            .and_then(Value::as_array)
            .map(|files| {
                files
                    .iter()
                    .filter_map(|f| f.get("path").and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn url(&self, endpoint: &str) -> String {
        format!("{}/api/2.0/mlflow/{endpoint}", self.base)
    }

    fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Result<Value, TrackError> {
        let url = if endpoint.starts_with("mlflow-artifacts/") {
            format!("{}/api/2.0/{endpoint}", self.base)
        } else {
            self.url(endpoint)
        };
        let resp = self
            .http
            .get(url)
            .query(query)
            .send()
            .map_err(|e| mlflow_err(endpoint, e))?;
        decode(endpoint, resp)
    }

    fn post(&self, endpoint: &str, body: &Value) -> Result<Value, TrackError> {
        let resp = self
            .http
            .post(self.url(endpoint))
            .json(body)
            .send()
            .map_err(|e| mlflow_err(endpoint, e))?;
        decode(endpoint, resp)
    }
}

/// `mlflow-artifacts:/1/abc/artifacts` or `mlflow-artifacts://host:5000/1/abc/artifacts`
/// → `1/abc/artifacts`.
fn proxied_artifact_path(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mlflow-artifacts:")?;
    let path = match rest.strip_prefix("//") {
        Some(with_host) => with_host.split_once('/').map_or("", |(_, p)| p),
        None => rest,
    };
    let path = path.trim_matches('/');
    (!path.is_empty()).then(|| path.to_string())
}

/// Every regular file below `dir`, with its `/`-separated path relative to `root`.
fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(std::path::PathBuf, String)>,
) -> Result<(), TrackError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TrackError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| TrackError::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| TrackError::io(&path, e))?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((path, rel));
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(())
}

fn key_values(pairs: &[(String, String)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": v }))
        .collect()
}

fn decode(endpoint: &str, resp: reqwest::blocking::Response) -> Result<Value, TrackError> {
    let status = resp.status();
    let text = resp.text().map_err(|e| mlflow_err(endpoint, e))?;
    if !status.is_success() {
        // MLflow answers errors as {"error_code": "...", "message": "..."}.
        let detail = serde_json::from_str::<Value>(&text)
            .ok()
            .map(|v| {
                format!(
                    "{}: {}",
                    v.get("error_code").and_then(Value::as_str).unwrap_or("?"),
                    v.get("message").and_then(Value::as_str).unwrap_or("")
                )
            })
            .unwrap_or_else(|| text.chars().take(300).collect());
        return Err(mlflow_err(endpoint, format!("HTTP {status}: {detail}")));
    }
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(&text).map_err(|e| mlflow_err(endpoint, format!("bad JSON answer: {e}")))
}

fn str_at(v: &Value, path: &[&str], endpoint: &str) -> Result<String, TrackError> {
    let mut cur = v;
    for key in path {
        cur = cur
            .get(key)
            .ok_or_else(|| mlflow_err(endpoint, format!("answer has no {}", path.join("."))))?;
    }
    cur.as_str()
        .map(String::from)
        .ok_or_else(|| mlflow_err(endpoint, format!("{} is not a string", path.join("."))))
}

fn mlflow_err(endpoint: &str, problem: impl std::fmt::Display) -> TrackError {
    TrackError::Mlflow {
        endpoint: endpoint.to_string(),
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_artifact_uris_are_recognised() {
        assert_eq!(
            proxied_artifact_path("mlflow-artifacts:/1/abc/artifacts").as_deref(),
            Some("1/abc/artifacts")
        );
        assert_eq!(
            proxied_artifact_path("mlflow-artifacts://h:5000/2/x/artifacts").as_deref(),
            Some("2/x/artifacts")
        );
        assert_eq!(proxied_artifact_path("/tmp/mlruns/1/abc/artifacts"), None);
        assert_eq!(proxied_artifact_path("s3://bucket/1/abc"), None);
        assert_eq!(proxied_artifact_path("mlflow-artifacts:/"), None);
    }

    #[test]
    fn only_http_uris_are_accepted() {
        assert!(MlflowClient::new("http://127.0.0.1:5000/").is_ok());
        assert!(matches!(
            MlflowClient::new("file:///tmp/mlruns"),
            Err(TrackError::BadUri { .. })
        ));
        assert!(MlflowClient::new("databricks").is_err());
    }
}
