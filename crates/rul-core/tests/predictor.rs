//! Behaviour of the Predictor against real tiny artifacts. No timing assertions anywhere.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{config, fixture, history, ready, request};
use rul_core::{PredictError, Prediction, Predictor, PredictorConfig, Readiness, Source};

/// Everything but the `cached` flag and the timing.
fn same_answer(a: &Prediction, b: &Prediction) {
    assert_eq!(a.engine_id, b.engine_id);
    assert_eq!(a.rul, b.rul);
    assert_eq!((a.lower, a.upper, a.level), (b.lower, b.upper, b.level));
    assert_eq!((a.confidence, a.tolerance), (b.confidence, b.tolerance));
    assert_eq!(a.model_version, b.model_version);
    assert_eq!(
        (a.padded, a.padded_cycles, a.unknown_condition),
        (b.padded, b.padded_cycles, b.unknown_condition)
    );
    assert_eq!(a.source, b.source);
}

/// Yields until `cond` holds (a condition wait, not a timing assertion).
async fn until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_flips_after_warm_up() {
    let f = fixture();
    let p = Predictor::start(config(&f.a));
    let rx = p.readiness();
    assert!(matches!(
        *rx.borrow(),
        Readiness::Loading | Readiness::Ready
    ));
    p.wait_ready().await.unwrap();
    assert!(p.is_ready());
    assert_eq!(*rx.borrow(), Readiness::Ready);
    let info = p.model_info().unwrap();
    assert_eq!(info.window, f.pre.window());
    assert_eq!(info.n_features, f.pre.n_features());
    assert_eq!(info.sensors, f.pre.config().sensors);
    assert!(!info.version.is_empty());
    let pred = p
        .predict(request("e1", history(&f.pre, 40, 0.0)))
        .await
        .unwrap();
    assert!(pred.rul >= 0.0 && pred.lower <= pred.upper && pred.lower >= 0.0);
    assert!((0.0..=1.0).contains(&pred.confidence));
    assert_eq!(pred.source, Source::Local);
    assert_eq!(pred.model_version, info.version);
    assert!(!pred.padded && !pred.cached);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_artifact_fails_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let p = Predictor::start(config(&dir.path().join("nope")));
    let err = p.wait_ready().await.unwrap_err();
    assert_eq!(err.kind(), "not_ready");
    assert!(!p.is_ready());
    assert!(matches!(*p.readiness().borrow(), Readiness::Failed(_)));
    assert!(p.model_info().is_none());
    let err = p
        .predict(request("e1", history(&fixture().pre, 5, 0.0)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "not_ready");
    // A good reload recovers a predictor whose initial load failed.
    p.reload(Some(fixture().a.clone())).await.unwrap();
    assert!(p.is_ready());
    p.predict(request("e1", history(&fixture().pre, 5, 0.0)))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_and_single_predictions_agree() {
    let f = fixture();
    let p = ready(config(&f.a)).await;
    let reqs: Vec<_> = (0..40)
        .map(|i| request(&format!("e{i}"), history(&f.pre, 5 + i * 3, i as f64 * 0.7)))
        .collect();
    let mut singles = Vec::new();
    for r in &reqs {
        singles.push(p.predict(r.clone()).await.unwrap());
    }
    let many = p.predict_many(reqs.clone()).await;
    for (s, m) in singles.iter().zip(&many) {
        let m = m.as_ref().unwrap();
        assert!((s.rul - m.rul).abs() <= 1e-5, "{} vs {}", s.rul, m.rul);
        assert_eq!(s.engine_id, m.engine_id);
        assert_eq!(s.padded_cycles, m.padded_cycles);
    }
    // Concurrent single requests under a waiting batcher agree as well.
    let q = ready(PredictorConfig {
        max_wait: Duration::from_millis(2),
        max_batch: 8,
        ..config(&f.a)
    })
    .await;
    let mut set = tokio::task::JoinSet::new();
    for (i, r) in reqs.iter().cloned().enumerate() {
        let q = q.clone();
        set.spawn(async move { (i, q.predict(r).await) });
    }
    while let Some(done) = set.join_next().await {
        let (i, res) = done.unwrap();
        assert!((res.unwrap().rul - singles[i].rul).abs() <= 1e-5);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_hit_returns_identical_answer() {
    let f = fixture();
    let p = ready(PredictorConfig {
        cache_capacity: 100,
        ..config(&f.a)
    })
    .await;
    let req = request("engine-9", history(&f.pre, 50, 1.0));
    let fresh = p.predict(req.clone()).await.unwrap();
    let hit = p.predict(req.clone()).await.unwrap();
    assert!(!fresh.cached && hit.cached);
    same_answer(&fresh, &hit);
    assert_eq!((hit.timing.queue_us, hit.timing.model_us), (0, 0));
    let stats = p.stats_exact();
    assert_eq!(
        (stats.cache_hits, stats.cache_misses, stats.cache_size),
        (1, 1, 1)
    );
    // Another engine id with the same readings is a different key.
    let other = p
        .predict(request("engine-10", req.readings.clone()))
        .await
        .unwrap();
    assert!(!other.cached);
    assert_eq!(other.engine_id, "engine-10");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_sharing_last_reading_do_not_collide() {
    let f = fixture();
    let p = ready(PredictorConfig {
        cache_capacity: 100,
        ..config(&f.a)
    })
    .await;
    let uncached = ready(config(&f.a)).await;
    let h1 = history(&f.pre, 40, 0.0);
    let mut h2 = history(&f.pre, 40, 2.5);
    *h2.last_mut().unwrap() = *h1.last().unwrap();
    let h3 = vec![*h1.last().unwrap()];
    for h in [&h1, &h2, &h3] {
        let got = p.predict(request("e", h.clone())).await.unwrap();
        assert!(!got.cached, "distinct history served from cache");
        same_answer(
            &got,
            &uncached.predict(request("e", h.clone())).await.unwrap(),
        );
    }
    assert_eq!(p.stats().cache_misses, 3);
    assert_eq!(p.stats().cache_hits, 0);
    assert!(p.predict(request("e", h3)).await.unwrap().padded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_fails_fast_with_overloaded() {
    let f = fixture();
    let p = ready(PredictorConfig {
        queue_capacity: 1,
        ..config(&f.a)
    })
    .await;
    let guard = p.pause_model_thread().await.unwrap();
    let queued = tokio::spawn({
        let p = p.clone();
        let r = request("a", history(&f.pre, 30, 0.0));
        async move { p.predict(r).await }
    });
    until(|| p.stats().queue_depth == 1).await;
    let err = p
        .predict(request("b", history(&f.pre, 30, 1.0)))
        .await
        .unwrap_err();
    assert!(matches!(err, PredictError::Overloaded));
    assert_eq!(err.kind(), "overloaded");
    drop(guard);
    assert!(queued.await.unwrap().is_ok());

    // predict_many beyond the limit: the first item is admitted, the rest are refused individually.
    let guard = p.pause_model_thread().await.unwrap();
    let many = tokio::spawn({
        let p = p.clone();
        let reqs = (0..3)
            .map(|i| request(&format!("m{i}"), history(&f.pre, 30, i as f64)))
            .collect();
        async move { p.predict_many(reqs).await }
    });
    until(|| p.stats().queue_depth == 1).await;
    drop(guard);
    let results = many.await.unwrap();
    assert!(results[0].is_ok());
    assert!(
        results[1..]
            .iter()
            .all(|r| matches!(r, Err(PredictError::Overloaded)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_under_load_loses_nothing_and_refuses_broken_artifacts() {
    let f = fixture();
    let p = ready(PredictorConfig {
        cache_capacity: 1000,
        max_wait: Duration::from_millis(1),
        ..config(&f.a)
    })
    .await;
    let v_a = p.model_info().unwrap().version;
    let fixed = request("fixed", history(&f.pre, 30, 0.3));
    assert_eq!(p.predict(fixed.clone()).await.unwrap().model_version, v_a);

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..4 {
        let (p, stop, done, pre) = (p.clone(), stop.clone(), done.clone(), f.pre.clone());
        workers.spawn(async move {
            let mut i = 0usize;
            loop {
                let finished = stop.load(Ordering::Acquire);
                let r = request(
                    &format!("w{w}"),
                    history(&pre, 10 + i % 40, (w * 1000 + i) as f64),
                );
                let pred = p
                    .predict(r)
                    .await
                    .expect("no request may fail during reload");
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
                if finished {
                    return pred.model_version;
                }
            }
        });
    }
    until(|| done.load(Ordering::Relaxed) >= 20).await;
    let info = p.reload(Some(f.b.clone())).await.unwrap();
    let v_b = info.version.clone();
    assert_ne!(v_a, v_b);
    assert_eq!(p.model_info().unwrap().version, v_b);
    stop.store(true, Ordering::Release);
    while let Some(last) = workers.join_next().await {
        assert_eq!(last.unwrap(), v_b);
    }
    // The model version is part of the cache key.
    let after = p.predict(fixed.clone()).await.unwrap();
    assert!(!after.cached);
    assert_eq!(after.model_version, v_b);

    // Broken artifacts are refused; the current model keeps serving.
    let empty = tempfile::tempdir().unwrap();
    let corrupt = tempfile::tempdir().unwrap();
    let mut largest = None;
    for entry in std::fs::read_dir(&f.b).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let to = corrupt.path().join(path.file_name().unwrap());
            std::fs::copy(&path, &to).unwrap();
            let len = std::fs::metadata(&to).unwrap().len();
            if largest.as_ref().is_none_or(|(l, _)| len > *l) {
                largest = Some((len, to));
            }
        }
    }
    let (len, victim) = largest.unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes.truncate((len / 2) as usize);
    std::fs::write(&victim, bytes).unwrap();
    for bad in [empty.path(), corrupt.path(), &f.b.join("missing")] {
        let err = p.reload(Some(bad.to_path_buf())).await.unwrap_err();
        assert_eq!(err.kind(), "internal", "{err}");
        assert_eq!(p.model_info().unwrap().version, v_b);
        assert!(p.is_ready());
        assert_eq!(
            p.predict(request("x", history(&f.pre, 12, 9.0)))
                .await
                .unwrap()
                .model_version,
            v_b
        );
    }
    // reload(None) reloads the configured MODEL_PATH (model A), not the last path a caller gave.
    assert_eq!(p.reload(None).await.unwrap().version, v_a);
}

fn violation_fields(err: PredictError) -> Vec<(Option<usize>, Option<String>, String)> {
    match err {
        PredictError::Validation(v) => v
            .violations
            .into_iter()
            .map(|v| (v.reading, v.field, v.reason))
            .collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_errors_are_structured() {
    let f = fixture();
    let p = ready(config(&f.a)).await;
    let v = violation_fields(p.predict(request("e", vec![])).await.unwrap_err());
    assert_eq!(v[0].1.as_deref(), Some("sensor_data"));
    let v = violation_fields(
        p.predict(request("e", history(&f.pre, 501, 0.0)))
            .await
            .unwrap_err(),
    );
    assert_eq!(v[0].1.as_deref(), Some("sensor_data"));

    let mut missing = history(&f.pre, 10, 0.0);
    let removed = f.pre.config().sensors[1].clone();
    missing[4].sensors[rul_data::sensor_index(&removed).expect("sensor")] = None;
    let v = violation_fields(p.predict(request("e", missing)).await.unwrap_err());
    assert_eq!((v[0].0, v[0].1.as_deref()), (Some(4), Some(&*removed)));

    let mut nan = history(&f.pre, 10, 0.0);
    let name = f.pre.config().sensors[0].clone();
    nan[7].sensors[rul_data::sensor_index(&name).expect("sensor")] = Some(f64::NAN);
    let v = violation_fields(p.predict(request("e", nan)).await.unwrap_err());
    assert_eq!((v[0].0, v[0].1.as_deref()), (Some(7), Some(&*name)));

    for id in ["", "bad\u{7}id", &"x".repeat(129)] {
        let v = violation_fields(
            p.predict(request(id, history(&f.pre, 3, 0.0)))
                .await
                .unwrap_err(),
        );
        assert_eq!(v[0].1.as_deref(), Some("engine_id"));
    }
    let err = p.predict(request("", vec![])).await.unwrap_err();
    assert_eq!(err.kind(), "validation");
    assert!(err.public_message().contains("engine_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_many_isolates_bad_items() {
    let f = fixture();
    let p = ready(config(&f.a)).await;
    let good1 = request("g1", history(&f.pre, 35, 0.0));
    let good2 = request("g2", history(&f.pre, 8, 4.0));
    let mut nan = history(&f.pre, 20, 1.0);
    let third = rul_data::sensor_index(&f.pre.config().sensors[2]).expect("sensor");
    nan[3].sensors[third] = Some(f64::INFINITY);
    let reqs = vec![
        good1.clone(),
        request("bad", nan),
        good2.clone(),
        request("", history(&f.pre, 3, 0.0)),
    ];
    let out = p.predict_many(reqs).await;
    assert_eq!(out.len(), 4);
    same_answer(out[0].as_ref().unwrap(), &p.predict(good1).await.unwrap());
    same_answer(out[2].as_ref().unwrap(), &p.predict(good2).await.unwrap());
    assert_eq!(out[1].as_ref().unwrap_err().kind(), "validation");
    assert_eq!(out[3].as_ref().unwrap_err().kind(), "validation");
    // A large batch goes through the spawn_blocking preprocessing path; all items succeed.
    let big: Vec<_> = (0..100)
        .map(|i| request(&format!("b{i}"), history(&f.pre, 30, i as f64)))
        .collect();
    assert!(p.predict_many(big).await.iter().all(Result::is_ok));
    assert!(p.predict_many(vec![]).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_queued_work_then_refuses() {
    let f = fixture();
    let p = ready(config(&f.a)).await;
    let guard = p.pause_model_thread().await.unwrap();
    let mut pending = Vec::new();
    for i in 0..3 {
        let (p, r) = (
            p.clone(),
            request(&format!("s{i}"), history(&f.pre, 30, i as f64)),
        );
        pending.push(tokio::spawn(async move { p.predict(r).await }));
    }
    until(|| p.stats().queue_depth == 3).await;
    let stopping = tokio::spawn({
        let p = p.clone();
        async move { p.shutdown().await }
    });
    until(|| !p.is_ready()).await;
    drop(guard);
    stopping.await.unwrap();
    for t in pending {
        assert!(t.await.unwrap().is_ok());
    }
    assert_eq!(
        p.predict(request("late", history(&f.pre, 3, 0.0)))
            .await
            .unwrap_err()
            .kind(),
        "not_ready"
    );
    assert!(p.reload(None).await.is_err());
    p.shutdown().await; // idempotent
}
