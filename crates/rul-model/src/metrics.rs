//! Point-prediction metrics: RMSE, MAE and the PHM08 asymmetric score.

use serde::{Deserialize, Serialize};

/// RMSE, MAE and PHM08 score of one set of predictions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PointMetrics {
    /// Number of predictions.
    pub count: usize,
    /// Root mean squared error in cycles.
    pub rmse: f64,
    /// Mean absolute error in cycles.
    pub mae: f64,
    /// PHM08 score, summed over predictions (lower is better; late predictions cost more).
    pub score: f64,
    /// Mean signed error `pred - true` (positive: optimistic on average).
    pub bias: f64,
}

impl PointMetrics {
    /// Computes every metric over paired predictions and truths (extra items of the longer
    /// slice are ignored; an empty input gives zeros).
    pub fn compute(pred: &[f64], truth: &[f64]) -> Self {
        Self {
            count: pred.len().min(truth.len()),
            rmse: rmse(pred, truth),
            mae: mae(pred, truth),
            score: phm08_score(pred, truth),
            bias: mean_error(pred, truth),
        }
    }
}

/// Root mean squared error; 0 for empty input.
pub fn rmse(pred: &[f64], truth: &[f64]) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return 0.0;
    }
    let s: f64 = pred.iter().zip(truth).map(|(p, t)| (p - t) * (p - t)).sum();
    (s / n as f64).sqrt()
}

/// Mean absolute error; 0 for empty input.
pub fn mae(pred: &[f64], truth: &[f64]) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return 0.0;
    }
    pred.iter()
        .zip(truth)
        .map(|(p, t)| (p - t).abs())
        .sum::<f64>()
        / n as f64
}

/// Mean of `pred - true`; 0 for empty input.
pub fn mean_error(pred: &[f64], truth: &[f64]) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return 0.0;
    }
    pred.iter().zip(truth).map(|(p, t)| p - t).sum::<f64>() / n as f64
}

/// PHM08 score of one error `d = pred - true`: `exp(-d/13) - 1` when early, `exp(d/10) - 1` when late.
pub fn phm08_term(d: f64) -> f64 {
    if d < 0.0 {
        (-d / 13.0).exp() - 1.0
    } else {
        (d / 10.0).exp() - 1.0
    }
}

/// PHM08 score summed over predictions.
pub fn phm08_score(pred: &[f64], truth: &[f64]) -> f64 {
    pred.iter().zip(truth).map(|(p, t)| phm08_term(p - t)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computed_values() {
        let pred = [10.0, 20.0, 30.0, 50.0];
        let truth = [12.0, 20.0, 25.0, 40.0];
        // errors: -2, 0, 5, 10
        let rmse_hand = ((4.0 + 0.0 + 25.0 + 100.0) / 4.0f64).sqrt();
        assert!((rmse(&pred, &truth) - rmse_hand).abs() < 1e-12);
        assert!((mae(&pred, &truth) - 17.0 / 4.0).abs() < 1e-12);
        let score_hand = ((2.0f64 / 13.0).exp() - 1.0)
            + 0.0
            + ((5.0f64 / 10.0).exp() - 1.0)
            + (1.0f64.exp() - 1.0);
        assert!((phm08_score(&pred, &truth) - score_hand).abs() < 1e-12);
        // Literal values: e^(2/13)-1 = 0.16630, e^0.5-1 = 0.64872, e-1 = 1.71828.
        assert!((phm08_score(&pred, &truth) - 2.53330).abs() < 1e-4);
        let m = PointMetrics::compute(&pred, &truth);
        assert_eq!(m.count, 4);
        assert!((m.bias - 13.0 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn late_predictions_cost_more_than_early_ones() {
        assert!(phm08_term(10.0) > phm08_term(-10.0));
        assert_eq!(phm08_term(0.0), 0.0);
    }

    #[test]
    fn empty_input_gives_zeros() {
        let m = PointMetrics::compute(&[], &[]);
        assert_eq!((m.count, m.rmse, m.mae, m.score), (0, 0.0, 0.0, 0.0));
    }
}
