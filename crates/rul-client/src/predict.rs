//! `rul predict`'s client: read a readings file (CSV or JSON) and call PredictRUL over gRPC (or POST /predict
//! over REST), returning one printable answer whichever transport answered.

use std::path::Path;
use std::time::{Duration, Instant};

use rul_data::RawReading;
use serde::{Deserialize, Serialize};

use crate::{ClientError, connect, endpoint_uri, pb};

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
        sensor_data: readings.iter().map(pb::SensorReading::from).collect(),
        use_sagemaker: false,
    });
    request.set_timeout(timeout);
    let started = Instant::now();
    let response = client
        .predict_rul(request)
        .await
        .map_err(|s| ClientError::Status(s.code(), s.message().to_string()))?;
    Ok(PredictOutput::from_proto(
        response.into_inner(),
        started.elapsed(),
    ))
}

/// The REST answer's fields `rul predict` shows (the client's view of `PredictResponse`).
#[derive(Deserialize)]
struct RestAnswer {
    engine_id: String,
    predicted_rul: f64,
    confidence: f64,
    interval: RestInterval,
    tolerance: f64,
    padded: bool,
    padded_cycles: u32,
    source: String,
    cached: bool,
    model_version: String,
}

#[derive(Deserialize)]
struct RestInterval {
    lower: f64,
    upper: f64,
    level: f64,
}

impl RestAnswer {
    fn into_output(self, latency: Duration) -> PredictOutput {
        PredictOutput {
            engine_id: self.engine_id,
            predicted_rul: self.predicted_rul.trunc() as i32,
            rul: self.predicted_rul,
            confidence: self.confidence,
            lower: self.interval.lower,
            upper: self.interval.upper,
            level: self.interval.level,
            tolerance: self.tolerance,
            padded: self.padded,
            padded_cycles: self.padded_cycles,
            source: self.source,
            cached: self.cached,
            model_version: self.model_version,
            latency_ms: latency.as_secs_f64() * 1000.0,
        }
    }
}

/// The body of POST /predict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PredictCall {
    /// Engine identifier.
    pub engine_id: String,
    /// Readings, oldest first.
    pub sensor_data: Vec<RawReading>,
    /// Ask for remote (SageMaker) inference.
    #[serde(default)]
    pub use_sagemaker: bool,
}

impl PredictCall {
    /// The same request as a gRPC message.
    pub fn to_proto(&self) -> pb::RulRequest {
        pb::RulRequest {
            engine_id: self.engine_id.clone(),
            sensor_data: self
                .sensor_data
                .iter()
                .map(pb::SensorReading::from)
                .collect(),
            use_sagemaker: self.use_sagemaker,
        }
    }
}

/// POSTs the same request to `base_url`/predict (e.g. "http://127.0.0.1:8000").
pub async fn predict_http(
    base_url: &str,
    engine_id: &str,
    readings: &[RawReading],
    timeout: Duration,
) -> Result<PredictOutput, ClientError> {
    let body = PredictCall {
        engine_id: engine_id.to_string(),
        sensor_data: readings.to_vec(),
        use_sagemaker: false,
    };
    let url = format!("{}/predict", endpoint_uri(base_url).trim_end_matches('/'));
    let failure = |e: reqwest::Error| ClientError::Http(e.to_string());
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(failure)?;
    let started = Instant::now();
    let response = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(failure)?;
    let status = response.status();
    let text = response.text().await.map_err(failure)?;
    if !status.is_success() {
        return Err(ClientError::Http(format!("{status}: {text}")));
    }
    let answer: RestAnswer = serde_json::from_str(&text)
        .map_err(|e| ClientError::Protocol(format!("unexpected /predict answer: {e}")))?;
    Ok(answer.into_output(started.elapsed()))
}

/// Reads readings from a CSV file (a header of sensor names; see [`rul_data::raw::parse_csv`]) or a JSON file
/// (an array of `{"s2": .., ...}` objects, or an object with `sensor_data`). The format follows the extension
/// (.csv/.json), else the first character.
pub fn read_readings_file(path: &Path) -> Result<Vec<RawReading>, ClientError> {
    let failed = |reason: String| ClientError::Readings {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let json = match extension.as_deref() {
        Some("json") => true,
        Some("csv") => false,
        _ => text.trim_start().starts_with(['[', '{']),
    };
    let readings = if json {
        parse_json_readings(&text)
    } else {
        rul_data::raw::parse_csv(&text).map_err(|e| e.to_string())
    }
    .map_err(failed)?;
    if readings.is_empty() {
        return Err(failed("no readings".into()));
    }
    Ok(readings)
}

/// Parses JSON readings (see [`read_readings_file`]); errors name the reading and field at fault.
pub fn parse_json_readings(text: &str) -> Result<Vec<RawReading>, String> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = match value {
        Value::Array(_) => value,
        Value::Object(mut object) if object.contains_key("sensor_data") => {
            object.remove("sensor_data").unwrap_or_default()
        }
        _ => {
            return Err(
                "expected a JSON array of readings like [{\"s2\": 642.1, ...}] or {\"sensor_data\": [...]}"
                    .into(),
            );
        }
    };
    serde_json::from_value(list).map_err(|e| format!("readings: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_array_or_wrapped() {
        let a = parse_json_readings(r#"[{"s2": 1.0}, {"s2": 2.0, "s21": 3.0}]"#).expect("array");
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].sensors[20], Some(3.0));
        let b = parse_json_readings(r#"{"sensor_data": [{"s7": 5.0}]}"#).expect("wrapped");
        assert_eq!(b[0].sensors[6], Some(5.0));
        let unknown = parse_json_readings(r#"[{"s99": 1}]"#).expect_err("unknown");
        assert!(unknown.contains("s99"), "{unknown}");
        assert!(parse_json_readings(r#"{"readings": []}"#).is_err());
        assert!(parse_json_readings("[1, 2]").is_err());
    }

    #[test]
    fn reads_files_by_extension_or_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let csv = dir.path().join("r.csv");
        std::fs::write(
            &csv,
            "unit,cycle,s2
1,1,1.5
",
        )
        .expect("write");
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
        let header_only = dir.path().join("h.csv");
        std::fs::write(&header_only, "s2\n").expect("write");
        for bad in [header_only, dir.path().join("missing.csv")] {
            assert!(matches!(
                read_readings_file(&bad),
                Err(ClientError::Readings { .. })
            ));
        }
    }

    #[test]
    fn rest_and_grpc_bodies_carry_the_same_readings() {
        let mut reading = RawReading::default();
        reading.sensors[1] = Some(642.5);
        let call = PredictCall {
            engine_id: "e".into(),
            sensor_data: vec![reading],
            use_sagemaker: false,
        };
        let json = serde_json::to_value(&call).expect("json");
        assert_eq!(json["sensor_data"][0], serde_json::json!({"s2": 642.5}));
        let proto = call.to_proto();
        assert_eq!(proto.sensor_data[0].s2, Some(642.5));
        assert_eq!(RawReading::from(&proto.sensor_data[0]), reading);
    }
}
