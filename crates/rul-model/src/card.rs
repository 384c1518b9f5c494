//! The model card: a structured summary of an artifact (served by `model_info`) and its
//! MODEL_CARD.md rendering.

use rul_data::{Preprocessor, Subset};
use serde::{Deserialize, Serialize};

use crate::artifact::ModelSpec;
use crate::calibration::Calibration;

/// What a client or operator needs to know about a model.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ModelCard {
    /// Content-hash version.
    pub version: String,
    /// Subset trained on.
    pub subset: Subset,
    /// Architecture name (`lstm`, `conv_lstm`), with ` x N (averaged)` for an ensemble of N.
    pub architecture: String,
    /// Window length in cycles.
    pub window: usize,
    /// Features per cycle.
    pub n_features: usize,
    /// Sensors used, in feature order.
    pub sensors: Vec<String>,
    /// Normalisation per operating condition (readings must carry settings).
    pub per_condition: bool,
    /// Training labels were capped at this RUL.
    pub ceiling: f64,
    /// Nominal interval coverage.
    pub calibration_level: f64,
    /// Confidence tolerance in cycles.
    pub tolerance: f64,
    /// Training seed.
    pub seed: u64,
    /// When training finished (RFC 3339, UTC), if recorded.
    pub created: Option<String>,
    /// Headline metrics (metrics.json `summary`), `null` before evaluation.
    pub metrics: serde_json::Value,
}

impl ModelCard {
    /// Builds the card from the artifact's parts.
    pub fn build(
        version: &str,
        spec: &ModelSpec,
        pre: &Preprocessor,
        cal: &Calibration,
        metrics: &serde_json::Value,
    ) -> Self {
        Self {
            version: version.to_string(),
            subset: spec.subset,
            architecture: match spec.training.ensemble {
                1 => spec.architecture.name().to_string(),
                n => format!("{} x {n} (averaged)", spec.architecture.name()),
            },
            window: spec.window,
            n_features: spec.n_features,
            sensors: pre.config().sensors.clone(),
            per_condition: pre.config().per_condition,
            ceiling: pre.config().ceiling,
            calibration_level: cal.level(),
            tolerance: cal.tolerance(),
            seed: spec.seed,
            created: metrics
                .get("created")
                .and_then(|c| c.as_str())
                .map(str::to_string),
            metrics: metrics
                .get("summary")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        }
    }

    /// MODEL_CARD.md text.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("# RUL model {}\n\n", self.version));
        s.push_str(&format!(
            "Predicts the remaining useful life (cycles) of a turbofan engine from its last {} \
             cycles of {} sensors, trained on NASA C-MAPSS {}.\n\n",
            self.window, self.n_features, self.subset
        ));
        s.push_str("| | |\n|---|---|\n");
        s.push_str(&format!("| architecture | {} |\n", self.architecture));
        s.push_str(&format!("| sensors | {} |\n", self.sensors.join(" ")));
        s.push_str(&format!(
            "| normalisation | {} |\n",
            if self.per_condition {
                "per operating condition (readings must include settings)"
            } else {
                "global"
            }
        ));
        s.push_str(&format!("| label ceiling | {} cycles |\n", self.ceiling));
        s.push_str(&format!(
            "| intervals | split-conformal, {:.0}% nominal, width binned by predicted RUL |\n",
            self.calibration_level * 100.0
        ));
        s.push_str(&format!(
            "| confidence | P(abs(true - predicted) <= {} cycles) |\n",
            self.tolerance
        ));
        s.push_str(&format!("| seed | {} |\n", self.seed));
        if let Some(c) = &self.created {
            s.push_str(&format!("| created | {c} |\n"));
        }
        if let Some(m) = self.metrics.as_object() {
            s.push_str("\n## Metrics\n\n| metric | value |\n|---|---|\n");
            for (k, v) in m {
                let shown = match v.as_f64() {
                    Some(x) => format!("{x:.3}"),
                    None => v.to_string(),
                };
                s.push_str(&format!("| {k} | {shown} |\n"));
            }
        }
        s.push_str(
            "\n## Limits\n\nPredictions above the label ceiling are not meaningful: the model \
             learned `min(RUL, ceiling)`. Inputs outside the training conditions are flagged \
             (`unknown_condition`). Short histories are edge-padded and flagged (`padded`).\n",
        );
        s
    }
}
