use super::fit::{invert, longest_run};
use super::*;
use crate::preprocessor::PreprocessorConfig;
use crate::synthetic::fleet;

fn fitted() -> (InputProfile, Vec<Engine>) {
    let engines = fleet(20, 7);
    let pre = Preprocessor::fit(PreprocessorConfig::default(), &engines).unwrap();
    (
        InputProfile::fit(&pre, &engines, "synthetic").unwrap(),
        engines,
    )
}

fn standardised(p: &InputProfile, e: &Engine, offset: Option<(usize, f64)>) -> Vec<Vec<f64>> {
    e.cycles
        .iter()
        .map(|c| {
            let mut v = positional(c);
            if let Some((sensor, by)) = offset {
                v[sensor] += by;
            }
            p.standardise(&v).unwrap()
        })
        .collect()
}

#[test]
fn saved_profile_loads_back_equal_and_a_damaged_one_is_refused() {
    let (p, _) = fitted();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(PROFILE_FILE);
    p.save(&path).unwrap();
    let back = InputProfile::for_model_dir(dir.path()).unwrap().unwrap();
    assert_eq!(back, p);
    assert_eq!(back.positions(), p.positions());

    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["deciles"][0] = serde_json::json!([1.0]);
    std::fs::write(&path, json.to_string()).unwrap();
    let err = InputProfile::load(&path).unwrap_err().to_string();
    assert!(err.contains("do not match"), "{err}");
    assert!(
        InputProfile::for_model_dir(&dir.path().join("none"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn training_engines_stay_under_the_threshold_and_an_offset_sensor_drifts() {
    let (p, engines) = fitted();
    assert!(p.drift_threshold > 0.0);
    let s11 = p.sensors.iter().position(|s| s == "s11").unwrap();
    let std = p.stats[0][s11].std;
    let engine = &engines[0];
    let clean = standardised(&p, engine, None);
    assert!(p.drift(&clean[..DRIFT_MIN_READINGS - 1]).is_none());
    let d = p.drift(&clean).unwrap();
    assert!(!d.drifting, "{d:?}");

    let shifted = standardised(&p, engine, Some((p.positions()[s11], 8.0 * std)));
    let d = p.drift(&shifted).unwrap();
    assert!(d.drifting, "{d:?} threshold {}", p.drift_threshold);
    assert_eq!(d.sensor, "s11");
    assert!((d.shift - 8.0).abs() < 2.0, "{d:?}");
}

#[test]
fn absent_inputs_are_not_standardised() {
    let (p, engines) = fitted();
    let mut v = positional(&engines[0].cycles[0]);
    assert!(p.standardise(&v).is_some());
    v[p.positions()[0]] = f64::NAN;
    assert!(p.standardise(&v).is_none());
}

#[test]
fn inverse_times_matrix_is_identity() {
    let m = vec![
        vec![4.0, 1.0, 0.5],
        vec![1.0, 3.0, 0.2],
        vec![0.5, 0.2, 2.0],
    ];
    let inv = invert(&m).unwrap();
    for (i, row) in m.iter().enumerate() {
        for j in 0..3 {
            let v: f64 = row.iter().zip(&inv).map(|(a, r)| a * r[j]).sum();
            assert!(
                (v - f64::from(u8::from(i == j))).abs() < 1e-12,
                "{i},{j}: {v}"
            );
        }
    }
    assert!(invert(&[vec![1.0, 2.0], vec![2.0, 4.0]]).is_none());
}

#[test]
fn runs_count_identical_neighbours() {
    assert_eq!(longest_run([1.0, 1.0, 2.0, 2.0, 2.0, 1.0].into_iter()), 3);
    assert_eq!(longest_run(std::iter::empty()), 0);
}
