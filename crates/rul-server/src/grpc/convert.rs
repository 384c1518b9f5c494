//! Protobuf <-> core conversions and the single PredictError -> gRPC status mapping.

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

crate::input::raw_reading_conversions!(pb::SensorReading);

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

/// gRPC code and body of a core error (the one mapping in [`Failure`]).
fn classify(err: &PredictError) -> (Code, ErrorBody) {
    let f = Failure::from(err);
    (f.grpc, f.body)
}

/// gRPC code and body of a fleet error (the one mapping in [`Failure`]).
fn classify_fleet(err: &rul_fleet::FleetError) -> (Code, ErrorBody) {
    let f = Failure::from(err);
    (f.grpc, f.body)
}

/// The status for a fleet error (same JSON message shape as [`status`]).
pub fn fleet_status(err: &rul_fleet::FleetError) -> Status {
    let (code, body) = classify_fleet(err);
    status_with_body(code, &body)
}

/// Per-message error of a reading stream.
pub fn fleet_item_error(err: &rul_fleet::FleetError) -> pb::Error {
    match err {
        rul_fleet::FleetError::Predict(e) => item_error(e),
        other => {
            let (code, body) = classify_fleet(other);
            let body = body.bounded();
            pb::Error {
                code: code as i32,
                message: body.error,
                r#type: body.kind,
                violations: Vec::new(),
            }
        }
    }
}

/// The status for a core error; its message is the JSON error shape `{error, type, details}` used by REST too.
pub fn status(err: &PredictError) -> Status {
    let (code, body) = classify(err);
    status_with_body(code, &body)
}

/// A status whose message is `body` as JSON, with `retry-after-ms` metadata when a retry may succeed.
pub fn status_with_body(code: Code, body: &ErrorBody) -> Status {
    let body = body.clone().bounded();
    let message = serde_json::to_string(&body).unwrap_or_else(|_| body.error.clone());
    let mut status = Status::new(code, message);
    if body.retry_later() {
        status.metadata_mut().insert(
            RETRY_AFTER_MS,
            tonic::metadata::MetadataValue::from(RETRY_AFTER_SECS * 1000),
        );
    }
    status
}

/// gRPC metadata key of the retry hint (REST's `Retry-After`, in milliseconds).
pub const RETRY_AFTER_MS: &str = "retry-after-ms";

/// Most violations one batch item's error lists (a 500-reading request can have thousands).
const MAX_ITEM_VIOLATIONS: usize = 100;

/// Per-item error of a batch answer.
pub fn item_error(err: &PredictError) -> pb::Error {
    let (code, body) = classify(err);
    let body = body.bounded();
    let violations = match err {
        PredictError::Validation(v) => v
            .violations
            .iter()
            .take(MAX_ITEM_VIOLATIONS)
            .map(|x| pb::Violation {
                reading: x.reading.map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
                field: x.field.as_deref().map(|f| clip(f, MAX_ECHO_CHARS)),
                reason: clip(&x.reason, 4 * MAX_ECHO_CHARS),
            })
            .collect(),
        _ => Vec::new(),
    };
    pb::Error {
        code: code as i32,
        message: body.error,
        r#type: body.kind,
        violations,
    }
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
