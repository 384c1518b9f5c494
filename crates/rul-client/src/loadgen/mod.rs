//! Load generator behind `rul bench`: replays request bodies against the gRPC and/or REST endpoints at several
//! concurrency levels (each bounded in time and count) and reports latency percentiles, throughput and errors.

pub mod burst;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::{ClientError, PredictCall, endpoint_uri};

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadgenConfig {
    /// gRPC address (HOST:PORT); None skips gRPC.
    pub grpc: Option<String>,
    /// REST base address (HOST:PORT or http://...); None skips REST.
    pub http: Option<String>,
    /// Request bodies, replayed round-robin.
    pub requests: Vec<PredictCall>,
    /// Concurrency levels, each run separately (e.g. [1, 8, 64]).
    pub concurrency: Vec<usize>,
    /// Time limit per (transport, level).
    pub duration: Duration,
    /// Request limit per (transport, level).
    pub max_requests: u64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Append a sequence number to each engine id (defeats caches keyed on engine id).
    pub unique_engine_ids: bool,
}

impl Default for LoadgenConfig {
    fn default() -> Self {
        Self {
            grpc: None,
            http: None,
            requests: Vec::new(),
            concurrency: vec![1, 8, 64],
            duration: Duration::from_secs(10),
            max_requests: 100_000,
            timeout: Duration::from_secs(10),
            unique_engine_ids: false,
        }
    }
}

/// The run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// Nothing to send or nowhere to send it.
    #[error("load generator: {0}")]
    Config(String),
    /// A client could not be set up.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// One (transport, concurrency) measurement.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LoadRow {
    /// "grpc" or "http".
    pub transport: String,
    /// Concurrent in-flight requests.
    pub concurrency: usize,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed (transport error or non-OK status).
    pub errors: u64,
    /// Wall time of the level in seconds.
    pub seconds: f64,
    /// Successful requests per second.
    pub throughput_rps: f64,
    /// Latency percentiles of successful requests, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Maximum.
    pub max_ms: f64,
    /// A few distinct error messages.
    pub error_samples: Vec<String>,
}

/// All measurements of a run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LoadReport {
    /// One row per (transport, concurrency).
    pub rows: Vec<LoadRow>,
}

impl LoadReport {
    /// The rows as a Markdown table.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| transport | concurrency | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in &self.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
                r.transport,
                r.concurrency,
                r.requests,
                r.errors,
                r.throughput_rps,
                r.p50_ms,
                r.p95_ms,
                r.p99_ms,
                r.max_ms
            ));
        }
        out
    }
}

#[derive(Clone)]
enum Target {
    Grpc(crate::Client),
    Http {
        client: reqwest::Client,
        url: String,
    },
}

/// Runs every configured transport at every concurrency level, one after another.
pub async fn run(config: &LoadgenConfig) -> Result<LoadReport, LoadgenError> {
    if config.requests.is_empty() {
        return Err(LoadgenError::Config("no request bodies given".into()));
    }
    if config.grpc.is_none() && config.http.is_none() {
        return Err(LoadgenError::Config(
            "give a gRPC and/or an HTTP address".into(),
        ));
    }
    if config.concurrency.contains(&0) || config.max_requests == 0 {
        return Err(LoadgenError::Config(
            "concurrency levels and max_requests must be at least 1".into(),
        ));
    }
    let bodies = Arc::new(config.requests.clone());
    let mut rows = Vec::new();
    if let Some(addr) = &config.grpc {
        let client = crate::connect(addr, config.timeout).await?;
        for &level in &config.concurrency {
            rows.push(
                run_level(
                    "grpc",
                    Target::Grpc(client.clone()),
                    level,
                    config,
                    bodies.clone(),
                )
                .await,
            );
        }
    }
    if let Some(addr) = &config.http {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| LoadgenError::Config(format!("http client: {e}")))?;
        let url = format!("{}/predict", endpoint_uri(addr).trim_end_matches('/'));
        for &level in &config.concurrency {
            let target = Target::Http {
                client: client.clone(),
                url: url.clone(),
            };
            rows.push(run_level("http", target, level, config, bodies.clone()).await);
        }
    }
    Ok(LoadReport { rows })
}

struct WorkerResult {
    latencies_us: Vec<u64>,
    errors: u64,
    samples: Vec<String>,
}

async fn run_level(
    transport: &str,
    target: Target,
    concurrency: usize,
    config: &LoadgenConfig,
    bodies: Arc<Vec<PredictCall>>,
) -> LoadRow {
    let issued = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    // Unique ids must differ across transports, levels and runs, or one level's requests hit the
    // cache entries another level left behind.
    let run_tag: Arc<str> = format!("{transport}-c{concurrency}-{}", run_nonce()).into();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (target, bodies, issued) = (target.clone(), bodies.clone(), issued.clone());
        let run_tag = run_tag.clone();
        let (duration, max, timeout, unique) = (
            config.duration,
            config.max_requests,
            config.timeout,
            config.unique_engine_ids,
        );
        workers.spawn(async move {
            let mut result = WorkerResult {
                latencies_us: Vec::new(),
                errors: 0,
                samples: Vec::new(),
            };
            while started.elapsed() < duration {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= max {
                    break;
                }
                let mut body = bodies[(n as usize) % bodies.len()].clone();
                if unique {
                    body.engine_id = format!("{}-{run_tag}-{n}", body.engine_id);
                }
                let t = Instant::now();
                match send(&target, &body, timeout).await {
                    Ok(()) => result.latencies_us.push(t.elapsed().as_micros() as u64),
                    Err(message) => {
                        result.errors += 1;
                        if result.samples.len() < 3 && !result.samples.contains(&message) {
                            result.samples.push(message);
                        }
                    }
                }
            }
            result
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut samples: Vec<String> = Vec::new();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(r) => {
                latencies.extend(r.latencies_us);
                errors += r.errors;
                for s in r.samples {
                    if samples.len() < 5 && !samples.contains(&s) {
                        samples.push(s);
                    }
                }
            }
            Err(e) => {
                errors += 1;
                samples.push(format!("worker failed: {e}"));
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    summarize(transport, concurrency, latencies, errors, seconds, samples)
}

/// A per-process number that keeps unique engine ids unique across benchmark runs.
fn run_nonce() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

async fn send(target: &Target, body: &PredictCall, timeout: Duration) -> Result<(), String> {
    match target {
        Target::Grpc(client) => {
            let mut client = client.clone();
            let mut request = tonic::Request::new(body.to_proto());
            request.set_timeout(timeout);
            client
                .predict_rul(request)
                .await
                .map(|_| ())
                .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
        }
        Target::Http { client, url } => {
            let response = client
                .post(url)
                .json(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            // Read the body so the connection can be reused.
            let text = response.text().await.map_err(|e| e.to_string())?;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("{status}: {text}"))
            }
        }
    }
}

fn summarize(
    transport: &str,
    concurrency: usize,
    mut latencies_us: Vec<u64>,
    errors: u64,
    seconds: f64,
    error_samples: Vec<String>,
) -> LoadRow {
    latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies_us.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * latencies_us.len() as f64).ceil() as usize;
        latencies_us[rank.clamp(1, latencies_us.len()) - 1] as f64 / 1000.0
    };
    let ok = latencies_us.len() as u64;
    LoadRow {
        transport: transport.to_string(),
        concurrency,
        requests: ok + errors,
        errors,
        seconds,
        throughput_rps: if seconds > 0.0 {
            ok as f64 / seconds
        } else {
            0.0
        },
        p50_ms: pct(50.0),
        p95_ms: pct(95.0),
        p99_ms: pct(99.0),
        max_ms: latencies_us
            .last()
            .map(|v| *v as f64 / 1000.0)
            .unwrap_or(0.0),
        error_samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let latencies: Vec<u64> = (1..=100).map(|ms| ms * 1000).collect();
        let row = summarize("grpc", 8, latencies, 2, 2.0, vec![]);
        assert_eq!(row.requests, 102);
        assert_eq!(row.p50_ms, 50.0);
        assert_eq!(row.p95_ms, 95.0);
        assert_eq!(row.p99_ms, 99.0);
        assert_eq!(row.max_ms, 100.0);
        assert_eq!(row.throughput_rps, 50.0);
        let empty = summarize("http", 1, vec![], 3, 1.0, vec!["x".into()]);
        assert_eq!(empty.p99_ms, 0.0);
        let table = LoadReport {
            rows: vec![row, empty],
        }
        .to_markdown();
        assert!(table.contains("| grpc | 8 | 102 | 2 |"));
    }

    #[tokio::test]
    async fn refuses_empty_plans() {
        let config = LoadgenConfig::default();
        assert!(matches!(run(&config).await, Err(LoadgenError::Config(_))));
    }
}
