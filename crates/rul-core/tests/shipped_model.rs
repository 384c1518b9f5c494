//! The serving path and the evaluation path agree: the Predictor over the shipped FD001 model
//! answers, for each real test engine's history, exactly what `rul evaluate` computed for it.

use rul_core::{PredictRequest, Predictor, PredictorConfig};
use rul_data::{Reading, Subset, load_subset, resolve_data_dir, sensor_index};
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictor_matches_evaluation_on_real_test_engines() {
    let dir = resolve_data_dir(None);
    if !dir.join("test_FD001.txt.gz").exists() && !dir.join("test_FD001.txt").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no data at {}",
            dir.display()
        );
        eprintln!(
            "skipping: no C-MAPSS data at {} (set CMAPSS_DIR)",
            dir.display()
        );
        return;
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/fd001");
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
        let readings = engine
            .cycles
            .iter()
            .map(|c| Reading {
                sensors: sensors
                    .iter()
                    .map(|s| {
                        (
                            s.clone().into(),
                            c.sensors[sensor_index(s).expect("sensor")],
                        )
                    })
                    .collect(),
                settings: Some(c.settings),
            })
            .collect();
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
