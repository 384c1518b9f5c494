//! `ServerConfig`: every setting of the service, from flags or environment (flags win), validated once at startup.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use rul_core::{InferenceEngine, PredictorConfig, defaults};

mod connections;
mod dotenv;
mod fleet;
mod mqtt;
mod sagemaker;

pub use connections::ConnectionArgs;
pub use dotenv::{load_dotenv, parse_dotenv};
pub use fleet::{FleetArgs, redacted_url};
pub use mqtt::{Broker, MqttArgs, MqttSettings, prefix_problem};

pub use sagemaker::{
    CONTAINER_MODEL_DIR, CONTAINER_PORT, Explicit, INVOCATIONS_MAX_BYTES, RemoteConnector,
    SageMakerArgs,
};

/// Problems with the configuration; each message names the setting and what is expected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a value the service cannot run with.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// The `.env` file exists but could not be read or parsed.
    #[error("cannot read env file {path}: {reason}")]
    EnvFile { path: PathBuf, reason: String },
}

/// Settings of `rul serve`. Names follow the original plan (SERVICE_NAME, GRPC_PORT, HTTP_PORT, MODEL_PATH, ...).
#[derive(Args, Clone, PartialEq)]
pub struct ServerConfig {
    /// Name reported by GET /health.
    #[arg(long, env = "SERVICE_NAME", default_value = "ml-prediction-service")]
    pub service_name: String,
    /// Address both listeners bind to.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,
    /// gRPC port (PredictionService, grpc.health.v1, reflection).
    #[arg(long, env = "GRPC_PORT", default_value_t = 50051)]
    pub grpc_port: u16,
    /// REST port (/predict, /health, /ready, /metrics, ...); 8080 by default with --sagemaker.
    #[arg(
        long,
        visible_alias = "port",
        env = "HTTP_PORT",
        default_value_t = 8000
    )]
    pub http_port: u16,
    /// Directory of the model artifact to serve; /opt/ml/model by default with --sagemaker.
    #[arg(
        long,
        visible_alias = "model",
        env = "MODEL_PATH",
        default_value = defaults::MODEL_PATH
    )]
    pub model_path: PathBuf,
    /// Expected window length; startup fails if the loaded artifact disagrees.
    #[arg(long, env = "SEQUENCE_LENGTH")]
    pub sequence_length: Option<usize>,
    /// Expected number of model input features; startup fails if the loaded artifact disagrees.
    #[arg(long, env = "N_FEATURES")]
    pub n_features: Option<usize>,
    /// Expected RUL ceiling (label cap) of the artifact; startup fails if it disagrees.
    #[arg(long, env = "RUL_CEILING")]
    pub rul_ceiling: Option<f64>,
    /// SageMaker: container mode and the remote endpoint client.
    #[command(flatten)]
    pub sagemaker: SageMakerArgs,
    /// Fleet state: history store and retention.
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// MQTT telemetry: readings in, predictions and alerts out (off unless MQTT_URL is set).
    #[command(flatten)]
    pub mqtt: MqttArgs,
    /// Connection limits and timeouts of both listeners.
    #[command(flatten)]
    pub connections: ConnectionArgs,
    /// Log filter (tracing EnvFilter syntax, e.g. "info" or "rul_server=debug,info").
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Log format: "json" or "text"; default json, text when stdout is a terminal.
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Bearer token for POST /admin/reload; unset disables the route (403 to callers presenting a token, 401 without).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Comma-separated allowed CORS origins ("*" = any origin, never with credentials); empty = no CORS.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Forward pass: "fast" (the plain-Rust path, default) or "burn" (the reference it is verified against).
    #[arg(long, env = "INFERENCE_ENGINE", default_value = "fast")]
    pub engine: InferenceEngine,
    /// Largest micro-batch the model thread runs at once.
    #[arg(long, env = "MAX_BATCH", default_value_t = defaults::MAX_BATCH)]
    pub max_batch: usize,
    /// How long the model thread waits to fill a micro-batch (milliseconds; 0 = never wait).
    #[arg(long, env = "MAX_WAIT_MS", default_value_t = defaults::MAX_WAIT_MS)]
    pub max_wait_ms: u64,
    /// How long the model thread keeps polling for work after a batch before it sleeps
    /// (microseconds, at most 10,000; 0 = sleep at once).
    #[arg(long, env = "MODEL_IDLE_SPIN_US", default_value_t = defaults::IDLE_SPIN_US)]
    pub model_idle_spin_us: u64,
    /// Pending predictions beyond which requests are refused as overloaded.
    #[arg(long, env = "QUEUE_CAPACITY", default_value_t = defaults::QUEUE_CAPACITY)]
    pub queue_capacity: usize,
    /// Prediction cache time-to-live in seconds (0 disables caching).
    #[arg(long, env = "CACHE_TTL_SECS", default_value_t = defaults::CACHE_TTL_SECS)]
    pub cache_ttl_secs: u64,
    /// Maximum cached predictions.
    #[arg(long, env = "CACHE_CAPACITY", default_value_t = defaults::CACHE_CAPACITY)]
    pub cache_capacity: u64,
    /// Per-request time limit in milliseconds (REST 504, gRPC DEADLINE_EXCEEDED); gRPC clients may ask for less.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Largest accepted REST request body in bytes (413 beyond).
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = 1_048_576)]
    pub body_limit_bytes: usize,
    /// Largest gRPC message in bytes, both directions (RESOURCE_EXHAUSTED beyond).
    #[arg(long, env = "GRPC_MAX_MESSAGE_BYTES", default_value_t = 4 * 1_048_576)]
    pub grpc_max_message_bytes: usize,
    /// Prediction requests handled at once per transport; more are shed (429 / RESOURCE_EXHAUSTED).
    #[arg(long, env = "CONCURRENCY_LIMIT", default_value_t = 256)]
    pub concurrency_limit: usize,
    /// Seconds in-flight requests get to finish after SIGTERM/SIGINT.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Seconds between SIGTERM/SIGINT and closing the listeners, during which /ready answers 503 and gRPC health
    /// NOT_SERVING while requests are still served, so load balancers stop sending new work first.
    #[arg(long, env = "SHUTDOWN_DELAY_SECS", default_value_t = 5)]
    pub shutdown_delay_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            service_name: "ml-prediction-service".into(),
            host: "0.0.0.0".into(),
            grpc_port: 50051,
            http_port: 8000,
            model_path: PathBuf::from(defaults::MODEL_PATH),
            sequence_length: None,
            n_features: None,
            rul_ceiling: None,
            sagemaker: SageMakerArgs::default(),
            fleet: FleetArgs::default(),
            mqtt: MqttArgs::default(),
            connections: ConnectionArgs::default(),
            log_level: "info".into(),
            log_format: None,
            admin_token: None,
            cors_origins: Vec::new(),
            engine: InferenceEngine::Fast,
            max_batch: defaults::MAX_BATCH,
            max_wait_ms: defaults::MAX_WAIT_MS,
            model_idle_spin_us: defaults::IDLE_SPIN_US,
            queue_capacity: defaults::QUEUE_CAPACITY,
            cache_ttl_secs: defaults::CACHE_TTL_SECS,
            cache_capacity: defaults::CACHE_CAPACITY,
            request_timeout_ms: 10_000,
            body_limit_bytes: 1_048_576,
            grpc_max_message_bytes: 4 * 1_048_576,
            concurrency_limit: 256,
            shutdown_grace_secs: 10,
            shutdown_delay_secs: 5,
        }
    }
}

/// Shortest admin token accepted, so a guessable token cannot be configured by accident.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// Largest MAX_INFLIGHT_BYTES accepted (1 TiB): beyond any machine this runs on, and within the semaphore's range.
const MAX_INFLIGHT_BYTES_LIMIT: usize = 1 << 40;

/// Longest MODEL_IDLE_SPIN_US accepted: polling longer than 10 ms only burns a core.
const MAX_IDLE_SPIN_US: u64 = 10_000;

impl ServerConfig {
    /// Checks every setting and returns all problems at once, one per line.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        self.service_problems(&mut problems);
        self.model_problems(&mut problems);
        self.limit_problems(&mut problems);
        problems.extend(self.fleet.problems());
        problems.extend(self.mqtt.problems());
        problems.extend(self.sagemaker.problems(self.request_timeout_ms));
        problems.extend(self.connections.problems(self.request_timeout_ms));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(problems.join("; ")))
        }
    }

    /// Identity, addresses, access and logging.
    fn service_problems(&self, problems: &mut Vec<String>) {
        if self.service_name.trim().is_empty() {
            problems.push("SERVICE_NAME must not be empty".to_string());
        }
        if self.host.parse::<IpAddr>().is_err() {
            problems.push(format!(
                "HOST must be an IP address such as 0.0.0.0 or 127.0.0.1, got {:?}",
                self.host
            ));
        }
        if self.grpc_port != 0 && self.grpc_port == self.http_port {
            problems.push(format!(
                "GRPC_PORT and HTTP_PORT must differ (both {})",
                self.grpc_port
            ));
        }
        if let Some(token) = self.admin_token()
            && token.len() < MIN_ADMIN_TOKEN_LEN
        {
            problems.push(format!(
                "ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_LEN} characters when set"
            ));
        }
        for origin in self.cors_origins() {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                problems.push(format!("CORS_ORIGINS entries must be \"*\" or start with http:// or https://, got {origin:?}"));
            } else if axum::http::HeaderValue::from_str(&origin).is_err() {
                problems.push(format!(
                    "CORS_ORIGINS entry {origin:?} is not a valid header value"
                ));
            }
        }
        if let Some(format) = self.log_format.as_deref().filter(|f| !f.is_empty())
            && !matches!(format, "json" | "text")
        {
            problems.push(format!(
                "LOG_FORMAT must be \"json\" or \"text\", got {format:?}"
            ));
        }
        if self.shutdown_delay_secs > 3600 {
            problems.push(format!(
                "SHUTDOWN_DELAY_SECS must be at most 3600, got {}",
                self.shutdown_delay_secs
            ));
        }
    }

    /// The model and how it is served.
    fn model_problems(&self, problems: &mut Vec<String>) {
        if self.model_path.as_os_str().is_empty() {
            problems.push("MODEL_PATH must not be empty".to_string());
        }
        if self.sequence_length == Some(0) {
            problems.push("SEQUENCE_LENGTH must be at least 1 when set".to_string());
        }
        if self.n_features == Some(0) {
            problems.push("N_FEATURES must be at least 1 when set".to_string());
        }
        if let Some(c) = self.rul_ceiling
            && !(c.is_finite() && c > 0.0)
        {
            problems.push(format!(
                "RUL_CEILING must be a positive number when set, got {c}"
            ));
        }
        if self.model_idle_spin_us > MAX_IDLE_SPIN_US {
            problems.push(format!(
                "MODEL_IDLE_SPIN_US must be at most {MAX_IDLE_SPIN_US}, got {}",
                self.model_idle_spin_us
            ));
        }
    }

    /// Sizes, counts and time limits of requests.
    fn limit_problems(&self, problems: &mut Vec<String>) {
        for (name, value) in [
            ("MAX_BATCH", self.max_batch),
            ("QUEUE_CAPACITY", self.queue_capacity),
            ("CONCURRENCY_LIMIT", self.concurrency_limit),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
        if self.request_timeout_ms == 0 {
            problems.push("REQUEST_TIMEOUT_MS must be at least 1".to_string());
        }
        if self.body_limit_bytes < 1024 {
            problems.push(format!(
                "BODY_LIMIT_BYTES must be at least 1024, got {}",
                self.body_limit_bytes
            ));
        }
        if self.grpc_max_message_bytes < 1024 {
            problems.push(format!(
                "GRPC_MAX_MESSAGE_BYTES must be at least 1024, got {}",
                self.grpc_max_message_bytes
            ));
        }
        let largest = self.largest_request_bytes();
        if !(largest..=MAX_INFLIGHT_BYTES_LIMIT).contains(&self.connections.max_inflight_bytes) {
            problems.push(format!(
                "MAX_INFLIGHT_BYTES must hold the largest request accepted ({largest} bytes, from BODY_LIMIT_BYTES \
                 and GRPC_MAX_MESSAGE_BYTES) and be at most {MAX_INFLIGHT_BYTES_LIMIT}, got {}",
                self.connections.max_inflight_bytes
            ));
        }
    }

    /// The admin token, treating an empty value as unset.
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// The SageMaker endpoint, treating an empty value as unset.
    pub fn sagemaker_endpoint(&self) -> Option<&str> {
        self.sagemaker.endpoint()
    }

    /// In SageMaker container mode, the model directory and REST port become /opt/ml/model and 8080 unless
    /// `explicit` says the user set them; outside container mode nothing changes.
    pub fn apply_container_defaults(&mut self, explicit: Explicit) {
        if self.sagemaker.container {
            sagemaker::container_defaults(explicit, &mut self.model_path, &mut self.http_port);
        }
    }

    /// Trimmed, non-empty CORS origins.
    pub fn cors_origins(&self) -> Vec<String> {
        self.cors_origins
            .iter()
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect()
    }

    /// Socket address of the REST listener.
    pub fn http_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.addr(self.http_port)
    }

    /// Socket address of the gRPC listener.
    pub fn grpc_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.addr(self.grpc_port)
    }

    fn addr(&self, port: u16) -> Result<SocketAddr, ConfigError> {
        let ip: IpAddr = self.host.parse().map_err(|_| {
            ConfigError::Invalid(format!("HOST must be an IP address, got {:?}", self.host))
        })?;
        Ok(SocketAddr::new(ip, port))
    }

    /// Per-request time limit.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// Grace period for in-flight requests at shutdown.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// Bytes of the largest single request a listener accepts: a REST body, a framed gRPC message, or (in
    /// container mode) a SageMaker invocation.
    pub fn largest_request_bytes(&self) -> usize {
        let invocations = if self.sagemaker.container {
            INVOCATIONS_MAX_BYTES
        } else {
            0
        };
        self.body_limit_bytes
            .max(self.grpc_max_message_bytes.saturating_add(5))
            .max(invocations)
    }

    /// How long the server reports not-ready before it stops accepting connections at shutdown.
    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_secs(self.shutdown_delay_secs)
    }

    /// The core's configuration derived from these settings.
    pub fn predictor_config(&self) -> PredictorConfig {
        PredictorConfig {
            model_path: self.model_path.clone(),
            max_batch: self.max_batch,
            max_wait: Duration::from_millis(self.max_wait_ms),
            queue_capacity: self.queue_capacity,
            cache_ttl: Duration::from_secs(self.cache_ttl_secs),
            cache_capacity: self.cache_capacity,
            engine: self.engine,
            idle_spin: Duration::from_micros(self.model_idle_spin_us),
        }
    }
}

/// Debug output redacts the admin token so the effective configuration can be logged safely.
impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("service_name", &self.service_name)
            .field("host", &self.host)
            .field("grpc_port", &self.grpc_port)
            .field("http_port", &self.http_port)
            .field("model_path", &self.model_path)
            .field("sequence_length", &self.sequence_length)
            .field("n_features", &self.n_features)
            .field("rul_ceiling", &self.rul_ceiling)
            .field("sagemaker", &self.sagemaker)
            .field("fleet", &self.fleet)
            .field("mqtt", &self.mqtt)
            .field("connections", &self.connections)
            .field("log_level", &self.log_level)
            .field("log_format", &self.log_format)
            .field("admin_token", &self.admin_token().map(|_| "<redacted>"))
            .field("cors_origins", &self.cors_origins)
            .field("engine", &self.engine)
            .field("max_batch", &self.max_batch)
            .field("max_wait_ms", &self.max_wait_ms)
            .field("model_idle_spin_us", &self.model_idle_spin_us)
            .field("queue_capacity", &self.queue_capacity)
            .field("cache_ttl_secs", &self.cache_ttl_secs)
            .field("cache_capacity", &self.cache_capacity)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("grpc_max_message_bytes", &self.grpc_max_message_bytes)
            .field("concurrency_limit", &self.concurrency_limit)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("shutdown_delay_secs", &self.shutdown_delay_secs)
            .finish()
    }
}

/// Compares secrets without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests;
