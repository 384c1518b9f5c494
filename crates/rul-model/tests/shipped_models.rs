//! The committed artifacts under `models/` reproduce the metrics in their own cards on the real
//! official test sets and their held-out run-to-failure engines (data from `CMAPSS_DIR`; outside
//! CI a missing data folder skips with a reason).

use rul_data::{Subset, load_subset};
use rul_model::{Artifact, InferenceEngine, evaluate_subset};

/// Re-evaluates one shipped model and compares with the figures recorded in its metrics.json.
/// burn, the engine the cards were written with, must reproduce them to 1e-4; the fast path
/// (the default) to float noise: 1e-4, or 1e-6 relative for large values (the PHM08 score of
/// FD002 is ~10,000 and sums exponentials of 259 errors).
fn reproduce(subset: Subset, engine: InferenceEngine) -> rul_model::EvalReport {
    let dir = rul_testkit::models_dir().join(subset.name().to_lowercase());
    let artifact = Artifact::load(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .with_engine(engine);
    assert_eq!(artifact.card().subset, subset);
    let data_dir = rul_testkit::cmapss_dir().expect("data present");
    let data = load_subset(&data_dir, subset).expect("load test set");
    let (report, _) = evaluate_subset(&artifact, &data).expect("evaluate");
    let recorded = &artifact.metrics()["summary"];
    let summary = report.summary();
    for key in [
        "test_rmse",
        "test_mae",
        "test_score",
        "test_rmse_capped",
        "interval_coverage",
        "interval_mean_width",
        "test_ece",
        "test_ece_all_cycles",
        "heldout_alpha_lambda_50",
        "heldout_ph_stable_mean",
        "heldout_cra_mean",
        "heldout_validation_ece",
        "heldout_policy_lower_t",
    ] {
        let (want, got) = (recorded[key].as_f64(), summary[key].as_f64());
        let (Some(want), Some(got)) = (want, got) else {
            panic!("{subset}: {key} missing (card {want:?}, recomputed {got:?})");
        };
        let tolerance = match engine {
            InferenceEngine::Burn => 1e-4,
            InferenceEngine::Fast => (1e-6 * want.abs()).max(1e-4),
        };
        assert!(
            (want - got).abs() <= tolerance,
            "{subset} {key} ({engine}): card {want}, recomputed {got}"
        );
    }
    report
}

#[test]
fn shipped_models_reproduce_their_cards() {
    if rul_testkit::cmapss_dir().is_none() {
        return;
    }
    for subset in Subset::all() {
        reproduce(subset, InferenceEngine::Burn);
        let report = reproduce(subset, InferenceEngine::Fast);
        let cov = report.intervals.coverage;
        eprintln!(
            "{subset}: RMSE {:.3} score {:.1} coverage {:.3}",
            report.last_cycle.raw.rmse, report.last_cycle.raw.score, cov
        );
    }
}

/// A regression guard on the default model (raw truth, last cycle). The training issue's targets
/// (RMSE <= 13.5, score <= 300) are not yet met by the shipped model; these bounds are what it
/// does reach, so a worse model cannot be shipped silently.
#[test]
fn default_model_does_not_regress() {
    if rul_testkit::cmapss_dir().is_none() {
        return;
    }
    let report = reproduce(Subset::FD001, InferenceEngine::Fast);
    assert!(
        report.last_cycle.raw.rmse <= 16.0,
        "FD001 RMSE {}",
        report.last_cycle.raw.rmse
    );
    assert!(
        report.last_cycle.raw.score <= 400.0,
        "FD001 score {}",
        report.last_cycle.raw.score
    );
    let cov = report.intervals.coverage;
    assert!(
        (0.85..=0.95).contains(&cov),
        "FD001 90% interval coverage {cov}"
    );
}
