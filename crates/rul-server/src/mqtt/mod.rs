//! MQTT telemetry (on when MQTT_URL is set): readings in, predictions, alerts and dead letters out.
//!
//! - [`subscriber`]: `{prefix}/engines/+/readings` at QoS 1 on a persistent session (clean session false) with
//!   manual acknowledgements. A reading is PUBACKed only once [`rul_fleet::Fleet::ingest`] has committed it, or
//!   once it was rejected for good and its dead letter was queued; a connection or broker drop before that makes
//!   the broker redeliver it, and the fleet's duplicate rule makes the redelivery harmless.
//! - [`publisher`]: from the fleet's event broadcast (readings from any route), each new tracked prediction to
//!   `{prefix}/engines/{id}/rul` and each alert change to `{prefix}/alerts`, QoS 1, on a second connection.
//! - Both connections reconnect with capped exponential backoff; `rul_mqtt_connected{client}` shows their state.

mod lanes;
pub mod payload;
mod publisher;
mod subscriber;

use std::time::Duration;

use rul_fleet::Fleet;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Packet};
use tokio::task::JoinHandle;

use crate::config::MqttSettings;

/// Metric: reading messages handled, by outcome (ok, duplicate, or a rejection kind).
pub const MESSAGES_TOTAL: &str = "rul_mqtt_messages_total";
/// Metric: transient ingestion failures retried, by error kind.
pub const RETRIES_TOTAL: &str = "rul_mqtt_retries_total";
/// Metric: messages published, by topic kind (rul, alerts, dead_letter) and outcome (queued, failed, skipped).
pub const PUBLISHED_TOTAL: &str = "rul_mqtt_published_total";
/// Metric: 1 while a client (subscriber, publisher) is connected to the broker.
pub const CONNECTED: &str = "rul_mqtt_connected";
/// Metric: failed connection attempts or dropped connections, by client.
pub const DISCONNECTS_TOTAL: &str = "rul_mqtt_disconnects_total";

/// First delay before reconnecting; doubles per failed attempt up to [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(100);
/// Longest delay between reconnection attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(10);
/// Requests (publishes, acks) queued towards one connection's event loop.
const REQUEST_CAPACITY: usize = 1024;
/// Largest packet read: MQTT's own limit, so no message can break the connection in a redelivery loop (the
/// broker's `message_size_limit` bounds memory; larger payloads than MQTT_MAX_PAYLOAD_BYTES are dead-lettered).
const MAX_INCOMING_PACKET: usize = 268_435_455;
/// Largest packet written (predictions, alerts and dead letters are small).
const MAX_OUTGOING_PACKET: usize = 1_048_576;

/// The running adapter's tasks; [`MqttTasks::abort`] stops them (unacknowledged readings are redelivered to
/// the next start by the persistent session).
pub struct MqttTasks {
    tasks: Vec<JoinHandle<()>>,
}

impl MqttTasks {
    /// Handles that stop the adapter's tasks, for a caller that stops them with others.
    pub fn abort_handles(&self) -> impl Iterator<Item = tokio::task::AbortHandle> + '_ {
        self.tasks.iter().map(JoinHandle::abort_handle)
    }
}

/// Starts the subscriber and the publisher for `fleet`.
pub fn spawn(fleet: &Fleet, settings: MqttSettings) -> MqttTasks {
    tracing::info!(
        broker = %format!("{}:{}", settings.broker.host, settings.broker.port),
        prefix = settings.prefix.as_str(),
        client_id = settings.client_id.as_str(),
        "MQTT telemetry on"
    );
    let (publisher, mut tasks) = publisher::spawn(fleet, &settings);
    tasks.extend(subscriber::spawn(fleet.clone(), &settings, publisher));
    MqttTasks { tasks }
}

/// The topic of an engine's predictions, or None when the id cannot be one topic level (`/`, `+`, `#`, empty).
pub fn rul_topic(prefix: &str, engine_id: &str) -> Option<String> {
    let fits = !engine_id.is_empty() && !engine_id.contains(['/', '+', '#']);
    fits.then(|| format!("{prefix}/engines/{engine_id}/rul"))
}

/// The alerts topic.
pub fn alerts_topic(prefix: &str) -> String {
    format!("{prefix}/alerts")
}

/// The dead-letter topic.
pub fn dead_letter_topic(prefix: &str) -> String {
    format!("{prefix}/dead-letter")
}

/// A client and its event loop for `client_id` (persistent session: unacknowledged packets survive reconnects).
fn connect(
    settings: &MqttSettings,
    client_id: String,
    manual_acks: bool,
) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(
        client_id,
        settings.broker.host.clone(),
        settings.broker.port,
    );
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(false)
        .set_manual_acks(manual_acks)
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET);
    if let Some((user, password)) = &settings.broker.credentials {
        options.set_credentials(user.clone(), password.clone());
    }
    let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
    // Acks and predictions are small packets: never hold them back for Nagle's algorithm.
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    (client, eventloop)
}

/// Polls `eventloop` forever, handing every event to `on_event`; on a connection error it waits (capped
/// exponential backoff) and polls again, which reconnects. Nothing else runs on this task, so it never blocks.
async fn drive(client: &'static str, mut eventloop: EventLoop, mut on_event: impl FnMut(Event)) {
    let mut delay = RECONNECT_FIRST;
    let mut failures: u64 = 0;
    loop {
        match eventloop.poll().await {
            Ok(event) => {
                if let Event::Incoming(Packet::ConnAck(ack)) = &event {
                    metrics::gauge!(CONNECTED, "client" => client).set(1.0);
                    tracing::info!(
                        client,
                        session_present = ack.session_present,
                        after_failures = failures,
                        "MQTT connected"
                    );
                    delay = RECONNECT_FIRST;
                    failures = 0;
                }
                on_event(event);
            }
            Err(error) => {
                metrics::gauge!(CONNECTED, "client" => client).set(0.0);
                metrics::counter!(DISCONNECTS_TOTAL, "client" => client).increment(1);
                failures += 1;
                // One warning per outage, then one per 20 attempts: a long outage does not flood the log.
                if failures == 1 || failures.is_multiple_of(20) {
                    tracing::warn!(client, %error, failures, retry_in_ms = delay.as_millis() as u64, "MQTT connection failed; reconnecting");
                } else {
                    tracing::debug!(client, %error, failures, "MQTT reconnect attempt failed");
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(RECONNECT_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        assert_eq!(
            rul_topic("rul", "e-1").as_deref(),
            Some("rul/engines/e-1/rul")
        );
        for bad in ["", "a/b", "a+", "#"] {
            assert_eq!(rul_topic("rul", bad), None, "{bad}");
        }
        assert_eq!(alerts_topic("p/q"), "p/q/alerts");
        assert_eq!(dead_letter_topic("rul"), "rul/dead-letter");
    }
}
