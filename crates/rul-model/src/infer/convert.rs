//! Builds fast-path networks from loaded burn modules, checking every shape on the way: a weight
//! whose shape does not chain with its neighbours is a load-time error naming the tensor, never a
//! panic or an out-of-bounds read at prediction time.

use burn::module::Param;
use burn::nn::conv::Conv1d;
use burn::nn::{Linear, PaddingConfig1d};
use burn::tensor::Tensor;

use super::kernels::pack_panels;
use super::net::{Conv, Dense, Lstm, Net};
use crate::model::layers::{DenseHead, FusedLstm};
use crate::model::{ConvLstmNet, LstmNet, RulNet};

/// The values and shape of a parameter, as row-major `f32`.
fn read<const D: usize>(
    what: &str,
    p: &Param<Tensor<D>>,
) -> Result<(Vec<f32>, [usize; D]), String> {
    let t = p.val();
    let dims = t.dims();
    let values = t
        .try_into_vec_as::<f32>()
        .map_err(|e| format!("{what}: cannot read values: {e:?}"))?;
    if values.len() != dims.iter().product::<usize>() {
        return Err(format!(
            "{what}: {} values for shape {dims:?}",
            values.len()
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!("{what}: value {i} is not finite"));
    }
    Ok((values, dims))
}

/// Converts one network; `features` is the input width per step from model.json.
pub(crate) fn convert(net: &RulNet, features: usize) -> Result<Net, String> {
    match net {
        RulNet::Lstm(m) => convert_lstm_net(m, features),
        RulNet::ConvLstm(m) => convert_conv_net(m, features),
    }
}

fn convert_lstm_net(m: &LstmNet, features: usize) -> Result<Net, String> {
    let mut width = features;
    let lstm = lstm_stack(&m.lstm, &mut width, "lstm")?;
    if lstm.is_empty() {
        return Err("lstm network without an LSTM layer".into());
    }
    let (hidden, output) = head(&m.head, width)?;
    Ok(Net {
        features,
        conv: Vec::new(),
        lstm,
        hidden,
        output,
    })
}

fn convert_conv_net(m: &ConvLstmNet, features: usize) -> Result<Net, String> {
    let mut width = features;
    let mut conv = Vec::with_capacity(m.conv.len());
    for (i, layer) in m.conv.iter().enumerate() {
        let c = conv_layer(layer, width, &format!("conv.{i}"))?;
        width = c.c_out;
        conv.push(c);
    }
    let lstm = lstm_stack(&m.lstm, &mut width, "lstm")?;
    if lstm.is_empty() {
        width *= 2; // mean and last step pooled
    }
    let (hidden, output) = head(&m.head, width)?;
    Ok(Net {
        features,
        conv,
        lstm,
        hidden,
        output,
    })
}

fn conv_layer(layer: &Conv1d, c_in: usize, what: &str) -> Result<Conv, String> {
    let (weight, [c_out, w_in, kernel]) = read(&format!("{what}.weight"), &layer.weight)?;
    if w_in != c_in || c_out == 0 || kernel == 0 || kernel != layer.kernel_size {
        return Err(format!(
            "{what}.weight has shape [{c_out}, {w_in}, {kernel}], expected [_, {c_in}, {}]",
            layer.kernel_size
        ));
    }
    if layer.groups != 1 || layer.dilation != 1 || layer.stride == 0 {
        return Err(format!(
            "{what}: groups {}, dilation {}, stride {} (the fast path supports groups 1, dilation 1, stride >= 1)",
            layer.groups, layer.dilation, layer.stride
        ));
    }
    let (pad_left, pad_right) = match layer.padding {
        PaddingConfig1d::Explicit(l, r) => (l, r),
        PaddingConfig1d::Valid => (0, 0),
        PaddingConfig1d::Same => return Err(format!("{what}: 'same' padding is not supported")),
    };
    let bias = match &layer.bias {
        Some(b) => {
            let (bias, [len]) = read(&format!("{what}.bias"), b)?;
            if len != c_out {
                return Err(format!("{what}.bias has {len} values, expected {c_out}"));
            }
            bias
        }
        None => vec![0.0; c_out],
    };
    // burn: weight[o][c][kk]; here row kk * c_in + c, column o.
    let rows = kernel * c_in;
    let mut w = vec![0.0f32; rows * c_out];
    for o in 0..c_out {
        for c in 0..c_in {
            for kk in 0..kernel {
                w[(kk * c_in + c) * c_out + o] = weight[(o * c_in + c) * kernel + kk];
            }
        }
    }
    Ok(Conv {
        w,
        bias,
        c_in,
        c_out,
        kernel,
        stride: layer.stride,
        pad_left,
        pad_right,
    })
}

fn lstm_stack(layers: &[FusedLstm], width: &mut usize, what: &str) -> Result<Vec<Lstm>, String> {
    let mut out = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let l = lstm_layer(layer, *width, &format!("{what}.{i}"))?;
        *width = l.hidden;
        out.push(l);
    }
    Ok(out)
}

fn lstm_layer(layer: &FusedLstm, d_in: usize, what: &str) -> Result<Lstm, String> {
    let hidden = layer.hidden;
    let g4 = hidden.checked_mul(4).filter(|&g| g > 0);
    let Some(g4) = g4 else {
        return Err(format!("{what}: hidden size {hidden} out of range"));
    };
    let (w_ih, ih_dims) = read(&format!("{what}.w_ih"), &layer.w_ih)?;
    let (w_hh, hh_dims) = read(&format!("{what}.w_hh"), &layer.w_hh)?;
    let (bias, b_dims) = read(&format!("{what}.bias"), &layer.bias)?;
    if ih_dims != [d_in, g4] || hh_dims != [hidden, g4] || b_dims != [g4] {
        return Err(format!(
            "{what}: w_ih {ih_dims:?}, w_hh {hh_dims:?}, bias {b_dims:?}; expected [{d_in}, {g4}], [{hidden}, {g4}], [{g4}]"
        ));
    }
    Ok(Lstm {
        w_ih,
        w_hh_panels: pack_panels(&w_hh, hidden, 4 * hidden),
        w_hh,
        bias,
        d_in,
        hidden,
    })
}

fn dense(layer: &Linear, d_in: usize, what: &str) -> Result<Dense, String> {
    let (w, [w_in, d_out]) = read(&format!("{what}.weight"), &layer.weight)?;
    if w_in != d_in || d_out == 0 {
        return Err(format!(
            "{what}.weight has shape [{w_in}, {d_out}], expected [{d_in}, _]"
        ));
    }
    let bias = match &layer.bias {
        Some(b) => {
            let (bias, [len]) = read(&format!("{what}.bias"), b)?;
            if len != d_out {
                return Err(format!("{what}.bias has {len} values, expected {d_out}"));
            }
            bias
        }
        None => vec![0.0; d_out],
    };
    Ok(Dense {
        w,
        bias,
        d_in,
        d_out,
    })
}

fn head(h: &DenseHead, mut width: usize) -> Result<(Vec<Dense>, Dense), String> {
    let mut hidden = Vec::with_capacity(h.layers.len());
    for (i, layer) in h.layers.iter().enumerate() {
        let d = dense(layer, width, &format!("head.layers.{i}"))?;
        width = d.d_out;
        hidden.push(d);
    }
    let output = dense(&h.output, width, "head.output")?;
    if output.d_out != 1 {
        return Err(format!(
            "head.output has {} outputs, expected 1",
            output.d_out
        ));
    }
    Ok((hidden, output))
}
