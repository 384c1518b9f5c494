//! rul-client: the outbound side of the service's contracts — a gRPC client over the same proto the server
//! builds from, and [`replay`], which streams C-MAPSS engines into a running service cycle by cycle (the demo,
//! the load generator and the end-to-end test in one), over gRPC, REST or MQTT.

pub mod mqtt;
pub mod replay;

pub use mqtt::{Broker, MqttReplayStats, MqttTarget, PublishLedger};
pub use replay::{Ranked, ReplayConfig, ReplayReport, Target, replay};

/// Types generated from proto/rul/v1/prediction.proto (client side).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("rul.v1");
}

/// A connected PredictionService client.
pub type Client = pb::prediction_service_client::PredictionServiceClient<tonic::transport::Channel>;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The address is not usable or nothing answers there.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// The server answered a gRPC error.
    #[error("gRPC {0:?}: {1}")]
    Status(tonic::Code, String),
    /// An HTTP call failed.
    #[error("http: {0}")]
    Http(String),
    /// The server broke the protocol (e.g. a stream ended early).
    #[error("{0}")]
    Protocol(String),
}

/// Connects to a PredictionService at HOST:PORT (or a full http:// URL).
pub async fn grpc_client(addr: &str) -> Result<Client, ClientError> {
    let url = if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    let failed = |reason: String| ClientError::Connect {
        addr: addr.to_string(),
        reason,
    };
    let channel = tonic::transport::Endpoint::from_shared(url)
        .map_err(|e| failed(e.to_string()))?
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(
        pb::prediction_service_client::PredictionServiceClient::new(channel)
            .max_decoding_message_size(64 * 1024 * 1024),
    )
}
