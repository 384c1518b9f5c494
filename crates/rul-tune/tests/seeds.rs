//! The multi-seed protocol on the tiny synthetic configuration: one artifact per seed, the figures of each
//! seed and their spread, and the judge (validation RMSE) taken from each run's own record.

use std::ops::ControlFlow;

use rul_model::synthetic::{synthetic_data, test_config};
use rul_track::TrackSettings;
use rul_tune::{TuneError, run_seeds, seeds_table};

#[test]
fn every_seed_is_trained_and_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let data = synthetic_data(5);
    let track = TrackSettings {
        runs_dir: Some(dir.path().join("runs")),
        mlflow_uri: None,
        experiment: "rul-test".into(),
    };
    let mut epochs_seen = Vec::new();
    let study = run_seeds(
        &data,
        &test_config(5),
        &[11, 12],
        &dir.path().join("out"),
        &track,
        &mut |seed, r| {
            epochs_seen.push((seed, r.epoch));
            ControlFlow::Continue(())
        },
    )
    .unwrap();

    assert_eq!(
        study.runs.iter().map(|r| r.seed).collect::<Vec<_>>(),
        [11, 12]
    );
    assert_eq!(epochs_seen, [(11, 1), (11, 2), (12, 1), (12, 2)]);
    for run in &study.runs {
        assert!(
            run.dir.join("model.json").is_file(),
            "{}",
            run.dir.display()
        );
        let model: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.dir.join("model.json")).unwrap()).unwrap();
        assert_eq!(
            model["seed"], run.seed,
            "each artifact is trained with its own seed"
        );
        let metrics: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.dir.join("metrics.json")).unwrap()).unwrap();
        let judged = run.metrics["val_rmse"];
        assert_eq!(metrics["training"]["best_val_rmse"].as_f64(), Some(judged));
        assert!(run.metrics.contains_key("test_rmse"));
    }
    let a = study.runs[0].metrics["val_rmse"];
    let b = study.runs[1].metrics["val_rmse"];
    assert_ne!(a, b, "different seeds train different networks");
    let spread = study.spread["val_rmse"];
    assert_eq!(spread.n, 2);
    assert!((spread.mean - (a + b) / 2.0).abs() < 1e-12);
    assert!((spread.sd - (a - b).abs() / 2f64.sqrt()).abs() < 1e-12);
    assert!(seeds_table(&study).contains("seed 12"));

    let none = run_seeds(
        &data,
        &test_config(5),
        &[],
        dir.path(),
        &track,
        &mut |_, _| ControlFlow::Continue(()),
    );
    assert!(matches!(none, Err(TuneError::Invalid(_))));
}
