//! The fleet's values: positional readings, engine metadata, tracked predictions and the views the API returns.

use std::collections::BTreeMap;

use rul_data::{Reading, SENSOR_NAMES, sensor_index};
use serde::{Deserialize, Serialize};

use crate::error::FleetError;

/// Values per stored reading: s1..s21 then setting_1..setting_3.
pub const VALUES: usize = 24;
/// Most readings accepted in one ingest message.
pub const MAX_READINGS_PER_MESSAGE: usize = 1000;
/// Most tags per engine, and longest tag / label key / label value in characters.
pub const MAX_TAGS: usize = 32;
/// Longest tag, label key or label value.
pub const MAX_TAG_CHARS: usize = 64;

/// One engine reading at one cycle, stored by position (s1..s21, setting_1..3); NaN marks a value not sent.
#[derive(Clone, Copy, Debug)]
pub struct CycleReading {
    /// Flight cycle number (increasing per engine; gaps allowed).
    pub cycle: u64,
    /// s1..s21, setting_1..setting_3; NaN = absent.
    pub values: [f64; VALUES],
}

impl PartialEq for CycleReading {
    /// Same cycle and bit-identical values (absent values compare equal to each other).
    fn eq(&self, other: &Self) -> bool {
        self.cycle == other.cycle
            && self
                .values
                .iter()
                .zip(&other.values)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl CycleReading {
    /// Positional form of a transport's reading; `index` is its place in the message (for error reports).
    pub fn from_reading(cycle: u64, reading: &Reading, index: usize) -> Result<Self, FleetError> {
        let mut values = [f64::NAN; VALUES];
        for (i, value) in reading.sensors.iter().enumerate() {
            let Some(value) = value else { continue };
            if !value.is_finite() {
                return Err(FleetError::invalid(
                    Some(index),
                    SENSOR_NAMES[i],
                    "must be a finite number",
                ));
            }
            values[i] = *value;
        }
        if let Some(settings) = reading.settings {
            for (k, v) in settings.iter().enumerate() {
                if !v.is_finite() {
                    let field = rul_data::SETTING_NAMES[k];
                    return Err(FleetError::invalid(
                        Some(index),
                        field,
                        "must be a finite number",
                    ));
                }
                values[SENSOR_NAMES.len() + k] = *v;
            }
        }
        Ok(CycleReading { cycle, values })
    }

    /// The form the prediction core takes, with every sensor sent.
    pub fn to_reading(&self) -> Reading {
        self.to_reading_for(&SENSOR_NAMES.map(String::from))
    }

    /// The core's form with only `inputs` (the model's sensors): engines may report more than a model uses.
    pub fn to_reading_for(&self, inputs: &[String]) -> Reading {
        let mut reading = Reading::default();
        for name in inputs {
            if let Some(i) = sensor_index(name) {
                let v = self.values[i];
                reading.sensors[i] = (!v.is_nan()).then_some(v);
            }
        }
        let s = &self.values[SENSOR_NAMES.len()..];
        reading.settings = (!s.iter().any(|v| v.is_nan())).then(|| [s[0], s[1], s[2]]);
        reading
    }

    /// The values as JSON (null = absent), the store's encoding.
    pub fn values_json(&self) -> String {
        let v: Vec<Option<f64>> = self
            .values
            .iter()
            .map(|x| (!x.is_nan()).then_some(*x))
            .collect();
        serde_json::to_string(&v).unwrap_or_else(|_| "[]".into())
    }

    /// Parses the store's encoding.
    pub fn from_json(cycle: u64, text: &str) -> Result<Self, FleetError> {
        let v: Vec<Option<f64>> = serde_json::from_str(text)
            .map_err(|e| FleetError::Store(format!("stored reading of cycle {cycle}: {e}")))?;
        if v.len() != VALUES {
            return Err(FleetError::Store(format!(
                "stored reading of cycle {cycle} has {} values, expected {VALUES}",
                v.len()
            )));
        }
        let mut values = [f64::NAN; VALUES];
        for (slot, x) in values.iter_mut().zip(v) {
            *slot = x.unwrap_or(f64::NAN);
        }
        Ok(CycleReading { cycle, values })
    }

    /// The values by name (what `GET /engines/{id}/readings` returns).
    pub fn named(&self) -> BTreeMap<&'static str, f64> {
        SENSOR_NAMES
            .iter()
            .chain(rul_data::SETTING_NAMES.iter())
            .zip(&self.values)
            .filter(|(_, v)| !v.is_nan())
            .map(|(n, v)| (*n, *v))
            .collect()
    }
}

/// Metadata a client attaches to an engine (`PUT /engines/{id}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineMeta {
    /// Free-form tags used to filter the fleet (e.g. "fleet-a", "wing-left").
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form key/value labels (e.g. {"operator": "acme"}).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl EngineMeta {
    /// Checks sizes and characters (tags and labels are shown to people and used in queries).
    pub fn validate(&self) -> Result<(), FleetError> {
        if self.tags.len() > MAX_TAGS || self.labels.len() > MAX_TAGS {
            return Err(FleetError::invalid(
                None,
                "tags",
                format!("at most {MAX_TAGS} tags and {MAX_TAGS} labels"),
            ));
        }
        let text_ok = |s: &str| {
            !s.is_empty()
                && s.chars().count() <= MAX_TAG_CHARS
                && s.chars().all(rul_core::engine_id_char_allowed)
        };
        if let Some(bad) = self.tags.iter().find(|t| !text_ok(t)) {
            return Err(FleetError::invalid(
                None,
                "tags",
                format!(
                    "tag {:?} must be 1..={MAX_TAG_CHARS} characters allowed in engine ids",
                    clip(bad)
                ),
            ));
        }
        if let Some((k, _)) = self.labels.iter().find(|(k, v)| !text_ok(k) || !text_ok(v)) {
            return Err(FleetError::invalid(
                None,
                "labels",
                format!(
                    "label {:?}: keys and values must be 1..={MAX_TAG_CHARS} characters allowed in engine ids",
                    clip(k)
                ),
            ));
        }
        Ok(())
    }
}

/// At most 64 characters of client text, for echoing in errors.
fn clip(s: &str) -> String {
    s.chars().take(MAX_TAG_CHARS).collect()
}

/// The tracked prediction after one cycle: what ingestion answers and the trajectory stores; REST sends it
/// as it is (schema `TrackedBody`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = TrackedBody))]
pub struct TrackedPrediction {
    /// The engine.
    pub engine_id: String,
    /// Cycle of the reading this prediction follows.
    pub cycle: u64,
    /// Tracked RUL (cycles): the model's estimates fused over cycles.
    pub rul: f64,
    /// Interval of the tracked RUL.
    pub lower: f64,
    /// Interval of the tracked RUL.
    pub upper: f64,
    /// Nominal coverage of both intervals.
    pub level: f64,
    /// The model's own estimate for this cycle (what `/predict` on the same history answers).
    pub rul_model: f64,
    /// The model's calibrated interval around `rul_model`.
    pub model_lower: f64,
    /// The model's calibrated interval around `rul_model`.
    pub model_upper: f64,
    /// Calibrated probability that the true RUL is within the model's tolerance of `rul_model`.
    pub confidence: f64,
    /// Model that produced `rul_model`.
    pub model_version: String,
    /// When it was computed (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
    /// Tracker state after this cycle (mean, variance), persisted so a restart resumes exactly.
    #[serde(skip)]
    pub track: crate::tracker::TrackState,
    /// Data-quality flags of the reading this prediction follows (none = nothing suspicious).
    pub quality: crate::quality::Quality,
}

/// Missing cycles between two accepted readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// Last cycle before the gap.
    pub after_cycle: u64,
    /// How many cycles are missing.
    pub missing: u64,
}

/// What one ingest message did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IngestReport {
    /// The engine.
    pub engine_id: String,
    /// Readings newly stored.
    pub accepted: usize,
    /// Readings already stored with the same values (redeliveries), acknowledged and ignored.
    pub duplicates: usize,
    /// Gaps the new readings left.
    pub gaps: Vec<Gap>,
    /// Whether the latest model window had to be padded (fewer readings than the window so far).
    pub padded: bool,
    /// Whether the latest reading's operating settings matched no known condition.
    pub unknown_condition: bool,
    /// The engine's latest tracked prediction (None only if it has never had an accepted reading).
    pub prediction: Option<TrackedPrediction>,
}

/// One engine as the fleet API lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineView {
    /// The engine.
    pub engine_id: String,
    /// Tags and labels.
    #[serde(flatten)]
    pub meta: EngineMeta,
    /// First and last accepted cycles (None before the first reading).
    pub first_cycle: Option<u64>,
    /// Last accepted cycle.
    pub last_cycle: Option<u64>,
    /// Readings accepted.
    pub readings: u64,
    /// Cycles missing between accepted readings.
    pub missing_cycles: u64,
    /// Registration time (RFC 3339).
    pub registered: String,
    /// Latest tracked prediction.
    pub latest: Option<TrackedPrediction>,
    /// Whether the engine's recent inputs left the training distribution (None without a training profile
    /// or before enough readings).
    pub drift: Option<rul_data::Drift>,
}

/// How `list` orders engines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// Tracked interval's lower bound, most urgent first (engines without a prediction last).
    #[default]
    LowerBound,
    /// Tracked RUL, lowest first.
    Rul,
    /// Engine id.
    EngineId,
}

/// Filters and paging of `list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    /// Only engines carrying this tag.
    pub tag: Option<String>,
    /// Order.
    pub sort: SortKey,
    /// Engines to skip.
    pub offset: usize,
    /// Engines to return (1..=1000).
    pub limit: usize,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            tag: None,
            sort: SortKey::LowerBound,
            offset: 0,
            limit: 100,
        }
    }
}

/// A page of engines.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnginePage {
    /// Engines matching the filter (before paging).
    pub total: usize,
    /// This page.
    pub engines: Vec<EngineView>,
}

/// A stored reading as the history API returns it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredReading {
    /// Cycle.
    pub cycle: u64,
    /// Values by name.
    pub values: BTreeMap<&'static str, f64>,
}

/// Current time in milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub use rul_data::time::rfc3339_ms;

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> Reading {
        Reading::from_named([("s2", 642.5), ("s21", 23.4)], Some([0.1, 0.2, 100.0]))
    }

    #[test]
    fn positional_round_trip_through_the_store_encoding() {
        let r = CycleReading::from_reading(7, &reading(), 0).unwrap();
        assert_eq!(r.values[1], 642.5);
        assert!(r.values[0].is_nan());
        let back = CycleReading::from_json(7, &r.values_json()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.to_reading(), reading());
    }

    #[test]
    fn non_finite_values_are_refused_with_their_name() {
        let mut bad = reading();
        bad.sensors[1] = Some(f64::INFINITY);
        let err = CycleReading::from_reading(1, &bad, 3).unwrap_err();
        assert!(err.public_message().contains("s2"), "{err}");
        let mut setting = reading();
        setting.settings = Some([0.1, f64::NAN, 100.0]);
        let err = CycleReading::from_reading(1, &setting, 0).unwrap_err();
        assert!(err.public_message().contains("setting_2"), "{err}");
    }

    #[test]
    fn equality_is_bitwise_and_treats_absent_values_alike() {
        let a = CycleReading::from_reading(1, &reading(), 0).unwrap();
        let mut b = a;
        assert_eq!(a, b);
        b.values[1] = 642.500_000_000_001;
        assert_ne!(a, b);
    }

    #[test]
    fn meta_rules() {
        assert!(EngineMeta::default().validate().is_ok());
        let long = EngineMeta {
            tags: vec!["x".repeat(MAX_TAG_CHARS + 1)],
            ..Default::default()
        };
        assert!(long.validate().is_err());
        let control = EngineMeta {
            labels: [("k".to_string(), "a\nb".to_string())].into(),
            ..Default::default()
        };
        assert!(control.validate().is_err());
    }
}
