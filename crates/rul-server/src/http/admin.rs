//! POST /admin/reload: swap in a (new) model artifact, guarded by a bearer token; disabled without one.

use crate::config::constant_time_eq;
use std::path::PathBuf;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use rul_data::ValidationError;

use super::AppState;
use super::errors::{ApiError, ErrorBody};
use super::json::parse_object;
use super::ops::ModelResponse;
use crate::metrics::RequestLog;

/// Longest `model_path` accepted, in characters (Linux PATH_MAX).
pub const MAX_MODEL_PATH_CHARS: usize = 4096;

/// Optional body of POST /admin/reload.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReloadBody {
    /// Absolute path, on the server, of the artifact directory to load; omitted or null = reload the current
    /// MODEL_PATH. A relative path is refused (it would depend on the server's working directory).
    #[serde(default)]
    #[schema(pattern = "^/", max_length = 4096)]
    pub model_path: Option<String>,
}

/// Answer of a successful reload: the new model's card plus the directory it was loaded from.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReloadResponse {
    /// The new model's card.
    #[serde(flatten)]
    pub model: ModelResponse,
    /// Directory (on the server) the artifact was loaded from.
    pub path: String,
}

/// Reload the model. On failure the previous model keeps serving.
///
/// Authentication comes first: a request without bearer credentials gets 401 whether or not the admin API is
/// enabled; with credentials, 403 means the admin API is disabled (no ADMIN_TOKEN configured).
#[utoipa::path(
    post,
    path = "/admin/reload",
    tag = "operations",
    request_body(content = ReloadBody, description = "Optional: an empty body (no Content-Type needed) reloads MODEL_PATH"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "New model card, with the directory it was loaded from", body = ReloadResponse),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Admin API disabled (no ADMIN_TOKEN configured)", body = ErrorBody),
        (status = 415, description = "Body present but not application/json", body = ErrorBody),
        (status = 422, description = "model_path refused (type validation: not absolute, too long) or no loadable artifact there (type reload_failed, details.reason says why); the previous model keeps serving", body = ErrorBody),
        (status = 503, description = "Reload could not run (shutting down)", body = ErrorBody),
    )
)]
pub async fn reload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let body = parse_body(&headers, body?)?;
    let path = checked_model_path(body.model_path)?;
    tracing::info!(path = ?path, "model reload requested");
    let info = state.predictor.reload(path).await.map_err(reload_error)?;
    let log = RequestLog {
        model_version: Some(info.version.clone()),
        ..RequestLog::default()
    };
    let answer = ReloadResponse {
        model: ModelResponse::from_info(&info),
        path: info.path.display().to_string(),
    };
    let mut response = Json(answer).into_response();
    response.extensions_mut().insert(log);
    Ok(response)
}

/// Checks the request's bearer token against ADMIN_TOKEN: 401 without a valid one, 403 when no token is
/// configured (the admin API is then disabled).
pub fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let unauthorized = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        )
    };
    let Some(presented) = bearer_token(headers) else {
        return Err(unauthorized());
    };
    let Some(expected) = state.admin_token.as_deref() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "admin API disabled: no ADMIN_TOKEN configured",
        ));
    };
    if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(unauthorized());
    }
    Ok(())
}

/// The bearer credentials of the request, if it presents any.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// `model_path` as the core takes it (None = the current MODEL_PATH); a path that is not absolute, or is longer
/// than any the OS accepts, is refused before anything is read.
fn checked_model_path(model_path: Option<String>) -> Result<Option<PathBuf>, ApiError> {
    let Some(raw) = model_path else {
        return Ok(None);
    };
    let reason = if raw.chars().count() > MAX_MODEL_PATH_CHARS {
        Some(format!(
            "model_path is longer than {MAX_MODEL_PATH_CHARS} characters"
        ))
    } else if !raw.starts_with('/') {
        Some("model_path must be an absolute path (starting with /)".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ApiError::validation(&ValidationError::single(
            None,
            Some("model_path"),
            reason,
        ))),
        None => Ok(Some(PathBuf::from(raw))),
    }
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
    let is_json = super::json::is_json_content_type(headers);
    if !is_json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ));
    }
    parse_object(&bytes)
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

    #[test]
    fn bearer_credentials() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().expect("header value"));
            headers
        };
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        assert_eq!(bearer_token(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&with("Bearer   ")), None);
        assert_eq!(bearer_token(&with("Basic abc")), None);
    }

    #[test]
    fn model_paths() {
        assert_eq!(checked_model_path(None).ok(), Some(None));
        assert_eq!(
            checked_model_path(Some("/srv/models/fd002".into())).ok(),
            Some(Some(PathBuf::from("/srv/models/fd002")))
        );
        for bad in [
            String::new(),
            "   ".to_string(),
            "models/fd001".to_string(),
            " /leading-space".to_string(),
            format!("/{}", "a".repeat(MAX_MODEL_PATH_CHARS)),
        ] {
            let Err(err) = checked_model_path(Some(bad.clone())) else {
                panic!("{bad:?} accepted");
            };
            assert_eq!(err.status(), StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(err.body().kind, "validation");
            assert_eq!(err.body().details[0]["field"], "model_path");
        }
    }
}
