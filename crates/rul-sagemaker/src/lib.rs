//! SageMaker for the RUL service: the one definition of the wire shapes both sides speak (TensorFlow-Serving
//! JSON: the container's `POST /invocations` answers [`PredictionsBody`], the client sends [`InstancesBody`]),
//! the client settings, and — with the `runtime` feature (default) — the runtime client (the official AWS SDK's
//! `InvokeEndpoint`) implementing rul-core's `RemoteBackend`, and the `model.tar.gz` packaging SageMaker expects.
//! The server builds without `runtime`, so it links neither the AWS SDK nor the packager; the binary adds them.
//!
//! The client sends `{"instances": [window, ...]}` with each window a list of already-normalised rows, and reads
//! `{"predictions": [[rul], ...]}` (plus an optional `model_version`). Timeouts and retries are always set
//! explicitly ([`SageMakerSettings`]), never left to SDK defaults; TLS is rustls on ring (no OpenSSL, no aws-lc
//! C build).

#[cfg(feature = "runtime")]
mod classify;
#[cfg(feature = "runtime")]
mod client;
#[cfg(feature = "runtime")]
mod package;
mod shapes;

use std::time::Duration;

#[cfg(feature = "runtime")]
pub use client::{CredentialSource, SageMakerBackend};
#[cfg(feature = "runtime")]
pub use package::{PackageError, PackageSummary, package_model};
pub use shapes::{CONTENT_TYPE, InstancesBody, PredictionsBody, parse_answer, request_body};

/// Everything the client needs; every time and retry bound is explicit.
#[derive(Clone, Debug, PartialEq)]
pub struct SageMakerSettings {
    /// Endpoint name (`SAGEMAKER_ENDPOINT`).
    pub endpoint: String,
    /// AWS region (`AWS_REGION`).
    pub region: String,
    /// Replaces the regional runtime URL (`SAGEMAKER_ENDPOINT_URL`: tests, VPC interface endpoints).
    pub endpoint_url: Option<String>,
    /// Whole call, retries included.
    pub timeout: Duration,
    /// One attempt.
    pub attempt_timeout: Duration,
    /// Establishing a connection.
    pub connect_timeout: Duration,
    /// Attempts in all (1 = no retry); the SDK's standard retry strategy decides what is retryable
    /// (throttling, 5xx, transport errors — never `ModelError`).
    pub max_attempts: u32,
}
