//! The numeric pieces of the fast path: one accumulating matrix-multiply kernel, the gate
//! activations, CPU feature dispatch and a denormal-flushing guard.
//!
//! Every function here is `#[inline(always)]` so that it is compiled once per instruction set
//! inside the dispatching entry points of [`super::net`] (AVX-512, AVX2+FMA, baseline); the
//! plain loops are written so that LLVM vectorises them with whatever the entry point enables.
//! On AVX2 the two hot shapes (6 x 16 product tiles, 64-column panels) run the hand-written
//! kernels of [`super::avx2`] instead, with the same arithmetic.
//!
//! **Batch invariance.** Each output element of [`matmul_acc`] is one chain of fused
//! multiply-adds in `k` order, whatever the number of rows and however rows and columns are
//! blocked. A window's result therefore does not depend on the batch it travels in, nor on the
//! vector width chosen at run time (`f32::mul_add` rounds once on every path), which callers rely
//! on: a request answered alone and the same request answered inside a batch agree bit for bit.

use super::avx2;

/// Rows of a register tile for multi-row products (reuses each weight load this many times; with
/// 16-column tiles, 6 rows keep 12 independent accumulator chains in the 16 AVX2 registers).
pub(crate) const TILE_ROWS: usize = 6;

/// `out[r * os + j] += Σ_k a[r * a_s + k] * w[k * n + j]` for `r < rows`, `j < n`.
///
/// `LANES` is the f32 vector width of the instruction set the caller is compiled for (16 for
/// AVX-512, 8 otherwise): it sizes the register tiles so that enough independent accumulator
/// chains keep both FMA units busy, without changing any element's arithmetic.
/// `w` is row-major `[k, n]`; `a` and `out` are row-strided (strides `a_s` and `os`), so a caller
/// can update every time step's rows of a `[batch, time, n]` buffer in place. Initialise `out`
/// (bias, input projection) before calling: the kernel only accumulates.
///
/// # Panics
/// If a slice is shorter than the shapes say (an internal invariant, never file-controlled:
/// shapes are validated when the network is built).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_acc<const LANES: usize>(
    out: &mut [f32],
    os: usize,
    a: &[f32],
    a_s: usize,
    rows: usize,
    w: &[f32],
    k: usize,
    n: usize,
) {
    if rows == 0 || n == 0 {
        return;
    }
    assert!(
        out.len() >= (rows - 1) * os + n && a.len() >= (rows - 1) * a_s + k && w.len() >= k * n,
        "matmul_acc: buffers shorter than {rows}x{k} * {k}x{n}"
    );
    if rows < TILE_ROWS {
        for r in 0..rows {
            single_row::<LANES>(out, os, a, a_s, r, w, k, n);
        }
        return;
    }
    // Column tiles outside, row blocks inside: a tile's weights (k x C floats) stay in L1
    // while every row passes over them. Where the CPU has AVX2 (the 8- and 16-lane entry
    // points), full 6 x 16 tiles run the hand-written kernel: on a Zen 4 core it does 52
    // FMA/ns against 29 for LLVM's AVX-512 code of the generic 32-column tiles.
    let use_avx2 = LANES >= 8 && avx2::available();
    let mut j = 0;
    if LANES >= 16 && !use_avx2 {
        while j + 32 <= n {
            column_tile::<32>(out, os, a, a_s, rows, w, k, n, j, false);
            j += 32;
        }
    }
    while j + 16 <= n {
        column_tile::<16>(out, os, a, a_s, rows, w, k, n, j, use_avx2);
        j += 16;
    }
    while j + 8 <= n {
        column_tile::<8>(out, os, a, a_s, rows, w, k, n, j, false);
        j += 8;
    }
    while j < n {
        column_tile::<1>(out, os, a, a_s, rows, w, k, n, j, false);
        j += 1;
    }
}

/// Columns `j0..j0 + C` of every row: blocks of [`TILE_ROWS`] rows, then single rows.
/// `use_avx2`: the CPU has AVX2 + FMA and `C` is 16, so full blocks use [`avx2::tile_6x16`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn column_tile<const C: usize>(
    out: &mut [f32],
    os: usize,
    a: &[f32],
    a_s: usize,
    rows: usize,
    w: &[f32],
    k: usize,
    n: usize,
    j0: usize,
    use_avx2: bool,
) {
    let mut r = 0;
    while r + TILE_ROWS <= rows {
        #[cfg(target_arch = "x86_64")]
        if use_avx2 && C == avx2::COLS && TILE_ROWS == avx2::ROWS {
            // SAFETY: `use_avx2` is only true after `avx2::available()` confirmed AVX2 and FMA.
            unsafe { avx2::tile_6x16(out, os, a, a_s, r, w, k, n, j0) };
            r += TILE_ROWS;
            continue;
        }
        tile::<TILE_ROWS, C>(out, os, a, a_s, r, w, k, n, j0);
        r += TILE_ROWS;
    }
    while r < rows {
        tile::<1, C>(out, os, a, a_s, r, w, k, n, j0);
        r += 1;
    }
}

/// Every column of one row (a vector-matrix product). Without rows to reuse a weight load, wide
/// tiles give enough independent accumulator chains, and the widest streams `w` sequentially.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn single_row<const LANES: usize>(
    out: &mut [f32],
    os: usize,
    a: &[f32],
    a_s: usize,
    r: usize,
    w: &[f32],
    k: usize,
    n: usize,
) {
    let mut j = 0;
    if LANES >= 16 {
        while j + 256 <= n {
            tile::<1, 256>(out, os, a, a_s, r, w, k, n, j);
            j += 256;
        }
        while j + 128 <= n {
            tile::<1, 128>(out, os, a, a_s, r, w, k, n, j);
            j += 128;
        }
    }
    while j + 64 <= n {
        tile::<1, 64>(out, os, a, a_s, r, w, k, n, j);
        j += 64;
    }
    while j + 16 <= n {
        tile::<1, 16>(out, os, a, a_s, r, w, k, n, j);
        j += 16;
    }
    while j + 8 <= n {
        tile::<1, 8>(out, os, a, a_s, r, w, k, n, j);
        j += 8;
    }
    while j < n {
        tile::<1, 1>(out, os, a, a_s, r, w, k, n, j);
        j += 1;
    }
}

/// One `R x C` register tile: load the accumulators, run the `k` loop, store them back.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const R: usize, const C: usize>(
    out: &mut [f32],
    os: usize,
    a: &[f32],
    a_s: usize,
    r0: usize,
    w: &[f32],
    k: usize,
    n: usize,
    j0: usize,
) {
    let mut acc = [[0.0f32; C]; R];
    for (r, acc_r) in acc.iter_mut().enumerate() {
        acc_r.copy_from_slice(&out[(r0 + r) * os + j0..][..C]);
    }
    let a_rows: [&[f32]; R] = std::array::from_fn(|r| &a[(r0 + r) * a_s..][..k]);
    for kk in 0..k {
        let w_row: &[f32] = &w[kk * n + j0..][..C];
        for r in 0..R {
            let x = a_rows[r][kk];
            for c in 0..C {
                acc[r][c] = x.mul_add(w_row[c], acc[r][c]);
            }
        }
    }
    for (r, acc_r) in acc.iter().enumerate() {
        out[(r0 + r) * os + j0..][..C].copy_from_slice(acc_r);
    }
}

/// Columns per panel of a weight matrix packed by [`pack_panels`] (8 AVX2 accumulators).
pub(crate) const PANEL: usize = 64;
const _: () = assert!(
    PANEL == avx2::PANEL_WIDTH,
    "the AVX2 panel kernel is 64 wide"
);

/// Copies row-major `w` `[k, n]` into column panels `[n / PANEL][k][PANEL]`, so that a
/// vector-matrix product reads each panel as one sequential stream. Empty when `n` is not a
/// multiple of [`PANEL`] (callers then use [`matmul_acc`]).
pub(crate) fn pack_panels(w: &[f32], k: usize, n: usize) -> Vec<f32> {
    if n == 0 || !n.is_multiple_of(PANEL) || w.len() != k * n {
        return Vec::new();
    }
    let mut packed = Vec::with_capacity(k * n);
    for p in 0..n / PANEL {
        for row in w.chunks_exact(n) {
            packed.extend_from_slice(&row[p * PANEL..(p + 1) * PANEL]);
        }
    }
    packed
}

/// `out[j] += Σ_k a[k] * panels[k][j]` for one row over a matrix packed by [`pack_panels`],
/// visiting the panels last to first when `reverse`.
///
/// Each element is the same chain of fused multiply-adds in `k` order as in [`matmul_acc`], so
/// the bits are the same. A recurrent matrix is read once per time step and (64 x 256 floats)
/// does not fit L1: alternating the direction from one step to the next starts each step on the
/// panels the previous one ended with, which are still in L1 (measured: a 64-64 LSTM window of 50
/// steps 101 -> 89 us on a Zen 4 core).
///
/// # Panics
/// If the slices are shorter than the shapes say (an internal invariant, as in [`matmul_acc`]).
#[inline(always)]
pub(crate) fn matvec_panels(
    out: &mut [f32],
    a: &[f32],
    panels: &[f32],
    k: usize,
    n: usize,
    reverse: bool,
) {
    let count = n / PANEL;
    assert!(
        n.is_multiple_of(PANEL) && out.len() >= n && a.len() >= k && panels.len() >= k * n,
        "matvec_panels: buffers shorter than 1x{k} * {k}x{n}"
    );
    let a = &a[..k];
    let use_avx2 = avx2::available();
    for q in 0..count {
        let p = if reverse { count - 1 - q } else { q };
        let panel = &panels[p * k * PANEL..(p + 1) * k * PANEL];
        let dst = &mut out[p * PANEL..(p + 1) * PANEL];
        #[cfg(target_arch = "x86_64")]
        if use_avx2 {
            // SAFETY: `avx2::available()` confirmed AVX2 and FMA.
            unsafe { avx2::panel_64(dst, a, panel, k) };
            continue;
        }
        let mut acc = [0.0f32; PANEL];
        acc.copy_from_slice(dst);
        for (x, w_row) in a.iter().zip(panel.chunks_exact(PANEL)) {
            for c in 0..PANEL {
                acc[c] = x.mul_add(w_row[c], acc[c]);
            }
        }
        dst.copy_from_slice(&acc);
    }
}

/// Fills `rows` rows of width `bias.len()` (row stride = width) with the bias.
#[inline(always)]
pub(crate) fn fill_rows(out: &mut [f32], bias: &[f32], rows: usize) {
    for row in out.chunks_exact_mut(bias.len().max(1)).take(rows) {
        row.copy_from_slice(bias);
    }
}

/// Largest |x| for which the rational tanh is evaluated; beyond it tanh rounds to ±1 in f32.
const TANH_CLAMP: f32 = 7.905_311;

/// tanh as a 13/6 rational function (the coefficients of Eigen's `generic_fast_tanh_float`):
/// within a few f32 ulps of the true value, no branches, so a loop of it vectorises.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    const A1: f32 = 4.893_524_5e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525e-3;
    const B2: f32 = 2.268_434_6e-3;
    const B4: f32 = 1.185_347_1e-4;
    const B6: f32 = 1.198_258_4e-6;
    // clamp, not max/min (which would turn NaN into a bound): NaN stays NaN.
    let x = x.clamp(-TANH_CLAMP, TANH_CLAMP);
    let x2 = x * x;
    let mut p = x2.mul_add(A13, A11);
    p = x2.mul_add(p, A9);
    p = x2.mul_add(p, A7);
    p = x2.mul_add(p, A5);
    p = x2.mul_add(p, A3);
    p = x2.mul_add(p, A1);
    let p = x * p;
    let mut q = x2.mul_add(B6, B4);
    q = x2.mul_add(q, B2);
    q = x2.mul_add(q, B0);
    p / q
}

/// The logistic function through tanh: `σ(x) = ½ + ½·tanh(x/2)` (absolute error ~1e-7).
#[inline(always)]
pub(crate) fn sigmoid(x: f32) -> f32 {
    0.5f32.mul_add(tanh(0.5 * x), 0.5)
}

/// `v = max(v, 0)` over a slice.
#[inline(always)]
pub(crate) fn relu_in_place(values: &mut [f32]) {
    for v in values {
        *v = v.max(0.0);
    }
}

/// The instruction set the fast path runs with, chosen once per call from the running CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    /// x86-64 with AVX-512F (and AVX2 + FMA).
    Avx512,
    /// x86-64 with AVX2 and FMA.
    Avx2,
    /// Anything else: the same code, compiled for the target's baseline.
    Baseline,
}

/// The best [`Isa`] this CPU supports (the standard library caches the CPUID probe).
pub(crate) fn detect_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let fma = std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx2");
        if fma && std::is_x86_feature_detected!("avx512f") {
            return Isa::Avx512;
        }
        if fma {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// Sets flush-to-zero and denormals-are-zero on the current thread while alive and restores the
/// previous mode on drop. Recurrent states can decay into subnormal floats, which x86 handles in
/// microcode about a hundred times slower; values that small (< 1.2e-38) change no prediction.
pub(crate) struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
    /// The mode belongs to one thread: keep the guard on it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl FlushDenormals {
    /// MXCSR bits: FTZ (bit 15) and DAZ (bit 6).
    #[cfg(target_arch = "x86_64")]
    const FTZ_DAZ: u32 = 0x8040;

    /// Switches the current thread to flushing denormals.
    #[allow(deprecated)] // _mm_getcsr/_mm_setcsr: deprecated in favour of inline asm, still correct.
    pub(crate) fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE is part of the x86-64 baseline, and FTZ/DAZ only change how
            // subnormal floats are rounded on this thread; Drop restores the previous mode.
            let saved = unsafe { std::arch::x86_64::_mm_getcsr() };
            unsafe { std::arch::x86_64::_mm_setcsr(saved | Self::FTZ_DAZ) };
            Self {
                saved,
                _not_send: std::marker::PhantomData,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Self {
            _not_send: std::marker::PhantomData,
        }
    }
}

impl Drop for FlushDenormals {
    #[allow(deprecated)]
    fn drop(&mut self) {
        // SAFETY: restores the mode read in `new` on the same thread (the guard is !Send).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            std::arch::x86_64::_mm_setcsr(self.saved)
        };
    }
}

#[cfg(test)]
#[path = "kernels_tests.rs"]
mod tests;
