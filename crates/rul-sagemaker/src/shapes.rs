//! The TensorFlow-Serving JSON both sides of SageMaker speak: one definition for the client and the container.

use rul_core::{RemoteAnswer, RemoteError, RemoteRequest};
use serde::{Deserialize, Serialize};

/// Content type of requests and answers.
pub const CONTENT_TYPE: &str = "application/json";

/// TensorFlow-Serving request body: `{"instances": [window, ...]}`, each window a list of rows.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct InstancesBody {
    /// Windows of rows of normalised features.
    pub instances: Vec<Vec<Vec<f32>>>,
}

/// TensorFlow-Serving answer: `{"predictions": [[rul], ...]}`, optionally with the model version.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct PredictionsBody {
    /// One single-element list per window.
    pub predictions: Vec<Vec<f64>>,
    /// Version of the model that answered (this service's containers report it; others may not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
}

/// The JSON body for `request`.
pub fn request_body(request: &RemoteRequest) -> Result<Vec<u8>, RemoteError> {
    let f = request.n_features.max(1);
    let instances = request
        .windows
        .iter()
        .map(|w| w.chunks(f).map(<[f32]>::to_vec).collect())
        .collect();
    serde_json::to_vec(&InstancesBody { instances })
        .map_err(|e| RemoteError::Other(format!("cannot encode the request: {e}")))
}

/// Reads `{"predictions": [[rul], ...]}`; anything else is `Malformed`.
pub fn parse_answer(body: &[u8]) -> Result<RemoteAnswer, RemoteError> {
    let parsed: PredictionsBody = serde_json::from_slice(body)
        .map_err(|e| RemoteError::Malformed(format!("not TensorFlow-Serving JSON: {e}")))?;
    let ruls = parsed
        .predictions
        .iter()
        .map(|p| match p.as_slice() {
            [rul] => Ok(*rul),
            other => Err(RemoteError::Malformed(format!(
                "expected one value per prediction, got {}",
                other.len()
            ))),
        })
        .collect::<Result<Vec<f64>, RemoteError>>()?;
    Ok(RemoteAnswer {
        ruls,
        model_version: parsed.model_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_body_splits_rows() {
        let body = request_body(&RemoteRequest {
            windows: vec![vec![0.5, 0.25, 1.0, 0.0]],
            window: 2,
            n_features: 2,
        })
        .expect("encode");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"instances": [[[0.5, 0.25], [1.0, 0.0]]]})
        );
    }

    #[test]
    fn answers_parse_or_are_malformed() {
        let a = parse_answer(br#"{"predictions": [[41.5], [7.0]], "model_version": "v1"}"#)
            .expect("valid");
        assert_eq!(a.ruls, vec![41.5, 7.0]);
        assert_eq!(a.model_version.as_deref(), Some("v1"));
        for bad in [
            &br#"{"predictions": [[1.0, 2.0]]}"#[..],
            br#"{"predictions": "x"}"#,
            br#"{"oops": 1}"#,
            b"not json",
            b"",
        ] {
            assert!(
                matches!(parse_answer(bad), Err(RemoteError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
