//! The one failure table, read from what each transport really sends.

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use rul_core::PredictError;
use rul_data::ValidationError;
use rul_fleet::FleetError;
use tonic::Code;

use crate::grpc::convert::{RETRY_AFTER_MS, error_detail, fleet_status};
use crate::http::errors::ApiError;

/// Every core and fleet failure (as a fleet error: `Predict` wraps the core's), with the answer expected of
/// both transports: type, REST status, gRPC code, and whether they hint to retry.
type Row = (FleetError, &'static str, StatusCode, Code, bool);

/// Every failure kind with its `type`, HTTP status, gRPC code and whether it carries a retry hint.
fn table() -> Vec<Row> {
    let mut rows = core_rows();
    rows.extend(fleet_rows());
    rows
}

/// The core's outcomes, as the fleet passes them on.
fn core_rows() -> Vec<Row> {
    let p = |e: PredictError| FleetError::Predict(e);
    vec![
        (
            p(PredictError::Validation(ValidationError::single(
                Some(1),
                Some("s7"),
                "is missing",
            ))),
            "validation",
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::InvalidArgument,
            false,
        ),
        (
            p(PredictError::Overloaded),
            "overloaded",
            StatusCode::TOO_MANY_REQUESTS,
            Code::ResourceExhausted,
            true,
        ),
        (
            p(PredictError::NotReady("loading /secret/model".into())),
            "not_ready",
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Unavailable,
            true,
        ),
        (
            p(PredictError::Remote("secret endpoint 500".into())),
            "remote",
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Unavailable,
            true,
        ),
        (
            p(PredictError::Internal("/secret/path exploded".into())),
            "internal",
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::Internal,
            false,
        ),
    ]
}

/// The fleet's own outcomes.
fn fleet_rows() -> Vec<Row> {
    vec![
        (
            FleetError::Conflict {
                reading: 2,
                message: "cycle 5 is already stored".into(),
            },
            "conflict",
            StatusCode::CONFLICT,
            Code::FailedPrecondition,
            false,
        ),
        (
            FleetError::NotFound,
            "not_found",
            StatusCode::NOT_FOUND,
            Code::NotFound,
            false,
        ),
        (
            FleetError::AlertNotFound,
            "not_found",
            StatusCode::NOT_FOUND,
            Code::NotFound,
            false,
        ),
        (
            FleetError::AlertCleared("a-1".into()),
            "conflict",
            StatusCode::CONFLICT,
            Code::FailedPrecondition,
            false,
        ),
        (
            FleetError::NotOwner {
                owner: 1,
                replicas: 2,
            },
            "wrong_replica",
            StatusCode::MISDIRECTED_REQUEST,
            Code::FailedPrecondition,
            false,
        ),
        (
            FleetError::Store("db at /secret/rul.db".into()),
            "store",
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Unavailable,
            true,
        ),
    ]
}

#[tokio::test]
async fn every_failure_reads_the_same_over_rest_and_grpc() {
    for (err, kind, http, code, retry) in table() {
        let grpc = fleet_status(&err);
        let rest = ApiError::from(err).into_response();
        let case = format!("{kind} ({http})");

        assert_eq!(rest.status(), http, "{case}");
        assert_eq!(grpc.code(), code, "{case}");
        let rest_retry = rest
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().map(str::to_string));
        let grpc_retry = grpc
            .metadata()
            .get(RETRY_AFTER_MS)
            .map(|v| v.to_str().map(str::to_string));
        assert_eq!(rest_retry.is_some(), retry, "{case}: REST Retry-After");
        assert_eq!(grpc_retry.is_some(), retry, "{case}: gRPC retry-after-ms");
        if retry {
            assert_eq!(
                rest_retry.and_then(Result::ok).as_deref(),
                Some("1"),
                "{case}"
            );
            assert_eq!(
                grpc_retry.and_then(Result::ok).as_deref(),
                Some("1000"),
                "{case}"
            );
        }

        let bytes = axum::body::to_bytes(rest.into_body(), 1 << 20)
            .await
            .expect("body");
        let rest_body: serde_json::Value = serde_json::from_slice(&bytes).expect("REST JSON");
        let grpc_body: serde_json::Value = serde_json::from_str(grpc.message()).expect("gRPC JSON");
        assert_eq!(
            rest_body, grpc_body,
            "{case}: the same body on both transports"
        );
        assert_eq!(rest_body["type"], kind, "{case}");
        let detail = error_detail(&grpc).expect("typed gRPC detail");
        assert_eq!(detail.r#type, kind, "{case}");
        assert_eq!(detail.code, code as i32, "{case}");
        assert_eq!(rest_body["error"], detail.message, "{case}");
        assert!(
            !rest_body.to_string().contains("secret"),
            "{case}: {rest_body}"
        );
    }
}
