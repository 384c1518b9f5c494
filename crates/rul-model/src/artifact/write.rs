//! Writing an artifact directory: the versioned files first, then metrics, card and, last,
//! the manifest (so a half-written directory never validates).

use std::path::Path;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::tensor::Tensor;
use rul_data::{Preprocessor, Subset};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{
    CALIBRATION_FILE, CARD_FILE, MANIFEST_FILE, METRICS_FILE, MODEL_FILE, MODEL_FORMAT,
    MODEL_FORMAT_VERSION, Manifest, ManifestEntry, ModelSpec, PREPROCESSOR_FILE, VERSIONED,
    WEIGHTS_FILE, sha256_hex,
};
use crate::calibration::Calibration;
use crate::error::ArtifactError;
use crate::model::RulNet;

/// Files written by [`write_core`], kept in memory to finish the artifact later.
pub(crate) struct CoreFiles {
    pub version: String,
    entries: Vec<ManifestEntry>,
}

/// Writes model.json, weights, preprocessor.json and calibration.json into `dir` and returns the
/// derived version (the manifest is written by [`write_rest`], last).
pub(crate) fn write_core(
    dir: &Path,
    spec: &ModelSpec,
    model: &[RulNet],
    preprocessor: &Preprocessor,
    calibration: &Calibration,
) -> Result<CoreFiles, ArtifactError> {
    std::fs::create_dir_all(dir).map_err(|e| ArtifactError::io(dir, e))?;
    // A stale manifest must never vouch for half-written files.
    let manifest_path = dir.join(MANIFEST_FILE);
    if manifest_path.exists() {
        std::fs::remove_file(&manifest_path).map_err(|e| ArtifactError::io(&manifest_path, e))?;
    }
    let model_json = to_json(spec);
    // Parameter ids are random per process; number them so equal weights give equal bytes.
    let record = match model {
        [single] => single.clone().map(&mut SequentialIds(0)).into_record(),
        members => super::Members {
            members: members.to_vec(),
        }
        .map(&mut SequentialIds(0))
        .into_record(),
    };
    let weights = record
        .into_bytes()
        .map_err(|e| ArtifactError::Build(format!("serialising weights: {e}")))?
        .to_vec();
    let pre_json = preprocessor.to_json().into_bytes();
    let cal_json = to_json(calibration);
    let files: [(&str, &[u8]); 4] = [
        (MODEL_FILE, &model_json),
        (WEIGHTS_FILE, &weights),
        (PREPROCESSOR_FILE, &pre_json),
        (CALIBRATION_FILE, &cal_json),
    ];
    let mut entries = Vec::new();
    for (name, bytes) in files {
        entries.push(write_file(dir, name, bytes)?);
    }
    let version = compute_version(spec.subset, |name| {
        files
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(&[][..], |(_, b)| *b)
    });
    Ok(CoreFiles { version, entries })
}

/// Writes metrics.json and MODEL_CARD.md, then the manifest over every file.
pub(crate) fn write_rest(
    dir: &Path,
    core: CoreFiles,
    metrics: &serde_json::Value,
    card_markdown: &str,
) -> Result<(), ArtifactError> {
    let mut entries = core.entries;
    entries.push(write_file(dir, METRICS_FILE, &to_json(metrics))?);
    entries.push(write_file(dir, CARD_FILE, card_markdown.as_bytes())?);
    let manifest = Manifest {
        format: MODEL_FORMAT.into(),
        format_version: MODEL_FORMAT_VERSION,
        version: core.version,
        files: entries,
    };
    write_file(dir, MANIFEST_FILE, &to_json(&manifest))?;
    Ok(())
}

/// Renumbers float parameters 1, 2, ... in module order.
struct SequentialIds(u64);

impl ModuleMapper for SequentialIds {
    fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.0 += 1;
        param.id = ParamId::from(self.0);
        param
    }
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<ManifestEntry, ArtifactError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| ArtifactError::io(&path, e))?;
    Ok(ManifestEntry {
        name: name.into(),
        sha256: sha256_hex(bytes),
        bytes: bytes.len() as u64,
    })
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail (string keys, finite or null floats).
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
    text.push('\n');
    text.into_bytes()
}

/// `<subset lower-case>-<first 8 hex>` of SHA-256 over the versioned files (name, length, bytes).
pub(crate) fn compute_version<'a>(subset: Subset, get: impl Fn(&str) -> &'a [u8]) -> String {
    let mut hasher = Sha256::new();
    for name in VERSIONED {
        let bytes = get(name);
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    let digest = hex::encode(hasher.finalize());
    format!("{}-{}", subset.name().to_ascii_lowercase(), &digest[..8])
}
