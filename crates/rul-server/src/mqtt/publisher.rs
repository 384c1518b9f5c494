//! Publishes the fleet's changes: each new tracked prediction to `{prefix}/engines/{id}/rul` (the body REST
//! gives for an engine's latest prediction) and each alert change to `{prefix}/alerts` (the body of a GET /alerts
//! item), QoS 1, not retained. Fed by the fleet's event broadcast, so readings from every route are published and
//! a slow broker never blocks ingestion; a publisher that falls more than the broadcast's buffer behind skips
//! events (counted as `skipped`; the predictions stay readable over REST). Dead letters go through the same
//! connection.

use std::collections::HashMap;

use rul_fleet::{Fleet, FleetEvent};
use rumqttc::{AsyncClient, QoS};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::{PUBLISHED_TOTAL, alerts_topic, rul_topic};
use crate::config::MqttSettings;
use crate::http::alerts::AlertBody;

/// Starts the publisher connection and the task forwarding fleet events; returns the client (for dead letters).
pub fn spawn(fleet: &Fleet, settings: &MqttSettings) -> (AsyncClient, Vec<JoinHandle<()>>) {
    let (client, eventloop) =
        super::connect(settings, format!("{}-pub", settings.client_id), false);
    let driver = tokio::spawn(super::drive("publisher", eventloop, |_| {}));
    let forwarder = tokio::spawn(forward(
        fleet.subscribe(),
        client.clone(),
        settings.prefix.clone(),
    ));
    (client, vec![driver, forwarder])
}

/// Publishes every prediction and alert change the fleet announces, in announcement order.
async fn forward(
    mut events: tokio::sync::broadcast::Receiver<FleetEvent>,
    client: AsyncClient,
    prefix: String,
) {
    // Last cycle published per engine: an Updated event without a newer prediction (a metadata change) is skipped.
    let mut published: HashMap<String, u64> = HashMap::new();
    loop {
        match events.recv().await {
            Ok(FleetEvent::Updated(view)) => {
                let Some(latest) = &view.latest else { continue };
                if published
                    .get(&view.engine_id)
                    .is_some_and(|c| *c >= latest.cycle)
                {
                    continue;
                }
                published.insert(view.engine_id.clone(), latest.cycle);
                match rul_topic(&prefix, &view.engine_id) {
                    Some(topic) => publish(&client, topic, "rul", latest).await,
                    None => {
                        metrics::counter!(PUBLISHED_TOTAL, "topic" => "rul", "outcome" => "skipped")
                            .increment(1);
                        tracing::debug!(
                            engine_id = crate::metrics::log_safe(&view.engine_id),
                            "engine id cannot be an MQTT topic level; prediction not published"
                        );
                    }
                }
            }
            Ok(FleetEvent::Alert(alert)) => {
                let body = AlertBody::from(alert.as_ref());
                publish(&client, alerts_topic(&prefix), "alerts", &body).await;
            }
            Ok(FleetEvent::Deleted(engine_id)) => {
                published.remove(&engine_id);
            }
            Err(RecvError::Lagged(missed)) => {
                metrics::counter!(PUBLISHED_TOTAL, "topic" => "rul", "outcome" => "skipped")
                    .increment(missed);
                tracing::warn!(
                    missed,
                    "MQTT publisher fell behind the fleet; skipped events"
                );
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Queues one QoS 1 publish of `body` as JSON (waits while the client's request queue is full).
pub async fn publish(
    client: &AsyncClient,
    topic: String,
    kind: &'static str,
    body: &impl Serialize,
) {
    let outcome = match serde_json::to_vec(body) {
        Ok(payload) => match client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
        {
            Ok(()) => "queued",
            Err(e) => {
                tracing::warn!(error = %e, topic = kind, "MQTT publish failed");
                "failed"
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, topic = kind, "cannot encode MQTT message");
            "failed"
        }
    };
    metrics::counter!(PUBLISHED_TOTAL, "topic" => kind, "outcome" => outcome).increment(1);
}
