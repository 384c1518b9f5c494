//! Inference, apart from training: the engine selector, the fast forward path and the burn
//! reference it is verified against.
//!
//! [`FastModel`] is built from the loaded burn modules when an artifact loads (the artifact
//! format does not change) and runs the same arithmetic in plain Rust: the input projections of
//! every time step in one product, fused gate nonlinearities per step, `f32` throughout, buffers
//! reused across calls on each thread, denormals flushed, the instruction set (AVX-512, AVX2+FMA
//! or baseline) picked at run time. Results agree with burn to float noise (the tests hold every
//! C-MAPSS test window to 0.01 cycles) and are *batch-invariant*: a window gets the same bits
//! alone or inside any batch. Large batches are split across the machine's cores; small ones run
//! on the calling thread (no thread hop for a single request).

mod avx2;
mod convert;
mod kernels;
mod net;
pub mod reference;

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::RulNet;
use kernels::{FlushDenormals, TILE_ROWS, detect_isa};
use net::{Net, Scratch};

/// Windows per pass through the network: bounds the scratch memory (the gate buffer of the
/// plan's LSTM is 32 x 50 x 256 floats, 1.6 MB) so that it stays in cache.
const CHUNK: usize = 32;
/// Batches at least this large are split across threads when more than one core is available.
const PARALLEL_MIN: usize = 32;

/// Which forward pass serves predictions.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum InferenceEngine {
    /// The plain-Rust fast path (default).
    #[default]
    Fast,
    /// burn's forward pass (the reference the fast path is verified against).
    Burn,
}

impl InferenceEngine {
    /// Both engines, fast first.
    pub const ALL: [InferenceEngine; 2] = [InferenceEngine::Fast, InferenceEngine::Burn];

    /// `"fast"` or `"burn"`.
    pub fn name(self) -> &'static str {
        match self {
            InferenceEngine::Fast => "fast",
            InferenceEngine::Burn => "burn",
        }
    }
}

impl fmt::Display for InferenceEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for InferenceEngine {
    type Err = String;

    /// Accepts `fast` or `burn` (any case, surrounding spaces ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fast" => Ok(InferenceEngine::Fast),
            "burn" => Ok(InferenceEngine::Burn),
            other => Err(format!(
                "unknown inference engine {other:?} (expected \"fast\" or \"burn\")"
            )),
        }
    }
}

impl fmt::Debug for FastModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The weights would drown any log line: sizes only.
        f.debug_struct("FastModel")
            .field("networks", &self.members.len())
            .field("window", &self.window)
            .field("features", &self.features)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// Per-thread buffers of the fast path (the model thread keeps its own across requests).
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The fast forward path of one artifact: one network, or the members of an ensemble whose
/// outputs are averaged, then scaled to cycles.
#[derive(Clone)]
pub struct FastModel {
    members: Vec<Net>,
    window: usize,
    features: usize,
    target_scale: f64,
}

impl FastModel {
    /// Copies the weights of loaded burn networks into the fast layout, validating every shape.
    /// The error describes the first tensor that does not fit.
    pub fn from_burn(
        networks: &[RulNet],
        window: usize,
        features: usize,
        target_scale: f64,
    ) -> Result<FastModel, String> {
        if networks.is_empty() {
            return Err("no network to convert".into());
        }
        if window == 0 || features == 0 {
            return Err(format!("empty input shape {window} x {features}"));
        }
        let members = networks
            .iter()
            .enumerate()
            .map(|(i, n)| convert::convert(n, features).map_err(|e| format!("network {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FastModel {
            members,
            window,
            features,
            target_scale,
        })
    }

    /// Window length the model expects.
    pub fn window(&self) -> usize {
        self.window
    }

    /// Features per step.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Predicts `count` windows laid out `[count, window, features]`; returns RUL in cycles
    /// (unclamped), computed like [`reference::predict_raw`]: one network's output times the
    /// target scale, or the f64 mean of the members' outputs times the target scale.
    ///
    /// # Panics
    /// If `inputs.len() != count * window * features` (callers validate input first, as
    /// [`crate::Artifact::predict`] does).
    pub fn predict(&self, inputs: &[f32], count: usize) -> Vec<f32> {
        let row = self.window * self.features;
        assert_eq!(
            inputs.len(),
            count * row,
            "FastModel::predict: {} values for {count} windows of {row}",
            inputs.len()
        );
        let mut out = vec![0.0f32; count];
        let threads = if count >= PARALLEL_MIN {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            1
        };
        if threads < 2 {
            self.predict_on_this_thread(inputs, &mut out);
            return out;
        }
        // Contiguous shares in whole register tiles; the calling thread takes the first.
        let per = count.div_ceil(threads).div_ceil(TILE_ROWS) * TILE_ROWS;
        std::thread::scope(|scope| {
            let mut shares = inputs.chunks(per * row).zip(out.chunks_mut(per));
            let first = shares.next();
            let handles: Vec<_> = shares
                .map(|(x, y)| scope.spawn(move || self.predict_on_this_thread(x, y)))
                .collect();
            if let Some((x, y)) = first {
                self.predict_on_this_thread(x, y);
            }
            for handle in handles {
                if let Err(panic) = handle.join() {
                    std::panic::resume_unwind(panic);
                }
            }
        });
        out
    }

    /// The serial path: chunks of [`CHUNK`] windows, denormals flushed, this thread's buffers.
    fn predict_on_this_thread(&self, inputs: &[f32], out: &mut [f32]) {
        let _flush = FlushDenormals::new();
        let isa = detect_isa();
        let row = self.window * self.features;
        SCRATCH.with(|cell| {
            // A re-entrant call (none exists) would get fresh buffers instead of a panic.
            let mut guard = cell.try_borrow_mut();
            let mut fresh = Scratch::default();
            let scratch = match guard.as_deref_mut() {
                Ok(s) => s,
                Err(_) => &mut fresh,
            };
            let mut raw = [0.0f32; CHUNK];
            let mut sum = [0.0f64; CHUNK];
            for (x, y) in inputs.chunks(CHUNK * row).zip(out.chunks_mut(CHUNK)) {
                let n = y.len();
                if let [net] = self.members.as_slice() {
                    net.forward(isa, x, n, self.window, scratch, y);
                    let scale = self.target_scale as f32;
                    y.iter_mut().for_each(|v| *v *= scale);
                } else {
                    sum[..n].fill(0.0);
                    for net in &self.members {
                        net.forward(isa, x, n, self.window, scratch, &mut raw[..n]);
                        for (s, v) in sum.iter_mut().zip(&raw[..n]) {
                            *s += f64::from(*v);
                        }
                    }
                    let mean_scale = self.target_scale / self.members.len() as f64;
                    for (v, s) in y.iter_mut().zip(&sum) {
                        *v = (s * mean_scale) as f32;
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests;
