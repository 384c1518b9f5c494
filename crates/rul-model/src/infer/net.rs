//! One network of the fast path: plain row-major `f32` weights and the forward pass over a
//! chunk of windows, with reusable scratch buffers.
//!
//! Shapes follow the burn modules in [`crate::model`]: convolutions (zero padding, ReLU), then
//! stacked LSTMs (gate order i, f, o, g; sequences between layers, the last step out) or, without
//! an LSTM, mean-and-last pooling, then dense ReLU layers and one linear output unit. Dropout is
//! the identity at inference. Inputs and convolutions are window-major (`[windows, time,
//! channels]`, the caller's layout); LSTM layers work time-major (`[time, windows, channels]`).

use super::kernels::{Isa, fill_rows, matmul_acc, matvec_panels, relu_in_place, sigmoid, tanh};

/// A 1-D convolution as an im2col product: `w` is `[kernel * c_in, c_out]` with row
/// `kk * c_in + c` holding burn's `weight[o][c][kk]` for every output channel `o`.
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    pub(crate) w: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    pub(crate) c_in: usize,
    pub(crate) c_out: usize,
    pub(crate) kernel: usize,
    pub(crate) stride: usize,
    pub(crate) pad_left: usize,
    pub(crate) pad_right: usize,
}

impl Conv {
    /// Output length for an input of `len` steps (0 when the padded input is shorter than the kernel).
    pub(crate) fn out_len(&self, len: usize) -> usize {
        (len + self.pad_left + self.pad_right)
            .checked_sub(self.kernel)
            .map_or(0, |v| v / self.stride + 1)
    }
}

/// An LSTM layer: `w_ih` `[d_in, 4h]`, `w_hh` `[h, 4h]`, `bias` `[4h]`, gates i, f, o, g.
/// `w_hh_panels` is `w_hh` packed for single-window steps (empty when `4h` is not a multiple of
/// the panel width).
#[derive(Debug, Clone)]
pub(crate) struct Lstm {
    pub(crate) w_ih: Vec<f32>,
    pub(crate) w_hh: Vec<f32>,
    pub(crate) w_hh_panels: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    pub(crate) d_in: usize,
    pub(crate) hidden: usize,
}

/// A dense layer `[d_in, d_out]` plus bias.
#[derive(Debug, Clone)]
pub(crate) struct Dense {
    pub(crate) w: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    pub(crate) d_in: usize,
    pub(crate) d_out: usize,
}

/// One network: convolutions (possibly none), LSTMs (possibly none: then pooling), dense head.
#[derive(Debug, Clone)]
pub(crate) struct Net {
    pub(crate) features: usize,
    pub(crate) conv: Vec<Conv>,
    pub(crate) lstm: Vec<Lstm>,
    pub(crate) hidden: Vec<Dense>,
    pub(crate) output: Dense,
}

/// Buffers reused across calls on one thread (grown on demand, never shrunk).
#[derive(Default, Debug)]
pub(crate) struct Scratch {
    seq_a: Vec<f32>,
    seq_b: Vec<f32>,
    col: Vec<f32>,
    gates: Vec<f32>,
    h: Vec<f32>,
    c: Vec<f32>,
    head_a: Vec<f32>,
    head_b: Vec<f32>,
}

/// Grows `buf` to at least `len` and returns its first `len` values (contents unspecified).
fn sized(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

impl Net {
    /// Forward pass of `n` windows of `window` steps (`x` is `[n, window, features]`), writing
    /// `n` raw outputs (target-scale units) to `y`; compiled for `isa`.
    pub(crate) fn forward(
        &self,
        isa: Isa,
        x: &[f32],
        n: usize,
        window: usize,
        scratch: &mut Scratch,
        y: &mut [f32],
    ) {
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect_isa` returned Avx512 only after probing avx512f, avx2 and fma.
            Isa::Avx512 => unsafe { self.forward_avx512(x, n, window, scratch, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect_isa` returned Avx2 only after probing avx2 and fma.
            Isa::Avx2 => unsafe { self.forward_avx2(x, n, window, scratch, y) },
            _ => self.forward_generic::<8>(x, n, window, scratch, y),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn forward_avx512(&self, x: &[f32], n: usize, window: usize, s: &mut Scratch, y: &mut [f32]) {
        self.forward_generic::<16>(x, n, window, s, y);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn forward_avx2(&self, x: &[f32], n: usize, window: usize, s: &mut Scratch, y: &mut [f32]) {
        self.forward_generic::<8>(x, n, window, s, y);
    }

    /// The forward pass itself, inlined into each instruction-set entry point (`LANES`: its f32
    /// vector width, which sizes the kernel's register tiles).
    #[inline(always)]
    fn forward_generic<const LANES: usize>(
        &self,
        x: &[f32],
        n: usize,
        window: usize,
        s: &mut Scratch,
        y: &mut [f32],
    ) {
        let y = &mut y[..n];
        // The current sequence `[n, len, width]`: the input, then ping-pong buffers.
        let mut len = window;
        let mut width = self.features;
        let mut in_a = false; // false: the sequence is `x`; true: it is in `seq_a`.
        let mut seq_a = std::mem::take(&mut s.seq_a);
        let mut seq_b = std::mem::take(&mut s.seq_b);
        for conv in &self.conv {
            let out_len = conv.out_len(len);
            let input: &[f32] = if in_a { &seq_a } else { x };
            conv_forward::<LANES>(conv, input, n, len, out_len, &mut s.col, &mut seq_b);
            std::mem::swap(&mut seq_a, &mut seq_b);
            in_a = true;
            len = out_len;
            width = conv.c_out;
        }
        if len == 0 {
            // burn's network answers 0 for an empty convolved sequence (the head is not run).
            y.fill(0.0);
        } else {
            let mut head_in = std::mem::take(&mut s.head_a);
            if self.lstm.is_empty() {
                let input: &[f32] = if in_a { &seq_a } else { x };
                pool_mean_last(input, n, len, width, sized(&mut head_in, n * 2 * width));
            } else {
                // The first layer reads window-major input; the layers pass time-major sequences.
                let last = self.lstm.len() - 1;
                for (i, layer) in self.lstm.iter().enumerate() {
                    let input: &[f32] = if in_a { &seq_a } else { x };
                    let seq_out = (i < last).then_some(&mut seq_b);
                    lstm_forward::<LANES>(layer, input, i > 0, n, len, s, seq_out);
                    if i < last {
                        std::mem::swap(&mut seq_a, &mut seq_b);
                        in_a = true;
                    }
                    width = layer.hidden;
                }
                sized(&mut head_in, n * width).copy_from_slice(&s.h[..n * width]);
            }
            let mut head_out = std::mem::take(&mut s.head_b);
            for layer in &self.hidden {
                dense_forward::<LANES>(layer, &head_in, n, sized(&mut head_out, n * layer.d_out));
                relu_in_place(&mut head_out[..n * layer.d_out]);
                std::mem::swap(&mut head_in, &mut head_out);
            }
            dense_forward::<LANES>(&self.output, &head_in, n, y);
            s.head_a = head_in;
            s.head_b = head_out;
        }
        s.seq_a = seq_a;
        s.seq_b = seq_b;
    }
}

/// Convolution + ReLU: `input` `[n, len, c_in]` to `out` `[n, out_len, c_out]` via im2col.
#[inline(always)]
fn conv_forward<const LANES: usize>(
    conv: &Conv,
    input: &[f32],
    n: usize,
    len: usize,
    out_len: usize,
    col: &mut Vec<f32>,
    out: &mut Vec<f32>,
) {
    let (c_in, k) = (conv.c_in, conv.kernel);
    let row = k * c_in;
    let col = sized(col, n * out_len * row);
    for b in 0..n {
        let window = &input[b * len * c_in..(b + 1) * len * c_in];
        for t in 0..out_len {
            let patch = &mut col[(b * out_len + t) * row..][..row];
            for kk in 0..k {
                let dst = &mut patch[kk * c_in..(kk + 1) * c_in];
                // Input step t*stride + kk - pad_left; outside the window it is zero padding.
                match (t * conv.stride + kk).checked_sub(conv.pad_left) {
                    Some(ti) if ti < len => {
                        dst.copy_from_slice(&window[ti * c_in..(ti + 1) * c_in]);
                    }
                    _ => dst.fill(0.0),
                }
            }
        }
    }
    let rows = n * out_len;
    let out = sized(out, rows * conv.c_out);
    fill_rows(out, &conv.bias, rows);
    matmul_acc::<LANES>(out, conv.c_out, col, row, rows, &conv.w, row, conv.c_out);
    relu_in_place(out);
}

/// Mean over time and the last step, concatenated: `[n, len, width]` to `[n, 2 * width]`.
#[inline(always)]
fn pool_mean_last(input: &[f32], n: usize, len: usize, width: usize, out: &mut [f32]) {
    let inv = 1.0 / len as f32;
    for b in 0..n {
        let seq = &input[b * len * width..(b + 1) * len * width];
        let (mean, last) = out[b * 2 * width..(b + 1) * 2 * width].split_at_mut(width);
        mean.fill(0.0);
        for step in seq.chunks_exact(width) {
            for (m, v) in mean.iter_mut().zip(step) {
                *m += v;
            }
        }
        for m in mean.iter_mut() {
            *m *= inv;
        }
        last.copy_from_slice(&seq[(len - 1) * width..]);
    }
}

/// One LSTM layer over `input`: `[len, n, d_in]` when `time_major`, else `[n, len, d_in]`.
/// The last hidden state is left in `s.h` (`[n, hidden]`); every step's hidden state goes to
/// `seq_out` (time-major `[len, n, hidden]`) if given.
///
/// Gates are kept time-major (`[len, n, 4h]`) so that each step updates one contiguous block;
/// the input projections of every step of every window are one product before the loop.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn lstm_forward<const LANES: usize>(
    layer: &Lstm,
    input: &[f32],
    time_major: bool,
    n: usize,
    len: usize,
    s: &mut Scratch,
    seq_out: Option<&mut Vec<f32>>,
) {
    let (d, hs) = (layer.d_in, layer.hidden);
    let g4 = 4 * hs;
    let input: &[f32] = if time_major || n == 1 {
        input
    } else {
        // [n, len, d] -> [len, n, d] (one window's layout is the same either way).
        let t_major = sized(&mut s.col, len * n * d);
        for b in 0..n {
            for t in 0..len {
                t_major[(t * n + b) * d..][..d].copy_from_slice(&input[(b * len + t) * d..][..d]);
            }
        }
        t_major
    };
    let gates = sized(&mut s.gates, len * n * g4);
    fill_rows(gates, &layer.bias, len * n);
    matmul_acc::<LANES>(gates, g4, input, d, len * n, &layer.w_ih, d, g4);
    let h = sized(&mut s.h, n * hs);
    let c = sized(&mut s.c, n * hs);
    let mut seq = seq_out.map(|v| sized(v, len * n * hs));
    for t in 0..len {
        let step = &mut gates[t * n * g4..(t + 1) * n * g4];
        if t > 0 {
            if n == 1 && !layer.w_hh_panels.is_empty() {
                // One window: a vector-matrix product per step, bound by reading the matrix.
                matvec_panels(step, h, &layer.w_hh_panels, hs, g4, t % 2 == 1);
            } else {
                matmul_acc::<LANES>(step, g4, h, hs, n, &layer.w_hh, hs, g4);
            }
        }
        for (b, g) in step.chunks_exact_mut(g4).enumerate() {
            let h_b = &mut h[b * hs..(b + 1) * hs];
            lstm_cell(g, &mut c[b * hs..(b + 1) * hs], h_b, hs, t == 0);
        }
        if let Some(seq) = seq.as_deref_mut() {
            seq[t * n * hs..(t + 1) * n * hs].copy_from_slice(h);
        }
    }
}

/// Gate nonlinearities and the state update of one window at one step (`first`: no previous
/// state, as burn's layer starts without one).
#[inline(always)]
fn lstm_cell(g: &mut [f32], c: &mut [f32], h: &mut [f32], hs: usize, first: bool) {
    let (ifo, cand) = g.split_at_mut(3 * hs);
    for v in ifo.iter_mut() {
        *v = sigmoid(*v);
    }
    for v in cand.iter_mut() {
        *v = tanh(*v);
    }
    let (i, fo) = ifo.split_at(hs);
    let (f, o) = fo.split_at(hs);
    let (i, f, o, cand) = (&i[..hs], &f[..hs], &o[..hs], &cand[..hs]);
    let (c, h) = (&mut c[..hs], &mut h[..hs]);
    if first {
        for j in 0..hs {
            c[j] = i[j] * cand[j];
        }
    } else {
        for j in 0..hs {
            c[j] = f[j].mul_add(c[j], i[j] * cand[j]);
        }
    }
    for j in 0..hs {
        h[j] = o[j] * tanh(c[j]);
    }
}

/// `out` `[n, d_out]` = `input` `[n, d_in]` x `w` + bias.
#[inline(always)]
fn dense_forward<const LANES: usize>(layer: &Dense, input: &[f32], n: usize, out: &mut [f32]) {
    fill_rows(out, &layer.bias, n);
    matmul_acc::<LANES>(
        out,
        layer.d_out,
        input,
        layer.d_in,
        n,
        &layer.w,
        layer.d_in,
        layer.d_out,
    );
}
