//! `rul.v1.PredictionService` over the core: decode, run the shared checks, call the core, map the result.

use rul_core::Predictor;
use tonic::{Request, Response, Status};

use super::convert;
use super::pb::{self, prediction_service_server::PredictionService};
use crate::input;
use crate::metrics::RequestLog;

/// The gRPC service implementation; cheap to clone.
#[derive(Clone)]
pub struct PredictionApi {
    pub(super) predictor: Predictor,
    pub(super) fleet: Option<rul_fleet::Fleet>,
    /// ADMIN_TOKEN for AckAlert (None = acknowledging over gRPC is disabled).
    pub(super) admin_token: Option<std::sync::Arc<str>>,
}

impl PredictionApi {
    /// A service answering from `predictor` (no fleet: the fleet RPCs answer UNAVAILABLE).
    pub fn new(predictor: Predictor) -> Self {
        Self {
            predictor,
            fleet: None,
            admin_token: None,
        }
    }

    /// The same service accepting `token` for AckAlert.
    pub fn with_admin_token(mut self, token: Option<&str>) -> Self {
        self.admin_token = token.map(std::sync::Arc::from);
        self
    }

    /// The fleet, or UNAVAILABLE when this server runs without one.
    pub(super) fn fleet_handle(&self) -> Result<&rul_fleet::Fleet, Status> {
        self.fleet
            .as_ref()
            .ok_or_else(|| Status::unavailable("fleet state is not enabled on this server"))
    }

    /// Checks `authorization: Bearer <ADMIN_TOKEN>` (PERMISSION_DENIED when no token is configured).
    pub(super) fn authorize(&self, metadata: &tonic::metadata::MetadataMap) -> Result<(), Status> {
        let Some(expected) = self.admin_token.as_deref() else {
            return Err(Status::permission_denied(
                "admin API disabled: no ADMIN_TOKEN configured",
            ));
        };
        let presented = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match presented {
            Some(p) if crate::config::constant_time_eq(p.as_bytes(), expected.as_bytes()) => Ok(()),
            _ => Err(Status::unauthenticated("missing or invalid bearer token")),
        }
    }

    /// The same service with per-engine state for StreamReadings, ListEngines and GetEngine.
    pub fn with_fleet(mut self, fleet: Option<rul_fleet::Fleet>) -> Self {
        self.fleet = fleet;
        self
    }
}

#[tonic::async_trait]
impl PredictionService for PredictionApi {
    type StreamReadingsStream = super::fleet::AckStream;

    async fn stream_readings(
        &self,
        request: Request<tonic::Streaming<pb::ReadingMessage>>,
    ) -> Result<Response<Self::StreamReadingsStream>, Status> {
        self.stream(request.into_inner())
    }

    async fn list_engines(
        &self,
        request: Request<pb::ListEnginesRequest>,
    ) -> Result<Response<pb::ListEnginesResponse>, Status> {
        self.list(request.get_ref()).map(Response::new)
    }

    type WatchAlertsStream = super::alerts::AlertStream;

    async fn list_alerts(
        &self,
        request: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        self.list_alerts_impl(request.get_ref())
            .await
            .map(Response::new)
    }

    async fn watch_alerts(
        &self,
        _request: Request<pb::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        self.watch_alerts_impl()
    }

    async fn ack_alert(
        &self,
        request: Request<pb::AckAlertRequest>,
    ) -> Result<Response<pb::Alert>, Status> {
        self.ack_alert_impl(request).await.map(Response::new)
    }

    async fn get_engine(
        &self,
        request: Request<pb::GetEngineRequest>,
    ) -> Result<Response<pb::Engine>, Status> {
        self.get(&request.get_ref().engine_id).map(Response::new)
    }

    async fn predict_rul(
        &self,
        request: Request<pb::RulRequest>,
    ) -> Result<Response<pb::RulResponse>, Status> {
        let raw = convert::raw_request(request.get_ref());
        let route = raw.route();
        let core_request = input::to_core_request(raw)
            .map_err(|v| convert::status(&rul_core::PredictError::Validation(v)))?;
        let prediction = self
            .predictor
            .predict_routed(core_request, route)
            .await
            .map_err(|e| convert::status(&e))?;
        let mut response = Response::new(convert::response(&prediction));
        response.extensions_mut().insert(RequestLog {
            engine_id: Some(crate::metrics::log_safe(&prediction.engine_id)),
            cached: Some(prediction.cached),
            model_version: Some(prediction.model_version.clone()),
        });
        Ok(response)
    }

    async fn batch_predict_rul(
        &self,
        request: Request<pb::BatchRulRequest>,
    ) -> Result<Response<pb::BatchRulResponse>, Status> {
        let requests = &request.get_ref().requests;
        if let Some(v) = input::batch_size_violation(requests.len()) {
            return Err(convert::status(&rul_core::PredictError::Validation(v)));
        }
        let outcomes = input::run_batch(
            &self.predictor,
            requests.iter().map(convert::raw_request).collect(),
        )
        .await;
        let responses = requests
            .iter()
            .zip(outcomes)
            .map(|(req, outcome)| pb::BatchItem {
                engine_id: req.engine_id.clone(),
                result: Some(match outcome {
                    Ok(p) => pb::batch_item::Result::Response(convert::response(&p)),
                    Err(e) => pb::batch_item::Result::Error(convert::item_error(&e)),
                }),
            })
            .collect();
        let mut response = Response::new(pb::BatchRulResponse { responses });
        response.extensions_mut().insert(RequestLog {
            engine_id: Some(format!("batch({})", requests.len())),
            ..RequestLog::default()
        });
        Ok(response)
    }
}
