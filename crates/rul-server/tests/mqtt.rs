//! MQTT telemetry against a real Mosquitto: each test starts its own broker on a free port with a persistence
//! directory (so it can be restarted), a whole server (`serve_with_listeners`, fresh SQLite store) subscribed to
//! it, and test clients that publish readings and watch what the server publishes. Every wait is on a condition
//! with a deadline. Without `/usr/sbin/mosquitto` (or `mosquitto` on PATH) the tests are skipped, unless
//! CI=true, where they fail.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rul_client::PublishLedger;
use rul_server::{ServeError, ServerConfig, serve_with_listeners};
use rumqttc::{AsyncClient, Event, Packet, QoS, SubscribeFilter};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Deadline of every wait.
const DEADLINE: Duration = Duration::from_secs(90);

/// Re-evaluates `$cond` (which may `.await`) until it holds; fails after [`DEADLINE`] naming `$what`.
macro_rules! wait_for {
    ($what:expr, $cond:expr) => {{
        let deadline = Instant::now() + DEADLINE;
        while !$cond {
            assert!(Instant::now() < deadline, "timed out waiting for {}", $what);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }};
}

/// A Mosquitto process of this test, restartable on the same port and persistence directory.
struct Broker {
    binary: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    /// A broker on a free port, or None (test skipped) when Mosquitto is not installed and CI is not set.
    async fn start() -> Option<Broker> {
        let binary = [PathBuf::from("/usr/sbin/mosquitto")]
            .into_iter()
            .chain(std::env::var_os("PATH").into_iter().flat_map(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("mosquitto"))
                    .collect::<Vec<_>>()
            }))
            .find(|p| p.is_file());
        let Some(binary) = binary else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "mosquitto is not installed (CI=true: the MQTT tests must run)"
            );
            eprintln!("SKIPPED: mosquitto is not installed (apt-get install mosquitto)");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        // Mosquitto started as root drops to its own user: let it write its persistence file here.
        make_world_writable(dir.path());
        let port = free_port();
        let config = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n\
             max_queued_messages 100000\nlog_dest stdout\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), config).expect("broker config");
        let mut broker = Broker {
            binary,
            dir,
            port,
            child: None,
        };
        broker.launch().await;
        Some(broker)
    }

    /// Starts the process and waits until it accepts connections.
    async fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.log"))
            .expect("broker log");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        wait_for!("mosquitto to listen", {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("mosquitto exited: {status}; log: {}", self.log());
            }
            tokio::net::TcpStream::connect(&addr).await.is_ok()
        });
    }

    /// SIGTERM (Mosquitto saves its persistence file on the way out) and wait for the exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()
                .expect("kill");
            assert!(status.success());
            let exit = child.wait().expect("wait for mosquitto");
            assert!(
                exit.success(),
                "mosquitto exit: {exit}; log: {}",
                self.log()
            );
        }
    }

    fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn make_world_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A server over a fresh SQLite store, subscribed to `broker` under `prefix`.
struct Server {
    http: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Server {
    async fn start(broker: &Broker, prefix: &str, tweak: impl FnOnce(&mut ServerConfig)) -> Server {
        let mut config = config(artifact("mqtt"));
        config.mqtt.mqtt_url = Some(broker.url());
        config.mqtt.mqtt_topic_prefix = prefix.to_string();
        config.mqtt.mqtt_client_id = format!("{prefix}-server");
        tweak(&mut config);
        // The server's persistent session exists (and is subscribed) before anything is published, so no
        // reading can be published before the server listens.
        let client_id = config.mqtt.mqtt_client_id.clone();
        let filter = format!("{prefix}/engines/+/readings");
        presubscribe(broker.port, &client_id, &filter).await;
        let http_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
        let grpc_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind grpc");
        let http = http_listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_listeners(
            config,
            http_listener,
            grpc_listener,
            async {
                let _ = stopped.await;
            },
        ));
        let server = Server {
            http,
            stop: Some(stop),
            task,
        };
        wait_for!(
            "the server to be ready",
            reqwest::get(server.url("/ready"))
                .await
                .is_ok_and(|r| r.status().is_success())
        );
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    async fn get(&self, path: &str) -> Value {
        reqwest::get(self.url(path))
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON")
    }

    /// Stored cycles of `engine` (empty when unknown).
    async fn stored_cycles(&self, engine: &str) -> Vec<u64> {
        let body = self
            .get(&format!("/engines/{engine}/readings?limit=10000"))
            .await;
        body["readings"]
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r["cycle"].as_u64()).collect())
            .unwrap_or_default()
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), &mut self.task).await;
    }
}

/// Creates `client_id`'s persistent session subscribed to `filter` at QoS 1, then disconnects.
async fn presubscribe(port: u16, client_id: &str, filter: &str) {
    let probe = Probe::connect(port, client_id, false, &[filter]).await;
    probe.disconnect().await;
}

/// A test client: publishes at QoS 1 (tracking which publishes the broker acknowledged) and collects what
/// arrives on its subscriptions.
struct Probe {
    client: AsyncClient,
    ledger: Arc<Mutex<PublishLedger<(String, u64)>>>,
    acked: Arc<Mutex<Vec<(String, u64)>>>,
    received: Arc<Mutex<Vec<(String, Value)>>>,
    driver: JoinHandle<()>,
}

impl Probe {
    /// Connects (clean or persistent session) and returns once every filter is subscribed.
    async fn connect(port: u16, client_id: &str, clean: bool, filters: &[&str]) -> Probe {
        let mut options = rul_client::mqtt::options(
            &rul_client::Broker {
                host: "127.0.0.1".into(),
                port,
                credentials: None,
            },
            client_id,
        );
        options.set_clean_session(clean);
        let (client, mut eventloop) = rul_client::mqtt::client(options);
        let ledger = Arc::new(Mutex::new(PublishLedger::default()));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (subscribed, mut on_subscribed) = mpsc::unbounded_channel();
        let subscribing = !filters.is_empty();
        let filters: Vec<SubscribeFilter> = filters
            .iter()
            .map(|f| SubscribeFilter::new(f.to_string(), QoS::AtLeastOnce))
            .collect();
        let driver = tokio::spawn({
            let (client, ledger, acked, received) = (
                client.clone(),
                ledger.clone(),
                acked.clone(),
                received.clone(),
            );
            async move {
                loop {
                    let event = match eventloop.poll().await {
                        Ok(event) => event,
                        Err(_) => {
                            // The broker is down (restart test): poll again, which reconnects.
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    if let Some(item) = ledger.lock().expect("ledger").on_event(&event) {
                        acked.lock().expect("acked").push(item);
                    }
                    match event {
                        Event::Incoming(Packet::ConnAck(_)) if !filters.is_empty() => {
                            let (client, filters) = (client.clone(), filters.clone());
                            tokio::spawn(async move { client.subscribe_many(filters).await });
                        }
                        Event::Incoming(Packet::SubAck(_)) => {
                            let _ = subscribed.send(());
                        }
                        Event::Incoming(Packet::Publish(p)) => {
                            let value = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                            received.lock().expect("received").push((p.topic, value));
                        }
                        _ => {}
                    }
                }
            }
        });
        if subscribing {
            tokio::time::timeout(DEADLINE, on_subscribed.recv())
                .await
                .expect("SUBACK in time");
        }
        Probe {
            client,
            ledger,
            acked,
            received,
            driver,
        }
    }

    /// Publishes `payload` at QoS 1, recording `(engine, cycle)` to match the broker's PUBACK.
    async fn publish(&self, topic: String, payload: Vec<u8>, item: (String, u64)) {
        self.ledger.lock().expect("ledger").queued(item);
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .expect("queue publish");
    }

    /// Publishes one reading of `engine` on `{prefix}/engines/{engine}/readings`.
    async fn reading(&self, prefix: &str, engine: &str, cycle: u64) {
        let payload = reading(cycle).to_string().into_bytes();
        self.publish(
            format!("{prefix}/engines/{engine}/readings"),
            payload,
            (engine.to_string(), cycle),
        )
        .await;
    }

    fn received_on(&self, topic: &str) -> Vec<Value> {
        let received = self.received.lock().expect("received");
        received
            .iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn acked(&self) -> Vec<(String, u64)> {
        self.acked.lock().expect("acked").clone()
    }

    /// Ends the connection (a persistent session stays with the broker; a later client with the same id takes
    /// it over).
    async fn disconnect(self) {
        let _ = self.client.disconnect().await;
        self.driver.abort();
    }
}

/// Readings stored for `engines` (from GET /engines/{id}; 0 for an engine not seen yet).
async fn stored_total(server: &Server, engines: &[String]) -> u64 {
    let mut total = 0;
    for engine in engines {
        let body: Value = match reqwest::get(server.url(&format!("/engines/{engine}"))).await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        total += body["readings"].as_u64().unwrap_or(0);
    }
    total
}

/// Cycle `cycle` of a 200-cycle life as one MQTT reading payload.
fn reading(cycle: u64) -> Value {
    let mut r = reading_json(cycle as usize - 1, 200);
    r["cycle"] = json!(cycle);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readings_in_predictions_and_alerts_out() {
    let Some(broker) = Broker::start().await else {
        return;
    };
    let prefix = "ta";
    let probe = Probe::connect(
        broker.port,
        "ta-probe",
        true,
        &["ta/engines/+/rul", "ta/alerts"],
    )
    .await;
    // Every engine's first prediction is below 1000 cycles: one alert per engine.
    let server = Server::start(&broker, prefix, |c| {
        c.fleet.alert_rul_below = 1000.0;
        c.fleet.alert_critical_below = 0.0;
        c.fleet.alert_clear_above = 2000.0;
    })
    .await;
    let engines = ["a-1", "a-2"];
    let cycles = 15u64;
    for cycle in 1..=cycles {
        for engine in engines {
            probe.reading(prefix, engine, cycle).await;
        }
    }
    wait_for!(
        "a prediction per reading",
        engines
            .iter()
            .all(|e| probe.received_on(&format!("ta/engines/{e}/rul")).len() as u64 == cycles)
    );
    for engine in engines {
        assert_eq!(
            server.stored_cycles(engine).await,
            (1..=cycles).collect::<Vec<_>>()
        );
        let rest = server.get(&format!("/engines/{engine}/predictions")).await;
        let published = probe.received_on(&format!("ta/engines/{engine}/rul"));
        assert_eq!(
            Value::Array(published),
            rest["predictions"],
            "MQTT predictions of {engine} differ from REST"
        );
    }
    wait_for!(
        "an alert per engine",
        probe.received_on("ta/alerts").len() >= engines.len()
    );
    let alerts = server.get("/alerts").await;
    for published in probe.received_on("ta/alerts") {
        let stored = alerts["alerts"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["alert_id"] == published["alert_id"]))
            .unwrap_or_else(|| panic!("alert {published} not in GET /alerts: {alerts}"));
        for key in [
            "engine_id",
            "severity",
            "threshold",
            "opened_cycle",
            "opened_lower",
            "opened_at",
        ] {
            assert_eq!(published[key], stored[key], "{key} of {published}");
        }
    }
    probe.disconnect().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_payloads_are_dead_lettered_and_good_ones_flow() {
    let Some(broker) = Broker::start().await else {
        return;
    };
    let prefix = "tb";
    let probe = Probe::connect(
        broker.port,
        "tb-probe",
        true,
        &["tb/engines/+/rul", "tb/dead-letter"],
    )
    .await;
    let server = Server::start(&broker, prefix, |_| {}).await;
    let good = "tb/engines/good/readings";
    let long_id = "x".repeat(200);
    let mut conflicting = reading(1);
    conflicting["s2"] = json!(1.0);
    let bad: Vec<(String, Vec<u8>, &str)> = vec![
        (good.into(), b"{not json".to_vec(), "malformed"),
        (good.into(), b"[1, 2]".to_vec(), "malformed"),
        (good.into(), vec![0xff, 0xfe, b'{'], "malformed"),
        (
            good.into(),
            br#"{"cycle": 2, "bogus": 1}"#.to_vec(),
            "malformed",
        ),
        (good.into(), br#"{"s2": 1.0}"#.to_vec(), "malformed"),
        (
            format!("tb/engines/{long_id}/readings"),
            reading(1).to_string().into_bytes(),
            "validation",
        ),
        (
            good.into(),
            br#"{"cycle": 2, "setting_1": 0.5}"#.to_vec(),
            "validation",
        ),
        // The model needs its sensors.
        (good.into(), br#"{"cycle": 2}"#.to_vec(), "validation"),
        (
            good.into(),
            conflicting.to_string().into_bytes(),
            "conflict",
        ),
    ];
    probe.reading(prefix, "good", 1).await;
    // The conflict case needs cycle 1 stored first: wait for its answer rather than assume arrival order.
    wait_for!(
        "the first good reading's prediction",
        probe.received_on("tb/engines/good/rul").len() == 1
    );
    for (k, (topic, payload, _)) in bad.iter().enumerate() {
        probe
            .publish(topic.clone(), payload.clone(), ("bad".into(), k as u64))
            .await;
    }
    probe.reading(prefix, "good", 2).await;
    probe.reading(prefix, "good", 3).await;
    wait_for!(
        "the good readings' predictions and every dead letter",
        probe.received_on("tb/engines/good/rul").len() == 3
            && probe.received_on("tb/dead-letter").len() == bad.len()
    );
    assert_eq!(server.stored_cycles("good").await, [1, 2, 3]);
    let letters = probe.received_on("tb/dead-letter");
    let mut kinds: Vec<String> = letters
        .iter()
        .map(|l| l["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    let mut expected: Vec<String> = bad.iter().map(|(_, _, k)| k.to_string()).collect();
    kinds.sort();
    expected.sort();
    assert_eq!(kinds, expected, "{letters:?}");
    for letter in &letters {
        assert!(
            letter["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{letter}"
        );
        let topic = letter["topic"].as_str().unwrap_or_default();
        assert!(bad.iter().any(|(t, _, _)| t == topic), "{letter}");
        assert!(letter["payload"].is_string(), "{letter}");
    }
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("rul_mqtt_messages_total{outcome=\"malformed\"}"),
        "{metrics}"
    );
    probe.disconnect().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_restart_mid_stream_loses_no_acknowledged_reading() {
    let Some(mut broker) = Broker::start().await else {
        return;
    };
    let prefix = "tc";
    // Persistent sessions: the publisher's unacknowledged publishes and the probe's dead letters survive.
    let publisher = Probe::connect(broker.port, "tc-publisher", false, &[]).await;
    let watcher = Probe::connect(broker.port, "tc-watcher", false, &["tc/dead-letter"]).await;
    let server = Server::start(&broker, prefix, |_| {}).await;
    let engines: Vec<String> = (1..=4).map(|i| format!("c-{i}")).collect();
    let cycles = 60u64;
    let order: Vec<(String, u64)> = (1..=cycles)
        .flat_map(|c| engines.iter().map(move |e| (e.clone(), c)))
        .collect();
    let (first, second) = order.split_at(order.len() / 2);
    for (engine, cycle) in first {
        publisher.reading(prefix, engine, *cycle).await;
    }
    wait_for!(
        "the server to be ingesting",
        stored_total(&server, &engines).await >= 20
    );
    let stored_at_stop = stored_total(&server, &engines).await;
    broker.stop();
    let acked_before_restart: BTreeSet<(String, u64)> = publisher.acked().into_iter().collect();
    for (engine, cycle) in second {
        publisher.reading(prefix, engine, *cycle).await;
    }
    broker.launch().await;
    wait_for!(
        "every reading acknowledged by the broker and stored",
        publisher.acked().len() == order.len()
            && stored_total(&server, &engines).await == order.len() as u64
    );
    let mut stored: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for engine in &engines {
        stored.insert(engine.clone(), server.stored_cycles(engine).await);
    }
    for (engine, cycle) in &acked_before_restart {
        assert!(
            stored[engine].contains(cycle),
            "{engine} cycle {cycle} was acknowledged by the broker before its restart but is not stored"
        );
    }
    for engine in &engines {
        assert_eq!(
            stored[engine],
            (1..=cycles).collect::<Vec<_>>(),
            "{engine}: lost, reordered or conflicting readings"
        );
    }
    assert!(
        watcher.received_on("tc/dead-letter").is_empty(),
        "redeliveries must be duplicates, not errors: {:?}",
        watcher.received_on("tc/dead-letter")
    );
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let mqtt_lines: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("rul_mqtt_"))
        .collect();
    eprintln!(
        "broker restart: {stored_at_stop} stored when the broker stopped, {} of {} acknowledged by it; after the \
         restart all {} stored once; {mqtt_lines:?}",
        acked_before_restart.len(),
        first.len(),
        order.len()
    );
    publisher.disconnect().await;
    watcher.disconnect().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redelivered_readings_are_acknowledged_as_duplicates() {
    let Some(broker) = Broker::start().await else {
        return;
    };
    let prefix = "td";
    let probe = Probe::connect(
        broker.port,
        "td-probe",
        true,
        &["td/engines/+/rul", "td/dead-letter"],
    )
    .await;
    let server = Server::start(&broker, prefix, |_| {}).await;
    for cycle in 1..=5 {
        probe.reading(prefix, "d", cycle).await;
    }
    wait_for!(
        "five predictions",
        probe.received_on("td/engines/d/rul").len() == 5
    );
    // Redeliveries: the same readings again, one by one and as a REST-style body, then a new cycle.
    for cycle in 3..=5 {
        probe.reading(prefix, "d", cycle).await;
    }
    let body = json!({ "readings": (1..=5).map(reading).collect::<Vec<_>>() });
    probe
        .publish(
            "td/engines/d/readings".into(),
            body.to_string().into_bytes(),
            ("d".into(), 0),
        )
        .await;
    probe.reading(prefix, "d", 6).await;
    wait_for!(
        "the new cycle's prediction",
        probe.received_on("td/engines/d/rul").len() >= 6
    );
    let published: Vec<u64> = probe
        .received_on("td/engines/d/rul")
        .iter()
        .filter_map(|p| p["cycle"].as_u64())
        .collect();
    assert_eq!(
        published,
        [1, 2, 3, 4, 5, 6],
        "one prediction per new reading"
    );
    assert_eq!(server.stored_cycles("d").await, [1, 2, 3, 4, 5, 6]);
    // Dead letters of this engine would have been published before the cycle-6 prediction.
    assert!(probe.received_on("td/dead-letter").is_empty());
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let duplicates = metrics
        .lines()
        .find(|l| l.starts_with("rul_mqtt_messages_total{outcome=\"duplicate\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(duplicates >= 4.0, "duplicates counted: {duplicates}");
    probe.disconnect().await;
    server.shutdown().await;
}
