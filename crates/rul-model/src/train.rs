//! The training loop: Adam on mini-batches of windows, validation on held-out engines after each
//! epoch, reduce-LR-on-plateau, early stopping that restores the best epoch, and progress
//! reported through a callback (one [`EpochReport`] per epoch; the CLI prints them) and
//! `tracing` at debug level. The callback may stop training early (a tuner's pruner does).

use std::ops::ControlFlow;
use std::sync::Mutex;
use std::time::Instant;

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rul_data::Windows;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::TrainError;
use crate::infer::reference::predict_raw;
use crate::model::{RulNet, input_tensor};

/// Held for the whole of a training run (see [`fit`]).
static TRAINING: Mutex<()> = Mutex::new(());

/// Progress of one finished epoch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// Epoch number, from 1.
    pub epoch: usize,
    /// Configured maximum.
    pub max_epochs: usize,
    /// RMSE (cycles) over this epoch's training batches, dropout active.
    pub train_rmse: f64,
    /// RMSE (cycles) on validation windows (capped truth, as trained).
    pub val_rmse: f64,
    /// Learning rate used during this epoch.
    pub lr: f64,
    /// Seconds since training started.
    pub elapsed_secs: f64,
    /// Seconds this epoch took.
    pub epoch_secs: f64,
    /// Upper bound on the remaining time (epochs left × mean epoch time; early stopping may end sooner).
    pub eta_secs: f64,
    /// Best epoch so far.
    pub best_epoch: usize,
    /// Validation RMSE of the best epoch.
    pub best_val_rmse: f64,
    /// This epoch improved on the best.
    pub improved: bool,
}

/// Why the loop ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Ran every configured epoch.
    MaxEpochs,
    /// No validation improvement for `early_stopping_patience` epochs.
    EarlyStopping,
    /// `time_budget_secs` ran out.
    TimeBudget,
    /// The progress callback asked to stop (a tuner pruned an unpromising trial).
    Pruned,
}

/// A trained network (best epoch, inference mode) and its history.
#[derive(Debug)]
pub struct FitOutcome {
    /// Best epoch's weights on the plain Flex device, dropout off.
    pub model: RulNet,
    /// One report per epoch run.
    pub history: Vec<EpochReport>,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Its validation RMSE.
    pub best_val_rmse: f64,
    /// Why training ended.
    pub stop: StopReason,
    /// Wall-clock seconds of the loop.
    pub seconds: f64,
}

/// Trains a fresh network of `config.model` on `train` windows, selecting epochs on `val`.
/// Targets are divided by `target_scale` for the loss. Deterministic for a given seed.
/// `progress` sees every epoch; returning `ControlFlow::Break(())` ends training after that
/// epoch with [`StopReason::Pruned`] (the best epoch so far is kept).
pub fn fit(
    config: &TrainConfig,
    train: &Windows,
    val: &Windows,
    target_scale: f64,
    progress: &mut dyn FnMut(&EpochReport) -> ControlFlow<()>,
) -> Result<FitOutcome, TrainError> {
    config.validate().map_err(TrainError::Invalid)?;
    if train.count == 0 || val.count == 0 {
        return Err(TrainError::Data(format!(
            "need training and validation windows, got {} and {}",
            train.count, val.count
        )));
    }
    let (window, features) = (train.window, train.features);
    // The Flex backend's RNG (initialisation, dropout) is one global generator: concurrent
    // trainings would interleave draws, so training is serialised to stay deterministic.
    let _guard = TRAINING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let device = Device::flex().autodiff();
    device.seed(config.seed);
    let mut model = config.model.init(features, &device);
    let mut optim_config = AdamConfig::new().with_epsilon(1e-7);
    if config.weight_decay > 0.0 {
        optim_config = optim_config
            .with_weight_decay(Some(WeightDecayConfig::new(config.weight_decay as f32)));
    }
    if let Some(clip) = config.grad_clip {
        optim_config = optim_config.with_grad_clipping(Some(
            burn::optim::grad_clipping::GradientClippingConfig::Norm(clip as f32),
        ));
    }
    let mut optim = optim_config.init();
    let mut rng = StdRng::seed_from_u64(config.seed ^ 0x5EED_5EED);
    let mut order: Vec<usize> = (0..train.count).collect();
    let scale = target_scale as f32;
    let row = window * features;

    let start = Instant::now();
    let mut lr = config.learning_rate;
    let mut best: Option<(usize, f64, RulNet)> = None;
    let mut since_best = 0usize;
    let mut plateau_best = f64::INFINITY;
    let mut since_plateau_best = 0usize;
    let mut history = Vec::new();
    let mut stop = StopReason::MaxEpochs;

    for epoch in 1..=config.epochs {
        let epoch_start = Instant::now();
        order.shuffle(&mut rng);
        let mut sq_sum = 0.0f64;
        for chunk in order.chunks(config.batch_size) {
            let mut inputs = Vec::with_capacity(chunk.len() * row);
            let mut targets = Vec::with_capacity(chunk.len());
            for &i in chunk {
                inputs.extend_from_slice(train.input(i));
                targets.push(train.targets[i] / scale);
            }
            if config.input_noise > 0.0 {
                add_noise(&mut inputs, config.input_noise as f32, &mut rng);
            }
            let x = input_tensor(inputs, chunk.len(), window, features, &device);
            let y: Tensor<1> = Tensor::from_data(TensorData::new(targets, [chunk.len()]), &device);
            let loss = (model.forward(x) - y).square().mean();
            let loss_value = scalar(&loss)?;
            if !loss_value.is_finite() {
                return Err(TrainError::Diverged {
                    epoch,
                    loss: loss_value,
                });
            }
            sq_sum += loss_value * chunk.len() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
        }
        let train_rmse = (sq_sum / train.count as f64).sqrt() * target_scale;

        let snapshot = model.valid();
        let val_pred = predict_windows(&snapshot, val, target_scale)?;
        let val_rmse = rmse_f32(&val_pred, &val.targets);
        if !val_rmse.is_finite() {
            return Err(TrainError::Diverged {
                epoch,
                loss: val_rmse,
            });
        }
        let val_loss = val_rmse * val_rmse;
        let improved = match &best {
            Some((_, b, _)) => val_loss < b * b * (1.0 - config.min_delta),
            None => true,
        };
        if improved {
            best = Some((epoch, val_rmse, snapshot));
            since_best = 0;
        } else {
            since_best += 1;
        }
        // Reduce-on-plateau keeps its own reference (as Keras does).
        let lr_used = lr;
        if val_loss < plateau_best * (1.0 - config.min_delta) {
            plateau_best = val_loss;
            since_plateau_best = 0;
        } else {
            since_plateau_best += 1;
            if since_plateau_best >= config.lr_patience {
                lr = (lr * config.lr_factor).max(config.min_lr);
                since_plateau_best = 0;
            }
        }

        let elapsed = start.elapsed().as_secs_f64();
        let (best_epoch, best_val_rmse) = best.as_ref().map_or((0, f64::NAN), |b| (b.0, b.1));
        let report = EpochReport {
            epoch,
            max_epochs: config.epochs,
            train_rmse,
            val_rmse,
            lr: lr_used,
            elapsed_secs: elapsed,
            epoch_secs: epoch_start.elapsed().as_secs_f64(),
            eta_secs: elapsed / epoch as f64 * (config.epochs - epoch) as f64,
            best_epoch,
            best_val_rmse,
            improved,
        };
        tracing::debug!(
            epoch,
            train_rmse,
            val_rmse,
            lr = lr_used,
            elapsed_secs = elapsed,
            "epoch finished"
        );
        let control = progress(&report);
        history.push(report);

        if control.is_break() {
            stop = StopReason::Pruned;
            break;
        }
        if since_best >= config.early_stopping_patience {
            stop = StopReason::EarlyStopping;
            break;
        }
        if config.time_budget_secs.is_some_and(|t| elapsed >= t) && epoch < config.epochs {
            stop = StopReason::TimeBudget;
            break;
        }
    }

    let (best_epoch, best_val_rmse, model) = match best {
        Some(b) => b,
        None => return Err(TrainError::Data("no epoch was run".into())),
    };
    Ok(FitOutcome {
        model,
        history,
        best_epoch,
        best_val_rmse,
        stop,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Predicts every window (in RUL cycles, unclamped) with an inference-mode network.
pub fn predict_windows(
    model: &RulNet,
    windows: &Windows,
    target_scale: f64,
) -> Result<Vec<f32>, TrainError> {
    predict_windows_mean(std::slice::from_ref(model), windows, target_scale)
}

/// Like [`predict_windows`], averaging the predictions of several networks (an ensemble).
pub fn predict_windows_mean(
    models: &[RulNet],
    windows: &Windows,
    target_scale: f64,
) -> Result<Vec<f32>, TrainError> {
    predict_raw(
        models,
        &windows.inputs,
        windows.count,
        windows.window,
        windows.features,
        target_scale,
    )
    .map_err(|e| TrainError::Data(e.to_string()))
}

/// Adds N(0, sigma) to every value (Box-Muller on the seeded generator).
fn add_noise(values: &mut [f32], sigma: f32, rng: &mut StdRng) {
    for pair in values.chunks_mut(2) {
        let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
        let u2: f32 = rng.random();
        let r = (-2.0 * u1.ln()).sqrt() * sigma;
        let theta = 2.0 * std::f32::consts::PI * u2;
        pair[0] += r * theta.cos();
        if let Some(v) = pair.get_mut(1) {
            *v += r * theta.sin();
        }
    }
}

fn scalar(t: &Tensor<1>) -> Result<f64, TrainError> {
    t.clone()
        .try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Data(format!("reading the loss failed: {e:?}")))
        .map(|v| v.first().copied().map_or(f64::NAN, f64::from))
}

/// RMSE between f32 predictions and targets.
pub(crate) fn rmse_f32(pred: &[f32], truth: &[f32]) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return f64::NAN;
    }
    let s: f64 = pred
        .iter()
        .zip(truth)
        .map(|(p, t)| {
            let d = f64::from(*p) - f64::from(*t);
            d * d
        })
        .sum();
    (s / n as f64).sqrt()
}
