//! Metric names recorded through the `metrics` facade (the server installs the recorder; core never does).

/// Counter of successful predictions, labelled `source`.
pub const PREDICTIONS: &str = "rul_predictions_total";
/// Histogram of forward-pass seconds per batch.
pub const MODEL_LATENCY: &str = "rul_model_latency_seconds";
/// Histogram of windows per forward pass.
pub const BATCH_SIZE: &str = "rul_batch_size";
/// Gauge of requests waiting for the model thread.
pub const QUEUE_DEPTH: &str = "rul_queue_depth";
/// Counter of cache hits.
pub const CACHE_HITS: &str = "rul_cache_hits_total";
/// Counter of cache misses.
pub const CACHE_MISSES: &str = "rul_cache_misses_total";
/// Gauge of cached entries.
pub const CACHE_SIZE: &str = "rul_cache_size";
/// Counter of failed predictions, labelled `kind` (see `PredictError::kind`).
pub const ERRORS: &str = "rul_errors_total";
/// Gauge set to 1 for the serving model, labelled `version` and `subset` (0 once replaced).
pub const MODEL_INFO: &str = "rul_model_info";

/// Counter of requests that asked for the remote endpoint but were answered locally, labelled `reason`.
pub const REMOTE_FALLBACKS: &str = "rul_remote_fallbacks_total";
/// Counter of remote calls made, labelled `outcome` (`ok` or a fallback reason).
pub const REMOTE_CALLS: &str = "rul_remote_calls_total";
/// Histogram of seconds per remote call (including the SDK's bounded retries).
pub const REMOTE_LATENCY: &str = "rul_remote_latency_seconds";
/// Gauge of the remote circuit breaker: 0 closed, 1 open, 2 half-open.
pub const BREAKER_STATE: &str = "rul_remote_breaker_state";

/// Registers descriptions of every metric; call after installing a recorder (optional).
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(PREDICTIONS, "Successful RUL predictions by source.");
    describe_histogram!(MODEL_LATENCY, Unit::Seconds, "Forward-pass time per batch.");
    describe_histogram!(BATCH_SIZE, Unit::Count, "Windows per forward pass.");
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Requests waiting for the model thread."
    );
    describe_counter!(CACHE_HITS, "Prediction cache hits.");
    describe_counter!(CACHE_MISSES, "Prediction cache misses.");
    describe_gauge!(CACHE_SIZE, Unit::Count, "Entries in the prediction cache.");
    describe_counter!(ERRORS, "Failed predictions by error kind.");
    describe_gauge!(MODEL_INFO, "1 for the serving model version.");
    describe_counter!(
        REMOTE_FALLBACKS,
        "Requests for the remote endpoint answered by the local model, by reason."
    );
    describe_counter!(REMOTE_CALLS, "Remote endpoint calls by outcome.");
    describe_histogram!(
        REMOTE_LATENCY,
        Unit::Seconds,
        "Remote endpoint call time, retries included."
    );
    describe_gauge!(
        BREAKER_STATE,
        "Remote circuit breaker: 0 closed, 1 open, 2 half-open."
    );
}
