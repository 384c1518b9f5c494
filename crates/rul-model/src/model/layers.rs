//! Building blocks shared by the architectures: a fused LSTM layer and a dense head.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::tensor::activation::{relu, sigmoid, tanh};
use burn::tensor::{Device, Tensor};

/// An LSTM layer with the four gates fused into one matrix per input, stepping over a sequence
/// given as one `[batch, features]` tensor per time step (no per-step slicing of a tracked
/// tensor, which is what makes burn's own LSTM slow to differentiate on the CPU).
#[derive(Module, Debug)]
pub struct FusedLstm {
    /// Input-to-gates weights `[d_input, 4 * hidden]`, gate order i, f, o, g.
    pub w_ih: Param<Tensor<2>>,
    /// Hidden-to-gates weights `[hidden, 4 * hidden]`.
    pub w_hh: Param<Tensor<2>>,
    /// Gate biases `[4 * hidden]` (forget gate initialised to 1).
    pub bias: Param<Tensor<1>>,
    /// Hidden size.
    pub hidden: usize,
}

impl FusedLstm {
    /// Creates a layer with Glorot-uniform input weights, orthogonal recurrent weights and a
    /// unit forget-gate bias (the Keras defaults the plan's architecture was specified with).
    pub fn new(d_input: usize, hidden: usize, device: &Device) -> Self {
        let four = 4 * hidden;
        let w_ih = Initializer::XavierUniform { gain: 1.0 }.init_with(
            [d_input, four],
            Some(d_input),
            Some(four),
            device,
        );
        let w_hh = Initializer::Orthogonal { gain: 1.0 }.init([hidden, four], device);
        let mut b = vec![0.0f32; four];
        for v in b.iter_mut().skip(hidden).take(hidden) {
            *v = 1.0;
        }
        let bias = Param::from_data(burn::tensor::TensorData::new(b, [four]), device);
        Self {
            w_ih,
            w_hh,
            bias,
            hidden,
        }
    }

    /// Runs the layer over `steps` (each `[batch, d_input]`); returns every hidden state when
    /// `all` is true, otherwise only the last one.
    pub fn forward(&self, steps: &[Tensor<2>], all: bool) -> Vec<Tensor<2>> {
        let h_size = self.hidden;
        let w_ih = self.w_ih.val();
        let w_hh = self.w_hh.val();
        let bias = self.bias.val().unsqueeze_dim::<2>(0);
        let mut out = Vec::with_capacity(if all { steps.len() } else { 1 });
        let mut state: Option<(Tensor<2>, Tensor<2>)> = None;
        for x in steps {
            let mut gates = x.clone().matmul(w_ih.clone()) + bias.clone();
            if let Some((h, _)) = &state {
                gates = gates + h.clone().matmul(w_hh.clone());
            }
            let ifo = sigmoid(gates.clone().narrow(1, 0, 3 * h_size));
            let g = tanh(gates.narrow(1, 3 * h_size, h_size));
            let i = ifo.clone().narrow(1, 0, h_size);
            let o = ifo.clone().narrow(1, 2 * h_size, h_size);
            let c = match state {
                Some((_, c)) => ifo.narrow(1, h_size, h_size) * c + i * g,
                None => i * g,
            };
            let h = o * tanh(c.clone());
            if all {
                out.push(h.clone());
            }
            state = Some((h, c));
        }
        if !all && let Some((h, _)) = state {
            out.push(h);
        }
        out
    }
}

/// Dense ReLU layers with dropout, then one linear output unit.
#[derive(Module, Debug)]
pub struct DenseHead {
    /// Hidden dense layers.
    pub layers: Vec<Linear>,
    /// Output layer (one unit).
    pub output: Linear,
    /// Dropout after each hidden layer.
    pub dropout: Dropout,
}

impl DenseHead {
    /// Creates the head: `d_input -> sizes... -> 1`.
    pub fn new(d_input: usize, sizes: &[usize], dropout: f64, device: &Device) -> Self {
        let mut layers = Vec::with_capacity(sizes.len());
        let mut d = d_input;
        for &s in sizes {
            layers.push(glorot_linear(d, s, device));
            d = s;
        }
        Self {
            layers,
            output: glorot_linear(d, 1, device),
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// `[batch, d_input] -> [batch]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        let mut x = x;
        for layer in &self.layers {
            x = self.dropout.forward(relu(layer.forward(x)));
        }
        let y = self.output.forward(x);
        let [b, _] = y.dims();
        y.reshape([b])
    }
}

/// A linear layer with Glorot-uniform weights and zero bias (Keras' Dense default).
pub fn glorot_linear(d_in: usize, d_out: usize, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_in, d_out)
        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
        .init(device);
    linear.bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
    linear
}
