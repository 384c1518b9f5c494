//! One mapping from the SDK's errors to rul-core's [`RemoteError`] (and so to a fallback reason).

use aws_sdk_sagemakerruntime::config::http::HttpResponse;
use aws_sdk_sagemakerruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use rul_core::RemoteError;

/// Error codes the service uses for throttling.
const THROTTLING_CODES: [&str; 4] = [
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

/// Classifies an `InvokeEndpoint` failure.
pub(crate) fn sdk_error(err: SdkError<InvokeEndpointError, HttpResponse>) -> RemoteError {
    match err {
        SdkError::TimeoutError(_) => RemoteError::Timeout("no answer within the timeout".into()),
        SdkError::DispatchFailure(failure) => {
            let detail = format!("{:?}", failure.as_connector_error());
            if failure.is_timeout() {
                RemoteError::Timeout(detail)
            } else if failure.is_io() {
                RemoteError::Connect(detail)
            } else {
                RemoteError::Other(detail)
            }
        }
        SdkError::ResponseError(e) => {
            RemoteError::Malformed(format!("unreadable response (HTTP {})", e.raw().status()))
        }
        SdkError::ServiceError(e) => {
            let status = e.raw().status().as_u16();
            service_error(e.err(), status)
        }
        SdkError::ConstructionFailure(_) => {
            RemoteError::Other("the request could not be built".into())
        }
        other => RemoteError::Other(format!("{other:?}")),
    }
}

/// Classifies an error the service answered, by its modelled kind, code and HTTP status.
fn service_error(err: &InvokeEndpointError, status: u16) -> RemoteError {
    let code = err.code().unwrap_or_default();
    let detail = format!(
        "{}: {}",
        if code.is_empty() { "error" } else { code },
        err.message().unwrap_or("no message")
    );
    if matches!(err, InvokeEndpointError::ModelError(_)) || code == "ModelError" {
        RemoteError::ModelError(detail)
    } else if status == 429 || THROTTLING_CODES.contains(&code) {
        RemoteError::Throttled(detail)
    } else {
        RemoteError::Status { status, detail }
    }
}
