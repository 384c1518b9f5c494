//! A small but real trained artifact on synthetic degradation data, for tests of this and
//! downstream crates (runs in about a second).

use std::path::Path;

use rul_data::{Engine, PreprocessorConfig, Subset, SubsetData, synthetic::fleet};

use crate::calibration::CalibrationConfig;
use crate::config::TrainConfig;
use crate::error::{ArtifactError, TrainError};
use crate::model::{ConvLayer, ConvLstmConfig, ModelConfig};
use crate::pipeline::{TrainSummary, train_subset};

/// Window length of the test artifact.
pub const TEST_WINDOW: usize = 10;

/// The tiny configuration `write_test_artifact` trains with.
pub fn test_config(seed: u64) -> TrainConfig {
    TrainConfig {
        subset: Subset::FD001,
        model: ModelConfig::ConvLstm(ConvLstmConfig {
            conv: vec![ConvLayer {
                channels: 8,
                kernel: 3,
                stride: 2,
            }],
            lstm: vec![8],
            dense: vec![8],
            dropout: 0.1,
        }),
        preprocessor: PreprocessorConfig {
            window: TEST_WINDOW,
            ..PreprocessorConfig::default()
        },
        epochs: 2,
        batch_size: 64,
        val_fraction: 0.2,
        calibration_fraction: 0.2,
        calibration: CalibrationConfig {
            bins: 4,
            min_bin: 40,
            ..CalibrationConfig::default()
        },
        seed,
        ..TrainConfig::for_subset(Subset::FD001)
    }
}

/// Synthetic run-to-failure training engines plus truncated test engines with their true RUL.
pub fn synthetic_data(seed: u64) -> SubsetData {
    let train = fleet(40, seed);
    let mut test: Vec<Engine> = fleet(8, seed.wrapping_add(1000));
    let mut test_rul = Vec::with_capacity(test.len());
    for (k, engine) in test.iter_mut().enumerate() {
        let life = engine.cycles.len();
        // Cut between 30% and 90% of life, deterministically per engine.
        let keep = (life * (30 + (k * 37) % 60) / 100).max(1);
        engine.cycles.truncate(keep);
        test_rul.push((life - keep) as f64);
    }
    SubsetData {
        subset: Subset::FD001,
        train,
        test,
        test_rul,
        files: Vec::new(),
    }
}

/// Trains the tiny configuration on synthetic data and writes the artifact into `dir`.
pub fn train_test_artifact(dir: &Path, seed: u64) -> Result<TrainSummary, TrainError> {
    train_synthetic(dir, seed, &test_config(seed))
}

/// Trains `config` on the synthetic data of `seed` into `dir`.
fn train_synthetic(
    dir: &Path,
    seed: u64,
    config: &TrainConfig,
) -> Result<TrainSummary, TrainError> {
    train_subset(&synthetic_data(seed), config, dir, &mut |_| {
        std::ops::ControlFlow::Continue(())
    })
}

/// Like [`write_test_artifact`], with input windows of `window` cycles instead of [`TEST_WINDOW`].
pub fn write_test_artifact_with_window(
    dir: &Path,
    seed: u64,
    window: usize,
) -> Result<(), ArtifactError> {
    let mut config = test_config(seed);
    config.preprocessor.window = window;
    match train_synthetic(dir, seed, &config) {
        Ok(_) => Ok(()),
        Err(TrainError::Artifact(e)) => Err(e),
        Err(e) => Err(ArtifactError::Build(e.to_string())),
    }
}

/// Writes a small but real trained artifact (synthetic degradation data, 2 epochs) into `dir`.
pub fn write_test_artifact(dir: &Path, seed: u64) -> Result<(), ArtifactError> {
    write_test_artifact_with_window(dir, seed, TEST_WINDOW)
}
