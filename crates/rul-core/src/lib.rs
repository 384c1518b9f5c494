//! Prediction core of the RUL service: one cheap-to-clone [`Predictor`] handle shared by every transport
//! (no gRPC/HTTP types here).
//!
//! Design:
//! - A dedicated `std::thread` owns the [`rul_model::Artifact`]; async callers talk to it through a bounded
//!   channel (`try_send`, so a full queue fails fast with [`PredictError::Overloaded`]) and get answers on oneshots.
//! - The model thread micro-batches: it takes everything already queued up to `max_batch`; it waits up to
//!   `max_wait` for more only when the previous or current batch already had several requests (i.e. under load),
//!   so a lone request never pays the wait, and `max_wait = 0` never waits.
//! - Validation and preprocessing (`Preprocessor::prepare`, the training code) run on the calling task: they cost
//!   O(window × features) microseconds. `predict_many` with more than a handful of items moves them to
//!   `spawn_blocking`. Each job records the model version it was prepared for; if a reload swapped the model in the
//!   meantime, the model thread answers "stale" and the caller re-prepares and resubmits it (no queue limit applies
//!   to a resubmission, so a reload never turns an accepted request into an error). Raw readings never travel to
//!   the model thread, so it spends its time on forward passes only.
//! - Cache (moka): key = a per-process-seeded 128-bit XXH3 of engine id, model version and every value of every
//!   reading, so a new model version changes every key and histories that merely share their last reading never
//!   collide; a hit is used only when the cached answer's engine id and model version are the request's.
//! - Hot reload loads, validates and warms the new artifact in `spawn_blocking`, then queues a swap message the
//!   model thread handles between batches: nothing queued is dropped, and a broken artifact never reaches the thread.
//! - Remote inference ([`remote`]): `Route::Remote` requests are validated and preprocessed here exactly as local
//!   ones, sent as normalised windows to a [`RemoteBackend`] (SageMaker, implemented in `rul-sagemaker`) behind a
//!   circuit breaker, and answered with the local calibration; any remote failure is answered by the local model
//!   with `Source::LocalFallback` and counted by reason.
//! - Already-normalised windows (SageMaker's `/invocations` as the plan's client calls it) skip the preprocessor
//!   and go straight to the model thread ([`Predictor::predict_normalised`]).

mod cache;
mod engine_id;
mod error;
mod loader;
pub mod metrics_names;
mod predictor;
pub mod remote;
mod types;
mod worker;

pub use engine_id::{
    ENGINE_ID_EXCLUDED, MAX_ENGINE_ID_CHARS, check_engine_id, engine_id_char_allowed,
    engine_id_pattern,
};
pub use error::PredictError;
pub use loader::neutral_reading;
pub use metrics_names::describe_metrics;
pub use predictor::MAX_INSTANCES;
pub use predictor::{PauseGuard, Predictor};
pub use remote::{
    BreakerConfig, BreakerState, FallbackReason, Remote, RemoteAnswer, RemoteBackend, RemoteError,
    RemoteRequest,
};
pub use rul_model::InferenceEngine;
pub use types::{
    DEFAULT_IDLE_SPIN_US, ModelInfo, PredictRequest, Prediction, PredictorConfig, Readiness, Route,
    ServingModel, Source, Stats, Timing, defaults,
};
