//! Evaluation on the official test set: one prediction per engine at its last cycle against the
//! RUL file (raw truth is the headline, truth capped at the ceiling for comparison), the same
//! over every test cycle, interval coverage and width, and a reliability table for `confidence`.
//! Predictions are clamped at 0, as served.

use rul_data::{Engine, Subset, Windows, test_labels};
use serde::{Deserialize, Serialize};

use crate::artifact::Artifact;
use crate::error::ArtifactError;
use crate::metrics::PointMetrics;

/// Engines whose full trajectories are kept for plots.
pub const TRAJECTORY_ENGINES: usize = 6;
/// Equal-width confidence bins of the reliability table.
pub const RELIABILITY_BINS: usize = 10;

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

/// One row of the reliability table: predicted confidence vs observed hit rate.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ReliabilityBin {
    /// Lower edge of the confidence bin.
    pub lo: f64,
    /// Upper edge.
    pub hi: f64,
    /// Predictions in the bin.
    pub count: usize,
    /// Mean predicted confidence.
    pub mean_confidence: f64,
    /// Observed share with |raw truth - pred| <= tolerance.
    pub observed: f64,
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
    /// Per-engine last-cycle predictions.
    pub predictions: Vec<EnginePrediction>,
    /// Full trajectories of a few engines (longest series first).
    pub trajectories: Vec<Trajectory>,
}

impl EvalReport {
    /// Headline numbers for metrics.json's `summary` and the model card.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "test_rmse": self.last_cycle.raw.rmse,
            "test_mae": self.last_cycle.raw.mae,
            "test_score": self.last_cycle.raw.score,
            "test_rmse_capped": self.last_cycle.capped.rmse,
            "test_rmse_all_cycles": self.all_cycles.raw.rmse,
            "interval_coverage": self.intervals.coverage,
            "interval_mean_width": self.intervals.mean_width,
            "test_engines": self.engines,
        })
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

    Ok(EvalReport {
        version: artifact.version().to_string(),
        subset,
        ceiling,
        engines: test.len(),
        last_cycle: pair(&last_pred, &last_truth, ceiling),
        all_cycles: pair(&all_pred, &all_truth, ceiling),
        intervals: interval_stats(artifact, &last_pred, &last_truth),
        intervals_all_cycles: interval_stats(artifact, &all_pred, &all_truth),
        reliability: reliability(artifact, &last_pred, &last_truth),
        reliability_all_cycles: reliability(artifact, &all_pred, &all_truth),
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
pub fn coverage_of(
    cal: &crate::calibration::Calibration,
    pred: &[f64],
    truth: &[f64],
) -> IntervalStats {
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

/// Reliability of `confidence` in equal-width bins (empty bins omitted).
pub fn reliability(artifact: &Artifact, pred: &[f64], truth: &[f64]) -> Vec<ReliabilityBin> {
    let cal = artifact.calibration();
    let tol = cal.tolerance();
    let mut sums = vec![(0usize, 0.0f64, 0usize); RELIABILITY_BINS];
    for (&p, &t) in pred.iter().zip(truth) {
        let c = cal.confidence(p);
        let k = ((c * RELIABILITY_BINS as f64) as usize).min(RELIABILITY_BINS - 1);
        sums[k].0 += 1;
        sums[k].1 += c;
        if (t - p).abs() <= tol {
            sums[k].2 += 1;
        }
    }
    sums.iter()
        .enumerate()
        .filter(|(_, s)| s.0 > 0)
        .map(|(k, s)| ReliabilityBin {
            lo: k as f64 / RELIABILITY_BINS as f64,
            hi: (k + 1) as f64 / RELIABILITY_BINS as f64,
            count: s.0,
            mean_confidence: s.1 / s.0 as f64,
            observed: s.2 as f64 / s.0 as f64,
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
