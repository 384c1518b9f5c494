//! Prognostic metrics after Saxena, Celaya, Saha, Saha & Goebel, "Metrics for Offline Evaluation
//! of Prognostic Performance" (IJPHM 2010), as NASA's ProgPy implements them, for point
//! predictions: α-λ accuracy, prognostic horizon, relative accuracy (RA), cumulative relative
//! accuracy (CRA) and convergence.
//!
//! RMSE says how far predictions are off on average; these say *when* an engine's predictions
//! become usable. Each works on one engine's predictions over time ([`EngineTrack`]) against the
//! true RUL `r*(t) = t_EoL − t`, where `t_EoL` is the cycle at which the engine fails. A track
//! starts at `t_P`, the first cycle with a prediction (the end of the first window). Metrics
//! that need the end of life (prognostic horizon, convergence) are only defined on complete
//! (run-to-failure) tracks; the others also work on truncated test tracks where the time they
//! ask about was observed.

use serde::{Deserialize, Serialize};

/// α of the α-λ accuracy cone: a prediction is accurate when within ±20 % of the true RUL.
pub const ALPHA_LAMBDA_ALPHA: f64 = 0.2;
/// Fractions λ of each engine's prediction span at which α-λ accuracy and RA are measured.
pub const LAMBDAS: [f64; 3] = [0.25, 0.5, 0.75];
/// α of the prognostic horizon's bounds: `r* ± α · t_EoL` (10 % of the engine's life).
pub const PH_ALPHA: f64 = 0.1;

/// One engine's predictions over time against a known end of life.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EngineTrack {
    /// Unit number.
    pub unit: u32,
    /// Which engine set it comes from (`validation`, `calibration`, `test`).
    pub set: String,
    /// Cycle at which the true RUL reaches 0 (`t_EoL`).
    pub eol: f64,
    /// Cycle of each prediction, increasing.
    pub cycle: Vec<f64>,
    /// Predicted RUL at each cycle.
    pub pred: Vec<f64>,
    /// Interval lower bounds.
    pub lower: Vec<f64>,
    /// Interval upper bounds.
    pub upper: Vec<f64>,
}

impl EngineTrack {
    /// True RUL at prediction `k`, capped at `cap` (`f64::INFINITY` for raw truth).
    pub fn truth(&self, k: usize, cap: f64) -> f64 {
        (self.eol - self.cycle[k]).min(cap)
    }

    /// Whether the track runs to the end of life (its last prediction is at `t_EoL`).
    pub fn complete(&self) -> bool {
        self.cycle.last().is_some_and(|&c| c >= self.eol)
    }

    /// `t_λ = t_P + λ (t_EoL − t_P)`.
    pub fn lambda_time(&self, lambda: f64) -> Option<f64> {
        let t_p = *self.cycle.first()?;
        Some(t_p + lambda * (self.eol - t_p))
    }

    /// The first prediction at or after cycle `t` (None when the track ends before `t`).
    fn index_at(&self, t: f64) -> Option<usize> {
        self.cycle.iter().position(|&c| c >= t - 1e-9)
    }

    fn len(&self) -> usize {
        self.cycle.len().min(self.pred.len())
    }
}

/// α-λ accuracy at `λ`: `(1 − α) r*(t_λ) ≤ r(t_λ) ≤ (1 + α) r*(t_λ)`; None when `t_λ` was not
/// observed or the track is empty.
pub fn alpha_lambda(track: &EngineTrack, lambda: f64, alpha: f64, cap: f64) -> Option<bool> {
    let k = track.index_at(track.lambda_time(lambda)?)?;
    let truth = track.truth(k, cap);
    let pred = *track.pred.get(k)?;
    Some(pred >= (1.0 - alpha) * truth && pred <= (1.0 + alpha) * truth)
}

/// Relative accuracy at `λ`: `RA = 1 − |r*(t_λ) − r(t_λ)| / r*(t_λ)` (1 is perfect; negative
/// when off by more than the true RUL); None when `t_λ` was not observed or `r* = 0`.
pub fn relative_accuracy(track: &EngineTrack, lambda: f64, cap: f64) -> Option<f64> {
    let k = track.index_at(track.lambda_time(lambda)?)?;
    ra_at(track, k, cap)
}

fn ra_at(track: &EngineTrack, k: usize, cap: f64) -> Option<f64> {
    let truth = track.truth(k, cap);
    let pred = *track.pred.get(k)?;
    (truth > 0.0).then(|| 1.0 - (truth - pred).abs() / truth)
}

/// Cumulative relative accuracy: the mean RA over every prediction with `r* > 0` (uniform
/// weights, Saxena's `CRA = (1/|p|) Σ RA(i)` over the whole prediction span `λ ∈ [0, 1)`).
pub fn cumulative_relative_accuracy(track: &EngineTrack, cap: f64) -> Option<f64> {
    let ras: Vec<f64> = (0..track.len())
        .filter_map(|k| ra_at(track, k, cap))
        .collect();
    (!ras.is_empty()).then(|| ras.iter().sum::<f64>() / ras.len() as f64)
}

/// Prognostic horizon with bounds `|r − r*| ≤ α · t_EoL`, in cycles before end of life:
/// `(first, stable)` where `first = t_EoL − t_i` for the first prediction inside the bounds
/// (Saxena's definition) and `stable` for the first prediction from which every later one stays
/// inside (what a planner can rely on). 0 when never (or not finally) inside; None for an
/// incomplete track.
pub fn prognostic_horizon(track: &EngineTrack, alpha: f64, cap: f64) -> Option<(f64, f64)> {
    if !track.complete() || track.len() == 0 {
        return None;
    }
    let bound = alpha * track.eol;
    let inside: Vec<bool> = (0..track.len())
        .map(|k| (track.pred[k] - track.truth(k, cap)).abs() <= bound)
        .collect();
    let first = inside
        .iter()
        .position(|&i| i)
        .map_or(0.0, |k| track.eol - track.cycle[k]);
    // Predictions stay inside from just after the last one outside.
    let start = inside.iter().rposition(|&i| !i).map_or(0, |k| k + 1);
    let stable = track
        .cycle
        .get(start)
        .filter(|_| start < inside.len())
        .map_or(0.0, |&c| track.eol - c);
    Some((first, stable))
}

/// Convergence: the distance from `(t_P, 0)` to the centroid `(x_c, y_c)` of the area under
/// the absolute-error curve `M(i) = |r(i) − r*(i)|` between `t_P` and `t_EoL`, with
/// `x_c = Σ ½(t_{i+1}² − t_i²) M(i) / Σ (t_{i+1} − t_i) M(i)` and
/// `y_c = Σ ½(t_{i+1} − t_i) M(i)² / Σ (t_{i+1} − t_i) M(i)`. In cycles; smaller means the
/// error shrinks sooner. 0 for a perfect track; None for an incomplete or one-point track.
pub fn convergence(track: &EngineTrack, cap: f64) -> Option<f64> {
    if !track.complete() || track.len() < 2 {
        return None;
    }
    let t_p = track.cycle[0];
    let (mut area, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (k, w) in track.cycle[..track.len()].windows(2).enumerate() {
        let m = (track.pred[k] - track.truth(k, cap)).abs();
        let (t0, t1) = (w[0], w[1]);
        area += (t1 - t0) * m;
        sx += 0.5 * (t1 * t1 - t0 * t0) * m;
        sy += 0.5 * (t1 - t0) * m * m;
    }
    if area <= 0.0 {
        return Some(0.0);
    }
    let (xc, yc) = (sx / area, sy / area);
    Some(((xc - t_p).powi(2) + yc.powi(2)).sqrt())
}

/// Every metric of one engine.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EngineMetrics {
    /// Unit number.
    pub unit: u32,
    /// Engine set.
    pub set: String,
    /// `t_EoL` (cycles).
    pub eol: f64,
    /// `t_P`, the first predicted cycle.
    pub first_cycle: f64,
    /// α-λ accuracy at each of [`LAMBDAS`] (None: not observed).
    pub alpha_lambda: Vec<Option<bool>>,
    /// RA at each of [`LAMBDAS`].
    pub relative_accuracy: Vec<Option<f64>>,
    /// CRA over the observed span.
    pub cra: Option<f64>,
    /// Prognostic horizon, first entry (cycles before EoL).
    pub ph: Option<f64>,
    /// Prognostic horizon from which predictions stay inside the bounds.
    pub ph_stable: Option<f64>,
    /// Convergence (cycles).
    pub convergence: Option<f64>,
}

/// One λ's figures over engines.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LambdaRow {
    /// λ.
    pub lambda: f64,
    /// Engines whose `t_λ` was observed.
    pub engines: usize,
    /// Share of those whose prediction at `t_λ` is inside the α cone.
    pub alpha_lambda: f64,
    /// Mean RA at `t_λ`.
    pub mean_ra: f64,
}

/// Prognostic metrics over a set of engines.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PrognosticSummary {
    /// Truth the metrics are against: `raw` or `capped` (at `cap`).
    pub truth: String,
    /// The cap, when capped.
    pub cap: Option<f64>,
    /// Engines.
    pub engines: usize,
    /// Complete (run-to-failure) engines, over which PH and convergence are averaged.
    pub complete_engines: usize,
    /// α of the α-λ cone.
    pub alpha: f64,
    /// α-λ accuracy and RA at each λ.
    pub lambdas: Vec<LambdaRow>,
    /// α of the PH bounds (times `t_EoL`).
    pub ph_alpha: f64,
    /// Mean prognostic horizon (first entry), cycles.
    pub mean_ph: Option<f64>,
    /// Mean prognostic horizon from which predictions stay inside, cycles.
    pub mean_ph_stable: Option<f64>,
    /// Median of the stable horizon, cycles.
    pub median_ph_stable: Option<f64>,
    /// Mean CRA.
    pub mean_cra: Option<f64>,
    /// Mean convergence, cycles.
    pub mean_convergence: Option<f64>,
    /// Per-engine figures (empty when not kept).
    #[serde(default)]
    pub per_engine: Vec<EngineMetrics>,
}

/// Computes every metric of every track against truth capped at `cap` (`None`: raw truth);
/// `keep_engines` keeps the per-engine rows.
pub fn summarise(
    tracks: &[EngineTrack],
    cap: Option<f64>,
    keep_engines: bool,
) -> PrognosticSummary {
    let c = cap.unwrap_or(f64::INFINITY);
    let per: Vec<EngineMetrics> = tracks
        .iter()
        .filter(|t| t.len() > 0)
        .map(|t| {
            let ph = prognostic_horizon(t, PH_ALPHA, c);
            EngineMetrics {
                unit: t.unit,
                set: t.set.clone(),
                eol: t.eol,
                first_cycle: t.cycle[0],
                alpha_lambda: LAMBDAS
                    .iter()
                    .map(|&l| alpha_lambda(t, l, ALPHA_LAMBDA_ALPHA, c))
                    .collect(),
                relative_accuracy: LAMBDAS
                    .iter()
                    .map(|&l| relative_accuracy(t, l, c))
                    .collect(),
                cra: cumulative_relative_accuracy(t, c),
                ph: ph.map(|p| p.0),
                ph_stable: ph.map(|p| p.1),
                convergence: convergence(t, c),
            }
        })
        .collect();
    let lambdas = LAMBDAS
        .iter()
        .enumerate()
        .map(|(i, &lambda)| {
            let hits: Vec<bool> = per.iter().filter_map(|e| e.alpha_lambda[i]).collect();
            let ras: Vec<f64> = per.iter().filter_map(|e| e.relative_accuracy[i]).collect();
            LambdaRow {
                lambda,
                engines: hits.len(),
                alpha_lambda: share(&hits),
                mean_ra: mean(&ras).unwrap_or(0.0),
            }
        })
        .collect();
    let pick =
        |f: fn(&EngineMetrics) -> Option<f64>| -> Vec<f64> { per.iter().filter_map(f).collect() };
    let stable = pick(|e| e.ph_stable);
    PrognosticSummary {
        truth: if cap.is_some() { "capped" } else { "raw" }.into(),
        cap,
        engines: per.len(),
        complete_engines: stable.len(),
        alpha: ALPHA_LAMBDA_ALPHA,
        lambdas,
        ph_alpha: PH_ALPHA,
        mean_ph: mean(&pick(|e| e.ph)),
        mean_ph_stable: mean(&stable),
        median_ph_stable: median(&stable),
        mean_cra: mean(&pick(|e| e.cra)),
        mean_convergence: mean(&pick(|e| e.convergence)),
        per_engine: if keep_engines { per } else { Vec::new() },
    }
}

fn share(v: &[bool]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().filter(|&&b| b).count() as f64 / v.len() as f64
    }
}

/// Mean of a non-empty slice.
pub(crate) fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Median of a non-empty slice.
pub(crate) fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine failing at cycle 100, predicted from cycle 1 by `f(truth)`.
    fn track(f: impl Fn(f64) -> f64) -> EngineTrack {
        let cycle: Vec<f64> = (1..=100).map(f64::from).collect();
        let pred: Vec<f64> = cycle.iter().map(|c| f(100.0 - c)).collect();
        EngineTrack {
            unit: 1,
            set: "validation".into(),
            eol: 100.0,
            lower: pred.clone(),
            upper: pred.clone(),
            cycle,
            pred,
        }
    }

    const RAW: f64 = f64::INFINITY;

    #[test]
    fn a_perfect_track_scores_perfectly() {
        let t = track(|r| r);
        for l in LAMBDAS {
            assert_eq!(alpha_lambda(&t, l, 0.2, RAW), Some(true));
            assert_eq!(relative_accuracy(&t, l, RAW), Some(1.0));
        }
        assert_eq!(cumulative_relative_accuracy(&t, RAW), Some(1.0));
        // Inside from the first prediction at cycle 1: 99 cycles before EoL.
        assert_eq!(prognostic_horizon(&t, 0.1, RAW), Some((99.0, 99.0)));
        assert_eq!(convergence(&t, RAW), Some(0.0));
    }

    #[test]
    fn lambda_times_and_relative_accuracy_match_hand_values() {
        // Constant 10-cycle optimism: at λ = 0.5, t_λ = 1 + 0.5 * 99 = 50.5 → cycle 51, r* = 49.
        let t = track(|r| r + 10.0);
        assert_eq!(t.lambda_time(0.5), Some(50.5));
        let ra = relative_accuracy(&t, 0.5, RAW).unwrap();
        assert!((ra - (1.0 - 10.0 / 49.0)).abs() < 1e-12);
        // 10 cycles off is within 20 % while r* >= 50: true at λ = 0.25 (r* = 74), false at
        // λ = 0.5 (r* = 49, cone ±9.8) and λ = 0.75 (r* = 25).
        let hits: Vec<_> = LAMBDAS
            .iter()
            .map(|&l| alpha_lambda(&t, l, 0.2, RAW))
            .collect();
        assert_eq!(hits, vec![Some(true), Some(false), Some(false)]);
        // PH: |error| = 10 <= 0.1 * 100 everywhere, so inside from the start.
        assert_eq!(prognostic_horizon(&t, 0.1, RAW), Some((99.0, 99.0)));
        // A 10.5-cycle error is never inside.
        assert_eq!(
            prognostic_horizon(&track(|r| r + 10.5), 0.1, RAW),
            Some((0.0, 0.0))
        );
    }

    #[test]
    fn prognostic_horizon_separates_first_entry_from_staying_inside() {
        // Wrong by 30 until r* = 60, right between 60 and 41, wrong again between 40 and 31
        // (by 15), right from r* = 30 on.
        let t = track(|r| {
            if r > 60.0 {
                r + 30.0
            } else if r > 40.0 || r <= 30.0 {
                r
            } else {
                r + 15.0
            }
        });
        assert_eq!(prognostic_horizon(&t, 0.1, RAW), Some((60.0, 30.0)));
    }

    #[test]
    fn capped_truth_forgives_the_ceiling_and_truncated_tracks_skip_eol_metrics() {
        // A model that learned min(r*, 50): raw truth fails early λ, capped truth does not.
        let t = track(|r| r.min(50.0));
        assert_eq!(alpha_lambda(&t, 0.25, 0.2, RAW), Some(false));
        assert_eq!(alpha_lambda(&t, 0.25, 0.2, 50.0), Some(true));
        // Truncated at cycle 40 (a test engine): λ = 0.25 observed, λ = 0.5 not; no PH.
        let mut cut = track(|r| r);
        for v in [
            &mut cut.cycle,
            &mut cut.pred,
            &mut cut.lower,
            &mut cut.upper,
        ] {
            v.truncate(40);
        }
        assert!(!cut.complete());
        assert_eq!(alpha_lambda(&cut, 0.25, 0.2, RAW), Some(true));
        assert_eq!(alpha_lambda(&cut, 0.5, 0.2, RAW), None);
        assert_eq!(prognostic_horizon(&cut, 0.1, RAW), None);
        assert_eq!(convergence(&cut, RAW), None);
    }

    #[test]
    fn convergence_is_the_error_area_centroid_distance() {
        // Constant error 2 from t = 1 to 100 (99 unit steps): x_c = (1 + 100) / 2 = 50.5,
        // y_c = 2 / 2 = 1 → sqrt(49.5² + 1).
        let t = track(|r| r + 2.0);
        let c = convergence(&t, RAW).unwrap();
        assert!((c - (49.5f64.powi(2) + 1.0).sqrt()).abs() < 1e-9, "{c}");
        // An error that shrinks converges sooner than one that grows.
        let early = convergence(&track(|r| r * 1.5), RAW).unwrap();
        let late = convergence(&track(|r| r + (100.0 - r) * 0.5), RAW).unwrap();
        assert!(early < late, "{early} vs {late}");
    }

    #[test]
    fn summary_averages_over_engines() {
        let good = track(|r| r);
        let mut bad = track(|r| r + 30.0);
        bad.unit = 2;
        let s = summarise(&[good, bad], None, true);
        assert_eq!((s.engines, s.complete_engines), (2, 2));
        assert_eq!(s.lambdas[0].engines, 2);
        // bad at λ = 0.25: r* = 74, error 30 > 14.8.
        assert_eq!(s.lambdas[0].alpha_lambda, 0.5);
        assert_eq!(s.mean_ph_stable, Some((99.0 + 0.0) / 2.0));
        assert_eq!(s.per_engine.len(), 2);
        assert!(summarise(&[], None, false).mean_cra.is_none());
    }
}
