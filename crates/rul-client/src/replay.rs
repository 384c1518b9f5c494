//! `rul replay`: streams C-MAPSS engines into a running service one cycle at a time, interleaved across engines
//! as a fleet would report them (cycle 1 of every engine, then cycle 2, ...), over gRPC (one StreamReadings
//! stream), REST (POST /engines/{id}/readings, one engine's readings in order) or MQTT (QoS 1 publishes to
//! `{prefix}/engines/{id}/readings`, see [`crate::mqtt`]), optionally paced.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rul_data::Engine;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::ClientError;
use crate::pb;

/// Where readings go.
#[derive(Clone, Debug)]
pub enum Target {
    /// gRPC address (HOST:PORT), one bidirectional stream.
    Grpc(String),
    /// REST base URL (http://HOST:PORT).
    Rest(String),
    /// An MQTT broker the service subscribes to; the REST base URL, if given, is asked for the final ranking.
    Mqtt(crate::mqtt::MqttTarget, Option<String>),
}

/// What to replay and how fast.
#[derive(Clone, Debug)]
pub struct ReplayConfig {
    /// Engines to replay, in order; ids are `{id_prefix}{unit:03}`.
    pub engines: Vec<Engine>,
    /// Engine id prefix, e.g. "FD001-test-".
    pub id_prefix: String,
    /// Destination.
    pub target: Target,
    /// Readings per second across the fleet; None = as fast as the service acknowledges.
    pub rate: Option<f64>,
    /// Print progress to stderr.
    pub progress: bool,
}

/// One engine of the final ranking.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Ranked {
    /// Engine.
    pub engine_id: String,
    /// Tracked RUL and its interval.
    pub rul: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// The model's own last estimate.
    pub rul_model: f64,
    /// Last cycle.
    pub cycle: u64,
}

/// What a replay did.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplayReport {
    /// Readings sent.
    pub sent: u64,
    /// Readings acknowledged as newly stored.
    pub accepted: u64,
    /// Readings acknowledged as redeliveries.
    pub duplicates: u64,
    /// Readings refused (each with an error answer).
    pub errors: u64,
    /// The first error message, if any.
    pub first_error: Option<String>,
    /// Seconds from the first send to the last acknowledgement.
    pub seconds: f64,
    /// Acknowledged readings per second.
    pub readings_per_second: f64,
    /// The fleet's most urgent engines after the replay (lowest tracked lower bound first), up to 10.
    pub ranking: Vec<Ranked>,
    /// Over MQTT: what the broker acknowledged and what the service published back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<crate::mqtt::MqttReplayStats>,
}

/// Shared counters of a running replay.
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    accepted: AtomicU64,
    duplicates: AtomicU64,
    errors: AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Counters {
    fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.error_message(message);
    }

    fn error_message(&self, message: String) {
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(message);
    }
}

/// One reading on its way: (engine index, cycle index).
pub(crate) type Item = (usize, usize);

/// The fleet's arrival order: every engine's first cycle, then every engine's second, and so on.
pub fn interleaved(engines: &[Engine]) -> Vec<Item> {
    let longest = engines.iter().map(|e| e.cycles.len()).max().unwrap_or(0);
    (0..longest)
        .flat_map(|c| {
            engines
                .iter()
                .enumerate()
                .filter(move |(_, e)| c < e.cycles.len())
                .map(move |(i, _)| (i, c))
        })
        .collect()
}

/// Replays every reading and returns the counts and the fleet's final ranking.
pub async fn replay(config: ReplayConfig) -> Result<ReplayReport, ClientError> {
    let order = interleaved(&config.engines);
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let progress = config
        .progress
        .then(|| spawn_progress(counters.clone(), order.len() as u64));
    let mut mqtt = None;
    let ranking = match &config.target {
        Target::Grpc(addr) => {
            let mut client = crate::grpc_client(addr).await?;
            replay_grpc(&mut client, &config, &order, &counters).await?;
            ranking_grpc(&mut client).await?
        }
        Target::Rest(base) => {
            let http = reqwest::Client::new();
            replay_rest(&http, base, &config, &order, &counters).await?;
            ranking_rest(&http, base).await?
        }
        Target::Mqtt(target, rest) => {
            let (stats, first_error) =
                crate::mqtt::replay_mqtt(target, &config, &order, &counters.sent).await?;
            // Over MQTT a new reading is answered by its prediction and a refused one by its dead letter.
            counters
                .accepted
                .store(stats.predictions, Ordering::Relaxed);
            counters.errors.store(stats.dead_letters, Ordering::Relaxed);
            if let Some(e) = first_error {
                counters.error_message(e);
            }
            mqtt = Some(stats);
            match rest {
                Some(base) => ranking_rest(&reqwest::Client::new(), base)
                    .await
                    .unwrap_or_default(),
                None => Vec::new(),
            }
        }
    };
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    let (seconds, acked) = match &mqtt {
        // Readings the broker acknowledged, over the time to the last acknowledgement or prediction.
        Some(stats) => (stats.seconds, stats.broker_acked),
        None => (
            started.elapsed().as_secs_f64(),
            counters.accepted.load(Ordering::Relaxed) + counters.duplicates.load(Ordering::Relaxed),
        ),
    };
    let first_error = counters
        .first_error
        .lock()
        .map(|f| f.clone())
        .unwrap_or_default();
    Ok(ReplayReport {
        sent: counters.sent.load(Ordering::Relaxed),
        accepted: counters.accepted.load(Ordering::Relaxed),
        duplicates: counters.duplicates.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
        first_error,
        seconds,
        readings_per_second: acked as f64 / seconds.max(1e-9),
        ranking,
        mqtt,
    })
}

/// Waits until item `k` of a replay that started at `started` is due at `rate` readings/s (None: at once).
pub(crate) async fn pace(started: Instant, k: usize, rate: Option<f64>) {
    if let Some(rate) = rate.filter(|r| *r > 0.0) {
        let due = started + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
    }
}

async fn replay_grpc(
    client: &mut crate::Client,
    config: &ReplayConfig,
    order: &[Item],
    counters: &Counters,
) -> Result<(), ClientError> {
    let (tx, rx) = mpsc::channel::<pb::ReadingMessage>(1024);
    let messages: Vec<pb::ReadingMessage> = order
        .iter()
        .map(|&(e, c)| reading_message(&config.id_prefix, &config.engines[e], c))
        .collect();
    let rate = config.rate;
    let sender = tokio::spawn(async move {
        let started = Instant::now();
        for (k, message) in messages.into_iter().enumerate() {
            pace(started, k, rate).await;
            if tx.send(message).await.is_err() {
                return;
            }
        }
    });
    let mut acks = client
        .stream_readings(ReceiverStream::new(rx))
        .await
        .map_err(|s| ClientError::Status(s.code(), s.message().to_string()))?
        .into_inner();
    let expected = order.len() as u64;
    let mut received = 0u64;
    while received < expected {
        let Some(ack) = acks.next().await else { break };
        let ack = ack.map_err(|s| ClientError::Status(s.code(), s.message().to_string()))?;
        received += 1;
        counters.sent.store(received, Ordering::Relaxed);
        match ack.result {
            Some(pb::reading_ack::Result::Error(e)) => counters.error(format!(
                "{} cycle {}: {}",
                ack.engine_id, ack.cycle, e.message
            )),
            _ if ack.duplicate => {
                counters.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                counters.accepted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    sender.abort();
    if received < expected {
        return Err(ClientError::Protocol(format!(
            "the stream ended after {received} of {expected} acknowledgements"
        )));
    }
    Ok(())
}

async fn replay_rest(
    http: &reqwest::Client,
    base: &str,
    config: &ReplayConfig,
    order: &[Item],
    counters: &Arc<Counters>,
) -> Result<(), ClientError> {
    // One task per engine posts its readings in order; the dispatcher paces the fleet as a whole.
    let mut lanes = HashMap::new();
    let mut tasks = Vec::new();
    for (index, engine) in config.engines.iter().enumerate() {
        let (tx, mut rx) = mpsc::channel::<serde_json::Value>(1);
        lanes.insert(index, tx);
        let url = format!(
            "{}/engines/{}/readings",
            base.trim_end_matches('/'),
            encode_path(&engine_id(&config.id_prefix, engine))
        );
        let (http, counters) = (http.clone(), counters.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(reading) = rx.recv().await {
                counters.sent.fetch_add(1, Ordering::Relaxed);
                let body = serde_json::json!({ "readings": [reading] });
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => match r.json::<serde_json::Value>().await {
                        Ok(v) if v["duplicates"].as_u64().unwrap_or(0) > 0 => {
                            counters.duplicates.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {
                            counters.accepted.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => counters.error(format!("{url}: unreadable answer: {e}")),
                    },
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        counters.error(format!("{url}: {status}: {text}"));
                    }
                    Err(e) => counters.error(format!("{url}: {e}")),
                }
            }
        }));
    }
    let started = Instant::now();
    for (k, &(e, c)) in order.iter().enumerate() {
        pace(started, k, config.rate).await;
        let Some(lane) = lanes.get(&e) else { break };
        if lane
            .send(reading_json(&config.engines[e], c))
            .await
            .is_err()
        {
            break;
        }
    }
    drop(lanes);
    for task in tasks {
        task.await
            .map_err(|e| ClientError::Protocol(format!("replay task failed: {e}")))?;
    }
    Ok(())
}

async fn ranking_grpc(client: &mut crate::Client) -> Result<Vec<Ranked>, ClientError> {
    let page = client
        .list_engines(pb::ListEnginesRequest {
            limit: 10,
            ..Default::default()
        })
        .await
        .map_err(|s| ClientError::Status(s.code(), s.message().to_string()))?
        .into_inner();
    Ok(page
        .engines
        .iter()
        .filter_map(|e| {
            e.latest.as_ref().map(|p| Ranked {
                engine_id: e.engine_id.clone(),
                rul: p.rul,
                lower: p.lower,
                upper: p.upper,
                rul_model: p.rul_model,
                cycle: p.cycle,
            })
        })
        .collect())
}

async fn ranking_rest(http: &reqwest::Client, base: &str) -> Result<Vec<Ranked>, ClientError> {
    let url = format!("{}/engines?limit=10", base.trim_end_matches('/'));
    let page: serde_json::Value = http
        .get(&url)
        .send()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?
        .json()
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    let engines = page["engines"].as_array().cloned().unwrap_or_default();
    Ok(engines
        .iter()
        .filter_map(|e| {
            let p = e.get("latest").filter(|p| p.is_object())?;
            Some(Ranked {
                engine_id: e["engine_id"].as_str()?.to_string(),
                rul: p["rul"].as_f64()?,
                lower: p["lower"].as_f64()?,
                upper: p["upper"].as_f64()?,
                rul_model: p["rul_model"].as_f64()?,
                cycle: p["cycle"].as_u64()?,
            })
        })
        .collect())
}

/// The service-side id of a C-MAPSS engine.
pub fn engine_id(prefix: &str, engine: &Engine) -> String {
    format!("{prefix}{:03}", engine.unit)
}

/// Cycle `c` (an index) of `engine` as a StreamReadings message.
pub fn reading_message(prefix: &str, engine: &Engine, c: usize) -> pb::ReadingMessage {
    let cycle = &engine.cycles[c];
    let s = cycle.sensors;
    pb::ReadingMessage {
        engine_id: engine_id(prefix, engine),
        cycle: u64::from(cycle.cycle),
        reading: Some(pb::SensorReading {
            s1: Some(s[0]),
            s2: Some(s[1]),
            s3: Some(s[2]),
            s4: Some(s[3]),
            s5: Some(s[4]),
            s6: Some(s[5]),
            s7: Some(s[6]),
            s8: Some(s[7]),
            s9: Some(s[8]),
            s10: Some(s[9]),
            s11: Some(s[10]),
            s12: Some(s[11]),
            s13: Some(s[12]),
            s14: Some(s[13]),
            s15: Some(s[14]),
            s16: Some(s[15]),
            s17: Some(s[16]),
            s18: Some(s[17]),
            s19: Some(s[18]),
            s20: Some(s[19]),
            s21: Some(s[20]),
            setting_1: Some(cycle.settings[0]),
            setting_2: Some(cycle.settings[1]),
            setting_3: Some(cycle.settings[2]),
        }),
    }
}

/// One reading as REST JSON: `cycle`, every sensor by name and the three settings.
pub fn reading_json(engine: &Engine, c: usize) -> serde_json::Value {
    let cycle = &engine.cycles[c];
    let mut map = serde_json::Map::new();
    map.insert("cycle".into(), cycle.cycle.into());
    for (name, v) in rul_data::SENSOR_NAMES.iter().zip(cycle.sensors) {
        map.insert((*name).into(), v.into());
    }
    for (name, v) in rul_data::SETTING_NAMES.iter().zip(cycle.settings) {
        map.insert((*name).into(), v.into());
    }
    serde_json::Value::Object(map)
}

/// Percent-encodes an engine id for a URL path segment.
fn encode_path(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn spawn_progress(counters: Arc<Counters>, total: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            let done = counters.sent.load(Ordering::Relaxed);
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            let width = 30usize;
            let filled = (done * width as u64).checked_div(total).unwrap_or(0) as usize;
            eprint!(
                "\r[{}{}] {done}/{total} readings, {rate:.0}/s, {} errors   ",
                "#".repeat(filled.min(width)),
                " ".repeat(width - filled.min(width)),
                counters.errors.load(Ordering::Relaxed)
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rul_data::Cycle;

    fn engine(unit: u32, n: u32) -> Engine {
        Engine {
            unit,
            cycles: (1..=n)
                .map(|cycle| Cycle {
                    unit,
                    cycle,
                    settings: [0.0; 3],
                    sensors: [1.0; 21],
                })
                .collect(),
        }
    }

    #[test]
    fn interleaves_engines_cycle_by_cycle() {
        let order = interleaved(&[engine(1, 3), engine(2, 1), engine(3, 2)]);
        assert_eq!(order, vec![(0, 0), (1, 0), (2, 0), (0, 1), (2, 1), (0, 2)]);
    }

    #[test]
    fn ids_and_paths() {
        assert_eq!(engine_id("FD001-test-", &engine(7, 1)), "FD001-test-007");
        assert_eq!(encode_path("a b/<x>"), "a%20b%2F%3Cx%3E");
        let json = reading_json(&engine(1, 2), 1);
        assert_eq!(json["cycle"], 2);
        assert_eq!(json["s21"], 1.0);
        assert_eq!(json["setting_3"], 0.0);
    }
}
