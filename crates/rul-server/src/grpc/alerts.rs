//! RUL alerts over gRPC: ListAlerts, WatchAlerts (server stream of every change) and AckAlert (admin token in
//! the `authorization` metadata). Thin: parse, call [`rul_fleet::Fleet`], map.

use std::pin::Pin;

use rul_fleet::{Alert, AlertState, FleetEvent};
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use super::convert;
use super::pb;
use super::service::PredictionApi;

/// The WatchAlerts answer stream.
pub type AlertStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::Alert, Status>> + Send>>;

impl PredictionApi {
    pub(super) async fn list_alerts_impl(
        &self,
        request: &pb::ListAlertsRequest,
    ) -> Result<pb::ListAlertsResponse, Status> {
        let state = match request.state.as_str() {
            "" => None,
            s => Some(AlertState::parse(s).ok_or_else(|| {
                Status::invalid_argument("state must be empty, open, acked or cleared")
            })?),
        };
        let limit = match request.limit {
            0 => 100,
            l => (l as usize).min(1000),
        };
        let engine = (!request.engine_id.is_empty()).then_some(request.engine_id.as_str());
        let alerts = self
            .fleet_handle()?
            .alerts(state, engine, limit)
            .await
            .map_err(|e| convert::fleet_status(&e))?;
        Ok(pb::ListAlertsResponse {
            alerts: alerts.iter().map(alert).collect(),
        })
    }

    pub(super) fn watch_alerts_impl(&self) -> Result<Response<AlertStream>, Status> {
        let mut events = self.fleet_handle()?.subscribe();
        let stream = async_stream(move |tx| async move {
            loop {
                match events.recv().await {
                    Ok(FleetEvent::Alert(a)) => {
                        if tx.send(Ok(alert(&a))).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => {
                        let status = Status::resource_exhausted(format!(
                            "the watcher fell {missed} events behind; reconnect and list alerts"
                        ));
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(stream))
    }

    pub(super) async fn ack_alert_impl(
        &self,
        request: Request<pb::AckAlertRequest>,
    ) -> Result<pb::Alert, Status> {
        self.authorize(request.metadata())?;
        let r = request.get_ref();
        let acked = self
            .fleet_handle()?
            .ack(&r.alert_id, &r.who, &r.note)
            .await
            .map_err(|e| convert::fleet_status(&e))?;
        Ok(alert(&acked))
    }
}

/// A stream fed by a task (bounded channel: a slow watcher backs up into the broadcast, which then lags).
fn async_stream<F, Fut>(task: F) -> AlertStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<pb::Alert, Status>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(task(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

fn alert(a: &Alert) -> pb::Alert {
    rul_fleet::alert_message!(a => pb::Alert)
}
