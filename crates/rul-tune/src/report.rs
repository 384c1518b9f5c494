//! Study results: the best trial, its configuration as `best.toml` (loadable by
//! `rul train --config`), and the table of trials.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rul_model::{StopReason, TrainConfig};
use serde_json::Value;

use crate::error::TuneError;
use crate::store::{TrialRecord, TrialState};

/// File name of the best trial's configuration in the study directory.
pub const BEST_FILE: &str = "best.toml";

/// The completed trial with the lowest validation RMSE (pruned and failed trials never win;
/// ties go to the earlier trial).
pub fn best_trial(trials: &[TrialRecord]) -> Option<&TrialRecord> {
    trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .filter_map(|t| t.value.filter(|v| v.is_finite()).map(|v| (v, t)))
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.number.cmp(&b.1.number)))
        .map(|(_, t)| t)
}

/// The configuration that re-trains `trial` exactly: its own, without the wall-clock budget
/// (which would make a re-run depend on machine speed); a trial stopped by that budget gets
/// its epoch count instead, which reproduces the same epochs.
pub fn reproducible_config(trial: &TrialRecord) -> Option<TrainConfig> {
    let mut config = trial.config.clone()?;
    if trial.stop == Some(StopReason::TimeBudget) {
        config.epochs = trial.val_rmse.len().max(1);
    }
    config.time_budget_secs = None;
    Some(config)
}

/// Writes `best.toml` for `trial` into `dir` and checks that it reads back as the same
/// configuration.
pub fn write_best(dir: &Path, trial: &TrialRecord) -> Result<PathBuf, TuneError> {
    let path = dir.join(BEST_FILE);
    let bad = |problem: String| TuneError::Study {
        path: path.clone(),
        problem,
    };
    let config = reproducible_config(trial)
        .ok_or_else(|| bad(format!("trial {} has no configuration", trial.number)))?;
    let body = toml::to_string(&config).map_err(|e| bad(e.to_string()))?;
    let text = format!(
        "# Best trial {} of study {}: validation RMSE {:.4} (held-out training engines).\n\
         # Re-train: rul train --subset {} --config {} --out DIR\n\n{body}",
        trial.number,
        dir.display(),
        trial.value.unwrap_or(f64::NAN),
        config.subset,
        path.display(),
    );
    let back = TrainConfig::from_str_as(&text, true).map_err(bad)?;
    if back != config {
        return Err(bad(
            "the written configuration reads back differently".into()
        ));
    }
    std::fs::write(&path, text).map_err(|e| TuneError::io(&path, e))?;
    Ok(path)
}

/// The trials as a text table: completed by validation RMSE, then pruned (marked), then
/// failed, with every parameter as a column.
pub fn trials_table(trials: &[TrialRecord], param_names: &[String]) -> String {
    let rank = |t: &TrialRecord| match t.state {
        TrialState::Complete => 0,
        TrialState::Pruned => 1,
        TrialState::Failed => 2,
    };
    let mut sorted: Vec<&TrialRecord> = trials.iter().collect();
    sorted.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then(
            a.value
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.value.unwrap_or(f64::INFINITY)),
        )
    });
    let mut header = vec![
        "trial".to_string(),
        "state".into(),
        "val_rmse".into(),
        "epochs".into(),
        "test_rmse".into(),
        "secs".into(),
    ];
    header.extend(param_names.iter().cloned());
    let mut rows = vec![header];
    for t in sorted {
        let mut row = vec![
            t.number.to_string(),
            match t.state {
                TrialState::Complete => "complete".into(),
                TrialState::Pruned => "PRUNED".into(),
                TrialState::Failed => "FAILED".into(),
            },
            t.value.map_or("-".into(), |v| format!("{v:.3}")),
            format!("{}/{}", t.best_epoch, t.val_rmse.len()),
            t.test_rmse.map_or("-".into(), |v| format!("{v:.3}")),
            format!("{:.0}", t.seconds),
        ];
        row.extend(
            param_names
                .iter()
                .map(|n| t.params.get(n).map_or("-".into(), format_value)),
        );
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:>w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// Compact parameter display: integers plain, floats to four significant digits.
pub fn format_value(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if x != 0.0 && (x.abs() < 1e-2 || x.abs() >= 1e4) {
                format!("{x:.3e}")
            } else {
                format!("{x:.4}")
            }
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
