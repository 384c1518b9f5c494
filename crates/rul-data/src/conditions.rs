//! Operating conditions: the flight regimes (altitude, Mach, throttle) identified from the three settings.
//!
//! C-MAPSS flies FD002/FD004 in six regimes that sit far apart in setting space, while FD001/FD003
//! fly one regime with sensor-noise-sized jitter. Settings are scaled by the flight envelope
//! (42 kft, Mach 0.84, TRA 100), then a deterministic leader pass (a point farther than
//! [`RADIUS`] from every centroid opens a new one, in file order) is refined by k-means
//! iterations. The result does not depend on any random seed.

use serde::{Deserialize, Serialize};

/// Per-setting scale: the extent of the C-MAPSS flight envelope.
pub const ENVELOPE: [f64; 3] = [42.0, 0.84, 100.0];

/// Scaled distance beyond which a point belongs to no known condition.
pub const RADIUS: f64 = 0.1;

/// Fitted operating-condition centroids in raw setting units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conditions {
    pub centroids: Vec<[f64; 3]>,
}

/// The condition a reading was assigned to, and whether it was near enough to count as known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    pub index: usize,
    pub known: bool,
}

fn scaled_distance(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    (0..3)
        .map(|i| ((a[i] - b[i]) / ENVELOPE[i]).powi(2))
        .sum::<f64>()
        .sqrt()
}

impl Conditions {
    /// A single condition at the mean setting (for one-regime subsets or when conditions are off).
    pub fn single(points: &[[f64; 3]]) -> Self {
        let mut c = [0.0; 3];
        for p in points {
            for i in 0..3 {
                c[i] += p[i];
            }
        }
        let n = points.len().max(1) as f64;
        Conditions {
            centroids: vec![[c[0] / n, c[1] / n, c[2] / n]],
        }
    }

    /// Finds the conditions present in `points` (leader pass + 10 k-means iterations; deterministic).
    pub fn fit(points: &[[f64; 3]]) -> Self {
        let mut centroids: Vec<[f64; 3]> = Vec::new();
        for p in points {
            if centroids.iter().all(|c| scaled_distance(c, p) > RADIUS) {
                centroids.push(*p);
            }
        }
        for _ in 0..10 {
            let mut sums = vec![[0.0f64; 3]; centroids.len()];
            let mut counts = vec![0usize; centroids.len()];
            for p in points {
                let k = nearest(&centroids, p).0;
                counts[k] += 1;
                for i in 0..3 {
                    sums[k][i] += p[i];
                }
            }
            for (k, c) in centroids.iter_mut().enumerate() {
                if counts[k] > 0 {
                    for i in 0..3 {
                        c[i] = sums[k][i] / counts[k] as f64;
                    }
                }
            }
        }
        if centroids.is_empty() {
            return Conditions::single(points);
        }
        // Order by (altitude, Mach, throttle) so indices are stable and readable.
        centroids.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        Conditions { centroids }
    }

    /// Number of conditions.
    pub fn len(&self) -> usize {
        self.centroids.len()
    }

    /// Whether no condition is defined (never true for a fitted value).
    pub fn is_empty(&self) -> bool {
        self.centroids.is_empty()
    }

    /// The nearest condition; `known` is false when the point is farther than [`RADIUS`] from all.
    pub fn assign(&self, settings: &[f64; 3]) -> Assignment {
        let (index, distance) = nearest(&self.centroids, settings);
        Assignment {
            index,
            known: distance <= RADIUS,
        }
    }
}

fn nearest(centroids: &[[f64; 3]], p: &[f64; 3]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (k, c) in centroids.iter().enumerate() {
        let d = scaled_distance(c, p);
        if d < best.1 {
            best = (k, d);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGIMES: [[f64; 3]; 6] = [
        [0.0, 0.0, 100.0],
        [10.0, 0.25, 100.0],
        [20.0, 0.7, 100.0],
        [25.0, 0.62, 60.0],
        [35.0, 0.84, 100.0],
        [42.0, 0.84, 100.0],
    ];

    #[test]
    fn finds_six_regimes_with_jitter() {
        let mut points = Vec::new();
        for i in 0..600 {
            let r = REGIMES[(i * 7) % 6];
            let j = ((i % 11) as f64 - 5.0) * 1e-3;
            points.push([r[0] + j, r[1] + j * 1e-2, r[2]]);
        }
        let c = Conditions::fit(&points);
        assert_eq!(c.len(), 6);
        for r in REGIMES {
            let a = c.assign(&r);
            assert!(a.known);
            assert!(scaled_distance(&c.centroids[a.index], &r) < 0.01);
        }
        let far = c.assign(&[30.0, 0.1, 80.0]);
        assert!(!far.known);
    }

    #[test]
    fn one_regime_stays_one() {
        let points: Vec<[f64; 3]> = (0..100)
            .map(|i| [(i as f64 - 50.0) * 1e-4, 3e-4, 100.0])
            .collect();
        assert_eq!(Conditions::fit(&points).len(), 1);
    }
}
