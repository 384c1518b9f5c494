//! MQTT side of `rul replay --to mqtt`: publishes readings at QoS 1 to `{prefix}/engines/{id}/readings` (waiting
//! for the broker's PUBACKs), and counts the predictions the service publishes on `{prefix}/engines/+/rul` and
//! the rejections on `{prefix}/dead-letter`. Also [`PublishLedger`], which tells which publishes the broker
//! acknowledged (the at-least-once tests use it).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Outgoing, Packet, QoS,
    SubscribeFilter,
};
use serde::Serialize;
use tokio::sync::watch;

use crate::ClientError;
use crate::replay::{Item, ReplayConfig, engine_id, pace, reading_json};

/// A broker address (parse one with `rul_server::config::Broker::parse`).
#[derive(Clone, PartialEq, Eq)]
pub struct Broker {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name and password.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Where an MQTT replay publishes.
#[derive(Clone, Debug)]
pub struct MqttTarget {
    /// The broker.
    pub broker: Broker,
    /// The service's MQTT_TOPIC_PREFIX.
    pub prefix: String,
}

/// What an MQTT replay observed.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct MqttReplayStats {
    /// Readings the broker acknowledged (PUBACK).
    pub broker_acked: u64,
    /// Predictions received on `{prefix}/engines/+/rul` for the replayed engines.
    pub predictions: u64,
    /// Dead letters received for the replayed engines.
    pub dead_letters: u64,
    /// Seconds from the first publish to the last acknowledgement or prediction.
    pub seconds: f64,
}

/// Readings published but neither predicted nor dead-lettered yet beyond which the replay waits: keeps the
/// broker's queue for the service far below Mosquitto's default `max_queued_messages` (1000), past which it drops.
const WINDOW: u64 = 500;
/// How long the replay waits without any progress before it stops waiting for predictions.
const IDLE: Duration = Duration::from_secs(10);

/// Client options for a short-lived clean session.
pub fn options(broker: &Broker, client_id: &str) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, broker.host.clone(), broker.port);
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(1 << 20, 1 << 20);
    if let Some((user, password)) = &broker.credentials {
        options.set_credentials(user.clone(), password.clone());
    }
    options
}

/// A client whose event loop sends small packets at once (no Nagle delay).
pub fn client(options: MqttOptions) -> (AsyncClient, EventLoop) {
    let (client, mut eventloop) = AsyncClient::new(options, 1024);
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    eventloop.set_network_options(network);
    (client, eventloop)
}

/// Which of the caller's publishes the broker acknowledged: record each item with [`PublishLedger::queued`] just
/// before publishing it (one publishing task, QoS 1 or 2), and feed every event of the event loop to
/// [`PublishLedger::on_event`], which returns the item a PUBACK acknowledges. Packet ids are given in publish
/// order; a retransmission after a reconnect reuses its id and is not mistaken for a new publish.
#[derive(Debug)]
pub struct PublishLedger<T> {
    queued: VecDeque<T>,
    in_flight: HashMap<u16, T>,
}

impl<T> Default for PublishLedger<T> {
    fn default() -> Self {
        Self {
            queued: VecDeque::new(),
            in_flight: HashMap::new(),
        }
    }
}

impl<T> PublishLedger<T> {
    /// Records the next publish.
    pub fn queued(&mut self, item: T) {
        self.queued.push_back(item);
    }

    /// The item acknowledged by this event, if it is a PUBACK (or PUBCOMP) of a recorded publish.
    pub fn on_event(&mut self, event: &Event) -> Option<T> {
        match event {
            Event::Outgoing(Outgoing::Publish(pkid)) if *pkid != 0 => {
                if !self.in_flight.contains_key(pkid)
                    && let Some(item) = self.queued.pop_front()
                {
                    self.in_flight.insert(*pkid, item);
                }
                None
            }
            Event::Incoming(Packet::PubAck(ack)) => self.in_flight.remove(&ack.pkid),
            Event::Incoming(Packet::PubComp(comp)) => self.in_flight.remove(&comp.pkid),
            _ => None,
        }
    }

    /// Publishes sent and not yet acknowledged, plus those not yet sent.
    pub fn pending(&self) -> usize {
        self.queued.len() + self.in_flight.len()
    }
}

/// Counters the event loop task updates.
#[derive(Default)]
struct Seen {
    subscribed: AtomicBool,
    connect_error: std::sync::Mutex<Option<String>>,
    acked: AtomicU64,
    predictions: AtomicU64,
    dead_letters: AtomicU64,
    first_dead_letter: std::sync::Mutex<Option<String>>,
    /// Microseconds from the start to the last acknowledgement or prediction.
    last_progress_us: AtomicU64,
}

impl Seen {
    fn answered(&self) -> u64 {
        self.predictions.load(Ordering::Relaxed) + self.dead_letters.load(Ordering::Relaxed)
    }
}

/// Publishes every reading of `order` and counts what comes back; see the module documentation. Returns the
/// counts and the first dead letter's reason.
pub(crate) async fn replay_mqtt(
    target: &MqttTarget,
    config: &ReplayConfig,
    order: &[Item],
    sent: &AtomicU64,
) -> Result<(MqttReplayStats, Option<String>), ClientError> {
    let client_id = format!("rul-replay-{}", std::process::id());
    let (client, eventloop) = client(options(&target.broker, &client_id));
    let seen = Arc::new(Seen::default());
    let (progress, mut watcher) = watch::channel(());
    let started = Instant::now();
    let topics = Topics {
        rul: format!("{}/engines/", target.prefix),
        dead_letter: format!("{}/dead-letter", target.prefix),
        engines: format!("/engines/{}", config.id_prefix),
        id_prefix: config.id_prefix.clone(),
    };
    let driver = tokio::spawn(watch_events(
        eventloop,
        client.clone(),
        target.prefix.clone(),
        topics,
        seen.clone(),
        progress,
        started,
    ));
    // Subscribed before the first reading, so no prediction is missed.
    wait_until(&mut watcher, IDLE, || {
        seen.subscribed.load(Ordering::Relaxed) || lock(&seen.connect_error).is_some()
    })
    .await;
    if !seen.subscribed.load(Ordering::Relaxed) {
        driver.abort();
        let reason = lock(&seen.connect_error).unwrap_or_else(|| "no SUBACK".into());
        return Err(ClientError::Connect {
            addr: format!("{:?}", target.broker),
            reason,
        });
    }
    let outcome = publish_all(
        &client,
        &target.prefix,
        config,
        order,
        sent,
        &seen,
        &mut watcher,
    )
    .await;
    let published = sent.load(Ordering::Relaxed);
    if outcome.is_ok() {
        wait_until(&mut watcher, IDLE, || {
            seen.acked.load(Ordering::Relaxed) >= published && seen.answered() >= published
        })
        .await;
    }
    let _ = client.disconnect().await;
    driver.abort();
    outcome?;
    Ok((
        MqttReplayStats {
            broker_acked: seen.acked.load(Ordering::Relaxed),
            predictions: seen.predictions.load(Ordering::Relaxed),
            dead_letters: seen.dead_letters.load(Ordering::Relaxed),
            seconds: seen.last_progress_us.load(Ordering::Relaxed) as f64 / 1e6,
        },
        lock(&seen.first_dead_letter),
    ))
}

fn lock(m: &std::sync::Mutex<Option<String>>) -> Option<String> {
    m.lock().map(|v| v.clone()).unwrap_or_default()
}

/// Topic shapes the replay recognises.
struct Topics {
    /// `{prefix}/engines/` (predictions are `{rul}{id}/rul`).
    rul: String,
    /// `{prefix}/dead-letter`.
    dead_letter: String,
    /// `/engines/{id_prefix}`: a dead letter whose topic contains it is one of ours.
    engines: String,
    /// The replayed engines' id prefix.
    id_prefix: String,
}

/// Drives the connection: (re)subscribes after each ConnAck and counts acknowledgements, predictions and dead
/// letters of the replayed engines.
async fn watch_events(
    mut eventloop: EventLoop,
    client: AsyncClient,
    prefix: String,
    topics: Topics,
    seen: Arc<Seen>,
    progress: watch::Sender<()>,
    started: Instant,
) {
    let mut delay = Duration::from_millis(100);
    let moved = |seen: &Seen| {
        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        seen.last_progress_us.store(us, Ordering::Relaxed);
        progress.send_replace(());
    };
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                delay = Duration::from_millis(100);
                let client = client.clone();
                let filters = vec![
                    SubscribeFilter::new(format!("{prefix}/engines/+/rul"), QoS::AtLeastOnce),
                    SubscribeFilter::new(format!("{prefix}/dead-letter"), QoS::AtLeastOnce),
                ];
                tokio::spawn(async move { client.subscribe_many(filters).await });
            }
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                seen.subscribed.store(true, Ordering::Relaxed);
                progress.send_replace(());
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                seen.acked.fetch_add(1, Ordering::Relaxed);
                moved(&seen);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if p.topic == topics.dead_letter {
                    let letter: serde_json::Value =
                        serde_json::from_slice(&p.payload).unwrap_or_default();
                    let topic = letter["topic"].as_str().unwrap_or_default();
                    if topic.contains(&topics.engines) {
                        seen.dead_letters.fetch_add(1, Ordering::Relaxed);
                        let mut first = seen
                            .first_dead_letter
                            .lock()
                            .unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert_with(|| {
                            format!("{topic}: {}", letter["reason"].as_str().unwrap_or_default())
                        });
                    }
                } else if p
                    .topic
                    .strip_prefix(&topics.rul)
                    .and_then(|t| t.strip_suffix("/rul"))
                    .is_some_and(|id| id.starts_with(&topics.id_prefix))
                {
                    seen.predictions.fetch_add(1, Ordering::Relaxed);
                }
                moved(&seen);
            }
            Ok(_) => {}
            Err(e) => {
                if !seen.subscribed.load(Ordering::Relaxed) {
                    let mut error = seen.connect_error.lock().unwrap_or_else(|p| p.into_inner());
                    *error = Some(e.to_string());
                    drop(error);
                    progress.send_replace(());
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn publish_all(
    client: &AsyncClient,
    prefix: &str,
    config: &ReplayConfig,
    order: &[Item],
    sent: &AtomicU64,
    seen: &Seen,
    watcher: &mut watch::Receiver<()>,
) -> Result<(), ClientError> {
    let started = Instant::now();
    for (k, &(e, c)) in order.iter().enumerate() {
        pace(started, k, config.rate).await;
        let published = sent.load(Ordering::Relaxed);
        wait_until(watcher, IDLE, || published < seen.answered() + WINDOW).await;
        let engine = &config.engines[e];
        let topic = format!(
            "{prefix}/engines/{}/readings",
            engine_id(&config.id_prefix, engine)
        );
        let payload = reading_json(engine, c).to_string();
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|e| ClientError::Protocol(format!("MQTT publish: {e}")))?;
        sent.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Waits until `done()` holds, re-checking at each progress signal; gives up after `idle` without one.
async fn wait_until(watcher: &mut watch::Receiver<()>, idle: Duration, done: impl Fn() -> bool) {
    loop {
        watcher.borrow_and_update();
        if done() {
            return;
        }
        match tokio::time::timeout(idle, watcher.changed()).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::PubAck;

    #[test]
    fn ledger_maps_acks_to_items_and_ignores_retransmissions() {
        let mut ledger = PublishLedger::default();
        ledger.queued("a");
        ledger.queued("b");
        assert_eq!(
            ledger.on_event(&Event::Outgoing(Outgoing::Publish(1))),
            None
        );
        assert_eq!(
            ledger.on_event(&Event::Outgoing(Outgoing::Publish(2))),
            None
        );
        // A retransmission of 1 after a reconnect is not a new publish.
        assert_eq!(
            ledger.on_event(&Event::Outgoing(Outgoing::Publish(1))),
            None
        );
        ledger.queued("c");
        assert_eq!(
            ledger.on_event(&Event::Incoming(Packet::PubAck(PubAck::new(2)))),
            Some("b")
        );
        assert_eq!(
            ledger.on_event(&Event::Outgoing(Outgoing::Publish(2))),
            None
        );
        assert_eq!(
            ledger.on_event(&Event::Incoming(Packet::PubAck(PubAck::new(1)))),
            Some("a")
        );
        assert_eq!(
            ledger.on_event(&Event::Incoming(Packet::PubAck(PubAck::new(2)))),
            Some("c")
        );
        assert_eq!(ledger.pending(), 0);
        assert_eq!(
            ledger.on_event(&Event::Incoming(Packet::PubAck(PubAck::new(9)))),
            None
        );
    }
}
