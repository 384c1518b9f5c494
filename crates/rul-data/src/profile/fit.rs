//! Fitting the input profile: per-condition moments, runs, steps, deciles, the inverse covariance and the
//! drift threshold, all from the training engines.

use super::{InputProfile, POSITIONS, SensorStats, invalid};
use crate::error::DataError;

/// Fills every statistic of `profile` from `engines` (positional readings, one vector per engine).
pub(super) fn statistics(
    profile: &mut InputProfile,
    engines: &[Vec<[f64; POSITIONS]>],
) -> Result<(), DataError> {
    let n = profile.sensors.len();
    let k = profile.conditions.centroids.len();
    let condition = |v: &[f64; POSITIONS]| {
        if k == 1 {
            0
        } else {
            profile.conditions.assign(&[v[21], v[22], v[23]]).index
        }
    };
    let mut groups: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); n]; k];
    for row in engines.iter().flatten() {
        let c = condition(row);
        for (j, &p) in profile.positions.iter().enumerate() {
            groups[c][j].push(row[p]);
        }
    }
    profile.stats = groups
        .iter()
        .map(|per_sensor| per_sensor.iter().map(|x| moments(x)).collect())
        .collect::<Option<Vec<Vec<_>>>>()
        .ok_or_else(|| invalid("an operating condition has no training readings".into()))?;

    let standardised: Vec<Vec<Vec<f64>>> = engines
        .iter()
        .map(|rows| rows.iter().filter_map(|r| profile.standardise(r)).collect())
        .collect();
    profile.longest_run = (0..n)
        .map(|j| {
            let p = profile.positions[j];
            engines
                .iter()
                .map(|rows| longest_run(rows.iter().map(|r| r[p])))
                .max()
                .unwrap_or(1)
        })
        .collect();
    profile.max_step = (0..n)
        .map(|j| {
            standardised
                .iter()
                .flat_map(|zs| zs.windows(2).map(move |w| (w[1][j] - w[0][j]).abs()))
                .fold(0.0, f64::max)
        })
        .collect();
    let all: Vec<&Vec<f64>> = standardised.iter().flatten().collect();
    profile.deciles = (0..n)
        .map(|j| {
            let mut v: Vec<f64> = all.iter().map(|z| z[j]).collect();
            v.sort_by(f64::total_cmp);
            (1..10).map(|q| quantile(&v, q as f64 / 10.0)).collect()
        })
        .collect();
    profile.shares = (0..n)
        .map(|j| {
            let mut counts = [0usize; 10];
            for z in &all {
                counts[profile.bin(j, z[j])] += 1;
            }
            counts
                .iter()
                .map(|&c| c as f64 / all.len().max(1) as f64)
                .collect()
        })
        .collect();
    profile.precision = invert(&covariance(&all, n))
        .ok_or_else(|| invalid("the inputs' covariance is singular".into()))?;
    profile.drift_threshold = standardised
        .iter()
        .flat_map(|zs| (1..=zs.len()).filter_map(|t| profile.drift(&zs[..t]).map(|d| d.score)))
        .fold(0.0, f64::max);
    Ok(())
}

/// Mean, standard deviation (floored so a constant input still standardises), minimum and maximum.
fn moments(x: &[f64]) -> Option<SensorStats> {
    if x.is_empty() {
        return None;
    }
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let floor = 1e-6 * mean.abs().max(1.0);
    Some(SensorStats {
        mean,
        std: var.sqrt().max(floor),
        min: x.iter().copied().fold(f64::INFINITY, f64::min),
        max: x.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// Longest run of bit-identical consecutive values.
pub(crate) fn longest_run(values: impl Iterator<Item = f64>) -> usize {
    let mut best = 0;
    let mut run = 0;
    let mut last: Option<f64> = None;
    for v in values {
        run = if last.is_some_and(|l| l.to_bits() == v.to_bits()) {
            run + 1
        } else {
            1
        };
        best = usize::max(best, run);
        last = Some(v);
    }
    best
}

/// Linear-interpolated quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Covariance of `n`-dimensional vectors, with a small ridge so nearly collinear inputs stay invertible.
fn covariance(rows: &[&Vec<f64>], n: usize) -> Vec<Vec<f64>> {
    let m = rows.len().max(1) as f64;
    let mean: Vec<f64> = (0..n)
        .map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / m)
        .collect();
    let mut c = vec![vec![0.0; n]; n];
    for r in rows {
        for a in 0..n {
            for b in 0..n {
                c[a][b] += (r[a] - mean[a]) * (r[b] - mean[b]) / m;
            }
        }
    }
    for (a, row) in c.iter_mut().enumerate() {
        row[a] += 1e-9;
    }
    c
}

/// Gauss–Jordan inverse with partial pivoting; None when singular.
pub(crate) fn invert(m: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = m.len();
    let mut a: Vec<Vec<f64>> = m.to_vec();
    let mut inv: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for col in 0..n {
        let pivot = (col..n).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        inv.swap(col, pivot);
        let d = a[col][col];
        for j in 0..n {
            a[col][j] /= d;
            inv[col][j] /= d;
        }
        for row in 0..n {
            if row != col {
                let f = a[row][col];
                if f != 0.0 {
                    for j in 0..n {
                        a[row][j] -= f * a[col][j];
                        inv[row][j] -= f * inv[col][j];
                    }
                }
            }
        }
    }
    Some(inv)
}
