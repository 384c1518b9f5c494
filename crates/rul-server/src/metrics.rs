//! Prometheus metrics: the recorder (installed once per process) and one tower layer that counts, times and logs
//! every request of either transport.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tower::{Layer, Service};

/// Counter of finished requests, labelled transport/route/status.
pub const REQUESTS_TOTAL: &str = "rul_requests_total";
/// Histogram of request latency in seconds, labelled transport/route.
pub const REQUEST_DURATION: &str = "rul_request_duration_seconds";

/// Latency buckets (seconds) for every `*_seconds` histogram.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Buckets for the core's micro-batch size histogram.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The recorder could not be built or installed.
#[derive(Debug, thiserror::Error)]
#[error("metrics recorder: {0}")]
pub struct MetricsError(String);

/// A Prometheus recorder with explicit buckets, not installed anywhere (usable with `metrics::with_local_recorder`).
pub fn build_recorder() -> Result<PrometheusRecorder, MetricsError> {
    Ok(builder()?.build_recorder())
}

fn builder() -> Result<PrometheusBuilder, MetricsError> {
    let err = |e: metrics_exporter_prometheus::BuildError| MetricsError(e.to_string());
    PrometheusBuilder::new()
        .set_buckets(LATENCY_BUCKETS)
        .map_err(err)?
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .map_err(err)?
        .set_buckets_for_metric(Matcher::Full("rul_batch_size".into()), BATCH_BUCKETS)
        .map_err(err)
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder the first time and returns its handle; later calls return the same handle.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = build_recorder()?;
    let handle = recorder.handle();
    // Only the caller that wins the race installs; losers return the winner's handle.
    let mut installed_here = false;
    let stored = HANDLE.get_or_init(|| {
        installed_here = true;
        handle.clone()
    });
    if installed_here {
        metrics::set_global_recorder(recorder).map_err(|e| MetricsError(e.to_string()))?;
        describe();
        rul_core::describe_metrics();
    }
    Ok(stored.clone())
}

fn describe() {
    metrics::describe_counter!(
        REQUESTS_TOTAL,
        "Requests finished, by transport, route and status."
    );
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Request latency from arrival to response headers, by transport and route."
    );
    metrics::describe_counter!(
        crate::grpc::codec::INVALID_MESSAGES_TOTAL,
        "gRPC request messages that were not valid protobuf (answered INVALID_ARGUMENT), by expected type."
    );
    metrics::describe_counter!(
        crate::budget::REFUSED_TOTAL,
        "Requests refused because MAX_INFLIGHT_BYTES of request bodies were already being handled."
    );
    metrics::describe_counter!(
        crate::mqtt::MESSAGES_TOTAL,
        "MQTT reading messages handled, by outcome (ok, duplicate, or why it was dead-lettered)."
    );
    metrics::describe_counter!(
        crate::mqtt::RETRIES_TOTAL,
        "Transient failures while ingesting an MQTT reading (retried, not acknowledged meanwhile), by kind."
    );
    metrics::describe_counter!(
        crate::mqtt::PUBLISHED_TOTAL,
        "MQTT messages published, by topic (rul, alerts, dead_letter) and outcome (queued, failed, skipped)."
    );
    metrics::describe_gauge!(
        crate::mqtt::CONNECTED,
        "1 while the MQTT client (subscriber, publisher) is connected to the broker."
    );
    metrics::describe_counter!(
        crate::mqtt::DISCONNECTS_TOTAL,
        "MQTT connection failures (drops and failed reconnection attempts), by client."
    );
}

/// Which transport a request came through; selects how route and status labels are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// REST (axum); route = matched path template, status = HTTP status code.
    Http,
    /// gRPC (tonic); route = method path, status = grpc-status code number.
    Grpc,
}

impl Transport {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Grpc => "grpc",
        }
    }
}

/// What a handler learned about a request, attached to the response's extensions for the access log line.
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    /// Engine id (or "batch(N)").
    pub engine_id: Option<String>,
    /// Whether the prediction came from the cache.
    pub cached: Option<bool>,
    /// Model version that answered.
    pub model_version: Option<String>,
}

/// An engine id fit for a log line: at most 128 characters, control characters escaped.
pub fn log_safe(id: &str) -> String {
    let head: String = id.chars().take(crate::input::MAX_ENGINE_ID_CHARS).collect();
    head.escape_debug().to_string()
}

/// Tower layer recording `rul_requests_total`, `rul_request_duration_seconds` and one access log line per request.
#[derive(Clone, Debug)]
pub struct ObserveLayer {
    transport: Transport,
}

impl ObserveLayer {
    /// A layer for `transport`.
    pub fn new(transport: Transport) -> Self {
        Self { transport }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            transport: self.transport,
        }
    }
}

/// Service produced by [`ObserveLayer`].
#[derive(Clone, Debug)]
pub struct Observe<S> {
    inner: S,
    transport: Transport,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Observe<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let transport = self.transport;
        let started = Instant::now();
        let method = request.method().as_str().to_string();
        let matched = request
            .extensions()
            .get::<MatchedPath>()
            .map(|p| p.as_str().to_string());
        let path = request.uri().path().to_string();
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            let elapsed = started.elapsed();
            let (status, log) = match &result {
                Ok(response) => (
                    status_label(transport, response),
                    response.extensions().get::<RequestLog>().cloned(),
                ),
                Err(e) => {
                    tracing::error!(error = %e, "transport error");
                    ("error".to_string(), None)
                }
            };
            let route = route_label(transport, matched, &path, &status);
            let labels = [
                ("transport", transport.as_str().to_string()),
                ("route", route.clone()),
            ];
            metrics::histogram!(REQUEST_DURATION, &labels).record(elapsed.as_secs_f64());
            let labels = [
                ("transport", transport.as_str().to_string()),
                ("route", route.clone()),
                ("status", status.clone()),
            ];
            metrics::counter!(REQUESTS_TOTAL, &labels).increment(1);
            access_log(
                transport,
                &method,
                &route,
                &status,
                elapsed,
                request_id,
                log.unwrap_or_default(),
            );
            result
        })
    }
}

/// HTTP: the status code; gRPC: grpc-status of a trailers-only (error) response, else "0" (OK).
fn status_label<B>(transport: Transport, response: &Response<B>) -> String {
    match transport {
        Transport::Http => response.status().as_u16().to_string(),
        Transport::Grpc => {
            if !response.status().is_success() {
                return format!("http_{}", response.status().as_u16());
            }
            response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("0")
                .to_string()
        }
    }
}

/// Keeps label cardinality bounded: unknown HTTP paths and unimplemented gRPC methods share "unmatched".
fn route_label(transport: Transport, matched: Option<String>, path: &str, status: &str) -> String {
    match transport {
        Transport::Http => matched.unwrap_or_else(|| "unmatched".to_string()),
        Transport::Grpc if status == "12" || status.starts_with("http_") => "unmatched".to_string(),
        Transport::Grpc => path.to_string(),
    }
}

fn access_log(
    transport: Transport,
    method: &str,
    route: &str,
    status: &str,
    elapsed: std::time::Duration,
    request_id: Option<String>,
    log: RequestLog,
) {
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    let server_error = match transport {
        Transport::Http => status.starts_with('5'),
        Transport::Grpc => {
            matches!(status, "13" | "14" | "15" | "error") || status.starts_with("http_5")
        }
    };
    macro_rules! line {
        ($level:ident) => {
            tracing::$level!(
                target: "rul_server::access",
                transport = transport.as_str(),
                method,
                route,
                status,
                latency_ms,
                request_id = request_id.as_deref(),
                engine_id = log.engine_id.as_deref(),
                cached = log.cached,
                model_version = log.model_version.as_deref(),
                "request"
            )
        };
    }
    if server_error {
        line!(warn);
    } else {
        line!(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_renders_histograms_with_buckets() {
        let recorder = build_recorder().expect("recorder");
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!(REQUEST_DURATION, "transport" => "http", "route" => "/x")
                .record(0.003);
            metrics::counter!(REQUESTS_TOTAL, "transport" => "http", "route" => "/x", "status" => "200").increment(2);
            metrics::histogram!("rul_batch_size").record(3.0);
        });
        let text = handle.render();
        assert!(text.contains("rul_request_duration_seconds_bucket{transport=\"http\",route=\"/x\",le=\"0.005\"} 1"), "{text}");
        assert!(
            text.contains("rul_requests_total{transport=\"http\",route=\"/x\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("rul_batch_size_bucket{le=\"4\"} 1"), "{text}");
    }

    #[test]
    fn install_is_idempotent() {
        let a = install().expect("first");
        let b = install().expect("second");
        metrics::counter!("rul_test_idempotent_total").increment(1);
        assert!(a.render().contains("rul_test_idempotent_total"));
        assert!(b.render().contains("rul_test_idempotent_total"));
    }

    #[test]
    fn engine_ids_are_logged_safely() {
        assert_eq!(log_safe("a\nb"), "a\\nb");
        assert_eq!(
            log_safe(&"x".repeat(10_000)).len(),
            crate::input::MAX_ENGINE_ID_CHARS
        );
    }

    #[test]
    fn labels_stay_bounded() {
        assert_eq!(
            route_label(Transport::Http, None, "/random/123", "404"),
            "unmatched"
        );
        assert_eq!(
            route_label(Transport::Grpc, None, "/x.Y/Z", "12"),
            "unmatched"
        );
        assert_eq!(
            route_label(
                Transport::Grpc,
                None,
                "/rul.v1.PredictionService/PredictRUL",
                "0"
            ),
            "/rul.v1.PredictionService/PredictRUL"
        );
    }
}
