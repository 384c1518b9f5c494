//! Protobuf <-> core conversions and the single PredictError -> gRPC status mapping.

use prost::Message;
use rul_core::{PredictError, Prediction};
use tonic::{Code, Status};

use super::pb;
use crate::input::{RawReading, RawRequest};
use crate::wire::{ErrorBody, Failure, MAX_ECHO_CHARS, RETRY_AFTER_SECS, clip};

/// Transport-neutral form of a protobuf request (no checks yet).
pub fn raw_request(request: &pb::RulRequest) -> RawRequest {
    RawRequest {
        engine_id: request.engine_id.clone(),
        readings: request.sensor_data.iter().map(raw_reading).collect(),
        use_sagemaker: request.use_sagemaker,
    }
}

rul_data::raw_reading_conversions!(pb::SensorReading);

pub(crate) fn raw_reading(r: &pb::SensorReading) -> RawReading {
    RawReading::from(r)
}

/// Protobuf form of a transport-neutral reading (used by the client).
pub fn proto_reading(raw: &RawReading) -> pb::SensorReading {
    pb::SensorReading::from(raw)
}

/// Protobuf answer for a core prediction; `predicted_rul` is `rul` truncated toward zero (the plan's int).
pub fn response(p: &Prediction) -> pb::RulResponse {
    pb::RulResponse {
        predicted_rul: truncate(p.rul),
        confidence: p.confidence,
        model_version: p.model_version.clone(),
        rul: p.rul,
        lower: p.lower,
        upper: p.upper,
        level: p.level,
        tolerance: p.tolerance,
        padded: p.padded,
        source: p.source.as_str().to_string(),
        fallback_reason: p.fallback_reason.map(str::to_string),
        cached: p.cached,
        engine_id: p.engine_id.clone(),
        padded_cycles: u32::try_from(p.padded_cycles).unwrap_or(u32::MAX),
        unknown_condition: p.unknown_condition,
    }
}

fn truncate(rul: f64) -> i32 {
    if rul.is_finite() {
        // `as` saturates at the i32 range; truncation toward zero is the plan's int().
        rul.trunc() as i32
    } else {
        0
    }
}

/// The status for a fleet error (same JSON message and typed detail as [`status`]).
pub fn fleet_status(err: &rul_fleet::FleetError) -> Status {
    match err {
        rul_fleet::FleetError::Predict(e) => status(e),
        other => {
            let f = Failure::from(other);
            status_with_body(f.grpc, &f.body)
        }
    }
}

/// Per-message error of a reading stream (the same [`pb::Error`] a failed call carries as detail).
pub fn fleet_item_error(err: &rul_fleet::FleetError) -> pb::Error {
    match err {
        rul_fleet::FleetError::Predict(e) => item_error(e),
        other => {
            let f = Failure::from(other);
            typed_error(f.grpc, f.body, Vec::new())
        }
    }
}

/// The status for a core error: its message is the JSON error shape `{error, type, details}` used by REST
/// too, and its `grpc-status-details-bin` holds the typed [`pb::Error`] a batch item would carry.
pub fn status(err: &PredictError) -> Status {
    let f = Failure::from(err);
    typed_status(f.grpc, &f.body, violations(err, MAX_STATUS_DETAIL_BYTES))
}

/// A status whose message is `body` as JSON, with the typed detail and, when a retry may succeed,
/// `retry-after-ms` metadata.
pub fn status_with_body(code: Code, body: &ErrorBody) -> Status {
    typed_status(code, body, Vec::new())
}

fn typed_status(code: Code, body: &ErrorBody, violations: Vec<pb::Violation>) -> Status {
    let body = body.clone().bounded();
    let message = serde_json::to_string(&body).unwrap_or_else(|_| body.error.clone());
    let retry = body.retry_later();
    let detail = typed_error(code, body, violations);
    let envelope = RpcStatus {
        code: code as i32,
        message: detail.message.clone(),
        details: vec![RpcAny {
            type_url: ERROR_TYPE_URL.into(),
            value: detail.encode_to_vec(),
        }],
    };
    let mut status = Status::with_details(code, message, envelope.encode_to_vec().into());
    if retry {
        status.metadata_mut().insert(
            RETRY_AFTER_MS,
            tonic::metadata::MetadataValue::from(RETRY_AFTER_SECS * 1000),
        );
    }
    status
}

/// The typed error detail of a failed call, read back from its `grpc-status-details-bin` (for clients
/// and tests); `None` when the status carries no such detail.
pub fn error_detail(status: &Status) -> Option<pb::Error> {
    let envelope = RpcStatus::decode(status.details()).ok()?;
    envelope
        .details
        .iter()
        .find(|any| any.type_url == ERROR_TYPE_URL)
        .and_then(|any| pb::Error::decode(any.value.as_slice()).ok())
}

/// gRPC metadata key of the retry hint (REST's `Retry-After`, in milliseconds).
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// `Any.type_url` of the typed error detail.
pub const ERROR_TYPE_URL: &str = "type.googleapis.com/rul.v1.Error";

/// Most bytes of violations one batch item's error lists (a 500-reading request can have thousands).
const MAX_ITEM_DETAIL_BYTES: usize = 16 * 1024;

/// Most bytes of violations in a status detail: it travels in a trailer, where clients cap header size.
const MAX_STATUS_DETAIL_BYTES: usize = 4 * 1024;

/// `google.rpc.Status` (google/rpc/status.proto): the standard envelope of typed error details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<RpcAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// Per-item error of a batch answer.
pub fn item_error(err: &PredictError) -> pb::Error {
    let f = Failure::from(err);
    typed_error(
        f.grpc,
        f.body.bounded(),
        violations(err, MAX_ITEM_DETAIL_BYTES),
    )
}

fn typed_error(code: Code, body: ErrorBody, violations: Vec<pb::Violation>) -> pb::Error {
    pb::Error {
        code: code as i32,
        message: body.error,
        r#type: body.kind,
        violations,
    }
}

/// A validation error's violations, as many as fit in `max_bytes` encoded.
fn violations(err: &PredictError, max_bytes: usize) -> Vec<pb::Violation> {
    let PredictError::Validation(v) = err else {
        return Vec::new();
    };
    let mut used = 0;
    v.violations
        .iter()
        .map(|x| pb::Violation {
            reading: x.reading.map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
            field: x.field.as_deref().map(|f| clip(f, MAX_ECHO_CHARS)),
            reason: clip(&x.reason, 4 * MAX_ECHO_CHARS),
        })
        .take_while(|x| {
            used += x.encoded_len() + 2;
            used <= max_bytes
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rul_data::ValidationError;

    #[test]
    fn statuses_follow_the_mapping() {
        let v =
            PredictError::Validation(ValidationError::single(Some(2), Some("s4"), "not finite"));
        let s = status(&v);
        assert_eq!(s.code(), Code::InvalidArgument);
        let body: ErrorBody = serde_json::from_str(s.message()).expect("json message");
        assert_eq!(body.kind, "validation");
        assert_eq!(body.details[0]["field"], "s4");
        assert_eq!(
            status(&PredictError::Overloaded).code(),
            Code::ResourceExhausted
        );
        assert_eq!(
            status(&PredictError::NotReady("x".into())).code(),
            Code::Unavailable
        );
        assert_eq!(
            status(&PredictError::Remote("x".into())).code(),
            Code::Unavailable
        );
        let internal = status(&PredictError::Internal("secret /etc/path".into()));
        assert_eq!(internal.code(), Code::Internal);
        assert!(!internal.message().contains("secret"));
    }

    #[test]
    fn item_errors_carry_violations() {
        let v = PredictError::Validation(ValidationError::single(Some(1), Some("s7"), "missing"));
        let e = item_error(&v);
        assert_eq!(e.code, Code::InvalidArgument as i32);
        assert_eq!(e.violations[0].reading, Some(1));
        assert_eq!(e.r#type, "validation");
    }

    #[test]
    fn a_failed_call_carries_the_batch_items_typed_error() {
        let v = PredictError::Validation(ValidationError::single(Some(1), Some("s7"), "missing"));
        let detail = error_detail(&status(&v)).expect("typed detail");
        assert_eq!(detail, item_error(&v));
        let overloaded = error_detail(&status(&PredictError::Overloaded)).expect("detail");
        assert_eq!(overloaded, item_error(&PredictError::Overloaded));
        assert_eq!(overloaded.r#type, "overloaded");
        assert_eq!(overloaded.code, Code::ResourceExhausted as i32);
        assert!(error_detail(&Status::internal("no detail")).is_none());
    }

    #[test]
    fn a_status_detail_stays_small_however_many_violations() {
        let many = ValidationError {
            violations: (0..2_000)
                .map(|i| rul_data::Violation {
                    reading: Some(i),
                    field: Some("s7".into()),
                    reason: "is missing and this reason is long enough to matter".into(),
                })
                .collect(),
        };
        let s = status(&PredictError::Validation(many.clone()));
        let detail = error_detail(&s).expect("detail");
        assert!(!detail.violations.is_empty());
        assert!(detail.violations.len() < 2_000);
        assert!(
            s.details().len() <= MAX_STATUS_DETAIL_BYTES + 512,
            "{}",
            s.details().len()
        );
        let item = item_error(&PredictError::Validation(many));
        assert!(item.violations.len() > detail.violations.len());
        assert!(item.encoded_len() <= MAX_ITEM_DETAIL_BYTES + 512);
    }

    #[test]
    fn truncation_matches_plan() {
        assert_eq!(truncate(41.9), 41);
        assert_eq!(truncate(0.2), 0);
        assert_eq!(truncate(f64::NAN), 0);
        assert_eq!(truncate(1e12), i32::MAX);
    }

    #[test]
    fn readings_round_trip() {
        let mut raw = RawReading::default();
        raw.sensors[6] = Some(553.2);
        raw.settings = [Some(0.1), Some(0.2), Some(100.0)];
        let proto = proto_reading(&raw);
        assert_eq!(raw_reading(&proto), raw);
    }
}
