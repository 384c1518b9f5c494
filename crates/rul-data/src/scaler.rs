//! Feature scaling fitted on training engines only: min-max or z-score, globally or per operating condition.

use serde::{Deserialize, Serialize};

/// How features are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScalerKind {
    /// `(x − min) / (max − min)`: the plan's choice; training values land in [0, 1].
    #[default]
    MinMax,
    /// `(x − mean) / std`.
    ZScore,
}

/// Per condition, per feature: `scaled = (x − offset) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub kind: ScalerKind,
    /// `offset[condition][feature]`.
    pub offset: Vec<Vec<f64>>,
    /// `scale[condition][feature]`, always > 0.
    pub scale: Vec<Vec<f64>>,
}

/// Smallest scale used, so a constant feature scales to 0 instead of dividing by zero.
const MIN_SCALE: f64 = 1e-9;

impl Scaler {
    /// Fits statistics from `rows` of `(condition, features)` for `conditions` conditions.
    pub fn fit(
        kind: ScalerKind,
        conditions: usize,
        features: usize,
        rows: &[(usize, Vec<f64>)],
    ) -> Self {
        let mut offset = vec![vec![0.0; features]; conditions];
        let mut scale = vec![vec![1.0; features]; conditions];
        for k in 0..conditions {
            let members = rows.iter().filter(|(c, _)| *c == k).map(|(_, f)| f);
            let (mut lo, mut hi) = (
                vec![f64::INFINITY; features],
                vec![f64::NEG_INFINITY; features],
            );
            let (mut sum, mut sq, mut n) = (vec![0.0; features], vec![0.0; features], 0usize);
            for f in members {
                n += 1;
                for j in 0..features {
                    lo[j] = lo[j].min(f[j]);
                    hi[j] = hi[j].max(f[j]);
                    sum[j] += f[j];
                    sq[j] += f[j] * f[j];
                }
            }
            if n == 0 {
                continue;
            }
            for j in 0..features {
                let (o, s) = match kind {
                    ScalerKind::MinMax => (lo[j], hi[j] - lo[j]),
                    ScalerKind::ZScore => {
                        let mean = sum[j] / n as f64;
                        let var = (sq[j] / n as f64 - mean * mean).max(0.0);
                        (mean, var.sqrt())
                    }
                };
                offset[k][j] = o;
                scale[k][j] = if s.is_finite() && s > MIN_SCALE {
                    s
                } else {
                    1.0
                };
            }
        }
        Scaler {
            kind,
            offset,
            scale,
        }
    }

    /// Scales one row of features in condition `k` into `out`.
    pub fn apply(&self, k: usize, features: &[f64], out: &mut [f32]) {
        for (j, (x, o)) in features.iter().zip(out.iter_mut()).enumerate() {
            *o = ((x - self.offset[k][j]) / self.scale[k][j]) as f32;
        }
    }

    /// Checks shapes and finiteness, as loaded files may be tampered with.
    pub fn check(&self, conditions: usize, features: usize) -> Result<(), String> {
        if self.offset.len() != conditions || self.scale.len() != conditions {
            return Err(format!(
                "scaler has statistics for {} conditions, expected {conditions}",
                self.offset.len()
            ));
        }
        for (o, s) in self.offset.iter().zip(&self.scale) {
            if o.len() != features || s.len() != features {
                return Err(format!("scaler statistics do not have {features} features"));
            }
            if o.iter().any(|v| !v.is_finite()) || s.iter().any(|v| !v.is_finite() || *v <= 0.0) {
                return Err("scaler statistics must be finite with positive scales".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minmax_maps_training_range_to_unit_interval_per_condition() {
        let rows = vec![
            (0, vec![1.0, 5.0]),
            (0, vec![3.0, 5.0]),
            (1, vec![100.0, 0.0]),
            (1, vec![200.0, 10.0]),
        ];
        let s = Scaler::fit(ScalerKind::MinMax, 2, 2, &rows);
        let mut out = [0f32; 2];
        s.apply(0, &[3.0, 5.0], &mut out);
        assert_eq!(out, [1.0, 0.0], "constant feature scales to 0");
        s.apply(1, &[150.0, 5.0], &mut out);
        assert_eq!(out, [0.5, 0.5]);
        assert!(s.check(2, 2).is_ok());
        assert!(s.check(3, 2).is_err());
    }

    #[test]
    fn zscore_centres_and_scales() {
        let rows: Vec<(usize, Vec<f64>)> = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
            .iter()
            .map(|v| (0, vec![*v]))
            .collect();
        let s = Scaler::fit(ScalerKind::ZScore, 1, 1, &rows);
        assert!((s.offset[0][0] - 5.0).abs() < 1e-12);
        assert!((s.scale[0][0] - 2.0).abs() < 1e-12);
    }
}
