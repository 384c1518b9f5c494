//! Evaluation on the official test set: one prediction per engine at its last cycle against the
//! RUL file (raw truth is the headline, truth capped at the ceiling for comparison), the same
//! over every test cycle, interval coverage and width, and a reliability table for `confidence`.
//! Predictions are clamped at 0, as served.

use std::collections::HashMap;

use rul_data::{Engine, Subset, Windows, test_labels};
use serde::{Deserialize, Serialize};

use crate::artifact::Artifact;
use crate::calibration::Calibration;
use crate::error::ArtifactError;
use crate::metrics::PointMetrics;

mod heldout;
pub mod policy;
pub mod prognostic;
pub mod reliability;

pub use heldout::{
    EvalError, HeldOutReport, evaluate_heldout, evaluate_subset, heldout_engines, heldout_tracks,
};
pub use policy::{PolicyReport, PolicyRow};
pub use prognostic::{EngineTrack, PrognosticSummary, summarise};
pub use reliability::{
    BucketStats, RELIABILITY_BINS, RUL_BUCKETS, ReliabilityBin, expected_calibration_error,
    interval_buckets, reliability, reliability_of,
};

/// Engines whose full trajectories are kept for plots.
pub const TRAJECTORY_ENGINES: usize = 6;

/// Metrics against raw and against capped truth.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MetricsPair {
    /// Against the RUL file's truth (uncapped).
    pub raw: PointMetrics,
    /// Against truth capped at the training ceiling.
    pub capped: PointMetrics,
}

/// Interval coverage and width.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IntervalStats {
    /// Nominal level.
    pub level: f64,
    /// Share of predictions whose interval holds the raw truth.
    pub coverage: f64,
    /// Mean `upper - lower` in cycles.
    pub mean_width: f64,
    /// Number of predictions.
    pub count: usize,
}

/// One test engine's last-cycle prediction.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EnginePrediction {
    /// Unit number.
    pub unit: u32,
    /// Cycles observed.
    pub cycles: usize,
    /// True RUL from the RUL file.
    pub truth: f64,
    /// Prediction (clamped at 0).
    pub pred: f64,
    /// Interval lower bound.
    pub lower: f64,
    /// Interval upper bound.
    pub upper: f64,
    /// Confidence.
    pub confidence: f64,
}

/// Predicted vs true RUL over every window of one test engine.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// Unit number.
    pub unit: u32,
    /// Cycle number at each window's end.
    pub cycle: Vec<u32>,
    /// Raw true RUL.
    pub truth: Vec<f64>,
    /// Prediction.
    pub pred: Vec<f64>,
    /// Interval lower bounds.
    pub lower: Vec<f64>,
    /// Interval upper bounds.
    pub upper: Vec<f64>,
}

/// Everything `rul evaluate` reports.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EvalReport {
    /// Model version evaluated.
    pub version: String,
    /// Subset of the test set.
    pub subset: Subset,
    /// Training ceiling used for the capped metrics.
    pub ceiling: f64,
    /// Test engines.
    pub engines: usize,
    /// One prediction per engine at its last cycle (the official metric).
    pub last_cycle: MetricsPair,
    /// Every window of every test engine.
    pub all_cycles: MetricsPair,
    /// Intervals at the last cycle.
    pub intervals: IntervalStats,
    /// Intervals over every window.
    pub intervals_all_cycles: IntervalStats,
    /// Confidence reliability at the last cycle.
    pub reliability: Vec<ReliabilityBin>,
    /// Confidence reliability over every window.
    pub reliability_all_cycles: Vec<ReliabilityBin>,
    /// Expected calibration error of `confidence` at the last cycle.
    #[serde(default)]
    pub ece: f64,
    /// Expected calibration error of `confidence` over every window.
    #[serde(default)]
    pub ece_all_cycles: f64,
    /// Interval coverage and width by true-RUL bucket at the last cycle.
    #[serde(default)]
    pub interval_buckets: Vec<BucketStats>,
    /// Interval coverage and width by true-RUL bucket over every window.
    #[serde(default)]
    pub interval_buckets_all_cycles: Vec<BucketStats>,
    /// Prognostic metrics on the (truncated) test trajectories where defined, raw truth.
    #[serde(default)]
    pub prognostics: Option<PrognosticSummary>,
    /// The same against truth capped at the ceiling.
    #[serde(default)]
    pub prognostics_capped: Option<PrognosticSummary>,
    /// Prognostic metrics, intervals, confidence and maintenance policies on the held-out
    /// run-to-failure engines (None unless evaluated with the training file).
    #[serde(default)]
    pub heldout: Option<HeldOutReport>,
    /// Per-engine last-cycle predictions.
    pub predictions: Vec<EnginePrediction>,
    /// Full trajectories of a few engines (longest series first).
    pub trajectories: Vec<Trajectory>,
}

impl EvalReport {
    /// Headline numbers for metrics.json's `summary` and the model card.
    pub fn summary(&self) -> serde_json::Value {
        let mut s = serde_json::json!({
            "test_rmse": self.last_cycle.raw.rmse,
            "test_mae": self.last_cycle.raw.mae,
            "test_score": self.last_cycle.raw.score,
            "test_rmse_capped": self.last_cycle.capped.rmse,
            "test_rmse_all_cycles": self.all_cycles.raw.rmse,
            "interval_coverage": self.intervals.coverage,
            "interval_mean_width": self.intervals.mean_width,
            "test_engines": self.engines,
        });
        if let Some(obj) = s.as_object_mut() {
            obj.insert("test_ece".into(), self.ece.into());
            obj.insert("test_ece_all_cycles".into(), self.ece_all_cycles.into());
            if let Some(h) = &self.heldout {
                obj.extend(h.summary());
            }
        }
        s
    }
}

/// Evaluates an artifact on test engines with their final RUL values (in the same order).
pub fn evaluate(
    artifact: &Artifact,
    subset: Subset,
    test: &[Engine],
    test_rul: &[f64],
) -> Result<EvalReport, ArtifactError> {
    if test.len() != test_rul.len() || test.is_empty() {
        return Err(ArtifactError::Input(format!(
            "{} test engines but {} RUL values",
            test.len(),
            test_rul.len()
        )));
    }
    let pre = artifact.preprocessor();
    let ceiling = pre.config().ceiling;
    let labels: Vec<Vec<f64>> = test
        .iter()
        .zip(test_rul)
        .map(|(e, &r)| test_labels(e, r))
        .collect();
    let last = pre.last_windows(test, &labels);
    let all = pre.windows(test, &labels);
    let last_pred = predict_clamped(artifact, &last)?;
    let all_pred = predict_clamped(artifact, &all)?;
    let last_truth: Vec<f64> = last.targets.iter().map(|&t| f64::from(t)).collect();
    let all_truth: Vec<f64> = all.targets.iter().map(|&t| f64::from(t)).collect();

    let cal = artifact.calibration();
    // A test engine fails its final RUL after its last observed cycle.
    let eols: Vec<f64> = test
        .iter()
        .zip(test_rul)
        .map(|(e, &r)| f64::from(e.last_cycle()) + r)
        .collect();
    let tracks = tracks_of(cal, test, &eols, &all, &all_pred, "test");
    let predictions = last
        .engine_of
        .iter()
        .zip(&last_pred)
        .zip(&last_truth)
        .map(|((&unit, &pred), &truth)| {
            let (lower, upper) = cal.interval(pred);
            EnginePrediction {
                unit,
                cycles: test
                    .iter()
                    .find(|e| e.unit == unit)
                    .map_or(0, |e| e.cycles.len()),
                truth,
                pred,
                lower,
                upper,
                confidence: cal.confidence(pred),
            }
        })
        .collect();

    let rel_last = reliability(cal, &last_pred, &last_truth);
    let rel_all = reliability(cal, &all_pred, &all_truth);
    Ok(EvalReport {
        version: artifact.version().to_string(),
        subset,
        ceiling,
        engines: test.len(),
        last_cycle: pair(&last_pred, &last_truth, ceiling),
        all_cycles: pair(&all_pred, &all_truth, ceiling),
        intervals: interval_stats(artifact, &last_pred, &last_truth),
        intervals_all_cycles: interval_stats(artifact, &all_pred, &all_truth),
        ece: expected_calibration_error(&rel_last),
        ece_all_cycles: expected_calibration_error(&rel_all),
        reliability: rel_last,
        reliability_all_cycles: rel_all,
        interval_buckets: interval_buckets(cal, &last_pred, &last_truth),
        interval_buckets_all_cycles: interval_buckets(cal, &all_pred, &all_truth),
        prognostics: Some(summarise(&tracks, None, false)),
        prognostics_capped: Some(summarise(&tracks, Some(ceiling), false)),
        heldout: None,
        predictions,
        trajectories: trajectories(artifact, test, &all, &all_pred),
    })
}

/// Predictions for every window, clamped at 0, as f64.
pub fn predict_clamped(artifact: &Artifact, w: &Windows) -> Result<Vec<f64>, ArtifactError> {
    Ok(artifact
        .predict(&w.inputs, w.count)?
        .into_iter()
        .map(|p| f64::from(p).max(0.0))
        .collect())
}

fn pair(pred: &[f64], truth: &[f64], ceiling: f64) -> MetricsPair {
    let capped: Vec<f64> = truth.iter().map(|t| t.min(ceiling)).collect();
    MetricsPair {
        raw: PointMetrics::compute(pred, truth),
        capped: PointMetrics::compute(pred, &capped),
    }
}

/// Coverage and mean width of the artifact's intervals against `truth`.
pub fn interval_stats(artifact: &Artifact, pred: &[f64], truth: &[f64]) -> IntervalStats {
    coverage_of(artifact.calibration(), pred, truth)
}

/// Coverage and mean width of `cal`'s intervals against `truth`.
pub fn coverage_of(cal: &Calibration, pred: &[f64], truth: &[f64]) -> IntervalStats {
    let n = pred.len().min(truth.len());
    let mut hits = 0usize;
    let mut width = 0.0;
    for (&p, &t) in pred.iter().zip(truth) {
        let (lo, hi) = cal.interval(p);
        if t >= lo && t <= hi {
            hits += 1;
        }
        width += hi - lo;
    }
    IntervalStats {
        level: cal.level(),
        coverage: if n > 0 { hits as f64 / n as f64 } else { 0.0 },
        mean_width: if n > 0 { width / n as f64 } else { 0.0 },
        count: n,
    }
}

/// Per-engine tracks from every window's prediction (windows of one engine end at its last
/// cycles, in order); `eol[i]` is engine `i`'s end-of-life cycle.
pub(crate) fn tracks_of(
    cal: &Calibration,
    engines: &[Engine],
    eol: &[f64],
    all: &Windows,
    all_pred: &[f64],
    set: &str,
) -> Vec<EngineTrack> {
    let mut by_unit: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, &u) in all.engine_of.iter().enumerate() {
        by_unit.entry(u).or_default().push(i);
    }
    engines
        .iter()
        .zip(eol)
        .filter_map(|(engine, &eol)| {
            let idx = by_unit.get(&engine.unit)?;
            let first = engine.cycles.len().saturating_sub(idx.len());
            let mut t = EngineTrack {
                unit: engine.unit,
                set: set.to_string(),
                eol,
                cycle: Vec::with_capacity(idx.len()),
                pred: Vec::with_capacity(idx.len()),
                lower: Vec::with_capacity(idx.len()),
                upper: Vec::with_capacity(idx.len()),
            };
            for (k, &i) in idx.iter().enumerate() {
                let (Some(c), Some(&p)) = (engine.cycles.get(first + k), all_pred.get(i)) else {
                    continue;
                };
                let (lo, hi) = cal.interval(p);
                t.cycle.push(f64::from(c.cycle));
                t.pred.push(p);
                t.lower.push(lo);
                t.upper.push(hi);
            }
            (!t.cycle.is_empty()).then_some(t)
        })
        .collect()
}

/// Trajectories of the longest test engines, from every window's prediction.
fn trajectories(
    artifact: &Artifact,
    test: &[Engine],
    all: &Windows,
    all_pred: &[f64],
) -> Vec<Trajectory> {
    let cal = artifact.calibration();
    let mut order: Vec<&Engine> = test.iter().filter(|e| !e.cycles.is_empty()).collect();
    order.sort_by(|a, b| {
        b.cycles
            .len()
            .cmp(&a.cycles.len())
            .then(a.unit.cmp(&b.unit))
    });
    order
        .into_iter()
        .take(TRAJECTORY_ENGINES)
        .map(|engine| {
            let idx: Vec<usize> = all
                .engine_of
                .iter()
                .enumerate()
                .filter(|(_, u)| **u == engine.unit)
                .map(|(i, _)| i)
                .collect();
            // Windows of one engine end at its last cycles, in order.
            let n = engine.cycles.len();
            let first = n.saturating_sub(idx.len());
            let mut t = Trajectory {
                unit: engine.unit,
                cycle: Vec::new(),
                truth: Vec::new(),
                pred: Vec::new(),
                lower: Vec::new(),
                upper: Vec::new(),
            };
            for (k, &i) in idx.iter().enumerate() {
                let p = all_pred[i];
                let (lo, hi) = cal.interval(p);
                t.cycle
                    .push(engine.cycles.get(first + k).map_or(0, |c| c.cycle));
                t.truth.push(f64::from(all.targets[i]));
                t.pred.push(p);
                t.lower.push(lo);
                t.upper.push(hi);
            }
            t
        })
        .collect()
}
