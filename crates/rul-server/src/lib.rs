//! rul-server: the transports over the core `Predictor` — gRPC (tonic: rul.v1.PredictionService, grpc.health.v1,
//! reflection) and REST (axum) in one process sharing one Predictor, plus Prometheus metrics, logging,
//! configuration and graceful shutdown. Clients and load generators live in rul-client.

pub mod budget;
pub mod config;
pub mod grpc;
pub mod http;
pub mod input;
mod lifecycle;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod mqtt;
pub mod net;
pub mod reload;
pub mod shutdown;
pub mod webhook;
pub mod wire;

use std::future::Future;

use rul_core::{PredictError, Predictor};
use tokio::net::TcpListener;

pub use config::{ConfigError, FleetArgs, ServerConfig, load_dotenv};
pub use grpc::{grpc_routes, grpc_service};
pub use http::{AppState, http_router};

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener could not be bound.
    #[error("cannot bind {what} listener on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    /// The metrics recorder could not be installed.
    #[error(transparent)]
    Metrics(#[from] metrics::MetricsError),
    /// The model artifact could not be loaded at startup.
    #[error("model failed to load from {path}: {reason}")]
    Model { path: String, reason: String },
    /// The loaded artifact disagrees with SEQUENCE_LENGTH / N_FEATURES / RUL_CEILING.
    #[error("model artifact does not match the configuration: {0}")]
    ArtifactMismatch(String),
    /// The REST server failed.
    #[error("http server: {0}")]
    Http(std::io::Error),
    /// The gRPC server failed.
    #[error(transparent)]
    Grpc(#[from] grpc::GrpcError),
    /// The model's `tracker.json` could not be used.
    #[error("tracker parameters: {0}")]
    Tracker(#[from] rul_fleet::TrackerFileError),
    /// The model's `inputs.json` (training profile) could not be used.
    #[error("training profile: {0}")]
    Profile(String),
    /// The fleet's history store could not be opened.
    #[error("history store {url}: {source}")]
    Store {
        url: String,
        source: rul_fleet::FleetError,
    },
}

/// Runs the service until SIGTERM/SIGINT: validates the config, raises the open-file limit, installs metrics,
/// binds HOST:HTTP_PORT and HOST:GRPC_PORT, serves both, and shuts down as [`serve_with_listeners`] describes.
/// Logging is not initialised here (see [`logging::init`]).
pub async fn serve(config: ServerConfig) -> Result<(), ServeError> {
    config.validate()?;
    let stop = shutdown::signal();
    if let Some(limit) = net::raise_open_file_limit() {
        tracing::debug!(open_files = limit, "open-file limit");
    }
    let http_addr = config.http_addr()?;
    let grpc_addr = config.grpc_addr()?;
    let http = TcpListener::bind(http_addr)
        .await
        .map_err(|source| ServeError::Bind {
            what: "http",
            addr: http_addr.to_string(),
            source,
        })?;
    let grpc = TcpListener::bind(grpc_addr)
        .await
        .map_err(|source| ServeError::Bind {
            what: "grpc",
            addr: grpc_addr.to_string(),
            source,
        })?;
    serve_with_listeners(config, http, grpc, stop).await
}

/// [`serve`] on listeners the caller bound (tests use 127.0.0.1:0), stopping when `shutdown` resolves: then /ready
/// answers 503 and gRPC health NOT_SERVING for SHUTDOWN_DELAY_SECS while requests are still served (HTTP/1 answers
/// with `Connection: close`), then both listeners stop accepting, in-flight requests get SHUTDOWN_GRACE_SECS to
/// finish while keep-alive connections close (HTTP/2 GOAWAY), and the core stops.
pub async fn serve_with_listeners(
    mut config: ServerConfig,
    http: TcpListener,
    grpc: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    config.validate()?;
    fit_connection_caps(&mut config);
    let handle = metrics::install()?;
    tracing::info!(config = ?config, "effective configuration");
    let local = |l: &TcpListener| l.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(http = %local(&http), grpc = %local(&grpc), "listening");
    let mut running = lifecycle::Running::start(&config, handle, http, grpc).await?;
    let outcome = running.until_stopped(&config, shutdown).await;
    running.stop(&config, outcome.is_ok()).await;
    outcome
}

/// Lowers HTTP_MAX_CONNECTIONS and GRPC_MAX_CONNECTIONS, if needed, so both fit under the open-file limit with
/// room for the store, the model files and the accept loop itself (accept would otherwise fail with EMFILE).
fn fit_connection_caps(config: &mut ServerConfig) {
    const RESERVE: u64 = 256;
    let Some(open_files) = net::open_file_limit() else {
        return;
    };
    let wanted = (
        config.connections.http_max_connections,
        config.connections.grpc_max_connections,
    );
    let (http, grpc) = config.connections.caps_within(open_files, RESERVE);
    if (http, grpc) != wanted {
        tracing::warn!(
            open_files,
            http_max_connections = http,
            grpc_max_connections = grpc,
            "connection caps lowered to fit the open-file limit"
        );
        config.connections.http_max_connections = http;
        config.connections.grpc_max_connections = grpc;
    }
}

/// The fleet over DATABASE_URL (state rebuilt from the store), or None in SageMaker container mode.
pub(crate) async fn open_fleet(
    config: &ServerConfig,
    predictor: &Predictor,
) -> Result<Option<rul_fleet::Fleet>, ServeError> {
    if config.sagemaker.container || !config.fleet.fleet_enabled {
        return Ok(None);
    }
    let url = &config.fleet.database_url;
    let failed = |source| ServeError::Store {
        url: config::redacted_url(url),
        source,
    };
    let tracker =
        rul_fleet::TrackerConfig::for_model_dir(&config.model_path).map_err(ServeError::Tracker)?;
    tracing::info!(?tracker, "RUL tracker");
    let profile = rul_data::InputProfile::for_model_dir(&config.model_path)
        .map_err(|e| ServeError::Profile(e.to_string()))?;
    match &profile {
        Some(p) => tracing::info!(
            inputs = p.sensors.len(),
            drift_threshold = p.drift_threshold,
            "training profile loaded: readings are quality-checked and drift is scored"
        ),
        None => tracing::warn!(
            "the model ships no inputs.json: no data-quality flags or drift (run `rul profile --write`)"
        ),
    }
    let store = rul_fleet::Store::connect(url).await.map_err(failed)?;
    let fleet = rul_fleet::Fleet::open(
        predictor.clone(),
        store,
        rul_fleet::FleetConfig {
            tracker,
            alerts: config.fleet.alert_policy(),
            quality: config.fleet.quality_policy(),
            profile: profile.map(std::sync::Arc::new),
            drift_window: config.fleet.drift_fleet_window,
            ownership: config.fleet.ownership().map_err(ConfigError::Invalid)?,
        },
    )
    .await
    .map_err(failed)?;
    Ok(Some(fleet))
}

/// The SageMaker client for `use_sagemaker` requests, when SAGEMAKER_ENDPOINT is set (built by the binary's
/// connector; a configured endpoint without one is a start-up error, never a silent local answer).
pub(crate) async fn remote_backend(
    config: &ServerConfig,
) -> Result<Option<rul_core::Remote>, ServeError> {
    let Some(settings) = config.sagemaker.settings() else {
        return Ok(None);
    };
    tracing::info!(
        endpoint = settings.endpoint.as_str(),
        region = settings.region.as_str(),
        endpoint_url = settings.endpoint_url.as_deref().unwrap_or("(regional)"),
        "use_sagemaker requests go to SageMaker, falling back to the local model"
    );
    let Some(backend) = config.sagemaker.connector.connect(settings).await else {
        return Err(ServeError::Config(ConfigError::Invalid(
            "SAGEMAKER_ENDPOINT is set, but this build of the server has no SageMaker client"
                .into(),
        )));
    };
    Ok(Some(rul_core::Remote::new(
        backend,
        config.sagemaker.breaker(),
    )))
}

/// What a failed start-up load says in the error.
pub(crate) fn load_failure(err: &PredictError) -> String {
    match err {
        PredictError::NotReady(reason)
        | PredictError::Internal(reason)
        | PredictError::Remote(reason) => reason.clone(),
        other => other.to_string(),
    }
}

/// A server task that ended, as the error that ends the service.
pub(crate) fn task_failure(
    what: &str,
    joined: Result<Result<(), ServeError>, tokio::task::JoinError>,
) -> ServeError {
    match joined {
        Ok(Err(e)) => e,
        Ok(Ok(())) => ServeError::Http(std::io::Error::other(format!(
            "{what} server stopped unexpectedly"
        ))),
        Err(e) => ServeError::Http(std::io::Error::other(format!(
            "{what} server task failed: {e}"
        ))),
    }
}

/// Compares the loaded artifact with SEQUENCE_LENGTH, N_FEATURES and RUL_CEILING when those are set.
pub(crate) fn check_artifact(
    config: &ServerConfig,
    predictor: &Predictor,
) -> Result<(), ServeError> {
    let wanted = [
        (
            "SEQUENCE_LENGTH",
            config.sequence_length.map(|v| v as f64),
            &["window", "sequence_length"][..],
        ),
        (
            "N_FEATURES",
            config.n_features.map(|v| v as f64),
            &["n_features", "features"][..],
        ),
        (
            "RUL_CEILING",
            config.rul_ceiling,
            &["ceiling", "rul_ceiling"][..],
        ),
    ];
    if wanted.iter().all(|(_, v, _)| v.is_none()) {
        return Ok(());
    }
    let info = predictor
        .model_info()
        .and_then(|m| serde_json::to_value(m).ok())
        .ok_or_else(|| ServeError::ArtifactMismatch("model info unavailable after load".into()))?;
    let mut problems = Vec::new();
    for (name, expected, keys) in wanted {
        let Some(expected) = expected else { continue };
        let actual = find_number(&info, keys).or_else(|| match name {
            "RUL_CEILING" => ceiling_from_preprocessor(&info, &config.model_path),
            _ => None,
        });
        match actual {
            Some(actual) if (actual - expected).abs() < 1e-9 => {}
            Some(actual) => {
                problems.push(format!("{name}={expected} but the artifact has {actual}"))
            }
            None => tracing::warn!(
                setting = name,
                "cannot verify: the model card does not report this value"
            ),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ServeError::ArtifactMismatch(problems.join("; ")))
    }
}

/// The label ceiling from the artifact's preprocessor.json (the model card does not report it as a number).
fn ceiling_from_preprocessor(
    info: &serde_json::Value,
    configured: &std::path::Path,
) -> Option<f64> {
    let dir = info
        .get("path")
        .and_then(serde_json::Value::as_str)
        .map(std::path::PathBuf::from);
    let dir = dir.unwrap_or_else(|| configured.to_path_buf());
    let preprocessor = rul_data::Preprocessor::load(&dir.join("preprocessor.json")).ok()?;
    Some(preprocessor.config().ceiling)
}

/// Looks for the first of `keys` holding a number at the top level of `value` or one object level below.
fn find_number(value: &serde_json::Value, keys: &[&str]) -> Option<f64> {
    let object = value.as_object()?;
    keys.iter()
        .find_map(|k| object.get(*k).and_then(serde_json::Value::as_f64))
        .or_else(|| {
            object
                .values()
                .filter(|v| v.is_object())
                .find_map(|nested| {
                    keys.iter()
                        .find_map(|k| nested.get(*k).and_then(serde_json::Value::as_f64))
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_number_looks_one_level_deep() {
        let v =
            serde_json::json!({"version": "x", "window": 30, "preprocessor": {"ceiling": 125.0}});
        assert_eq!(find_number(&v, &["window"]), Some(30.0));
        assert_eq!(find_number(&v, &["ceiling", "rul_ceiling"]), Some(125.0));
        assert_eq!(find_number(&v, &["n_features"]), None);
    }
}
