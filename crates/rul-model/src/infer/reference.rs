//! The reference engine: burn's own forward pass on the Flex CPU backend, exactly the code the
//! networks were trained with. The fast path is verified against it, and `--engine burn` serves
//! with it.

use burn::tensor::Device;

use crate::error::ArtifactError;
use crate::model::{RulNet, input_tensor};

/// Windows per forward pass when predicting without gradients.
pub const PREDICT_CHUNK: usize = 1024;

/// Forward pass over `count` windows laid out `[count, window, features]`, in chunks, on the
/// plain Flex device; the networks' outputs are averaged and multiplied by `target_scale`.
pub fn predict_raw(
    models: &[RulNet],
    inputs: &[f32],
    count: usize,
    window: usize,
    features: usize,
    target_scale: f64,
) -> Result<Vec<f32>, ArtifactError> {
    if models.is_empty() {
        return Err(ArtifactError::Forward("no network to predict with".into()));
    }
    let device = Device::flex();
    let row = window * features;
    let mut out = Vec::with_capacity(count);
    let mut start = 0;
    while start < count {
        let n = PREDICT_CHUNK.min(count - start);
        let forward = |model: &RulNet| {
            let data = inputs[start * row..(start + n) * row].to_vec();
            model
                .forward(input_tensor(data, n, window, features, &device))
                .try_into_vec_as::<f32>()
                .map_err(|e| ArtifactError::Forward(format!("{e:?}")))
        };
        if let [model] = models {
            out.extend(forward(model)?.into_iter().map(|v| v * target_scale as f32));
        } else {
            let mut sum = vec![0.0f64; n];
            for model in models {
                let y = forward(model)?;
                sum.iter_mut().zip(y).for_each(|(s, v)| *s += f64::from(v));
            }
            let mean_scale = target_scale / models.len() as f64;
            out.extend(sum.into_iter().map(|s| (s * mean_scale) as f32));
        }
        start += n;
    }
    Ok(out)
}
