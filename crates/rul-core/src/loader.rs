//! Loading, validating and warming up a model artifact before it may serve.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rul_data::{Preprocessor, Reading};
use rul_model::{Artifact, InferenceEngine};

use crate::types::ModelInfo;

/// What request threads need to know about the serving model without touching the model thread.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// Version the preprocessor belongs to; jobs prepared under another version are re-prepared.
    pub(crate) version: Arc<str>,
    /// A copy of the artifact's preprocessor, so validation/preprocessing runs on the caller's thread.
    pub(crate) preprocessor: Preprocessor,
    /// Public description of the model.
    pub(crate) info: ModelInfo,
    /// A copy of the artifact's calibration, so remote answers get the same interval and confidence.
    pub(crate) calibration: rul_model::Calibration,
}

/// A validated, warmed-up artifact ready to be installed on the model thread.
pub(crate) struct Loaded {
    pub(crate) artifact: Artifact,
    pub(crate) snapshot: Arc<Snapshot>,
}

/// A reading in the middle of every sensor's plausible range at the first operating condition: the neutral input
/// used for warm-up, and a convenient known-valid reading for tests and benchmarks.
pub fn neutral_reading(preprocessor: &Preprocessor) -> Reading {
    let sensors = preprocessor
        .sensor_bounds()
        .iter()
        .map(|b| (b.name.as_str(), 0.5 * (b.min + b.max)));
    let settings = preprocessor.conditions().centroids.first().copied();
    Reading::from_named(sensors, settings)
}

/// Loads the artifact at `dir`, checks it is internally consistent and produces finite outputs, and runs a few
/// forward passes (1 and `max_batch` windows) so the first real request does not pay for lazy initialisation.
/// Blocking: call it on the model thread or in `spawn_blocking`. A panic inside the model library is reported as
/// an error, so a broken artifact can never take the model thread down.
pub(crate) fn load_and_warm(
    dir: &Path,
    max_batch: usize,
    engine: InferenceEngine,
) -> Result<Loaded, String> {
    std::panic::catch_unwind(|| load_checked(dir, max_batch, engine))
        .unwrap_or_else(|_| Err(format!("loading artifact {} panicked", dir.display())))
}

/// The body of [`load_and_warm`].
fn load_checked(dir: &Path, max_batch: usize, engine: InferenceEngine) -> Result<Loaded, String> {
    let artifact = Artifact::load(dir)
        .map_err(|e| format!("cannot load model artifact {}: {e}", dir.display()))?
        .with_engine(engine);
    let pre = artifact.preprocessor();
    let (window, features) = (pre.window(), pre.n_features());
    if window == 0 || features == 0 {
        return Err(format!(
            "artifact {} has an empty input shape {window}x{features}",
            dir.display()
        ));
    }
    let neutral = pre.prepare(&[neutral_reading(pre)]).map_err(|e| {
        format!(
            "artifact {} rejects its own neutral input: {e}",
            dir.display()
        )
    })?;
    if neutral.input.len() != window * features {
        return Err(format!(
            "artifact {}: preprocessor produced {} values, expected {window}x{features}",
            dir.display(),
            neutral.input.len()
        ));
    }
    for count in [1, max_batch.clamp(1, 256), 1] {
        let inputs: Vec<f32> = neutral
            .input
            .iter()
            .copied()
            .cycle()
            .take(count * window * features)
            .collect();
        let out = artifact.predict(&inputs, count).map_err(|e| {
            format!(
                "artifact {} failed its warm-up forward pass: {e}",
                dir.display()
            )
        })?;
        if out.len() != count || out.iter().any(|v| !v.is_finite()) {
            return Err(format!(
                "artifact {} warm-up gave {} outputs (expected {count}) or non-finite values",
                dir.display(),
                out.len()
            ));
        }
    }
    let cal = artifact.calibration();
    let (lo, hi) = cal.interval(50.0);
    let usable =
        cal.level() > 0.0 && cal.level() < 1.0 && lo.is_finite() && hi.is_finite() && lo <= hi;
    if !usable {
        return Err(format!(
            "artifact {} has an unusable calibration",
            dir.display()
        ));
    }
    let info = model_info(&artifact, dir.to_path_buf());
    let snapshot = Arc::new(Snapshot {
        version: Arc::from(artifact.version()),
        preprocessor: artifact.preprocessor().clone(),
        info,
        calibration: artifact.calibration().clone(),
    });
    Ok(Loaded { artifact, snapshot })
}

/// Builds the public description from the artifact and its model card.
fn model_info(artifact: &Artifact, path: PathBuf) -> ModelInfo {
    let pre = artifact.preprocessor();
    let card = artifact.card();
    ModelInfo {
        version: artifact.version().to_string(),
        subset: card.subset.to_string(),
        architecture: card.architecture.clone(),
        window: pre.window(),
        n_features: pre.n_features(),
        sensors: pre.config().sensors.clone(),
        calibration_level: artifact.calibration().level(),
        calibration_tolerance: artifact.calibration().tolerance(),
        metrics: card.metrics.clone(),
        created: card.created.clone(),
        card: artifact.card_markdown().to_string(),
        path,
    }
}
