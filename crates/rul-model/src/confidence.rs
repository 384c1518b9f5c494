//! A calibrated `confidence`: the probability that the true RUL lies within the tolerance of the
//! prediction, fitted by isotonic regression (pool-adjacent-violators) of that event on the
//! predicted RUL over every window of the calibration engines, against their *raw* true RUL —
//! the truth the evaluation scores `confidence` against.
//!
//! The earlier estimate (per-bin share of hits against truth capped at the calibration horizon,
//! see [`crate::calibration`]) claimed too much for healthy engines, whose raw RUL can be far
//! above anything the capped model predicts. The hit probability falls as the predicted RUL
//! rises (errors grow with the horizon), so the fit is constrained to be non-increasing in the
//! prediction, which also keeps it from chasing noise. Knots are the pooled blocks' mean
//! predictions; `confidence` interpolates linearly between them and is flat outside.

use serde::{Deserialize, Serialize};

use crate::calibration::CalibrationError;

/// Consecutive predictions (sorted) pooled before isotonic fitting, so that no knot rests on a
/// handful of windows.
pub const MIN_BLOCK: usize = 50;

/// One knot of the map.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Knot {
    /// Mean predicted RUL of the pooled block.
    pub pred: f64,
    /// Hit rate of the block.
    pub confidence: f64,
    /// Windows in the block.
    pub count: usize,
}

/// Non-increasing map from predicted RUL to P(|true − pred| ≤ tolerance).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfidenceMap {
    /// How it was fitted (`isotonic`).
    pub method: String,
    /// Truth it was fitted against (`raw`).
    pub truth: String,
    /// Knots ordered by prediction.
    pub knots: Vec<Knot>,
}

impl ConfidenceMap {
    /// Fits the map from paired predictions and hit outcomes (finite predictions; at least
    /// [`MIN_BLOCK`] of them).
    pub fn fit(pred: &[f64], hit: &[bool]) -> Result<Self, CalibrationError> {
        if pred.len() != hit.len() {
            return Err(CalibrationError::Data(format!(
                "{} predictions but {} outcomes",
                pred.len(),
                hit.len()
            )));
        }
        if pred.len() < MIN_BLOCK {
            return Err(CalibrationError::Data(format!(
                "need at least {MIN_BLOCK} windows to fit confidence, got {}",
                pred.len()
            )));
        }
        if pred.iter().any(|p| !p.is_finite()) {
            return Err(CalibrationError::Data("non-finite prediction".into()));
        }
        let mut pairs: Vec<(f64, bool)> = pred.iter().copied().zip(hit.iter().copied()).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Initial blocks of MIN_BLOCK sorted predictions (the remainder joins the last block).
        // Each block: (sum of predictions, hits, count).
        let n_blocks = (pairs.len() / MIN_BLOCK).max(1);
        let mut blocks: Vec<(f64, usize, usize)> = Vec::new();
        for b in 0..n_blocks {
            let start = b * pairs.len() / n_blocks;
            let end = (b + 1) * pairs.len() / n_blocks;
            let chunk = &pairs[start..end];
            let block = (
                chunk.iter().map(|p| p.0).sum::<f64>(),
                chunk.iter().filter(|p| p.1).count(),
                chunk.len(),
            );
            blocks.push(block);
            // Pool adjacent violators: rates must not increase with the prediction.
            while blocks.len() >= 2 {
                let (a, b) = (blocks[blocks.len() - 2], blocks[blocks.len() - 1]);
                let rate = |x: (f64, usize, usize)| x.1 as f64 / x.2 as f64;
                if rate(a) >= rate(b) {
                    break;
                }
                blocks.pop();
                blocks.pop();
                blocks.push((a.0 + b.0, a.1 + b.1, a.2 + b.2));
            }
        }
        let knots = blocks
            .into_iter()
            .map(|(sum, hits, n)| Knot {
                pred: sum / n as f64,
                confidence: hits as f64 / n as f64,
                count: n,
            })
            .collect();
        Ok(Self {
            method: "isotonic".into(),
            truth: "raw".into(),
            knots,
        })
    }

    /// The calibrated probability at `pred` (0 for a non-finite prediction).
    pub fn confidence(&self, pred: f64) -> f64 {
        let (Some(first), Some(last)) = (self.knots.first(), self.knots.last()) else {
            return 0.0;
        };
        if !pred.is_finite() {
            return 0.0;
        }
        if pred <= first.pred {
            return first.confidence;
        }
        if pred >= last.pred {
            return last.confidence;
        }
        for w in self.knots.windows(2) {
            if pred <= w[1].pred {
                let span = w[1].pred - w[0].pred;
                let t = if span > 0.0 {
                    (pred - w[0].pred) / span
                } else {
                    1.0
                };
                return (w[0].confidence + t * (w[1].confidence - w[0].confidence)).clamp(0.0, 1.0);
            }
        }
        last.confidence
    }

    /// Checks a loaded map: knots finite, ordered, probabilities in [0, 1] and non-increasing.
    pub fn validate(&self) -> Result<(), CalibrationError> {
        let bad = |m: String| Err(CalibrationError::Invalid(m));
        if self.knots.is_empty() {
            return bad("confidence map has no knots".into());
        }
        for (k, knot) in self.knots.iter().enumerate() {
            if !knot.pred.is_finite() || !(0.0..=1.0).contains(&knot.confidence) || knot.count == 0
            {
                return bad(format!("confidence knot {k} is inconsistent: {knot:?}"));
            }
        }
        if self
            .knots
            .windows(2)
            .any(|w| w[0].pred > w[1].pred || w[0].confidence < w[1].confidence)
        {
            return bad("confidence knots are not ordered or not non-increasing".into());
        }
        Ok(())
    }
}

/// Whether each prediction lies within `tolerance` of its truth.
pub fn hits(pred: &[f64], truth: &[f64], tolerance: f64) -> Vec<bool> {
    pred.iter()
        .zip(truth)
        .map(|(p, t)| (t - p).abs() <= tolerance)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Predictions uniform on 0..125 whose hit probability is `1 - pred / 150`.
    fn sample(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let p: f64 = rng.random::<f64>() * 125.0;
                (p, rng.random::<f64>() < 1.0 - p / 150.0)
            })
            .unzip()
    }

    #[test]
    fn isotonic_fit_recovers_a_known_probability_and_is_monotone() {
        let (p, h) = sample(20_000, 7);
        let map = ConfidenceMap::fit(&p, &h).unwrap();
        map.validate().unwrap();
        for x in [5.0, 40.0, 80.0, 120.0] {
            let want = 1.0 - x / 150.0;
            let got = map.confidence(x);
            assert!((got - want).abs() < 0.06, "at {x}: {got} vs {want}");
        }
        // Monotone and flat outside the knots.
        assert!(map.confidence(-5.0) >= map.confidence(0.0));
        assert_eq!(map.confidence(500.0), map.confidence(1000.0));
        assert_eq!(map.confidence(f64::NAN), 0.0);
        // ECE of the fitted map on fresh data is small.
        let (p2, h2) = sample(20_000, 8);
        let conf: Vec<f64> = p2.iter().map(|&x| map.confidence(x)).collect();
        let ece = crate::evaluate::expected_calibration_error(&crate::evaluate::reliability_of(
            &conf, &h2,
        ));
        assert!(ece < 0.03, "ECE {ece}");
    }

    #[test]
    fn violators_are_pooled() {
        // Hit rate rising with the prediction is pooled into one flat block.
        let p: Vec<f64> = (0..200).map(f64::from).collect();
        let h: Vec<bool> = (0..200).map(|i| i >= 100).collect();
        let map = ConfidenceMap::fit(&p, &h).unwrap();
        assert_eq!(map.knots.len(), 1);
        assert_eq!(map.knots[0].count, 200);
        assert!((map.knots[0].confidence - 0.5).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_and_broken_maps_are_refused() {
        assert!(ConfidenceMap::fit(&[1.0; 10], &[true; 10]).is_err());
        assert!(ConfidenceMap::fit(&[1.0; 60], &[true; 59]).is_err());
        let (p, h) = sample(500, 9);
        let mut map = ConfidenceMap::fit(&p, &h).unwrap();
        if map.knots.len() >= 2 {
            map.knots[1].confidence = 1.0;
            map.knots[0].confidence = 0.0;
            assert!(map.validate().is_err());
        }
        map.knots.clear();
        assert!(map.validate().is_err());
    }
}
