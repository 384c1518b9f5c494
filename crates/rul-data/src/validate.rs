//! Serving-time input: one reading per cycle, and structured validation errors REST and gRPC return verbatim.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Most readings accepted in one request; the shortest window needs far fewer.
pub const MAX_READINGS: usize = 500;

/// Number of sensor positions in a [`Reading`] (`s1`..`s21`).
pub const SENSORS: usize = 21;

/// One cycle's readings **by position**: `sensors[i]` is [`crate::SENSOR_NAMES`]`[i]` (`s1` is 0), `None` when
/// not sent. Names are resolved once, where a transport decodes them, so a request carries no strings and a
/// sensor cannot be given twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub sensors: [Option<f64>; SENSORS],
    /// `setting_1..3`; required by models normalised per operating condition.
    pub settings: Option<[f64; 3]>,
}

impl Reading {
    /// A reading of the named sensors (unknown names are ignored: for tests and fixtures, not client input).
    pub fn from_named<'a>(
        values: impl IntoIterator<Item = (&'a str, f64)>,
        settings: Option<[f64; 3]>,
    ) -> Self {
        let mut reading = Reading {
            settings,
            ..Reading::default()
        };
        for (name, value) in values {
            if let Some(i) = crate::sensor_index(name) {
                reading.sensors[i] = Some(value);
            }
        }
        reading
    }
}

/// Plausible range of one input, from training data widened by a margin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    pub name: String,
    pub min: f64,
    pub max: f64,
}

impl Bound {
    /// Whether `value` is finite and within the bound (exactly what [`check_value`] accepts).
    #[inline]
    pub fn admits(&self, value: f64) -> bool {
        value.is_finite() && value >= self.min && value <= self.max
    }

    /// Training min/max widened by half the training range on each side (and a hair for constant inputs).
    pub fn from_range(name: &str, lo: f64, hi: f64) -> Self {
        let margin = 0.5 * (hi - lo) + 1e-3 * lo.abs().max(hi.abs()).max(1.0);
        Bound {
            name: name.to_string(),
            min: lo - margin,
            max: hi + margin,
        }
    }
}

/// One problem found in a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// Index of the reading (0-based) the problem is in, when it is in one.
    pub reading: Option<usize>,
    /// The offending field (`"s7"`, `"setting_1"`, `"sensor_data"`, `"engine_id"`).
    pub field: Option<String>,
    pub reason: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.reading, &self.field) {
            (Some(i), Some(field)) => write!(f, "reading {i}, {field}: {}", self.reason),
            (Some(i), None) => write!(f, "reading {i}: {}", self.reason),
            (None, Some(field)) => write!(f, "{field}: {}", self.reason),
            (None, None) => f.write_str(&self.reason),
        }
    }
}

/// A rejected request: every problem found (up to a cap), each pointing at a reading and field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub struct ValidationError {
    pub violations: Vec<Violation>,
}

/// Violations reported per request; more are counted but not listed.
pub const MAX_VIOLATIONS: usize = 20;

impl ValidationError {
    /// An error with one violation.
    pub fn single(reading: Option<usize>, field: Option<&str>, reason: impl Into<String>) -> Self {
        ValidationError {
            violations: vec![Violation {
                reading,
                field: field.map(str::to_string),
                reason: reason.into(),
            }],
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.violations.split_first() {
            None => f.write_str("invalid input"),
            Some((first, [])) => write!(f, "invalid input: {first}"),
            Some((first, rest)) => write!(f, "invalid input: {first} (+{} more)", rest.len()),
        }
    }
}

/// Collects violations up to [`MAX_VIOLATIONS`].
#[derive(Default)]
pub(crate) struct Violations(Vec<Violation>);

impl Violations {
    pub(crate) fn push(&mut self, reading: Option<usize>, field: Option<&str>, reason: String) {
        if self.0.len() < MAX_VIOLATIONS {
            self.0.push(Violation {
                reading,
                field: field.map(str::to_string),
                reason,
            });
        }
    }

    pub(crate) fn full(&self) -> bool {
        self.0.len() >= MAX_VIOLATIONS
    }

    pub(crate) fn into_result(self) -> Result<(), ValidationError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { violations: self.0 })
        }
    }
}

/// Checks one value against its bound, recording why it fails.
pub(crate) fn check_value(out: &mut Violations, reading: usize, bound: &Bound, value: f64) {
    if !value.is_finite() {
        out.push(
            Some(reading),
            Some(&bound.name),
            format!("{value} is not a finite number"),
        );
    } else if value < bound.min || value > bound.max {
        out.push(
            Some(reading),
            Some(&bound.name),
            format!(
                "{value} is outside the plausible range [{:.4}, {:.4}]",
                bound.min, bound.max
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_reading_and_field() {
        let e = ValidationError::single(Some(3), Some("s7"), "is missing");
        assert_eq!(e.to_string(), "invalid input: reading 3, s7: is missing");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["violations"][0]["field"], "s7");
    }

    #[test]
    fn bounds_widen_training_range() {
        let b = Bound::from_range("s2", 640.0, 645.0);
        assert!(b.min < 640.0 && b.max > 645.0);
        let mut v = Violations::default();
        check_value(&mut v, 0, &b, 642.0);
        check_value(&mut v, 1, &b, f64::NAN);
        check_value(&mut v, 2, &b, 10_000.0);
        let err = v.into_result().unwrap_err();
        assert_eq!(err.violations.len(), 2);
        assert_eq!(err.violations[0].reading, Some(1));
    }
}
