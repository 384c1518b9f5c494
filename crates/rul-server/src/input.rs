//! A request as both transports decode it, and the checks they share before the core: the engine id (the core's
//! rule), the batch size, each reading's settings all-or-none ([`RawReading::to_reading`]), and the route
//! (`use_sagemaker`). Everything else about the readings is validated by the core's preprocessor.

use rul_data::{ValidationError, Violation};

pub use rul_core::MAX_ENGINE_ID_CHARS;
/// Most requests accepted in one batch call.
pub const MAX_BATCH_REQUESTS: usize = 256;

pub use rul_data::RawReading;

/// A request as decoded by a transport, before the shared checks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawRequest {
    /// Client's engine identifier.
    pub engine_id: String,
    /// Readings, oldest first.
    pub readings: Vec<RawReading>,
    /// Whether the client asked for remote (SageMaker) inference.
    pub use_sagemaker: bool,
}

impl RawRequest {
    /// The backend this request asks for.
    pub fn route(&self) -> rul_core::Route {
        if self.use_sagemaker {
            rul_core::Route::Remote
        } else {
            rul_core::Route::Local
        }
    }
}

/// Runs the shared checks and builds the core request; every problem is reported, not just the first.
pub fn to_core_request(raw: RawRequest) -> Result<rul_core::PredictRequest, ValidationError> {
    let mut violations = engine_id_violations(&raw.engine_id);
    let mut readings = Vec::with_capacity(raw.readings.len());
    for (index, reading) in raw.readings.iter().enumerate() {
        match reading.to_reading() {
            Ok(r) => readings.push(r),
            Err(v) if violations.len() < rul_data::MAX_VIOLATIONS => violations.push(Violation {
                reading: Some(index),
                ..v
            }),
            Err(_) => {}
        }
    }
    if !violations.is_empty() {
        return Err(ValidationError { violations });
    }
    Ok(rul_core::PredictRequest {
        engine_id: raw.engine_id,
        readings,
    })
}

/// Checks a batch's size.
pub fn batch_size_violation(count: usize) -> Option<ValidationError> {
    if count == 0 {
        Some(ValidationError::single(
            None,
            Some("requests"),
            "batch must contain at least one request",
        ))
    } else if count > MAX_BATCH_REQUESTS {
        Some(ValidationError::single(
            None,
            Some("requests"),
            format!("batch has {count} requests; at most {MAX_BATCH_REQUESTS} are accepted"),
        ))
    } else {
        None
    }
}

/// Runs the shared checks per item, sends the valid ones to the core in one call (each on its route), and merges
/// answers in order.
pub async fn run_batch(
    predictor: &rul_core::Predictor,
    raws: Vec<RawRequest>,
) -> Vec<Result<rul_core::Prediction, rul_core::PredictError>> {
    use rul_core::PredictError;
    let mut slots: Vec<Option<Result<rul_core::Prediction, PredictError>>> =
        Vec::with_capacity(raws.len());
    let mut valid = Vec::new();
    for raw in raws {
        let route = raw.route();
        match to_core_request(raw) {
            Ok(request) => {
                valid.push((request, route));
                slots.push(None);
            }
            Err(v) => slots.push(Some(Err(PredictError::Validation(v)))),
        }
    }
    let mut answers = predictor.predict_many_routed(valid).await.into_iter();
    slots
        .into_iter()
        .map(|slot| {
            slot.unwrap_or_else(|| {
                answers.next().unwrap_or_else(|| {
                    Err(PredictError::Internal(
                        "core returned too few batch answers".into(),
                    ))
                })
            })
        })
        .collect()
}

fn engine_id_violations(id: &str) -> Vec<Violation> {
    match rul_core::check_engine_id(id) {
        Err(rul_core::PredictError::Validation(v)) => v.violations,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading() -> RawReading {
        let mut r = RawReading::default();
        r.sensors[1] = Some(642.0);
        r.sensors[20] = Some(23.4);
        r
    }

    #[test]
    fn builds_core_request_with_present_sensors_only() {
        let raw = RawRequest {
            engine_id: "7".into(),
            readings: vec![reading()],
            use_sagemaker: false,
        };
        let req = to_core_request(raw).expect("valid");
        assert_eq!(req.readings[0].sensors, reading().sensors);
        assert_eq!(req.readings[0].settings, None);
    }

    #[test]
    fn reports_all_problems() {
        let mut partial = reading();
        partial.settings[0] = Some(0.1);
        let raw = RawRequest {
            engine_id: "x".repeat(10_000),
            readings: vec![reading(), partial],
            use_sagemaker: true,
        };
        let Err(err) = to_core_request(raw) else {
            panic!("expected invalid")
        };
        let fields: Vec<_> = err
            .violations
            .iter()
            .map(|v| v.field.clone().unwrap_or_default())
            .collect();
        // use_sagemaker is a route, not a violation.
        assert_eq!(fields, ["engine_id", "setting_1"]);
        assert_eq!(err.violations[1].reading, Some(1));
    }

    #[test]
    fn engine_id_rules() {
        assert!(!engine_id_violations("").is_empty());
        assert!(!engine_id_violations("   ").is_empty());
        assert!(!engine_id_violations("a\nb").is_empty());
        assert!(!engine_id_violations("e\u{202E}\u{200B}x").is_empty());
        assert!(engine_id_violations(&"e".repeat(MAX_ENGINE_ID_CHARS)).is_empty());
        assert!(!engine_id_violations(&"e".repeat(MAX_ENGINE_ID_CHARS + 1)).is_empty());
    }

    #[test]
    fn batch_sizes() {
        assert!(batch_size_violation(0).is_some());
        assert!(batch_size_violation(1).is_none());
        assert!(batch_size_violation(MAX_BATCH_REQUESTS + 1).is_some());
    }
}
