//! The write side of the fleet: one message of one engine, checked, sorted into new readings and
//! redeliveries, predicted and tracked, committed before it is acknowledged.

use std::collections::VecDeque;

use rul_core::{PredictError, PredictRequest, Prediction, check_engine_id};
use rul_data::Reading;

use super::slots::SlotUse;
use super::{Fleet, inputs, keep_for};
use crate::alerts::Alert;
use crate::error::FleetError;
use crate::quality::Quality;
use crate::state::{EngineSlot, EngineState};
use crate::store::WriteBatch;
use crate::types::{
    CycleReading, Gap, IngestReport, MAX_READINGS_PER_MESSAGE, TrackedPrediction, now_ms,
    rfc3339_ms,
};

/// A message's readings sorted into what is new and what was already stored.
struct Classified {
    new: Vec<(usize, CycleReading)>,
    duplicates: usize,
}

impl Fleet {
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
        let keep = keep_for(model.window, profile.as_deref(), &self.inner.config.quality);
        // Exactly `keep` slots, allocated once: growing by doubling would leave up to twice that per engine.
        let mut recent = VecDeque::with_capacity(keep);
        if state.recent.len() < keep && state.count > state.recent.len() as u64 {
            // The model needs more than memory holds (a reload to a longer window): read them back.
            recent.extend(self.inner.store.last_readings(engine_id, keep).await?);
        } else {
            let skip = state.recent.len().saturating_sub(keep);
            recent.extend(state.recent.iter().skip(skip).copied());
        }
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
