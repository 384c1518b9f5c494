//! End-to-end tests: a tiny real training run, the artifact round trip and refusals of broken
//! artifact directories.

use std::path::Path;
use std::sync::OnceLock;

use rul_data::{Preprocessor, PreprocessorConfig};

use crate::artifact::*;
use crate::synthetic::{TEST_WINDOW, synthetic_data, train_test_artifact};
use crate::{Artifact, ArtifactError, TrainSummary};

/// One trained artifact shared by the tests (training is the slow part); each test copies it.
fn trained() -> &'static (tempfile::TempDir, TrainSummary) {
    static CELL: OnceLock<(tempfile::TempDir, TrainSummary)> = OnceLock::new();
    CELL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let summary = train_test_artifact(dir.path(), 7).unwrap();
        (dir, summary)
    })
}

fn copy_of_artifact() -> tempfile::TempDir {
    let (src, _) = trained();
    let dst = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(src.path()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.path().join(entry.file_name())).unwrap();
    }
    dst
}

/// Rewrites manifest.json to vouch for the directory's current files (as a careless tool
/// would), so checks behind the checksums get exercised.
fn reseal(dir: &Path) {
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let manifest_path = dir.join(MANIFEST_FILE);
    let mut manifest: Manifest =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    for e in &mut manifest.files {
        let bytes = read(&e.name);
        e.sha256 = sha256_hex(&bytes);
        e.bytes = bytes.len() as u64;
    }
    let files: Vec<(String, Vec<u8>)> = [
        MODEL_FILE,
        WEIGHTS_FILE,
        PREPROCESSOR_FILE,
        CALIBRATION_FILE,
    ]
    .iter()
    .map(|n| (n.to_string(), read(n)))
    .collect();
    manifest.version = compute_version(rul_data::Subset::FD001, |name| {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map_or(&[][..], |(_, b)| b.as_slice())
    });
    std::fs::write(
        &manifest_path,
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

/// The last window of every synthetic test engine, as `evaluate` builds them.
fn last_test_windows(artifact: &Artifact, data: &rul_data::SubsetData) -> rul_data::Windows {
    let labels: Vec<Vec<f64>> = data
        .test
        .iter()
        .zip(&data.test_rul)
        .map(|(e, &r)| rul_data::test_labels(e, r))
        .collect();
    artifact.preprocessor().last_windows(&data.test, &labels)
}

#[test]
fn artifact_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Artifact>();
}

#[test]
fn tiny_training_gives_a_loadable_artifact_with_exact_round_trip() {
    let (dir, summary) = trained();
    let artifact = Artifact::load(dir.path()).unwrap();
    assert_eq!(artifact.version(), summary.version);
    assert!(artifact.version().starts_with("fd001-"));
    assert_eq!(artifact.version().len(), "fd001-".len() + 8);
    assert_eq!(artifact.preprocessor().window(), TEST_WINDOW);
    assert_eq!(artifact.card().window, TEST_WINDOW);
    assert!(artifact.card_markdown().contains(&summary.version));

    // The report's predictions came from the in-memory model before saving; the loaded
    // artifact must reproduce them bit for bit.
    let report = summary.test.as_ref().unwrap();
    let data = synthetic_data(7);
    let last = last_test_windows(&artifact, &data);
    let pred = artifact.predict(&last.inputs, last.count).unwrap();
    for (p, e) in pred.iter().zip(&report.predictions) {
        assert_eq!(f64::from(*p).max(0.0).to_bits(), e.pred.to_bits());
    }
    // And a second load predicts identically, and intervals/confidence are sane.
    let again = Artifact::load(dir.path()).unwrap();
    assert_eq!(again.predict(&last.inputs, last.count).unwrap(), pred);
    let (lo, hi) = artifact.calibration().interval(50.0);
    assert!(lo >= 0.0 && hi > lo);
    let c = artifact.calibration().confidence(50.0);
    assert!((0.0..=1.0).contains(&c));
    // The model learned something in two epochs: better than predicting the mean label.
    assert!(summary.val_rmse < 60.0, "val rmse {}", summary.val_rmse);
}

#[test]
fn an_ensemble_averages_its_members_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::synthetic::test_config(7);
    config.ensemble = 2;
    let data = synthetic_data(7);
    let summary = crate::train_subset(&data, &config, dir.path(), &mut |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    let artifact = Artifact::load(dir.path()).unwrap();
    assert_eq!(artifact.spec().training.ensemble, 2);
    assert!(artifact.card().architecture.ends_with("x 2 (averaged)"));
    let metrics = artifact.metrics();
    let networks = metrics["training"]["networks"].as_array().unwrap();
    assert_eq!(networks.len(), 2);
    assert_eq!(networks[1]["seed"], 8);

    // The first member is the single network trained with the same seed: the ensemble's
    // prediction differs from it, and is the mean of it and the second member.
    let single = Artifact::load(trained().0.path()).unwrap();
    let last = last_test_windows(&artifact, &data);
    let both = artifact.predict(&last.inputs, last.count).unwrap();
    let first = single.predict(&last.inputs, last.count).unwrap();
    assert_ne!(both, first);
    let report = summary.test.as_ref().unwrap();
    for (p, e) in both.iter().zip(&report.predictions) {
        assert_eq!(f64::from(*p).max(0.0).to_bits(), e.pred.to_bits());
    }

    // Weights of an ensemble do not load as a single network (model.json says how many).
    let model_path = dir.path().join(MODEL_FILE);
    let text = std::fs::read_to_string(&model_path).unwrap();
    std::fs::write(
        &model_path,
        text.replace("\"ensemble\": 2", "\"ensemble\": 1"),
    )
    .unwrap();
    reseal(dir.path());
    let err = Artifact::load(dir.path()).unwrap_err();
    assert!(matches!(err, ArtifactError::Weights { .. }), "{err}");
}

#[test]
fn same_seed_gives_the_same_model_version() {
    let dir = tempfile::tempdir().unwrap();
    let again = train_test_artifact(dir.path(), 7).unwrap();
    assert_eq!(again.version, trained().1.version);
}

#[test]
fn predict_refuses_wrong_sizes_and_non_finite_values() {
    let artifact = Artifact::load(trained().0.path()).unwrap();
    let row = TEST_WINDOW * artifact.preprocessor().n_features();
    assert!(matches!(
        artifact.predict(&vec![0.0; row + 1], 1),
        Err(ArtifactError::Input(_))
    ));
    let mut bad = vec![0.5; row];
    bad[3] = f32::NAN;
    assert!(matches!(
        artifact.predict(&bad, 1),
        Err(ArtifactError::Input(_))
    ));
    assert!(artifact.predict(&[], 0).unwrap().is_empty());
}

#[test]
fn corrupted_weights_are_refused_naming_the_file() {
    let dir = copy_of_artifact();
    let path = dir.path().join(WEIGHTS_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xFF;
    std::fs::write(&path, &bytes).unwrap();
    let err = Artifact::load(dir.path()).unwrap_err();
    assert!(matches!(err, ArtifactError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains(WEIGHTS_FILE), "{err}");

    // Even with a manifest that vouches for them, weights that do not decode are refused.
    std::fs::write(&path, b"not a burnpack file").unwrap();
    reseal(dir.path());
    let err = Artifact::load(dir.path()).unwrap_err();
    assert!(matches!(err, ArtifactError::Weights { .. }), "{err}");
    assert!(err.to_string().contains(WEIGHTS_FILE), "{err}");
}

#[test]
fn missing_preprocessor_is_refused_naming_the_file() {
    let dir = copy_of_artifact();
    std::fs::remove_file(dir.path().join(PREPROCESSOR_FILE)).unwrap();
    let err = Artifact::load(dir.path()).unwrap_err();
    assert!(matches!(err, ArtifactError::Missing { .. }), "{err}");
    assert!(err.to_string().contains(PREPROCESSOR_FILE), "{err}");
}

#[test]
fn preprocessor_with_another_window_is_refused() {
    let dir = copy_of_artifact();
    let data = synthetic_data(7);
    let other = Preprocessor::fit(
        PreprocessorConfig {
            window: TEST_WINDOW + 2,
            ..PreprocessorConfig::default()
        },
        &data.train,
    )
    .unwrap();
    other.save(&dir.path().join(PREPROCESSOR_FILE)).unwrap();
    // Without resealing: a checksum refusal.
    assert!(matches!(
        Artifact::load(dir.path()).unwrap_err(),
        ArtifactError::Checksum { .. }
    ));
    // Resealed: the window disagreement itself is named.
    reseal(dir.path());
    let err = Artifact::load(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(PREPROCESSOR_FILE) && msg.contains("window 12"),
        "{msg}"
    );
}

#[test]
fn tampered_version_and_garbage_files_are_refused_without_panicking() {
    let dir = copy_of_artifact();
    let manifest_path = dir.path().join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    let version = trained().1.version.clone();
    std::fs::write(&manifest_path, text.replace(&version, "fd001-00000000")).unwrap();
    let err = Artifact::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("content hash"), "{err}");

    std::fs::write(&manifest_path, "{not json").unwrap();
    let err = Artifact::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains(MANIFEST_FILE), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = Artifact::load(empty.path()).unwrap_err();
    assert!(matches!(err, ArtifactError::Missing { .. }), "{err}");
}

#[test]
fn evaluation_report_serialises_and_plots_are_written() {
    let (_, summary) = trained();
    let report = summary.test.as_ref().unwrap();
    assert_eq!(report.engines, 8);
    assert_eq!(report.predictions.len(), 8);
    assert!(!report.trajectories.is_empty());
    // Held-out engines are the validation and calibration engines, never the fitted ones.
    let h = report.heldout.as_ref().expect("held-out report");
    let prep = crate::pipeline::prepare(
        &crate::synthetic::test_config(7),
        &crate::synthetic::synthetic_data(7).train,
    )
    .unwrap();
    let fitted: Vec<u32> = prep.fit_engines.iter().map(|e| e.unit).collect();
    assert!(!h.validation_units.is_empty() && !h.calibration_units.is_empty());
    for u in h.validation_units.iter().chain(&h.calibration_units) {
        assert!(!fitted.contains(u), "unit {u} was fitted on");
    }
    assert_eq!(
        h.policy.engines,
        h.validation_units.len() + h.calibration_units.len()
    );
    assert_eq!(report.interval_buckets.len(), 4);
    assert!((0.0..=1.0).contains(&report.ece_all_cycles));
    let json = serde_json::to_string(report).unwrap();
    let back: crate::EvalReport = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, report);
    let out = tempfile::tempdir().unwrap();
    let files = crate::write_plots(report, out.path()).unwrap();
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert_eq!(&bytes[1..4], b"PNG", "{}", f.display());
    }
}

#[test]
fn a_callback_break_stops_training_as_pruned_keeping_the_best_epoch() {
    let mut config = crate::synthetic::test_config(3);
    config.epochs = 5;
    config.early_stopping_patience = 10;
    let data = synthetic_data(3);
    let prep = crate::pipeline::prepare(&config, &data.train).unwrap();
    let mut seen = 0;
    let outcome = crate::train::fit(&config, &prep.fit, &prep.val, 125.0, &mut |r| {
        seen = r.epoch;
        if r.epoch == 2 {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })
    .unwrap();
    assert_eq!(seen, 2);
    assert_eq!(outcome.history.len(), 2);
    assert_eq!(outcome.stop, crate::StopReason::Pruned);
    assert!(outcome.best_epoch <= 2);
}
