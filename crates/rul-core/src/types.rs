//! Request/response types shared by every transport.

use std::path::PathBuf;
use std::time::Duration;

use rul_data::Reading;
use rul_model::InferenceEngine;
use serde::{Deserialize, Serialize};

/// The one set of the core's defaults, used by [`PredictorConfig::default`] and by the server's flags alike.
pub mod defaults {
    /// The shipped default model (`MODEL_PATH`).
    pub const MODEL_PATH: &str = "models/fd001";
    /// Largest micro-batch (`MAX_BATCH`).
    pub const MAX_BATCH: usize = 64;
    /// Wait to fill a micro-batch, milliseconds (`MAX_WAIT_MS`).
    pub const MAX_WAIT_MS: u64 = 1;
    /// Queued requests before `Overloaded` (`QUEUE_CAPACITY`).
    pub const QUEUE_CAPACITY: usize = 1024;
    /// Cache time-to-live, seconds (`CACHE_TTL_SECS`).
    pub const CACHE_TTL_SECS: u64 = 300;
    /// Cached predictions at most (`CACHE_CAPACITY`).
    pub const CACHE_CAPACITY: u64 = 10_000;
    /// The model thread's polling time after a batch, in microseconds (`MODEL_IDLE_SPIN_US`): long enough to
    /// catch the next request of a client waiting on the previous answer (measured: gRPC mean latency with one
    /// request in flight 333-409 us without it, 276-283 us with it).
    pub const IDLE_SPIN_US: u64 = 500;
}

/// The model thread's default polling time after a batch ([`defaults::IDLE_SPIN_US`]).
pub const DEFAULT_IDLE_SPIN_US: u64 = defaults::IDLE_SPIN_US;

/// Tuning knobs of the [`crate::Predictor`]; `Default` gives the documented defaults.
#[derive(Clone, Debug)]
pub struct PredictorConfig {
    /// Model artifact directory loaded at start and by every `reload(None)`.
    pub model_path: PathBuf,
    /// Largest number of windows in one forward pass.
    pub max_batch: usize,
    /// How long the model thread waits to fill a batch under load; zero = take only what is already queued.
    pub max_wait: Duration,
    /// Queued (not yet dequeued) requests allowed before new ones fail fast with `Overloaded`.
    pub queue_capacity: usize,
    /// Time-to-live of cached predictions; zero disables the cache.
    pub cache_ttl: Duration,
    /// Maximum number of cached predictions; zero disables the cache.
    pub cache_capacity: u64,
    /// Forward pass the model thread runs: the fast path (default) or burn, the reference.
    pub engine: InferenceEngine,
    /// How long the model thread keeps polling for work after a batch before it sleeps; zero =
    /// sleep at once. A request that arrives meanwhile skips the wake-up of a sleeping thread.
    pub idle_spin: Duration,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        PredictorConfig {
            model_path: PathBuf::from(defaults::MODEL_PATH),
            max_batch: defaults::MAX_BATCH,
            max_wait: Duration::from_millis(defaults::MAX_WAIT_MS),
            queue_capacity: defaults::QUEUE_CAPACITY,
            cache_ttl: Duration::from_secs(defaults::CACHE_TTL_SECS),
            cache_capacity: defaults::CACHE_CAPACITY,
            engine: InferenceEngine::Fast,
            idle_spin: Duration::from_micros(defaults::IDLE_SPIN_US),
        }
    }
}

/// One engine's recent history to predict from (oldest reading first, the last one is "now").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PredictRequest {
    /// Client-chosen engine identifier ([`crate::check_engine_id`]'s rule).
    pub engine_id: String,
    /// 1..=500 cycles of readings; shorter than the model window is padded.
    pub readings: Vec<Reading>,
}

/// Where a prediction was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The in-process model thread.
    Local,
    /// A remote SageMaker endpoint (the request asked for it and it answered).
    Sagemaker,
    /// The request asked for SageMaker, which failed, was cut off by the circuit breaker or is not configured;
    /// the in-process model answered instead (`Prediction::fallback_reason` says why).
    LocalFallback,
}

impl Source {
    /// The wire name ("local", "sagemaker", "local_fallback"), also the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Sagemaker => "sagemaker",
            Source::LocalFallback => "local_fallback",
        }
    }
}

/// Which backend a request asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Route {
    /// The in-process model (the default).
    #[default]
    Local,
    /// The configured remote (SageMaker) endpoint, falling back to the in-process model when it fails.
    Remote,
}

/// Where the time of one prediction went, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timing {
    /// Waiting in the queue before the model thread took the request (0 for cache hits).
    pub queue_us: u64,
    /// The forward pass of the batch this request rode in (0 for cache hits).
    pub model_us: u64,
    /// End to end inside the predictor, measured for this call.
    pub total_us: u64,
}

/// A Remaining Useful Life prediction with its calibrated uncertainty.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// Echo of the request's engine id.
    pub engine_id: String,
    /// Predicted remaining useful life in cycles, clamped to be non-negative.
    pub rul: f64,
    /// Lower bound of the calibrated interval (>= 0).
    pub lower: f64,
    /// Upper bound of the calibrated interval.
    pub upper: f64,
    /// Nominal coverage of `[lower, upper]`, e.g. 0.9.
    pub level: f64,
    /// Estimated probability that the true RUL is within `tolerance` cycles of `rul`.
    pub confidence: f64,
    /// Tolerance (cycles) that `confidence` refers to.
    pub tolerance: f64,
    /// Content-hash version of the model that produced this answer.
    pub model_version: String,
    /// Whether the history was shorter than the window and had to be padded.
    pub padded: bool,
    /// How many cycles of padding were added.
    pub padded_cycles: usize,
    /// Whether the operating settings matched no known operating condition.
    pub unknown_condition: bool,
    /// Which backend computed it.
    pub source: Source,
    /// Why the remote endpoint was not used, when `source` is `LocalFallback` (a [`crate::FallbackReason`] name).
    pub fallback_reason: Option<&'static str>,
    /// Whether this answer came from the cache (otherwise identical to a fresh one).
    pub cached: bool,
    /// Where the time went.
    pub timing: Timing,
}

/// Description of the model currently serving, for `/model` endpoints and logs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    /// Content-hash version, e.g. "fd001-3f2a9c1b".
    pub version: String,
    /// C-MAPSS subset the model was trained on (as written in the model card).
    pub subset: String,
    /// Network architecture name (e.g. `lstm`).
    pub architecture: String,
    /// Window length in cycles.
    pub window: usize,
    /// Features per cycle fed to the network.
    pub n_features: usize,
    /// Sensor names the model needs in every reading.
    pub sensors: Vec<String>,
    /// Nominal coverage of the calibrated interval.
    pub calibration_level: f64,
    /// Tolerance (cycles) of the confidence figure.
    pub calibration_tolerance: f64,
    /// Evaluation metrics from the model card.
    pub metrics: serde_json::Value,
    /// When training finished (RFC 3339), if recorded.
    pub created: Option<String>,
    /// The model card (MODEL_CARD.md) as stored in the artifact.
    pub card: String,
    /// Directory the artifact was loaded from.
    pub path: PathBuf,
}

/// Cheap snapshot of the predictor's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Requests waiting for the model thread.
    pub queue_depth: usize,
    /// Cache hits since start.
    pub cache_hits: u64,
    /// Cache misses since start.
    pub cache_misses: u64,
    /// Entries currently cached (approximate, moka is eventually consistent).
    pub cache_size: u64,
}

/// Lifecycle of the serving model, published through a `tokio::sync::watch` channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// The initial artifact is being loaded, validated and warmed up.
    Loading,
    /// A warmed-up model is serving.
    Ready,
    /// No model is serving; the reason is for logs (may contain paths).
    Failed(String),
}

/// The serving model as seen by consumers that post-process its answers (e.g. the fleet's RUL tracker).
#[derive(Clone, Debug)]
pub struct ServingModel {
    /// Content-hash version.
    pub version: std::sync::Arc<str>,
    /// Conformal calibration of the model's estimates.
    pub calibration: rul_model::Calibration,
    /// Label ceiling the model was trained with (its estimates saturate there).
    pub ceiling: f64,
    /// Window length in cycles.
    pub window: usize,
    /// Sensor names the model takes (others must not be sent to it).
    pub sensors: Vec<String>,
}
