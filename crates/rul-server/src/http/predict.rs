//! POST /predict and POST /predict/batch: parse, run the shared checks, call the core, map the result.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use rul_core::Prediction;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::errors::{ApiError, ErrorBody};
use super::json::ApiJson;
use crate::input::{self, RawReading, RawRequest};
use crate::metrics::RequestLog;

/// One operating cycle. Every sensor is optional in the schema so a missing one is reported by name (422);
/// which sensors are required depends on the loaded model (by default s2 s3 s4 s7 s8 s9 s11 s12 s13 s14 s15 s17 s20 s21).
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct SensorReadingBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s4: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s5: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s6: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s7: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s8: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s9: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s11: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s12: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s13: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s14: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s15: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s16: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s17: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s18: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s19: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s20: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s21: Option<f64>,
    /// Operating settings: all three or none (required by multi-condition models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting_1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting_2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting_3: Option<f64>,
}

rul_data::raw_reading_conversions!(SensorReadingBody);

impl SensorReadingBody {
    /// Transport-neutral form.
    pub fn to_raw(&self) -> RawReading {
        RawReading::from(self)
    }

    /// Builds a body from the transport-neutral form.
    pub fn from_raw(raw: &RawReading) -> Self {
        Self::from(raw)
    }
}

/// Body of POST /predict.
///
/// Beyond this schema the readings are checked against the loaded model (422 with the violations): every sensor
/// the model uses present and finite, values within the plausible range seen in training, settings given as a
/// triple (and present for multi-condition models).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PredictBody {
    /// Engine identifier: 1..=128 characters, not only spaces, no control, whitespace other than space,
    /// invisible, bidirectional-control or private-use characters (the pattern is set from `rul_core`'s rule).
    #[schema(min_length = 1, max_length = 128)]
    pub engine_id: String,
    /// Readings (JSON objects), oldest first, 1..=500.
    #[schema(min_items = 1, max_items = 500)]
    #[serde(deserialize_with = "crate::http::json::objects")]
    pub sensor_data: Vec<SensorReadingBody>,
    /// Ask the configured SageMaker endpoint instead of the in-process model. When it fails, its circuit breaker
    /// is open or none is configured, the in-process model answers (`source` "local_fallback", `fallback_reason`).
    #[serde(default)]
    pub use_sagemaker: bool,
}

/// One request inside POST /predict/batch (schema only; the server parses it as [`PredictBody`]). The structure is
/// that of PredictBody and a structural error rejects the whole batch (400), but the value rules (engine_id
/// 1..=128 printable characters, 1..=500 readings, the readings themselves) are checked
/// per item: a broken item gets `status` 422 in its result while the others are answered.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchRequestItem {
    /// Engine identifier (checked per item: 1..=128 characters, no control characters, not only whitespace).
    pub engine_id: String,
    /// Readings (JSON objects), oldest first (checked per item: 1..=500).
    pub sensor_data: Vec<SensorReadingBody>,
    /// Ask the configured SageMaker endpoint (falls back to the in-process model, see PredictBody).
    #[serde(default)]
    pub use_sagemaker: bool,
}

impl PredictBody {
    fn to_raw(&self) -> RawRequest {
        RawRequest {
            engine_id: self.engine_id.clone(),
            readings: self
                .sensor_data
                .iter()
                .map(SensorReadingBody::to_raw)
                .collect(),
            use_sagemaker: self.use_sagemaker,
        }
    }
}

/// Conformal prediction interval.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Interval {
    /// Lower bound in cycles (>= 0).
    pub lower: f64,
    /// Upper bound in cycles.
    pub upper: f64,
    /// Coverage level, e.g. 0.9.
    pub level: f64,
}

/// Answer of POST /predict.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct PredictResponse {
    /// Engine identifier from the request.
    pub engine_id: String,
    /// Predicted remaining useful life in cycles (exact; gRPC's `predicted_rul` is this truncated).
    pub predicted_rul: f64,
    /// Calibrated probability that the true RUL is within `tolerance` cycles of `predicted_rul`.
    pub confidence: f64,
    /// Version (content hash) of the model that answered.
    pub model_version: String,
    /// When the answer was produced (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// Prediction interval.
    pub interval: Interval,
    /// Cycles used for `confidence`.
    pub tolerance: f64,
    /// Whether fewer readings than the model window were sent (window padded).
    pub padded: bool,
    /// How many cycles were padded.
    pub padded_cycles: usize,
    /// Whether the operating settings matched no condition seen in training.
    pub unknown_condition: bool,
    /// Where the prediction was computed: "local", "sagemaker", or "local_fallback" (use_sagemaker was asked
    /// but the in-process model answered; see `fallback_reason`).
    pub source: String,
    /// Why SageMaker was not used, when `source` is "local_fallback": not_configured, circuit_open, timeout,
    /// connect, throttled, model_error, server_error, client_error, malformed or other; null otherwise.
    #[serde(default)]
    #[schema(required = true)]
    pub fallback_reason: Option<String>,
    /// Whether the answer came from the cache.
    pub cached: bool,
}

impl PredictResponse {
    /// Maps a core prediction.
    pub fn from_prediction(p: &Prediction) -> Self {
        Self {
            engine_id: p.engine_id.clone(),
            predicted_rul: p.rul,
            confidence: p.confidence,
            model_version: p.model_version.clone(),
            timestamp: rul_data::time::now_rfc3339(),
            interval: Interval {
                lower: p.lower,
                upper: p.upper,
                level: p.level,
            },
            tolerance: p.tolerance,
            padded: p.padded,
            padded_cycles: p.padded_cycles,
            unknown_condition: p.unknown_condition,
            source: p.source.as_str().to_string(),
            fallback_reason: p.fallback_reason.map(str::to_string),
            cached: p.cached,
        }
    }
}

/// Body of POST /predict/batch.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    /// 1..=256 requests, each shaped like POST /predict's body (its value rules are checked per item).
    #[schema(value_type = Vec<BatchRequestItem>, min_items = 1, max_items = 256)]
    #[serde(deserialize_with = "crate::http::json::objects")]
    pub requests: Vec<PredictBody>,
}

/// One item of a batch answer: `prediction` on success, `error` otherwise; `status` is what POST /predict would return.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BatchItem {
    /// Engine identifier from the request item.
    pub engine_id: String,
    /// HTTP status the item would have had on its own (200, 422, 429, 503, 500).
    #[schema(minimum = 100, maximum = 599)]
    pub status: u16,
    /// The prediction, when `status` is 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<PredictResponse>,
    /// The error, otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// Answer of POST /predict/batch, in request order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BatchResponse {
    /// One item per request.
    pub results: Vec<BatchItem>,
}

/// Predict the RUL of one engine.
#[utoipa::path(
    post,
    path = "/predict",
    tag = "prediction",
    request_body(content = PredictBody, example = predict_example),
    responses(
        (status = 200, description = "Prediction", body = PredictResponse),
        (status = 422, description = "Request rejected (details lists the violations): engine_id or number of readings out of the schema's bounds, or readings the loaded model refuses (a sensor it needs missing, a value outside the plausible range seen in training, settings not given as a triple)", body = ErrorBody),
        (status = 503, description = "Model not ready", body = ErrorBody),
    )
)]
pub async fn predict(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PredictBody>,
) -> Response {
    let engine_id = Some(crate::metrics::log_safe(&body.engine_id));
    let raw = body.to_raw();
    let route = raw.route();
    let outcome = match input::to_core_request(raw) {
        Ok(request) => state
            .predictor
            .predict_routed(request, route)
            .await
            .map_err(ApiError::from),
        Err(v) => Err(ApiError::validation(&v)),
    };
    let (mut response, log) = match outcome {
        Ok(prediction) => (
            Json(PredictResponse::from_prediction(&prediction)).into_response(),
            RequestLog {
                engine_id,
                cached: Some(prediction.cached),
                model_version: Some(prediction.model_version),
            },
        ),
        Err(error) => (
            error.into_response(),
            RequestLog {
                engine_id,
                ..RequestLog::default()
            },
        ),
    };
    response.extensions_mut().insert(log);
    response
}

/// Predict many engines; each item succeeds or fails on its own.
#[utoipa::path(
    post,
    path = "/predict/batch",
    tag = "prediction",
    request_body(content = BatchBody, example = batch_example),
    responses(
        (status = 200, description = "Per-item results in request order (an item the core refuses has its own 422/429/503/500 status)", body = BatchResponse),
        (status = 422, description = "Empty batch or more than 256 requests", body = ErrorBody),
    )
)]
pub async fn predict_batch(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<BatchBody>,
) -> Result<Response, ApiError> {
    if let Some(v) = input::batch_size_violation(body.requests.len()) {
        return Err(ApiError::validation(&v));
    }
    let count = body.requests.len();
    let outcomes = input::run_batch(
        &state.predictor,
        body.requests.iter().map(PredictBody::to_raw).collect(),
    )
    .await;
    let results = body
        .requests
        .iter()
        .zip(outcomes)
        .map(|(request, outcome)| match outcome {
            Ok(p) => BatchItem {
                engine_id: request.engine_id.clone(),
                status: 200,
                prediction: Some(PredictResponse::from_prediction(&p)),
                error: None,
            },
            Err(e) => {
                let api = ApiError::from(e);
                BatchItem {
                    engine_id: request.engine_id.clone(),
                    status: api.status().as_u16(),
                    prediction: None,
                    error: Some(api.body().clone()),
                }
            }
        })
        .collect();
    let mut response = Json(BatchResponse { results }).into_response();
    response.extensions_mut().insert(RequestLog {
        engine_id: Some(format!("batch({count})")),
        ..RequestLog::default()
    });
    Ok(response)
}

/// A request a model trained on FD001 accepts (one reading of a healthy engine; the window is edge-padded).
fn predict_example() -> serde_json::Value {
    serde_json::json!({
        "engine_id": "engine-7",
        "sensor_data": [{
            "s2": 642.5, "s3": 1590.0, "s4": 1408.0, "s7": 553.5, "s8": 2388.1, "s9": 9060.0, "s11": 47.5,
            "s12": 521.5, "s13": 2388.1, "s14": 8140.0, "s15": 8.43, "s17": 392.0, "s20": 38.8, "s21": 23.3
        }]
    })
}

/// A batch of one good and one refused request (the second lacks most sensors: its item gets status 422).
fn batch_example() -> serde_json::Value {
    serde_json::json!({
        "requests": [predict_example(), { "engine_id": "engine-8", "sensor_data": [{ "s2": 642.5 }] }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_body_round_trips_raw() {
        let body = SensorReadingBody {
            s2: Some(1.0),
            s21: Some(2.0),
            setting_3: Some(0.5),
            ..Default::default()
        };
        assert_eq!(SensorReadingBody::from_raw(&body.to_raw()), body);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err =
            serde_json::from_str::<PredictBody>(r#"{"engine_id":"1","sensor_data":[],"extra":1}"#);
        assert!(err.is_err());
        let err = serde_json::from_str::<SensorReadingBody>(r#"{"s22":1}"#);
        assert!(err.is_err());
    }
}
