//! Remote inference behind a trait: what a remote backend (SageMaker) must do, how its failures are classified,
//! and the circuit breaker that stops calling one that keeps failing. No transport or AWS types here: the AWS SDK
//! implementation lives in the `rul-sagemaker` crate.

mod breaker;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use breaker::{BreakerConfig, BreakerState, CircuitBreaker, Permit};

/// A boxed, sendable future (what [`RemoteBackend::predict`] returns, so the trait stays object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Already-normalised windows for a remote model: each `window × n_features` values, row-major (oldest first),
/// produced by the serving artifact's own preprocessor.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteRequest {
    /// One flat window per prediction.
    pub windows: Vec<Vec<f32>>,
    /// Rows (cycles) per window.
    pub window: usize,
    /// Values per row.
    pub n_features: usize,
}

/// A remote model's answer: one raw RUL per window, in request order.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteAnswer {
    /// Predicted RUL per window (not yet clamped).
    pub ruls: Vec<f64>,
    /// The model version the endpoint reported, if it reports one.
    pub model_version: Option<String>,
}

/// Something that predicts RUL remotely (a SageMaker endpoint). Implementations bound their own time (timeouts,
/// bounded retries) and classify every failure as a [`RemoteError`].
pub trait RemoteBackend: Send + Sync + 'static {
    /// Short name for logs and for `model_version` when the endpoint reports none, e.g. `sagemaker:rul-fd001`.
    fn name(&self) -> &str;

    /// Predicts one RUL per window of `request`.
    fn predict(&self, request: RemoteRequest) -> BoxFuture<'_, Result<RemoteAnswer, RemoteError>>;
}

/// Why a remote call failed; each maps to one [`FallbackReason`].
#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum RemoteError {
    /// No answer within the configured timeout (per attempt or overall).
    #[error("timed out: {0}")]
    Timeout(String),
    /// The endpoint could not be reached (refused, DNS, TLS, reset).
    #[error("connection failed: {0}")]
    Connect(String),
    /// The service throttled the call (HTTP 429 / ThrottlingException).
    #[error("throttled: {0}")]
    Throttled(String),
    /// The model container answered an error (SageMaker `ModelError`, HTTP 424).
    #[error("model error: {0}")]
    ModelError(String),
    /// Any other HTTP error status from the service.
    #[error("endpoint answered HTTP {status}: {detail}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// What the service said (for logs).
        detail: String,
    },
    /// The answer was not `{"predictions": [[rul], ...]}` with one finite number per window.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// Anything else (request construction, credentials, ...).
    #[error("{0}")]
    Other(String),
}

impl RemoteError {
    /// The fallback reason this failure is counted under.
    pub fn reason(&self) -> FallbackReason {
        match self {
            RemoteError::Timeout(_) => FallbackReason::Timeout,
            RemoteError::Connect(_) => FallbackReason::Connect,
            RemoteError::Throttled(_) => FallbackReason::Throttled,
            RemoteError::ModelError(_) => FallbackReason::ModelError,
            RemoteError::Status { status, .. } if *status >= 500 => FallbackReason::ServerError,
            RemoteError::Status { .. } => FallbackReason::ClientError,
            RemoteError::Malformed(_) => FallbackReason::Malformed,
            RemoteError::Other(_) => FallbackReason::Other,
        }
    }
}

/// Why a request that asked for the remote endpoint was answered by the local model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FallbackReason {
    /// No remote endpoint is configured (SAGEMAKER_ENDPOINT unset).
    NotConfigured,
    /// The circuit breaker is open (or its half-open probe is already in flight).
    CircuitOpen,
    /// See [`RemoteError::Timeout`].
    Timeout,
    /// See [`RemoteError::Connect`].
    Connect,
    /// See [`RemoteError::Throttled`].
    Throttled,
    /// See [`RemoteError::ModelError`].
    ModelError,
    /// An HTTP 5xx other than the above.
    ServerError,
    /// An HTTP 4xx other than the above.
    ClientError,
    /// See [`RemoteError::Malformed`].
    Malformed,
    /// See [`RemoteError::Other`].
    Other,
}

impl FallbackReason {
    /// Stable name: the `reason` label of the fallback counter and the `fallback_reason` field of answers.
    pub fn as_str(self) -> &'static str {
        match self {
            FallbackReason::NotConfigured => "not_configured",
            FallbackReason::CircuitOpen => "circuit_open",
            FallbackReason::Timeout => "timeout",
            FallbackReason::Connect => "connect",
            FallbackReason::Throttled => "throttled",
            FallbackReason::ModelError => "model_error",
            FallbackReason::ServerError => "server_error",
            FallbackReason::ClientError => "client_error",
            FallbackReason::Malformed => "malformed",
            FallbackReason::Other => "other",
        }
    }
}

/// A remote backend guarded by a circuit breaker: what a [`crate::Predictor`] routes `Route::Remote` requests to.
#[derive(Clone)]
pub struct Remote {
    pub(crate) backend: Arc<dyn RemoteBackend>,
    pub(crate) breaker: Arc<CircuitBreaker>,
}

impl Remote {
    /// Wraps `backend` with a breaker configured by `breaker`.
    pub fn new(backend: Arc<dyn RemoteBackend>, breaker: BreakerConfig) -> Self {
        Self {
            backend,
            breaker: Arc::new(CircuitBreaker::new(breaker)),
        }
    }

    /// The backend's name.
    pub fn name(&self) -> &str {
        self.backend.name()
    }

    /// The breaker's current state (for tests, logs and the metrics gauge).
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("backend", &self.backend.name())
            .field("breaker", &self.breaker.state())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_reasons() {
        let cases = [
            (RemoteError::Timeout("t".into()), "timeout"),
            (RemoteError::Connect("c".into()), "connect"),
            (RemoteError::Throttled("t".into()), "throttled"),
            (RemoteError::ModelError("m".into()), "model_error"),
            (
                RemoteError::Status {
                    status: 503,
                    detail: String::new(),
                },
                "server_error",
            ),
            (
                RemoteError::Status {
                    status: 400,
                    detail: String::new(),
                },
                "client_error",
            ),
            (RemoteError::Malformed("m".into()), "malformed"),
            (RemoteError::Other("o".into()), "other"),
        ];
        for (err, reason) in cases {
            assert_eq!(err.reason().as_str(), reason, "{err}");
        }
    }
}
