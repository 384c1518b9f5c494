//! Data-quality flags and drift through the real fleet: flags travel with the prediction and survive a
//! restart, an offset input makes its engine drift while clean engines stay quiet. SQLite always,
//! PostgreSQL when `RUL_TEST_POSTGRES_URL` is set.

mod common;

use std::sync::Arc;

use common::{Db, fixture, open_with, postgres, sqlite};
use rul_data::{Engine, InputProfile, Reading};
use rul_fleet::{FlagKind, Fleet, FleetConfig};

/// The fixture model's profile, fitted on a synthetic fleet like the one it was trained on.
fn profile() -> (Arc<InputProfile>, Vec<Engine>) {
    let engines = rul_data::synthetic::fleet(20, 7);
    let p = InputProfile::fit(&fixture().pre, &engines, "synthetic").unwrap();
    (Arc::new(p), engines)
}

fn config(p: &Arc<InputProfile>) -> FleetConfig {
    FleetConfig {
        profile: Some(p.clone()),
        ..FleetConfig::default()
    }
}

/// An engine's cycles as readings, with `edit(cycle index, s-values)` applied.
fn readings(engine: &Engine, edit: impl Fn(usize, &mut [f64; 21])) -> Vec<(u64, Reading)> {
    engine
        .cycles
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut s = c.sensors;
            edit(i, &mut s);
            let reading = Reading {
                sensors: s.map(Some),
                settings: Some(c.settings),
            };
            (u64::from(c.cycle), reading)
        })
        .collect()
}

async fn ingest_all(fleet: &Fleet, id: &str, readings: Vec<(u64, Reading)>) {
    for (cycle, r) in readings {
        fleet.ingest(id.into(), vec![(cycle, r)]).await.unwrap();
    }
}

on_both!(
    quality_flags_and_drift_reach_the_api_and_survive_a_restart,
    flags_and_drift
);
async fn flags_and_drift(db: Db) {
    let (p, engines) = profile();
    let first = p.positions()[0];
    let name = p.sensors[0].clone();
    let std = p.stats[0][0].std;
    let engine = &engines[2];
    let drifting_before = {
        let fleet = open_with(&db, config(&p)).await;
        ingest_all(&fleet, "clean", readings(engine, |_, _| {})).await;
        let held = engine.cycles[0].sensors[first];
        ingest_all(&fleet, "stuck", readings(engine, |_, s| s[first] = held)).await;
        ingest_all(
            &fleet,
            "offset",
            readings(engine, |_, s| s[first] += 1.5 * std),
        )
        .await;

        let clean = fleet.engine("clean").unwrap();
        assert!(clean.latest.unwrap().quality.flags.is_empty());
        assert!(!clean.drift.unwrap().drifting);
        let stuck = fleet.engine("stuck").unwrap().latest.unwrap();
        assert!(
            stuck
                .quality
                .flags
                .iter()
                .any(|f| f.sensor == name && f.kind == FlagKind::Stuck),
            "{:?}",
            stuck.quality
        );
        let offset = fleet.engine("offset").unwrap().drift.unwrap();
        assert!(offset.drifting, "{offset:?}");
        assert_eq!(offset.sensor, name);

        let report = fleet.drift_report().unwrap();
        let drifting: Vec<&str> = report
            .engines
            .iter()
            .map(|e| e.engine_id.as_str())
            .collect();
        assert!(
            drifting.contains(&"offset") && !drifting.contains(&"clean"),
            "{drifting:?}"
        );
        assert_eq!(report.drifting, drifting.len());
        assert_eq!(report.readings, 3 * engine.cycles.len());
        assert_eq!(report.sensors.len(), p.sensors.len());
        drifting.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    // After a restart: the stored predictions keep their flags and the engines their drift.
    let fleet = open_with(&db, config(&p)).await;
    let last = engine.cycles.len() as u64;
    let history = fleet
        .store()
        .predictions("stuck", 1, last, 1000)
        .await
        .unwrap();
    let flagged = history
        .iter()
        .filter(|p| p.quality.flags.iter().any(|f| f.kind == FlagKind::Stuck))
        .count();
    assert!(
        flagged > 0 && flagged < history.len(),
        "{flagged} of {}",
        history.len()
    );
    assert!(fleet.engine("offset").unwrap().drift.unwrap().drifting);
    let after: Vec<String> = fleet
        .drift_report()
        .unwrap()
        .engines
        .into_iter()
        .map(|e| e.engine_id)
        .collect();
    assert_eq!(
        after, drifting_before,
        "drift verdicts are rebuilt from the stored readings"
    );
}

on_both!(without_a_profile_nothing_is_flagged, without_profile);
async fn without_profile(db: Db) {
    let (_, engines) = profile();
    let fleet = open_with(&db, FleetConfig::default()).await;
    ingest_all(&fleet, "e", readings(&engines[0], |_, _| {})).await;
    let view = fleet.engine("e").unwrap();
    assert!(view.drift.is_none());
    assert!(fleet.drift_report().is_none());
}
