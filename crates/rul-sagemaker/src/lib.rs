//! SageMaker for the RUL service: the runtime client (the official AWS SDK's `InvokeEndpoint`) implementing
//! rul-core's [`RemoteBackend`], and the `model.tar.gz` packaging SageMaker expects for a model artifact.
//!
//! The client sends TensorFlow-Serving JSON, `{"instances": [window, ...]}` with each window a list of
//! already-normalised rows, and reads `{"predictions": [[rul], ...]}` (plus an optional `model_version`) —
//! exactly what the container side of this service (`rul serve --sagemaker`, `POST /invocations`) speaks.
//! Timeouts and retries are always set explicitly ([`SageMakerSettings`]), never left to SDK defaults; TLS is
//! rustls on ring (no OpenSSL, no aws-lc C build).

mod classify;
mod package;

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sagemakerruntime::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_types::Blob;
use rul_core::{RemoteAnswer, RemoteBackend, RemoteError, RemoteRequest};
use serde::{Deserialize, Serialize};

pub use package::{PackageError, PackageSummary, package_model};

/// Content type of requests and answers.
pub const CONTENT_TYPE: &str = "application/json";

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

/// Where credentials come from.
#[derive(Clone, Debug, Default)]
pub enum CredentialSource {
    /// The SDK's default chain: environment, profile files, web identity, ECS container, EC2 instance metadata.
    #[default]
    DefaultChain,
    /// Fixed keys (tests against a local stand-in; never real keys in code).
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
    },
}

/// A SageMaker runtime endpoint as a [`RemoteBackend`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct SageMakerBackend {
    client: Client,
    endpoint: Arc<str>,
    name: Arc<str>,
}

impl SageMakerBackend {
    /// Builds the client (loads the credential chain lazily; nothing is called yet).
    pub async fn new(settings: &SageMakerSettings, credentials: CredentialSource) -> Self {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.connect_timeout)
            .operation_attempt_timeout(settings.attempt_timeout)
            .operation_timeout(settings.timeout)
            .build();
        let retry = RetryConfig::standard()
            .with_max_attempts(settings.max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(50))
            .with_max_backoff(Duration::from_millis(500));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client)
            .region(Region::new(settings.region.clone()))
            .timeout_config(timeouts.clone())
            .retry_config(retry.clone());
        if let CredentialSource::Static {
            access_key_id,
            secret_access_key,
        } = credentials
        {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                access_key_id,
                secret_access_key,
                None,
                None,
                "rul-static",
            ));
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_sagemakerruntime::config::Builder::from(&shared)
            .timeout_config(timeouts)
            .retry_config(retry);
        if let Some(url) = &settings.endpoint_url {
            config = config.endpoint_url(url.clone());
        }
        Self {
            client: Client::from_conf(config.build()),
            endpoint: Arc::from(settings.endpoint.as_str()),
            name: Arc::from(format!("sagemaker:{}", settings.endpoint)),
        }
    }

    async fn invoke(&self, request: RemoteRequest) -> Result<RemoteAnswer, RemoteError> {
        let body = request_body(&request)?;
        let output = self
            .client
            .invoke_endpoint()
            .endpoint_name(self.endpoint.as_ref())
            .content_type(CONTENT_TYPE)
            .accept(CONTENT_TYPE)
            .body(Blob::new(body))
            .send()
            .await
            .map_err(classify::sdk_error)?;
        let body = output
            .body()
            .ok_or_else(|| RemoteError::Malformed("empty response body".into()))?;
        parse_answer(body.as_ref())
    }
}

impl RemoteBackend for SageMakerBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn predict(
        &self,
        request: RemoteRequest,
    ) -> rul_core::remote::BoxFuture<'_, Result<RemoteAnswer, RemoteError>> {
        Box::pin(self.invoke(request))
    }
}

/// TensorFlow-Serving request body: `{"instances": [window, ...]}`, each window a list of rows.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct InstancesBody {
    /// Windows of rows of normalised features.
    pub instances: Vec<Vec<Vec<f32>>>,
}

/// TensorFlow-Serving answer: `{"predictions": [[rul], ...]}`, optionally with the model version.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct PredictionsBody {
    /// One single-element list per window.
    pub predictions: Vec<Vec<f64>>,
    /// Version of the model that answered (this service's containers report it; others may not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
}

/// The JSON body for `request`.
pub fn request_body(request: &RemoteRequest) -> Result<Vec<u8>, RemoteError> {
    let f = request.n_features.max(1);
    let instances = request
        .windows
        .iter()
        .map(|w| w.chunks(f).map(<[f32]>::to_vec).collect())
        .collect();
    serde_json::to_vec(&InstancesBody { instances })
        .map_err(|e| RemoteError::Other(format!("cannot encode the request: {e}")))
}

/// Reads `{"predictions": [[rul], ...]}`; anything else is `Malformed`.
pub fn parse_answer(body: &[u8]) -> Result<RemoteAnswer, RemoteError> {
    let parsed: PredictionsBody = serde_json::from_slice(body)
        .map_err(|e| RemoteError::Malformed(format!("not TensorFlow-Serving JSON: {e}")))?;
    let ruls = parsed
        .predictions
        .iter()
        .map(|p| match p.as_slice() {
            [rul] => Ok(*rul),
            other => Err(RemoteError::Malformed(format!(
                "expected one value per prediction, got {}",
                other.len()
            ))),
        })
        .collect::<Result<Vec<f64>, RemoteError>>()?;
    Ok(RemoteAnswer {
        ruls,
        model_version: parsed.model_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_splits_rows() {
        let body = request_body(&RemoteRequest {
            windows: vec![vec![0.5, 0.25, 1.0, 0.0]],
            window: 2,
            n_features: 2,
        })
        .expect("encode");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"instances": [[[0.5, 0.25], [1.0, 0.0]]]})
        );
    }

    #[test]
    fn answers_parse_or_are_malformed() {
        let a = parse_answer(br#"{"predictions": [[41.5], [7.0]], "model_version": "v1"}"#)
            .expect("valid");
        assert_eq!(a.ruls, vec![41.5, 7.0]);
        assert_eq!(a.model_version.as_deref(), Some("v1"));
        for bad in [
            &br#"{"predictions": [[1.0, 2.0]]}"#[..],
            br#"{"predictions": "x"}"#,
            br#"{"oops": 1}"#,
            b"not json",
            b"",
        ] {
            assert!(
                matches!(parse_answer(bad), Err(RemoteError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
