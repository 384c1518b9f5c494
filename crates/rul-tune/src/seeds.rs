//! The multi-seed protocol: one training configuration trained with several seeds and judged by the
//! mean and spread of its validation RMSE, never by one lucky seed. The seed also draws the
//! fit/validation/calibration split, so each seed is judged on its own held-out engines (repeated
//! random sub-sampling). Test figures are recorded beside, for the README, never used to choose.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use rul_data::SubsetData;
use rul_model::TrainConfig;
use rul_model::train::EpochReport;
use rul_track::TrackSettings;
use serde::{Deserialize, Serialize};

use crate::error::TuneError;
use crate::tracked::train_tracked;

/// Mean, sample standard deviation and range of one figure over seeds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Number of values (seeds).
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator; 0 for a single value).
    pub sd: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` when there are none (or any is not finite).
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() || values.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Self {
            n,
            mean,
            sd,
            min,
            max,
        })
    }
}

/// The figures of one seed's model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SeedRun {
    /// Seed of the split, initialisation, dropout and shuffling.
    pub seed: u64,
    /// Model version of the written artifact.
    pub version: String,
    /// Artifact directory.
    pub dir: PathBuf,
    /// Epochs run and the kept one.
    pub epochs_run: usize,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Seconds in the training loop.
    pub train_seconds: f64,
    /// Named figures: `val_rmse` (the judge) and the run's final metrics (`test_rmse`, …).
    pub metrics: BTreeMap<String, f64>,
}

/// Every seed's figures and, per figure, the spread over seeds.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SeedStudy {
    /// One entry per seed, in the order trained.
    pub runs: Vec<SeedRun>,
    /// Spread of every figure present in all runs, by name.
    pub spread: BTreeMap<String, Spread>,
}

/// The figures reported per seed (a subset of the run's final metrics), the judge first.
pub const FIGURES: [&str; 10] = [
    "val_rmse",
    "val_rmse_raw",
    "test_rmse",
    "test_rmse_capped",
    "test_score",
    "interval_coverage",
    "interval_mean_width",
    "test_ece_all_cycles",
    "heldout_alpha_lambda_50",
    "heldout_ph_stable_mean",
];

/// Trains `config` once per seed into `out/seed-<seed>` (each run recorded per `track`) and
/// returns every seed's figures with their spread. Stops at the first failed training.
pub fn run_seeds(
    data: &SubsetData,
    config: &TrainConfig,
    seeds: &[u64],
    out: &Path,
    track: &TrackSettings,
    progress: &mut dyn FnMut(u64, &EpochReport) -> ControlFlow<()>,
) -> Result<SeedStudy, TuneError> {
    if seeds.is_empty() {
        return Err(TuneError::Invalid("at least one seed is needed".into()));
    }
    let mut runs = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let seeded = config.clone().with_seed(seed);
        let dir = out.join(format!("seed-{seed}"));
        let tags = BTreeMap::from([
            ("rul.command".to_string(), "seeds".to_string()),
            ("rul.seed".to_string(), seed.to_string()),
        ]);
        let name = format!("{}-seed-{seed}", config.subset);
        let tracked = train_tracked(data, &seeded, &dir, track, &name, tags, &mut |r| {
            progress(seed, r)
        })?;
        let summary = tracked.result?;
        // The run record names the judge `best_val_rmse` (apart from its per-epoch series); here it is `val_rmse`.
        let metrics: BTreeMap<String, f64> = crate::tracked::final_metrics(&summary)
            .into_iter()
            .map(|(k, v)| match k.as_str() {
                "best_val_rmse" => ("val_rmse".to_string(), v),
                _ => (k, v),
            })
            .filter(|(k, _)| FIGURES.contains(&k.as_str()))
            .collect();
        runs.push(SeedRun {
            seed,
            version: summary.version,
            dir: summary.dir,
            epochs_run: summary.epochs_run,
            best_epoch: summary.best_epoch,
            train_seconds: summary.train_seconds,
            metrics,
        });
    }
    Ok(SeedStudy {
        spread: spreads(&runs),
        runs,
    })
}

/// Spread of every figure that all runs carry.
pub fn spreads(runs: &[SeedRun]) -> BTreeMap<String, Spread> {
    let Some(first) = runs.first() else {
        return BTreeMap::new();
    };
    first
        .metrics
        .keys()
        .filter_map(|name| {
            let values: Option<Vec<f64>> =
                runs.iter().map(|r| r.metrics.get(name).copied()).collect();
            Some((name.clone(), Spread::of(&values?)?))
        })
        .collect()
}

/// The text table: one row per figure, one column per seed, then mean ± sd.
pub fn seeds_table(study: &SeedStudy) -> String {
    let mut out = format!("{:<24}", "figure");
    for r in &study.runs {
        out.push_str(&format!(" {:>10}", format!("seed {}", r.seed)));
    }
    out.push_str("   mean ± sd\n");
    for name in FIGURES {
        let Some(spread) = study.spread.get(name) else {
            continue;
        };
        out.push_str(&format!("{name:<24}"));
        for r in &study.runs {
            let v = r.metrics.get(name).copied().unwrap_or(f64::NAN);
            out.push_str(&format!(" {v:>10.3}"));
        }
        out.push_str(&format!("   {:.3} ± {:.3}\n", spread.mean, spread.sd));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_the_sample_statistics() {
        let s = Spread::of(&[12.0, 13.0, 14.0]).unwrap();
        assert_eq!(s.n, 3);
        assert!((s.mean - 13.0).abs() < 1e-12);
        assert!((s.sd - 1.0).abs() < 1e-12, "sample sd of 12, 13, 14 is 1");
        assert_eq!((s.min, s.max), (12.0, 14.0));
        assert_eq!(Spread::of(&[5.0]).unwrap().sd, 0.0);
        assert!(Spread::of(&[]).is_none());
        assert!(Spread::of(&[1.0, f64::NAN]).is_none());
    }

    fn run(seed: u64, pairs: &[(&str, f64)]) -> SeedRun {
        SeedRun {
            seed,
            version: format!("v{seed}"),
            dir: PathBuf::from(format!("seed-{seed}")),
            epochs_run: 1,
            best_epoch: 1,
            train_seconds: 0.0,
            metrics: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn only_figures_every_run_has_get_a_spread() {
        let runs = [
            run(1, &[("val_rmse", 12.0), ("test_rmse", 14.0)]),
            run(2, &[("val_rmse", 14.0)]),
        ];
        let s = spreads(&runs);
        assert_eq!(s.keys().collect::<Vec<_>>(), ["val_rmse"]);
        assert!((s["val_rmse"].mean - 13.0).abs() < 1e-12);
        let table = seeds_table(&SeedStudy {
            runs: runs.to_vec(),
            spread: s,
        });
        assert!(table.contains("seed 2"), "{table}");
        assert!(table.contains("13.000 ± 1.414"), "{table}");
        assert!(!table.contains("test_rmse"), "{table}");
    }
}
