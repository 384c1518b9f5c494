//! The fast path against burn on small random networks, batch invariance and shape validation.

use burn::tensor::Device;

use super::*;
use crate::model::{ConvLayer, ConvLstmConfig, LstmConfig, ModelConfig};

fn networks(config: &ModelConfig, features: usize, members: usize, seed: u64) -> Vec<RulNet> {
    let device = Device::flex();
    device.seed(seed);
    (0..members)
        .map(|_| config.init(features, &device))
        .collect()
}

fn inputs(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

/// Max |fast - burn| over `count` random windows.
fn max_diff(
    config: &ModelConfig,
    window: usize,
    features: usize,
    members: usize,
    count: usize,
) -> f32 {
    let nets = networks(config, features, members, 7);
    let fast = FastModel::from_burn(&nets, window, features, 1.0).unwrap();
    let x = inputs(count * window * features, 11);
    let want = reference::predict_raw(&nets, &x, count, window, features, 1.0).unwrap();
    let got = fast.predict(&x, count);
    assert_eq!(got.len(), count);
    got.iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f32::max)
}

fn conv(channels: usize, kernel: usize, stride: usize) -> ConvLayer {
    ConvLayer {
        channels,
        kernel,
        stride,
    }
}

#[test]
fn conv_lstm_matches_burn() {
    let config = ModelConfig::ConvLstm(ConvLstmConfig {
        conv: vec![conv(8, 5, 1), conv(6, 3, 2)],
        lstm: vec![7],
        dense: vec![5],
        dropout: 0.2,
    });
    let d = max_diff(&config, 9, 4, 1, 37);
    assert!(d < 1e-5, "max diff {d}");
}

#[test]
fn pooling_with_a_window_shorter_than_the_kernel_matches_burn() {
    let config = ModelConfig::ConvLstm(ConvLstmConfig {
        conv: vec![conv(5, 7, 3)],
        lstm: vec![],
        dense: vec![],
        dropout: 0.0,
    });
    let d = max_diff(&config, 3, 2, 1, 5);
    assert!(d < 1e-5, "max diff {d}");
}

#[test]
fn stacked_lstm_ensemble_matches_burn() {
    let config = ModelConfig::Lstm(LstmConfig {
        lstm: vec![9, 6],
        dense: vec![4, 3],
        dropout: 0.2,
    });
    let d = max_diff(&config, 6, 3, 3, 70);
    assert!(d < 1e-5, "max diff {d}");
}

#[test]
fn a_window_gets_the_same_bits_alone_and_in_a_threaded_batch() {
    let config = ModelConfig::default();
    let (window, features) = (12, 5);
    let fast =
        FastModel::from_burn(&networks(&config, features, 2, 3), window, features, 125.0).unwrap();
    let count = 2 * PARALLEL_MIN + 3;
    let row = window * features;
    let x = inputs(count * row, 5);
    let batch = fast.predict(&x, count);
    for i in [0, 1, CHUNK, PARALLEL_MIN + 1, count - 1] {
        let alone = fast.predict(&x[i * row..(i + 1) * row], 1);
        assert_eq!(alone[0].to_bits(), batch[i].to_bits(), "window {i}");
    }
    assert!(fast.predict(&[], 0).is_empty());
}

#[test]
fn weights_that_do_not_fit_the_input_are_refused() {
    let nets = networks(&ModelConfig::Lstm(LstmConfig::default()), 4, 1, 1);
    let err = FastModel::from_burn(&nets, 10, 5, 1.0).unwrap_err();
    assert!(err.contains("w_ih") && err.contains("expected"), "{err}");
    assert!(FastModel::from_burn(&[], 10, 4, 1.0).is_err());
    assert!(FastModel::from_burn(&nets, 0, 4, 1.0).is_err());
}

#[test]
fn engine_names_parse_and_print() {
    assert_eq!("fast".parse::<InferenceEngine>(), Ok(InferenceEngine::Fast));
    assert_eq!(
        " Burn ".parse::<InferenceEngine>(),
        Ok(InferenceEngine::Burn)
    );
    assert!("onnx".parse::<InferenceEngine>().is_err());
    assert_eq!(InferenceEngine::default(), InferenceEngine::Fast);
    for e in InferenceEngine::ALL {
        assert_eq!(e.to_string().parse::<InferenceEngine>(), Ok(e));
    }
}
