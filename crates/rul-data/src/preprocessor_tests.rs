use super::*;
use crate::DEFAULT_SENSORS;
use crate::labels::train_labels;
use crate::synthetic::fleet;
use crate::validate::Reading;

fn fitted(window: usize) -> (Preprocessor, Vec<Engine>) {
    let engines = fleet(12, 3);
    let config = PreprocessorConfig {
        window,
        ..Default::default()
    };
    (Preprocessor::fit(config, &engines).unwrap(), engines)
}

fn readings_of(engine: &Engine, n: usize) -> Vec<Reading> {
    engine.cycles[engine.cycles.len() - n..]
        .iter()
        .map(|c| c.reading(&DEFAULT_SENSORS))
        .collect()
}

#[test]
fn window_counts_and_targets() {
    let (p, engines) = fitted(30);
    let labels: Vec<_> = engines.iter().map(|e| train_labels(e, 125.0)).collect();
    let w = p.windows(&engines, &labels);
    let expected: usize = engines
        .iter()
        .map(|e| e.cycles.len().saturating_sub(29).max(1))
        .sum();
    assert_eq!(w.count, expected);
    assert_eq!(w.inputs.len(), w.count * 30 * 14);
    assert_eq!(w.targets.len(), w.count);
    assert_eq!(
        *w.targets.last().unwrap(),
        0.0,
        "last window of a run-to-failure engine has RUL 0"
    );
    let last = p.last_windows(&engines, &labels);
    assert_eq!(last.count, engines.len());
}

#[test]
fn serving_window_equals_training_window() {
    let (p, engines) = fitted(30);
    let labels: Vec<_> = engines.iter().map(|e| train_labels(e, 125.0)).collect();
    let last = p.last_windows(&engines, &labels);
    for (i, e) in engines.iter().enumerate() {
        let prepared = p.prepare(&readings_of(e, 40)).unwrap();
        assert_eq!(prepared.input, last.input(i), "engine {}", e.unit);
        assert_eq!(prepared.padded_cycles, 0);
    }
}

#[test]
fn short_history_is_edge_padded_and_reported() {
    let (p, engines) = fitted(30);
    let prepared = p.prepare(&readings_of(&engines[0], 5)).unwrap();
    assert_eq!(prepared.padded_cycles, 25);
    let f = p.n_features();
    assert_eq!(&prepared.input[..f], &prepared.input[25 * f..26 * f]);
}

#[test]
fn json_round_trip_gives_identical_inputs() {
    let (p, engines) = fitted(20);
    let back = Preprocessor::from_json(&p.to_json()).unwrap();
    assert_eq!(back, p);
    let readings = readings_of(&engines[1], 33);
    assert_eq!(
        back.prepare(&readings).unwrap(),
        p.prepare(&readings).unwrap()
    );
}

#[test]
fn tampered_or_inconsistent_files_are_refused() {
    let (p, _) = fitted(20);
    let json = p.to_json();
    let tampered = json.replacen("\"window\": 20", "\"window\": 21", 1);
    assert_ne!(tampered, json);
    let err = Preprocessor::from_json(&tampered).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch"), "{err}");
    let err = Preprocessor::from_json("{\"format\":\"pickle\"}")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid preprocessor file"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let err = Preprocessor::load(&dir.path().join("nope.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.json"), "{err}");
}

#[test]
fn config_rejects_settings_as_sensors() {
    let config = PreprocessorConfig {
        sensors: vec!["s2".into(), "setting_1".into()],
        ..Default::default()
    };
    let err = Preprocessor::fit(config, &fleet(2, 1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("setting_1") && err.contains("not a sensor"),
        "{err}"
    );
}

#[test]
fn validation_reports_reading_and_sensor() {
    let (p, engines) = fitted(30);
    let mut readings = readings_of(&engines[0], 3);
    readings[0].sensors[6] = None;
    readings[1].sensors[1] = Some(f64::NAN);
    readings[2].sensors[0] = Some(518.0);
    readings[2].sensors[6] = Some(1e9);
    let err = p.prepare(&readings).unwrap_err();
    let found: Vec<(Option<usize>, Option<String>)> = err
        .violations
        .iter()
        .map(|v| (v.reading, v.field.clone()))
        .collect();
    assert!(found.contains(&(Some(0), Some("s7".into()))), "{found:?}");
    assert!(found.contains(&(Some(1), Some("s2".into()))), "{found:?}");
    assert!(found.contains(&(Some(2), Some("s1".into()))), "{found:?}");
    assert!(found.contains(&(Some(2), Some("s7".into()))), "{found:?}");
    assert!(p.prepare(&[]).is_err());
    let many = vec![readings_of(&engines[0], 1)[0]; MAX_READINGS + 1];
    assert!(
        p.prepare(&many)
            .unwrap_err()
            .to_string()
            .contains("1 to 500 readings")
    );
}

#[test]
fn per_condition_models_need_settings() {
    let engines = fleet(6, 9);
    let config = PreprocessorConfig {
        per_condition: true,
        ..Default::default()
    };
    let p = Preprocessor::fit(config, &engines).unwrap();
    assert_eq!(p.conditions().len(), 1);
    let mut readings = readings_of(&engines[0], 2);
    readings[1].settings = None;
    let err = p.prepare(&readings).unwrap_err();
    assert_eq!(err.violations[0].reading, Some(1));
    assert_eq!(err.violations[0].field.as_deref(), Some("setting_1"));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// One change to a valid reading: a position (0..21 sensors, 21..24 settings) and what to put there.
    fn edit() -> impl Strategy<Value = (usize, u8, f64)> {
        (0usize..24, 0u8..6, -1.0f64..2.0)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// The fast acceptance test and the rule-by-rule check agree on every reading, including values exactly
        /// on a bound, just outside it, non-finite, missing or extra sensors and missing settings.
        #[test]
        fn fast_check_agrees_with_the_rules(edits in proptest::collection::vec(edit(), 0..4)) {
            let (p, engines) = fitted(10);
            let mut reading = engines[0].cycles[0].reading(&DEFAULT_SENSORS);
            for (position, kind, t) in edits {
                let bound = match position {
                    0..21 => p.sensor_idx.iter().position(|&q| q == position).map(|j| &p.body.sensor_bounds[j]),
                    _ => Some(&p.body.setting_bounds[position - 21]),
                };
                let (lo, hi) = bound.map_or((0.0, 1.0), |b| (b.min, b.max));
                let value = match kind {
                    0 => lo,
                    1 => hi,
                    2 => lo + t * (hi - lo),
                    3 => f64::NAN,
                    4 => f64::INFINITY,
                    _ => hi + 1e-9 * hi.abs().max(1.0),
                };
                match (position, kind % 2 == 0 && t > 1.5) {
                    (0..21, true) => reading.sensors[position] = None,
                    (0..21, false) => reading.sensors[position] = Some(value),
                    (_, true) => reading.settings = None,
                    (_, false) => {
                        let mut s = reading.settings.unwrap_or([0.0; 3]);
                        s[position - 21] = value;
                        reading.settings = Some(s);
                    }
                }
            }
            let mut violations = Violations::default();
            p.check_reading(0, &reading, &mut violations);
            prop_assert_eq!(p.is_well_formed(&reading), violations.into_result().is_ok());
        }

        #[test]
        fn arbitrary_readings_never_panic(
            values in proptest::collection::vec(
                proptest::collection::vec((0usize..25, proptest::num::f64::ANY), 0..20), 0..40),
            settings in proptest::option::of(proptest::array::uniform3(proptest::num::f64::ANY)),
        ) {
            let (p, _) = fitted(10);
            let readings: Vec<Reading> = values.into_iter().map(|row| {
                let mut reading = Reading { settings, ..Reading::default() };
                for (i, v) in row {
                    if let Some(slot) = reading.sensors.get_mut(i) {
                        *slot = Some(v);
                    }
                }
                reading
            }).collect();
            match p.prepare(&readings) {
                Ok(prep) => prop_assert_eq!(prep.input.len(), 10 * 14),
                Err(e) => prop_assert!(!e.violations.is_empty()),
            }
        }
    }
}
