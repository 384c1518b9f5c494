//! Training with an experiment record: [`train_tracked`] wraps `rul_model::train_subset` in a
//! `rul_track::Run` (parameters, tags, data checksums, per-epoch metrics, final validation and
//! test metrics, artifact path). `rul train` and every tuning trial go through it.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

use rul_data::SubsetData;
use rul_model::train::EpochReport;
use rul_model::{TrainConfig, TrainError, TrainSummary, train_subset};
use rul_track::{Run, RunEnd, RunRecord, RunSpec, TrackSettings, flatten_params};

use crate::error::TuneError;

/// A training run and its record (the record exists even when training failed).
#[derive(Debug)]
pub struct TrackedTraining {
    /// The training result.
    pub result: Result<TrainSummary, TrainError>,
    /// The finished run record (status, metrics, warnings such as MLflow being unreachable).
    pub record: RunRecord,
    /// The local run folder, when local tracking is on.
    pub run_dir: Option<std::path::PathBuf>,
}

/// Trains `config` on `data` into `out`, recording the run per `settings`. `name` is the run
/// name; `tags` are added to the standard ones (`rul.subset`, `rul.model`). Returns an error
/// only when the run record cannot be created (an unwritable runs directory); a failed
/// training is returned inside [`TrackedTraining::result`] with the run marked failed.
pub fn train_tracked(
    data: &SubsetData,
    config: &TrainConfig,
    out: &Path,
    settings: &TrackSettings,
    name: &str,
    tags: BTreeMap<String, String>,
    progress: &mut dyn FnMut(&EpochReport) -> ControlFlow<()>,
) -> Result<TrackedTraining, TuneError> {
    let config_json = serde_json::to_value(config).map_err(|e| TuneError::Space {
        source_name: "training configuration".into(),
        problem: e.to_string(),
    })?;
    let mut all_tags = BTreeMap::from([
        ("rul.subset".to_string(), config.subset.to_string()),
        ("rul.model".to_string(), config.model.name().to_string()),
    ]);
    all_tags.extend(tags);
    let spec = RunSpec {
        name: name.to_string(),
        params: flatten_params(&config_json),
        tags: all_tags,
        data_files: data
            .files
            .iter()
            .map(|f| (f.name.clone(), f.sha256.clone()))
            .collect(),
    };
    let mut run = Run::start(settings, spec)?;
    let run_dir = run.dir().map(Path::to_path_buf);
    let result = train_subset(data, config, out, &mut |r: &EpochReport| {
        run.log_step(
            r.epoch as u64,
            &[
                ("train_rmse", r.train_rmse),
                ("val_rmse", r.val_rmse),
                ("lr", r.lr),
                ("epoch_seconds", r.epoch_secs),
            ],
        );
        progress(r)
    });
    let end = match &result {
        Ok(summary) => RunEnd {
            error: None,
            metrics: final_metrics(summary),
            artifact: Some(summary.dir.clone()),
        },
        Err(e) => RunEnd {
            error: Some(e.to_string()),
            ..RunEnd::default()
        },
    };
    let record = run.finish(end);
    Ok(TrackedTraining {
        result,
        record,
        run_dir,
    })
}

/// The final numbers of a training run: validation (`best_val_rmse`, the kept epoch's RMSE and
/// the tuning objective; named apart from the per-epoch `val_rmse` series), raw-truth metrics,
/// interval coverage, test-set metrics when there is a test set, epochs and timings.
pub fn final_metrics(s: &TrainSummary) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::from([
        ("best_val_rmse".to_string(), s.val_rmse),
        ("val_rmse_raw".to_string(), s.val_raw.rmse),
        ("val_mae_raw".to_string(), s.val_raw.mae),
        ("val_score_raw".to_string(), s.val_raw.score),
        (
            "val_interval_coverage".to_string(),
            s.val_intervals.coverage,
        ),
        ("epochs_run".to_string(), s.epochs_run as f64),
        ("best_epoch".to_string(), s.best_epoch as f64),
        ("train_seconds".to_string(), s.train_seconds),
        ("total_seconds".to_string(), s.total_seconds),
    ]);
    if let Some(test) = &s.test
        && let Some(obj) = test.summary().as_object()
    {
        for (k, v) in obj {
            if let Some(x) = v.as_f64() {
                m.insert(k.clone(), x);
            }
        }
    }
    m
}
