//! The training pipeline: engine-wise splits into fit, validation and calibration engines, the
//! preprocessor fitted on the fit engines, windows, and [`train_subset`] which runs everything
//! and writes the artifact.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use rul_data::{Engine, Preprocessor, SubsetData, Windows, split_engines, train_labels};

use crate::artifact::{
    Artifact, MODEL_FORMAT, MODEL_FORMAT_VERSION, ModelSpec, write_core, write_rest,
};
use crate::calibration::Calibration;
use crate::card::ModelCard;
use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::evaluate::{EvalError, EvalReport, IntervalStats, coverage_of, evaluate_subset};
use crate::metrics::PointMetrics;
use crate::model::RulNet;
use crate::train::{EpochReport, StopReason, fit, predict_windows, predict_windows_mean, rmse_f32};

/// The three disjoint engine sets of a training file and their windows.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Preprocessor fitted on the fit engines only.
    pub preprocessor: Preprocessor,
    /// Engines the network is trained on.
    pub fit_engines: Vec<Engine>,
    /// Engines for early stopping and model selection.
    pub val_engines: Vec<Engine>,
    /// Engines for conformal calibration.
    pub cal_engines: Vec<Engine>,
    /// Training windows (labels capped at the ceiling).
    pub fit: Windows,
    /// Validation windows (labels capped at the ceiling).
    pub val: Windows,
}

/// Splits `train` engines by the configured fractions and seed, fits the preprocessor and builds
/// the training and validation windows.
pub fn prepare(config: &TrainConfig, train: &[Engine]) -> Result<Prepared, TrainError> {
    config.validate().map_err(TrainError::Invalid)?;
    if train.len() < 5 {
        return Err(TrainError::Data(format!(
            "need at least 5 training engines to split into fit/validation/calibration, got {}",
            train.len()
        )));
    }
    let (rest, val_engines) = split_engines(train, config.val_fraction, config.seed);
    let cal_share = config.calibration_fraction / (1.0 - config.val_fraction);
    let (fit_engines, cal_engines) = split_engines(&rest, cal_share, config.seed.wrapping_add(1));
    if fit_engines.is_empty() || val_engines.is_empty() || cal_engines.is_empty() {
        return Err(TrainError::Data("an engine split came out empty".into()));
    }
    let preprocessor = Preprocessor::fit(config.preprocessor.clone(), &fit_engines)?;
    let ceiling = config.preprocessor.ceiling;
    let fit = windows(&preprocessor, &fit_engines, ceiling);
    let val = windows(&preprocessor, &val_engines, ceiling);
    Ok(Prepared {
        preprocessor,
        fit_engines,
        val_engines,
        cal_engines,
        fit,
        val,
    })
}

/// Every window of `engines` with labels `min(last - cycle, cap)`.
pub fn windows(pre: &Preprocessor, engines: &[Engine], cap: f64) -> Windows {
    let labels: Vec<Vec<f64>> = engines.iter().map(|e| train_labels(e, cap)).collect();
    pre.windows(engines, &labels)
}

/// What `train_subset` did, for the CLI to print.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainSummary {
    /// Model version of the written artifact.
    pub version: String,
    /// Artifact directory.
    pub dir: std::path::PathBuf,
    /// Epochs run.
    pub epochs_run: usize,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Why training stopped.
    pub stop: StopReason,
    /// Seconds in the training loop.
    pub train_seconds: f64,
    /// Training windows processed per second of the training loop (fit windows × epochs, validation included).
    pub train_windows_per_second: f64,
    /// Seconds for everything (preparation, training, calibration, evaluation, writing).
    pub total_seconds: f64,
    /// Validation RMSE (all windows of validation engines, capped truth) of the kept epoch.
    pub val_rmse: f64,
    /// Interval coverage and width on validation engines (truth capped at the horizon).
    pub val_intervals: IntervalStats,
    /// Point metrics on every validation window against raw truth capped at the calibration
    /// horizon (a test-like view: test truth at the last cycle is raw, not capped).
    pub val_raw: PointMetrics,
    /// Test-set evaluation (None when the data has no test engines).
    pub test: Option<EvalReport>,
}

/// Trains a model for `data.subset` and writes a complete artifact into `out`: split engines,
/// fit the preprocessor, train with early stopping, calibrate on the calibration engines, check
/// the intervals on the validation engines, evaluate on the official test set, write every file
/// and re-load the directory to prove it validates. `progress` may stop training early (see
/// [`fit`]); the artifact then holds the best epoch so far.
pub fn train_subset(
    data: &SubsetData,
    config: &TrainConfig,
    out: &Path,
    progress: &mut dyn FnMut(&EpochReport) -> ControlFlow<()>,
) -> Result<TrainSummary, TrainError> {
    let started = Instant::now();
    config.validate().map_err(TrainError::Invalid)?;
    if data.subset != config.subset {
        return Err(TrainError::Invalid(format!(
            "config is for {} but the data is {}",
            config.subset, data.subset
        )));
    }
    let prep = prepare(config, &data.train)?;
    let ceiling = config.preprocessor.ceiling;
    tracing::info!(
        subset = %config.subset,
        fit_engines = prep.fit_engines.len(),
        val_engines = prep.val_engines.len(),
        cal_engines = prep.cal_engines.len(),
        fit_windows = prep.fit.count,
        model = config.model.name(),
        "training"
    );
    let (networks, runs) = fit_networks(config, &prep, progress)?;
    let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
    let epochs_run: usize = runs.iter().map(|r| r.history.len()).sum();
    let windows_per_second = (prep.fit.count * epochs_run) as f64 / seconds.max(f64::MIN_POSITIVE);
    let val_rmse = rmse_f32(
        &predict_windows_mean(&networks, &prep.val, ceiling)?,
        &prep.val.targets,
    );
    let outcome = runs
        .last()
        .ok_or_else(|| TrainError::Data("no network trained".into()))?;
    let history: Vec<&EpochReport> = runs.iter().flat_map(|r| &r.history).collect();

    // Conformal calibration against truth capped at the horizon (see CalibrationConfig).
    let cap = config.calibration.truth_horizon.unwrap_or(ceiling);
    let cal_w = windows(&prep.preprocessor, &prep.cal_engines, cap);
    let cal_pred = clamp(predict_windows_mean(&networks, &cal_w, ceiling)?);
    let cal_truth: Vec<f64> = cal_w.targets.iter().map(|&t| f64::from(t)).collect();
    // Binned confidence: an isotonic map against raw truth (`rul calibrate`) measured worse on
    // the shipped models' validation engines (README, "Prognostic evaluation").
    let calibration = Calibration::fit(&config.calibration, &cal_pred, &cal_truth)?;
    let val_w = windows(&prep.preprocessor, &prep.val_engines, cap);
    let val_pred = clamp(predict_windows_mean(&networks, &val_w, ceiling)?);
    let val_truth: Vec<f64> = val_w.targets.iter().map(|&t| f64::from(t)).collect();
    let val_intervals = coverage_of(&calibration, &val_pred, &val_truth);
    let val_raw = PointMetrics::compute(&val_pred, &val_truth);

    let spec = ModelSpec {
        format: MODEL_FORMAT.into(),
        format_version: MODEL_FORMAT_VERSION,
        subset: config.subset,
        architecture: config.model.clone(),
        window: prep.preprocessor.window(),
        n_features: prep.preprocessor.n_features(),
        target_scale: ceiling,
        seed: config.seed,
        training: config.clone(),
    };
    let core = write_core(out, &spec, &networks, &prep.preprocessor, &calibration)?;
    let version = core.version.clone();
    let artifact = Artifact::from_parts(
        out,
        version.clone(),
        spec.clone(),
        networks,
        prep.preprocessor.clone(),
        calibration.clone(),
    )?;
    let test = if data.test.is_empty() {
        None
    } else {
        Some(
            evaluate_subset(&artifact, data)
                .map_err(|e| match e {
                    EvalError::Artifact(a) => TrainError::Artifact(a),
                    other => TrainError::Data(other.to_string()),
                })?
                .0,
        )
    };

    let mut summary = serde_json::json!({
        "val_rmse": val_rmse,
        "val_interval_coverage": val_intervals.coverage,
        "val_rmse_raw": val_raw.rmse,
        "epochs": epochs_run,
        "best_epoch": outcome.best_epoch,
        "training_seconds": seconds,
    });
    if let (Some(t), Some(obj)) = (&test, summary.as_object_mut())
        && let Some(extra) = t.summary().as_object()
    {
        obj.extend(extra.clone());
    }
    let metrics = serde_json::json!({
        "format_version": 1,
        "created": now_rfc3339(),
        "subset": config.subset,
        "version": version,
        "summary": summary,
        "training": {
            "seconds": seconds,
            "windows_per_second": windows_per_second,
            "epochs_run": epochs_run,
            "best_epoch": outcome.best_epoch,
            "best_val_rmse": val_rmse,
            "stop": outcome.stop,
            "networks": runs.iter().map(|r| serde_json::json!({
                "seed": r.seed,
                "epochs_run": r.history.len(),
                "best_epoch": r.best_epoch,
                "val_rmse": r.best_val_rmse,
                "stop": r.stop,
                "seconds": r.seconds,
            })).collect::<Vec<_>>(),
            "engines": {
                "fit": units(&prep.fit_engines),
                "validation": units(&prep.val_engines),
                "calibration": units(&prep.cal_engines),
            },
            "windows": { "fit": prep.fit.count, "validation": prep.val.count, "calibration": cal_w.count },
            "history": history,
        },
        "validation": {
            "rmse": val_rmse,
            "raw_truth_horizon": cap,
            "raw": val_raw,
            "intervals": val_intervals,
        },
        "test": test,
        "data_files": data.files,
    });
    let card = ModelCard::build(&version, &spec, &prep.preprocessor, &calibration, &metrics);
    write_rest(out, core, &metrics, &card.to_markdown())?;

    let loaded = Artifact::load(out)?;
    if loaded.version() != version {
        return Err(TrainError::Data(format!(
            "re-loaded artifact has version {} instead of {version}",
            loaded.version()
        )));
    }
    tracing::info!(%version, dir = %out.display(), "artifact written");
    Ok(TrainSummary {
        version,
        dir: out.to_path_buf(),
        epochs_run,
        best_epoch: outcome.best_epoch,
        stop: outcome.stop,
        train_seconds: seconds,
        train_windows_per_second: windows_per_second,
        total_seconds: started.elapsed().as_secs_f64(),
        val_rmse,
        val_intervals,
        val_raw,
        test,
    })
}

/// One trained member of the model: its seed and how its training went.
struct NetworkRun {
    seed: u64,
    history: Vec<EpochReport>,
    best_epoch: usize,
    best_val_rmse: f64,
    stop: StopReason,
    seconds: f64,
}

/// Trains `config.ensemble` networks on the same engines (seeds `seed`, `seed + 1`, …), each
/// early-stopped on the validation engines, and checks each restored best epoch.
fn fit_networks(
    config: &TrainConfig,
    prep: &Prepared,
    progress: &mut dyn FnMut(&EpochReport) -> ControlFlow<()>,
) -> Result<(Vec<RulNet>, Vec<NetworkRun>), TrainError> {
    let ceiling = config.preprocessor.ceiling;
    let mut networks = Vec::with_capacity(config.ensemble);
    let mut runs = Vec::with_capacity(config.ensemble);
    for i in 0..config.ensemble {
        let seed = config.seed.wrapping_add(i as u64);
        if config.ensemble > 1 {
            tracing::info!(
                network = i + 1,
                of = config.ensemble,
                seed,
                "training network"
            );
        }
        let member = config.clone().with_seed(seed);
        let outcome = fit(&member, &prep.fit, &prep.val, ceiling, progress)?;
        // The kept weights must reproduce the best epoch's validation RMSE.
        let val_check = rmse_f32(
            &predict_windows(&outcome.model, &prep.val, ceiling)?,
            &prep.val.targets,
        );
        if (val_check - outcome.best_val_rmse).abs() > 1e-6 * outcome.best_val_rmse.max(1.0) {
            return Err(TrainError::Data(format!(
                "restored weights give validation RMSE {val_check}, the best epoch had {}",
                outcome.best_val_rmse
            )));
        }
        let pruned = outcome.stop == StopReason::Pruned;
        networks.push(outcome.model);
        runs.push(NetworkRun {
            seed,
            history: outcome.history,
            best_epoch: outcome.best_epoch,
            best_val_rmse: outcome.best_val_rmse,
            stop: outcome.stop,
            seconds: outcome.seconds,
        });
        // A pruned trial is abandoned: the other networks would not change that.
        if pruned {
            break;
        }
    }
    Ok((networks, runs))
}

fn clamp(pred: Vec<f32>) -> Vec<f64> {
    pred.into_iter().map(|p| f64::from(p).max(0.0)).collect()
}

fn units(engines: &[Engine]) -> Vec<u32> {
    engines.iter().map(|e| e.unit).collect()
}

pub use rul_data::time::now_rfc3339;
