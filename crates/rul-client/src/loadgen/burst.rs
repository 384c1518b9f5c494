//! `rul bench burst`: many large gRPC messages at once — CONNECTIONS HTTP/2 connections × STREAMS concurrent
//! PredictRUL calls, each a message of about MESSAGE_BYTES — and the server's resident memory during and after.
//! It checks the byte budget (MAX_INFLIGHT_BYTES). Every call sends the same pre-encoded bytes, shared, so the
//! client stays small however many calls are in flight.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::{Duration, Instant};

use hyper::body::{Body, Bytes};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use tokio::net::TcpStream;

use http_body_util::Full;
use rul_data::RawReading;

use crate::pb;

/// The service's gRPC path prefix (package.Service in the proto).
const SERVICE: &str = "rul.v1.PredictionService";

/// What to send.
#[derive(Clone, Debug)]
pub struct BurstConfig {
    /// gRPC address (HOST:PORT).
    pub grpc: String,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Concurrent calls per connection.
    pub streams: usize,
    /// Size of each PredictRUL message (it holds as many readings as fit; the server refuses so many readings
    /// as invalid after decoding them, which is the point: it must receive and decode them first).
    pub message_bytes: usize,
    /// Calls each stream slot makes one after another.
    pub rounds: usize,
    /// The server's process id, to sample its resident memory (Linux /proc).
    pub server_pid: Option<u32>,
    /// How long to wait after the burst before the last memory sample.
    pub settle: Duration,
}

/// What came back, and the server's memory.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BurstReport {
    /// Calls made.
    pub calls: u64,
    /// Bytes of each call's message, as sent (with the 5-byte gRPC prefix).
    pub message_bytes: usize,
    /// Answers by gRPC status name.
    pub statuses: BTreeMap<String, u64>,
    /// Calls that got no gRPC status (connection or protocol failure).
    pub transport_errors: u64,
    /// Wall time of the burst in seconds.
    pub seconds: f64,
    /// The server's resident memory, when its pid was given.
    pub memory: Option<Memory>,
}

/// Resident memory of the server, MiB.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Memory {
    /// VmRSS before the burst.
    pub before_mib: f64,
    /// Highest VmRSS sampled (every 20 ms) during the burst.
    pub peak_sampled_mib: f64,
    /// VmHWM (the kernel's high-water mark over the process's life) after the burst.
    pub high_water_mib: f64,
    /// VmRSS once the burst ended.
    pub at_end_mib: f64,
    /// VmRSS after the settle time.
    pub settled_mib: f64,
}

/// Failures before any call was made.
#[derive(Debug, thiserror::Error)]
pub enum BurstError {
    /// Zero connections, streams or rounds.
    #[error("burst: {0}")]
    Config(String),
    /// A connection could not be opened.
    #[error("burst: connecting to {addr}: {reason}")]
    Connect {
        /// The address.
        addr: String,
        /// Why.
        reason: String,
    },
}

/// One gRPC frame (flag, length, message) of a PredictRUL request of about `target` bytes.
pub fn framed_request(target: usize) -> Bytes {
    let reading = pb::SensorReading::from(&RawReading {
        sensors: std::array::from_fn(|i| Some(500.0 + i as f64 + 0.123_456_789)),
        settings: [Some(0.001_234), Some(0.000_321), Some(100.0)],
    });
    let one = prost::Message::encoded_len(&pb::RulRequest {
        engine_id: "burst".into(),
        sensor_data: vec![reading],
        use_sagemaker: false,
    });
    let each = prost::Message::encoded_len(&pb::RulRequest {
        engine_id: "burst".into(),
        sensor_data: vec![reading, reading],
        use_sagemaker: false,
    }) - one;
    let count = (target.saturating_sub(one) / each.max(1)).max(1);
    let message = pb::RulRequest {
        engine_id: "burst".into(),
        sensor_data: vec![reading; count],
        use_sagemaker: false,
    };
    let body = prost::Message::encode_to_vec(&message);
    let mut framed = Vec::with_capacity(body.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
    framed.extend_from_slice(&body);
    Bytes::from(framed)
}

/// Runs the burst and reports.
pub async fn run(config: &BurstConfig) -> Result<BurstReport, BurstError> {
    if config.connections == 0 || config.streams == 0 || config.rounds == 0 {
        return Err(BurstError::Config(
            "connections, streams and rounds must be at least 1".into(),
        ));
    }
    let message = framed_request(config.message_bytes);
    let mut senders = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        senders.push(open(&config.grpc).await?);
    }
    let rss = |field: &str| config.server_pid.and_then(|pid| status_mib(pid, field));
    let before = rss("VmRSS:");
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for sender in &senders {
        for _ in 0..config.streams {
            let (mut sender, message, uri) = (sender.clone(), message.clone(), uri(&config.grpc));
            let rounds = config.rounds;
            calls.spawn(async move {
                let mut outcomes = Vec::with_capacity(rounds);
                for _ in 0..rounds {
                    outcomes.push(call(&mut sender, &uri, message.clone()).await);
                }
                outcomes
            });
        }
    }
    let mut report = BurstReport {
        message_bytes: message.len(),
        ..BurstReport::default()
    };
    let mut peak = before.unwrap_or(0.0);
    let mut sample = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            joined = calls.join_next() => match joined {
                Some(Ok(outcomes)) => {
                    for outcome in outcomes {
                        report.calls += 1;
                        match outcome {
                            Some(status) => *report.statuses.entry(status).or_default() += 1,
                            None => report.transport_errors += 1,
                        }
                    }
                }
                Some(Err(_)) => report.transport_errors += config.rounds as u64,
                None => break,
            },
            _ = sample.tick() => peak = peak.max(rss("VmRSS:").unwrap_or(0.0)),
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    if let Some(before_mib) = before {
        let at_end_mib = rss("VmRSS:").unwrap_or(0.0);
        let high_water_mib = rss("VmHWM:").unwrap_or(0.0);
        drop(senders);
        tokio::time::sleep(config.settle).await;
        report.memory = Some(Memory {
            before_mib,
            peak_sampled_mib: peak.max(at_end_mib),
            high_water_mib,
            at_end_mib,
            settled_mib: rss("VmRSS:").unwrap_or(0.0),
        });
    }
    Ok(report)
}

type Sender = hyper::client::conn::http2::SendRequest<Full<Bytes>>;

async fn open(addr: &str) -> Result<Sender, BurstError> {
    let failed = |reason: String| BurstError::Connect {
        addr: addr.to_string(),
        reason,
    };
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(|e| failed(e.to_string()))?;
    tokio::spawn(connection);
    Ok(sender)
}

fn uri(addr: &str) -> String {
    format!("http://{addr}/{SERVICE}/PredictRUL")
}

/// One call; the gRPC status name of its answer, or None when the transport failed.
async fn call(sender: &mut Sender, uri: &str, message: Bytes) -> Option<String> {
    sender.ready().await.ok()?;
    let request = hyper::Request::post(uri)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(message))
        .ok()?;
    let response = sender.send_request(request).await.ok()?;
    let (parts, mut body) = response.into_parts();
    let mut status = parts.headers.get("grpc-status").cloned();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.ok()?;
        if let Some(trailers) = frame.trailers_ref() {
            status = trailers.get("grpc-status").cloned().or(status);
        }
    }
    let code = status?.to_str().ok()?.parse::<i32>().ok()?;
    Some(format!("{:?}", tonic::Code::from_i32(code)))
}

/// A field of /proc/PID/status in MiB (e.g. "VmRSS:").
fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_about_the_size_asked_and_framed() {
        let framed = framed_request(1_000_000);
        assert!(
            (990_000..=1_000_005).contains(&framed.len()),
            "{}",
            framed.len()
        );
        let len = u32::from_be_bytes([framed[1], framed[2], framed[3], framed[4]]) as usize;
        assert_eq!((framed[0], len + 5), (0, framed.len()));
        let decoded: pb::RulRequest = prost::Message::decode(&framed[5..]).expect("a RULRequest");
        assert_eq!(decoded.engine_id, "burst");
    }
}
