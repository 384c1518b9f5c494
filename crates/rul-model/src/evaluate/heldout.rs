//! Evaluation on the held-out run-to-failure engines of the training file: the validation and
//! calibration engines of the artifact's own split, reproduced from the training configuration
//! stored in model.json (never the engines the network was fitted on). These engines run to
//! failure, so every prognostic metric is defined over whole lives and maintenance policies can be
//! replayed to the end.
//!
//! The calibration engines fitted the intervals and the confidence map, so interval and
//! confidence figures are reported on the validation engines alone; prognostic metrics and
//! policies use both sets (policies also on validation alone).

use rul_data::{Engine, SubsetData};
use serde::{Deserialize, Serialize};

use super::policy::{PolicyReport, TARGET_FAILURE_RATE, evaluate_policies};
use super::prognostic::{EngineTrack, PrognosticSummary, summarise};
use super::reliability::{
    BucketStats, ReliabilityBin, expected_calibration_error, interval_buckets, reliability,
};
use super::{EvalReport, IntervalStats, coverage_of, evaluate, predict_clamped, tracks_of};
use crate::artifact::Artifact;
use crate::error::{ArtifactError, TrainError};
use crate::pipeline::{prepare, windows};

/// Why an evaluation could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Prediction or input failure.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// The artifact's engine split cannot be reproduced from this training file.
    #[error("reproducing the held-out engine split: {0}")]
    Split(String),
    /// Refitting the calibration failed.
    #[error(transparent)]
    Calibration(#[from] crate::calibration::CalibrationError),
}

impl From<TrainError> for EvalError {
    fn from(e: TrainError) -> Self {
        EvalError::Split(e.to_string())
    }
}

/// Everything measured on the held-out run-to-failure engines.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HeldOutReport {
    /// Validation engines (units).
    pub validation_units: Vec<u32>,
    /// Calibration engines (units).
    pub calibration_units: Vec<u32>,
    /// Prognostic metrics over both sets against raw truth, per engine included.
    pub prognostics: PrognosticSummary,
    /// The same against truth capped at the ceiling.
    pub prognostics_capped: PrognosticSummary,
    /// Interval coverage and width over every validation window (raw truth).
    pub validation_intervals: IntervalStats,
    /// The same by true-RUL bucket.
    pub validation_buckets: Vec<BucketStats>,
    /// Reliability of `confidence` over every validation window (raw truth).
    pub validation_reliability: Vec<ReliabilityBin>,
    /// Its expected calibration error.
    pub validation_ece: f64,
    /// Maintenance policies replayed on both sets.
    pub policy: PolicyReport,
    /// The same on the validation engines alone (intervals never fitted on them).
    pub policy_validation: PolicyReport,
}

impl HeldOutReport {
    /// Headline figures for metrics.json's `summary` (all prefixed `heldout_`).
    pub fn summary(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<f64>| {
            if let Some(v) = v {
                m.insert(format!("heldout_{k}"), v.into());
            }
        };
        let p = &self.prognostics;
        for row in &p.lambdas {
            let pct = (row.lambda * 100.0).round();
            put(&format!("alpha_lambda_{pct}"), Some(row.alpha_lambda));
            put(&format!("ra_{pct}"), Some(row.mean_ra));
        }
        put("ph_mean", p.mean_ph);
        put("ph_stable_mean", p.mean_ph_stable);
        put("cra_mean", p.mean_cra);
        put("convergence_mean", p.mean_convergence);
        put("validation_ece", Some(self.validation_ece));
        put(
            "policy_lower_t",
            self.policy.recommended_lower.as_ref().map(|r| r.threshold),
        );
        put(
            "policy_lower_given_away",
            self.policy
                .recommended_lower
                .as_ref()
                .map(|r| r.mean_given_away),
        );
        put(
            "policy_point_t",
            self.policy.recommended_point.as_ref().map(|r| r.threshold),
        );
        put(
            "policy_fixed_k",
            self.policy.recommended_fixed.as_ref().map(|r| r.threshold),
        );
        put(
            "policy_fixed_given_away",
            self.policy
                .recommended_fixed
                .as_ref()
                .map(|r| r.mean_given_away),
        );
        m
    }
}

/// The artifact's held-out engines rebuilt from `train` (the full training file of its subset):
/// `(validation, calibration)`. Refuses when the reproduced split disagrees with the units
/// recorded in metrics.json.
pub fn heldout_engines(
    artifact: &Artifact,
    train: &[Engine],
) -> Result<(Vec<Engine>, Vec<Engine>), EvalError> {
    let prep = prepare(&artifact.spec().training, train)?;
    let recorded = &artifact.metrics()["training"]["engines"];
    for (name, engines) in [
        ("validation", &prep.val_engines),
        ("calibration", &prep.cal_engines),
    ] {
        let units: Vec<u32> = engines.iter().map(|e| e.unit).collect();
        if let Some(list) = recorded[name].as_array() {
            let want: Vec<u64> = list.iter().filter_map(|v| v.as_u64()).collect();
            let got: Vec<u64> = units.iter().map(|&u| u64::from(u)).collect();
            if want != got {
                return Err(EvalError::Split(format!(
                    "{name} engines {got:?} differ from metrics.json's {want:?}"
                )));
            }
        }
    }
    Ok((prep.val_engines, prep.cal_engines))
}

/// Tracks of the held-out engines (validation first) with raw truth.
pub fn heldout_tracks(
    artifact: &Artifact,
    val: &[Engine],
    cal: &[Engine],
) -> Result<Vec<EngineTrack>, EvalError> {
    let mut tracks = Vec::new();
    for (set, engines) in [("validation", val), ("calibration", cal)] {
        let w = windows(artifact.preprocessor(), engines, f64::INFINITY);
        let pred = predict_clamped(artifact, &w)?;
        let eols: Vec<f64> = engines.iter().map(|e| f64::from(e.last_cycle())).collect();
        tracks.extend(tracks_of(
            artifact.calibration(),
            engines,
            &eols,
            &w,
            &pred,
            set,
        ));
    }
    Ok(tracks)
}

/// Evaluates the held-out engines of `train`; returns the report and the tracks (for plots).
pub fn evaluate_heldout(
    artifact: &Artifact,
    train: &[Engine],
) -> Result<(HeldOutReport, Vec<EngineTrack>), EvalError> {
    let (val, cal) = heldout_engines(artifact, train)?;
    let tracks = heldout_tracks(artifact, &val, &cal)?;
    let calib = artifact.calibration();
    let ceiling = artifact.preprocessor().config().ceiling;
    let (mut pred, mut truth) = (Vec::new(), Vec::new());
    for t in tracks.iter().filter(|t| t.set == "validation") {
        for k in 0..t.cycle.len() {
            pred.push(t.pred[k]);
            truth.push(t.truth(k, f64::INFINITY));
        }
    }
    let rel = reliability(calib, &pred, &truth);
    let val_tracks: Vec<EngineTrack> = tracks
        .iter()
        .filter(|t| t.set == "validation")
        .cloned()
        .collect();
    let report = HeldOutReport {
        validation_units: val.iter().map(|e| e.unit).collect(),
        calibration_units: cal.iter().map(|e| e.unit).collect(),
        prognostics: summarise(&tracks, None, true),
        prognostics_capped: summarise(&tracks, Some(ceiling), false),
        validation_intervals: coverage_of(calib, &pred, &truth),
        validation_buckets: interval_buckets(calib, &pred, &truth),
        validation_ece: expected_calibration_error(&rel),
        validation_reliability: rel,
        policy: evaluate_policies(&tracks, TARGET_FAILURE_RATE),
        policy_validation: evaluate_policies(&val_tracks, TARGET_FAILURE_RATE),
    };
    Ok((report, tracks))
}

/// Evaluates the test set and, when `data` is the artifact's own subset with its training file,
/// the held-out engines too; returns the report and the held-out tracks (empty without them).
pub fn evaluate_subset(
    artifact: &Artifact,
    data: &SubsetData,
) -> Result<(EvalReport, Vec<EngineTrack>), EvalError> {
    let mut report = evaluate(artifact, data.subset, &data.test, &data.test_rul)?;
    if data.subset != artifact.spec().subset || data.train.is_empty() {
        return Ok((report, Vec::new()));
    }
    let (heldout, tracks) = evaluate_heldout(artifact, &data.train)?;
    report.heldout = Some(heldout);
    Ok((report, tracks))
}
