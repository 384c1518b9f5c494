//! What a prediction is worth to a maintenance planner: run-to-failure engines replayed cycle by
//! cycle under a policy "maintain at the first cycle where the signal falls below T", for the
//! interval's lower bound and the point estimate as signals, against a fixed-interval schedule
//! ("maintain every K cycles", the no-model baseline).
//!
//! An engine *fails* when the policy has not triggered before its last cycle (true RUL 0);
//! otherwise the true RUL at the triggering cycle is useful life *given away*. A larger T
//! triggers earlier on every engine, so failures fall and give-away rises monotonically; the
//! recommended T is the smallest one whose failure share is at most the target — the value an
//! alert threshold (`ALERT_RUL_BELOW`) on that signal should default to.

use serde::{Deserialize, Serialize};

use super::prognostic::{EngineTrack, mean};

/// Failure share the recommended thresholds must not exceed.
pub const TARGET_FAILURE_RATE: f64 = 0.01;
/// Thresholds T (cycles) swept for the model-based policies.
pub const THRESHOLDS: std::ops::RangeInclusive<u32> = 0..=150;
/// Step of the T sweep.
pub const THRESHOLD_STEP: usize = 5;
/// Fixed maintenance intervals K (cycles) swept for the baseline.
pub const INTERVALS: std::ops::RangeInclusive<u32> = 50..=400;
/// Step of the K sweep.
pub const INTERVAL_STEP: usize = 5;

/// What happened to one engine under one policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    /// Maintained while still working, giving away this many cycles of useful life.
    Maintained(f64),
    /// Reached its end of life unmaintained.
    Failed,
}

/// Which signal a threshold policy watches.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Signal {
    /// The interval's lower bound.
    Lower,
    /// The point estimate.
    Point,
}

/// Replays a complete track under "maintain at the first cycle whose signal is below `t`".
pub fn replay(track: &EngineTrack, signal: Signal, t: f64) -> Outcome {
    let values = match signal {
        Signal::Lower => &track.lower,
        Signal::Point => &track.pred,
    };
    for (&c, &v) in track.cycle.iter().zip(values) {
        let rul = track.eol - c;
        if rul <= 0.0 {
            break;
        }
        if v < t {
            return Outcome::Maintained(rul);
        }
    }
    Outcome::Failed
}

/// A fixed schedule maintains at cycle `k` whatever the engine reports.
pub fn fixed(track: &EngineTrack, k: f64) -> Outcome {
    if track.eol > k {
        Outcome::Maintained(track.eol - k)
    } else {
        Outcome::Failed
    }
}

/// One policy setting over every engine.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PolicyRow {
    /// Threshold T (or interval K for the fixed schedule), cycles.
    pub threshold: f64,
    /// Engines that failed before maintenance.
    pub failures: usize,
    /// `failures / engines`.
    pub failure_rate: f64,
    /// Mean useful life given away over the maintained engines, cycles.
    pub mean_given_away: f64,
}

/// The policy table and the recommended thresholds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PolicyReport {
    /// Complete engines replayed.
    pub engines: usize,
    /// Target failure share.
    pub target_failure_rate: f64,
    /// "Maintain when the interval's lower bound < T".
    pub lower_bound: Vec<PolicyRow>,
    /// "Maintain when the point estimate < T".
    pub point: Vec<PolicyRow>,
    /// "Maintain at cycle K" (threshold = K).
    pub fixed: Vec<PolicyRow>,
    /// Smallest T of the lower-bound policy within the target (None: none is).
    pub recommended_lower: Option<PolicyRow>,
    /// Smallest T of the point policy within the target.
    pub recommended_point: Option<PolicyRow>,
    /// Largest K of the fixed schedule within the target.
    pub recommended_fixed: Option<PolicyRow>,
}

fn row(threshold: f64, outcomes: &[Outcome]) -> PolicyRow {
    let given: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Maintained(g) => Some(*g),
            Outcome::Failed => None,
        })
        .collect();
    let failures = outcomes.len() - given.len();
    PolicyRow {
        threshold,
        failures,
        failure_rate: if outcomes.is_empty() {
            0.0
        } else {
            failures as f64 / outcomes.len() as f64
        },
        mean_given_away: mean(&given).unwrap_or(0.0),
    }
}

/// Sweeps every policy over the complete tracks (incomplete ones are skipped).
pub fn evaluate_policies(tracks: &[EngineTrack], target: f64) -> PolicyReport {
    let complete: Vec<&EngineTrack> = tracks.iter().filter(|t| t.complete()).collect();
    let sweep = |signal: Signal| -> Vec<PolicyRow> {
        THRESHOLDS
            .step_by(THRESHOLD_STEP)
            .map(|t| {
                let t = f64::from(t);
                let o: Vec<Outcome> = complete.iter().map(|k| replay(k, signal, t)).collect();
                row(t, &o)
            })
            .collect()
    };
    let lower_bound = sweep(Signal::Lower);
    let point = sweep(Signal::Point);
    let fixed_rows: Vec<PolicyRow> = INTERVALS
        .step_by(INTERVAL_STEP)
        .map(|k| {
            let k = f64::from(k);
            let o: Vec<Outcome> = complete.iter().map(|t| fixed(t, k)).collect();
            row(k, &o)
        })
        .collect();
    let ok = |r: &&PolicyRow| !complete.is_empty() && r.failure_rate <= target;
    PolicyReport {
        engines: complete.len(),
        target_failure_rate: target,
        recommended_lower: lower_bound.iter().find(ok).cloned(),
        recommended_point: point.iter().find(ok).cloned(),
        recommended_fixed: fixed_rows.iter().rev().find(ok).cloned(),
        lower_bound,
        point,
        fixed: fixed_rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine failing at `eol`, predicted from cycle 1 with a constant `bias` and an interval
    /// `pred ± half`.
    fn engine(unit: u32, eol: u32, bias: f64, half: f64) -> EngineTrack {
        let cycle: Vec<f64> = (1..=eol).map(f64::from).collect();
        let pred: Vec<f64> = cycle
            .iter()
            .map(|c| (f64::from(eol) - c + bias).max(0.0))
            .collect();
        EngineTrack {
            unit,
            set: "validation".into(),
            eol: f64::from(eol),
            lower: pred.iter().map(|p| (p - half).max(0.0)).collect(),
            upper: pred.iter().map(|p| p + half).collect(),
            cycle,
            pred,
        }
    }

    #[test]
    fn replay_gives_away_the_true_rul_at_the_trigger() {
        // Optimistic by 10, interval ±15: the point estimate drops below 20 at r* = 9, the lower
        // bound (r* - 5) below 20 at r* = 24.
        let e = engine(1, 100, 10.0, 15.0);
        assert_eq!(replay(&e, Signal::Point, 20.0), Outcome::Maintained(9.0));
        assert_eq!(replay(&e, Signal::Lower, 20.0), Outcome::Maintained(24.0));
        // The point estimate never falls below 10 while r* > 0 (it is 10 at r* = 0): failure.
        assert_eq!(replay(&e, Signal::Point, 10.0), Outcome::Failed);
        assert_eq!(replay(&e, Signal::Lower, 0.0), Outcome::Failed);
        assert_eq!(fixed(&e, 80.0), Outcome::Maintained(20.0));
        assert_eq!(fixed(&e, 100.0), Outcome::Failed);
    }

    #[test]
    fn sweep_counts_failures_and_recommends_the_smallest_safe_threshold() {
        // Two honest engines and one optimistic by 30 with a wide interval.
        let tracks = vec![
            engine(1, 150, 0.0, 5.0),
            engine(2, 200, 0.0, 5.0),
            engine(3, 120, 30.0, 40.0),
        ];
        let r = evaluate_policies(&tracks, 0.01);
        assert_eq!(r.engines, 3);
        // T = 0 never triggers: all fail.
        assert_eq!(r.point[0].failures, 3);
        // Point policy: engine 3 needs T > 30 (pred = r* + 30 ≥ 30 while r* > 0): T = 35 is
        // the smallest safe step; the honest engines then give away 34 each, engine 3 gives 4.
        let rec = r.recommended_point.clone().unwrap();
        assert_eq!(rec.threshold, 35.0);
        assert!((rec.mean_given_away - (34.0 + 34.0 + 4.0) / 3.0).abs() < 1e-12);
        // Lower bound: max(r* - 5, 0) for the honest engines, max(r* - 10, 0) for engine 3, so
        // T = 5 already catches all three (at r* = 9, 9 and 14); T = 0 never triggers.
        let rec = r.recommended_lower.clone().unwrap();
        assert_eq!(rec.threshold, 5.0);
        assert!((rec.mean_given_away - (9.0 + 9.0 + 14.0) / 3.0).abs() < 1e-12);
        assert_eq!(r.lower_bound[0].failures, 3);
        // Failures never rise with T; give-away never falls.
        for w in r.lower_bound.windows(2) {
            assert!(w[1].failures <= w[0].failures);
        }
        // Fixed schedule: the shortest life is 120, so K = 115 is the largest safe interval.
        let fixed = r.recommended_fixed.unwrap();
        assert_eq!(fixed.threshold, 115.0);
        assert!((fixed.mean_given_away - (35.0 + 85.0 + 5.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn incomplete_tracks_are_not_replayed() {
        let mut cut = engine(1, 100, 0.0, 5.0);
        cut.cycle.truncate(50);
        let r = evaluate_policies(&[cut], 0.01);
        assert_eq!(r.engines, 0);
        assert!(r.recommended_lower.is_none() && r.recommended_fixed.is_none());
    }
}
