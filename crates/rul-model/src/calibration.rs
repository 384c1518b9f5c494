//! Split-conformal prediction intervals and a confidence score, both binned by predicted RUL.
//!
//! Residuals `r = truth - pred` of held-out calibration windows are grouped into equal-count bins
//! of predicted RUL. Each bin keeps its own lower and upper conformal quantiles at `alpha / 2`
//! (finite-sample rank `ceil((n + 1)(1 - alpha / 2))`), so the interval is asymmetric and its
//! width follows the prediction; `confidence(pred)` is the smoothed share of residuals with
//! `|r| <= tolerance`, interpolated between bin centres — unless the calibration carries an
//! isotonic [`ConfidenceMap`] (format 2), which then gives `confidence` instead.

use serde::{Deserialize, Serialize};

use crate::confidence::ConfidenceMap;

/// Version of the calibration JSON layout written when a [`ConfidenceMap`] is present (format 1
/// files, without one, still load and keep their binned confidence).
pub const CALIBRATION_FORMAT: u32 = 2;
/// Oldest layout this build reads.
pub const CALIBRATION_FORMAT_MIN: u32 = 1;

/// How calibration is fitted (part of the training configuration).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CalibrationConfig {
    /// Nominal interval coverage, e.g. 0.9.
    pub level: f64,
    /// `confidence` = P(|true - pred| <= tolerance), in cycles.
    pub tolerance: f64,
    /// Number of equal-count bins of predicted RUL (fewer when the calibration set is small).
    pub bins: usize,
    /// Minimum residuals per bin; with fewer, bins are merged (down to one global bin).
    pub min_bin: usize,
    /// Truth used for calibration residuals is the raw RUL capped at this horizon (cycles).
    /// Raw test truth at the last cycle can exceed the training ceiling, so calibrating against
    /// capped-at-ceiling labels would under-cover healthy engines; the horizon keeps very early
    /// cycles (raw RUL of 300+) from inflating the top bin beyond anything a test engine shows.
    /// `None` calibrates against the training labels (capped at the ceiling).
    pub truth_horizon: Option<f64>,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        Self {
            level: 0.9,
            tolerance: 15.0,
            bins: 8,
            min_bin: 100,
            truth_horizon: Some(200.0),
        }
    }
}

impl CalibrationConfig {
    /// Checks ranges so fitting cannot produce nonsense.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(format!(
                "calibration level must be in (0, 1), got {}",
                self.level
            ));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(format!("tolerance must be > 0, got {}", self.tolerance));
        }
        if self.bins == 0 || self.bins > 1000 {
            return Err(format!("bins must be in 1..=1000, got {}", self.bins));
        }
        if let Some(h) = self.truth_horizon
            && !(h.is_finite() && h > 0.0)
        {
            return Err(format!("truth_horizon must be > 0, got {h}"));
        }
        Ok(())
    }
}

/// One bin of predicted RUL with its conformal quantiles and confidence.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CalibrationBin {
    /// Smallest calibration prediction in the bin.
    pub pred_min: f64,
    /// Largest calibration prediction in the bin.
    pub pred_max: f64,
    /// Median calibration prediction (interpolation node for confidence).
    pub center: f64,
    /// Number of residuals.
    pub count: usize,
    /// Lower residual quantile (usually negative): lower bound = pred + q_lo.
    pub q_lo: f64,
    /// Upper residual quantile: upper bound = pred + q_hi.
    pub q_hi: f64,
    /// Smoothed share of residuals with |r| <= tolerance.
    pub confidence: f64,
}

/// Fitted conformal calibration (serialised as calibration.json).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Layout version.
    pub format_version: u32,
    /// Nominal coverage.
    pub level: f64,
    /// Confidence tolerance in cycles.
    pub tolerance: f64,
    /// Truth horizon used for the residuals (None: capped training labels).
    pub truth_horizon: Option<f64>,
    /// Bins ordered by predicted RUL; the first and last extend to -inf / +inf.
    pub bins: Vec<CalibrationBin>,
    /// The same quantiles over every residual.
    pub global: CalibrationBin,
    /// Isotonic confidence against raw truth (absent in format 1 files: binned confidence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_map: Option<ConfidenceMap>,
}

/// Why a calibration could not be fitted or loaded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalibrationError {
    /// Configuration out of range.
    #[error("invalid calibration config: {0}")]
    Config(String),
    /// Too few or non-finite residuals.
    #[error("cannot calibrate: {0}")]
    Data(String),
    /// A loaded calibration is inconsistent.
    #[error("invalid calibration: {0}")]
    Invalid(String),
}

impl Calibration {
    /// Fits bins and quantiles from calibration predictions and truths (same length, finite).
    pub fn fit(
        config: &CalibrationConfig,
        pred: &[f64],
        truth: &[f64],
    ) -> Result<Self, CalibrationError> {
        config.validate().map_err(CalibrationError::Config)?;
        if pred.len() != truth.len() {
            return Err(CalibrationError::Data(format!(
                "{} predictions but {} truths",
                pred.len(),
                truth.len()
            )));
        }
        let alpha = 1.0 - config.level;
        let min_needed = min_count(alpha);
        if pred.len() < min_needed {
            return Err(CalibrationError::Data(format!(
                "need at least {min_needed} residuals for level {}, got {}",
                config.level,
                pred.len()
            )));
        }
        if pred.iter().chain(truth).any(|v| !v.is_finite()) {
            return Err(CalibrationError::Data(
                "non-finite prediction or truth".into(),
            ));
        }
        let mut pairs: Vec<(f64, f64)> =
            pred.iter().zip(truth).map(|(&p, &t)| (p, t - p)).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = pairs.len();
        let min_bin = config.min_bin.max(min_needed);
        let n_bins = config.bins.min(n / min_bin).max(1);
        let mut bins = Vec::with_capacity(n_bins);
        for b in 0..n_bins {
            let start = b * n / n_bins;
            let end = (b + 1) * n / n_bins;
            bins.push(bin_of(&pairs[start..end], alpha, config.tolerance));
        }
        let global = bin_of(&pairs, alpha, config.tolerance);
        Ok(Self {
            format_version: CALIBRATION_FORMAT_MIN,
            level: config.level,
            tolerance: config.tolerance,
            truth_horizon: config.truth_horizon,
            bins,
            global,
            confidence_map: None,
        })
    }

    /// Replaces the binned confidence by an isotonic [`ConfidenceMap`] fitted on calibration
    /// predictions and their *raw* (uncapped) true RUL; the intervals are unchanged.
    pub fn with_confidence_map(
        mut self,
        pred: &[f64],
        raw_truth: &[f64],
    ) -> Result<Self, CalibrationError> {
        let hits = crate::confidence::hits(pred, raw_truth, self.tolerance);
        self.confidence_map = Some(ConfidenceMap::fit(pred, &hits)?);
        self.format_version = CALIBRATION_FORMAT;
        Ok(self)
    }

    /// Nominal coverage of `interval`.
    pub fn level(&self) -> f64 {
        self.level
    }

    /// Tolerance (cycles) behind `confidence`.
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }

    /// The bin whose prediction range holds `pred` (outer bins extend to infinity).
    fn bin(&self, pred: f64) -> &CalibrationBin {
        // Bins partition the sorted predictions; pick the first whose upper end reaches pred,
        // splitting gaps between bins at their midpoint.
        for (k, bin) in self.bins.iter().enumerate() {
            let upper = match self.bins.get(k + 1) {
                Some(next) => 0.5 * (bin.pred_max + next.pred_min),
                None => f64::INFINITY,
            };
            if pred <= upper {
                return bin;
            }
        }
        self.bins.last().unwrap_or(&self.global)
    }

    /// Conformal interval `[lower, upper]` around a prediction; `lower >= 0`.
    pub fn interval(&self, pred: f64) -> (f64, f64) {
        // A non-finite prediction is served as 0 (the clamp), so its interval is that of 0.
        let pred = if pred.is_finite() { pred } else { 0.0 };
        let bin = self.bin(pred);
        let lower = (pred + bin.q_lo).max(0.0);
        let upper = (pred + bin.q_hi).max(lower);
        (lower, upper)
    }

    /// Estimated probability that the true RUL is within `tolerance` of `pred` (0..1), linearly
    /// interpolated between bin centres.
    pub fn confidence(&self, pred: f64) -> f64 {
        if let Some(map) = &self.confidence_map {
            return map.confidence(pred);
        }
        let bins = &self.bins;
        let value = match bins.len() {
            0 => self.global.confidence,
            _ if !pred.is_finite() => 0.0,
            _ => {
                let first = &bins[0];
                let last = &bins[bins.len() - 1];
                if pred <= first.center {
                    first.confidence
                } else if pred >= last.center {
                    last.confidence
                } else {
                    let mut v = last.confidence;
                    for w in bins.windows(2) {
                        if pred <= w[1].center {
                            let span = w[1].center - w[0].center;
                            let t = if span > 0.0 {
                                (pred - w[0].center) / span
                            } else {
                                1.0
                            };
                            v = w[0].confidence + t * (w[1].confidence - w[0].confidence);
                            break;
                        }
                    }
                    v
                }
            }
        };
        value.clamp(0.0, 1.0)
    }

    /// Checks a loaded calibration for internal consistency.
    pub fn validate(&self) -> Result<(), CalibrationError> {
        let bad = |m: String| Err(CalibrationError::Invalid(m));
        if !(CALIBRATION_FORMAT_MIN..=CALIBRATION_FORMAT).contains(&self.format_version) {
            return bad(format!(
                "format_version {} (this build reads {CALIBRATION_FORMAT_MIN} to {CALIBRATION_FORMAT})",
                self.format_version
            ));
        }
        if let Some(map) = &self.confidence_map {
            map.validate()?;
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return bad(format!("level {} outside (0, 1)", self.level));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return bad(format!("tolerance {} must be > 0", self.tolerance));
        }
        if self.bins.is_empty() {
            return bad("no bins".into());
        }
        for (k, b) in self
            .bins
            .iter()
            .chain(std::iter::once(&self.global))
            .enumerate()
        {
            let finite = [
                b.pred_min,
                b.pred_max,
                b.center,
                b.q_lo,
                b.q_hi,
                b.confidence,
            ]
            .iter()
            .all(|v| v.is_finite());
            if !finite || b.q_lo > b.q_hi || b.pred_min > b.pred_max || b.count == 0 {
                return bad(format!("bin {k} is inconsistent: {b:?}"));
            }
            if !(0.0..=1.0).contains(&b.confidence) {
                return bad(format!(
                    "bin {k} confidence {} outside [0, 1]",
                    b.confidence
                ));
            }
        }
        if self
            .bins
            .windows(2)
            .any(|w| w[0].pred_max > w[1].pred_min || w[0].center > w[1].center)
        {
            return bad("bins are not ordered by predicted RUL".into());
        }
        Ok(())
    }
}

/// Smallest sample for which the upper rank `ceil((n+1)(1-alpha/2))` stays within `n`.
fn min_count(alpha: f64) -> usize {
    let half = (alpha / 2.0).max(1e-9);
    ((1.0 / half).ceil() as usize).max(2)
}

/// Conformal quantiles and confidence of a slice of `(pred, residual)` sorted by pred.
fn bin_of(pairs: &[(f64, f64)], alpha: f64, tolerance: f64) -> CalibrationBin {
    let n = pairs.len();
    let mut res: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    res.sort_by(|a, b| a.total_cmp(b));
    let half = alpha / 2.0;
    // Upper: the ceil((n+1)(1-half))-th smallest; lower: mirror rank from the bottom.
    let k_hi = (((n + 1) as f64) * (1.0 - half)).ceil() as usize;
    let k_hi = k_hi.clamp(1, n);
    let k_lo = n + 1 - k_hi;
    let within = pairs.iter().filter(|p| p.1.abs() <= tolerance).count();
    CalibrationBin {
        pred_min: pairs.first().map_or(0.0, |p| p.0),
        pred_max: pairs.last().map_or(0.0, |p| p.0),
        center: pairs.get(n / 2).map_or(0.0, |p| p.0),
        count: n,
        q_lo: res[k_lo - 1],
        q_hi: res[k_hi - 1],
        confidence: (within as f64 + 1.0) / (n as f64 + 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn normal(rng: &mut StdRng) -> f64 {
        let u1: f64 = rng.random::<f64>().max(1e-12);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Predictions uniform on 0..125, truth = pred + N(0, sigma(pred)) with sigma growing with
    /// the prediction: a fresh sample must be covered ~90% overall and within every bin.
    fn synthetic(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut pred = Vec::with_capacity(n);
        let mut truth = Vec::with_capacity(n);
        for _ in 0..n {
            let p: f64 = rng.random::<f64>() * 125.0;
            let sigma = 3.0 + 0.15 * p;
            pred.push(p);
            truth.push(p + sigma * normal(&mut rng));
        }
        (pred, truth)
    }

    #[test]
    fn conformal_intervals_reach_nominal_coverage_on_fresh_data() {
        let config = CalibrationConfig::default();
        let (p, t) = synthetic(4000, 1);
        let cal = Calibration::fit(&config, &p, &t).unwrap();
        cal.validate().unwrap();
        assert_eq!(cal.bins.len(), 8);
        let (p2, t2) = synthetic(20000, 2);
        let covered = p2
            .iter()
            .zip(&t2)
            .filter(|(p, t)| {
                let (lo, hi) = cal.interval(**p);
                // Lower bound is clamped at 0; compare against the unclamped truth.
                (**t >= lo || **t < 0.0) && **t <= hi
            })
            .count() as f64
            / p2.len() as f64;
        assert!((0.88..=0.93).contains(&covered), "coverage {covered}");
        // Widths follow the noise: the top bin is much wider than the bottom one.
        let w = |b: &CalibrationBin| b.q_hi - b.q_lo;
        assert!(w(&cal.bins[7]) > 2.0 * w(&cal.bins[0]));
        // Expected width for sigma: 2 * 1.645 * sigma at the bin centre.
        let sigma0 = 3.0 + 0.15 * cal.bins[0].center;
        assert!((w(&cal.bins[0]) / (2.0 * 1.645 * sigma0) - 1.0).abs() < 0.25);
    }

    #[test]
    fn confidence_decreases_with_noise_and_stays_in_range() {
        let (p, t) = synthetic(4000, 3);
        let cal = Calibration::fit(&CalibrationConfig::default(), &p, &t).unwrap();
        let low = cal.confidence(5.0);
        let high = cal.confidence(120.0);
        assert!(low > high, "{low} vs {high}");
        for x in [-10.0, 0.0, 60.0, 500.0, f64::NAN] {
            let c = cal.confidence(x);
            assert!((0.0..=1.0).contains(&c));
        }
        // Observed frequency near pred = 5 (sigma ~3.75): P(|N| <= 15/3.75) ~ 1.
        assert!(low > 0.95);
    }

    #[test]
    fn small_sets_fall_back_to_fewer_bins_and_tiny_sets_are_refused() {
        let (p, t) = synthetic(150, 4);
        let cal = Calibration::fit(&CalibrationConfig::default(), &p, &t).unwrap();
        assert_eq!(cal.bins.len(), 1);
        let err = Calibration::fit(&CalibrationConfig::default(), &p[..5], &t[..5]).unwrap_err();
        assert!(matches!(err, CalibrationError::Data(_)));
    }

    #[test]
    fn format_1_files_load_and_a_confidence_map_takes_over_confidence() {
        let (p, t) = synthetic(2000, 6);
        let cal = Calibration::fit(&CalibrationConfig::default(), &p, &t).unwrap();
        // A format 1 file has no confidence_map key and keeps its binned confidence.
        let json = serde_json::to_string(&cal).unwrap();
        assert!(!json.contains("confidence_map"));
        let old: Calibration = serde_json::from_str(&json).unwrap();
        old.validate().unwrap();
        assert_eq!(old.format_version, 1);
        assert_eq!(old.confidence(30.0), cal.confidence(30.0));
        // Raw truth 100 cycles above every prediction: nothing is within tolerance.
        let raw: Vec<f64> = p.iter().map(|x| x + 100.0).collect();
        let mapped = cal.clone().with_confidence_map(&p, &raw).unwrap();
        assert_eq!(mapped.format_version, CALIBRATION_FORMAT);
        mapped.validate().unwrap();
        assert_eq!(mapped.confidence(30.0), 0.0);
        assert_eq!(mapped.interval(30.0), cal.interval(30.0));
        let back: Calibration =
            serde_json::from_str(&serde_json::to_string(&mapped).unwrap()).unwrap();
        assert_eq!(back, mapped);
        let mut future = mapped;
        future.format_version = CALIBRATION_FORMAT + 1;
        assert!(future.validate().is_err());
    }

    #[test]
    fn lower_bound_is_never_negative_and_json_round_trips() {
        let (p, t) = synthetic(1000, 5);
        let cal = Calibration::fit(&CalibrationConfig::default(), &p, &t).unwrap();
        assert!(cal.interval(0.0).0 >= 0.0);
        let json = serde_json::to_string(&cal).unwrap();
        let back: Calibration = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cal);
        let mut broken = cal.clone();
        broken.bins[0].q_lo = broken.bins[0].q_hi + 1.0;
        assert!(broken.validate().is_err());
    }
}
