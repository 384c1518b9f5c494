//! SageMaker container contract (`rul serve --sagemaker`): `GET /ping` and `POST /invocations`.
//!
//! `/invocations` bodies, decided by content type and then by content:
//! - `application/json` (also assumed when no content type is sent): TensorFlow-Serving
//!   `{"instances": [window, ...]}`, each window a list of readings, oldest first. Readings that are **arrays of
//!   numbers** are already-normalised feature rows (what the plan's client sends: the serving model's
//!   `n_features` values per row, in its feature order); readings that are **objects** are raw sensor readings
//!   (`s1`..`s21`, `setting_1..3`, as in POST /predict). All readings of a request must be of one kind.
//! - `text/csv`: one window per request, one reading per line. A first line of names (`s2,s3,...`) makes the rows
//!   raw readings keyed by those names (the readings-CSV format of `rul predict`: an empty cell is an absent
//!   value, `unit`/`cycle` columns and `#` comments are ignored); without it every row is a normalised feature
//!   row.
//!
//! The answer is `{"predictions": [[rul], ...], "model_version": "..."}` (TensorFlow-Serving shape plus the
//! version: [`rul_sagemaker::PredictionsBody`], the one definition the SageMaker client reads back). Bodies over SageMaker's 6 MB limit get 413; wrong shapes get 400/415/422 with the one error shape.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rul_core::{PredictError, Prediction};
use rul_data::{ValidationError, Violation};
use rul_sagemaker::PredictionsBody;

use super::AppState;
use super::errors::ApiError;
use super::ops::{self, ReadyResponse};
use crate::input::{self, RawRequest};
use crate::metrics::RequestLog;

pub mod parse;

pub use parse::{Invocation, parse_csv, parse_json};

/// Bodies above this size are parsed on the blocking pool rather than on an async worker.
const PARSE_INLINE_MAX: usize = 64 * 1024;

/// SageMaker health check: 200 once the model is loaded and warm, 503 before (cheap: two atomic reads).
pub async fn ping(state: State<AppState>) -> (StatusCode, Json<ReadyResponse>) {
    ops::ready(state).await
}

/// SageMaker inference: parse (JSON or CSV) → core → `{"predictions": [[rul], ...]}`.
pub async fn invocations(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let outcome = match body {
        Err(rejection) => Err(ApiError::from(rejection)),
        Ok(body) => match parse_body(&headers, body).await {
            Err(e) => Err(e),
            Ok(invocation) => run(&state, invocation).await,
        },
    };
    let mut response = match outcome {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(RequestLog {
        engine_id: Some("invocations".into()),
        ..RequestLog::default()
    });
    response
}

/// Chooses the parser by content type; big bodies are parsed off the async workers.
async fn parse_body(headers: &HeaderMap, body: Bytes) -> Result<Invocation, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let parser: fn(&[u8]) -> Result<Invocation, ApiError> = match essence.as_str() {
        "application/json" => parse_json,
        "text/csv" => parse_csv,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type application/json or text/csv",
            ));
        }
    };
    if body.len() <= PARSE_INLINE_MAX {
        return parser(&body);
    }
    tokio::task::spawn_blocking(move || parser(&body))
        .await
        .map_err(|e| ApiError::internal(&format!("invocation parsing task failed: {e}")))?
}

/// Calls the core for a parsed invocation and shapes the answer.
async fn run(state: &AppState, invocation: Invocation) -> Result<PredictionsBody, ApiError> {
    let predictions = match invocation {
        Invocation::Normalised(windows) => state.predictor.predict_normalised(&windows).await?,
        Invocation::Raw(windows) => raw_windows(state, windows).await?,
    };
    Ok(PredictionsBody {
        predictions: predictions.iter().map(|p| vec![p.rul]).collect(),
        model_version: Some(
            predictions
                .first()
                .map(|p| p.model_version.clone())
                .unwrap_or_default(),
        ),
    })
}

/// Raw readings: the shared checks and the core's validation, all or nothing; violations name `instances[i]`.
async fn raw_windows(
    state: &AppState,
    windows: Vec<RawRequest>,
) -> Result<Vec<Prediction>, ApiError> {
    let outcomes = input::run_batch(&state.predictor, windows).await;
    let mut predictions = Vec::with_capacity(outcomes.len());
    let mut violations = Vec::new();
    let mut other: Option<PredictError> = None;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome {
            Ok(p) => predictions.push(p),
            Err(PredictError::Validation(v)) => {
                violations.extend(v.violations.into_iter().map(|x| Violation {
                    field: Some(match x.field {
                        Some(f) => format!("instances[{i}].{f}"),
                        None => format!("instances[{i}]"),
                    }),
                    ..x
                }));
            }
            Err(e) => {
                other.get_or_insert(e);
            }
        }
    }
    if !violations.is_empty() {
        violations.truncate(rul_data::MAX_VIOLATIONS);
        return Err(ApiError::validation(&ValidationError { violations }));
    }
    match other {
        Some(e) => Err(ApiError::from(e)),
        None => Ok(predictions),
    }
}
