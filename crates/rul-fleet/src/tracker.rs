//! RUL tracking: a one-state Kalman filter that fuses each cycle's model estimate with what is known between
//! cycles — the remaining life falls by one per cycle.
//!
//! - Predict: `x⁻ = x − ρΔ`, `P⁻ = P + qΔ` (Δ = cycles since the last reading, so gaps are handled). The fall
//!   rate `ρ` is 1; with a `knee` it fades to 0 just below the label ceiling, where the capped RUL the model
//!   learned stays flat while the engine is healthy.
//! - Measure: the model's estimate `z`, or with `debias` the middle of the model's calibrated interval at `z`
//!   (the calibration engines' truth given that estimate: above the ceiling the model only says "at least", and
//!   its interval knows how much more to expect). Variance `R(z) = s · σ(z)²`, with `σ(z)` read off the conformal
//!   interval's width at `z`, so noisier regions of the model get less weight.
//! - Ceiling (`saturation_margin` > 0): an estimate that close to the ceiling is censored — it only says the
//!   truth is at least about `z` — so the track is projected onto `x ≥ z` instead of being pulled down.
//! - Steadiness: one cycle's correction is limited to `max_correction` cycles per cycle elapsed, so a single
//!   outlying estimate moves the answer by at most that much (a prediction that jumps is useless to a planner).
//! - Interval: the model's calibrated interval at the tracked value, its sides scaled by `interval_scale` (chosen
//!   for nominal coverage on held-out engines). Not narrowed by the filter's variance: consecutive estimates share
//!   most of their window, so their errors are strongly correlated and `P` would overstate the certainty.
//!
//! The parameters are chosen per model on its held-out engines (validation and calibration, never the test set) by `rul track --write`,
//! which stores them beside the model as `tracker.json`; the defaults below are FD001's choice.

use std::path::Path;

use rul_model::Calibration;
use serde::{Deserialize, Serialize};

/// File beside a model's artifact holding the tracker parameters chosen for it.
pub const TRACKER_FILE: &str = "tracker.json";

/// Filter parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackerConfig {
    /// Process noise variance added per cycle (cycles²): how fast the degradation rate may wander.
    pub process_var: f64,
    /// Multiplier on the calibration-derived measurement variance (consecutive estimates share most of their
    /// window, so their errors are correlated and each is worth less than an independent one).
    pub measurement_scale: f64,
    /// Estimates this close to the label ceiling are treated as censored ("at least"); 0 = never.
    pub saturation_margin: f64,
    /// Multiplier on the narrowed interval so it keeps its nominal coverage on validation engines.
    pub interval_scale: f64,
    /// Width (cycles) of the knee below the label ceiling over which the assumed fall per cycle fades from 1 to
    /// 0; 0 = always one cycle per cycle.
    pub knee: f64,
    /// Largest correction of the track per elapsed cycle (cycles); 0 = unlimited.
    pub max_correction: f64,
    /// Measure with the middle of the model's calibrated interval rather than its point estimate.
    pub debias: bool,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        // Chosen on FD001's validation engines by `rul track --model models/fd001` (see the README).
        TrackerConfig {
            process_var: 100.0,
            measurement_scale: 4.0,
            saturation_margin: 0.0,
            interval_scale: 1.1,
            knee: 0.0,
            max_correction: 2.0,
            debias: false,
        }
    }
}

/// Why a tracker file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TrackerFileError {
    /// The file exists but could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid tracker configuration.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl TrackerConfig {
    /// The parameters stored beside the model in `dir` (`tracker.json`), or the defaults when there are none.
    pub fn for_model_dir(dir: &Path) -> Result<TrackerConfig, TrackerFileError> {
        let path = dir.join(TRACKER_FILE);
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(TrackerConfig::default());
            }
            Err(source) => {
                return Err(TrackerFileError::Read {
                    path: shown,
                    source,
                });
            }
        };
        let config: TrackerConfig =
            serde_json::from_str(&text).map_err(|e| TrackerFileError::Invalid {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        config
            .validate()
            .map_err(|reason| TrackerFileError::Invalid {
                path: shown,
                reason,
            })?;
        Ok(config)
    }

    /// Checks that every parameter is finite and in range.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("process_var", self.process_var),
            ("measurement_scale", self.measurement_scale),
            ("interval_scale", self.interval_scale),
        ];
        for (name, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(format!("{name} must be > 0, got {v}"));
            }
        }
        let non_negative = [
            ("saturation_margin", self.saturation_margin),
            ("knee", self.knee),
            ("max_correction", self.max_correction),
        ];
        for (name, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be >= 0, got {v}"));
            }
        }
        Ok(())
    }
}

/// The filter's belief after some cycle: persisted with every prediction so a restart resumes exactly.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackState {
    /// Cycle of the last update.
    pub cycle: u64,
    /// Tracked RUL (cycles).
    pub mean: f64,
    /// Variance of `mean` (cycles²).
    pub var: f64,
}

/// The tracked answer for one cycle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tracked {
    /// New filter state.
    pub state: TrackState,
    /// Tracked RUL, >= 0.
    pub rul: f64,
    /// Interval of the tracked RUL.
    pub lower: f64,
    /// Interval of the tracked RUL.
    pub upper: f64,
}

/// A tracker bound to one model's calibration and label ceiling.
#[derive(Clone, Debug)]
pub struct Tracker {
    config: TrackerConfig,
    calibration: Calibration,
    ceiling: f64,
    z0: f64,
}

impl Tracker {
    /// A tracker for a model with this calibration and label ceiling.
    pub fn new(config: TrackerConfig, calibration: Calibration, ceiling: f64) -> Tracker {
        let z0 = normal_quantile(0.5 + calibration.level() / 2.0);
        Tracker {
            config,
            calibration,
            ceiling,
            z0,
        }
    }

    /// The parameters in use.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// The model's own calibrated interval around an estimate `z`.
    pub fn model_interval(&self, z: f64) -> (f64, f64) {
        self.calibration.interval(z)
    }

    /// Half-width of the model's interval at `z`, at least one cycle.
    fn half_width(&self, z: f64) -> f64 {
        let (lo, hi) = self.calibration.interval(z);
        ((hi - lo) / 2.0).max(1.0)
    }

    /// Measurement variance of a model estimate `z`.
    fn measurement_var(&self, z: f64) -> f64 {
        let sigma = self.half_width(z) / self.z0;
        self.config.measurement_scale * sigma * sigma
    }

    /// What the estimate `z` says about the remaining life.
    fn measurement(&self, z: f64) -> f64 {
        if self.config.debias {
            let (lo, hi) = self.calibration.interval(z);
            ((lo + hi) / 2.0).max(0.0)
        } else {
            z
        }
    }

    /// Folds the model's estimate `z` at `cycle` into `previous` (None = the engine's first reading).
    /// A `cycle` not after the previous one is treated as one cycle later (callers reject those first).
    pub fn update(&self, previous: Option<TrackState>, cycle: u64, z: f64) -> Tracked {
        let z = if z.is_finite() { z.max(0.0) } else { 0.0 };
        let r = self.measurement_var(z);
        let m = self.measurement(z);
        let state = match previous {
            None => TrackState {
                cycle,
                mean: m,
                var: r,
            },
            Some(prev) => {
                let dt = cycle.saturating_sub(prev.cycle).max(1) as f64;
                let rate = if self.config.knee > 0.0 {
                    ((self.ceiling - prev.mean) / self.config.knee).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                let predicted = prev.mean - rate * dt;
                let var = prev.var + self.config.process_var * dt;
                let censored = self.config.saturation_margin > 0.0
                    && z >= self.ceiling - self.config.saturation_margin;
                let (correction, var) = if censored {
                    // The truth is at least about z: project onto that half-line, never pull down.
                    ((m - predicted).max(0.0), var)
                } else {
                    let gain = var / (var + r);
                    (gain * (m - predicted), (1.0 - gain) * var)
                };
                let limit = self.config.max_correction * dt;
                let correction = if limit > 0.0 {
                    correction.clamp(-limit, limit)
                } else {
                    correction
                };
                TrackState {
                    cycle,
                    mean: predicted + correction,
                    var,
                }
            }
        };
        let rul = state.mean.max(0.0);
        // The model's own calibrated interval at the tracked value, scaled: consecutive estimates' errors are
        // strongly correlated (they share most of their window), so the filter's variance understates them.
        let (lo, hi) = self.calibration.interval(rul);
        let scale = self.config.interval_scale;
        Tracked {
            state,
            rul,
            lower: (rul - (rul - lo).max(0.0) * scale).max(0.0),
            upper: rul + (hi - rul).max(0.0) * scale,
        }
    }
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
pub(crate) mod tests;
