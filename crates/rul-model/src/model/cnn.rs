//! The fast architecture: a 1-D convolution stack that shortens the sequence, an optional small
//! LSTM over the convolved steps (or mean+last pooling without one) and a dense head.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Dropout, DropoutConfig, Initializer, PaddingConfig1d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::layers::{DenseHead, FusedLstm};

/// One convolution layer: output channels, kernel length, stride ("same"-style padding).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConvLayer {
    /// Output channels.
    pub channels: usize,
    /// Kernel length in time steps.
    pub kernel: usize,
    /// Stride (2 halves the sequence).
    #[serde(default = "one")]
    pub stride: usize,
}

fn one() -> usize {
    1
}

/// Sizes of the convolutional network.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConvLstmConfig {
    /// Convolution stack, input side first.
    pub conv: Vec<ConvLayer>,
    /// LSTM layers over the convolved sequence (may be empty: then mean and last step pooled).
    pub lstm: Vec<usize>,
    /// Hidden dense layers before the output unit.
    pub dense: Vec<usize>,
    /// Dropout probability after the recurrent/pooling stage and each dense layer.
    pub dropout: f64,
}

impl Default for ConvLstmConfig {
    fn default() -> Self {
        Self {
            conv: vec![
                ConvLayer {
                    channels: 64,
                    kernel: 5,
                    stride: 1,
                },
                ConvLayer {
                    channels: 64,
                    kernel: 3,
                    stride: 2,
                },
            ],
            lstm: vec![64],
            dense: vec![32],
            dropout: 0.2,
        }
    }
}

impl ConvLstmConfig {
    /// Sequence length after the convolution stack for an input window.
    pub fn out_len(&self, window: usize) -> usize {
        self.conv
            .iter()
            .fold(window, |len, c| len.div_ceil(c.stride.max(1)))
    }
}

/// Convolutions, then an LSTM or pooling, then the dense head.
#[derive(Module, Debug)]
pub struct ConvLstmNet {
    /// Convolution layers.
    pub conv: Vec<Conv1d>,
    /// Recurrent layers (possibly none).
    pub lstm: Vec<FusedLstm>,
    /// Dropout after the recurrent/pooling stage.
    pub dropout: Dropout,
    /// Dense head.
    pub head: DenseHead,
}

impl ConvLstmNet {
    /// Builds the network for `n_features` inputs per step.
    pub fn new(config: &ConvLstmConfig, n_features: usize, device: &Device) -> Self {
        let mut d = n_features;
        let mut conv = Vec::with_capacity(config.conv.len());
        for c in &config.conv {
            let pad = c.kernel / 2;
            let layer = Conv1dConfig::new(d, c.channels, c.kernel)
                .with_stride(c.stride.max(1))
                .with_padding(PaddingConfig1d::Explicit(pad, c.kernel - 1 - pad))
                .with_initializer(Initializer::KaimingUniform {
                    gain: 1.0,
                    fan_out_only: false,
                })
                .init(device);
            conv.push(layer);
            d = c.channels;
        }
        let mut lstm = Vec::with_capacity(config.lstm.len());
        for &h in &config.lstm {
            lstm.push(FusedLstm::new(d, h, device));
            d = h;
        }
        let pooled = if config.lstm.is_empty() { 2 * d } else { d };
        Self {
            conv,
            lstm,
            dropout: DropoutConfig::new(config.dropout).init(),
            head: DenseHead::new(pooled, &config.dense, config.dropout, device),
        }
    }

    /// `[batch, window, features] -> [batch]` (RUL divided by the target scale).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<1> {
        let [batch, _, _] = x.dims();
        let device = x.device();
        // [batch, channels, time] for the convolutions.
        let mut h = x.swap_dims(1, 2);
        for layer in &self.conv {
            h = relu(layer.forward(h));
        }
        let [_, channels, len] = h.dims();
        if len == 0 {
            return Tensor::zeros([batch], &device);
        }
        let pooled = if self.lstm.is_empty() {
            let mean = h.clone().mean_dim(2).reshape([batch, channels]);
            let last = h.narrow(2, len - 1, 1).reshape([batch, channels]);
            Tensor::cat(vec![mean, last], 1)
        } else {
            // One [batch, channels] tensor per convolved step.
            let mut steps: Vec<Tensor<2>> = (0..len)
                .map(|t| h.clone().narrow(2, t, 1).reshape([batch, channels]))
                .collect();
            let n = self.lstm.len();
            for (k, layer) in self.lstm.iter().enumerate() {
                steps = layer.forward(&steps, k + 1 != n);
            }
            match steps.pop() {
                Some(s) => s,
                None => return Tensor::zeros([batch], &device),
            }
        };
        self.head.forward(self.dropout.forward(pooled))
    }
}
