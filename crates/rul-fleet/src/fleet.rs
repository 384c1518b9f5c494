//! The [`Fleet`] handle: per-engine ingestion (ordering, duplicates, conflicts, gaps), tracked predictions,
//! persistence before acknowledgement, and the fleet's read side.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, RwLock};

use rul_core::{PredictError, Predictor, check_engine_id};
use rul_data::InputProfile;
use tokio::sync::broadcast;

use crate::alerts::{Alert, AlertPolicy};
use crate::drift::{DEFAULT_FLEET_WINDOW, FleetDrift};
use crate::error::FleetError;
use crate::ownership::Ownership;
use crate::quality::QualityPolicy;
use crate::state::{EngineSlot, EngineState};
use crate::store::{Store, WriteBatch};
use crate::tracker::{Tracker, TrackerConfig};
use crate::types::{CycleReading, EngineMeta, EngineView, now_ms};

mod alerting;
mod ingest;
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
        let keep = keep_for(
            predictor.serving_model().map_or(0, |m| m.window),
            config.profile.as_deref(),
            &config.quality,
        );
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

/// Readings kept in memory per engine: what the model's window, the profile's drift window and the
/// quality check's longest stuck run need, no more (10,000 engines × 24 values × 8 bytes per reading). After a
/// reload to a model with a longer window, ingestion tops an engine's readings up from the store.
fn keep_for(window: usize, profile: Option<&InputProfile>, quality: &QualityPolicy) -> usize {
    let (drift, stuck) = profile.map_or((0, 0), |p| {
        let longest = p.longest_run.iter().copied().max().unwrap_or(0);
        (p.drift_window, longest + 1)
    });
    window
        .max(drift)
        .max(stuck)
        .max(quality.stuck_cycles)
        .max(1)
}

/// Cycles missing between the first and last stored readings.
fn missing_cycles(first: Option<u64>, last: Option<u64>, count: u64) -> u64 {
    match (first, last) {
        (Some(f), Some(l)) if l >= f => (l - f + 1).saturating_sub(count),
        _ => 0,
    }
}
