//! rul-client: the outbound side of the service's contracts — a gRPC client over the same proto the server
//! builds from, `rul predict`'s one-shot call ([`predict`]), the load generators behind `rul bench`
//! ([`loadgen`]), and [`replay`], which streams C-MAPSS engines into a running service cycle by cycle, over
//! gRPC, REST or MQTT.

use std::path::PathBuf;
use std::time::Duration;

pub mod loadgen;
pub mod mqtt;
pub mod predict;
pub mod replay;

pub use mqtt::{Broker, MqttReplayStats, MqttTarget, PublishLedger};
pub use predict::{PredictCall, PredictOutput, predict_grpc, predict_http, read_readings_file};
pub use replay::{Ranked, ReplayConfig, ReplayReport, Target, replay};

/// Types generated from proto/rul/v1/prediction.proto (client side).
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("rul.v1");
}

rul_data::raw_reading_conversions!(pb::SensorReading);

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
    /// A readings file could not be read or is not valid readings.
    #[error("{path}: {reason}")]
    Readings { path: PathBuf, reason: String },
}

/// Adds `http://` when `addr` is a bare HOST:PORT.
pub fn endpoint_uri(addr: &str) -> String {
    if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

/// Connects to a PredictionService at HOST:PORT (or a full http:// URL), waiting at most `timeout`.
pub async fn connect(addr: &str, timeout: Duration) -> Result<Client, ClientError> {
    let failed = |reason: String| ClientError::Connect {
        addr: addr.to_string(),
        reason,
    };
    let channel = tonic::transport::Endpoint::from_shared(endpoint_uri(addr))
        .map_err(|e| failed(e.to_string()))?
        .tcp_nodelay(true)
        .connect_timeout(timeout)
        .connect()
        .await
        .map_err(|e| failed(e.to_string()))?;
    Ok(
        pb::prediction_service_client::PredictionServiceClient::new(channel)
            .max_decoding_message_size(64 * 1024 * 1024),
    )
}

/// Connects to a PredictionService at HOST:PORT (or a full http:// URL), with a 10 s connect timeout.
pub async fn grpc_client(addr: &str) -> Result<Client, ClientError> {
    connect(addr, Duration::from_secs(10)).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn uri_gets_scheme() {
        assert_eq!(
            super::endpoint_uri("127.0.0.1:50051"),
            "http://127.0.0.1:50051"
        );
        assert_eq!(super::endpoint_uri("http://h:1"), "http://h:1");
    }
}
