//! The [`Fleet`] handle: per-engine ingestion (ordering, duplicates, conflicts, gaps), tracked predictions,
//! persistence before acknowledgement, and the fleet's read side.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, RwLock};

use rul_core::{PredictError, PredictRequest, Prediction, Predictor, check_engine_id};
use rul_data::{InputProfile, Reading};
use tokio::sync::broadcast;

use crate::alerts::{Alert, AlertPolicy};
use crate::drift::{DEFAULT_FLEET_WINDOW, FleetDrift};
use crate::error::FleetError;
use crate::ownership::Ownership;
use crate::quality::{Quality, QualityPolicy};
use crate::state::{EngineSlot, EngineState};
use crate::store::{Store, WriteBatch};
use crate::tracker::{Tracker, TrackerConfig};
use crate::types::{
    CycleReading, EngineMeta, EngineView, Gap, IngestReport, MAX_READINGS_PER_MESSAGE,
    TrackedPrediction, now_ms, rfc3339_ms,
};

/// Readings kept in memory per engine at least (the plan's window); more when the model's window is longer.
const MIN_KEEP: usize = 50;

mod alerting;
mod inputs;
mod queries;
mod slots;

use slots::SlotUse;

pub use inputs::{DriftReport, EngineDrift};

/// Settings of the fleet.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// RUL tracking filter.
    pub tracker: TrackerConfig,
    /// When engines raise, escalate and clear alerts.
    pub alerts: AlertPolicy,
    /// When a reading is flagged as suspicious.
    pub quality: QualityPolicy,
    /// The serving model's training profile (`inputs.json`); without it no reading is flagged and no
    /// drift is scored.
    pub profile: Option<Arc<InputProfile>>,
    /// Readings of the whole fleet the fleet-wide drift looks at.
    pub drift_window: usize,
    /// Which engines this replica owns (all, unless FLEET_REPLICAS > 1).
    pub ownership: Ownership,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            tracker: TrackerConfig::default(),
            alerts: AlertPolicy::default(),
            quality: QualityPolicy::default(),
            profile: None,
            drift_window: DEFAULT_FLEET_WINDOW,
            ownership: Ownership::default(),
        }
    }
}

/// Cheap-to-clone handle over the fleet's state, the store and the prediction core.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

struct Inner {
    predictor: Predictor,
    store: Store,
    config: FleetConfig,
    engines: RwLock<HashMap<String, Arc<EngineSlot>>>,
    tracker: RwLock<Option<(Arc<str>, Arc<Tracker>)>>,
    events: broadcast::Sender<FleetEvent>,
    counts: alerting::EngineCounts,
    fleet_drift: Mutex<FleetDrift>,
    drifting: AtomicI64,
}

/// A change of the fleet, for live views (dashboards, MQTT publishers).
#[derive(Clone, Debug)]
pub enum FleetEvent {
    /// An engine was registered or took new readings; its view after the change.
    Updated(Box<EngineView>),
    /// An engine and its history were removed.
    Deleted(String),
    /// An alert opened, escalated, was acknowledged or cleared; the alert after the change.
    Alert(Box<Alert>),
}

/// Events buffered per subscriber before a slow one starts missing them (it is told how many it missed).
const EVENT_BUFFER: usize = 4096;

/// A message's readings sorted into what is new and what was already stored.
struct Classified {
    new: Vec<(usize, CycleReading)>,
    duplicates: usize,
}

impl Fleet {
    /// Opens the fleet over `store`, rebuilding every engine's state from it (start-up after any stop,
    /// `kill -9` included).
    pub async fn open(
        predictor: Predictor,
        store: Store,
        config: FleetConfig,
    ) -> Result<Fleet, FleetError> {
        config.tracker.validate().map_err(FleetError::Store)?;
        config.alerts.validate().map_err(FleetError::Store)?;
        config.quality.validate().map_err(FleetError::Store)?;
        config.ownership.validate().map_err(FleetError::Store)?;
        let keep = keep_for(predictor.serving_model().map_or(0, |m| m.window));
        let mut stored = store.load_all(keep).await?;
        stored.retain(|id, _| config.ownership.owns(id));
        let mut active: HashMap<String, Alert> = store
            .active_alerts()
            .await?
            .into_iter()
            .map(|a| (a.engine_id.clone(), a))
            .collect();
        let engines = stored
            .into_iter()
            .map(|(id, e)| {
                let missing =
                    missing_cycles(e.first_cycle, e.recent.last().map(|r| r.cycle), e.count);
                let recent: VecDeque<CycleReading> = e.recent.into();
                let drift = config
                    .profile
                    .as_deref()
                    .and_then(|p| inputs::engine_drift(p, &recent));
                let state = EngineState {
                    meta: e.meta,
                    created_ms: e.created_ms,
                    persisted: true,
                    first_cycle: e.first_cycle,
                    count: e.count,
                    missing,
                    recent,
                    latest: e.latest,
                    alert: active.remove(&id),
                    drift,
                };
                (id, Arc::new(EngineSlot::new(state)))
            })
            .collect::<HashMap<_, _>>();
        tracing::info!(
            engines = engines.len(),
            backend = store.backend(),
            "fleet state rebuilt from the store"
        );
        metrics::gauge!("rul_fleet_engines").set(engines.len() as f64);
        let counts = alerting::EngineCounts::default();
        counts.recount(
            engines
                .values()
                .map(|slot| slot.state().alert.as_ref().map(|a| a.severity)),
        );
        let drifting = engines
            .values()
            .filter(|slot| slot.state().drift.as_ref().is_some_and(|d| d.drifting))
            .count() as i64;
        metrics::gauge!("rul_engines_drifting").set(drifting as f64);
        let inputs = config.profile.as_ref().map_or(0, |p| p.sensors.len());
        let fleet = Fleet {
            inner: Arc::new(Inner {
                fleet_drift: Mutex::new(FleetDrift::new(config.drift_window, inputs)),
                drifting: AtomicI64::new(drifting),
                predictor,
                store,
                config,
                engines: RwLock::new(engines),
                tracker: RwLock::new(None),
                events: broadcast::channel(EVENT_BUFFER).0,
                counts,
            }),
        };
        Ok(fleet)
    }

    /// Live changes of the fleet from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<FleetEvent> {
        self.inner.events.subscribe()
    }

    /// Publishes an engine's view to live subscribers (skipped when nobody listens).
    fn publish(&self, engine_id: &str, slot: &EngineSlot) {
        if self.inner.events.receiver_count() > 0 {
            let view = slot.state().view(engine_id);
            let _ = self.inner.events.send(FleetEvent::Updated(Box::new(view)));
        }
    }

    /// The store (for history queries and retention).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Ingests one or more readings of one engine, each with its cycle number. Returns once the new readings
    /// and their predictions are committed. All-or-nothing: a conflicting or invalid reading rejects the
    /// message and stores nothing. Messages for the same engine are applied in call order.
    pub fn ingest(
        &self,
        engine_id: String,
        readings: Vec<(u64, Reading)>,
    ) -> impl Future<Output = Result<IngestReport, FleetError>> + Send + use<> {
        let checked = check_message(&engine_id, &readings)
            .and_then(|c| self.check_owner(&engine_id).map(|()| c));
        // Queued now, synchronously, so that call order is turn order.
        let queued = checked.is_ok().then(|| {
            let held = SlotUse::take(self, &engine_id);
            let turn = held.slot().queue();
            (held, turn)
        });
        let this = self.clone();
        async move {
            let converted = checked?;
            let Some((mut held, turn)) = queued else {
                return Err(FleetError::Store("engine slot missing".into()));
            };
            let _turn = held.settle(turn).await;
            let result = this.ingest_turn(&engine_id, held.slot(), converted).await;
            metrics::counter!("rul_fleet_ingest_messages_total", "outcome" => match &result {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            })
            .increment(1);
            result
        }
    }

    async fn ingest_turn(
        &self,
        engine_id: &str,
        slot: &EngineSlot,
        readings: Vec<CycleReading>,
    ) -> Result<IngestReport, FleetError> {
        let state = slot.state().clone();
        let classified = self.classify(engine_id, &state, readings).await?;
        let mut report = IngestReport {
            engine_id: engine_id.to_string(),
            accepted: classified.new.len(),
            duplicates: classified.duplicates,
            gaps: Vec::new(),
            padded: false,
            unknown_condition: false,
            prediction: state.latest.clone(),
        };
        if classified.new.is_empty() {
            return Ok(report);
        }
        let (model, tracker) = self.tracker()?;
        let profile = self.profile_for(&model.sensors);
        let keep = keep_for(model.window);
        // Exactly `keep` slots, allocated once: growing by doubling would leave up to twice that per engine.
        let mut recent = VecDeque::with_capacity(keep);
        recent.extend(state.recent.iter().copied());
        let mut requests = Vec::with_capacity(classified.new.len());
        let mut qualities = Vec::with_capacity(classified.new.len());
        let mut last = state.last_cycle();
        for (_, r) in &classified.new {
            if let Some(prev) = last
                && r.cycle > prev + 1
            {
                report.gaps.push(Gap {
                    after_cycle: prev,
                    missing: r.cycle - prev - 1,
                });
            }
            last = Some(r.cycle);
            qualities.push(
                profile
                    .as_deref()
                    .map(|p| self.inspect(p, &recent, r))
                    .unwrap_or_default(),
            );
            // Trim before pushing so the deque never outgrows its `keep` slots.
            while recent.len() >= keep {
                recent.pop_front();
            }
            recent.push_back(*r);
            let skip = recent.len().saturating_sub(model.window.max(1));
            requests.push(PredictRequest {
                engine_id: engine_id.to_string(),
                readings: recent
                    .iter()
                    .skip(skip)
                    .map(|r| r.to_reading_for(&model.sensors))
                    .collect(),
            });
        }
        let answers = self.inner.predictor.predict_many_uncached(requests).await;
        let now = now_ms();
        let mut batch = WriteBatch::default();
        let mut track = state.latest.as_ref().map(|p| p.track);
        let mut predictions = Vec::with_capacity(answers.len());
        for (((index, reading), answer), quality) in
            classified.new.iter().zip(answers).zip(qualities)
        {
            let p = answer.map_err(|e| at_reading(e, *index))?;
            let t = tracker.update(track, reading.cycle, p.rul);
            track = Some(t.state);
            report.padded = p.padded;
            report.unknown_condition = p.unknown_condition;
            predictions.push(tracked(
                engine_id,
                reading.cycle,
                &p,
                &t,
                now,
                model.calibration.level(),
                quality,
            ));
            batch.readings.push((engine_id.to_string(), *reading, now));
        }
        if !state.persisted {
            batch
                .new_engines
                .push((engine_id.to_string(), state.meta.clone(), state.created_ms));
        }
        batch.predictions = predictions.iter().cloned().map(|p| (p, now)).collect();
        let policy = self.inner.config.alerts.for_engine(&state.meta.labels);
        let mut alert = state.alert.clone();
        let mut raised = Vec::new();
        for p in &predictions {
            if let Some((step, change)) =
                crate::alerts::apply(&policy, engine_id, alert.as_ref(), p.cycle, p.lower, now)
            {
                alert = change.state.is_active().then(|| change.clone());
                batch.alerts.push(change);
                raised.push(step);
            }
        }
        let changes = batch.alerts.clone();
        self.inner.store.commit(batch).await?;
        if let Some(p) = &profile {
            let qualities = predictions.iter().map(|p| &p.quality);
            self.record_inputs(p, classified.new.iter().map(|(_, r)| r).zip(qualities));
        }

        let drift = profile
            .as_deref()
            .and_then(|p| inputs::engine_drift(p, &recent));
        let added_missing: u64 = report.gaps.iter().map(|g| g.missing).sum();
        let latest = predictions.pop();
        let mut s = slot.state();
        s.persisted = true;
        s.first_cycle = s
            .first_cycle
            .or(classified.new.first().map(|(_, r)| r.cycle));
        s.count += classified.new.len() as u64;
        s.missing += added_missing;
        s.recent = recent;
        s.latest.clone_from(&latest);
        let severity = |a: &Option<Alert>| a.as_ref().map(|a| a.severity);
        if severity(&s.alert) != severity(&alert) {
            self.inner
                .counts
                .shift(Ok(severity(&s.alert)), Ok(severity(&alert)));
        }
        s.alert = alert;
        let was_drifting = s.drift.as_ref().is_some_and(|d| d.drifting);
        let drifting = drift.as_ref().is_some_and(|d| d.drifting);
        s.drift = drift;
        drop(s);
        self.drift_changed(was_drifting, drifting);

        report.prediction = latest;
        metrics::counter!("rul_fleet_readings_total").increment(report.accepted as u64);
        self.publish(engine_id, slot);
        for step in raised {
            let severity = match step {
                crate::alerts::Transition::Open(s) => s.as_str(),
                crate::alerts::Transition::Escalate => "critical",
                _ => continue,
            };
            metrics::counter!("rul_alerts_total", "severity" => severity).increment(1);
        }
        self.alerted(changes);
        Ok(report)
    }

    /// Splits a message into new readings and redeliveries; a reading that contradicts the history is a
    /// conflict and rejects the whole message.
    async fn classify(
        &self,
        engine_id: &str,
        state: &EngineState,
        readings: Vec<CycleReading>,
    ) -> Result<Classified, FleetError> {
        let mut new: Vec<(usize, CycleReading)> = Vec::new();
        let mut duplicates = 0;
        let mut last = state.last_cycle();
        for (index, r) in readings.into_iter().enumerate() {
            if last.is_none_or(|l| r.cycle > l) {
                last = Some(r.cycle);
                new.push((index, r));
                continue;
            }
            let known = match new.iter().rev().find(|(_, n)| n.cycle == r.cycle) {
                Some((_, n)) => Some(*n),
                None => match state.recent.iter().find(|s| s.cycle == r.cycle) {
                    Some(s) => Some(*s),
                    None if state.first_cycle.is_some_and(|f| r.cycle >= f) => {
                        self.inner.store.reading_at(engine_id, r.cycle).await?
                    }
                    None => None,
                },
            };
            match known {
                Some(k) if k == r => duplicates += 1,
                Some(_) => {
                    return Err(FleetError::Conflict {
                        reading: index,
                        message: format!(
                            "reading {index}: cycle {} already has a different reading",
                            r.cycle
                        ),
                    });
                }
                None => {
                    return Err(FleetError::Conflict {
                        reading: index,
                        message: format!(
                            "reading {index}: cycle {} is before the last accepted cycle {}",
                            r.cycle,
                            last.unwrap_or_default()
                        ),
                    });
                }
            }
        }
        Ok(Classified { new, duplicates })
    }

    /// Registers an engine or replaces its metadata (`PUT /engines/{id}`); returns its view.
    pub async fn register(
        &self,
        engine_id: &str,
        meta: EngineMeta,
    ) -> Result<EngineView, FleetError> {
        check_engine_id(engine_id)?;
        self.check_owner(engine_id)?;
        meta.validate()?;
        let mut held = SlotUse::take(self, engine_id);
        let turn = held.slot().queue();
        let _turn = held.settle(turn).await;
        let slot = held.slot();
        let now = now_ms();
        let created = slot.state().created_ms;
        self.inner
            .store
            .commit(WriteBatch {
                meta_updates: vec![(engine_id.to_string(), meta.clone(), now)],
                ..Default::default()
            })
            .await?;
        let view = {
            let mut s = slot.state();
            s.meta = meta;
            s.persisted = true;
            s.created_ms = created;
            s.view(engine_id)
        };
        self.publish(engine_id, slot);
        Ok(view)
    }

    /// Removes an engine and its whole history.
    pub async fn delete(&self, engine_id: &str) -> Result<(), FleetError> {
        let Some(slot) = self.stored(engine_id) else {
            return Err(FleetError::NotFound);
        };
        let _turn = slot.queue().await;
        if slot.is_retired() {
            // A delete queued ahead of this one removed it.
            return Err(FleetError::NotFound);
        }
        let (severity, drifting) = {
            let s = slot.state();
            (
                s.alert.as_ref().map(|a| a.severity),
                s.drift.as_ref().is_some_and(|d| d.drifting),
            )
        };
        self.inner
            .store
            .commit(WriteBatch {
                deletes: vec![engine_id.to_string()],
                ..Default::default()
            })
            .await?;
        let mut engines = self
            .inner
            .engines
            .write()
            .unwrap_or_else(|p| p.into_inner());
        engines.remove(engine_id);
        slot.retire();
        metrics::gauge!("rul_fleet_engines").set(engines.len() as f64);
        drop(engines);
        self.inner.counts.shift(Ok(severity), Err(()));
        self.drift_changed(drifting, false);
        let _ = self
            .inner
            .events
            .send(FleetEvent::Deleted(engine_id.to_string()));
        Ok(())
    }

    /// Refuses an engine another replica owns.
    fn check_owner(&self, engine_id: &str) -> Result<(), FleetError> {
        let own = self.inner.config.ownership;
        if own.owns(engine_id) {
            return Ok(());
        }
        Err(FleetError::NotOwner {
            owner: crate::ownership::replica_of(engine_id, own.replicas),
            replicas: own.replicas,
        })
    }

    /// The tracker for the serving model (rebuilt when a reload changes the version).
    fn tracker(&self) -> Result<(rul_core::ServingModel, Arc<Tracker>), FleetError> {
        let model = self
            .inner
            .predictor
            .serving_model()
            .ok_or_else(|| PredictError::NotReady("no model loaded".into()))?;
        if let Ok(guard) = self.inner.tracker.read()
            && let Some((version, tracker)) = guard.as_ref()
            && *version == model.version
        {
            return Ok((model, tracker.clone()));
        }
        let tracker = Arc::new(Tracker::new(
            self.inner.config.tracker,
            model.calibration.clone(),
            model.ceiling,
        ));
        if let Ok(mut guard) = self.inner.tracker.write() {
            *guard = Some((model.version.clone(), tracker.clone()));
        }
        Ok((model, tracker))
    }
}

/// Readings kept in memory for a model window.
fn keep_for(window: usize) -> usize {
    window.max(MIN_KEEP)
}

/// Cycles missing between the first and last stored readings.
fn missing_cycles(first: Option<u64>, last: Option<u64>, count: u64) -> u64 {
    match (first, last) {
        (Some(f), Some(l)) if l >= f => (l - f + 1).saturating_sub(count),
        _ => 0,
    }
}

/// Checks a message before it takes a turn: engine id, reading count, cycle numbers, values.
fn check_message(
    engine_id: &str,
    readings: &[(u64, Reading)],
) -> Result<Vec<CycleReading>, FleetError> {
    check_engine_id(engine_id)?;
    if readings.is_empty() || readings.len() > MAX_READINGS_PER_MESSAGE {
        return Err(FleetError::invalid(
            None,
            "readings",
            format!(
                "expected 1 to {MAX_READINGS_PER_MESSAGE} readings, got {}",
                readings.len()
            ),
        ));
    }
    readings
        .iter()
        .enumerate()
        .map(|(i, (cycle, r))| {
            if *cycle == 0 || *cycle > i64::MAX as u64 {
                return Err(FleetError::invalid(
                    Some(i),
                    "cycle",
                    "must be a positive integer",
                ));
            }
            CycleReading::from_reading(*cycle, r, i)
        })
        .collect()
}

/// Re-points a prediction error's reading indices at the message's reading `index`.
fn at_reading(err: PredictError, index: usize) -> FleetError {
    match err {
        PredictError::Validation(mut v) => {
            for violation in &mut v.violations {
                violation.reading = Some(index);
            }
            FleetError::Predict(PredictError::Validation(v))
        }
        other => FleetError::Predict(other),
    }
}

/// The stored/answered record of one cycle.
fn tracked(
    engine_id: &str,
    cycle: u64,
    p: &Prediction,
    t: &crate::tracker::Tracked,
    now: i64,
    level: f64,
    quality: Quality,
) -> TrackedPrediction {
    TrackedPrediction {
        engine_id: engine_id.to_string(),
        cycle,
        rul: t.rul,
        lower: t.lower,
        upper: t.upper,
        level,
        rul_model: p.rul,
        model_lower: p.lower,
        model_upper: p.upper,
        confidence: p.confidence,
        model_version: p.model_version.clone(),
        at: rfc3339_ms(now),
        track: t.state,
        quality,
    }
}
