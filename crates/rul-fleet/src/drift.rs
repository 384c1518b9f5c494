//! Fleet-wide input drift: the last `window` readings of all engines, binned by the training deciles of each
//! input, compared with training by the population stability index (PSI, against each bin's training share)
//! and by the mean shift in training standard deviations. Counts are kept incrementally, so each
//! reading costs a few additions.

use std::collections::VecDeque;

use rul_data::InputProfile;
use serde::Serialize;

/// Readings of the fleet the PSI looks at by default (DRIFT_FLEET_WINDOW).
pub const DEFAULT_FLEET_WINDOW: usize = 2000;
/// Smallest bin share used in the PSI, so an empty bin counts as very unlikely rather than impossible.
const MIN_SHARE: f64 = 1e-4;

/// Rolling decile counts and sums of the fleet's last readings.
#[derive(Debug)]
pub(crate) struct FleetDrift {
    window: usize,
    ring: VecDeque<(Vec<u8>, Vec<f64>)>,
    counts: Vec<[u32; 10]>,
    sums: Vec<f64>,
}

/// One input's drift across the fleet, with its training statistics (for dashboards and alerts).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SensorDrift {
    pub sensor: String,
    /// Population stability index of the fleet's last readings against training (0 = same distribution;
    /// above 0.25 is commonly read as a significant shift).
    pub psi: f64,
    /// Mean of the fleet's last readings minus the training mean, in training standard deviations.
    pub mean_shift: f64,
    /// Training range and moments (across operating conditions: smallest minimum, largest maximum, and
    /// the first condition's mean and standard deviation).
    pub train_min: f64,
    pub train_max: f64,
    pub train_mean: f64,
    pub train_std: f64,
}

impl FleetDrift {
    pub(crate) fn new(window: usize, inputs: usize) -> Self {
        FleetDrift {
            window: window.max(1),
            ring: VecDeque::new(),
            counts: vec![[0; 10]; inputs],
            sums: vec![0.0; inputs],
        }
    }

    /// Adds one standardised reading, dropping the oldest beyond the window.
    pub(crate) fn push(&mut self, profile: &InputProfile, z: Vec<f64>) {
        if z.len() != self.sums.len() {
            return;
        }
        if self.ring.len() >= self.window
            && let Some((bins, old)) = self.ring.pop_front()
        {
            for (j, (b, v)) in bins.iter().zip(&old).enumerate() {
                self.counts[j][usize::from(*b)] -= 1;
                self.sums[j] -= v;
            }
        }
        let bins: Vec<u8> = z
            .iter()
            .enumerate()
            .map(|(j, v)| profile.bin(j, *v) as u8)
            .collect();
        for (j, (b, v)) in bins.iter().zip(&z).enumerate() {
            self.counts[j][usize::from(*b)] += 1;
            self.sums[j] += v;
        }
        self.ring.push_back((bins, z));
    }

    /// Readings in the window now.
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Per-input PSI and mean shift of the window (empty while no reading has arrived).
    pub(crate) fn sensors(&self, profile: &InputProfile) -> Vec<SensorDrift> {
        let n = self.ring.len();
        if n == 0 {
            return Vec::new();
        }
        profile
            .sensors
            .iter()
            .enumerate()
            .map(|(j, name)| {
                let expected = profile.shares.get(j).map_or(&[][..], Vec::as_slice);
                let psi = self.counts[j]
                    .iter()
                    .zip(expected)
                    .map(|(&c, &e)| {
                        let a = (f64::from(c) / n as f64).max(MIN_SHARE);
                        let e = e.max(MIN_SHARE);
                        (a - e) * (a / e).ln()
                    })
                    .sum();
                let stats = profile.stats.iter().filter_map(|s| s.get(j));
                let first = profile.stats.first().and_then(|s| s.get(j));
                SensorDrift {
                    sensor: name.clone(),
                    psi,
                    mean_shift: self.sums[j] / n as f64,
                    train_min: stats.clone().map(|s| s.min).fold(f64::INFINITY, f64::min),
                    train_max: stats.map(|s| s.max).fold(f64::NEG_INFINITY, f64::max),
                    train_mean: first.map_or(f64::NAN, |s| s.mean),
                    train_std: first.map_or(f64::NAN, |s| s.std),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rul_data::{Preprocessor, PreprocessorConfig, profile::positional};

    fn profile_and_readings() -> (InputProfile, Vec<[f64; 24]>) {
        let engines = rul_data::synthetic::fleet(20, 5);
        let pre = Preprocessor::fit(PreprocessorConfig::default(), &engines).unwrap();
        let p = InputProfile::fit(&pre, &engines, "synthetic").unwrap();
        let rows = engines
            .iter()
            .flat_map(|e| e.cycles.iter().map(positional))
            .collect();
        (p, rows)
    }

    #[test]
    fn training_readings_have_a_small_psi_and_an_offset_a_large_one() {
        let (p, rows) = profile_and_readings();
        let mut clean = FleetDrift::new(rows.len(), p.sensors.len());
        for r in &rows {
            clean.push(&p, p.standardise(r).unwrap());
        }
        assert_eq!(clean.len(), rows.len());
        let s = clean.sensors(&p);
        assert!(
            s.iter().all(|d| d.psi < 0.01 && d.mean_shift.abs() < 1e-6),
            "{s:?}"
        );

        let s11 = p.positions()[p.sensors.iter().position(|s| s == "s11").unwrap()];
        let mut shifted = FleetDrift::new(500, p.sensors.len());
        for r in &rows {
            let mut r = *r;
            r[s11] += 2.0 * p.stats[0][6].std;
            shifted.push(&p, p.standardise(&r).unwrap());
        }
        assert_eq!(
            shifted.len(),
            500,
            "the window keeps only the last readings"
        );
        let d = shifted.sensors(&p);
        let worst = d.iter().max_by(|a, b| a.psi.total_cmp(&b.psi)).unwrap();
        assert_eq!(worst.sensor, "s11");
        assert!(worst.psi > 0.25, "{worst:?}");
    }
}
