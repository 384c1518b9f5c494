//! Shared pieces of the rul-tune integration tests: a tiny space over the synthetic test
//! configuration, and study requests that record runs into a temporary folder.

#![allow(dead_code)]

use std::path::Path;

use rul_data::Subset;
use rul_track::TrackSettings;
use rul_tune::{MedianPruner, SearchSpace, StudyRequest, StudySettings};

/// Three parameters around `rul_model::synthetic::test_config` (2 epochs, tiny conv-LSTM).
pub fn tiny_space() -> SearchSpace {
    let base = serde_json::to_value(rul_model::synthetic::test_config(5)).unwrap();
    let mut space = SearchSpace::from_toml(
        r#"
        [[param]]
        name = "lstm_units"
        path = "model.lstm.0"
        type = "int"
        low = 4
        high = 12
        [[param]]
        name = "dropout"
        path = "model.dropout"
        type = "float"
        low = 0.0
        high = 0.3
        [[param]]
        name = "learning_rate"
        path = "learning_rate"
        type = "float"
        low = 1e-3
        high = 1e-2
        log = true
        "#,
    )
    .unwrap();
    space.base = base;
    space.check().unwrap();
    space
}

pub fn request(dir: &Path, runs: &Path, trials: usize, epochs: usize) -> StudyRequest {
    StudyRequest {
        dir: dir.to_path_buf(),
        settings: StudySettings {
            subset: Subset::FD001,
            space: tiny_space(),
            seed: 3,
            startup_trials: 2,
            pruner: MedianPruner {
                startup_trials: 1,
                warmup_epochs: 1,
            },
            max_epochs: Some(epochs),
            trial_time_budget_secs: None,
        },
        space_given: true,
        trials,
        jobs: 1,
        track: TrackSettings {
            runs_dir: Some(runs.to_path_buf()),
            mlflow_uri: None,
            experiment: "rul-test".into(),
        },
    }
}
