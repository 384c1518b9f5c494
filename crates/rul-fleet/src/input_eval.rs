//! Measuring the data-quality flags and the drift score on whole engines, as the fleet would see them cycle
//! by cycle: false-alarm rates on clean engines, and detection of faults injected from each engine's
//! midpoint (`rul profile` prints these figures).

use std::collections::{BTreeMap, VecDeque};

use rul_data::profile::positional;
use rul_data::{Bound, Engine, InputProfile};
use serde::Serialize;

use crate::quality::{FlagKind, QualityPolicy, assess};
use crate::types::CycleReading;

/// A fault injected into one input from an engine's midpoint on.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    /// The input reads `sigmas` training standard deviations higher (a calibration offset).
    Offset { input: usize, sigmas: f64 },
    /// The input keeps its midpoint value (a frozen sensor).
    Stuck { input: usize },
    /// The input steps up by `sigmas` standard deviations once and stays there.
    Jump { input: usize, sigmas: f64 },
}

/// What the flags and the drift score said about a set of engines.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InputReport {
    pub engines: usize,
    /// Readings judged (from the midpoint on when a fault is injected, else all).
    pub readings: usize,
    /// Of those, readings the service would refuse outright: an input outside the preprocessor's plausibility
    /// bounds (training range widened by half of it on each side).
    pub refused_readings: usize,
    /// Engines whose drift score crossed the threshold (after the fault's onset).
    pub drift_engines: usize,
    /// Readings after which the engine counted as drifting.
    pub drift_readings: usize,
    /// Median cycles from the onset to the first drift verdict, over engines that got one.
    pub drift_median_delay: Option<f64>,
    /// Per flag kind: engines with at least one such flag (after the onset).
    pub flag_engines: BTreeMap<&'static str, usize>,
    /// Per flag kind: readings with such a flag (after the onset).
    pub flag_readings: BTreeMap<&'static str, usize>,
}

/// Replays `engines` through the quality checks and the drift score, with `fault` injected if given.
pub fn evaluate(
    profile: &InputProfile,
    policy: &QualityPolicy,
    bounds: &[Bound],
    engines: &[Engine],
    fault: Option<Fault>,
) -> InputReport {
    let mut report = InputReport {
        engines: engines.len(),
        ..Default::default()
    };
    let mut delays = Vec::new();
    for engine in engines {
        let onset = if fault.is_some() {
            engine.cycles.len() / 2
        } else {
            0
        };
        let mut history: VecDeque<CycleReading> = VecDeque::new();
        let mut z: Vec<Vec<f64>> = Vec::new();
        let mut held = None;
        let mut first_drift = None;
        let mut kinds: BTreeMap<&'static str, bool> = BTreeMap::new();
        for (t, c) in engine.cycles.iter().enumerate() {
            let mut values = positional(c);
            if t >= onset
                && let Some(f) = fault
            {
                inject(profile, f, &mut values, &mut held);
            }
            let reading = CycleReading {
                cycle: u64::from(c.cycle),
                values,
            };
            let quality = assess(profile, policy, &history, &reading);
            z.extend(profile.standardise(&values));
            let drifting = profile.drift(&z).is_some_and(|d| d.drifting);
            if t >= onset {
                report.readings += 1;
                report.refused_readings += usize::from(
                    bounds
                        .iter()
                        .zip(profile.positions())
                        .any(|(b, &p)| values[p] < b.min || values[p] > b.max),
                );
                report.drift_readings += usize::from(drifting);
                if drifting && first_drift.is_none() {
                    first_drift = Some(t - onset);
                }
                let mut seen: Vec<FlagKind> = quality.flags.iter().map(|f| f.kind).collect();
                seen.dedup();
                for kind in seen {
                    *report.flag_readings.entry(kind.as_str()).or_default() += 1;
                    kinds.insert(kind.as_str(), true);
                }
            }
            history.push_back(reading);
            if history.len() > 64 {
                history.pop_front();
            }
        }
        if let Some(d) = first_drift {
            report.drift_engines += 1;
            delays.push(d as f64);
        }
        for kind in kinds.keys() {
            *report.flag_engines.entry(kind).or_default() += 1;
        }
    }
    delays.sort_by(f64::total_cmp);
    report.drift_median_delay = (!delays.is_empty()).then(|| delays[delays.len() / 2]);
    report
}

fn inject(profile: &InputProfile, fault: Fault, values: &mut [f64; 24], held: &mut Option<f64>) {
    let (input, shift) = match fault {
        Fault::Offset { input, sigmas } | Fault::Jump { input, sigmas } => (input, sigmas),
        Fault::Stuck { input } => (input, 0.0),
    };
    let Some(&pos) = profile.positions().get(input) else {
        return;
    };
    let std = profile
        .stats_for(values)
        .and_then(|s| s.get(input))
        .map_or(0.0, |s| s.std);
    match fault {
        Fault::Stuck { .. } => values[pos] = *held.get_or_insert(values[pos]),
        _ => values[pos] += shift * std,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rul_data::{Preprocessor, PreprocessorConfig};

    #[test]
    fn clean_training_engines_raise_nothing_and_injected_faults_are_found() {
        let engines = rul_data::synthetic::fleet(20, 13);
        let pre = Preprocessor::fit(PreprocessorConfig::default(), &engines).unwrap();
        let p = InputProfile::fit(&pre, &engines, "synthetic").unwrap();
        let policy = QualityPolicy::default();
        let clean = evaluate(&p, &policy, pre.sensor_bounds(), &engines, None);
        assert_eq!(clean.drift_engines, 0, "{clean:?}");
        assert!(clean.flag_engines.is_empty(), "{clean:?}");
        assert_eq!(clean.refused_readings, 0, "{clean:?}");

        let s11 = p.sensors.iter().position(|s| s == "s11").unwrap();
        let offset = evaluate(
            &p,
            &policy,
            pre.sensor_bounds(),
            &engines,
            Some(Fault::Offset {
                input: s11,
                sigmas: 8.0,
            }),
        );
        assert_eq!(offset.drift_engines, engines.len(), "{offset:?}");
        let stuck = evaluate(
            &p,
            &policy,
            pre.sensor_bounds(),
            &engines,
            Some(Fault::Stuck { input: s11 }),
        );
        assert_eq!(
            stuck.flag_engines.get("stuck"),
            Some(&engines.len()),
            "{stuck:?}"
        );
        let jump = evaluate(
            &p,
            &policy,
            pre.sensor_bounds(),
            &engines,
            Some(Fault::Jump {
                input: s11,
                sigmas: 8.0,
            }),
        );
        assert_eq!(
            jump.flag_engines.get("jump"),
            Some(&engines.len()),
            "{jump:?}"
        );
    }
}
