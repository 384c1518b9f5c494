//! The fleet against a real prediction core and a real store: SQLite always, PostgreSQL when
//! `RUL_TEST_POSTGRES_URL` is set (CI sets it; with `CI=true` and no URL the PostgreSQL runs fail).

mod common;

use common::{Db, ingest_one, input, open, postgres, predictor, reading, sqlite};
use rul_core::PredictRequest;
use rul_fleet::{AlertState, EngineMeta, FleetError, ListQuery};
use rul_model::synthetic::TEST_WINDOW;

on_both!(
    stream_equals_predict_on_the_full_history,
    stream_equals_predict
);
async fn stream_equals_predict(db: Db) {
    let fleet = open(&db).await;
    let p = predictor().await;
    let mut history = Vec::new();
    for cycle in 1..=40 {
        let report = ingest_one(&fleet, "e-1", cycle).await.unwrap();
        history.push(reading(cycle));
        let expected = p
            .predict(PredictRequest {
                engine_id: "e-1".into(),
                readings: history.clone(),
            })
            .await
            .unwrap();
        let got = report.prediction.unwrap();
        assert_eq!(got.cycle, cycle);
        assert!((got.rul_model - expected.rul).abs() < 1e-9, "cycle {cycle}");
        assert!(got.lower <= got.rul && got.rul <= got.upper);
    }
    let view = fleet.engine("e-1").unwrap();
    assert_eq!(
        (view.first_cycle, view.last_cycle, view.readings),
        (Some(1), Some(40), 40)
    );
}

on_both!(duplicates_conflicts_and_gaps, duplicates_conflicts_gaps);
async fn duplicates_conflicts_gaps(db: Db) {
    let fleet = open(&db).await;
    ingest_one(&fleet, "e", 1).await.unwrap();
    ingest_one(&fleet, "e", 2).await.unwrap();
    // Redelivery: acknowledged, ignored, the latest prediction unchanged.
    let dup = ingest_one(&fleet, "e", 2).await.unwrap();
    assert_eq!((dup.accepted, dup.duplicates), (0, 1));
    assert_eq!(dup.prediction.unwrap().cycle, 2);
    // Same cycle, other values: conflict.
    let mut other = reading(2);
    other.sensors[input(0)] = other.sensors[input(0)].map(|v| v + 0.5);
    let err = fleet
        .ingest("e".into(), vec![(2, other)])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "conflict");
    // Going backwards to a cycle never seen: conflict.
    // A jump from cycle 2 to 10 is accepted and reported as 7 missing cycles.
    let gap = ingest_one(&fleet, "e", 10).await.unwrap();
    assert_eq!(
        (gap.gaps.len(), gap.gaps[0].after_cycle, gap.gaps[0].missing),
        (1, 2, 7)
    );
    let err = ingest_one(&fleet, "e", 5).await.unwrap_err();
    assert!(
        err.public_message()
            .contains("before the last accepted cycle"),
        "{err}"
    );
    let view = fleet.engine("e").unwrap();
    assert_eq!(
        (view.readings, view.missing_cycles, view.last_cycle),
        (3, 7, Some(10))
    );
}

on_both!(bad_messages_store_nothing, bad_messages);
async fn bad_messages(db: Db) {
    let fleet = open(&db).await;
    let mut nan = reading(2);
    nan.sensors[input(3)] = Some(f64::NAN);
    let err = fleet
        .ingest("e".into(), vec![(1, reading(1)), (2, nan)])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "validation");
    // A rejected first message registers nothing: no engine to read, list or delete.
    assert!(matches!(fleet.engine("e"), Err(FleetError::NotFound)));
    let conflict = fleet
        .ingest("e".into(), vec![(5, reading(5)), (3, reading(3))])
        .await
        .unwrap_err();
    assert_eq!(conflict.kind(), "conflict");
    assert!(!fleet.contains("e"));
    assert_eq!(
        (fleet.len(), fleet.list(&ListQuery::default()).total),
        (0, 0)
    );
    assert!(matches!(fleet.delete("e").await, Err(FleetError::NotFound)));
    let too_many: Vec<_> = (1..=1001).map(|c| (c, reading(c))).collect();
    assert_eq!(
        fleet.ingest("e".into(), too_many).await.unwrap_err().kind(),
        "validation"
    );
    assert_eq!(
        fleet.ingest("e".into(), vec![]).await.unwrap_err().kind(),
        "validation"
    );
    assert_eq!(
        ingest_one(&fleet, "", 1).await.unwrap_err().kind(),
        "validation"
    );
    assert_eq!(
        ingest_one(&fleet, "e", 0).await.unwrap_err().kind(),
        "validation"
    );
    // A reading the model rejects (implausible value) fails the message and names the reading index.
    let mut wild = reading(3);
    wild.sensors[input(0)] = Some(1e9);
    let err = fleet
        .ingest("e".into(), vec![(3, reading(3)), (4, wild)])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("reading 1") || format!("{err:?}").contains("reading: Some(1)"),
        "{err:?}"
    );
    assert!(matches!(fleet.engine("nobody"), Err(FleetError::NotFound)));
}

on_both!(restart_resumes_exactly, restart_resumes);
async fn restart_resumes(db: Db) {
    let uninterrupted = {
        let scratch = sqlite().await;
        let fleet = open(&scratch).await;
        let mut last = None;
        for c in 1..=35 {
            last = ingest_one(&fleet, "e", c).await.unwrap().prediction;
        }
        last.unwrap()
    };
    {
        let fleet = open(&db).await;
        fleet
            .register(
                "e",
                EngineMeta {
                    tags: vec!["wing-left".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for c in 1..=34 {
            ingest_one(&fleet, "e", c).await.unwrap();
        }
    }
    let fleet = open(&db).await;
    let view = fleet.engine("e").unwrap();
    assert_eq!((view.readings, view.last_cycle), (34, Some(34)));
    assert_eq!(view.meta.tags, vec!["wing-left".to_string()]);
    let next = ingest_one(&fleet, "e", 35)
        .await
        .unwrap()
        .prediction
        .unwrap();
    assert_eq!(next.rul_model.to_bits(), uninterrupted.rul_model.to_bits());
    assert_eq!(next.rul.to_bits(), uninterrupted.rul.to_bits());
    assert_eq!(next.lower.to_bits(), uninterrupted.lower.to_bits());
    // Redelivery of a cycle older than the in-memory window is recognised through the store.
    assert_eq!(ingest_one(&fleet, "e", 1).await.unwrap().duplicates, 1);
    let trajectory = fleet.store().predictions("e", 10, 20, 100).await.unwrap();
    assert_eq!(
        trajectory.iter().map(|p| p.cycle).collect::<Vec<_>>(),
        (10..=20).collect::<Vec<_>>()
    );
    let readings = fleet.store().readings("e", 1, 3, 100).await.unwrap();
    assert_eq!(readings.len(), 3);
}

on_both!(list_sorts_filters_pages_and_delete, list_and_delete);
async fn list_and_delete(db: Db) {
    let fleet = open(&db).await;
    for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
        let tags = if i % 2 == 0 {
            vec!["even".to_string()]
        } else {
            vec![]
        };
        fleet
            .register(
                id,
                EngineMeta {
                    tags,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for c in 1..=(5 + 10 * i as u64) {
            ingest_one(&fleet, id, c).await.unwrap();
        }
    }
    let page = fleet.list(&ListQuery::default());
    assert_eq!(page.total, 4);
    let lowers: Vec<f64> = page
        .engines
        .iter()
        .map(|e| e.latest.as_ref().unwrap().lower)
        .collect();
    assert!(lowers.windows(2).all(|w| w[0] <= w[1]), "{lowers:?}");
    let even = fleet.list(&ListQuery {
        tag: Some("even".into()),
        ..Default::default()
    });
    assert_eq!(even.total, 2);
    let paged = fleet.list(&ListQuery {
        offset: 1,
        limit: 2,
        ..Default::default()
    });
    assert_eq!(paged.engines.len(), 2);
    assert_eq!(paged.engines[0].engine_id, page.engines[1].engine_id);
    fleet.delete("a").await.unwrap();
    assert!(matches!(fleet.delete("a").await, Err(FleetError::NotFound)));
    assert_eq!(fleet.list(&ListQuery::default()).total, 3);
    drop(fleet);
    let reopened = open(&db).await;
    assert_eq!(reopened.len(), 3);
    assert!(
        reopened
            .store()
            .readings("a", 0, u64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

on_both!(concurrent_engines_keep_their_order, concurrent_engines);
async fn concurrent_engines(db: Db) {
    let fleet = open(&db).await;
    // Queue every message first (turns are taken at call time), then run them all at once.
    let mut pending = Vec::new();
    for c in 1..=20u64 {
        for e in 0..8 {
            pending.push(fleet.ingest(format!("e{e}"), vec![(c, reading(c))]));
        }
    }
    let handles: Vec<_> = pending.into_iter().rev().map(tokio::spawn).collect();
    for h in handles {
        h.await.unwrap().unwrap();
    }
    for e in 0..8 {
        let v = fleet.engine(&format!("e{e}")).unwrap();
        assert_eq!(
            (v.readings, v.missing_cycles, v.last_cycle),
            (20, 0, Some(20))
        );
    }
}

on_both!(alerts_persist_and_survive_a_restart, alerts_persist);
async fn alerts_persist(db: Db) {
    let high = EngineMeta {
        labels: [("alert_rul_below".to_string(), "100000".to_string())].into(),
        ..Default::default()
    };
    {
        let fleet = open(&db).await;
        fleet.register("a", high.clone()).await.unwrap();
        for c in 1..=3 {
            ingest_one(&fleet, "a", c).await.unwrap();
        }
        let acked = fleet.ack("a@1", "planner", "").await.unwrap();
        assert_eq!(acked.state, AlertState::Acked);
    }
    // After a restart the active alert is known again: more low predictions raise no second alert.
    let fleet = open(&db).await;
    for c in 4..=6 {
        ingest_one(&fleet, "a", c).await.unwrap();
    }
    let all = fleet.alerts(None, Some("a"), 10).await.unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(
        (all[0].alert_id.as_str(), all[0].state),
        ("a@1", AlertState::Acked)
    );
    assert_eq!(all[0].acked_by.as_deref(), Some("planner"));
    assert_eq!(all[0].updated_cycle, 1);
    // Threshold 0 clears it (the bound is above 10), and the history keeps it as cleared.
    let zero = EngineMeta {
        labels: [("alert_rul_below".to_string(), "0".to_string())].into(),
        ..Default::default()
    };
    fleet.register("a", zero).await.unwrap();
    ingest_one(&fleet, "a", 7).await.unwrap();
    let cleared = fleet
        .alerts(Some(AlertState::Cleared), None, 10)
        .await
        .unwrap();
    assert_eq!(cleared.len(), 1);
    assert_eq!(cleared[0].cleared_cycle, Some(7));
    assert!(matches!(
        fleet.ack("a@1", "planner", "").await,
        Err(FleetError::AlertCleared(_))
    ));
    assert!(matches!(
        fleet.ack("missing@1", "planner", "").await,
        Err(FleetError::AlertNotFound)
    ));
    // Deleting the engine removes its alerts.
    fleet.delete("a").await.unwrap();
    assert!(fleet.alerts(None, None, 10).await.unwrap().is_empty());
}

on_both!(
    a_reading_queued_behind_a_delete_starts_a_new_engine,
    delete_then_queued_ingest
);
async fn delete_then_queued_ingest(db: Db) {
    let fleet = open(&db).await;
    for c in 1..=3 {
        ingest_one(&fleet, "e", c).await.unwrap();
    }
    let deleting = fleet.clone();
    let mut delete = Box::pin(async move { deleting.delete("e").await });
    // One poll: the delete takes the engine's turn before the next reading queues behind it.
    let mut done = None;
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(r) = delete.as_mut().poll(cx) {
            done = Some(r);
        }
        std::task::Poll::Ready(())
    })
    .await;
    let finish_delete = async {
        match done {
            Some(r) => r,
            None => delete.await,
        }
    };
    let (deleted, ingested) = tokio::join!(finish_delete, ingest_one(&fleet, "e", 7));
    deleted.unwrap();
    ingested.unwrap();
    // The reading went to a new engine that both memory and the store know, not to the deleted one.
    let view = fleet.engine("e").unwrap();
    assert_eq!((view.readings, view.first_cycle), (1, Some(7)));
    let stored = fleet.store().readings("e", 0, u64::MAX, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    drop(fleet);
    let reopened = open(&db).await;
    assert_eq!(reopened.engine("e").unwrap().readings, 1);
}

/// Memory holds only what the serving model needs; after a reload to a model with a longer window, an
/// engine's readings are read back from the store, so its next answer is what `/predict` gives on the whole
/// history (not a padded window).
async fn longer_window_after_reload(db: Db) {
    let longer = tempfile::tempdir().unwrap();
    rul_model::write_test_artifact_with_window(longer.path(), 7, 3 * TEST_WINDOW).unwrap();
    let p = predictor().await;
    let store = rul_fleet::Store::connect(&db.url).await.unwrap();
    let fleet = rul_fleet::Fleet::open(p.clone(), store, rul_fleet::FleetConfig::default())
        .await
        .unwrap();
    let mut history = Vec::new();
    for cycle in 1..=4 * TEST_WINDOW as u64 {
        ingest_one(&fleet, "e", cycle).await.unwrap();
        history.push(reading(cycle));
    }
    p.reload(Some(longer.path().to_path_buf())).await.unwrap();
    let next = 4 * TEST_WINDOW as u64 + 1;
    let report = ingest_one(&fleet, "e", next).await.unwrap();
    history.push(reading(next));
    let expected = p
        .predict(PredictRequest {
            engine_id: "e".into(),
            readings: history,
        })
        .await
        .unwrap();
    assert!(!expected.padded && !report.padded);
    let got = report.prediction.unwrap();
    assert_eq!(got.model_version, expected.model_version);
    assert!((got.rul_model - expected.rul).abs() < 1e-9);
}

on_both!(
    a_longer_window_after_reload_reads_back,
    longer_window_after_reload
);
