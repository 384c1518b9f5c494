//! REST transport (axum): router, shared state, and the cross-cutting layers (request id, metrics/access log,
//! CORS, timeout, body limit, concurrency limit with load shedding, panic catching).

pub mod admin;
pub mod alerts;
pub mod drift;
pub mod errors;
pub mod events;
pub mod fleet;
pub mod json;
pub mod json_error;
pub mod model_files;
pub mod openapi;
pub mod ops;
pub mod predict;
pub mod sagemaker;
pub mod server;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use rul_core::Predictor;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::budget::{Admission, Budgeted, ByteBudget, CallLimit};
use crate::config::ServerConfig;
use crate::metrics::{ObserveLayer, Transport};
use errors::ApiError;

pub use crate::wire::REQUEST_ID;

/// What every handler may use: the core handle plus the few settings the REST layer needs.
#[derive(Clone)]
pub struct AppState {
    /// The shared core.
    pub predictor: Predictor,
    /// SERVICE_NAME.
    pub service_name: Arc<str>,
    /// ADMIN_TOKEN (None = admin routes disabled).
    pub admin_token: Option<Arc<str>>,
    /// Prometheus handle for GET /metrics (None = no recorder installed).
    pub metrics: Option<PrometheusHandle>,
    /// Per-engine state and history (None = fleet routes answer 503, e.g. in SageMaker container mode).
    pub fleet: Option<rul_fleet::Fleet>,
    /// Alert thresholds (GET /alerts/policy; the fleet applies the same ones).
    pub alert_policy: rul_fleet::AlertPolicy,
    /// Fires at shutdown: ends the live event streams so that open pages do not hold up the drain.
    pub shutdown: Option<crate::shutdown::Listener>,
    /// Set when shutdown began: GET /ready answers 503 while requests are still served.
    pub draining: crate::shutdown::Draining,
    body_limit: usize,
    budget: ByteBudget,
    request_timeout: Duration,
    limiter: CallLimit,
    cors_origins: Vec<String>,
    sagemaker_container: bool,
}

impl AppState {
    /// State for `predictor` with the limits of `config`.
    pub fn new(
        predictor: Predictor,
        config: &ServerConfig,
        metrics: Option<PrometheusHandle>,
    ) -> Self {
        Self {
            predictor,
            service_name: Arc::from(config.service_name.as_str()),
            admin_token: config.admin_token().map(Arc::from),
            metrics,
            fleet: None,
            alert_policy: config.fleet.alert_policy(),
            shutdown: None,
            draining: crate::shutdown::Draining::default(),
            body_limit: config.body_limit_bytes,
            budget: ByteBudget::new(config.connections.max_inflight_bytes),
            request_timeout: config.request_timeout(),
            limiter: CallLimit::new(config.concurrency_limit),
            cors_origins: config.cors_origins(),
            sagemaker_container: config.sagemaker.container,
        }
    }
}

impl AppState {
    /// The same state taking request bytes from `budget` (shared with the gRPC listener) instead of its own.
    pub fn with_budget(mut self, budget: ByteBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The same state admitting calls and request bytes under `admission` (shared with the gRPC listener)
    /// instead of its own.
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.limiter = admission.calls;
        self.budget = admission.bytes;
        self
    }

    /// The same state serving `fleet` on the /engines routes.
    pub fn with_fleet(mut self, fleet: Option<rul_fleet::Fleet>) -> Self {
        self.fleet = fleet;
        self
    }

    /// The same state ending its live event streams (GET /events) when `shutdown` fires.
    pub fn with_shutdown(mut self, shutdown: crate::shutdown::Listener) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// The same state reporting not-ready once `draining` is set.
    pub fn with_draining(mut self, draining: crate::shutdown::Draining) -> Self {
        self.draining = draining;
        self
    }
}

/// The complete REST application (all routes and layers), ready for `axum::serve` or `oneshot` in tests. In
/// SageMaker container mode it also serves `GET /ping` and `POST /invocations` (body limit: SageMaker's 6 MB).
pub fn http_router(state: AppState) -> Router {
    let mut limited = Router::new()
        .route("/predict", post(predict::predict))
        .route("/predict/batch", post(predict::predict_batch))
        .route("/admin/reload", post(admin::reload))
        .route(
            "/engines/{engine_id}/readings",
            post(fleet::ingest).get(fleet::readings),
        );
    if state.sagemaker_container {
        limited = limited.route(
            "/invocations",
            post(sagemaker::invocations)
                .layer(DefaultBodyLimit::max(crate::config::INVOCATIONS_MAX_BYTES)),
        );
    }
    let limited = limited.route_layer(middleware::from_fn_with_state(state.clone(), shed_load));

    let mut open = Router::new();
    if state.sagemaker_container {
        open = open.route("/ping", get(sagemaker::ping));
    }
    let mut router = open
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/model", get(ops::model))
        .route("/model/evaluation", get(model_files::evaluation))
        .route("/model/plots/{name}", get(model_files::plot))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi_json))
        .route("/engines", get(fleet::list))
        .route(
            "/engines/{engine_id}",
            get(fleet::engine)
                .put(fleet::register)
                .delete(fleet::delete),
        )
        .route("/engines/{engine_id}/predictions", get(fleet::predictions))
        .route("/alerts", get(alerts::list))
        .route("/drift", get(drift::report))
        .route("/alerts/policy", get(alerts::policy))
        .route("/events", get(events::events))
        .route("/", get(ui::index))
        .route("/ui/", get(ui::index))
        .route("/ui/{file}", get(ui::asset))
        .route("/alerts/{alert_id}/ack", post(alerts::ack))
        .merge(limited)
        .fallback(errors::fallback_not_found)
        .method_not_allowed_fallback(errors::fallback_method_not_allowed)
        .layer(DefaultBodyLimit::max(state.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
        .layer(middleware::from_fn_with_state(state.clone(), budget_body));
    if let Some(cors) = cors_layer(&state.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(ObserveLayer::new(Transport::Http))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(CatchPanicLayer::custom(errors::panic_response))
        .with_state(state)
}

async fn openapi_json() -> Json<serde_json::Value> {
    Json(openapi::document())
}

/// Answers 504 (JSON) when a request runs past REQUEST_TIMEOUT_MS.
async fn time_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::timeout().into_response(),
    }
}

/// Request bodies take their bytes from MAX_INFLIGHT_BYTES and keep them until the answer is ready; a body that
/// finds the budget empty fails to read, which its handler answers 429 (see [`errors::ApiError`]).
async fn budget_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let claim = state.budget.claim();
    let request = request
        .map(|body| axum::body::Body::new(Budgeted::whole(body, claim.clone(), |e| Box::new(e))));
    let response = next.run(request).await;
    drop(claim);
    response
}

/// Concurrency limit with load shedding: beyond CONCURRENCY_LIMIT in-flight predictions, answer 429 at once.
async fn shed_load(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.limiter.try_enter() {
        Some(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        None => ApiError::overloaded().into_response(),
    }
}

/// CORS from CORS_ORIGINS: none configured = no CORS headers; "*" = any origin (never with credentials).
fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, REQUEST_ID])
            .expose_headers([REQUEST_ID])
            .allow_credentials(false)
            .max_age(Duration::from_secs(600)),
    )
}
