//! Per-reading data quality against the model's training profile: a value outside the training range, a
//! sensor stuck on one value for longer than training ever showed, or a jump between consecutive cycles of
//! more than `jump_sigmas` training standard deviations. Flags travel with the prediction they affected.

use std::collections::VecDeque;

use rul_data::InputProfile;
use serde::{Deserialize, Serialize};

use crate::types::CycleReading;

/// When a reading is flagged (QUALITY_RANGE_MARGIN, QUALITY_JUMP_SIGMAS, QUALITY_STUCK_CYCLES).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QualityPolicy {
    /// Out of range = beyond the training minimum/maximum by more than this fraction of the training range.
    pub range_margin: f64,
    /// Jump = a change between consecutive cycles larger than this many training standard deviations.
    pub jump_sigmas: f64,
    /// Stuck = the same value this many cycles in a row, and longer than any run seen in training.
    pub stuck_cycles: usize,
}

impl Default for QualityPolicy {
    /// Chosen on FD001's training file: its largest cycle-to-cycle step is 4.9 σ, its longest unchanged run
    /// 11 cycles (s17, an integer-valued sensor), and 10 % of the range keeps every FD001 test reading inside.
    fn default() -> Self {
        QualityPolicy {
            range_margin: 0.1,
            jump_sigmas: 6.0,
            stuck_cycles: 5,
        }
    }
}

impl QualityPolicy {
    /// Checks the thresholds.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.range_margin.is_finite() && self.range_margin >= 0.0) {
            return Err(format!(
                "QUALITY_RANGE_MARGIN must be a number >= 0, got {}",
                self.range_margin
            ));
        }
        if !(self.jump_sigmas.is_finite() && self.jump_sigmas > 0.0) {
            return Err(format!(
                "QUALITY_JUMP_SIGMAS must be a positive number, got {}",
                self.jump_sigmas
            ));
        }
        if self.stuck_cycles < 2 {
            return Err(format!(
                "QUALITY_STUCK_CYCLES must be at least 2, got {}",
                self.stuck_cycles
            ));
        }
        Ok(())
    }
}

/// What is wrong with one input of one reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    /// Outside the training range (widened by the margin).
    OutOfRange,
    /// Unchanged for longer than training ever showed.
    Stuck,
    /// Moved further than training ever did in one cycle.
    Jump,
}

impl FlagKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::OutOfRange => "out_of_range",
            FlagKind::Stuck => "stuck",
            FlagKind::Jump => "jump",
        }
    }
}

/// One flagged input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = QualityFlagBody))]
pub struct QualityFlag {
    /// The input (e.g. "s11").
    pub sensor: String,
    /// What is wrong with it.
    pub kind: FlagKind,
}

/// The data-quality verdict on the reading a prediction follows (no flags = nothing suspicious).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = QualityBody))]
pub struct Quality {
    /// One entry per suspicious input.
    pub flags: Vec<QualityFlag>,
}

impl Quality {
    /// The stored form: None when clean.
    pub fn to_json(&self) -> Option<String> {
        if self.flags.is_empty() {
            return None;
        }
        serde_json::to_string(self).ok()
    }

    /// Parses the stored form (an unreadable value reads as clean rather than failing the history).
    pub fn from_json(text: Option<&str>) -> Quality {
        text.and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

/// Flags for `current` given the engine's earlier readings (`history`, oldest first).
pub fn assess(
    profile: &InputProfile,
    policy: &QualityPolicy,
    history: &VecDeque<CycleReading>,
    current: &CycleReading,
) -> Quality {
    let mut flags = Vec::new();
    let stats = profile.stats_for(&current.values);
    let previous = history
        .back()
        .filter(|p| p.cycle + 1 == current.cycle)
        .and_then(|p| profile.standardise(&p.values));
    let now = profile.standardise(&current.values);
    for (j, (&pos, name)) in profile.positions().iter().zip(&profile.sensors).enumerate() {
        let v = current.values[pos];
        if v.is_nan() {
            continue;
        }
        let mut flag = |kind| {
            flags.push(QualityFlag {
                sensor: name.clone(),
                kind,
            })
        };
        if let Some(s) = stats.and_then(|s| s.get(j)) {
            let margin = policy.range_margin * (s.max - s.min);
            if v < s.min - margin || v > s.max + margin {
                flag(FlagKind::OutOfRange);
            }
        }
        let limit = policy
            .stuck_cycles
            .max(profile.longest_run.get(j).copied().unwrap_or(0) + 1);
        let run = 1 + history
            .iter()
            .rev()
            .take_while(|r| r.values[pos].to_bits() == v.to_bits())
            .count();
        if run >= limit {
            flag(FlagKind::Stuck);
        }
        if let (Some(a), Some(b)) = (&previous, &now)
            && (b[j] - a[j]).abs() > policy.jump_sigmas
        {
            flag(FlagKind::Jump);
        }
    }
    Quality { flags }
}

#[cfg(test)]
mod tests;
