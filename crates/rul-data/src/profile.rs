//! The training distribution of a model's inputs (`inputs.json` beside the artifact): per-condition ranges,
//! means and spreads, how long a value stayed unchanged and how far it moved between cycles, decile edges and
//! the inverse covariance. Serving uses it to flag suspicious readings and to score drift; it is fitted on the
//! training file only, so figures measured on the test files stay honest.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::conditions::Conditions;
use crate::error::DataError;
use crate::preprocessor::Preprocessor;
use crate::reader::Engine;
use crate::schema::{SENSOR_NAMES, sensor_index};

/// File name of the profile inside a model directory.
pub const PROFILE_FILE: &str = "inputs.json";
const FORMAT: &str = "rul-input-profile";
const FORMAT_VERSION: u32 = 1;
/// Readings whose mean the drift score compares with training (the shipped models' longest window).
pub const DRIFT_WINDOW: usize = 30;
/// Fewest readings before an engine's drift is scored: a handful of noisy readings says little.
pub const DRIFT_MIN_READINGS: usize = 10;
/// Values per positional reading: s1..s21 then setting_1..setting_3 (the fleet's layout).
pub const POSITIONS: usize = 24;

/// One input's training statistics within one operating condition.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SensorStats {
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

/// What the profile was fitted on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSource {
    /// Data the statistics come from, e.g. "train_FD001".
    pub data: String,
    pub engines: usize,
    pub readings: usize,
}

/// The fitted training distribution of a model's inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputProfile {
    format: String,
    format_version: u32,
    /// The model's input sensors, in model order.
    pub sensors: Vec<String>,
    /// Operating conditions (one for single-condition models); statistics are per condition.
    pub conditions: Conditions,
    /// `stats[condition][sensor]`.
    pub stats: Vec<Vec<SensorStats>>,
    /// Longest run of one unchanged value per sensor in training (cycles).
    pub longest_run: Vec<usize>,
    /// Largest change between consecutive cycles per sensor, in training standard deviations.
    pub max_step: Vec<f64>,
    /// Nine decile edges per sensor of the standardised training values (the fleet's PSI bins).
    pub deciles: Vec<Vec<f64>>,
    /// Share of the training values in each of the ten bins per sensor: about 10 % each, but not for an input
    /// with few distinct values (an integer-valued sensor), where ties pile up on an edge.
    pub shares: Vec<Vec<f64>>,
    /// Inverse covariance of the standardised values (Mahalanobis drift score).
    pub precision: Vec<Vec<f64>>,
    /// Readings averaged by the drift score.
    pub drift_window: usize,
    /// Fewest readings before drift is scored.
    pub drift_min_readings: usize,
    /// Largest drift score over every window of every training engine: above it, an engine has left the
    /// training distribution.
    pub drift_threshold: f64,
    pub source: ProfileSource,
    #[serde(skip)]
    positions: Vec<usize>,
}

impl InputProfile {
    /// Fits the profile of `preprocessor`'s inputs on `engines` (the training file).
    pub fn fit(
        preprocessor: &Preprocessor,
        engines: &[Engine],
        data: &str,
    ) -> Result<Self, DataError> {
        let sensors = preprocessor.config().sensors.clone();
        let conditions = if preprocessor.config().per_condition {
            preprocessor.conditions().clone()
        } else {
            Conditions {
                centroids: vec![[0.0; 3]],
            }
        };
        let mut profile = InputProfile {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            positions: positions(&sensors)?,
            sensors,
            conditions,
            stats: Vec::new(),
            longest_run: Vec::new(),
            max_step: Vec::new(),
            deciles: Vec::new(),
            shares: Vec::new(),
            precision: Vec::new(),
            drift_window: DRIFT_WINDOW,
            drift_min_readings: DRIFT_MIN_READINGS,
            drift_threshold: 0.0,
            source: ProfileSource {
                data: data.into(),
                engines: engines.len(),
                readings: engines.iter().map(|e| e.cycles.len()).sum(),
            },
        };
        let rows: Vec<Vec<[f64; POSITIONS]>> = engines
            .iter()
            .map(|e| e.cycles.iter().map(positional).collect())
            .collect();
        fit::statistics(&mut profile, &rows)?;
        profile.check().map_err(invalid)?;
        Ok(profile)
    }

    /// The profile in `dir`, or None when the model ships without one.
    pub fn for_model_dir(dir: &Path) -> Result<Option<Self>, DataError> {
        let path = dir.join(PROFILE_FILE);
        if !path.exists() {
            return Ok(None);
        }
        Self::load(&path).map(Some)
    }

    /// Reads and validates a saved profile.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let fail = |problem: String| DataError::Preprocessor {
            path: path.display().to_string(),
            problem,
        };
        let mut profile: InputProfile =
            serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
        profile.positions = positions(&profile.sensors).map_err(|e| fail(e.to_string()))?;
        profile.check().map_err(fail)?;
        Ok(profile)
    }

    /// Writes the JSON form.
    pub fn save(&self, path: &Path) -> Result<(), DataError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| invalid(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// The inputs' positions in a positional reading (s1 = 0).
    pub fn positions(&self) -> &[usize] {
        &self.positions
    }

    /// The statistics that apply to a positional reading (its operating condition's), or None when a needed
    /// setting is absent.
    pub fn stats_for(&self, values: &[f64; POSITIONS]) -> Option<&[SensorStats]> {
        let k = if self.stats.len() == 1 {
            0
        } else {
            let s = [values[21], values[22], values[23]];
            if s.iter().any(|v| v.is_nan()) {
                return None;
            }
            self.conditions.assign(&s).index
        };
        self.stats.get(k).map(Vec::as_slice)
    }

    /// The reading's inputs in training standard deviations from their condition's mean; None when an input
    /// or a needed setting is absent.
    pub fn standardise(&self, values: &[f64; POSITIONS]) -> Option<Vec<f64>> {
        let stats = self.stats_for(values)?;
        self.positions
            .iter()
            .zip(stats)
            .map(|(&p, s)| {
                let v = values[p];
                (!v.is_nan()).then(|| (v - s.mean) / s.std)
            })
            .collect()
    }

    /// The PSI bin (0..10) of input `j`'s standardised value `z`: the number of decile edges below it.
    pub fn bin(&self, j: usize, z: f64) -> usize {
        self.deciles
            .get(j)
            .map_or(0, |edges| edges.iter().take_while(|e| z > **e).count())
    }

    /// Mahalanobis length of a mean standardised vector under the training covariance.
    pub fn distance(&self, mean: &[f64]) -> f64 {
        let mut sum = 0.0;
        for (row, a) in self.precision.iter().zip(mean) {
            let dot: f64 = row.iter().zip(mean).map(|(p, b)| p * b).sum();
            sum += a * dot;
        }
        sum.max(0.0).sqrt()
    }

    /// The drift of the last `drift_window` standardised readings (oldest first): the Mahalanobis length of
    /// their mean and the input that moved most. None with fewer than `drift_min_readings`.
    pub fn drift(&self, recent: &[Vec<f64>]) -> Option<Drift> {
        let take = recent.len().min(self.drift_window);
        if take < self.drift_min_readings.max(1) {
            return None;
        }
        let window = &recent[recent.len() - take..];
        let n = self.sensors.len();
        let mut mean = vec![0.0; n];
        for z in window {
            for (m, v) in mean.iter_mut().zip(z) {
                *m += v / take as f64;
            }
        }
        let (top, shift) = mean
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, v)| (i, *v))?;
        let score = self.distance(&mean);
        Some(Drift {
            score,
            drifting: score > self.drift_threshold,
            sensor: self.sensors[top].clone(),
            shift,
        })
    }

    /// Dimensions, finiteness and positivity of every statistic.
    fn check(&self) -> Result<(), String> {
        if self.format != FORMAT || self.format_version != FORMAT_VERSION {
            return Err(format!(
                "not a {FORMAT} v{FORMAT_VERSION} file (format {:?} v{})",
                self.format, self.format_version
            ));
        }
        let n = self.sensors.len();
        let k = self.conditions.centroids.len();
        let shaped = n > 0
            && self.stats.len() == k
            && self.stats.iter().all(|s| s.len() == n)
            && self.longest_run.len() == n
            && self.max_step.len() == n
            && self.deciles.len() == n
            && self.deciles.iter().all(|d| d.len() == 9)
            && self.shares.len() == n
            && self.shares.iter().all(|d| d.len() == 10)
            && self.precision.len() == n
            && self.precision.iter().all(|r| r.len() == n);
        if !shaped {
            return Err("statistics do not match the sensor and condition counts".into());
        }
        let finite =
            self.stats.iter().flatten().all(|s| {
                [s.mean, s.std, s.min, s.max].iter().all(|v| v.is_finite()) && s.std > 0.0
            }) && self.max_step.iter().all(|v| v.is_finite())
                && self.deciles.iter().flatten().all(|v| v.is_finite())
                && self.shares.iter().all(|s| {
                    s.iter().all(|v| (0.0..=1.0).contains(v))
                        && (s.iter().sum::<f64>() - 1.0).abs() < 1e-6
                })
                && self.precision.iter().flatten().all(|v| v.is_finite())
                && self.drift_threshold.is_finite()
                && self.drift_threshold > 0.0
                && self.drift_window > 0;
        if !finite {
            return Err("a statistic is not finite or a spread is not positive".into());
        }
        Ok(())
    }
}

/// One engine's drift: how far its recent inputs sit from the training distribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// Mahalanobis length of the recent readings' mean (training standard deviations).
    pub score: f64,
    /// Whether `score` exceeds the profile's threshold.
    pub drifting: bool,
    /// The input whose mean moved most.
    pub sensor: String,
    /// That input's mean shift in training standard deviations (signed).
    pub shift: f64,
}

/// A data-file cycle in the positional layout.
pub fn positional(c: &crate::reader::Cycle) -> [f64; POSITIONS] {
    let mut v = [0.0; POSITIONS];
    v[..21].copy_from_slice(&c.sensors);
    v[21..].copy_from_slice(&c.settings);
    v
}

fn positions(sensors: &[String]) -> Result<Vec<usize>, DataError> {
    sensors
        .iter()
        .map(|s| {
            sensor_index(s)
                .filter(|&i| i < SENSOR_NAMES.len())
                .ok_or_else(|| invalid(format!("{s:?} is not a sensor")))
        })
        .collect()
}

fn invalid(problem: String) -> DataError {
    DataError::InvalidConfig(format!("input profile: {problem}"))
}

mod fit;

#[cfg(test)]
mod tests;
