//! How far the served uncertainty can be trusted: the reliability table and expected calibration
//! error (ECE) of `confidence`, and interval coverage and width by true-RUL bucket (an interval
//! that covers 90 % overall can still miss most engines near failure, where it matters).

use serde::{Deserialize, Serialize};

use crate::calibration::Calibration;

/// Equal-width confidence bins of the reliability table.
pub const RELIABILITY_BINS: usize = 10;

/// True-RUL buckets `(lo, hi]` of the interval table (the first includes 0; `None`: no upper
/// end): 0–25, 25–50, 50–100, > 100.
pub const RUL_BUCKETS: [(f64, Option<f64>); 4] = [
    (0.0, Some(25.0)),
    (25.0, Some(50.0)),
    (50.0, Some(100.0)),
    (100.0, None),
];

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

/// Reliability of `confidence` in equal-width bins (empty bins omitted).
pub fn reliability(cal: &Calibration, pred: &[f64], truth: &[f64]) -> Vec<ReliabilityBin> {
    let conf: Vec<f64> = pred.iter().map(|&p| cal.confidence(p)).collect();
    let hit: Vec<bool> = pred
        .iter()
        .zip(truth)
        .map(|(&p, &t)| (t - p).abs() <= cal.tolerance())
        .collect();
    reliability_of(&conf, &hit)
}

/// Reliability table of probabilities `conf` against outcomes `hit` (paired; extra ignored).
pub fn reliability_of(conf: &[f64], hit: &[bool]) -> Vec<ReliabilityBin> {
    let mut sums = vec![(0usize, 0.0f64, 0usize); RELIABILITY_BINS];
    for (&c, &h) in conf.iter().zip(hit) {
        let k = ((c * RELIABILITY_BINS as f64) as usize).min(RELIABILITY_BINS - 1);
        sums[k].0 += 1;
        sums[k].1 += c;
        sums[k].2 += usize::from(h);
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

/// Expected calibration error of a reliability table:
/// `ECE = Σ_b (n_b / N) · |mean confidence_b − observed_b|` (0 for an empty table).
pub fn expected_calibration_error(bins: &[ReliabilityBin]) -> f64 {
    let n: usize = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return 0.0;
    }
    bins.iter()
        .map(|b| b.count as f64 * (b.mean_confidence - b.observed).abs())
        .sum::<f64>()
        / n as f64
}

/// Interval coverage and width of the predictions whose true RUL falls in one bucket.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BucketStats {
    /// Lower edge (exclusive, except 0).
    pub lo: f64,
    /// Upper edge (inclusive); None: unbounded.
    pub hi: Option<f64>,
    /// Predictions in the bucket.
    pub count: usize,
    /// Share whose interval holds the truth.
    pub coverage: f64,
    /// Mean `upper − lower`, cycles.
    pub mean_width: f64,
    /// RMSE of the point prediction in the bucket, cycles.
    pub rmse: f64,
}

/// Index of the [`RUL_BUCKETS`] bucket holding a true RUL (negative truths go to the first).
pub fn bucket_of(truth: f64) -> usize {
    RUL_BUCKETS
        .iter()
        .position(|&(_, hi)| hi.is_none_or(|h| truth <= h))
        .unwrap_or(RUL_BUCKETS.len() - 1)
}

/// Coverage, width and RMSE per true-RUL bucket of `cal`'s intervals (every bucket is listed,
/// empty ones with zeros).
pub fn interval_buckets(cal: &Calibration, pred: &[f64], truth: &[f64]) -> Vec<BucketStats> {
    let bounds: Vec<(f64, f64)> = pred.iter().map(|&p| cal.interval(p)).collect();
    buckets_of(pred, &bounds, truth)
}

/// Per-bucket figures of explicit intervals `bounds` (paired with `pred` and `truth`).
pub fn buckets_of(pred: &[f64], bounds: &[(f64, f64)], truth: &[f64]) -> Vec<BucketStats> {
    // (count, hits, width, squared error)
    let mut acc = [(0usize, 0usize, 0.0f64, 0.0f64); RUL_BUCKETS.len()];
    for ((&p, &(lo, hi)), &t) in pred.iter().zip(bounds).zip(truth) {
        let a = &mut acc[bucket_of(t)];
        a.0 += 1;
        a.1 += usize::from(t >= lo && t <= hi);
        a.2 += hi - lo;
        a.3 += (p - t) * (p - t);
    }
    RUL_BUCKETS
        .iter()
        .zip(acc)
        .map(|(&(lo, hi), (n, hits, width, se))| {
            let per = |x: f64| if n > 0 { x / n as f64 } else { 0.0 };
            BucketStats {
                lo,
                hi,
                count: n,
                coverage: per(hits as f64),
                mean_width: per(width),
                rmse: per(se).sqrt(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_edges_are_upper_inclusive() {
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(-3.0), 0);
        assert_eq!(bucket_of(25.0), 0);
        assert_eq!(bucket_of(25.5), 1);
        assert_eq!(bucket_of(50.0), 1);
        assert_eq!(bucket_of(100.0), 2);
        assert_eq!(bucket_of(100.01), 3);
        assert_eq!(bucket_of(1e9), 3);
    }

    #[test]
    fn bucket_coverage_width_and_rmse_match_hand_values() {
        let pred = [10.0, 20.0, 60.0, 150.0];
        let truth = [12.0, 30.0, 70.0, 140.0];
        let bounds = [(5.0, 15.0), (15.0, 25.0), (40.0, 80.0), (100.0, 200.0)];
        let b = buckets_of(&pred, &bounds, &truth);
        assert_eq!(b.len(), 4);
        assert_eq!((b[0].count, b[0].coverage, b[0].mean_width), (1, 1.0, 10.0));
        // truth 30 is bucket 1 and outside (15, 25).
        assert_eq!((b[1].count, b[1].coverage), (1, 0.0));
        assert_eq!(
            (b[2].coverage, b[2].mean_width, b[2].rmse),
            (1.0, 40.0, 10.0)
        );
        assert_eq!(b[3].hi, None);
        let empty = buckets_of(&[], &[], &[]);
        assert!(empty.iter().all(|b| b.count == 0 && b.coverage == 0.0));
    }

    #[test]
    fn ece_of_known_tables() {
        // Perfectly calibrated: 0.8 confidence, 8 of 10 hits.
        let conf = vec![0.8; 10];
        let hit: Vec<bool> = (0..10).map(|i| i < 8).collect();
        assert!(expected_calibration_error(&reliability_of(&conf, &hit)).abs() < 1e-12);
        // Two bins: 0.9 claimed with 50 % hits (n = 4), 0.15 claimed with 0 % (n = 4):
        // ECE = (4 · 0.4 + 4 · 0.15) / 8 = 0.275.
        let conf = [0.9, 0.9, 0.9, 0.9, 0.15, 0.15, 0.15, 0.15];
        let hit = [true, true, false, false, false, false, false, false];
        let bins = reliability_of(&conf, &hit);
        assert_eq!(bins.len(), 2);
        assert!((expected_calibration_error(&bins) - 0.275).abs() < 1e-12);
        assert_eq!(expected_calibration_error(&[]), 0.0);
        // Confidence 1.0 lands in the top bin, not past it.
        assert_eq!(reliability_of(&[1.0], &[true])[0].lo, 0.9);
    }
}
