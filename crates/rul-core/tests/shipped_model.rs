//! The serving path and the evaluation path agree: the Predictor over the shipped FD001 model
//! answers, for each real test engine's history, exactly what `rul evaluate` computed for it.

use rul_core::{PredictRequest, Predictor, PredictorConfig};
use rul_data::{Subset, load_subset};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictor_matches_evaluation_on_real_test_engines() {
    let Some(dir) = rul_testkit::cmapss_dir() else {
        return;
    };
    let model = rul_testkit::models_dir().join("fd001");
    let artifact = rul_model::Artifact::load(&model).expect("shipped model");
    let data = load_subset(&dir, Subset::FD001).expect("data");
    let report = rul_model::evaluate(&artifact, Subset::FD001, &data.test, &data.test_rul)
        .expect("evaluate");

    let predictor = Predictor::start(PredictorConfig {
        model_path: model,
        ..PredictorConfig::default()
    });
    predictor.wait_ready().await.expect("ready");
    let sensors = artifact.preprocessor().config().sensors.clone();
    for (engine, expected) in data.test.iter().zip(&report.predictions).take(20) {
        assert_eq!(engine.unit, expected.unit);
        let readings = engine.cycles.iter().map(|c| c.reading(&sensors)).collect();
        let answer = predictor
            .predict(PredictRequest {
                engine_id: format!("test-{}", engine.unit),
                readings,
            })
            .await
            .expect("prediction");
        assert!(
            (answer.rul - expected.pred).abs() < 1e-4,
            "unit {}: served {} vs evaluated {}",
            engine.unit,
            answer.rul,
            expected.pred
        );
        assert!(
            (answer.lower - expected.lower).abs() < 1e-4
                && (answer.upper - expected.upper).abs() < 1e-4
        );
        assert!((answer.confidence - expected.confidence).abs() < 1e-6);
    }
    predictor.shutdown().await;
}
