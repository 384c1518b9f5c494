use super::*;
use rul_data::{Preprocessor, PreprocessorConfig, profile::positional};

fn profile() -> (InputProfile, Vec<CycleReading>) {
    let engines = rul_data::synthetic::fleet(20, 11);
    let pre = Preprocessor::fit(PreprocessorConfig::default(), &engines).unwrap();
    let profile = InputProfile::fit(&pre, &engines, "synthetic").unwrap();
    let readings = engines[3]
        .cycles
        .iter()
        .map(|c| CycleReading {
            cycle: u64::from(c.cycle),
            values: positional(c),
        })
        .collect();
    (profile, readings)
}

/// Flags of reading `at` of `readings` after `edit` changed it, with everything before it as history.
fn flags_at(
    p: &InputProfile,
    readings: &[CycleReading],
    at: usize,
    edit: impl Fn(&mut CycleReading),
) -> Vec<(String, FlagKind)> {
    let history: VecDeque<CycleReading> = readings[..at].iter().copied().collect();
    let mut current = readings[at];
    edit(&mut current);
    assess(p, &QualityPolicy::default(), &history, &current)
        .flags
        .into_iter()
        .map(|f| (f.sensor, f.kind))
        .collect()
}

const S11: usize = 10;

#[test]
fn a_training_engine_raises_no_flag() {
    let (p, readings) = profile();
    for at in 0..readings.len() {
        assert!(flags_at(&p, &readings, at, |_| {}).is_empty(), "cycle {at}");
    }
}

#[test]
fn a_value_beyond_the_training_range_is_out_of_range() {
    let (p, readings) = profile();
    let s = p.stats[0][p.sensors.iter().position(|s| s == "s11").unwrap()];
    let flags = flags_at(&p, &readings, 0, |r| {
        r.values[S11] = s.max + (s.max - s.min)
    });
    assert_eq!(flags, vec![("s11".to_string(), FlagKind::OutOfRange)]);
}

#[test]
fn a_step_of_many_sigmas_between_cycles_is_a_jump() {
    let (p, readings) = profile();
    let s = p.stats[0][p.sensors.iter().position(|s| s == "s11").unwrap()];
    // Within the widened range, but 7 sigma above the previous cycle.
    let flags = flags_at(&p, &readings, 5, |r| {
        r.values[S11] = readings[4].values[S11] + 7.0 * s.std
    });
    assert!(
        flags.contains(&("s11".to_string(), FlagKind::Jump)),
        "{flags:?}"
    );
    // The same step after a gap in cycles is not judged.
    let mut gapped = readings.clone();
    gapped[5].cycle += 3;
    let flags = flags_at(&p, &gapped, 5, |r| {
        r.values[S11] = readings[4].values[S11] + 7.0 * s.std
    });
    assert!(
        !flags.contains(&("s11".to_string(), FlagKind::Jump)),
        "{flags:?}"
    );
}

#[test]
fn a_value_repeated_longer_than_training_is_stuck() {
    let (p, mut readings) = profile();
    let limit = QualityPolicy::default()
        .stuck_cycles
        .max(p.longest_run[p.sensors.iter().position(|s| s == "s11").unwrap()] + 1);
    let held = readings[0].values[S11];
    for r in readings.iter_mut().take(limit) {
        r.values[S11] = held;
    }
    let before = flags_at(&p, &readings, limit - 2, |_| {});
    assert!(
        !before.contains(&("s11".to_string(), FlagKind::Stuck)),
        "{before:?}"
    );
    let at = flags_at(&p, &readings, limit - 1, |_| {});
    assert!(at.contains(&("s11".to_string(), FlagKind::Stuck)), "{at:?}");
}

#[test]
fn stored_form_round_trips_and_clean_is_null() {
    assert_eq!(Quality::default().to_json(), None);
    let q = Quality {
        flags: vec![QualityFlag {
            sensor: "s2".into(),
            kind: FlagKind::Stuck,
        }],
    };
    let text = q.to_json().unwrap();
    assert!(text.contains("\"stuck\""), "{text}");
    assert_eq!(Quality::from_json(Some(&text)), q);
    assert_eq!(Quality::from_json(Some("garbage")), Quality::default());
    assert!(QualityPolicy::default().validate().is_ok());
    let bad = QualityPolicy {
        stuck_cycles: 1,
        ..Default::default()
    };
    assert!(bad.validate().is_err());
}
