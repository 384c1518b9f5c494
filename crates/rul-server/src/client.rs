//! Client helpers for `rul predict`: read a readings file (CSV or JSON) and call PredictRUL over gRPC
//! (or POST /predict over HTTP), returning a printable answer.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::grpc::convert;
use crate::grpc::pb::{self, prediction_service_client::PredictionServiceClient};
use crate::http::predict::{PredictBody, PredictResponse, SensorReadingBody};
use crate::input::{RawReading, SENSOR_FIELDS, SETTING_FIELDS};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The readings file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The readings file is not valid CSV/JSON readings.
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// The server address is malformed or unreachable.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// The server answered with an error status (message is the JSON error body).
    #[error("server answered {code}: {message}")]
    Status { code: String, message: String },
}

/// The answer as printed by `rul predict`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PredictOutput {
    /// Engine identifier.
    pub engine_id: String,
    /// The plan's integer RUL (truncated).
    pub predicted_rul: i32,
    /// Exact RUL in cycles.
    pub rul: f64,
    /// Calibrated confidence that the truth is within `tolerance` cycles.
    pub confidence: f64,
    /// Interval lower bound.
    pub lower: f64,
    /// Interval upper bound.
    pub upper: f64,
    /// Interval coverage level.
    pub level: f64,
    /// Tolerance in cycles used for `confidence`.
    pub tolerance: f64,
    /// Whether the window was padded.
    pub padded: bool,
    /// Padded cycles.
    pub padded_cycles: u32,
    /// Where it was computed.
    pub source: String,
    /// Whether it came from the cache.
    pub cached: bool,
    /// Model version.
    pub model_version: String,
    /// Round-trip time seen by the client, in milliseconds.
    pub latency_ms: f64,
}

impl PredictOutput {
    fn from_proto(r: pb::RulResponse, latency: Duration) -> Self {
        Self {
            engine_id: r.engine_id,
            predicted_rul: r.predicted_rul,
            rul: r.rul,
            confidence: r.confidence,
            lower: r.lower,
            upper: r.upper,
            level: r.level,
            tolerance: r.tolerance,
            padded: r.padded,
            padded_cycles: r.padded_cycles,
            source: r.source,
            cached: r.cached,
            model_version: r.model_version,
            latency_ms: latency.as_secs_f64() * 1000.0,
        }
    }
}

/// Adds `http://` when `addr` is a bare HOST:PORT.
pub fn endpoint_uri(addr: &str) -> String {
    if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

/// Connects a PredictionService client to `addr` (HOST:PORT or URI).
pub async fn connect(
    addr: &str,
    timeout: Duration,
) -> Result<PredictionServiceClient<tonic::transport::Channel>, ClientError> {
    let failure = |reason: String| ClientError::Connect {
        addr: addr.to_string(),
        reason,
    };
    let endpoint = tonic::transport::Endpoint::from_shared(endpoint_uri(addr))
        .map_err(|e| failure(e.to_string()))?
        .connect_timeout(timeout);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| failure(e.to_string()))?;
    Ok(PredictionServiceClient::new(channel))
}

/// Calls PredictRUL on `addr` for `engine_id` with `readings` (oldest first), with a `timeout` deadline.
pub async fn predict_grpc(
    addr: &str,
    engine_id: &str,
    readings: &[RawReading],
    timeout: Duration,
) -> Result<PredictOutput, ClientError> {
    let mut client = connect(addr, timeout).await?;
    let mut request = tonic::Request::new(pb::RulRequest {
        engine_id: engine_id.to_string(),
        sensor_data: readings.iter().map(convert::proto_reading).collect(),
        use_sagemaker: false,
    });
    request.set_timeout(timeout);
    let started = Instant::now();
    let response = client
        .predict_rul(request)
        .await
        .map_err(|s| ClientError::Status {
            code: format!("{:?}", s.code()),
            message: s.message().to_string(),
        })?;
    Ok(PredictOutput::from_proto(
        response.into_inner(),
        started.elapsed(),
    ))
}

/// POSTs the same request to `base_url`/predict (e.g. "http://127.0.0.1:8000").
pub async fn predict_http(
    base_url: &str,
    engine_id: &str,
    readings: &[RawReading],
    timeout: Duration,
) -> Result<PredictResponse, ClientError> {
    let body = PredictBody {
        engine_id: engine_id.to_string(),
        sensor_data: readings.iter().map(SensorReadingBody::from_raw).collect(),
        use_sagemaker: false,
    };
    let url = format!("{}/predict", endpoint_uri(base_url).trim_end_matches('/'));
    let failure = |reason: String| ClientError::Connect {
        addr: base_url.to_string(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| failure(e.to_string()))?;
    let response = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|e| failure(e.to_string()))?;
    let status = response.status();
    let text = response.text().await.map_err(|e| failure(e.to_string()))?;
    if !status.is_success() {
        return Err(ClientError::Status {
            code: status.as_u16().to_string(),
            message: text,
        });
    }
    serde_json::from_str(&text).map_err(|e| failure(format!("unexpected answer: {e}")))
}

/// Reads readings from a CSV file (header of sensor names) or a JSON file (array of `{s2: .., ...}` objects, or an
/// object with `sensor_data`). The format follows the extension (.csv/.json), else the first character.
pub fn read_readings_file(path: &Path) -> Result<Vec<RawReading>, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClientError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let json = match extension.as_deref() {
        Some("json") => true,
        Some("csv") => false,
        _ => text.trim_start().starts_with(['[', '{']),
    };
    let parsed = if json {
        parse_json_readings(&text)
    } else {
        parse_csv_readings(&text)
    };
    parsed.map_err(|reason| ClientError::Parse {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses JSON readings (see [`read_readings_file`]).
pub fn parse_json_readings(text: &str) -> Result<Vec<RawReading>, String> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Doc {
        List(Vec<SensorReadingBody>),
        Wrapped { sensor_data: Vec<SensorReadingBody> },
    }
    let doc: Doc = serde_json::from_str(text).map_err(|e| {
        format!("expected a JSON array of readings like [{{\"s2\": 642.1, ...}}]: {e}")
    })?;
    let list = match doc {
        Doc::List(list) | Doc::Wrapped { sensor_data: list } => list,
    };
    Ok(list.iter().map(SensorReadingBody::to_raw).collect())
}

/// Columns ignored in CSV files (identifiers that C-MAPSS exports carry).
const IGNORED_COLUMNS: [&str; 5] = [
    "unit",
    "cycle",
    "engine_id",
    "unit_number",
    "time_in_cycles",
];

/// Parses CSV readings: a header row of column names (s1..s21, setting_1..3; unit/cycle ignored), one row per cycle.
pub fn parse_csv_readings(text: &str) -> Result<Vec<RawReading>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (_, header) = lines
        .next()
        .ok_or("empty file: expected a header row of sensor names")?;
    enum Column {
        Sensor(usize),
        Setting(usize),
        Ignored,
    }
    let columns = header
        .split(',')
        .map(|name| {
            let name = name.trim().trim_matches('"').to_ascii_lowercase();
            if let Some(i) = SENSOR_FIELDS.iter().position(|s| *s == name) {
                Ok(Column::Sensor(i))
            } else if let Some(i) = SETTING_FIELDS.iter().position(|s| *s == name) {
                Ok(Column::Setting(i))
            } else if IGNORED_COLUMNS.contains(&name.as_str()) {
                Ok(Column::Ignored)
            } else {
                Err(format!("header: unknown column {name:?} (expected s1..s21, setting_1..setting_3, unit, cycle)"))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut readings = Vec::new();
    for (index, line) in lines {
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != columns.len() {
            return Err(format!(
                "line {}: {} cells, header has {}",
                index + 1,
                cells.len(),
                columns.len()
            ));
        }
        let mut reading = RawReading::default();
        for (cell, column) in cells.iter().zip(&columns) {
            let cell = cell.trim();
            let value = if cell.is_empty() {
                None
            } else {
                Some(
                    cell.parse::<f64>()
                        .map_err(|_| format!("line {}: {cell:?} is not a number", index + 1))?,
                )
            };
            match column {
                Column::Sensor(i) => reading.sensors[*i] = value,
                Column::Setting(i) => reading.settings[*i] = value,
                Column::Ignored => {}
            }
        }
        readings.push(reading);
    }
    if readings.is_empty() {
        return Err("no data rows after the header".into());
    }
    Ok(readings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_and_ignored_columns() {
        let text = "unit,cycle,s2,s3,setting_1\n1,1,642.1,1589.7,0.0\n1,2,642.2,,0.1\n";
        let readings = parse_csv_readings(text).expect("csv");
        assert_eq!(readings.len(), 2);
        assert_eq!(readings[0].sensors[1], Some(642.1));
        assert_eq!(readings[1].sensors[2], None);
        assert_eq!(readings[1].settings[0], Some(0.1));
    }

    #[test]
    fn csv_errors_name_the_line() {
        assert!(
            parse_csv_readings("s2,bogus\n1,2\n")
                .expect_err("col")
                .contains("bogus")
        );
        assert!(
            parse_csv_readings("s2,s3\n1\n")
                .expect_err("cells")
                .contains("line 2")
        );
        assert!(
            parse_csv_readings("s2\nabc\n")
                .expect_err("num")
                .contains("not a number")
        );
        assert!(parse_csv_readings("s2\n").is_err());
        assert!(parse_csv_readings("").is_err());
    }

    #[test]
    fn json_array_or_wrapped() {
        let a = parse_json_readings(r#"[{"s2": 1.0}, {"s2": 2.0, "s21": 3.0}]"#).expect("array");
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].sensors[20], Some(3.0));
        let b = parse_json_readings(r#"{"sensor_data": [{"s7": 5.0}]}"#).expect("wrapped");
        assert_eq!(b[0].sensors[6], Some(5.0));
        assert!(parse_json_readings(r#"[{"s99": 1}]"#).is_err());
    }

    #[test]
    fn reads_files_by_extension_or_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = dir.path().join("r.csv");
        std::fs::write(&csv, "s2\n1.5\n").expect("write");
        assert_eq!(
            read_readings_file(&csv).expect("csv")[0].sensors[1],
            Some(1.5)
        );
        let other = dir.path().join("r.txt");
        std::fs::write(&other, "[{\"s2\": 2.5}]").expect("write");
        assert_eq!(
            read_readings_file(&other).expect("json")[0].sensors[1],
            Some(2.5)
        );
        assert!(matches!(
            read_readings_file(&dir.path().join("missing.csv")),
            Err(ClientError::Io { .. })
        ));
    }

    #[test]
    fn uri_gets_scheme() {
        assert_eq!(endpoint_uri("127.0.0.1:50051"), "http://127.0.0.1:50051");
        assert_eq!(endpoint_uri("http://h:1"), "http://h:1");
    }
}
