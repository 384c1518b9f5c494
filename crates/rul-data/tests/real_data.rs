//! Checks against the real C-MAPSS files (`CMAPSS_DIR`). Outside CI they skip with a reason when
//! the data is absent; in CI (`CI` set) a missing data folder fails.

use rul_data::*;
use std::collections::HashSet;

/// (subset, train engines, train rows, test engines, test rows, conditions) from the data README.
const EXPECTED: [(Subset, usize, usize, usize, usize, usize); 4] = [
    (Subset::FD001, 100, 20631, 100, 13096, 1),
    (Subset::FD002, 260, 53759, 259, 33991, 6),
    (Subset::FD003, 100, 24720, 100, 16596, 1),
    (Subset::FD004, 249, 61249, 248, 41214, 6),
];

fn rows(engines: &[Engine]) -> usize {
    engines.iter().map(|e| e.cycles.len()).sum()
}

#[test]
fn counts_match_the_readme() {
    let Some(dir) = rul_testkit::cmapss_dir() else {
        return;
    };
    for (subset, tr_e, tr_r, te_e, te_r, _) in EXPECTED {
        let d = load_subset(&dir, subset).unwrap();
        assert_eq!(d.train.len(), tr_e, "{subset} train engines");
        assert_eq!(rows(&d.train), tr_r, "{subset} train rows");
        assert_eq!(d.test.len(), te_e, "{subset} test engines");
        assert_eq!(rows(&d.test), te_r, "{subset} test rows");
        assert_eq!(d.test_rul.len(), te_e, "{subset} RUL file length");
        assert_eq!(d.files.len(), 3);
    }
}

#[test]
fn hand_checked_labels() {
    let Some(dir) = rul_testkit::cmapss_dir() else {
        return;
    };
    let d = load_subset(&dir, Subset::FD001).unwrap();
    // FD001 train unit 1 runs 192 cycles: RUL 191 at cycle 1, capped to 125, and 0 at the end.
    let u1 = &d.train[0];
    assert_eq!((u1.unit, u1.cycles.len()), (1, 192));
    let l = train_labels(u1, 125.0);
    assert_eq!((l[0], l[66], l[67], l[191]), (125.0, 125.0, 124.0, 0.0));
    assert_eq!(train_labels(u1, 1e9)[0], 191.0);
    // FD001 test unit 1 has 31 cycles and true RUL 112 after its last one.
    let t1 = &d.test[0];
    assert_eq!(t1.cycles.len(), 31);
    assert_eq!(d.test_rul[0], 112.0);
    let tl = test_labels(t1, d.test_rul[0]);
    assert_eq!((tl[0], tl[30]), (142.0, 112.0));
    assert_eq!(&d.test_rul[..3], &[112.0, 98.0, 69.0]);
}

#[test]
fn six_conditions_in_fd002_and_fd004_and_one_in_fd001_fd003() {
    let Some(dir) = rul_testkit::cmapss_dir() else {
        return;
    };
    for (subset, _, _, _, _, conditions) in EXPECTED {
        let d = load_subset(&dir, subset).unwrap();
        let config = PreprocessorConfig {
            per_condition: true,
            ..PreprocessorConfig::for_subset(subset)
        };
        let p = Preprocessor::fit(config, &d.train).unwrap();
        assert_eq!(p.conditions().len(), conditions, "{subset}");
        // Every train and test row lands within the radius of a condition, the same one each time.
        for c in d.train.iter().chain(&d.test).flat_map(|e| &e.cycles) {
            let a = p.conditions().assign(&c.settings);
            assert!(a.known, "{subset} unit {} cycle {}", c.unit, c.cycle);
            assert_eq!(p.conditions().assign(&c.settings), a);
        }
    }
}

#[test]
fn engine_split_never_leaks() {
    let Some(dir) = rul_testkit::cmapss_dir() else {
        return;
    };
    let d = load_subset(&dir, Subset::FD001).unwrap();
    let (train, val) = split_engines(&d.train, 0.2, 42);
    assert_eq!((train.len(), val.len()), (80, 20));
    let p = Preprocessor::fit(PreprocessorConfig::default(), &train).unwrap();
    let labels = |es: &[Engine]| {
        es.iter()
            .map(|e| train_labels(e, 125.0))
            .collect::<Vec<_>>()
    };
    let tw = p.windows(&train, &labels(&train));
    let vw = p.windows(&val, &labels(&val));
    let a: HashSet<u32> = tw.engine_of.iter().copied().collect();
    let b: HashSet<u32> = vw.engine_of.iter().copied().collect();
    assert!(a.is_disjoint(&b));
    assert_eq!(a.len() + b.len(), 100);
}

#[test]
fn window_counts_and_shapes() {
    let Some(dir) = rul_testkit::cmapss_dir() else {
        return;
    };
    let d = load_subset(&dir, Subset::FD001).unwrap();
    let p = Preprocessor::fit(PreprocessorConfig::default(), &d.train).unwrap();
    let labels: Vec<_> = d.train.iter().map(|e| train_labels(e, 125.0)).collect();
    let w = p.windows(&d.train, &labels);
    // 20631 rows − 29 per engine (every FD001 train engine is longer than 30 cycles).
    assert_eq!(w.count, 20631 - 100 * 29);
    assert_eq!(w.padded, 0);
    assert_eq!(w.inputs.len(), w.count * 30 * 14);
    let test_labels: Vec<_> = d
        .test
        .iter()
        .zip(&d.test_rul)
        .map(|(e, r)| test_labels(e, *r))
        .collect();
    let last = p.last_windows(&d.test, &test_labels);
    assert_eq!(last.count, 100);
    assert_eq!(last.padded, 0, "shortest FD001 test series is 31 cycles");
    // FD004 with window 30 would pad: its shortest test series is 19 cycles.
    let d4 = load_subset(&dir, Subset::FD004).unwrap();
    let min_len = d4.test.iter().map(|e| e.cycles.len()).min().unwrap();
    assert_eq!(min_len, 19);
}

#[test]
fn preprocessor_round_trip_is_bit_identical_on_real_data() {
    let Some(dir) = rul_testkit::cmapss_dir() else {
        return;
    };
    let d = load_subset(&dir, Subset::FD002).unwrap();
    let p = Preprocessor::fit(PreprocessorConfig::for_subset(Subset::FD002), &d.train).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("preprocessor.json");
    p.save(&path).unwrap();
    let back = Preprocessor::load(&path).unwrap();
    let labels: Vec<_> = d
        .test
        .iter()
        .zip(&d.test_rul)
        .map(|(e, r)| test_labels(e, *r))
        .collect();
    let a = p.windows(&d.test, &labels);
    let b = back.windows(&d.test, &labels);
    let bits = |w: &Windows| w.inputs.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a), bits(&b));
}
