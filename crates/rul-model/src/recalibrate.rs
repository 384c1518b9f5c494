//! Refitting an artifact's `confidence` without retraining (`rul calibrate`): the artifact's own
//! calibration engines are rebuilt from the split recorded in model.json, the network predicts
//! every one of their windows, and an isotonic [`ConfidenceMap`](crate::confidence::ConfidenceMap)
//! is fitted against their raw true RUL. The intervals and the weights are untouched.
//! [`Mode::MetricsOnly`] leaves calibration.json alone and only re-evaluates.
//!
//! calibration.json is part of the model version, so a refit gives the artifact a new version;
//! either way its metrics.json (test and held-out evaluation, summary), MODEL_CARD.md and
//! manifest.json are rewritten from a fresh evaluation, as training would have written them.
//! Files are written calibration first and manifest last, so an interrupted run leaves a
//! directory that refuses to load rather than one that loads with stale checksums.

use std::path::Path;

use rul_data::SubsetData;

use crate::artifact::{
    Artifact, CALIBRATION_FILE, CARD_FILE, MANIFEST_FILE, METRICS_FILE, Manifest, ManifestEntry,
    compute_version, sha256_hex,
};
use crate::card::ModelCard;
use crate::error::ArtifactError;
use crate::evaluate::{EvalError, EvalReport, evaluate_subset, heldout_engines, predict_clamped};
use crate::pipeline::{now_rfc3339, windows};

/// What `recalibrate` refits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Fit an isotonic confidence map on the calibration engines.
    Isotonic,
    /// Keep calibration.json; only re-evaluate and rewrite metrics, card and manifest.
    MetricsOnly,
}

/// What a recalibration changed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecalibrateSummary {
    /// Version before.
    pub old_version: String,
    /// Version after (calibration.json changed).
    pub new_version: String,
    /// Calibration windows the map was fitted on.
    pub windows: usize,
    /// Test ECE over every window, before.
    pub ece_all_cycles_before: f64,
    /// Test ECE at the last cycle, before.
    pub ece_before: f64,
    /// Held-out validation ECE before (None without held-out engines).
    pub validation_ece_before: Option<f64>,
    /// The evaluation written into metrics.json.
    pub report: EvalReport,
}

/// Refits `confidence` of the artifact in `dir` on its calibration engines from `data` (the
/// artifact's subset, training and test files) and rewrites the artifact in place.
pub fn recalibrate(
    dir: &Path,
    data: &SubsetData,
    mode: Mode,
) -> Result<RecalibrateSummary, EvalError> {
    let artifact = Artifact::load(dir)?;
    let spec = artifact.spec().clone();
    if data.subset != spec.subset {
        return Err(EvalError::Split(format!(
            "the model is for {} but the data is {}",
            spec.subset, data.subset
        )));
    }
    let (before, _) = evaluate_subset(&artifact, data)?;
    let (_, cal_engines) = heldout_engines(&artifact, &data.train)?;
    let w = windows(artifact.preprocessor(), &cal_engines, f64::INFINITY);
    let pred = predict_clamped(&artifact, &w)?;
    let raw: Vec<f64> = w.targets.iter().map(|&t| f64::from(t)).collect();
    let calibration = match mode {
        Mode::Isotonic => artifact
            .calibration()
            .clone()
            .with_confidence_map(&pred, &raw)?,
        Mode::MetricsOnly => artifact.calibration().clone(),
    };
    calibration.validate()?;
    let old_version = artifact.version().to_string();
    let mut metrics = artifact.metrics().clone();
    drop(artifact);

    // calibration.json, then a manifest over the new version so the directory loads again.
    if mode == Mode::Isotonic {
        write(dir, CALIBRATION_FILE, &pretty(&calibration))?;
    }
    let version = rewrite_manifest(dir, spec.subset)?;
    let artifact = Artifact::load(dir)?;
    let (report, _) = evaluate_subset(&artifact, data)?;

    if let Some(obj) = metrics.as_object_mut() {
        obj.insert("version".into(), version.clone().into());
        if let (Some(summary), Some(extra)) = (
            obj.get_mut("summary").and_then(|s| s.as_object_mut()),
            report.summary().as_object(),
        ) {
            summary.extend(extra.clone());
        }
        obj.insert(
            "test".into(),
            serde_json::to_value(&report).unwrap_or(serde_json::Value::Null),
        );
        if mode == Mode::Isotonic {
            obj.insert(
            "recalibrated".into(),
            serde_json::json!({
                "at": now_rfc3339(),
                "previous_version": old_version,
                "confidence": "isotonic fit of P(|raw truth - pred| <= tolerance) on every window \
                               of the calibration engines",
                "calibration_windows": w.count,
                "test_ece_before": before.ece,
                "test_ece_all_cycles_before": before.ece_all_cycles,
            }),
            );
        }
    }
    let card = ModelCard::build(
        &version,
        artifact.spec(),
        artifact.preprocessor(),
        artifact.calibration(),
        &metrics,
    );
    write(dir, METRICS_FILE, &pretty(&metrics))?;
    write(dir, CARD_FILE, card.to_markdown().as_bytes())?;
    let final_version = rewrite_manifest(dir, spec.subset)?;
    // Re-load once more: the finished directory must validate as a unit.
    let loaded = Artifact::load(dir)?;
    if final_version != version || loaded.version() != version {
        return Err(EvalError::Split(format!(
            "recalibrated artifact has version {} instead of {version}",
            loaded.version()
        )));
    }
    Ok(RecalibrateSummary {
        old_version,
        new_version: version,
        windows: w.count,
        ece_all_cycles_before: before.ece_all_cycles,
        ece_before: before.ece,
        validation_ece_before: before.heldout.as_ref().map(|h| h.validation_ece),
        report,
    })
}

/// Re-hashes every file the current manifest lists and writes it with the version derived from
/// the files on disk; returns that version.
fn rewrite_manifest(dir: &Path, subset: rul_data::Subset) -> Result<String, ArtifactError> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read(&path).map_err(|e| ArtifactError::io(&path, e))?;
    let mut manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| ArtifactError::invalid(&path, e.to_string()))?;
    let mut files = std::collections::HashMap::new();
    let mut entries = Vec::with_capacity(manifest.files.len());
    for entry in &manifest.files {
        let file = dir.join(&entry.name);
        let bytes = std::fs::read(&file).map_err(|e| ArtifactError::io(&file, e))?;
        entries.push(ManifestEntry {
            name: entry.name.clone(),
            sha256: sha256_hex(&bytes),
            bytes: bytes.len() as u64,
        });
        files.insert(entry.name.clone(), bytes);
    }
    let version = compute_version(subset, |name| {
        files.get(name).map(Vec::as_slice).unwrap_or_default()
    });
    manifest.files = entries;
    manifest.version = version.clone();
    write(dir, MANIFEST_FILE, &pretty(&manifest))?;
    Ok(version)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), ArtifactError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| ArtifactError::io(&path, e))
}

/// Pretty JSON with a trailing newline, as training writes it.
fn pretty<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // These plain structs always serialise (string keys; non-finite floats become null).
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into());
    text.push('\n');
    text.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recalibration_adds_a_confidence_map_keeps_intervals_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let seed = 11;
        crate::synthetic::train_test_artifact(dir.path(), seed).unwrap();
        let data = crate::synthetic::synthetic_data(seed);
        // Training writes a format 1 calibration (binned confidence).
        let before = Artifact::load(dir.path()).unwrap();
        let old = Artifact::load(dir.path()).unwrap();
        assert!(old.calibration().confidence_map.is_none());
        assert_eq!(old.calibration().format_version, 1);

        // Metrics only: calibration and version unchanged, metrics carry the new figures.
        let same = recalibrate(dir.path(), &data, Mode::MetricsOnly).unwrap();
        assert_eq!(same.old_version, same.new_version);
        let reloaded = Artifact::load(dir.path()).unwrap();
        assert_eq!(reloaded.calibration(), old.calibration());
        assert!(reloaded.metrics()["summary"]["heldout_policy_lower_t"].is_number());

        let summary = recalibrate(dir.path(), &data, Mode::Isotonic).unwrap();
        assert_ne!(summary.old_version, summary.new_version);
        let new = Artifact::load(dir.path()).unwrap();
        assert_eq!(new.version(), summary.new_version);
        assert!(new.calibration().confidence_map.is_some());
        assert_eq!(new.calibration().bins, old.calibration().bins);
        assert_eq!(
            new.calibration().format_version,
            crate::calibration::CALIBRATION_FORMAT
        );
        assert_eq!(
            new.calibration().interval(40.0),
            before.calibration().interval(40.0)
        );
        let m = new.metrics();
        assert_eq!(m["version"], summary.new_version.as_str());
        assert!(m["summary"]["test_ece_all_cycles"].is_number());
        assert!(m["test"]["heldout"]["policy"]["engines"].as_u64().unwrap() > 0);
        assert!(new.card_markdown().contains(&summary.new_version));
        // The wrong subset is refused before anything is written.
        let mut other = data.clone();
        other.subset = rul_data::Subset::FD002;
        assert!(recalibrate(dir.path(), &other, Mode::Isotonic).is_err());
        assert_eq!(
            Artifact::load(dir.path()).unwrap().version(),
            summary.new_version
        );
    }
}
