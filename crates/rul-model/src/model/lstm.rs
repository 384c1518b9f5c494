//! The plan's architecture: stacked LSTMs (sequences between them, last step out) and a dense head.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::layers::{DenseHead, FusedLstm};
use super::time_steps;

/// Sizes of the stacked-LSTM network (default: LSTM 64 -> LSTM 64 -> dense 32 -> 1, dropout 0.2).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LstmConfig {
    /// Hidden size of each LSTM layer, input side first.
    pub lstm: Vec<usize>,
    /// Hidden dense layers (ReLU) before the output unit.
    pub dense: Vec<usize>,
    /// Dropout probability after every LSTM and dense layer.
    pub dropout: f64,
}

impl Default for LstmConfig {
    fn default() -> Self {
        Self {
            lstm: vec![64, 64],
            dense: vec![32],
            dropout: 0.2,
        }
    }
}

/// Stacked fused LSTMs feeding a dense head.
#[derive(Module, Debug)]
pub struct LstmNet {
    /// Recurrent layers.
    pub lstm: Vec<FusedLstm>,
    /// Dropout between layers.
    pub dropout: Dropout,
    /// Dense head.
    pub head: DenseHead,
}

impl LstmNet {
    /// Builds the network for `n_features` inputs per step.
    pub fn new(config: &LstmConfig, n_features: usize, device: &Device) -> Self {
        let mut d = n_features;
        let mut lstm = Vec::with_capacity(config.lstm.len());
        for &h in &config.lstm {
            lstm.push(FusedLstm::new(d, h, device));
            d = h;
        }
        Self {
            lstm,
            dropout: DropoutConfig::new(config.dropout).init(),
            head: DenseHead::new(d, &config.dense, config.dropout, device),
        }
    }

    /// `[batch, window, features] -> [batch]` (RUL divided by the target scale).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<1> {
        let [batch, _, _] = x.dims();
        let device = x.device();
        let mut steps = time_steps(x);
        let n = self.lstm.len();
        for (k, layer) in self.lstm.iter().enumerate() {
            let last = k + 1 == n;
            steps = layer
                .forward(&steps, !last)
                .into_iter()
                .map(|h| self.dropout.forward(h))
                .collect();
        }
        match steps.pop() {
            Some(h) => self.head.forward(h),
            // Only for an empty window, which configuration validation refuses.
            None => Tensor::zeros([batch], &device),
        }
    }
}
