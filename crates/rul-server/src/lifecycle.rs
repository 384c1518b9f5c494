//! The running service between start-up and exit: the tasks `serve_with_listeners` starts, the wait for
//! readiness and for a stop, and the ordered shutdown (not-ready delay, drain within the grace period, abort).

use std::future::Future;

use metrics_exporter_prometheus::PrometheusHandle;
use rul_core::Predictor;
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};
use tonic_health::server::HealthReporter;

use crate::http::AppState;
use crate::{
    ServeError, ServerConfig, budget, check_artifact, grpc, http, load_failure, memory, mqtt,
    open_fleet, remote_backend, shutdown, task_failure, webhook,
};

type ServerTask = JoinHandle<Result<(), ServeError>>;

/// Everything the service runs: the core, both servers and the background tasks.
pub(crate) struct Running {
    predictor: Predictor,
    reporter: HealthReporter,
    trigger: shutdown::Trigger,
    draining: shutdown::Draining,
    http: ServerTask,
    grpc: ServerTask,
    http_done: bool,
    grpc_done: bool,
    /// Stopped last, MQTT first: its unacknowledged readings stay with the broker's persistent session.
    background: Vec<AbortHandle>,
}

impl Running {
    /// Starts the core, the fleet and its adapters, both servers on the given listeners, and the upkeep tasks.
    pub(crate) async fn start(
        config: &ServerConfig,
        handle: PrometheusHandle,
        http: TcpListener,
        grpc: TcpListener,
    ) -> Result<Self, ServeError> {
        let remote = remote_backend(config).await?;
        let predictor = Predictor::start_with_remote(config.predictor_config(), remote);
        let fleet = open_fleet(config, &predictor).await?;
        let mut background = Vec::new();
        if let Some(f) = &fleet {
            if let Some(settings) = config.mqtt.settings() {
                background.extend(mqtt::spawn(f, settings).abort_handles());
            }
            background.push(
                rul_fleet::spawn_retention(f.store().clone(), config.fleet.history_days)
                    .abort_handle(),
            );
            if let Some(url) = config.fleet.alert_webhook_url.clone() {
                tracing::info!(url = %crate::config::redacted_url(&url), "alert webhook on");
                background.push(webhook::spawn(f, url).abort_handle());
            }
        }
        let (trigger, stop) = shutdown::channel();
        let draining = shutdown::Draining::default();
        let admission = budget::Admission::new(config);
        let router = http::http_router(
            AppState::new(predictor.clone(), config, Some(handle.clone()))
                .with_admission(admission.clone())
                .with_fleet(fleet.clone())
                .with_shutdown(stop.clone())
                .with_draining(draining.clone()),
        );
        let (routes, reporter) = grpc::grpc_routes(predictor.clone(), fleet, config).await?;
        let limits = http::server::HttpLimits {
            max_connections: config.connections.http_max_connections,
            header_timeout: config.connections.header_timeout(),
            idle_timeout: config.connections.idle_timeout(),
            keepalive: config.connections.keepalive_interval(),
        };
        let http = tokio::spawn({
            let (stop, draining) = (stop.clone(), draining.clone());
            async move {
                http::server::serve_http(http, router, limits, draining, stop)
                    .await
                    .map_err(ServeError::Http)
            }
        });
        let grpc = tokio::spawn({
            let config = config.clone();
            async move { Ok(grpc::serve_grpc(grpc, routes, &config, admission, stop.wait()).await?) }
        });
        background
            .push(tokio::spawn(crate::reload::reload_on_sighup(predictor.clone())).abort_handle());
        background.push(tokio::spawn(upkeep(handle)).abort_handle());
        Ok(Running {
            predictor,
            reporter,
            trigger,
            draining,
            http,
            grpc,
            http_done: false,
            grpc_done: false,
            background,
        })
    }

    /// Serves until `shutdown` resolves (`Ok`), or start-up or a server fails (that error).
    pub(crate) async fn until_stopped(
        &mut self,
        config: &ServerConfig,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let readiness = ready(config, &self.predictor, &self.reporter);
        tokio::pin!(readiness);
        tokio::pin!(shutdown);
        let mut ready_done = false;
        loop {
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                result = &mut readiness, if !ready_done => {
                    ready_done = true;
                    if let Err(e) = result {
                        tracing::error!(error = %e, "startup failed");
                        return Err(e);
                    }
                }
                result = &mut self.http, if !self.http_done => {
                    self.http_done = true;
                    return Err(task_failure("http", result));
                }
                result = &mut self.grpc, if !self.grpc_done => {
                    self.grpc_done = true;
                    return Err(task_failure("grpc", result));
                }
            }
        }
    }

    /// Reports not-ready (for SHUTDOWN_DELAY_SECS after a requested stop), stops accepting, drains in-flight
    /// requests within SHUTDOWN_GRACE_SECS, then stops the background tasks and the core.
    pub(crate) async fn stop(mut self, config: &ServerConfig, requested: bool) {
        self.draining.start();
        grpc::set_serving(&self.reporter, false).await;
        if requested && !config.shutdown_delay().is_zero() {
            tracing::info!(
                delay_secs = config.shutdown_delay_secs,
                "shutting down: reporting not-ready while still serving"
            );
            self.serve_for(config.shutdown_delay()).await;
        }
        tracing::info!("shutting down: refusing new connections, draining in-flight requests");
        self.trigger.fire();
        let (http_done, grpc_done) = (self.http_done, self.grpc_done);
        let (http, grpc) = (&mut self.http, &mut self.grpc);
        let drain = async {
            if !http_done && let Ok(Err(e)) = http.await {
                tracing::error!(error = %e, "http server error while draining");
            }
            if !grpc_done && let Ok(Err(e)) = grpc.await {
                tracing::error!(error = %e, "grpc server error while draining");
            }
        };
        if tokio::time::timeout(config.shutdown_grace(), drain)
            .await
            .is_err()
        {
            tracing::warn!(
                grace_secs = config.shutdown_grace_secs,
                "grace period over; aborting remaining requests"
            );
            self.http.abort();
            self.grpc.abort();
        }
        for task in &self.background {
            task.abort();
        }
        self.predictor.shutdown().await;
        tracing::info!("stopped");
    }

    /// Keeps serving for `delay`, logging a server that fails meanwhile.
    async fn serve_for(&mut self, delay: std::time::Duration) {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            result = &mut self.http, if !self.http_done => {
                self.http_done = true;
                tracing::error!(error = %task_failure("http", result), "http server failed during the shutdown delay");
            }
            result = &mut self.grpc, if !self.grpc_done => {
                self.grpc_done = true;
                tracing::error!(error = %task_failure("grpc", result), "grpc server failed during the shutdown delay");
            }
        }
    }
}

/// Resolves once the model is loaded and matches the configuration, then reports gRPC health SERVING.
async fn ready(
    config: &ServerConfig,
    predictor: &Predictor,
    reporter: &HealthReporter,
) -> Result<(), ServeError> {
    predictor
        .wait_ready()
        .await
        .map_err(|e| ServeError::Model {
            path: config.model_path.display().to_string(),
            reason: load_failure(&e),
        })?;
    check_artifact(config, predictor)?;
    grpc::set_serving(reporter, true).await;
    let version = predictor
        .model_info()
        .map(|m| m.version.clone())
        .unwrap_or_default();
    tracing::info!(model_version = version.as_str(), "model ready; serving");
    Ok(())
}

/// Every 5 s: Prometheus upkeep; every 30 s, off the async workers, give back what bursts left in the allocator.
async fn upkeep(handle: PrometheusHandle) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    for n in 0u64.. {
        tick.tick().await;
        handle.run_upkeep();
        if n % 6 == 0 {
            let _ = tokio::task::spawn_blocking(memory::release_free_memory).await;
        }
    }
}
