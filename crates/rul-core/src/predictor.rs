//! The cheap-to-clone [`Predictor`] handle every transport shares.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::{oneshot, watch};

use crate::cache::PredictionCache;
use crate::error::PredictError;
use crate::loader::{Snapshot, load_and_warm};
use crate::metrics_names as m;
use crate::remote::Remote;
use crate::types::{
    ModelInfo, PredictRequest, Prediction, PredictorConfig, Readiness, ServingModel, Stats,
};
use crate::worker::{self, Msg, Shared, WorkerConfig};

mod normalised;
mod pipeline;
mod routed;

pub use normalised::MAX_INSTANCES;
use pipeline::{Slot, Staged, record};

/// `predict_many` batches larger than this are validated/preprocessed in `spawn_blocking`, not on the async worker.
const PREPARE_INLINE_MAX: usize = 8;

/// Channel slots beyond `queue_capacity` reserved for control messages (reload, shutdown, pause).
const CONTROL_SLOTS: usize = 4;

/// Handle to the prediction core: clone it freely (an `Arc` inside); the model thread stops when the last clone
/// is dropped or [`Predictor::shutdown`] is called.
#[derive(Clone)]
pub struct Predictor {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    tx: SyncSender<Msg>,
    cache: PredictionCache,
    queue_capacity: usize,
    max_batch: usize,
    engine: crate::InferenceEngine,
    accepting: AtomicBool,
    /// MODEL_PATH: what a reload without a path (empty admin body, SIGHUP) loads, whatever was loaded since.
    model_path: PathBuf,
    reload_lock: tokio::sync::Mutex<()>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Where `Route::Remote` requests go; None = no endpoint configured (they are answered locally).
    remote: Option<Remote>,
}

/// Keeps the model thread paused between batches until dropped (see [`Predictor::pause_model_thread`]).
#[doc(hidden)]
pub struct PauseGuard {
    _resume: std::sync::mpsc::Sender<()>,
}

impl Predictor {
    /// Starts the model thread and loads+validates+warms the artifact in the background; readiness flips when warm.
    /// Needs no async runtime. `queue_capacity` and `max_batch` below 1 are treated as 1.
    pub fn start(config: PredictorConfig) -> Predictor {
        Self::start_with_remote(config, None)
    }

    /// [`Predictor::start`] with a remote backend for `Route::Remote` requests (None = answer them locally, with
    /// source `local_fallback` and reason `not_configured`).
    pub fn start_with_remote(config: PredictorConfig, remote: Option<Remote>) -> Predictor {
        let queue_capacity = config.queue_capacity.max(1);
        let max_batch = config.max_batch.max(1);
        let (tx, rx) = sync_channel(queue_capacity + CONTROL_SLOTS);
        let (readiness, _) = watch::channel(Readiness::Loading);
        let shared = Arc::new(Shared {
            readiness,
            current: RwLock::new(None),
            depth: AtomicUsize::new(0),
        });
        let worker_cfg = WorkerConfig {
            model_path: config.model_path.clone(),
            max_batch,
            max_wait: config.max_wait,
            idle_spin: config.idle_spin,
            engine: config.engine,
        };
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("rul-model".into())
            .spawn(move || worker::run(thread_shared, rx, worker_cfg));
        let thread = match thread {
            Ok(handle) => Some(handle),
            Err(e) => {
                shared
                    .readiness
                    .send_replace(Readiness::Failed(format!("cannot start model thread: {e}")));
                None
            }
        };
        metrics::gauge!(m::QUEUE_DEPTH).set(0.0);
        Predictor {
            inner: Arc::new(Inner {
                shared,
                tx,
                cache: PredictionCache::new(config.cache_capacity, config.cache_ttl),
                queue_capacity,
                max_batch,
                engine: config.engine,
                accepting: AtomicBool::new(true),
                model_path: config.model_path,
                reload_lock: tokio::sync::Mutex::new(()),
                thread: Mutex::new(thread),
                remote,
            }),
        }
    }

    /// Resolves when the initial model is warm; errors if it failed to load (reason included, for logs).
    pub async fn wait_ready(&self) -> Result<(), PredictError> {
        let mut rx = self.inner.shared.readiness.subscribe();
        let state = rx
            .wait_for(|r| *r != Readiness::Loading)
            .await
            .map(|r| r.clone())
            .map_err(|_| PredictError::NotReady("predictor stopped".into()))?;
        match state {
            Readiness::Ready => Ok(()),
            Readiness::Failed(reason) => Err(PredictError::NotReady(reason)),
            Readiness::Loading => Err(PredictError::NotReady("model is loading".into())),
        }
    }

    /// Whether a warmed-up model is serving and the predictor accepts requests.
    pub fn is_ready(&self) -> bool {
        self.inner.accepting.load(Ordering::Acquire)
            && *self.inner.shared.readiness.borrow() == Readiness::Ready
    }

    /// A receiver of readiness changes (Loading → Ready / Failed), e.g. for health-check services.
    pub fn readiness(&self) -> watch::Receiver<Readiness> {
        self.inner.shared.readiness.subscribe()
    }

    /// Predicts one engine's RUL: validates, answers from cache when possible, else queues for the model thread.
    /// Validation and preprocessing (O(window × features), microseconds) run on the calling task.
    pub async fn predict(&self, req: PredictRequest) -> Result<Prediction, PredictError> {
        let result = self.predict_local(req).await;
        record(&result);
        result
    }

    /// [`Predictor::predict`] without counting the outcome (the routed paths count it once, with its final source).
    pub(crate) async fn predict_local(
        &self,
        req: PredictRequest,
    ) -> Result<Prediction, PredictError> {
        let start = Instant::now();
        match self.serving() {
            Err(e) => Err(e),
            Ok(snap) => match self.stage(&snap, &req, start, true) {
                Staged::Done(r) => r,
                Staged::Queued(job, reply, digest) => {
                    self.enqueue(vec![job]);
                    self.finish(reply, digest, &req, start).await
                }
            },
        }
    }

    /// Predicts many engines; each item gets its own result (one bad item never fails the others). Items are queued
    /// together so they share forward passes; if the queue cannot take them all, the excess get `Overloaded`.
    pub async fn predict_many(
        &self,
        reqs: Vec<PredictRequest>,
    ) -> Vec<Result<Prediction, PredictError>> {
        let results = self.predict_many_local(reqs).await;
        results.iter().for_each(record);
        results
    }

    /// [`Predictor::predict_many`] without counting the outcomes.
    pub(crate) async fn predict_many_local(
        &self,
        reqs: Vec<PredictRequest>,
    ) -> Vec<Result<Prediction, PredictError>> {
        let start = Instant::now();
        match self.serving() {
            Err(e) => vec![Err(e); reqs.len()],
            Ok(snap) => self.predict_staged(snap, reqs, start, true).await,
        }
    }

    /// [`Predictor::predict_many`] past the cache, for callers whose histories never repeat (the fleet's
    /// per-reading streams): they neither pay for hashing nor evict entries other clients reuse.
    pub async fn predict_many_uncached(
        &self,
        reqs: Vec<PredictRequest>,
    ) -> Vec<Result<Prediction, PredictError>> {
        let start = Instant::now();
        let results = match self.serving() {
            Err(e) => vec![Err(e); reqs.len()],
            Ok(snap) => self.predict_staged(snap, reqs, start, false).await,
        };
        results.iter().for_each(record);
        results
    }

    /// What a consumer of predictions needs to know about the serving model (version, calibration, label
    /// ceiling, window), or None while none is serving.
    pub fn serving_model(&self) -> Option<ServingModel> {
        self.inner.shared.snapshot().map(|s| ServingModel {
            version: s.version.clone(),
            calibration: s.calibration.clone(),
            ceiling: s.preprocessor.config().ceiling,
            window: s.preprocessor.window(),
            sensors: s.preprocessor.config().sensors.clone(),
        })
    }

    async fn predict_staged(
        &self,
        snap: Arc<Snapshot>,
        reqs: Vec<PredictRequest>,
        start: Instant,
        use_cache: bool,
    ) -> Vec<Result<Prediction, PredictError>> {
        let n = reqs.len();
        let (reqs, staged) = if n > PREPARE_INLINE_MAX {
            let this = self.clone();
            let task = tokio::task::spawn_blocking(move || {
                let staged: Vec<Staged> = reqs
                    .iter()
                    .map(|r| this.stage(&snap, r, start, use_cache))
                    .collect();
                (reqs, staged)
            });
            match task.await {
                Ok(done) => done,
                Err(e) => {
                    let e = PredictError::Internal(format!("preprocessing task failed: {e}"));
                    return vec![Err(e); n];
                }
            }
        } else {
            let staged = reqs
                .iter()
                .map(|r| self.stage(&snap, r, start, use_cache))
                .collect();
            (reqs, staged)
        };
        let mut jobs = Vec::new();
        let slots: Vec<Slot> = staged
            .into_iter()
            .map(|s| match s {
                Staged::Done(r) => Slot::Done(r),
                Staged::Queued(job, reply, digest) => {
                    jobs.push(job);
                    Slot::Waiting(reply, digest)
                }
            })
            .collect();
        if !jobs.is_empty() {
            self.enqueue(jobs);
        }
        let mut results = Vec::with_capacity(n);
        for (slot, req) in slots.into_iter().zip(&reqs) {
            results.push(match slot {
                Slot::Done(r) => r,
                Slot::Waiting(reply, digest) => self.finish(reply, digest, req, start).await,
            });
        }
        results
    }

    /// Loads+validates+warms the artifact at `path` (None = the current path) off the model thread, then swaps it in
    /// between batches; queued requests are not dropped. A broken artifact is refused and the old model keeps serving.
    pub async fn reload(&self, path: Option<PathBuf>) -> Result<ModelInfo, PredictError> {
        let _one_at_a_time = self.inner.reload_lock.lock().await;
        if !self.inner.accepting.load(Ordering::Acquire) {
            return Err(PredictError::NotReady("predictor is shutting down".into()));
        }
        let path = match path {
            Some(p) => p,
            None => self.inner.model_path.clone(),
        };
        let (dir, max_batch, engine) = (path.clone(), self.inner.max_batch, self.inner.engine);
        let loaded = tokio::task::spawn_blocking(move || load_and_warm(&dir, max_batch, engine))
            .await
            .map_err(|e| PredictError::Internal(format!("reload task failed: {e}")))?
            .map_err(|reason| {
                tracing::warn!(%reason, "reload refused; the current model keeps serving");
                PredictError::Internal(format!("reload refused: {reason}"))
            })?;
        let (reply, installed) = oneshot::channel();
        self.send_control(Msg::Swap(Box::new(loaded), reply))
            .await?;
        let info = installed
            .await
            .map_err(|_| PredictError::NotReady("predictor shut down during reload".into()))?;
        Ok(info)
    }

    /// The serving model's description, or None while none is serving.
    pub fn model_info(&self) -> Option<ModelInfo> {
        self.inner.shared.snapshot().map(|s| s.info.clone())
    }

    /// Queue depth and cache counters.
    pub fn stats(&self) -> Stats {
        let (cache_hits, cache_misses, cache_size) = self.inner.cache.counters();
        Stats {
            queue_depth: self.inner.shared.depth.load(Ordering::Acquire),
            cache_hits,
            cache_misses,
            cache_size,
        }
    }

    /// Like [`Predictor::stats`] but first flushes the cache's pending maintenance so `cache_size` is exact.
    pub fn stats_exact(&self) -> Stats {
        self.inner.cache.sync();
        self.stats()
    }

    /// Stops accepting requests, lets the model thread finish everything queued, then joins it. Idempotent.
    pub async fn shutdown(&self) {
        self.inner.accepting.store(false, Ordering::Release);
        let _ = self.send_control(Msg::Shutdown).await;
        let handle = lock(&self.inner.thread).take();
        if let Some(handle) = handle {
            match tokio::task::spawn_blocking(move || handle.join()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => tracing::error!("model thread panicked"),
                Err(e) => tracing::error!(error = %e, "joining the model thread failed"),
            }
        }
    }

    /// Holds the model thread between batches until the guard drops, so queue behaviour can be tested
    /// deterministically. Not for production use.
    #[doc(hidden)]
    pub async fn pause_model_thread(&self) -> Result<PauseGuard, PredictError> {
        let (paused_tx, paused) = oneshot::channel();
        let (resume_tx, resume) = std::sync::mpsc::channel();
        self.send_control(Msg::Pause {
            paused: paused_tx,
            resume,
        })
        .await?;
        paused
            .await
            .map_err(|_| PredictError::NotReady("model thread stopped".into()))?;
        Ok(PauseGuard { _resume: resume_tx })
    }
}

/// Locks a mutex, recovering the data if a panicking holder poisoned it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
