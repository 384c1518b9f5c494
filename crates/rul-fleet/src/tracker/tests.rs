//! Unit tests of the RUL tracker.

use super::*;

/// A calibration whose 90 % interval is ±16.45 cycles everywhere (σ = 10).
pub(crate) fn flat_calibration() -> Calibration {
    let bin = serde_json::json!({"pred_min": 0.0, "pred_max": 125.0, "center": 60.0, "count": 1000,
        "q_lo": -16.45, "q_hi": 16.45, "confidence": 0.8});
    serde_json::from_value(
        serde_json::json!({"format_version": 1, "level": 0.9, "tolerance": 15.0,
        "truth_horizon": 200.0, "bins": [bin.clone()], "global": bin}),
    )
    .unwrap()
}

fn tracker(config: TrackerConfig) -> Tracker {
    Tracker::new(config, flat_calibration(), 125.0)
}

#[test]
fn normal_quantiles() {
    assert!((normal_quantile(0.95) - 1.644_853_6).abs() < 1e-6);
    assert!((normal_quantile(0.5)).abs() < 1e-9);
    assert!((normal_quantile(0.025) + 1.959_964).abs() < 1e-5);
}

#[test]
fn noiseless_linear_decay_is_followed_exactly() {
    let t = tracker(TrackerConfig::default());
    let mut state = None;
    for cycle in 1..=80u64 {
        let z = 100.0 - cycle as f64;
        let out = t.update(state, cycle, z);
        assert!(
            (out.rul - z).abs() < 1e-9,
            "cycle {cycle}: {} vs {z}",
            out.rul
        );
        state = Some(out.state);
    }
}

#[test]
fn tracked_estimate_is_steadier_than_noisy_measurements() {
    let t = tracker(TrackerConfig::default());
    let mut state = None;
    let (mut raw_jumps, mut tracked_jumps) = (0.0, 0.0);
    let mut last: Option<(f64, f64)> = None;
    for cycle in 1..=100u64 {
        // Deterministic "noise" of ±8 cycles around a true decay.
        let z = 110.0 - cycle as f64 + if cycle % 2 == 0 { 8.0 } else { -8.0 };
        let out = t.update(state, cycle, z);
        state = Some(out.state);
        if let Some((pz, pr)) = last {
            raw_jumps += (z - pz + 1.0).abs();
            tracked_jumps += (out.rul - pr + 1.0).abs();
        }
        last = Some((z, out.rul));
    }
    assert!(
        tracked_jumps < raw_jumps / 4.0,
        "{tracked_jumps} vs {raw_jumps}"
    );
}

#[test]
fn gaps_advance_the_prediction_by_the_missing_cycles() {
    let t = tracker(TrackerConfig::default());
    let first = t.update(None, 10, 60.0);
    let later = t.update(Some(first.state), 20, 50.0);
    assert!((later.rul - 50.0).abs() < 1e-9);
    assert_eq!(later.state.cycle, 20);
}

#[test]
fn saturated_estimates_do_not_pull_the_track_down_or_up_wrongly() {
    let t = tracker(TrackerConfig::default());
    let mut s = t.update(None, 1, 124.0).state;
    // While the model keeps saying "at the ceiling", the track stays there instead of decaying.
    for cycle in 2..=40 {
        s = t.update(Some(s), cycle, 124.0).state;
    }
    assert!(s.mean > 110.0 && s.mean <= 125.0, "{}", s.mean);
}

#[test]
fn intervals_are_the_model_interval_at_the_tracked_value_scaled() {
    let t = tracker(TrackerConfig {
        interval_scale: 2.0,
        ..TrackerConfig::default()
    });
    let mut s = t.update(None, 1, 80.0);
    for cycle in 2..=30 {
        s = t.update(Some(s.state), cycle, 81.0 - cycle as f64);
        assert!(s.lower <= s.rul && s.rul <= s.upper);
        // flat_calibration: ±16.45 around any estimate, doubled.
        assert!((s.upper - s.rul - 32.9).abs() < 1e-9, "{s:?}");
        assert!(
            (s.rul - s.lower - 32.9).abs() < 1e-9 || s.lower == 0.0,
            "{s:?}"
        );
    }
}

#[test]
fn one_outlier_moves_the_track_by_at_most_the_correction_limit() {
    let config = TrackerConfig {
        process_var: 3.0,
        measurement_scale: 1.0,
        saturation_margin: 0.0,
        knee: 0.0,
        max_correction: 3.0,
        ..TrackerConfig::default()
    };
    let t = tracker(config);
    let first = t.update(None, 1, 80.0);
    let jumped = t.update(Some(first.state), 2, 20.0);
    assert!((jumped.rul - (79.0 - 3.0)).abs() < 1e-9, "{}", jumped.rul);
    // A gap of 4 cycles allows 4 times the correction.
    let later = t.update(Some(jumped.state), 6, 200.0);
    assert!((later.rul - (72.0 + 12.0)).abs() < 1e-9, "{}", later.rul);
    let unlimited = tracker(TrackerConfig {
        max_correction: 0.0,
        ..config
    });
    assert!(unlimited.update(Some(first.state), 2, 20.0).rul < 60.0);
}

#[test]
fn debiased_measurements_use_the_middle_of_the_calibrated_interval() {
    let bin = serde_json::json!({"pred_min": 0.0, "pred_max": 125.0, "center": 60.0, "count": 1000,
        "q_lo": -10.0, "q_hi": 30.0, "confidence": 0.8});
    let calibration: Calibration = serde_json::from_value(serde_json::json!({"format_version": 1,
        "level": 0.9, "tolerance": 15.0, "truth_horizon": 200.0, "bins": [bin.clone()], "global": bin}))
    .unwrap();
    let config = TrackerConfig {
        debias: true,
        ..TrackerConfig::default()
    };
    let t = Tracker::new(config, calibration, 125.0);
    assert!((t.update(None, 1, 100.0).rul - 110.0).abs() < 1e-9);
}

#[test]
fn tracker_files_are_read_validated_and_optional() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        TrackerConfig::for_model_dir(dir.path()).unwrap(),
        TrackerConfig::default()
    );
    let chosen = TrackerConfig {
        process_var: 0.1,
        debias: true,
        ..TrackerConfig::default()
    };
    let path = dir.path().join(TRACKER_FILE);
    std::fs::write(&path, serde_json::to_string(&chosen).unwrap()).unwrap();
    assert_eq!(TrackerConfig::for_model_dir(dir.path()).unwrap(), chosen);
    std::fs::write(&path, r#"{"process_var": -1}"#).unwrap();
    let err = TrackerConfig::for_model_dir(dir.path()).unwrap_err();
    assert!(matches!(err, TrackerFileError::Invalid { .. }), "{err}");
    let negative = TrackerConfig {
        max_correction: -1.0,
        ..TrackerConfig::default()
    };
    std::fs::write(&path, serde_json::to_string(&negative).unwrap()).unwrap();
    assert!(TrackerConfig::for_model_dir(dir.path()).is_err());
}

#[test]
fn config_validation() {
    assert!(TrackerConfig::default().validate().is_ok());
    let bad = TrackerConfig {
        process_var: f64::NAN,
        ..TrackerConfig::default()
    };
    assert!(bad.validate().is_err());
}
