//! The fitted preprocessor: sensor selection, operating conditions, scaling, windowing and input
//! validation, saved as a versioned, checksummed JSON file that training and serving both load.

use crate::conditions::Conditions;
use crate::error::DataError;
use crate::reader::Engine;
use crate::scaler::{Scaler, ScalerKind};
use crate::schema::{SETTING_NAMES, Subset, sensor_index};
use crate::validate::{Bound, MAX_READINGS, Reading, ValidationError, Violations, check_value};
use crate::window::{Padding, Windows, push_window};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

const FORMAT: &str = "rul-preprocessor";
const FORMAT_VERSION: u32 = 1;
/// Longest window accepted: readings per request bound it anyway.
const MAX_WINDOW: usize = MAX_READINGS;

/// What to fit: which sensors, window length, label ceiling, scaler and padding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreprocessorConfig {
    pub sensors: Vec<String>,
    pub window: usize,
    pub ceiling: f64,
    pub scaler: ScalerKind,
    /// Normalise per operating condition (FD002/FD004); readings must then carry the settings.
    pub per_condition: bool,
    #[serde(default)]
    pub padding: Padding,
}

impl Default for PreprocessorConfig {
    fn default() -> Self {
        PreprocessorConfig {
            sensors: crate::DEFAULT_SENSORS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            window: 30,
            ceiling: 125.0,
            scaler: ScalerKind::MinMax,
            per_condition: false,
            padding: Padding::Edge,
        }
    }
}

impl PreprocessorConfig {
    /// Literature defaults per subset: windows 30/20/30/15; per-condition z-scores for FD002/FD004.
    pub fn for_subset(subset: Subset) -> Self {
        let window = match subset {
            Subset::FD001 | Subset::FD003 => 30,
            Subset::FD002 => 20,
            Subset::FD004 => 15,
        };
        PreprocessorConfig {
            window,
            per_condition: subset.multi_condition(),
            scaler: if subset.multi_condition() {
                ScalerKind::ZScore
            } else {
                ScalerKind::MinMax
            },
            ..Default::default()
        }
    }

    /// Checks the sensor list, window and ceiling.
    pub fn check(&self) -> Result<(), DataError> {
        let bad = |m: String| Err(DataError::InvalidConfig(m));
        if self.sensors.is_empty() {
            return bad("at least one sensor is needed".into());
        }
        for (i, s) in self.sensors.iter().enumerate() {
            if sensor_index(s).is_none() {
                return bad(format!(
                    "{s:?} is not a sensor (expected s1..s21; settings are not sensors)"
                ));
            }
            if self.sensors[..i].contains(s) {
                return bad(format!("sensor {s} is listed twice"));
            }
        }
        if self.window == 0 || self.window > MAX_WINDOW {
            return bad(format!(
                "window must be 1..={MAX_WINDOW}, got {}",
                self.window
            ));
        }
        if !(self.ceiling.is_finite() && self.ceiling > 0.0) {
            return bad(format!(
                "ceiling must be a positive number, got {}",
                self.ceiling
            ));
        }
        Ok(())
    }
}

/// The serving path's model input for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// `window × n_features` values.
    pub input: Vec<f32>,
    /// Leading cycles filled by padding (0 when the history covered the window).
    pub padded_cycles: usize,
    /// Some reading's settings matched no training condition (the nearest was used).
    pub unknown_condition: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Body {
    config: PreprocessorConfig,
    conditions: Conditions,
    scaler: Scaler,
    sensor_bounds: Vec<Bound>,
    setting_bounds: Vec<Bound>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    format_version: u32,
    sha256: String,
    body: Body,
}

/// Everything fitted on training engines that turns readings into model input.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessor {
    body: Body,
    sensor_idx: Vec<usize>,
    /// Bit `p` set when sensor position `p` is an input: a reading carrying exactly these is well formed.
    input_mask: u32,
}

/// Positions (in [`SENSOR_NAMES`](crate::SENSOR_NAMES) order) of the named sensors, and their bit mask.
fn input_positions(sensors: &[String]) -> (Vec<usize>, u32) {
    let idx: Vec<usize> = sensors.iter().filter_map(|s| sensor_index(s)).collect();
    let mask = idx.iter().fold(0u32, |m, &p| m | (1 << p));
    (idx, mask)
}

impl Preprocessor {
    /// Fits conditions, scaler and plausible bounds on `train` engines.
    pub fn fit(config: PreprocessorConfig, train: &[Engine]) -> Result<Self, DataError> {
        config.check()?;
        let (sensor_idx, input_mask) = input_positions(&config.sensors);
        let rows: Vec<_> = train.iter().flat_map(|e| e.cycles.iter()).collect();
        if rows.is_empty() {
            return Err(DataError::InvalidConfig(
                "no training rows to fit on".into(),
            ));
        }
        let settings: Vec<[f64; 3]> = rows.iter().map(|c| c.settings).collect();
        let conditions = if config.per_condition {
            Conditions::fit(&settings)
        } else {
            Conditions::single(&settings)
        };
        let features: Vec<(usize, Vec<f64>)> = rows
            .iter()
            .map(|c| {
                let k = if config.per_condition {
                    conditions.assign(&c.settings).index
                } else {
                    0
                };
                (k, sensor_idx.iter().map(|&i| c.sensors[i]).collect())
            })
            .collect();
        let scaler = Scaler::fit(config.scaler, conditions.len(), sensor_idx.len(), &features);
        let range = |values: &mut dyn Iterator<Item = f64>| {
            values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
        };
        let sensor_bounds = config
            .sensors
            .iter()
            .zip(&sensor_idx)
            .map(|(name, &i)| {
                let (lo, hi) = range(&mut rows.iter().map(|c| c.sensors[i]));
                Bound::from_range(name, lo, hi)
            })
            .collect();
        let setting_bounds = SETTING_NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (lo, hi) = range(&mut rows.iter().map(|c| c.settings[i]));
                Bound::from_range(name, lo, hi)
            })
            .collect();
        Ok(Preprocessor {
            body: Body {
                config,
                conditions,
                scaler,
                sensor_bounds,
                setting_bounds,
            },
            sensor_idx,
            input_mask,
        })
    }

    pub fn config(&self) -> &PreprocessorConfig {
        &self.body.config
    }

    pub fn window(&self) -> usize {
        self.body.config.window
    }

    pub fn n_features(&self) -> usize {
        self.sensor_idx.len()
    }

    /// The fitted operating conditions (one for single-regime fits).
    pub fn conditions(&self) -> &Conditions {
        &self.body.conditions
    }

    /// Plausible per-sensor ranges used by [`Preprocessor::prepare`].
    pub fn sensor_bounds(&self) -> &[Bound] {
        &self.body.sensor_bounds
    }

    fn condition_of(&self, settings: &[f64; 3]) -> (usize, bool) {
        if self.body.config.per_condition {
            let a = self.body.conditions.assign(settings);
            (a.index, a.known)
        } else {
            (0, true)
        }
    }

    /// Normalises every cycle of an engine into `rows × n_features` values.
    pub fn normalise_engine(&self, engine: &Engine) -> Vec<f32> {
        let f = self.n_features();
        let mut out = vec![0f32; engine.cycles.len() * f];
        let mut raw = vec![0f64; f];
        for (c, row) in engine.cycles.iter().zip(out.chunks_mut(f)) {
            for (r, &i) in raw.iter_mut().zip(&self.sensor_idx) {
                *r = c.sensors[i];
            }
            let (k, _) = self.condition_of(&c.settings);
            self.body.scaler.apply(k, &raw, row);
        }
        out
    }

    /// Every sliding window of every engine (a series shorter than the window gives one padded
    /// window); the target is the label at the window's last cycle.
    pub fn windows(&self, engines: &[Engine], labels: &[Vec<f64>]) -> Windows {
        self.collect_windows(engines, labels, false)
    }

    /// One window per engine, ending at its last cycle (the official test evaluation).
    pub fn last_windows(&self, engines: &[Engine], labels: &[Vec<f64>]) -> Windows {
        self.collect_windows(engines, labels, true)
    }

    fn collect_windows(&self, engines: &[Engine], labels: &[Vec<f64>], last_only: bool) -> Windows {
        let (w, f) = (self.window(), self.n_features());
        let mut out = Windows::empty(w, f);
        for (engine, labels) in engines.iter().zip(labels) {
            let n = engine.cycles.len().min(labels.len());
            if n == 0 {
                continue;
            }
            let series = self.normalise_engine(engine);
            let first_end = if last_only { n - 1 } else { w.min(n) - 1 };
            for (end, label) in labels.iter().enumerate().take(n).skip(first_end) {
                if push_window(&series, f, end, w, &mut out.inputs) > 0 {
                    out.padded += 1;
                }
                out.targets.push(*label as f32);
                out.engine_of.push(engine.unit);
                out.count += 1;
            }
        }
        out
    }

    /// Validates serving readings and builds the window ending at the last one.
    pub fn prepare(&self, readings: &[Reading]) -> Result<Prepared, ValidationError> {
        if readings.is_empty() || readings.len() > MAX_READINGS {
            return Err(ValidationError::single(
                None,
                Some("sensor_data"),
                format!(
                    "expected 1 to {MAX_READINGS} readings, got {}",
                    readings.len()
                ),
            ));
        }
        // The common case costs one pass of comparisons; only a failing request pays for the messages.
        if !readings.iter().all(|r| self.is_well_formed(r)) {
            let mut violations = Violations::default();
            for (i, reading) in readings.iter().enumerate() {
                if violations.full() {
                    break;
                }
                self.check_reading(i, reading, &mut violations);
            }
            violations.into_result()?;
        }
        let (f, w) = (self.n_features(), self.window());
        let start = readings.len().saturating_sub(w);
        let used = &readings[start..];
        let mut series = vec![0f32; used.len() * f];
        let mut raw = [0f64; crate::SENSOR_NAMES.len()];
        let mut unknown_condition = false;
        for (reading, row) in used.iter().zip(series.chunks_mut(f)) {
            let (k, known) = match reading.settings {
                Some(s) => self.condition_of(&s),
                None => (0, true),
            };
            unknown_condition |= !known;
            for (r, &p) in raw.iter_mut().zip(&self.sensor_idx) {
                *r = reading.sensors[p].unwrap_or(0.0);
            }
            self.body.scaler.apply(k, &raw[..f], row);
        }
        let mut input = Vec::with_capacity(w * f);
        let padded_cycles = push_window(&series, f, used.len() - 1, w, &mut input);
        Ok(Prepared {
            input,
            padded_cycles,
            unknown_condition,
        })
    }

    /// Whether `reading` passes every rule of [`Preprocessor::check_reading`]: exactly the model's sensors, each
    /// finite and within its bounds, settings present when the model needs them and within theirs.
    fn is_well_formed(&self, reading: &Reading) -> bool {
        let present = (reading.sensors.iter().enumerate())
            .fold(0u32, |m, (p, v)| m | (u32::from(v.is_some()) << p));
        let sensors_ok = present == self.input_mask
            && (self.sensor_idx.iter().zip(&self.body.sensor_bounds))
                .all(|(&p, b)| reading.sensors[p].is_some_and(|v| b.admits(v)));
        let settings_ok = match reading.settings {
            Some(s) => s
                .iter()
                .zip(&self.body.setting_bounds)
                .all(|(&v, b)| b.admits(v)),
            None => !self.body.config.per_condition,
        };
        sensors_ok && settings_ok
    }

    /// Records every rule `reading` (index `i`) breaks.
    fn check_reading(&self, i: usize, reading: &Reading, v: &mut Violations) {
        for (position, value) in reading.sensors.iter().enumerate() {
            if value.is_some() && self.input_mask & (1 << position) == 0 {
                let name = crate::SENSOR_NAMES[position];
                v.push(Some(i), Some(name), "is not an input of this model".into());
            }
        }
        let names = &self.body.config.sensors;
        for (j, (&position, name)) in self.sensor_idx.iter().zip(names).enumerate() {
            match reading.sensors[position] {
                Some(value) => check_value(v, i, &self.body.sensor_bounds[j], value),
                None => v.push(Some(i), Some(name), "is missing".into()),
            }
        }
        match reading.settings {
            Some(s) => {
                for (b, value) in self.body.setting_bounds.iter().zip(s) {
                    check_value(v, i, b, value);
                }
            }
            None if self.body.config.per_condition => v.push(
                Some(i),
                Some("setting_1"),
                "operating settings (setting_1..3) are required by this model".into(),
            ),
            None => {}
        }
    }

    /// The versioned, checksummed JSON form.
    pub fn to_json(&self) -> String {
        let body_json = serde_json::to_string(&self.body).unwrap_or_default();
        let file = File {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            sha256: hex::encode(Sha256::digest(body_json.as_bytes())),
            body: self.body.clone(),
        };
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Parses and validates the JSON form; `origin` names the source in errors.
    pub fn from_json_named(text: &str, origin: &str) -> Result<Self, DataError> {
        let err = |problem: String| DataError::Preprocessor {
            path: origin.to_string(),
            problem,
        };
        let file: File = serde_json::from_str(text)
            .map_err(|e| err(format!("not a valid preprocessor file: {e}")))?;
        if file.format != FORMAT {
            return Err(err(format!(
                "format is {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        if file.format_version != FORMAT_VERSION {
            return Err(err(format!(
                "format version {} is not supported (expected {FORMAT_VERSION})",
                file.format_version
            )));
        }
        let body_json = serde_json::to_string(&file.body).map_err(|e| err(e.to_string()))?;
        if hex::encode(Sha256::digest(body_json.as_bytes())) != file.sha256 {
            return Err(err(
                "checksum mismatch: the file was modified after it was written".into(),
            ));
        }
        let body = file.body;
        body.config.check().map_err(|e| err(e.to_string()))?;
        let (sensor_idx, input_mask) = input_positions(&body.config.sensors);
        if body.conditions.is_empty() || (!body.config.per_condition && body.conditions.len() != 1)
        {
            return Err(err(
                "condition centroids are inconsistent with the configuration".into(),
            ));
        }
        body.scaler
            .check(body.conditions.len(), sensor_idx.len())
            .map_err(err)?;
        let names_match = body.sensor_bounds.len() == sensor_idx.len()
            && body
                .sensor_bounds
                .iter()
                .zip(&body.config.sensors)
                .all(|(b, s)| &b.name == s)
            && body.setting_bounds.len() == 3;
        let finite = body
            .sensor_bounds
            .iter()
            .chain(&body.setting_bounds)
            .all(|b| b.min.is_finite() && b.max.is_finite() && b.min <= b.max);
        if !names_match || !finite {
            return Err(err(
                "input bounds are inconsistent with the sensor list".into()
            ));
        }
        Ok(Preprocessor {
            body,
            sensor_idx,
            input_mask,
        })
    }

    /// Parses and validates the JSON form.
    pub fn from_json(text: &str) -> Result<Self, DataError> {
        Self::from_json_named(text, "<json>")
    }

    /// Writes the JSON form to `path`.
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        std::fs::write(path, self.to_json()).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads and validates a file written by [`Preprocessor::save`].
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json_named(&text, &path.display().to_string())
    }
}

#[cfg(test)]
#[path = "preprocessor_tests.rs"]
mod tests;
