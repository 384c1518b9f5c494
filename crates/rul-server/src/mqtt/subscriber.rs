//! The reading subscriber: `{prefix}/engines/+/readings`, QoS 1, persistent session, manual acknowledgements.
//!
//! The event loop task only forwards deliveries; a dispatcher takes each message's per-engine turn in arrival
//! order and spawns its handling (decode, ingest, dead letter, PUBACK), bounded by MQTT_MAX_IN_FLIGHT, so
//! engines are ingested concurrently (and batched by the predictor) while each engine's readings stay in order.
//!
//! Acknowledgement rules:
//! - committed (new readings or recognised redeliveries): PUBACK;
//! - rejected for good (bad topic, too large, malformed, invalid, conflict, internal error): counted, logged,
//!   republished to `{prefix}/dead-letter`, then PUBACK — a bad message never blocks the subscriber;
//! - another replica's engine (FLEET_REPLICAS > 1): counted as `not_owned` and PUBACKed, no dead letter;
//! - transient failure (store down, predictor overloaded or not ready): retried in place with capped backoff and
//!   not acknowledged meanwhile; the engine's later messages wait behind it, so order holds, and a stop before
//!   success leaves it with the broker for redelivery;
//! - PUBACKs leave in delivery order (MQTT 3.1.1 §4.6; measured: Mosquitto 2.0 sent one engine's queued
//!   readings out of order to a subscriber that acknowledged out of order), so a slow message holds back the
//!   acknowledgements of later ones until it is done;
//! - a PUBACK for a delivery of an earlier connection is not sent: the broker redelivers the message on the new
//!   connection, and the redelivery is acknowledged as a duplicate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rul_fleet::{Fleet, FleetError, IngestReport};
use rumqttc::{AsyncClient, Event, Packet, Publish, QoS, SubscribeReasonCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};

use super::lanes::{Lanes, Turn};
use super::payload::{self, DeadLetter, Rejection};
use super::{MESSAGES_TOTAL, RETRIES_TOTAL, dead_letter_topic};
use crate::config::MqttSettings;

/// First delay before retrying a transient failure; doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
/// Longest delay between retries of one message.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// One message as delivered on one connection.
struct Delivery {
    /// The connection it came on (incremented at every ConnAck).
    connection: u64,
    publish: Publish,
}

/// Hands finished deliveries to the acknowledging task in delivery order.
#[derive(Default)]
struct AckOrder {
    state: std::sync::Mutex<AckState>,
}

#[derive(Default)]
struct AckState {
    next_ticket: u64,
    next_ack: u64,
    /// Finished tickets: the delivery to acknowledge, or None for one that must not be (aborted, panicked).
    finished: std::collections::BTreeMap<u64, Option<Delivery>>,
}

impl AckOrder {
    /// The next delivery's place in the acknowledgement order (take in arrival order).
    fn ticket(&self) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.next_ticket += 1;
        state.next_ticket - 1
    }

    /// Marks `ticket` finished and forwards every finished delivery that no unfinished one precedes.
    fn finished(
        &self,
        ticket: u64,
        delivery: Option<Delivery>,
        out: &mpsc::UnboundedSender<Delivery>,
    ) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.finished.insert(ticket, delivery);
        loop {
            let next = state.next_ack;
            let Some(ready) = state.finished.remove(&next) else {
                break;
            };
            state.next_ack += 1;
            // Sent under the lock, so the channel holds deliveries in ticket order.
            if let Some(ready) = ready {
                let _ = out.send(ready);
            }
        }
    }
}

/// A delivery being handled. Dropped after [`InFlight::done`] it is queued for its PUBACK; dropped before
/// (the task aborted at shutdown, or a panic) its place in the order is released without a PUBACK, so later
/// messages are still acknowledged and the broker redelivers this one on the next connection.
struct InFlight {
    context: Arc<Context>,
    ticket: u64,
    delivery: Option<Delivery>,
    done: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let delivery = self.delivery.take().filter(|_| self.done);
        self.context
            .acks
            .finished(self.ticket, delivery, &self.context.ack_queue);
    }
}

/// What the handling tasks share.
struct Context {
    fleet: Fleet,
    client: AsyncClient,
    publisher: AsyncClient,
    prefix: String,
    max_payload: usize,
    connection: Arc<AtomicU64>,
    acks: AckOrder,
    ack_queue: mpsc::UnboundedSender<Delivery>,
}

/// Starts the subscriber connection and its dispatcher.
pub fn spawn(fleet: Fleet, settings: &MqttSettings, publisher: AsyncClient) -> Vec<JoinHandle<()>> {
    let (client, eventloop) = super::connect(settings, settings.client_id.clone(), true);
    let (deliveries, inbox) = mpsc::unbounded_channel();
    let connection = Arc::new(AtomicU64::new(0));
    let filter = payload::readings_filter(&settings.prefix);
    let on_event = {
        let (client, connection) = (client.clone(), connection.clone());
        let mut subscribed = false;
        move |event: Event| match event {
            Event::Incoming(Packet::ConnAck(ack)) => {
                connection.fetch_add(1, Ordering::SeqCst);
                // A resumed session keeps its subscription; subscribe anyway the first time, in case the prefix
                // changed since the session was made.
                if !ack.session_present || !subscribed {
                    subscribed = true;
                    let (client, filter) = (client.clone(), filter.clone());
                    // Not on the event loop task: a full request queue would block the loop that drains it.
                    tokio::spawn(async move {
                        if let Err(e) = client.subscribe(filter, QoS::AtLeastOnce).await {
                            tracing::warn!(error = %e, "cannot queue the MQTT subscription");
                        }
                    });
                }
            }
            Event::Incoming(Packet::SubAck(ack)) => {
                if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                    tracing::error!(
                        filter = filter.as_str(),
                        "the broker refused the MQTT subscription"
                    );
                } else {
                    tracing::info!(filter = filter.as_str(), "MQTT subscribed");
                }
            }
            Event::Incoming(Packet::Publish(publish)) => {
                // Unbounded, so the event loop never waits: QoS 1 deliveries are bounded by the broker's
                // in-flight window, which our withheld PUBACKs hold shut until messages are handled.
                let _ = deliveries.send(Delivery {
                    connection: connection.load(Ordering::SeqCst),
                    publish,
                });
            }
            _ => {}
        }
    };
    let driver = tokio::spawn(super::drive("subscriber", eventloop, on_event));
    let (ack_queue, mut to_ack) = mpsc::unbounded_channel::<Delivery>();
    let context = Arc::new(Context {
        fleet,
        client,
        publisher,
        prefix: settings.prefix.clone(),
        max_payload: settings.max_payload_bytes,
        connection,
        acks: AckOrder::default(),
        ack_queue,
    });
    let acknowledger = tokio::spawn({
        let context = context.clone();
        async move {
            while let Some(delivery) = to_ack.recv().await {
                acknowledge(&context, &delivery).await;
            }
        }
    });
    let dispatcher = tokio::spawn(dispatch(context, inbox, settings.max_in_flight));
    vec![driver, dispatcher, acknowledger]
}

/// Takes each delivery's engine turn in arrival order and spawns its handling; aborting it aborts them all.
async fn dispatch(
    context: Arc<Context>,
    mut inbox: mpsc::UnboundedReceiver<Delivery>,
    max_in_flight: usize,
) {
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let lanes = Lanes::default();
    let mut running = JoinSet::new();
    while let Some(delivery) = inbox.recv().await {
        while running.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let engine = payload::engine_of(&context.prefix, &delivery.publish.topic);
        let turn = engine.as_ref().ok().map(|id| lanes.enter(id));
        let ticket = context.acks.ticket();
        running.spawn(handle(
            context.clone(),
            delivery,
            engine,
            (ticket, turn),
            permit,
        ));
    }
}

/// Decodes, ingests (in the engine's turn), dead-letters a rejection, then queues the acknowledgement.
async fn handle(
    context: Arc<Context>,
    delivery: Delivery,
    engine: Result<String, Rejection>,
    (ticket, mut turn): (u64, Option<Turn>),
    _slot: OwnedSemaphorePermit,
) {
    let mut in_flight = InFlight {
        context: context.clone(),
        ticket,
        delivery: Some(delivery),
        done: false,
    };
    let Some(delivery) = in_flight.delivery.as_ref() else {
        return;
    };
    let publish = &delivery.publish;
    let decoded = engine.and_then(|id| {
        payload::decode(&id, &publish.payload, context.max_payload).map(|readings| (id, readings))
    });
    let outcome = match decoded {
        Ok((id, readings)) => {
            if let Some(turn) = turn.as_mut() {
                turn.ready().await;
            }
            ingest(&context.fleet, id, readings).await
        }
        Err(rejection) => Err(rejection),
    };
    match outcome {
        Ok(report) => {
            let label = if report.accepted > 0 {
                "ok"
            } else {
                "duplicate"
            };
            metrics::counter!(MESSAGES_TOTAL, "outcome" => label).increment(1);
        }
        Err(rejection) if rejection.kind == "wrong_replica" => {
            // FLEET_REPLICAS > 1: every replica's session sees every reading and keeps only its own engines.
            metrics::counter!(MESSAGES_TOTAL, "outcome" => "not_owned").increment(1);
        }
        Err(rejection) => {
            metrics::counter!(MESSAGES_TOTAL, "outcome" => rejection.kind).increment(1);
            log_rejection(&publish.topic, &rejection);
            let letter = DeadLetter::new(&publish.topic, &publish.payload, &rejection);
            let topic = dead_letter_topic(&context.prefix);
            super::publisher::publish(&context.publisher, topic, "dead_letter", &letter).await;
        }
    }
    // The engine's next message may go now: its prediction is queued after this message's dead letter.
    drop(turn);
    in_flight.done = true;
}

/// Ingests until committed or rejected for good; transient failures are retried with capped backoff.
async fn ingest(
    fleet: &Fleet,
    engine_id: String,
    readings: Vec<(u64, rul_data::Reading)>,
) -> Result<IngestReport, Rejection> {
    let mut delay = RETRY_FIRST;
    let mut attempt: u64 = 0;
    loop {
        match fleet.ingest(engine_id.clone(), readings.clone()).await {
            Ok(report) => return Ok(report),
            Err(e) if transient(&e) => {
                attempt += 1;
                metrics::counter!(RETRIES_TOTAL, "kind" => e.kind()).increment(1);
                if attempt == 1 || attempt.is_multiple_of(50) {
                    tracing::warn!(error = %e, attempt, "MQTT reading not ingested yet; retrying");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RETRY_MAX);
            }
            Err(e) => {
                return Err(Rejection {
                    kind: e.kind(),
                    reason: e.public_message(),
                });
            }
        }
    }
}

/// Failures that pass on their own: the store, an overloaded or not yet ready predictor, a remote endpoint.
fn transient(e: &FleetError) -> bool {
    matches!(e.kind(), "store" | "overloaded" | "not_ready" | "remote")
}

/// PUBACKs a QoS 1 delivery, unless the connection it came on is gone (the broker then redelivers it).
async fn acknowledge(context: &Context, delivery: &Delivery) {
    if delivery.publish.qos == QoS::AtMostOnce {
        return;
    }
    if context.connection.load(Ordering::SeqCst) != delivery.connection {
        tracing::debug!("delivery from an earlier MQTT connection; the broker redelivers it");
        return;
    }
    if let Err(e) = context.client.ack(&delivery.publish).await {
        tracing::warn!(error = %e, "cannot queue an MQTT acknowledgement");
    }
}

/// Logs a rejected message: debug each, warn at most once a second (with how many since).
fn log_rejection(topic: &str, rejection: &Rejection) {
    static LAST_WARN_MS: AtomicU64 = AtomicU64::new(0);
    static SINCE: AtomicU64 = AtomicU64::new(0);
    let topic = crate::metrics::log_safe(topic);
    tracing::debug!(
        topic,
        kind = rejection.kind,
        reason = rejection.reason.as_str(),
        "MQTT message rejected"
    );
    let since = SINCE.fetch_add(1, Ordering::Relaxed) + 1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let last = LAST_WARN_MS.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 1000
        && LAST_WARN_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        SINCE.store(0, Ordering::Relaxed);
        tracing::warn!(
            topic,
            kind = rejection.kind,
            reason = rejection.reason.as_str(),
            rejected = since,
            "MQTT messages rejected and dead-lettered"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(topic: &str) -> Delivery {
        Delivery {
            connection: 1,
            publish: Publish::new(topic, QoS::AtLeastOnce, "{}"),
        }
    }

    #[test]
    fn acknowledgements_leave_in_delivery_order() {
        let order = AckOrder::default();
        let (out, mut acked) = mpsc::unbounded_channel();
        let tickets: Vec<u64> = (0..4).map(|_| order.ticket()).collect();
        order.finished(tickets[2], Some(delivery("c")), &out);
        order.finished(tickets[0], Some(delivery("a")), &out);
        assert_eq!(
            acked.try_recv().map(|d| d.publish.topic).ok().as_deref(),
            Some("a")
        );
        assert!(acked.try_recv().is_err(), "c must wait for b");
        // b was aborted: its place is released without an acknowledgement.
        order.finished(tickets[1], None, &out);
        assert_eq!(
            acked.try_recv().map(|d| d.publish.topic).ok().as_deref(),
            Some("c")
        );
        order.finished(tickets[3], Some(delivery("d")), &out);
        assert_eq!(
            acked.try_recv().map(|d| d.publish.topic).ok().as_deref(),
            Some("d")
        );
    }

    #[test]
    fn only_infrastructure_failures_are_retried() {
        assert!(transient(&FleetError::Store("down".into())));
        assert!(transient(&FleetError::Predict(
            rul_core::PredictError::Overloaded
        )));
        assert!(!transient(&FleetError::Conflict {
            reading: 0,
            message: "x".into()
        }));
        assert!(!transient(&FleetError::Predict(
            rul_core::PredictError::Internal("x".into())
        )));
    }
}
