//! The declared search space: a base training configuration plus named parameters, each
//! setting one dotted path of the configuration from a float, int or categorical distribution.
//! Loaded from TOML (`spaces/plan.toml` is the default, the plan's Optuna space).

use std::collections::BTreeMap;
use std::path::Path;

use rul_data::Subset;
use rul_model::TrainConfig;
use rul_model::model::{ConvLstmConfig, LstmConfig, ModelConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::TuneError;

/// The default space's TOML text (the plan's LSTM space).
pub const PLAN_SPACE: &str = include_str!("../spaces/plan.toml");

/// A search space.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SearchSpace {
    /// Partial training configuration merged onto the subset's defaults before parameters apply.
    #[serde(default = "empty_object")]
    pub base: Value,
    /// The searched parameters, in order.
    #[serde(rename = "param")]
    pub params: Vec<ParamSpec>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// Distribution family of one parameter.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// Real number in `[low, high]`.
    Float,
    /// Integer in `[low, high]`.
    Int,
    /// One of `choices`.
    Categorical,
}

/// One searched parameter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// Name shown in tables and recorded with each trial.
    pub name: String,
    /// Dotted path into the training configuration (`model.lstm.0`, `learning_rate`).
    pub path: String,
    /// Distribution family.
    #[serde(rename = "type")]
    pub kind: ParamKind,
    /// Lower bound (float, int).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    /// Upper bound, inclusive (float, int).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// Sample log-uniformly (float, int; needs `low > 0`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log: bool,
    /// The values to choose from (categorical).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<Value>>,
}

impl ParamSpec {
    /// `(low, high)` of a numeric parameter, checked.
    pub fn bounds(&self) -> Result<(f64, f64), String> {
        let (Some(low), Some(high)) = (self.low, self.high) else {
            return Err(format!("parameter {}: needs low and high", self.name));
        };
        if !(low.is_finite() && high.is_finite() && low < high) {
            return Err(format!(
                "parameter {}: needs finite low < high, got {low} and {high}",
                self.name
            ));
        }
        if self.log && low <= 0.0 {
            return Err(format!("parameter {}: log scale needs low > 0", self.name));
        }
        if self.kind == ParamKind::Int && (low.fract() != 0.0 || high.fract() != 0.0) {
            return Err(format!("parameter {}: int bounds must be whole", self.name));
        }
        Ok((low, high))
    }

    fn check(&self) -> Result<(), String> {
        match self.kind {
            ParamKind::Float | ParamKind::Int => {
                if self.choices.is_some() {
                    return Err(format!(
                        "parameter {}: choices are for categorical",
                        self.name
                    ));
                }
                self.bounds().map(|_| ())
            }
            ParamKind::Categorical => match &self.choices {
                Some(c) if !c.is_empty() => {
                    if self.low.is_some() || self.high.is_some() || self.log {
                        Err(format!(
                            "parameter {}: categorical takes choices only",
                            self.name
                        ))
                    } else {
                        Ok(())
                    }
                }
                _ => Err(format!("parameter {}: needs non-empty choices", self.name)),
            },
        }
    }
}

/// Which end of the ranges [`SearchSpace::check`] tries.
#[derive(Clone, Copy, Debug)]
enum Bound {
    Low,
    High,
}

impl ParamSpec {
    fn end_value(&self, end: Bound) -> Value {
        let number = match end {
            Bound::Low => self.low,
            Bound::High => self.high,
        };
        match (self.kind, &self.choices) {
            (ParamKind::Categorical, Some(c)) => {
                let pick = match end {
                    Bound::Low => c.first(),
                    Bound::High => c.last(),
                };
                pick.cloned().unwrap_or(Value::Null)
            }
            (ParamKind::Int, _) => Value::from(number.unwrap_or_default() as i64),
            _ => Value::from(number.unwrap_or_default()),
        }
    }
}

impl SearchSpace {
    /// The plan's space (`spaces/plan.toml`).
    pub fn plan() -> Self {
        // The embedded file is checked by a test; a broken one could only come from a bad edit.
        Self::from_toml(PLAN_SPACE).unwrap_or_else(|e| panic!("embedded plan space: {e}"))
    }

    /// Reads a space file (TOML).
    pub fn from_file(path: &Path) -> Result<Self, TuneError> {
        let text = std::fs::read_to_string(path).map_err(|e| TuneError::io(path, e))?;
        Self::from_toml(&text).map_err(|problem| TuneError::Space {
            source_name: path.display().to_string(),
            problem,
        })
    }

    /// Parses and checks a space from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let space: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        space.check()?;
        Ok(space)
    }

    /// Checks names (unique, non-empty), paths and distributions, and that the base and the
    /// parameters' low ends make a valid configuration for FD001.
    pub fn check(&self) -> Result<(), String> {
        if self.params.is_empty() {
            return Err("a search space needs at least one [[param]]".into());
        }
        if !self.base.is_object() {
            return Err("base must be a table".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for p in &self.params {
            if p.name.is_empty() || !names.insert(p.name.as_str()) {
                return Err(format!(
                    "parameter names must be unique and non-empty: {:?}",
                    p.name
                ));
            }
            if p.path.is_empty() || p.path.split('.').any(str::is_empty) {
                return Err(format!("parameter {}: bad path {:?}", p.name, p.path));
            }
            p.check()?;
        }
        // Both ends of every range must make a valid configuration (catches dropout 0.5..2).
        for end in [Bound::Low, Bound::High] {
            let values: BTreeMap<String, Value> = self
                .params
                .iter()
                .map(|p| (p.name.clone(), p.end_value(end)))
                .collect();
            self.config(Subset::FD001, &values)
                .map_err(|e| format!("at the {end:?} end of every range: {e}"))?;
        }
        Ok(())
    }

    /// The base configuration for `subset`: the subset's defaults with `base` merged on.
    pub fn base_config(&self, subset: Subset) -> Result<TrainConfig, TuneError> {
        let mut base = self.base.clone();
        if let Some(obj) = base.as_object_mut() {
            obj.insert(
                "subset".into(),
                serde_json::to_value(subset).map_err(json_err)?,
            );
        }
        TrainConfig::from_str_as(&base.to_string(), false).map_err(|problem| TuneError::Space {
            source_name: "base".into(),
            problem,
        })
    }

    /// The training configuration of one trial: the base with every parameter set.
    pub fn config(
        &self,
        subset: Subset,
        values: &BTreeMap<String, Value>,
    ) -> Result<TrainConfig, TuneError> {
        let mut config = serde_json::to_value(self.base_config(subset)?).map_err(json_err)?;
        // The architecture first: switching it replaces the model section with its defaults.
        let mut ordered: Vec<&ParamSpec> = self.params.iter().collect();
        ordered.sort_by_key(|p| p.path != "model.kind");
        for p in ordered {
            let value = values.get(&p.name).ok_or_else(|| TuneError::Space {
                source_name: "trial".into(),
                problem: format!("no value for parameter {}", p.name),
            })?;
            if p.path == "model.kind" {
                switch_model_kind(&mut config, value)?;
            } else {
                set_path(&mut config, &p.path, value.clone()).map_err(|problem| {
                    TuneError::Space {
                        source_name: format!("parameter {}", p.name),
                        problem,
                    }
                })?;
            }
        }
        TrainConfig::from_str_as(&config.to_string(), false).map_err(|problem| TuneError::Space {
            source_name: "trial configuration".into(),
            problem,
        })
    }
}

fn json_err(e: serde_json::Error) -> TuneError {
    TuneError::Space {
        source_name: "configuration".into(),
        problem: e.to_string(),
    }
}

/// Replaces the model section with the named architecture's defaults unless it already is one.
fn switch_model_kind(config: &mut Value, kind: &Value) -> Result<(), TuneError> {
    let current = config.get("model").and_then(|m| m.get("kind"));
    if current == Some(kind) {
        return Ok(());
    }
    let model = match kind.as_str() {
        Some("lstm") => ModelConfig::Lstm(LstmConfig::default()),
        Some("conv_lstm") => ModelConfig::ConvLstm(ConvLstmConfig::default()),
        _ => {
            return Err(TuneError::Space {
                source_name: "model.kind".into(),
                problem: format!("unknown architecture {kind}"),
            });
        }
    };
    if let Some(obj) = config.as_object_mut() {
        obj.insert(
            "model".into(),
            serde_json::to_value(model).map_err(json_err)?,
        );
    }
    Ok(())
}

/// Sets `path` (dot-separated; numbers index arrays, one past the end appends) in `root`.
fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        cur = match cur {
            Value::Object(map) => {
                if last {
                    if !map.contains_key(*part) {
                        return Err(format!("{path}: the configuration has no {part:?}"));
                    }
                    map.insert((*part).to_string(), value);
                    return Ok(());
                }
                map.get_mut(*part)
                    .ok_or_else(|| format!("{path}: the configuration has no {part:?}"))?
            }
            Value::Array(items) => {
                let index: usize = part
                    .parse()
                    .map_err(|_| format!("{path}: {part:?} is not an index"))?;
                if index > items.len() {
                    return Err(format!("{path}: index {index} skips past the end"));
                }
                if index == items.len() {
                    items.push(Value::Null);
                }
                if last {
                    items[index] = value;
                    return Ok(());
                }
                &mut items[index]
            }
            _ => return Err(format!("{path}: {part:?} is inside a plain value")),
        };
    }
    Err(format!("{path}: empty path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn plan_space_builds_the_plan_lstm() {
        let space = SearchSpace::plan();
        assert_eq!(space.params.len(), 5);
        let c = space
            .config(
                Subset::FD001,
                &values(&[
                    ("lstm_units_1", 100.into()),
                    ("lstm_units_2", 40.into()),
                    ("dropout", 0.3.into()),
                    ("learning_rate", 0.002.into()),
                    ("batch_size", 512.into()),
                ]),
            )
            .unwrap();
        match &c.model {
            ModelConfig::Lstm(l) => {
                assert_eq!(l.lstm, vec![100, 40]);
                assert_eq!(l.dropout, 0.3);
            }
            other => panic!("expected lstm, got {other:?}"),
        }
        assert_eq!(c.batch_size, 512);
        assert_eq!(c.learning_rate, 0.002);
        assert_eq!(c.preprocessor.window, 30, "FD001 defaults kept");
    }

    #[test]
    fn architecture_switch_then_sizes() {
        let text = r#"
            [[param]]
            name = "arch"
            path = "model.kind"
            type = "categorical"
            choices = ["conv_lstm", "lstm"]
            [[param]]
            name = "units"
            path = "model.lstm.0"
            type = "int"
            low = 8
            high = 16
            [[param]]
            name = "window"
            path = "preprocessor.window"
            type = "int"
            low = 20
            high = 40
        "#;
        let space = SearchSpace::from_toml(text).unwrap();
        let c = space
            .config(
                Subset::FD002,
                &values(&[
                    ("arch", "lstm".into()),
                    ("units", 12.into()),
                    ("window", 25.into()),
                ]),
            )
            .unwrap();
        assert_eq!(c.subset, Subset::FD002);
        assert_eq!(c.preprocessor.window, 25);
        match &c.model {
            ModelConfig::Lstm(l) => assert_eq!(l.lstm, vec![12, 64]),
            other => panic!("expected lstm, got {other:?}"),
        }
    }

    #[test]
    fn bad_spaces_are_refused_with_a_reason() {
        for (text, needle) in [
            ("", "param"),
            (
                "[[param]]\nname='a'\npath='nope'\ntype='float'\nlow=0\nhigh=1",
                "no \"nope\"",
            ),
            (
                "[[param]]\nname='a'\npath='dropout'\ntype='float'\nlow=1\nhigh=0",
                "low < high",
            ),
            (
                "[[param]]\nname='a'\npath='learning_rate'\ntype='float'\nlow=0\nhigh=1\nlog=true",
                "log",
            ),
            (
                "[[param]]\nname='a'\npath='batch_size'\ntype='categorical'",
                "choices",
            ),
            (
                "[[param]]\nname='a'\npath='model.dropout'\ntype='float'\nlow=0.5\nhigh=2",
                "dropout",
            ),
            (
                "[[param]]\nname='a'\npath='epochs'\ntype='int'\nlow=1\nhigh=3\nextra=1",
                "unknown field",
            ),
        ] {
            let err = SearchSpace::from_toml(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn shipped_space_files_parse_and_the_default_is_the_plan() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("spaces");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            SearchSpace::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            seen += 1;
        }
        assert!(seen >= 2);
        assert_eq!(
            SearchSpace::from_file(&dir.join("plan.toml")).unwrap(),
            SearchSpace::plan()
        );
    }
}
