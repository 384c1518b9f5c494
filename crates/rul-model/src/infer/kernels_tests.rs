//! Unit tests of the fast path's kernels.

use super::*;

fn naive(a: &[f32], rows: usize, k: usize, w: &[f32], n: usize, init: &[f32]) -> Vec<f64> {
    let mut out = vec![0.0f64; rows * n];
    for r in 0..rows {
        for j in 0..n {
            let mut s = f64::from(init[r * n + j]);
            for kk in 0..k {
                s += f64::from(a[r * k + kk]) * f64::from(w[kk * n + j]);
            }
            out[r * n + j] = s;
        }
    }
    out
}

fn values(len: usize, seed: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn matmul_matches_a_naive_product_for_every_tile_shape() {
    for (rows, k, n) in [
        (1, 1, 1),
        (3, 5, 7),
        (4, 16, 16),
        (9, 70, 64),
        (5, 64, 256),
        (13, 3, 83),
    ] {
        let a = values(rows * k, 1);
        let w = values(k * n, 2);
        let init = values(rows * n, 3);
        let mut out = init.clone();
        matmul_acc::<8>(&mut out, n, &a, k, rows, &w, k, n);
        let mut wide = init.clone();
        matmul_acc::<16>(&mut wide, n, &a, k, rows, &w, k, n);
        assert_eq!(wide, out, "tile widths change no bits");
        // One lane: the generic tiles only, never the AVX2 kernels.
        let mut generic = init.clone();
        matmul_acc::<1>(&mut generic, n, &a, k, rows, &w, k, n);
        assert_eq!(generic, out, "the AVX2 kernels change no bits");
        let want = naive(&a, rows, k, &w, n, &init);
        for (got, want) in out.iter().zip(&want) {
            assert!(
                (f64::from(*got) - want).abs() < 1e-4,
                "{rows}x{k}x{n}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn a_row_gives_the_same_bits_alone_and_inside_a_batch() {
    let (k, n) = (37, 83);
    let a = values(9 * k, 4);
    let w = values(k * n, 5);
    let mut batch = vec![0.25f32; 9 * n];
    matmul_acc::<16>(&mut batch, n, &a, k, 9, &w, k, n);
    for r in 0..9 {
        let mut single = vec![0.25f32; n];
        matmul_acc::<16>(&mut single, n, &a[r * k..], k, 1, &w, k, n);
        assert_eq!(single, batch[r * n..(r + 1) * n]);
    }
}

#[test]
fn packed_panels_give_the_bits_of_the_plain_product_in_either_direction() {
    let (k, n) = (37, 3 * PANEL);
    let a = values(k, 6);
    let w = values(k * n, 7);
    let init = values(n, 8);
    let panels = pack_panels(&w, k, n);
    assert_eq!(panels.len(), k * n);
    let mut plain = init.clone();
    matmul_acc::<8>(&mut plain, n, &a, k, 1, &w, k, n);
    for reverse in [false, true] {
        let mut packed = init.clone();
        matvec_panels(&mut packed, &a, &panels, k, n, reverse);
        assert_eq!(packed, plain, "reverse = {reverse}");
    }
    assert!(
        pack_panels(&w[..k * 65], k, 65).is_empty(),
        "65 columns are not whole panels"
    );
}

#[test]
fn strided_rows_update_in_place() {
    // Two rows of a [rows, 3 steps, n] buffer at step 1, stride 3n.
    let (k, n) = (2, 3);
    let mut buf = vec![1.0f32; 2 * 3 * n];
    let a = [1.0, 2.0, 3.0, 4.0];
    let w = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
    matmul_acc::<8>(&mut buf[n..], 3 * n, &a, k, 2, &w, k, n);
    assert_eq!(&buf[n..2 * n], &[2.0, 3.0, 4.0]);
    assert_eq!(&buf[4 * n..5 * n], &[4.0, 5.0, 8.0]);
    assert_eq!(&buf[..n], &[1.0, 1.0, 1.0]);
}

#[test]
fn activations_are_within_float_noise_of_std() {
    let mut worst_t = 0.0f64;
    let mut worst_s = 0.0f64;
    for i in -200_000..=200_000 {
        let x = i as f32 * 1e-4;
        worst_t = worst_t.max((f64::from(tanh(x)) - f64::from(x).tanh()).abs());
        let s = 1.0 / (1.0 + (-f64::from(x)).exp());
        worst_s = worst_s.max((f64::from(sigmoid(x)) - s).abs());
    }
    assert!(worst_t < 1e-6, "tanh error {worst_t}");
    assert!(worst_s < 1e-6, "sigmoid error {worst_s}");
    assert!((tanh(100.0) - 1.0).abs() < 1e-6);
    assert!((tanh(-100.0) + 1.0).abs() < 1e-6);
    assert!(tanh(f32::NAN).is_nan());
    assert_eq!(tanh(0.0), 0.0);
    assert!((sigmoid(-100.0)).abs() < 1e-7);
}

#[test]
fn the_guard_flushes_denormals_and_restores_the_mode() {
    let tiny = std::hint::black_box(f32::MIN_POSITIVE);
    let before = std::hint::black_box(tiny) * std::hint::black_box(0.5);
    assert!(before > 0.0, "subnormals exist by default");
    {
        let _guard = FlushDenormals::new();
        let flushed = std::hint::black_box(tiny) * std::hint::black_box(0.5);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(flushed, 0.0);
        let _ = flushed;
    }
    let after = std::hint::black_box(tiny) * std::hint::black_box(0.5);
    assert_eq!(after, before);
}
