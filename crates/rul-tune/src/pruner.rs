//! Median pruning (Optuna's `MedianPruner`): stop a trial at epoch k when the best validation
//! RMSE it has reached so far is worse than the median of the completed trials' validation
//! RMSE at epoch k. Warm-up settings keep it from judging before there is a reference.

use serde::{Deserialize, Serialize};

/// Median pruner settings.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MedianPruner {
    /// Never prune before this many trials have completed.
    pub startup_trials: usize,
    /// Never prune at or before this epoch (early epochs are noisy).
    pub warmup_epochs: usize,
}

impl Default for MedianPruner {
    /// Optuna's defaults for startup trials (5), one warm-up epoch.
    fn default() -> Self {
        Self {
            startup_trials: 5,
            warmup_epochs: 1,
        }
    }
}

impl MedianPruner {
    /// Whether a trial whose validation RMSE per epoch so far is `current` should stop, given
    /// the per-epoch validation RMSE of every completed trial. Epoch k = `current.len()`;
    /// completed trials that stopped before epoch k do not count at k.
    pub fn should_prune(&self, current: &[f64], completed: &[Vec<f64>]) -> bool {
        let epoch = current.len();
        if completed.len() < self.startup_trials.max(1) || epoch == 0 || epoch <= self.warmup_epochs
        {
            return false;
        }
        let best = current
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min);
        let mut at_epoch: Vec<f64> = completed
            .iter()
            .filter_map(|h| h.get(epoch - 1).copied())
            .filter(|v| v.is_finite())
            .collect();
        match median(&mut at_epoch) {
            Some(m) => best > m,
            None => false,
        }
    }
}

/// Median (mean of the middle two for an even count); None when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: MedianPruner = MedianPruner {
        startup_trials: 2,
        warmup_epochs: 1,
    };

    #[test]
    fn prunes_only_when_worse_than_the_median_at_that_epoch() {
        let completed = vec![
            vec![30.0, 20.0, 15.0],
            vec![32.0, 24.0, 16.0],
            vec![31.0, 22.0],
        ];
        // Epoch 2: median of 20, 24, 22 is 22.
        assert!(P.should_prune(&[40.0, 23.0], &completed));
        assert!(!P.should_prune(&[40.0, 21.0], &completed));
        // Best so far counts, not the latest epoch: 21 at epoch 2, 50 at epoch 3 (median 15.5).
        assert!(P.should_prune(&[40.0, 21.0, 50.0], &completed));
        assert!(!P.should_prune(&[40.0, 15.0, 50.0], &completed));
        // Equal to the median is not worse.
        assert!(!P.should_prune(&[22.0, 22.0], &completed));
    }

    #[test]
    fn warmup_and_startup_hold_pruning_back() {
        let completed = vec![vec![10.0, 10.0], vec![10.0, 10.0]];
        assert!(!P.should_prune(&[99.0], &completed), "epoch 1 is warm-up");
        assert!(P.should_prune(&[99.0, 99.0], &completed));
        assert!(
            !P.should_prune(&[99.0, 99.0], &completed[..1]),
            "one completed trial is below startup_trials"
        );
        assert!(!P.should_prune(&[], &completed));
    }

    #[test]
    fn epochs_no_completed_trial_reached_never_prune() {
        let completed = vec![vec![10.0, 10.0], vec![10.0, 10.0]];
        assert!(!P.should_prune(&[99.0, 99.0, 99.0], &completed));
        let with_nan = vec![vec![10.0, f64::NAN], vec![10.0, f64::NAN]];
        assert!(!P.should_prune(&[99.0, 99.0], &with_nan));
    }
}
