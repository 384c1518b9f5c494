//! A whole server on ephemeral ports through `serve_with_listeners`, stopped through a oneshot as SIGTERM would.

use std::net::SocketAddr;
use std::time::Duration;

use rul_server::{ServeError, ServerConfig, serve_with_listeners};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub struct Running {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Result<(), ServeError>>,
}

impl Running {
    /// Binds both listeners on 127.0.0.1:0 and starts serving (without waiting for the model).
    pub async fn start(config: ServerConfig) -> Running {
        let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let grpc_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
        let (http, grpc) = (
            http_listener.local_addr().expect("addr"),
            grpc_listener.local_addr().expect("addr"),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_listeners(
            config,
            http_listener,
            grpc_listener,
            async {
                let _ = stopped.await;
            },
        ));
        Running {
            http,
            grpc,
            stop: Some(stop),
            task,
        }
    }

    /// A gRPC health client on this server.
    pub async fn health(&self) -> HealthClient<tonic::transport::Channel> {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", self.grpc))
            .expect("uri")
            .connect()
            .await
            .expect("connect");
        HealthClient::new(channel)
    }

    /// Waits (at most 60 s) until gRPC health reports SERVING.
    pub async fn wait_serving(&self) {
        let mut health = self.health().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while grpc_status(&mut health).await != Some(ServingStatus::Serving) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never became SERVING"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The REST URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// Starts the shutdown (as SIGTERM would).
    pub fn trigger(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts down (if not yet triggered) and returns how the server stopped (within 30 s).
    pub async fn stop(mut self) -> Result<(), ServeError> {
        self.trigger();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("stops in time")
            .expect("join")
    }
}

/// The PredictionService's health status, or None when the call fails.
pub async fn grpc_status(
    health: &mut HealthClient<tonic::transport::Channel>,
) -> Option<ServingStatus> {
    let request = tonic_health::pb::HealthCheckRequest {
        service: "rul.v1.PredictionService".into(),
    };
    let status = health.check(request).await.ok()?.into_inner().status;
    ServingStatus::try_from(status).ok()
}
