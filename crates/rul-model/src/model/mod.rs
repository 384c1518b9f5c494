//! Model definitions: the architecture enum, its configuration and the shared forward contract
//! (`[batch, window, features]` in, RUL divided by `target_scale` out).

pub mod cnn;
pub mod layers;
pub mod lstm;

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

pub use cnn::{ConvLayer, ConvLstmConfig, ConvLstmNet};
pub use lstm::{LstmConfig, LstmNet};

/// Which architecture to build, with its sizes (TOML/JSON: `kind = "lstm"` or `"conv_lstm"`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelConfig {
    /// The plan's stacked LSTM.
    Lstm(LstmConfig),
    /// Convolution front-end + small LSTM (or pooling): faster on the CPU.
    ConvLstm(ConvLstmConfig),
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::ConvLstm(ConvLstmConfig::default())
    }
}

impl ModelConfig {
    /// Short architecture name for logs and the model card.
    pub fn name(&self) -> &'static str {
        match self {
            ModelConfig::Lstm(_) => "lstm",
            ModelConfig::ConvLstm(_) => "conv_lstm",
        }
    }

    /// Checks sizes and probabilities so that building the network cannot panic.
    pub fn validate(&self) -> Result<(), String> {
        let check_dropout = |p: f64| {
            if p.is_finite() && (0.0..1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("dropout must be in [0, 1), got {p}"))
            }
        };
        let check_sizes = |what: &str, sizes: &[usize]| {
            if sizes.iter().any(|&s| s == 0 || s > 4096) {
                Err(format!("{what} sizes must be in 1..=4096, got {sizes:?}"))
            } else {
                Ok(())
            }
        };
        match self {
            ModelConfig::Lstm(c) => {
                check_dropout(c.dropout)?;
                if c.lstm.is_empty() {
                    return Err("lstm model needs at least one LSTM layer".into());
                }
                check_sizes("lstm", &c.lstm)?;
                check_sizes("dense", &c.dense)
            }
            ModelConfig::ConvLstm(c) => {
                check_dropout(c.dropout)?;
                if c.conv.is_empty() {
                    return Err("conv_lstm model needs at least one conv layer".into());
                }
                for l in &c.conv {
                    if l.channels == 0 || l.channels > 4096 || l.kernel == 0 || l.kernel > 64 {
                        return Err(format!(
                            "conv layer needs channels in 1..=4096 and kernel in 1..=64, got {l:?}"
                        ));
                    }
                    if l.stride == 0 || l.stride > 8 {
                        return Err(format!("conv stride must be in 1..=8, got {}", l.stride));
                    }
                }
                check_sizes("lstm", &c.lstm)?;
                check_sizes("dense", &c.dense)
            }
        }
    }

    /// Builds freshly initialised weights on `device` (seed the device first for determinism).
    pub fn init(&self, n_features: usize, device: &Device) -> RulNet {
        match self {
            ModelConfig::Lstm(c) => RulNet::Lstm(LstmNet::new(c, n_features, device)),
            ModelConfig::ConvLstm(c) => RulNet::ConvLstm(ConvLstmNet::new(c, n_features, device)),
        }
    }
}

/// A RUL network of any configured architecture.
#[derive(Module, Debug)]
pub enum RulNet {
    /// Stacked LSTM.
    Lstm(LstmNet),
    /// Convolutions + LSTM/pooling.
    ConvLstm(ConvLstmNet),
}

impl RulNet {
    /// `[batch, window, features] -> [batch]`, in units of the target scale.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<1> {
        match self {
            RulNet::Lstm(m) => m.forward(x),
            RulNet::ConvLstm(m) => m.forward(x),
        }
    }
}

/// Splits `[batch, window, features]` into one `[batch, features]` tensor per time step.
pub fn time_steps(x: Tensor<3>) -> Vec<Tensor<2>> {
    let [batch, window, features] = x.dims();
    let x = x.swap_dims(0, 1);
    (0..window)
        .map(|t| x.clone().narrow(0, t, 1).reshape([batch, features]))
        .collect()
}

/// Builds a `[count, window, features]` tensor from row-major host data.
pub fn input_tensor(
    data: Vec<f32>,
    count: usize,
    window: usize,
    features: usize,
    device: &Device,
) -> Tensor<3> {
    Tensor::from_data(TensorData::new(data, [count, window, features]), device)
}
