//! Prediction from already-normalised windows (what SageMaker's `/invocations` receives from the plan's client,
//! which preprocesses before calling): shape checks, edge padding, straight to the model thread.

use std::time::Instant;

use rul_data::{MAX_READINGS, MAX_VIOLATIONS, Prepared, ValidationError, Violation, push_window};
use tokio::sync::oneshot;

use super::Predictor;
use crate::error::PredictError;
use crate::metrics_names as m;
use crate::types::Prediction;
use crate::worker::{Job, Outcome, micros};

/// Most windows one [`Predictor::predict_normalised`] call accepts.
pub const MAX_INSTANCES: usize = 256;

/// Largest magnitude accepted for a normalised value (min-max values lie near [0, 1], z-scores within a few units;
/// anything far beyond is a client mistake such as raw sensor values sent as arrays).
pub const MAX_NORMALISED_ABS: f64 = 1.0e4;

impl Predictor {
    /// Predicts one RUL per window of already-normalised rows (oldest first, each row the serving model's
    /// `n_features` values in its feature order). A window shorter than the model's is padded by repeating its
    /// first row, a longer one is cut to its last `window` rows — the same rule as for raw readings. All or
    /// nothing: any malformed window fails the call with a validation error naming `instances[i]` and the row.
    /// If a reload replaces the model while the windows are queued, the call fails with `NotReady` (the windows
    /// were normalised for the old model), so the client retries.
    pub async fn predict_normalised(
        &self,
        windows: &[Vec<Vec<f64>>],
    ) -> Result<Vec<Prediction>, PredictError> {
        let result = self.normalised(windows).await;
        match &result {
            Ok(ps) => {
                metrics::counter!(m::PREDICTIONS, "source" => "local").increment(ps.len() as u64)
            }
            Err(e) => metrics::counter!(m::ERRORS, "kind" => e.kind()).increment(1),
        }
        result
    }

    async fn normalised(&self, windows: &[Vec<Vec<f64>>]) -> Result<Vec<Prediction>, PredictError> {
        let start = Instant::now();
        let snap = self.serving()?;
        let (w, f) = (snap.preprocessor.window(), snap.preprocessor.n_features());
        let prepared = prepare_windows(windows, w, f)?;
        let mut jobs = Vec::with_capacity(prepared.len());
        let mut replies = Vec::with_capacity(prepared.len());
        for (i, p) in prepared.into_iter().enumerate() {
            let (reply, rx) = oneshot::channel();
            jobs.push(Job {
                engine_id: format!("instance-{i}"),
                prepared: p,
                version: snap.version.clone(),
                enqueued: Instant::now(),
                reply,
            });
            replies.push(rx);
        }
        self.enqueue(jobs);
        let mut out = Vec::with_capacity(replies.len());
        for rx in replies {
            match rx.await {
                Ok(Outcome::Done(result)) => {
                    let mut p = result?;
                    p.timing.total_us = micros(start.elapsed());
                    out.push(p);
                }
                Ok(Outcome::Stale) => {
                    return Err(PredictError::NotReady(
                        "the model was replaced while the windows were queued; retry".into(),
                    ));
                }
                Err(_) => {
                    return Err(PredictError::NotReady(
                        "predictor shut down before answering".into(),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Checks every window's shape and values and builds the model inputs.
pub(crate) fn prepare_windows(
    windows: &[Vec<Vec<f64>>],
    w: usize,
    f: usize,
) -> Result<Vec<Prepared>, PredictError> {
    if windows.is_empty() || windows.len() > MAX_INSTANCES {
        return Err(PredictError::field(
            "instances",
            format!(
                "expected 1 to {MAX_INSTANCES} windows, got {}",
                windows.len()
            ),
        ));
    }
    let mut violations = Vec::new();
    let mut push = |reading: Option<usize>, i: usize, reason: String| {
        if violations.len() < MAX_VIOLATIONS {
            violations.push(Violation {
                reading,
                field: Some(format!("instances[{i}]")),
                reason,
            });
        }
    };
    for (i, rows) in windows.iter().enumerate() {
        if rows.is_empty() || rows.len() > MAX_READINGS {
            push(
                None,
                i,
                format!("expected 1 to {MAX_READINGS} rows, got {}", rows.len()),
            );
            continue;
        }
        for (r, row) in rows.iter().enumerate() {
            if row.len() != f {
                push(
                    Some(r),
                    i,
                    format!(
                        "row has {} values; this model takes {f} normalised features per row",
                        row.len()
                    ),
                );
            } else if row
                .iter()
                .any(|v| !v.is_finite() || v.abs() > MAX_NORMALISED_ABS)
            {
                push(
                    Some(r),
                    i,
                    format!("normalised values must be finite and within ±{MAX_NORMALISED_ABS}"),
                );
            }
        }
    }
    if !violations.is_empty() {
        return Err(PredictError::Validation(ValidationError { violations }));
    }
    Ok(windows
        .iter()
        .map(|rows| {
            let used = &rows[rows.len().saturating_sub(w)..];
            let series: Vec<f32> = used.iter().flatten().map(|&v| v as f32).collect();
            let mut input = Vec::with_capacity(w * f);
            let padded_cycles = push_window(&series, f, used.len() - 1, w, &mut input);
            Prepared {
                input,
                padded_cycles,
                unknown_condition: false,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(e: &PredictError) -> (Option<usize>, Option<String>) {
        match e {
            PredictError::Validation(v) => (v.violations[0].reading, v.violations[0].field.clone()),
            _ => (None, None),
        }
    }

    #[test]
    fn pads_short_windows_and_cuts_long_ones() {
        let short = vec![vec![0.1, 0.2], vec![0.3, 0.4]];
        let long: Vec<Vec<f64>> = (0..5).map(|i| vec![i as f64, 0.0]).collect();
        let p = prepare_windows(&[short, long], 3, 2).expect("valid");
        assert_eq!(p[0].padded_cycles, 1);
        assert_eq!(p[0].input, vec![0.1, 0.2, 0.1, 0.2, 0.3, 0.4]);
        assert_eq!(p[1].padded_cycles, 0);
        assert_eq!(p[1].input, vec![2.0, 0.0, 3.0, 0.0, 4.0, 0.0]);
    }

    #[test]
    fn wrong_shapes_name_the_window_and_row() {
        let e = prepare_windows(&[vec![vec![0.1, 0.2]], vec![vec![0.1]]], 3, 2).unwrap_err();
        assert_eq!(field(&e), (Some(0), Some("instances[1]".into())));
        let e = prepare_windows(&[vec![vec![0.1, f64::NAN]]], 3, 2).unwrap_err();
        assert_eq!(field(&e), (Some(0), Some("instances[0]".into())));
        let e = prepare_windows(&[vec![vec![0.1, 9e9]]], 3, 2).unwrap_err();
        assert_eq!(field(&e), (Some(0), Some("instances[0]".into())));
        let e = prepare_windows(&[Vec::new()], 3, 2).unwrap_err();
        assert_eq!(field(&e), (None, Some("instances[0]".into())));
        let e = prepare_windows(&[], 3, 2).unwrap_err();
        assert_eq!(field(&e), (None, Some("instances".into())));
    }
}
