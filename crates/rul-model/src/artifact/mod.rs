//! The model artifact: a directory holding model.json, weights.bpk (burnpack record),
//! preprocessor.json, calibration.json, metrics.json, MODEL_CARD.md and manifest.json.
//!
//! The manifest lists every file's SHA-256; loading refuses a directory whose files disagree with
//! it, whose weights do not fit the architecture in model.json, or whose preprocessor's window or
//! features differ from the model's. `model_version` = `<subset>-<8 hex>` of a SHA-256 over
//! model.json, the weights, preprocessor.json and calibration.json, so identical training runs
//! give identical versions and any change to what predicts gives a new one.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use rul_data::{Preprocessor, Subset};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

mod write;

pub(crate) use write::{compute_version, write_core, write_rest};

use crate::calibration::Calibration;
use crate::card::ModelCard;
use crate::config::TrainConfig;
use crate::error::ArtifactError;
use crate::infer::reference::predict_raw;
use crate::infer::{FastModel, InferenceEngine};
use crate::model::{ModelConfig, RulNet};

/// `format` value of model.json and manifest.json.
pub const MODEL_FORMAT: &str = "rul-model";
/// Layout version of model.json and manifest.json.
pub const MODEL_FORMAT_VERSION: u32 = 1;
/// Architecture and provenance.
pub const MODEL_FILE: &str = "model.json";
/// Weights in burn's burnpack record format.
pub const WEIGHTS_FILE: &str = "weights.bpk";
/// The fitted preprocessor (rul-data's versioned JSON).
pub const PREPROCESSOR_FILE: &str = "preprocessor.json";
/// Conformal calibration.
pub const CALIBRATION_FILE: &str = "calibration.json";
/// Training and test metrics.
pub const METRICS_FILE: &str = "metrics.json";
/// Human-readable summary.
pub const CARD_FILE: &str = "MODEL_CARD.md";
/// SHA-256 of every other file and the model version.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Files hashed into the model version, in hashing order.
const VERSIONED: [&str; 4] = [
    MODEL_FILE,
    WEIGHTS_FILE,
    PREPROCESSOR_FILE,
    CALIBRATION_FILE,
];
/// Every file the manifest must list.
const REQUIRED: [&str; 6] = [
    MODEL_FILE,
    WEIGHTS_FILE,
    PREPROCESSOR_FILE,
    CALIBRATION_FILE,
    METRICS_FILE,
    CARD_FILE,
];
/// Largest file the loader reads (weights of any sane model here are far smaller).
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// model.json: what network the weights belong to and how it was trained.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// Layout version.
    pub format_version: u32,
    /// Subset trained on.
    pub subset: Subset,
    /// Architecture and sizes.
    pub architecture: ModelConfig,
    /// Window length the network expects.
    pub window: usize,
    /// Features per step.
    pub n_features: usize,
    /// Network outputs are multiplied by this to give RUL in cycles.
    pub target_scale: f64,
    /// Training seed.
    pub seed: u64,
    /// The full training configuration.
    pub training: TrainConfig,
}

/// One manifest entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// File name inside the artifact directory.
    pub name: String,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// manifest.json.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// Layout version.
    pub format_version: u32,
    /// The model version derived from the versioned files.
    pub version: String,
    /// Every file with its digest.
    pub files: Vec<ManifestEntry>,
}

/// A loaded, validated model: network, preprocessor, calibration and card. `Send + Sync`.
#[derive(Debug)]
pub struct Artifact {
    dir: PathBuf,
    version: String,
    spec: ModelSpec,
    /// One network, or the members of an ensemble (predictions averaged): the burn reference.
    model: Vec<RulNet>,
    /// The same networks in the fast path's layout.
    fast: FastModel,
    /// Which of the two `predict` uses.
    engine: InferenceEngine,
    preprocessor: Preprocessor,
    calibration: Calibration,
    card: ModelCard,
    card_markdown: String,
    metrics: serde_json::Value,
}

impl Artifact {
    /// Loads and validates an artifact directory; every failure names the file and the problem.
    pub fn load(dir: &Path) -> Result<Artifact, ArtifactError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest: Manifest = parse_json(&manifest_path, &read_file(&manifest_path)?)?;
        if manifest.format != MODEL_FORMAT || manifest.format_version != MODEL_FORMAT_VERSION {
            return Err(ArtifactError::invalid(
                &manifest_path,
                format!(
                    "format {} v{} is not {MODEL_FORMAT} v{MODEL_FORMAT_VERSION}",
                    manifest.format, manifest.format_version
                ),
            ));
        }
        let mut contents = std::collections::HashMap::new();
        for name in REQUIRED {
            let path = dir.join(name);
            let entry = manifest
                .files
                .iter()
                .find(|e| e.name == name)
                .ok_or_else(|| {
                    ArtifactError::invalid(&manifest_path, format!("does not list {name}"))
                })?;
            if !path.exists() {
                return Err(ArtifactError::Missing { path });
            }
            let bytes = read_file(&path)?;
            let actual = sha256_hex(&bytes);
            if actual != entry.sha256 {
                return Err(ArtifactError::Checksum {
                    path,
                    expected: entry.sha256.clone(),
                    actual,
                });
            }
            contents.insert(name, bytes);
        }
        let get = |name: &str| contents.get(name).map(Vec::as_slice).unwrap_or_default();

        let model_path = dir.join(MODEL_FILE);
        let spec: ModelSpec = parse_json(&model_path, get(MODEL_FILE))?;
        validate_spec(&spec).map_err(|p| ArtifactError::invalid(&model_path, p))?;

        let version = compute_version(spec.subset, |name| get(name));
        if version != manifest.version {
            return Err(ArtifactError::invalid(
                &manifest_path,
                format!(
                    "version {} does not match the content hash {version}",
                    manifest.version
                ),
            ));
        }

        let pre_path = dir.join(PREPROCESSOR_FILE);
        let pre_text = std::str::from_utf8(get(PREPROCESSOR_FILE))
            .map_err(|_| ArtifactError::invalid(&pre_path, "not UTF-8 text"))?;
        let preprocessor = Preprocessor::from_json_named(pre_text, &pre_path.display().to_string())
            .map_err(|e| ArtifactError::invalid(&pre_path, e.to_string()))?;
        if preprocessor.window() != spec.window || preprocessor.n_features() != spec.n_features {
            return Err(ArtifactError::invalid(
                &pre_path,
                format!(
                    "window {} / {} features, but model.json expects window {} / {} features",
                    preprocessor.window(),
                    preprocessor.n_features(),
                    spec.window,
                    spec.n_features
                ),
            ));
        }

        let cal_path = dir.join(CALIBRATION_FILE);
        let calibration: Calibration = parse_json(&cal_path, get(CALIBRATION_FILE))?;
        calibration
            .validate()
            .map_err(|e| ArtifactError::invalid(&cal_path, e.to_string()))?;

        let weights_path = dir.join(WEIGHTS_FILE);
        let model = load_weights(&spec, get(WEIGHTS_FILE), &weights_path)?;

        let metrics_path = dir.join(METRICS_FILE);
        let metrics: serde_json::Value = parse_json(&metrics_path, get(METRICS_FILE))?;
        let card_path = dir.join(CARD_FILE);
        let card_markdown = String::from_utf8(get(CARD_FILE).to_vec())
            .map_err(|_| ArtifactError::invalid(&card_path, "not UTF-8 text"))?;
        Ok(
            Artifact::from_parts(dir, version, spec, model, preprocessor, calibration)?
                .with_metrics(metrics, card_markdown),
        )
    }

    /// The engine [`predict`](Self::predict) uses (the fast path unless changed).
    pub fn engine(&self) -> InferenceEngine {
        self.engine
    }

    /// Chooses the engine [`predict`](Self::predict) uses.
    pub fn set_engine(&mut self, engine: InferenceEngine) {
        self.engine = engine;
    }

    /// This artifact with another engine for [`predict`](Self::predict).
    pub fn with_engine(mut self, engine: InferenceEngine) -> Self {
        self.engine = engine;
        self
    }

    /// Content-hash version, e.g. `fd001-3f2a9c1b`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The directory this artifact was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// model.json.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The fitted preprocessor that turns readings into model input.
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.preprocessor
    }

    /// Conformal intervals and confidence.
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// Structured model card.
    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    /// MODEL_CARD.md as stored.
    pub fn card_markdown(&self) -> &str {
        &self.card_markdown
    }

    /// metrics.json as stored.
    pub fn metrics(&self) -> &serde_json::Value {
        &self.metrics
    }

    /// Raw forward pass over `count` windows laid out `[count, window, n_features]`; returns
    /// `count` RUL values in cycles (unclamped), with the artifact's [`engine`](Self::engine).
    pub fn predict(&self, inputs: &[f32], count: usize) -> Result<Vec<f32>, ArtifactError> {
        self.predict_with(self.engine, inputs, count)
    }

    /// [`predict`](Self::predict) with a given engine (benchmarks and verification use both).
    pub fn predict_with(
        &self,
        engine: InferenceEngine,
        inputs: &[f32],
        count: usize,
    ) -> Result<Vec<f32>, ArtifactError> {
        let row = self.spec.window * self.spec.n_features;
        if count.checked_mul(row) != Some(inputs.len()) {
            return Err(ArtifactError::Input(format!(
                "{} values for {count} windows of {} x {} (expected {})",
                inputs.len(),
                self.spec.window,
                self.spec.n_features,
                count.saturating_mul(row)
            )));
        }
        if let Some(i) = inputs.iter().position(|v| !v.is_finite()) {
            return Err(ArtifactError::Input(format!(
                "value {i} (window {}) is not finite",
                i / row.max(1)
            )));
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        match engine {
            InferenceEngine::Fast => Ok(self.fast.predict(inputs, count)),
            InferenceEngine::Burn => predict_raw(
                &self.model,
                inputs,
                count,
                self.spec.window,
                self.spec.n_features,
                self.spec.target_scale,
            ),
        }
    }

    /// Assembles an in-memory artifact from trained parts (used between training and writing).
    pub(crate) fn from_parts(
        dir: &Path,
        version: String,
        spec: ModelSpec,
        model: Vec<RulNet>,
        preprocessor: Preprocessor,
        calibration: Calibration,
    ) -> Result<Artifact, ArtifactError> {
        let metrics = serde_json::Value::Null;
        let card = ModelCard::build(&version, &spec, &preprocessor, &calibration, &metrics);
        let fast = fast_model(&spec, &model, &dir.join(WEIGHTS_FILE))?;
        Ok(Artifact {
            dir: dir.to_path_buf(),
            version,
            spec,
            model,
            fast,
            engine: InferenceEngine::default(),
            preprocessor,
            calibration,
            card,
            card_markdown: String::new(),
            metrics,
        })
    }

    /// Adds the training metrics and the card text read from disk; the card is rebuilt with the metrics.
    fn with_metrics(mut self, metrics: serde_json::Value, card_markdown: String) -> Self {
        self.card = ModelCard::build(
            &self.version,
            &self.spec,
            &self.preprocessor,
            &self.calibration,
            &metrics,
        );
        self.metrics = metrics;
        self.card_markdown = card_markdown;
        self
    }
}

/// The fast path's copy of the loaded networks; a shape that does not chain is a weights error.
fn fast_model(spec: &ModelSpec, model: &[RulNet], path: &Path) -> Result<FastModel, ArtifactError> {
    FastModel::from_burn(model, spec.window, spec.n_features, spec.target_scale).map_err(
        |problem| ArtifactError::Weights {
            path: path.to_path_buf(),
            architecture: spec.architecture.name().to_string(),
            problem,
        },
    )
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn read_file(path: &Path) -> Result<Vec<u8>, ArtifactError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ArtifactError::Missing {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(ArtifactError::io(path, e)),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(ArtifactError::invalid(
            path,
            format!(
                "{} bytes is larger than the {MAX_FILE_BYTES}-byte limit",
                meta.len()
            ),
        ));
    }
    std::fs::read(path).map_err(|e| ArtifactError::io(path, e))
}

fn parse_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<T, ArtifactError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ArtifactError::invalid(path, format!("unreadable JSON: {e}")))
}

fn validate_spec(spec: &ModelSpec) -> Result<(), String> {
    if spec.format != MODEL_FORMAT || spec.format_version != MODEL_FORMAT_VERSION {
        return Err(format!(
            "format {} v{} is not {MODEL_FORMAT} v{MODEL_FORMAT_VERSION}",
            spec.format, spec.format_version
        ));
    }
    spec.architecture.validate()?;
    if spec.window == 0 || spec.window > rul_data::MAX_READINGS {
        return Err(format!("window {} out of range", spec.window));
    }
    if spec.n_features == 0 || spec.n_features > 64 {
        return Err(format!("n_features {} out of range", spec.n_features));
    }
    if !(spec.target_scale.is_finite() && spec.target_scale > 0.0) {
        return Err(format!("target_scale {} must be > 0", spec.target_scale));
    }
    Ok(())
}

/// The record of an ensemble: its members under `members.<i>.`. A single network is stored as
/// its own record (the layout of artifacts written before ensembles existed).
#[derive(Module, Debug)]
pub(crate) struct Members {
    pub members: Vec<RulNet>,
}

/// Rebuilds the network(s) from model.json and loads the record; a record that does not fit
/// (missing, extra or mis-shaped tensors, corrupt bytes) is an error, never a panic.
fn load_weights(spec: &ModelSpec, bytes: &[u8], path: &Path) -> Result<Vec<RulNet>, ArtifactError> {
    let err = |problem: String| ArtifactError::Weights {
        path: path.to_path_buf(),
        architecture: spec.architecture.name().to_string(),
        problem,
    };
    let bytes = bytes.to_vec();
    let architecture = spec.architecture.clone();
    let n_features = spec.n_features;
    let networks = spec.training.ensemble;
    let result = std::panic::catch_unwind(move || {
        let device = Device::flex();
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| format!("not a burnpack record: {e}"))?;
        if networks == 1 {
            architecture
                .init(n_features, &device)
                .try_load_record(record)
                .map(|m| vec![m.valid()])
                .map_err(|e| e.to_string())
        } else {
            let members = (0..networks)
                .map(|_| architecture.init(n_features, &device))
                .collect();
            Members { members }
                .try_load_record(record)
                .map(|m| m.valid().members)
                .map_err(|e| e.to_string())
        }
    });
    match result {
        Ok(Ok(model)) => Ok(model),
        Ok(Err(problem)) => Err(err(problem)),
        Err(_) => Err(err("the record could not be decoded".into())),
    }
}
