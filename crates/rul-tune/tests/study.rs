//! A tiny study on synthetic data: resuming runs only the missing trials (and samples what an
//! uninterrupted study would have), a constructed case is pruned, and `best.toml` re-trains to
//! the same validation RMSE.

mod common;

use std::ops::ControlFlow;

use rul_model::synthetic::synthetic_data;
use rul_model::{StopReason, TrainConfig, train_subset};
use rul_tune::{StudyStore, TrialRecord, TrialState, run_study};

fn no_events(_: rul_tune::StudyEvent<'_>) {}

#[test]
fn interrupted_study_resumes_without_repeating_finished_trials() {
    let data = synthetic_data(11);
    let tmp = tempfile::tempdir().unwrap();
    let (study, runs) = (tmp.path().join("study"), tmp.path().join("runs"));

    let first = run_study(&common::request(&study, &runs, 3, 2), &data, &no_events).unwrap();
    assert_eq!(first.ran, 3);
    let before: Vec<TrialRecord> = first.trials.clone();

    let resumed = run_study(&common::request(&study, &runs, 5, 2), &data, &no_events).unwrap();
    assert_eq!(resumed.ran, 2, "only the two missing trials train");
    let numbers: Vec<usize> = resumed.trials.iter().map(|t| t.number).collect();
    assert_eq!(numbers, vec![0, 1, 2, 3, 4]);
    assert_eq!(
        &resumed.trials[..3],
        &before[..],
        "finished trials are kept as they were"
    );
    assert_eq!(
        std::fs::read_dir(&runs).unwrap().count(),
        5,
        "one run record per trained trial"
    );

    // The same study in one go samples the same parameters and gets the same values.
    let straight_dir = tmp.path().join("straight");
    let straight = run_study(
        &common::request(&straight_dir, &runs, 5, 2),
        &data,
        &no_events,
    )
    .unwrap();
    for (a, b) in straight.trials.iter().zip(&resumed.trials) {
        assert_eq!(a.params, b.params, "trial {}", a.number);
        assert_eq!(a.value, b.value, "trial {}", a.number);
        assert_eq!(a.state, b.state, "trial {}", a.number);
    }

    // Asking for fewer trials than finished runs nothing.
    let again = run_study(&common::request(&study, &runs, 4, 2), &data, &no_events).unwrap();
    assert_eq!(again.ran, 0);
}

#[test]
fn a_trial_far_worse_than_the_completed_median_is_pruned() {
    let data = synthetic_data(11);
    let tmp = tempfile::tempdir().unwrap();
    let (study, runs) = (tmp.path().join("study"), tmp.path().join("runs"));
    let request = common::request(&study, &runs, 2, 4);
    // Constructed history: one completed trial that reached a validation RMSE no real trial on
    // this data can approach, so the next trial is worse than the median at epoch 2.
    let (store, _) = StudyStore::open(&study, request.settings.clone(), true).unwrap();
    let params: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(r#"{"lstm_units": 8, "dropout": 0.1, "learning_rate": 0.005}"#)
            .unwrap();
    let config = request
        .settings
        .space
        .config(rul_data::Subset::FD001, &params)
        .unwrap();
    store
        .append(&TrialRecord {
            number: 0,
            state: TrialState::Complete,
            params,
            value: Some(0.01),
            val_rmse: vec![0.01; 4],
            best_epoch: 4,
            stop: Some(StopReason::MaxEpochs),
            seconds: 1.0,
            test_rmse: None,
            test_score: None,
            artifact: None,
            run_dir: None,
            error: None,
            config: Some(config),
            finished: "2026-01-01T00:00:00Z".into(),
        })
        .unwrap();

    let outcome = run_study(&request, &data, &no_events).unwrap();
    assert_eq!(outcome.ran, 1);
    let trial = &outcome.trials[1];
    assert_eq!(trial.state, TrialState::Pruned, "{trial:?}");
    assert_eq!(trial.stop, Some(StopReason::Pruned));
    assert_eq!(
        trial.val_rmse.len(),
        2,
        "pruned right after the warm-up epoch"
    );
    assert!(trial.value.is_some_and(|v| v > 0.01));
    // Pruned trials never become the best.
    assert_eq!(outcome.best.as_ref().map(|b| b.number), Some(0));
    let table = rul_tune::trials_table(&outcome.trials, &["dropout".to_string()]);
    assert!(table.contains("PRUNED"), "{table}");
}

#[test]
fn best_toml_retrains_to_the_same_validation_rmse() {
    let data = synthetic_data(11);
    let tmp = tempfile::tempdir().unwrap();
    let (study, runs) = (tmp.path().join("study"), tmp.path().join("runs"));
    let outcome = run_study(&common::request(&study, &runs, 3, 2), &data, &no_events).unwrap();
    let best = outcome.best.clone().unwrap();
    let path = outcome.best_config.clone().unwrap();
    assert_eq!(path, study.join("best.toml"));
    let config = TrainConfig::from_file(&path).unwrap();
    assert_eq!(config.epochs, 2);
    assert_eq!(Some(&config), best.config.as_ref());
    for t in &outcome.trials {
        if t.state == TrialState::Complete {
            assert!(t.value.unwrap() >= best.value.unwrap());
        }
    }

    let retrained = train_subset(&data, &config, &tmp.path().join("retrained"), &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(Some(retrained.val_rmse), best.value);
}

#[test]
fn parallel_jobs_finish_every_trial_once() {
    let data = synthetic_data(11);
    let tmp = tempfile::tempdir().unwrap();
    let (study, runs) = (tmp.path().join("study"), tmp.path().join("runs"));
    let mut request = common::request(&study, &runs, 4, 2);
    request.jobs = 3;
    let events = std::sync::Mutex::new(Vec::new());
    let outcome = run_study(&request, &data, &|e| {
        if let rul_tune::StudyEvent::TrialFinished { finished, .. } = e {
            events.lock().unwrap().push(finished);
        }
    })
    .unwrap();
    assert_eq!(outcome.ran, 4);
    let numbers: Vec<usize> = outcome.trials.iter().map(|t| t.number).collect();
    assert_eq!(numbers, vec![0, 1, 2, 3]);
    assert_eq!(events.into_inner().unwrap(), vec![1, 2, 3, 4]);
    assert!(outcome.trials.iter().all(|t| t.state != TrialState::Failed));
    let stored = std::fs::read_to_string(study.join("trials.jsonl")).unwrap();
    assert_eq!(stored.lines().count(), 4);
}
