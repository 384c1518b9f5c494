//! gRPC transport (tonic): generated types, the service, health and reflection, and the guard layer that
//! enforces deadlines, the concurrency limit and the message-size status for PredictionService calls.

mod alerts;
pub mod codec;
pub mod convert;
mod fleet;
mod incoming;
pub mod service;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderMap, Request, Response};
use rul_core::Predictor;
use tokio::net::TcpListener;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::{Code, Status};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::budget::{Admission, BudgetExceeded, Budgeted, ByteBudget, CallLimit};
use crate::config::ServerConfig;
use crate::metrics::{ObserveLayer, Transport};
use crate::wire::{ErrorBody, Failure, REQUEST_ID};
pub use service::PredictionApi;

/// Types generated from proto/rul/v1/prediction.proto.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("rul.v1");
    /// Encoded descriptor set of rul.v1 (for reflection).
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("rul_v1_descriptor");
}

use pb::prediction_service_server::PredictionServiceServer;

/// Full gRPC name of the prediction service.
pub const SERVICE_NAME: &str = <PredictionServiceServer<PredictionApi> as NamedService>::NAME;

/// Errors building or running the gRPC server.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// Reflection service could not be built from the descriptor sets.
    #[error("grpc reflection: {0}")]
    Reflection(String),
    /// The server failed while serving.
    #[error("grpc server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The PredictionService with the configured message-size limits (fleet RPCs answer UNAVAILABLE without a fleet).
pub fn grpc_service(
    predictor: Predictor,
    fleet: Option<rul_fleet::Fleet>,
    config: &ServerConfig,
) -> PredictionServiceServer<PredictionApi> {
    PredictionServiceServer::new(
        PredictionApi::new(predictor)
            .with_fleet(fleet)
            .with_admin_token(config.admin_token.as_deref()),
    )
    .max_decoding_message_size(config.grpc_max_message_bytes)
    .max_encoding_message_size(config.grpc_max_message_bytes)
}

/// PredictionService + grpc.health.v1 (NOT_SERVING until [`set_serving`]) + reflection v1, and the health handle.
pub async fn grpc_routes(
    predictor: Predictor,
    fleet: Option<rul_fleet::Fleet>,
    config: &ServerConfig,
) -> Result<(Routes, HealthReporter), GrpcError> {
    let (reporter, health) = tonic_health::server::health_reporter();
    set_serving(&reporter, false).await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| GrpcError::Reflection(e.to_string()))?;
    let routes = Routes::new(grpc_service(predictor, fleet, config))
        .add_service(health)
        .add_service(reflection);
    Ok((routes, reporter))
}

/// Sets the health status of both the prediction service and the whole server ("").
pub async fn set_serving(reporter: &HealthReporter, serving: bool) {
    let status = if serving {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    reporter.set_service_status(SERVICE_NAME, status).await;
    reporter.set_service_status("", status).await;
}

/// Serves `routes` on `listener` until `shutdown` resolves, then drains in-flight calls (HTTP/2 GOAWAY).
/// Connections are capped at GRPC_MAX_CONNECTIONS, must send their first bytes within HTTP_HEADER_TIMEOUT_SECS,
/// are pinged every GRPC_KEEPALIVE_INTERVAL_SECS, and may open GRPC_MAX_CONCURRENT_STREAMS calls at once; request
/// bytes and call slots come from `admission` (MAX_INFLIGHT_BYTES and CONCURRENCY_LIMIT, shared with the REST
/// listener).
pub async fn serve_grpc(
    listener: TcpListener,
    routes: Routes,
    config: &ServerConfig,
    admission: Admission,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), GrpcError> {
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(ObserveLayer::new(Transport::Grpc))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(GrpcGuardLayer::new(admission, config.request_timeout()))
        .into_inner();
    let limits = &config.connections;
    tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(limits.keepalive_interval()))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout()))
        .max_concurrent_streams(limits.grpc_max_concurrent_streams)
        .layer(layers)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming::capped(listener, limits), shutdown)
        .await?;
    Ok(())
}

/// Deadline (grpc-timeout, capped by REQUEST_TIMEOUT_MS -> DEADLINE_EXCEEDED), concurrency limit with load
/// shedding (-> RESOURCE_EXHAUSTED) and over-size request (-> RESOURCE_EXHAUSTED) for PredictionService calls.
/// Every call's request bytes come from the byte budget (-> RESOURCE_EXHAUSTED when it is empty): a unary
/// PredictionService call holds them until it is answered, streams (and health, reflection) message by message.
#[derive(Clone, Debug)]
pub struct GrpcGuardLayer {
    limiter: CallLimit,
    server_timeout: Duration,
    budget: ByteBudget,
}

impl GrpcGuardLayer {
    /// Calls admitted under `admission`'s call limit, their bytes taken from its budget, each limited to
    /// `server_timeout`.
    pub fn new(admission: Admission, server_timeout: Duration) -> Self {
        Self {
            limiter: admission.calls,
            server_timeout,
            budget: admission.bytes,
        }
    }
}

impl<S> Layer<S> for GrpcGuardLayer {
    type Service = GrpcGuard<S>;
    fn layer(&self, inner: S) -> Self::Service {
        GrpcGuard {
            inner,
            limiter: self.limiter.clone(),
            server_timeout: self.server_timeout,
            budget: self.budget.clone(),
        }
    }
}

/// Service produced by [`GrpcGuardLayer`].
#[derive(Clone, Debug)]
pub struct GrpcGuard<S> {
    inner: S,
    limiter: CallLimit,
    server_timeout: Duration,
    budget: ByteBudget,
}

/// Long-lived streaming calls: not cut by REQUEST_TIMEOUT_MS and not counted against the call limit (each of
/// their messages is bounded on its own).
const STREAMING_METHODS: [&str; 2] = ["/StreamReadings", "/WatchAlerts"];

/// Our deadline fires this much before tonic's own grpc-timeout timer so clients see DEADLINE_EXCEEDED, not CANCELLED.
const DEADLINE_MARGIN: Duration = Duration::from_millis(2);

type GrpcResponse = Response<tonic::body::Body>;

impl<S, B> Service<Request<B>> for GrpcGuard<S>
where
    S: Service<Request<tonic::body::Body>, Response = GrpcResponse, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body<Data = hyper::body::Bytes> + Unpin + Send + 'static,
    B::Error: Into<crate::budget::BoxError>,
{
    type Response = GrpcResponse;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<GrpcResponse, Infallible>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path();
        let claim = self.budget.claim();
        if !path.starts_with(&format!("/{SERVICE_NAME}/"))
            || STREAMING_METHODS.iter().any(|m| path.ends_with(m))
        {
            let request = request
                .map(|body| tonic::body::Body::new(Budgeted::per_message(body, claim, refused)));
            return Box::pin(inner.call(request));
        }
        let Some(permit) = self.limiter.try_enter() else {
            return Box::pin(std::future::ready(Ok(failure_response(&Failure::shed()))));
        };
        let deadline = match parse_grpc_timeout(request.headers()) {
            Some(client) => client
                .saturating_sub(DEADLINE_MARGIN)
                .min(self.server_timeout),
            None => self.server_timeout,
        };
        let request = request
            .map(|body| tonic::body::Body::new(Budgeted::whole(body, claim.clone(), refused)));
        let future = inner.call(request);
        Box::pin(async move {
            let response = match tokio::time::timeout(deadline, future).await {
                Ok(Ok(response)) => resize_status(response),
                Ok(Err(never)) => match never {},
                Err(_) => status_response(Code::DeadlineExceeded, &Failure::timeout().body),
            };
            drop((permit, claim));
            Ok(response)
        })
    }
}

/// An empty byte budget, as the status the decoder passes on to the client.
fn refused(_: BudgetExceeded) -> crate::budget::BoxError {
    let f = Failure::budget_exceeded();
    Box::new(convert::status_with_body(f.grpc, &f.body))
}

fn failure_response(f: &Failure) -> GrpcResponse {
    status_response(f.grpc, &f.body)
}

fn status_response(code: Code, body: &ErrorBody) -> GrpcResponse {
    convert::status_with_body(code, body).into_http()
}

/// tonic reports a request over the size limit as OUT_OF_RANGE; gRPC's status table says RESOURCE_EXHAUSTED.
/// Our service never returns OUT_OF_RANGE itself, so any such trailers-only answer is the codec's limit.
fn resize_status(response: GrpcResponse) -> GrpcResponse {
    match Status::from_header_map(response.headers()) {
        Some(status) if status.code() == Code::OutOfRange => {
            let body = ErrorBody {
                error: "message too large".into(),
                kind: "payload_too_large".into(),
                details: serde_json::json!({ "reason": status.message() }),
            };
            status_response(Code::ResourceExhausted, &body)
        }
        _ => response,
    }
}

/// Parses the grpc-timeout header ("<=8 digits><H|M|S|m|u|n>"); malformed values are ignored.
fn parse_grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = value.split_at(split);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn timeout_of(v: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert("grpc-timeout", HeaderValue::from_str(v).expect("header"));
        parse_grpc_timeout(&headers)
    }

    #[test]
    fn grpc_timeout_header_parsing() {
        assert_eq!(timeout_of("100m"), Some(Duration::from_millis(100)));
        assert_eq!(timeout_of("2S"), Some(Duration::from_secs(2)));
        assert_eq!(timeout_of("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(timeout_of("5u"), Some(Duration::from_micros(5)));
        assert_eq!(timeout_of("123456789m"), None);
        assert_eq!(timeout_of("m"), None);
        assert_eq!(timeout_of("10x"), None);
        assert_eq!(parse_grpc_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn service_name_is_the_proto_name() {
        assert_eq!(SERVICE_NAME, "rul.v1.PredictionService");
    }
}
