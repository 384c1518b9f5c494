//! Seeded, engine-wise train/validation split: windows of one engine never land on both sides.

use crate::reader::Engine;

/// SplitMix64: a tiny deterministic generator, so the split is reproducible without a dependency.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Splits engines into (kept, held out); `fraction` of engines (rounded, at least one when there are two or more) are held out.
pub fn split_engines(engines: &[Engine], fraction: f64, seed: u64) -> (Vec<Engine>, Vec<Engine>) {
    let n = engines.len();
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = rng.below(i + 1);
        order.swap(i, j);
    }
    let mut held = ((n as f64) * fraction.clamp(0.0, 1.0)).round() as usize;
    if fraction > 0.0 && n >= 2 {
        held = held.clamp(1, n - 1);
    }
    let mut held_idx: Vec<usize> = order[..held].to_vec();
    let mut kept_idx: Vec<usize> = order[held..].to_vec();
    held_idx.sort_unstable();
    kept_idx.sort_unstable();
    (
        kept_idx.iter().map(|&i| engines[i].clone()).collect(),
        held_idx.iter().map(|&i| engines[i].clone()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::Engine;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn engines(n: u32) -> Vec<Engine> {
        (1..=n)
            .map(|unit| Engine {
                unit,
                cycles: vec![],
            })
            .collect()
    }

    #[test]
    fn split_is_reproducible_and_seed_dependent() {
        let e = engines(100);
        let (a, b) = split_engines(&e, 0.2, 7);
        let (c, d) = split_engines(&e, 0.2, 7);
        assert_eq!(a, c);
        assert_eq!(b, d);
        assert_eq!(b.len(), 20);
        let (_, other) = split_engines(&e, 0.2, 8);
        assert_ne!(b, other);
    }

    proptest! {
        #[test]
        fn sides_are_disjoint_and_complete(n in 0u32..300, fraction in 0.0f64..1.0, seed: u64) {
            let e = engines(n);
            let (kept, held) = split_engines(&e, fraction, seed);
            let k: HashSet<u32> = kept.iter().map(|e| e.unit).collect();
            let h: HashSet<u32> = held.iter().map(|e| e.unit).collect();
            prop_assert!(k.is_disjoint(&h));
            prop_assert_eq!(k.len() + h.len(), n as usize);
        }
    }
}
