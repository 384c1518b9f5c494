//! The one JSON error shape `{error, type, details}` and every mapping onto it (core errors, extractor
//! rejections, unknown routes/methods, timeouts, panics), so axum's plain-text rejections never reach a client.

use std::any::Any;

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rul_core::PredictError;
use rul_data::ValidationError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::Ref;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};

/// Error body of every non-2xx REST answer (and the message of every mapped gRPC error).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ErrorBody {
    /// Human-readable, client-safe message.
    pub error: String,
    /// Machine-readable class: invalid_json, invalid_request, payload_too_large, unsupported_media_type,
    /// validation, overloaded, not_ready, remote, timeout, unauthorized, forbidden, not_found,
    /// method_not_allowed, reload_failed, conflict, store, internal.
    #[serde(rename = "type")]
    pub kind: String,
    /// Extra structure: for `validation` an array of violations; otherwise an object (e.g. `{reason}`) or null.
    #[schema(schema_with = details_schema)]
    pub details: Value,
}

/// One problem in a rejected request, as listed in the `details` of a `validation` error (schema only: the
/// server serializes `rul_data::Violation`, whose shape this mirrors).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ViolationBody {
    /// Index (0-based) of the reading the problem is in; null when it is not in one reading.
    #[schema(required = true)]
    pub reading: Option<usize>,
    /// Offending field (`s7`, `setting_1`, `sensor_data`, `engine_id`, `requests`, ...); null when none.
    #[schema(required = true)]
    pub field: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// `details`: an array of [`ViolationBody`] (validation errors), an object, or null.
fn details_schema() -> Schema {
    OneOfBuilder::new()
        .item(ArrayBuilder::new().items(Ref::from_schema_name("ViolationBody")))
        .item(ObjectBuilder::new().schema_type(Type::Object))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some(
            "For `validation`: the violations, each {reading, field, reason}. Otherwise an object \
             (e.g. {reason} for invalid_json, invalid_request and reload_failed) or null.",
        ))
        .build()
        .into()
}

/// An error answer: status plus [`ErrorBody`]; internal detail is logged, never sent.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    /// An error with an explicit status, class and message.
    pub fn new(status: StatusCode, kind: &str, error: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.into(),
                kind: kind.to_string(),
                details: Value::Null,
            },
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.body.details = details;
        self
    }

    /// HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Body of this error.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }

    /// 422 with the violations as details.
    pub fn validation(err: &ValidationError) -> Self {
        let details = serde_json::to_value(&err.violations).unwrap_or(Value::Null);
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            err.to_string(),
        )
        .with_details(details)
    }

    /// 404 for unknown routes.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    /// 405 for a known route with the wrong method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route",
        )
    }

    /// 504 when the per-request time limit passes.
    pub fn timeout() -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", "request timed out")
    }

    /// 429 when the server sheds load.
    pub fn overloaded() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "overloaded",
            "server overloaded; retry later",
        )
    }

    /// 500 with a generic message; `detail` goes to the log only.
    pub fn internal(detail: &str) -> Self {
        tracing::error!(detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

impl From<PredictError> for ApiError {
    fn from(err: PredictError) -> Self {
        match &err {
            PredictError::Validation(v) => ApiError::validation(v),
            PredictError::Overloaded => ApiError::overloaded(),
            PredictError::NotReady(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                err.public_message(),
            ),
            PredictError::Remote(detail) => {
                tracing::warn!(detail = detail.as_str(), "remote prediction failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "remote",
                    err.public_message(),
                )
            }
            PredictError::Internal(detail) => ApiError::internal(detail),
        }
    }
}

impl From<rul_fleet::FleetError> for ApiError {
    fn from(err: rul_fleet::FleetError) -> Self {
        use rul_fleet::FleetError;
        match &err {
            FleetError::Predict(e) => ApiError::from(e.clone()),
            FleetError::Conflict { reading, message } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message.clone())
                    .with_details(serde_json::json!({ "reading": reading }))
            }
            FleetError::NotFound | FleetError::AlertNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", err.public_message())
            }
            FleetError::AlertCleared(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", err.public_message())
            }
            FleetError::NotOwner { owner, replicas } => ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "wrong_replica",
                err.public_message(),
            )
            .with_details(serde_json::json!({ "owner": owner, "replicas": replicas })),
            FleetError::Store(detail) => {
                tracing::error!(detail = detail.as_str(), "store error");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store",
                    "the history store is unavailable",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let reason = rejection.body_text();
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ),
            JsonRejection::JsonSyntaxError(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "request body is not valid JSON",
            )
            .with_details(serde_json::json!({ "reason": reason })),
            JsonRejection::JsonDataError(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "request body does not match the schema (missing, unknown or mistyped field)",
            )
            .with_details(serde_json::json!({ "reason": reason })),
            JsonRejection::BytesRejection(inner) => ApiError::from(inner),
            other => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "unreadable request body",
            )
            .with_details(serde_json::json!({ "reason": other.body_text() })),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body too large",
            )
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "unreadable request body",
            )
            .with_details(serde_json::json!({ "reason": rejection.body_text() }))
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::SERVICE_UNAVAILABLE
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Fallback for unknown routes.
pub async fn fallback_not_found() -> ApiError {
    ApiError::not_found()
}

/// Fallback for known routes called with another method.
pub async fn fallback_method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Turns a handler panic into the generic 500 body (the panic message is logged only).
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    ApiError::internal(&format!("handler panicked: {detail}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_documented_statuses() {
        let cases = [
            (
                PredictError::Validation(ValidationError::single(Some(0), Some("s2"), "missing")),
                422,
                "validation",
            ),
            (PredictError::Overloaded, 429, "overloaded"),
            (PredictError::NotReady("loading".into()), 503, "not_ready"),
            (PredictError::Remote("down".into()), 503, "remote"),
            (
                PredictError::Internal("disk on fire at /secret/path".into()),
                500,
                "internal",
            ),
        ];
        for (err, status, kind) in cases {
            let api = ApiError::from(err);
            assert_eq!(api.status().as_u16(), status);
            assert_eq!(api.body().kind, kind);
            assert!(!api.body().error.contains("/secret/path"));
        }
    }

    #[test]
    fn validation_details_are_violations() {
        let api = ApiError::validation(&ValidationError::single(Some(3), Some("s7"), "not finite"));
        assert_eq!(api.body().details[0]["reading"], 3);
        assert_eq!(api.body().details[0]["field"], "s7");
    }
}
