//! The SageMaker runtime client: `InvokeEndpoint` through the official AWS SDK as a rul-core `RemoteBackend`.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_sagemakerruntime::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_types::Blob;
use rul_core::{RemoteAnswer, RemoteBackend, RemoteError, RemoteRequest};

use crate::{CONTENT_TYPE, SageMakerSettings, classify, parse_answer, request_body};

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
