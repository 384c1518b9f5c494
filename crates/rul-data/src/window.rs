//! Sliding windows over a normalised series, with edge padding for series shorter than the window.
//!
//! Padding strategy ("edge"): the missing leading cycles repeat the series' first reading. In
//! normalised space that is a state the engine really was in, whereas the plan's zero padding
//! meant "every sensor at its training minimum" — a state no engine ever reported.

use serde::{Deserialize, Serialize};

/// How windows longer than the available history are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Repeat the first available reading before the series.
    #[default]
    Edge,
}

/// Model inputs laid out `[count, window, features]` (row-major) with one target each.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Windows {
    pub inputs: Vec<f32>,
    pub targets: Vec<f32>,
    pub count: usize,
    pub window: usize,
    pub features: usize,
    /// How many windows needed padding.
    pub padded: usize,
    /// The engine (unit number) each window came from.
    pub engine_of: Vec<u32>,
}

impl Windows {
    /// An empty set of windows of the given shape.
    pub fn empty(window: usize, features: usize) -> Self {
        Windows {
            window,
            features,
            ..Default::default()
        }
    }

    /// The inputs of window `i`.
    pub fn input(&self, i: usize) -> &[f32] {
        let size = self.window * self.features;
        &self.inputs[i * size..(i + 1) * size]
    }
}

/// Appends the window of `window` rows ending at row `end` of `series` (`rows × features`) to `out`;
/// returns how many leading rows were padding.
pub fn push_window(
    series: &[f32],
    features: usize,
    end: usize,
    window: usize,
    out: &mut Vec<f32>,
) -> usize {
    let available = end + 1;
    let pad = window.saturating_sub(available);
    let first = &series[..features];
    for _ in 0..pad {
        out.extend_from_slice(first);
    }
    let start = available - (window - pad);
    out.extend_from_slice(&series[start * features..available * features]);
    pad
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pads_with_the_first_row() {
        let series = [1.0, 10.0, 2.0, 20.0];
        let mut out = Vec::new();
        let pad = push_window(&series, 2, 1, 4, &mut out);
        assert_eq!(pad, 2);
        assert_eq!(out, vec![1.0, 10.0, 1.0, 10.0, 1.0, 10.0, 2.0, 20.0]);
    }

    proptest! {
        #[test]
        fn window_ends_at_requested_row(rows in 1usize..60, features in 1usize..5, window in 1usize..40, end_frac in 0.0f64..1.0) {
            let series: Vec<f32> = (0..rows * features).map(|v| v as f32).collect();
            let end = ((rows - 1) as f64 * end_frac) as usize;
            let mut out = Vec::new();
            let pad = push_window(&series, features, end, window, &mut out);
            prop_assert_eq!(out.len(), window * features);
            prop_assert_eq!(&out[(window - 1) * features..], &series[end * features..(end + 1) * features]);
            prop_assert_eq!(pad, window.saturating_sub(end + 1));
            for r in 0..pad {
                prop_assert_eq!(&out[r * features..(r + 1) * features], &series[..features]);
            }
        }
    }
}
