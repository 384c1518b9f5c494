//! SageMaker settings of `rul serve`: container mode (`--sagemaker`) and the client of a remote endpoint
//! (`SAGEMAKER_ENDPOINT` and its timeouts, retries and circuit breaker).

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use rul_core::remote::BoxFuture;
use rul_core::{BreakerConfig, RemoteBackend};
use rul_sagemaker::SageMakerSettings;

/// Port SageMaker sends `/ping` and `/invocations` to.
pub const CONTAINER_PORT: u16 = 8080;
/// Where SageMaker unpacks `model.tar.gz` in a container.
pub const CONTAINER_MODEL_DIR: &str = "/opt/ml/model";
/// SageMaker's payload limit for real-time `InvokeEndpoint` (6 MB); `/invocations` refuses larger bodies (413).
pub const INVOCATIONS_MAX_BYTES: usize = 6 * 1024 * 1024;

type Connect =
    dyn Fn(SageMakerSettings) -> BoxFuture<'static, Arc<dyn RemoteBackend>> + Send + Sync;

/// Builds the SageMaker client from its settings. The binary supplies it (rul-sagemaker's `runtime` feature), so
/// this crate links no AWS SDK; without one, a configured `SAGEMAKER_ENDPOINT` stops start-up with a clear error.
#[derive(Clone, Default)]
pub struct RemoteConnector(Option<Arc<Connect>>);

impl RemoteConnector {
    /// A connector that runs `connect` once at start-up.
    pub fn new<F, Fut>(connect: F) -> Self
    where
        F: Fn(SageMakerSettings) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Arc<dyn RemoteBackend>> + Send + 'static,
    {
        Self(Some(Arc::new(move |settings| Box::pin(connect(settings)))))
    }

    /// The client for `settings`, or None when no connector was supplied.
    pub async fn connect(&self, settings: SageMakerSettings) -> Option<Arc<dyn RemoteBackend>> {
        match &self.0 {
            Some(connect) => Some(connect(settings).await),
            None => None,
        }
    }
}

impl std::fmt::Debug for RemoteConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "RemoteConnector(set)"
        } else {
            "RemoteConnector(none)"
        })
    }
}

impl PartialEq for RemoteConnector {
    /// The same connector, or both absent.
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        }
    }
}

/// SageMaker settings (flattened into [`super::ServerConfig`]).
#[derive(Args, Clone, Debug, PartialEq)]
pub struct SageMakerArgs {
    /// Run as a SageMaker container: REST on 8080 (--port overrides) with GET /ping and POST /invocations,
    /// model from /opt/ml/model (MODEL_PATH / --model override). The image sets RUL_SAGEMAKER=1, so SageMaker's
    /// `docker run IMAGE serve` starts this mode.
    #[arg(
        long = "sagemaker",
        env = "RUL_SAGEMAKER",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub container: bool,
    /// SageMaker endpoint that `use_sagemaker: true` requests are sent to; unset = they are answered locally
    /// (source `local_fallback`, reason `not_configured`).
    #[arg(long = "sagemaker-endpoint", env = "SAGEMAKER_ENDPOINT")]
    pub endpoint: Option<String>,
    /// AWS region of the SageMaker endpoint.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub aws_region: String,
    /// Replaces the regional SageMaker runtime URL (local testing, VPC interface endpoints), e.g. http://127.0.0.1:9000.
    #[arg(long = "sagemaker-endpoint-url", env = "SAGEMAKER_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Time limit of one SageMaker call, retries included (milliseconds); must stay below REQUEST_TIMEOUT_MS
    /// so the local fallback still fits in the request.
    #[arg(
        long = "sagemaker-timeout-ms",
        env = "SAGEMAKER_TIMEOUT_MS",
        default_value_t = 3_000
    )]
    pub timeout_ms: u64,
    /// Time limit of one attempt (milliseconds).
    #[arg(
        long = "sagemaker-attempt-timeout-ms",
        env = "SAGEMAKER_ATTEMPT_TIMEOUT_MS",
        default_value_t = 1_500
    )]
    pub attempt_timeout_ms: u64,
    /// Time limit for connecting (milliseconds).
    #[arg(
        long = "sagemaker-connect-timeout-ms",
        env = "SAGEMAKER_CONNECT_TIMEOUT_MS",
        default_value_t = 500
    )]
    pub connect_timeout_ms: u64,
    /// Attempts per call, 1..=5 (1 = no retry); only throttling, 5xx and transport errors are retried.
    #[arg(
        long = "sagemaker-max-attempts",
        env = "SAGEMAKER_MAX_ATTEMPTS",
        default_value_t = 2
    )]
    pub max_attempts: u32,
    /// Consecutive failed calls that open the circuit breaker (calls then go straight to the local model).
    #[arg(
        long = "sagemaker-breaker-threshold",
        env = "SAGEMAKER_BREAKER_THRESHOLD",
        default_value_t = 5
    )]
    pub breaker_threshold: u32,
    /// How long an open breaker waits before one probe call (milliseconds).
    #[arg(
        long = "sagemaker-breaker-cooldown-ms",
        env = "SAGEMAKER_BREAKER_COOLDOWN_MS",
        default_value_t = 30_000
    )]
    pub breaker_cooldown_ms: u64,
    /// Builds the SageMaker client (set by the binary, never from the environment).
    #[arg(skip)]
    pub connector: RemoteConnector,
}

impl Default for SageMakerArgs {
    fn default() -> Self {
        Self {
            container: false,
            endpoint: None,
            aws_region: "us-east-1".into(),
            endpoint_url: None,
            timeout_ms: 3_000,
            attempt_timeout_ms: 1_500,
            connect_timeout_ms: 500,
            max_attempts: 2,
            breaker_threshold: 5,
            breaker_cooldown_ms: 30_000,
            connector: RemoteConnector::default(),
        }
    }
}

impl SageMakerArgs {
    /// The endpoint name, treating an empty value as unset.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// The endpoint URL override, treating an empty value as unset.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// The client settings, when an endpoint is configured.
    pub fn settings(&self) -> Option<SageMakerSettings> {
        self.endpoint().map(|endpoint| SageMakerSettings {
            endpoint: endpoint.to_string(),
            region: self.aws_region.trim().to_string(),
            endpoint_url: self.endpoint_url().map(str::to_string),
            timeout: Duration::from_millis(self.timeout_ms),
            attempt_timeout: Duration::from_millis(self.attempt_timeout_ms),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            max_attempts: self.max_attempts,
        })
    }

    /// The circuit breaker's settings.
    pub fn breaker(&self) -> BreakerConfig {
        BreakerConfig {
            failure_threshold: self.breaker_threshold,
            cooldown: Duration::from_millis(self.breaker_cooldown_ms),
        }
    }

    /// Every problem with these settings (`request_timeout_ms` bounds the SageMaker timeout).
    pub fn problems(&self, request_timeout_ms: u64) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(name) = self.endpoint()
            && !valid_endpoint_name(name)
        {
            problems.push(format!(
                "SAGEMAKER_ENDPOINT must be 1-63 letters, digits and inner hyphens, got {name:?}"
            ));
        }
        if self.endpoint().is_some() && self.aws_region.trim().is_empty() {
            problems.push("AWS_REGION must not be empty when SAGEMAKER_ENDPOINT is set".into());
        }
        if let Some(url) = self.endpoint_url()
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            problems.push(format!(
                "SAGEMAKER_ENDPOINT_URL must start with http:// or https://, got {url:?}"
            ));
        }
        for (name, value) in [
            ("SAGEMAKER_TIMEOUT_MS", self.timeout_ms),
            ("SAGEMAKER_ATTEMPT_TIMEOUT_MS", self.attempt_timeout_ms),
            ("SAGEMAKER_CONNECT_TIMEOUT_MS", self.connect_timeout_ms),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
        if self.attempt_timeout_ms > self.timeout_ms {
            problems.push(format!(
                "SAGEMAKER_ATTEMPT_TIMEOUT_MS ({}) must not exceed SAGEMAKER_TIMEOUT_MS ({})",
                self.attempt_timeout_ms, self.timeout_ms
            ));
        }
        if self.timeout_ms >= request_timeout_ms {
            problems.push(format!(
                "SAGEMAKER_TIMEOUT_MS ({}) must be below REQUEST_TIMEOUT_MS ({request_timeout_ms}) so the local fallback fits",
                self.timeout_ms
            ));
        }
        if !(1..=5).contains(&self.max_attempts) {
            problems.push(format!(
                "SAGEMAKER_MAX_ATTEMPTS must be 1 to 5, got {}",
                self.max_attempts
            ));
        }
        if self.breaker_threshold == 0 {
            problems.push("SAGEMAKER_BREAKER_THRESHOLD must be at least 1".into());
        }
        problems
    }
}

/// SageMaker endpoint names: `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`.
fn valid_endpoint_name(name: &str) -> bool {
    name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Which container-mode defaults the user overrode (from clap's value sources).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Explicit {
    /// MODEL_PATH or --model-path/--model was given.
    pub model_path: bool,
    /// HTTP_PORT or --http-port/--port was given.
    pub http_port: bool,
}

/// The model directory and REST port container mode uses unless overridden.
pub fn container_defaults(explicit: Explicit, model_path: &mut PathBuf, http_port: &mut u16) {
    if !explicit.model_path {
        *model_path = PathBuf::from(CONTAINER_MODEL_DIR);
    }
    if !explicit.http_port {
        *http_port = CONTAINER_PORT;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names() {
        assert!(valid_endpoint_name("rul-fd001"));
        assert!(valid_endpoint_name("a"));
        for bad in ["", "-a", "a-", "a_b", "a b", &"a".repeat(64)] {
            assert!(!valid_endpoint_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn problems_are_reported() {
        let args = SageMakerArgs {
            endpoint: Some("bad name".into()),
            endpoint_url: Some("ftp://x".into()),
            timeout_ms: 20_000,
            attempt_timeout_ms: 30_000,
            max_attempts: 0,
            breaker_threshold: 0,
            ..SageMakerArgs::default()
        };
        let text = args.problems(10_000).join("\n");
        for needle in [
            "SAGEMAKER_ENDPOINT ",
            "SAGEMAKER_ENDPOINT_URL",
            "must not exceed",
            "below REQUEST_TIMEOUT_MS",
            "SAGEMAKER_MAX_ATTEMPTS",
            "SAGEMAKER_BREAKER_THRESHOLD",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
        assert!(SageMakerArgs::default().problems(10_000).is_empty());
        assert!(SageMakerArgs::default().settings().is_none());
    }

    #[test]
    fn container_defaults_yield_to_explicit_values() {
        let (mut model, mut port) = (PathBuf::from("models/fd001"), 8000);
        container_defaults(Explicit::default(), &mut model, &mut port);
        assert_eq!((model.to_str(), port), (Some(CONTAINER_MODEL_DIR), 8080));
        let (mut model, mut port) = (PathBuf::from("m"), 9000);
        let explicit = Explicit {
            model_path: true,
            http_port: true,
        };
        container_defaults(explicit, &mut model, &mut port);
        assert_eq!((model.to_str(), port), (Some("m"), 9000));
    }
}
