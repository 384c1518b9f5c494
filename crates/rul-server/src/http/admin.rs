//! POST /admin/reload: swap in a (new) model artifact, guarded by a bearer token; disabled without one.

use std::path::PathBuf;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::errors::{ApiError, ErrorBody};
use crate::metrics::RequestLog;

/// Optional body of POST /admin/reload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReloadBody {
    /// Artifact directory to load; omitted = reload the current MODEL_PATH.
    #[serde(default)]
    pub model_path: Option<String>,
}

/// Reload the model. On failure the previous model keeps serving.
#[utoipa::path(
    post,
    path = "/admin/reload",
    tag = "operations",
    request_body(content = Option<ReloadBody>, description = "Optional; empty body reloads MODEL_PATH"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "New model card", body = Object),
        (status = 400, description = "Invalid JSON body", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Admin API disabled (no ADMIN_TOKEN configured)", body = ErrorBody),
        (status = 415, description = "Body present but not application/json", body = ErrorBody),
        (status = 422, description = "Artifact refused (details.reason says why); previous model keeps serving", body = ErrorBody),
        (status = 429, description = "Overloaded; retry later", body = ErrorBody),
        (status = 503, description = "Reload could not run (shutting down)", body = ErrorBody),
        (status = 504, description = "Request timed out", body = ErrorBody),
    )
)]
pub async fn reload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(expected) = state.admin_token.as_deref() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "admin API disabled: no ADMIN_TOKEN configured",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), expected.as_bytes())) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        ));
    }
    let body = parse_body(&headers, body?)?;
    let path = body
        .model_path
        .filter(|p| !p.trim().is_empty())
        .map(PathBuf::from);
    tracing::info!(path = ?path, "model reload requested");
    let info = state.predictor.reload(path).await.map_err(reload_error)?;
    let log = RequestLog {
        model_version: Some(info.version.clone()),
        ..RequestLog::default()
    };
    let mut response = Json(info).into_response();
    response.extensions_mut().insert(log);
    Ok(response)
}

/// Reload failures go to an authenticated operator, so unlike other routes the reason is included.
fn reload_error(err: rul_core::PredictError) -> ApiError {
    match err {
        rul_core::PredictError::Internal(reason) => {
            tracing::warn!(reason = reason.as_str(), "model reload failed");
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "reload_failed",
                "reload failed; the previous model keeps serving",
            )
            .with_details(serde_json::json!({ "reason": reason }))
        }
        other => ApiError::from(other),
    }
}

fn parse_body(headers: &HeaderMap, bytes: Bytes) -> Result<ReloadBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(ReloadBody::default());
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "request body is not a valid reload request",
        )
        .with_details(serde_json::json!({ "reason": e.to_string() }))
    })
}

/// Compares secrets without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abcdefghijklmnop", b"abcdefghijklmnop"));
        assert!(!constant_time_eq(b"abcdefghijklmnoq", b"abcdefghijklmnop"));
        assert!(!constant_time_eq(b"abc", b"abcdefghijklmnop"));
        assert!(!constant_time_eq(b"", b"abcdefghijklmnop"));
    }
}
