//! Parameter sampling: uniform random for the first `startup_trials`, then TPE (the `tpe` crate,
//! one independent estimator per parameter, as Optuna's default TPE sampler). Each trial's draw
//! is seeded by the study seed and the trial number and conditioned on the finished trials, so a
//! resumed sequential study samples exactly what an uninterrupted one would have.

use std::collections::BTreeMap;

use rand010::rngs::StdRng;
use rand010::{RngExt, SeedableRng};
use serde_json::Value;

use crate::error::TuneError;
use crate::space::{ParamKind, ParamSpec, SearchSpace};

/// TPE sampler over a [`SearchSpace`].
#[derive(Clone, Debug)]
pub struct Sampler {
    params: Vec<ParamSpec>,
    seed: u64,
    startup_trials: usize,
}

/// A finished trial as the sampler sees it: parameter values and the objective (lower is better).
pub type Observation<'a> = (&'a BTreeMap<String, Value>, f64);

impl Sampler {
    /// A sampler for `space`; the first `startup_trials` draws are uniform random.
    pub fn new(space: &SearchSpace, seed: u64, startup_trials: usize) -> Self {
        Self {
            params: space.params.clone(),
            seed,
            startup_trials,
        }
    }

    /// Parameter values for trial `number`, given the finished trials' values and objectives.
    pub fn sample(
        &self,
        number: usize,
        history: &[Observation<'_>],
    ) -> Result<BTreeMap<String, Value>, TuneError> {
        let mut rng = StdRng::seed_from_u64(
            self.seed ^ (number as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut out = BTreeMap::new();
        for p in &self.params {
            let space = Encoded::of(p)?;
            let x = if history.len() < self.startup_trials {
                rng.random_range(space.start..space.end)
            } else {
                let mut optim = tpe::TpeOptimizer::new(space.estimator(), space.range()?);
                for (values, objective) in history {
                    let Some(v) = values.get(&p.name) else {
                        continue;
                    };
                    let Some(x) = space.encode(p, v) else {
                        continue;
                    };
                    optim
                        .tell(x, *objective)
                        .map_err(|e| TuneError::Sampler(format!("{}: {e}", p.name)))?;
                }
                optim
                    .ask(&mut rng)
                    .map_err(|e| TuneError::Sampler(format!("{}: {e}", p.name)))?
            };
            out.insert(p.name.clone(), space.decode(p, x));
        }
        Ok(out)
    }
}

/// A parameter's search interval in the sampler's units: `[start, end)`, log-scaled for log
/// parameters, `[low, high + 1)` for integers (floored), `[0, n)` for n choices (floored).
#[derive(Clone, Copy, Debug)]
struct Encoded {
    start: f64,
    end: f64,
    kind: ParamKind,
    log: bool,
}

impl Encoded {
    fn of(p: &ParamSpec) -> Result<Self, TuneError> {
        let (start, end) = match p.kind {
            ParamKind::Categorical => (0.0, p.choices.as_ref().map_or(0, Vec::len) as f64),
            ParamKind::Float | ParamKind::Int => {
                let (low, high) = p.bounds().map_err(TuneError::Sampler)?;
                let high = if p.kind == ParamKind::Int {
                    high + 1.0
                } else {
                    high
                };
                if p.log {
                    (low.ln(), high.ln())
                } else {
                    (low, high)
                }
            }
        };
        if start.partial_cmp(&end) != Some(std::cmp::Ordering::Less) {
            return Err(TuneError::Sampler(format!("{}: empty range", p.name)));
        }
        Ok(Self {
            start,
            end,
            kind: p.kind,
            log: p.log,
        })
    }

    fn range(&self) -> Result<tpe::range::Range, TuneError> {
        tpe::range(self.start, self.end).map_err(|e| TuneError::Sampler(e.to_string()))
    }

    fn estimator(&self) -> tpe::density_estimation::DefaultEstimatorBuilder {
        match self.kind {
            ParamKind::Categorical => tpe::histogram_estimator(),
            _ => tpe::parzen_estimator(),
        }
    }

    /// Sampler units → the configuration value.
    fn decode(&self, p: &ParamSpec, x: f64) -> Value {
        let x = x.clamp(self.start, self.end);
        match self.kind {
            ParamKind::Categorical => {
                let choices = p.choices.as_deref().unwrap_or(&[]);
                let i = (x.floor() as usize).min(choices.len().saturating_sub(1));
                choices.get(i).cloned().unwrap_or(Value::Null)
            }
            ParamKind::Int => {
                let v = if self.log { x.exp() } else { x };
                let (low, high) = (p.low.unwrap_or_default(), p.high.unwrap_or_default());
                Value::from(v.floor().clamp(low, high) as i64)
            }
            ParamKind::Float => {
                let v = if self.log { x.exp() } else { x };
                let (low, high) = (p.low.unwrap_or_default(), p.high.unwrap_or_default());
                Value::from(v.clamp(low, high))
            }
        }
    }

    /// A recorded configuration value → sampler units inside `[start, end)` (None when the
    /// value does not belong to the parameter, e.g. a choice since removed).
    fn encode(&self, p: &ParamSpec, v: &Value) -> Option<f64> {
        let x = match self.kind {
            ParamKind::Categorical => p.choices.as_ref()?.iter().position(|c| c == v)? as f64 + 0.5,
            ParamKind::Int => {
                let k = v.as_f64()? + 0.5;
                if self.log { k.ln() } else { k }
            }
            ParamKind::Float => {
                let f = v.as_f64()?;
                if self.log { f.ln() } else { f }
            }
        };
        let below_end = self.end - (self.end - self.start) * 1e-9;
        (x.is_finite() && x >= self.start - 1e-12).then(|| x.clamp(self.start, below_end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_stay_inside_the_space_and_are_reproducible() {
        let space = SearchSpace::plan();
        let sampler = Sampler::new(&space, 7, 3);
        let mut done: Vec<(BTreeMap<String, Value>, f64)> = Vec::new();
        for n in 0..12 {
            let hist: Vec<Observation<'_>> = done.iter().map(|(v, o)| (v, *o)).collect();
            let s = sampler.sample(n, &hist).unwrap();
            assert_eq!(s, sampler.sample(n, &hist).unwrap(), "same seed, same draw");
            let units = s["lstm_units_1"].as_i64().unwrap();
            assert!((32..=128).contains(&units), "{units}");
            let lr = s["learning_rate"].as_f64().unwrap();
            assert!((1e-5..=1e-2).contains(&lr), "{lr}");
            let d = s["dropout"].as_f64().unwrap();
            assert!((0.1..=0.5).contains(&d), "{d}");
            assert!([128, 256, 512].contains(&s["batch_size"].as_i64().unwrap()));
            space.config(rul_data::Subset::FD001, &s).unwrap();
            let objective = (d - 0.3).abs();
            done.push((s, objective));
        }
    }

    #[test]
    fn tpe_concentrates_near_the_optimum() {
        // One float in [0, 0.9]; the objective is the distance to 0.2. After random start-up,
        // TPE draws should land closer to 0.2 than uniform draws do.
        let space = SearchSpace::from_toml(
            "[[param]]\nname='x'\npath='model.dropout'\ntype='float'\nlow=0.0\nhigh=0.9",
        )
        .unwrap();
        let target = 0.2;
        let sampler = Sampler::new(&space, 1, 5);
        let mut done = Vec::new();
        for n in 0..40 {
            let hist: Vec<Observation<'_>> = done.iter().map(|(v, o)| (v, *o)).collect();
            let s = sampler.sample(n, &hist).unwrap();
            let d = (s["x"].as_f64().unwrap() - target).abs();
            done.push((s, d));
        }
        let late: f64 = done[20..].iter().map(|(_, d)| d).sum::<f64>() / 20.0;
        // Uniform draws on [0, 0.9] are on average 0.265 away from 0.2.
        assert!(late < 0.15, "mean distance of TPE draws {late}");
    }
}
