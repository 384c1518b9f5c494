//! Hand-written AVX2 + FMA micro-kernels for the two products that dominate the fast path: a
//! 6 x 16 register tile of a matrix product (12 independent accumulator chains in 12 of the 16
//! `ymm` registers) and a 64-column panel of a vector-matrix product.
//!
//! LLVM's code for the generic tiles in [`super::kernels`] reached about half of this speed
//! (measured on a Zen 4 core, a 48 x 64 x 256 product: 52 FMA/ns here against 24 for the generic
//! 6 x 16 tiles and 29 for the generic AVX-512 32-column tiles), so the AVX-512 entry point uses
//! the product tile too. Each output
//! element is still one `vfmadd` chain in `k` order starting from the value in `out`, exactly as
//! in the generic code, so results are bit for bit the same on every path.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m256, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_storeu_ps,
};

/// Rows of [`tile_6x16`].
pub(crate) const ROWS: usize = 6;
/// Columns of [`tile_6x16`].
pub(crate) const COLS: usize = 16;
/// Columns of [`panel_64`].
pub(crate) const PANEL_WIDTH: usize = 64;

/// Whether the running CPU has AVX2 and FMA (the standard library caches the probe).
#[inline(always)]
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `out[(r0 + r) * os + j0 + c] += Σ_k a[(r0 + r) * a_s + k] * w[k * n + j0 + c]` for
/// `r < 6`, `c < 16`.
///
/// # Safety
/// The CPU must have AVX2 and FMA ([`available`]).
///
/// # Panics
/// If a slice is shorter than the tile needs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile_6x16(
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
    if k == 0 {
        return;
    }
    assert!(
        out.len() >= (r0 + ROWS - 1) * os + j0 + COLS
            && a.len() >= (r0 + ROWS - 1) * a_s + k
            && w.len() >= (k - 1) * n + j0 + COLS,
        "tile_6x16: buffers shorter than the tile"
    );
    // SAFETY: every pointer below stays inside the slices, as the assertion checked: rows
    // r0..r0 + 6 of `out` and `a`, weight rows 0..k at columns j0..j0 + 16.
    unsafe {
        let o = out.as_mut_ptr();
        let wp = w.as_ptr().add(j0);
        let rows: [*const f32; ROWS] = std::array::from_fn(|r| a.as_ptr().add((r0 + r) * a_s));
        let mut acc: [[__m256; 2]; ROWS] = std::array::from_fn(|r| {
            let p = o.add((r0 + r) * os + j0);
            [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))]
        });
        for kk in 0..k {
            let w0 = _mm256_loadu_ps(wp.add(kk * n));
            let w1 = _mm256_loadu_ps(wp.add(kk * n + 8));
            for (row, acc_r) in rows.iter().zip(acc.iter_mut()) {
                let x = _mm256_broadcast_ss(&*row.add(kk));
                acc_r[0] = _mm256_fmadd_ps(x, w0, acc_r[0]);
                acc_r[1] = _mm256_fmadd_ps(x, w1, acc_r[1]);
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            let p = o.add((r0 + r) * os + j0);
            _mm256_storeu_ps(p, acc_r[0]);
            _mm256_storeu_ps(p.add(8), acc_r[1]);
        }
    }
}

/// `out[c] += Σ_k a[k] * panel[k * 64 + c]` for `c < 64`: one packed panel of
/// [`super::kernels::matvec_panels`].
///
/// # Safety
/// The CPU must have AVX2 and FMA ([`available`]).
///
/// # Panics
/// If `out` is shorter than 64, `a` than `k` or `panel` than `k * 64`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn panel_64(out: &mut [f32], a: &[f32], panel: &[f32], k: usize) {
    const WIDTH: usize = PANEL_WIDTH;
    assert!(
        out.len() >= WIDTH && a.len() >= k && panel.len() >= k * WIDTH,
        "panel_64: buffers shorter than the panel"
    );
    // SAFETY: the assertion bounds every access: 64 floats of `out`, k rows of 64 of `panel`.
    unsafe {
        let o = out.as_mut_ptr();
        let mut acc: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(o.add(8 * i)));
        for (kk, x) in a[..k].iter().enumerate() {
            let x = _mm256_broadcast_ss(x);
            let row = panel.as_ptr().add(kk * WIDTH);
            for (i, acc_i) in acc.iter_mut().enumerate() {
                *acc_i = _mm256_fmadd_ps(x, _mm256_loadu_ps(row.add(8 * i)), *acc_i);
            }
        }
        for (i, acc_i) in acc.iter().enumerate() {
            _mm256_storeu_ps(o.add(8 * i), *acc_i);
        }
    }
}
