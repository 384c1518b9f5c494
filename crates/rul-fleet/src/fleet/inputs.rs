//! The fleet's input side: each accepted reading's data-quality flags, each engine's drift, and the
//! fleet-wide drift window, all against the serving model's training profile (`inputs.json`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rul_data::{Drift, InputProfile};
use serde::Serialize;

use crate::drift::SensorDrift;
use crate::quality::{Quality, assess};
use crate::types::CycleReading;

use super::Fleet;

/// Most drifting engines listed by [`Fleet::drift_report`].
const MAX_LISTED: usize = 1000;

/// The fleet's drift now (`GET /drift`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftReport {
    /// Readings of the fleet the per-input figures cover (the most recent, across engines).
    pub readings: usize,
    /// Per-engine score above which an engine counts as drifting (the largest seen on training engines).
    pub engine_threshold: f64,
    /// Readings one engine's score averages.
    pub engine_window: usize,
    /// Per input: PSI and mean shift of the fleet's recent readings, with the training statistics.
    pub sensors: Vec<SensorDrift>,
    /// Engines whose recent inputs left the training distribution, highest score first (at most 1000).
    pub engines: Vec<EngineDrift>,
    /// How many engines are drifting in all.
    pub drifting: usize,
}

/// One drifting engine.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineDrift {
    pub engine_id: String,
    #[serde(flatten)]
    pub drift: Drift,
}

impl Fleet {
    /// The training profile when it describes `sensors` (the serving model's inputs); another model's
    /// profile would flag nonsense, so it is ignored.
    pub(super) fn profile_for(&self, sensors: &[String]) -> Option<Arc<InputProfile>> {
        let profile = self.inner.config.profile.as_ref()?;
        (profile.sensors == sensors).then(|| profile.clone())
    }

    /// Quality flags of `reading` after `history`.
    pub(super) fn inspect(
        &self,
        profile: &InputProfile,
        history: &VecDeque<CycleReading>,
        reading: &CycleReading,
    ) -> Quality {
        assess(profile, &self.inner.config.quality, history, reading)
    }

    /// Counts the committed readings' flags, adds them to the fleet's drift window and publishes its per-input
    /// PSI as `rul_input_drift{sensor}` (refused readings never get here).
    pub(super) fn record_inputs<'a>(
        &self,
        profile: &InputProfile,
        committed: impl Iterator<Item = (&'a CycleReading, &'a Quality)>,
    ) {
        let sensors = {
            let mut window = self
                .inner
                .fleet_drift
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            for (reading, quality) in committed {
                for f in &quality.flags {
                    metrics::counter!("rul_quality_flags_total", "kind" => f.kind.as_str())
                        .increment(1);
                }
                if let Some(z) = profile.standardise(&reading.values) {
                    window.push(profile, z);
                }
            }
            window.sensors(profile)
        };
        for s in sensors {
            metrics::gauge!("rul_input_drift", "sensor" => s.sensor).set(s.psi);
        }
    }

    /// Records an engine's drift verdict changing (the `rul_engines_drifting` gauge).
    pub(super) fn drift_changed(&self, before: bool, after: bool) {
        let delta = i64::from(after) - i64::from(before);
        if delta != 0 {
            let now = self.inner.drifting.fetch_add(delta, Ordering::Relaxed) + delta;
            metrics::gauge!("rul_engines_drifting").set(now as f64);
        }
    }

    /// The fleet's drift, or None when the serving model has no training profile.
    pub fn drift_report(&self) -> Option<DriftReport> {
        let sensors = self.inner.predictor.serving_model()?.sensors;
        let profile = self.profile_for(&sensors)?;
        let (readings, per_sensor) = {
            let window = self
                .inner
                .fleet_drift
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            (window.len(), window.sensors(&profile))
        };
        let mut engines: Vec<EngineDrift> = {
            let all = self.inner.engines.read().unwrap_or_else(|p| p.into_inner());
            all.iter()
                .filter_map(|(id, slot)| {
                    let drift = slot.state().drift.clone()?;
                    drift.drifting.then(|| EngineDrift {
                        engine_id: id.clone(),
                        drift,
                    })
                })
                .collect()
        };
        engines.sort_by(|a, b| b.drift.score.total_cmp(&a.drift.score));
        let drifting = engines.len();
        engines.truncate(MAX_LISTED);
        Some(DriftReport {
            readings,
            engine_threshold: profile.drift_threshold,
            engine_window: profile.drift_window,
            sensors: per_sensor,
            engines,
            drifting,
        })
    }
}

/// An engine's drift over its recent readings (None without enough of them).
pub(super) fn engine_drift(
    profile: &InputProfile,
    recent: &VecDeque<CycleReading>,
) -> Option<Drift> {
    let skip = recent.len().saturating_sub(profile.drift_window);
    let z: Vec<Vec<f64>> = recent
        .iter()
        .skip(skip)
        .filter_map(|r| profile.standardise(&r.values))
        .collect();
    profile.drift(&z)
}
