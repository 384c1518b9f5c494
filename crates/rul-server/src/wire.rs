//! What both transports put on the wire the same way: the error body `{error, type, details}` (a REST
//! answer's body, a gRPC status's message) with its size limits, and the request-id header.

use axum::http::HeaderName;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::Ref;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};

/// Request-id header (REST) and metadata key (gRPC): taken from the client or generated, echoed and logged.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

/// Longest piece of client text (a value, field name or token) an error repeats, in characters.
pub const MAX_ECHO_CHARS: usize = 64;
/// Longest error message, in characters.
pub(crate) const MAX_MESSAGE_CHARS: usize = 1024;
/// Longest string inside `details`, in characters.
const MAX_DETAIL_CHARS: usize = 256;
/// Largest error body, in bytes of JSON.
pub const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;

/// `s` cut to `max` characters, ending in "…" when something was cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_string(),
    }
}

impl ErrorBody {
    /// Whether the same request may succeed later (the server was busy, not ready, or a dependency failed):
    /// REST adds `Retry-After`, gRPC `retry-after-ms`, both [`RETRY_AFTER_SECS`].
    pub fn retry_later(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "overloaded" | "not_ready" | "remote" | "store"
        )
    }

    /// This body within the size limits, whatever the request held: the message and every string in `details`
    /// clipped, and a `details` list halved (with a last item counting what was left out) until the JSON fits
    /// [`MAX_ERROR_BODY_BYTES`].
    pub fn bounded(mut self) -> ErrorBody {
        self.error = clip(&self.error, MAX_MESSAGE_CHARS);
        clip_strings(&mut self.details);
        let size = |b: &ErrorBody| serde_json::to_vec(b).map_or(usize::MAX, |v| v.len());
        let total = self.details.as_array().map_or(0, Vec::len);
        while size(&self) > MAX_ERROR_BODY_BYTES {
            match &mut self.details {
                Value::Array(items) if items.len() > 2 => {
                    items.truncate(items.len() / 2);
                    let omitted = total - items.len();
                    items.push(serde_json::json!({
                        "reading": null,
                        "field": null,
                        "reason": format!("{omitted} more not shown"),
                    }));
                }
                _ => {
                    self.details = Value::Null;
                    break;
                }
            }
        }
        self
    }
}

fn clip_strings(value: &mut Value) {
    match value {
        Value::String(s) if s.chars().count() > MAX_DETAIL_CHARS => *s = clip(s, MAX_DETAIL_CHARS),
        Value::Array(items) => items.iter_mut().for_each(clip_strings),
        Value::Object(map) => map.values_mut().for_each(clip_strings),
        _ => {}
    }
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

/// Seconds a client should wait before retrying a failure that may pass later (REST `Retry-After`, gRPC
/// `retry-after-ms` metadata).
pub const RETRY_AFTER_SECS: u64 = 1;

/// How every transport answers one failure of the core or the fleet: the HTTP status, the gRPC code and the
/// client-safe body; internal detail is logged when the failure is built, never sent.
#[derive(Clone, Debug)]
pub struct Failure {
    /// REST status.
    pub http: axum::http::StatusCode,
    /// gRPC code.
    pub grpc: tonic::Code,
    /// The body both transports send (REST as JSON, gRPC as the status message and per-item errors).
    pub body: ErrorBody,
}

impl Failure {
    fn new(http: axum::http::StatusCode, grpc: tonic::Code, kind: &str, error: String) -> Self {
        Self {
            http,
            grpc,
            body: ErrorBody {
                error,
                kind: kind.to_string(),
                details: Value::Null,
            },
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.body.details = details;
        self
    }

    /// CONCURRENCY_LIMIT reached: the call is shed at once.
    pub fn shed() -> Self {
        use axum::http::StatusCode as H;
        Failure::new(
            H::TOO_MANY_REQUESTS,
            tonic::Code::ResourceExhausted,
            "overloaded",
            "server overloaded; retry later".into(),
        )
    }

    /// MAX_INFLIGHT_BYTES taken by other requests: refused at once.
    pub fn budget_exceeded() -> Self {
        use axum::http::StatusCode as H;
        Failure::new(
            H::TOO_MANY_REQUESTS,
            tonic::Code::ResourceExhausted,
            "overloaded",
            crate::budget::BudgetExceeded.to_string(),
        )
    }

    /// REQUEST_TIMEOUT_MS (or the client's gRPC deadline) passed.
    pub fn timeout() -> Self {
        use axum::http::StatusCode as H;
        Failure::new(
            H::GATEWAY_TIMEOUT,
            tonic::Code::DeadlineExceeded,
            "timeout",
            "request timed out".into(),
        )
    }
}

impl From<&rul_data::ValidationError> for Failure {
    fn from(v: &rul_data::ValidationError) -> Self {
        Failure::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            tonic::Code::InvalidArgument,
            "validation",
            v.to_string(),
        )
        .with_details(serde_json::to_value(&v.violations).unwrap_or(Value::Null))
    }
}

impl From<&rul_core::PredictError> for Failure {
    fn from(err: &rul_core::PredictError) -> Self {
        use axum::http::StatusCode as H;
        use rul_core::PredictError as E;
        use tonic::Code as G;
        let message = err.public_message();
        match err {
            E::Validation(v) => Failure::from(v),
            E::Overloaded => Failure::new(
                H::TOO_MANY_REQUESTS,
                G::ResourceExhausted,
                "overloaded",
                message,
            ),
            E::NotReady(_) => {
                Failure::new(H::SERVICE_UNAVAILABLE, G::Unavailable, "not_ready", message)
            }
            E::Remote(detail) => {
                tracing::warn!(detail = detail.as_str(), "remote prediction failed");
                Failure::new(H::SERVICE_UNAVAILABLE, G::Unavailable, "remote", message)
            }
            E::Internal(detail) => {
                tracing::error!(detail = detail.as_str(), "internal error");
                Failure::new(H::INTERNAL_SERVER_ERROR, G::Internal, "internal", message)
            }
        }
    }
}

impl From<&rul_fleet::FleetError> for Failure {
    fn from(err: &rul_fleet::FleetError) -> Self {
        use axum::http::StatusCode as H;
        use rul_fleet::FleetError as E;
        use tonic::Code as G;
        let message = err.public_message();
        match err {
            E::Predict(e) => Failure::from(e),
            E::Conflict { reading, .. } => {
                Failure::new(H::CONFLICT, G::FailedPrecondition, "conflict", message)
                    .with_details(serde_json::json!({ "reading": reading }))
            }
            E::NotFound | E::AlertNotFound => {
                Failure::new(H::NOT_FOUND, G::NotFound, "not_found", message)
            }
            E::AlertCleared(_) => {
                Failure::new(H::CONFLICT, G::FailedPrecondition, "conflict", message)
            }
            E::NotOwner { owner, replicas } => Failure::new(
                H::MISDIRECTED_REQUEST,
                G::FailedPrecondition,
                "wrong_replica",
                message,
            )
            .with_details(serde_json::json!({ "owner": owner, "replicas": replicas })),
            E::Store(detail) => {
                tracing::error!(detail = detail.as_str(), "store error");
                Failure::new(H::SERVICE_UNAVAILABLE, G::Unavailable, "store", message)
            }
        }
    }
}

#[cfg(test)]
mod tests;
