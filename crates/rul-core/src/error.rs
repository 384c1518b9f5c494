//! The one error type every transport maps exactly once.

use rul_data::ValidationError;

/// Everything that can go wrong with a prediction, reload or readiness wait.
#[derive(thiserror::Error, Debug, Clone)]
pub enum PredictError {
    /// The request was malformed; the violations say which reading/field and why.
    #[error("{0}")]
    Validation(ValidationError),
    /// The prediction queue is full; the caller should back off and retry.
    #[error("overloaded: the prediction queue is full")]
    Overloaded,
    /// No model is serving (still loading, failed to load, or shutting down).
    #[error("model not ready: {0}")]
    NotReady(String),
    /// A remote model endpoint failed (reserved for non-local sources).
    #[error("remote model error: {0}")]
    Remote(String),
    /// A bug or an unexpected model failure; details are for logs, not clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl PredictError {
    /// Stable machine-readable kind, used for metrics labels and transport error bodies.
    pub fn kind(&self) -> &'static str {
        match self {
            PredictError::Validation(_) => "validation",
            PredictError::Overloaded => "overloaded",
            PredictError::NotReady(_) => "not_ready",
            PredictError::Remote(_) => "remote",
            PredictError::Internal(_) => "internal",
        }
    }

    /// A message safe to show clients: no paths or internals leak from `Remote`/`Internal`.
    pub fn public_message(&self) -> String {
        match self {
            PredictError::Validation(e) => e.to_string(),
            PredictError::Overloaded => {
                "server overloaded: prediction queue is full, retry later".into()
            }
            PredictError::NotReady(_) => "model not ready".into(),
            PredictError::Remote(_) => "remote model endpoint error".into(),
            PredictError::Internal(_) => "internal error".into(),
        }
    }

    /// Shorthand for a validation error on one field of the request.
    pub(crate) fn field(field: &str, reason: impl Into<String>) -> Self {
        PredictError::Validation(ValidationError::single(None, Some(field), reason))
    }
}

impl From<ValidationError> for PredictError {
    fn from(e: ValidationError) -> Self {
        PredictError::Validation(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_public_messages() {
        let v = PredictError::field("engine_id", "must not be empty");
        assert_eq!(v.kind(), "validation");
        assert!(v.public_message().contains("engine_id") || v.public_message().contains("empty"));
        assert_eq!(PredictError::Overloaded.kind(), "overloaded");
        assert_eq!(PredictError::NotReady("x".into()).kind(), "not_ready");
        assert_eq!(PredictError::Remote("x".into()).kind(), "remote");
        let internal = PredictError::Internal("/secret/path exploded".into());
        assert_eq!(internal.kind(), "internal");
        assert_eq!(internal.public_message(), "internal error");
        assert!(
            !PredictError::NotReady("/secret".into())
                .public_message()
                .contains("secret")
        );
    }
}
