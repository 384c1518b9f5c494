//! The one JSON error shape `{error, type, details}` and every mapping onto it (core errors, extractor
//! rejections, unknown routes/methods, timeouts, panics), so axum's plain-text rejections never reach a client.

use std::any::Any;

use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rul_core::PredictError;
use rul_data::ValidationError;
use serde_json::Value;

pub use crate::wire::{ErrorBody, MAX_ECHO_CHARS, MAX_ERROR_BODY_BYTES, ViolationBody, clip};
use crate::wire::{Failure, RETRY_AFTER_SECS};

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
        Failure::from(err).into()
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
        Failure::timeout().into()
    }

    /// 429 when the server sheds load.
    pub fn overloaded() -> Self {
        Failure::shed().into()
    }

    /// 500 with a generic message; `detail` goes to the log only.
    pub fn internal(detail: &str) -> Self {
        Failure::from(&PredictError::Internal(detail.to_string())).into()
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> Self {
        Self {
            status: f.http,
            body: f.body,
        }
    }
}

impl From<PredictError> for ApiError {
    fn from(err: PredictError) -> Self {
        Failure::from(&err).into()
    }
}

impl From<rul_fleet::FleetError> for ApiError {
    fn from(err: rul_fleet::FleetError) -> Self {
        Failure::from(&err).into()
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        if crate::budget::BudgetExceeded::caused(&rejection) {
            Failure::budget_exceeded().into()
        } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
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
        let mut response = (self.status, axum::Json(self.body.bounded())).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::SERVICE_UNAVAILABLE
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
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
    use crate::wire::MAX_MESSAGE_CHARS;

    #[test]
    fn bodies_are_bounded_whatever_they_hold() {
        let huge = "x".repeat(100_000);
        let violation = serde_json::json!({"reading": 1, "field": "s2", "reason": huge});
        let body = ErrorBody {
            error: huge.clone(),
            kind: "validation".into(),
            details: Value::Array(vec![violation; 5_000]),
        }
        .bounded();
        let size = serde_json::to_vec(&body).map_or(usize::MAX, |v| v.len());
        assert!(size <= MAX_ERROR_BODY_BYTES, "{size}");
        assert!(body.error.ends_with('…') && body.error.chars().count() == MAX_MESSAGE_CHARS + 1);
        let listed = body.details.as_array().expect("still a list");
        assert!(listed.len() > 2 && listed[0]["reason"].as_str().is_some_and(|r| r.len() < 1024));
        let last = listed
            .last()
            .and_then(|v| v["reason"].as_str())
            .unwrap_or_default();
        assert_eq!(
            last,
            format!("{} more not shown", 5_000 - (listed.len() - 1))
        );
        // Small bodies pass unchanged.
        let small = ErrorBody {
            error: "e".into(),
            kind: "k".into(),
            details: Value::Null,
        };
        assert_eq!(small.clone().bounded(), small);
    }

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
