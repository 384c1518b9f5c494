//! The fast forward path against burn, the reference: every test window of FD001–FD004 through
//! the shipped models (data from `CMAPSS_DIR`; outside CI a missing data folder skips with a
//! reason), and random networks of every architecture, window and batch size.

use burn::tensor::Device;
use proptest::prelude::*;
use rul_data::{Subset, load_subset, test_labels};
use rul_model::infer::reference::predict_raw;
use rul_model::model::{ConvLayer, ConvLstmConfig, LstmConfig, ModelConfig, RulNet};
use rul_model::{Artifact, FastModel, InferenceEngine};

/// Largest |fast - burn| allowed on a shipped model, in cycles.
const MAX_DIFF_CYCLES: f32 = 0.01;

#[test]
fn shipped_models_agree_with_burn_on_every_test_window() {
    let Some(data_dir) = rul_testkit::cmapss_dir() else {
        return;
    };
    for subset in Subset::all() {
        let dir = rul_testkit::models_dir().join(subset.name().to_lowercase());
        let artifact = Artifact::load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert_eq!(
            artifact.engine(),
            InferenceEngine::Fast,
            "fast is the default"
        );
        let data = load_subset(&data_dir, subset).expect("load test set");
        let labels: Vec<Vec<f64>> = data
            .test
            .iter()
            .zip(&data.test_rul)
            .map(|(e, &r)| test_labels(e, r))
            .collect();
        let windows = artifact.preprocessor().windows(&data.test, &labels);
        let fast = artifact
            .predict_with(InferenceEngine::Fast, &windows.inputs, windows.count)
            .expect("fast");
        let burn = artifact
            .predict_with(InferenceEngine::Burn, &windows.inputs, windows.count)
            .expect("burn");
        assert_eq!(fast.len(), windows.count);
        assert_eq!(burn.len(), windows.count);
        let (worst, at) = fast
            .iter()
            .zip(&burn)
            .enumerate()
            .map(|(i, (f, b))| ((f - b).abs(), i))
            .fold((0.0f32, 0), |a, b| if b.0 > a.0 { b } else { a });
        eprintln!(
            "{subset}: {} windows, max |fast - burn| = {worst:.2e} cycles (window {at})",
            windows.count
        );
        assert!(
            worst <= MAX_DIFF_CYCLES,
            "{subset}: window {at}: fast {} vs burn {}",
            fast[at],
            burn[at]
        );
    }
}

/// Batch sizes around the fast path's chunk and thread-split boundaries.
const BATCHES: [usize; 5] = [1, 2, 255, 256, 257];

fn conv_layers() -> impl Strategy<Value = Vec<ConvLayer>> {
    prop::collection::vec(
        (1usize..10, 1usize..8, 1usize..4).prop_map(|(channels, kernel, stride)| ConvLayer {
            channels,
            kernel,
            stride,
        }),
        1..=2,
    )
}

fn dense_layers() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..9, 0..=2)
}

fn lstm_config() -> impl Strategy<Value = ModelConfig> {
    (prop::collection::vec(1usize..13, 1..=2), dense_layers()).prop_map(|(lstm, dense)| {
        ModelConfig::Lstm(LstmConfig {
            lstm,
            dense,
            dropout: 0.2,
        })
    })
}

fn conv_lstm_config() -> impl Strategy<Value = ModelConfig> {
    (
        conv_layers(),
        prop::collection::vec(1usize..13, 0..=1),
        dense_layers(),
    )
        .prop_map(|(conv, lstm, dense)| {
            ModelConfig::ConvLstm(ConvLstmConfig {
                conv,
                lstm,
                dense,
                dropout: 0.2,
            })
        })
}

/// One random case: networks, window (often shorter than the kernels), features, batch, inputs.
fn check(
    config: &ModelConfig,
    members: usize,
    window: usize,
    features: usize,
    batch: usize,
    seed: u64,
) -> Result<(), TestCaseError> {
    let device = Device::flex();
    device.seed(seed);
    let nets: Vec<RulNet> = (0..members)
        .map(|_| config.init(features, &device))
        .collect();
    let scale = 125.0;
    let fast = FastModel::from_burn(&nets, window, features, scale)
        .map_err(|e| TestCaseError::fail(format!("conversion: {e}")))?;
    let mut state = seed | 1;
    let x: Vec<f32> = (0..batch * window * features)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 3.0 - 1.5
        })
        .collect();
    let want = predict_raw(&nets, &x, batch, window, features, scale)
        .map_err(|e| TestCaseError::fail(format!("burn: {e}")))?;
    let got = fast.predict(&x, batch);
    prop_assert_eq!(got.len(), batch);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        // Float noise only: 1e-5 of the target scale, relative for larger outputs.
        let tol = 1e-5 * w.abs().max(scale as f32);
        prop_assert!(
            (g - w).abs() <= tol,
            "window {}: fast {} burn {} ({:?}, window {}, features {})",
            i,
            g,
            w,
            config,
            window,
            features
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_lstm_networks_agree_with_burn(
        config in lstm_config(),
        window in 1usize..12,
        features in 1usize..6,
        batch in prop::sample::select(BATCHES.to_vec()),
        seed in any::<u64>(),
    ) {
        check(&config, 1, window, features, batch, seed)?;
    }

    #[test]
    fn random_conv_lstm_networks_agree_with_burn(
        config in conv_lstm_config(),
        window in 1usize..12,
        features in 1usize..6,
        batch in prop::sample::select(BATCHES.to_vec()),
        seed in any::<u64>(),
    ) {
        check(&config, 1, window, features, batch, seed)?;
    }

    #[test]
    fn random_ensembles_agree_with_burn(
        config in prop_oneof![lstm_config(), conv_lstm_config()],
        members in 2usize..4,
        window in 1usize..12,
        features in 1usize..6,
        batch in prop::sample::select(BATCHES.to_vec()),
        seed in any::<u64>(),
    ) {
        check(&config, members, window, features, batch, seed)?;
    }
}
