//! The dedicated model thread: owns the artifact, micro-batches queued jobs, swaps models between batches.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rul_data::Prepared;
use tokio::sync::{oneshot, watch};

use crate::error::PredictError;
use crate::loader::{Loaded, Snapshot, load_and_warm};
use crate::metrics_names as m;
use crate::types::{ModelInfo, Prediction, Readiness, Source, Timing};

/// The model thread's answer to one job.
pub(crate) enum Outcome {
    /// The prediction, or why it failed.
    Done(Result<Prediction, PredictError>),
    /// The job was prepared for a model that a reload has since replaced; the caller re-prepares and resubmits it.
    Stale,
}

/// One prediction waiting for the model thread. The raw readings stay with the caller, so the model thread never
/// spends time freeing them.
pub(crate) struct Job {
    pub(crate) engine_id: String,
    pub(crate) prepared: Prepared,
    /// Version whose preprocessor produced `prepared`.
    pub(crate) version: Arc<str>,
    pub(crate) enqueued: Instant,
    pub(crate) reply: oneshot::Sender<Outcome>,
}

impl Job {
    /// Sends a final answer (the caller may have gone away; that is fine).
    pub(crate) fn answer(self, result: Result<Prediction, PredictError>) {
        let _ = self.reply.send(Outcome::Done(result));
    }
}

/// What the model thread receives, in FIFO order.
pub(crate) enum Msg {
    /// Jobs enqueued together (one for `predict`, several for `predict_many`).
    Jobs(Vec<Job>),
    /// Install a new warmed-up model after finishing everything queued before it.
    Swap(Box<Loaded>, oneshot::Sender<ModelInfo>),
    /// Block between batches until the sender side of `resume` is dropped (test hook).
    Pause {
        paused: oneshot::Sender<()>,
        resume: Receiver<()>,
    },
    /// Finish everything queued, then exit.
    Shutdown,
}

/// State shared by the handle and the model thread (never the queue sender, so dropping every handle stops it).
pub(crate) struct Shared {
    pub(crate) readiness: watch::Sender<Readiness>,
    pub(crate) current: RwLock<Option<Arc<Snapshot>>>,
    /// Jobs admitted but not yet taken by the model thread; the backpressure limit is enforced on this.
    pub(crate) depth: AtomicUsize,
}

impl Shared {
    /// The serving model's snapshot, if any.
    pub(crate) fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current
            .read()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn set_snapshot(&self, snapshot: Option<Arc<Snapshot>>) {
        match self.current.write() {
            Ok(mut g) => *g = snapshot,
            Err(p) => *p.into_inner() = snapshot,
        }
    }

    /// Takes `n` jobs off the depth count once the model thread has them.
    fn dequeued(&self, n: usize) {
        let left = self.depth.fetch_sub(n, Ordering::AcqRel).saturating_sub(n);
        metrics::gauge!(m::QUEUE_DEPTH).set(left as f64);
    }
}

/// Batching parameters of the model thread.
pub(crate) struct WorkerConfig {
    pub(crate) model_path: std::path::PathBuf,
    pub(crate) max_batch: usize,
    pub(crate) max_wait: Duration,
    pub(crate) idle_spin: Duration,
    pub(crate) engine: rul_model::InferenceEngine,
}

/// Withdraws the model when the thread ends, marking the predictor failed unless shutdown was requested.
struct ExitGuard<'a> {
    shared: &'a Shared,
    clean: bool,
}

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        self.shared.set_snapshot(None);
        let reason = if self.clean {
            "predictor shut down"
        } else {
            "model thread stopped"
        };
        self.shared
            .readiness
            .send_replace(Readiness::Failed(reason.into()));
    }
}

/// The model thread's body: initial load, then batch loop until shutdown or every sender is gone.
pub(crate) fn run(shared: Arc<Shared>, rx: Receiver<Msg>, cfg: WorkerConfig) {
    let mut guard = ExitGuard {
        shared: &shared,
        clean: false,
    };
    let mut model = match load_and_warm(&cfg.model_path, cfg.max_batch, cfg.engine) {
        Ok(loaded) => Some(install(&shared, None, loaded)),
        Err(reason) => {
            tracing::error!(%reason, "initial model load failed");
            shared.readiness.send_replace(Readiness::Failed(reason));
            None
        }
    };
    let max_batch = cfg.max_batch.max(1);
    let mut last_batch = 0usize;
    while let Some(first) = next(&rx, cfg.idle_spin) {
        let mut jobs = Vec::new();
        let control = match first {
            Msg::Jobs(js) => {
                jobs.extend(js);
                // Wait for more only under load, so a lone request never pays `max_wait`.
                let under_load = last_batch > 1;
                collect(&rx, &mut jobs, max_batch, cfg.max_wait, under_load)
            }
            other => Some(other),
        };
        if !jobs.is_empty() {
            shared.dequeued(jobs.len());
            last_batch = jobs.len();
            let mut rest = jobs;
            while !rest.is_empty() {
                let tail = rest.split_off(rest.len().min(max_batch));
                process(model.as_ref(), rest);
                rest = tail;
            }
        }
        match control {
            None => {}
            Some(Msg::Swap(loaded, reply)) => {
                let old = model.take();
                let installed = install(&shared, old.as_ref(), *loaded);
                let _ = reply.send(installed.snapshot.info.clone());
                model = Some(installed);
            }
            Some(Msg::Pause { paused, resume }) => {
                let _ = paused.send(());
                let _ = resume.recv();
            }
            Some(Msg::Shutdown) => {
                guard.clean = true;
                drain(&shared, &rx, model.as_ref(), max_batch);
                break;
            }
            Some(Msg::Jobs(_)) => {}
        }
    }
}

/// The next message: polls the queue for up to `spin` first, then sleeps until one arrives (None once
/// every sender is gone). A request that arrives while the thread polls is taken at once, without the
/// wake-up of a sleeping thread (measured tens of microseconds on these virtual machines).
fn next(rx: &Receiver<Msg>, spin: Duration) -> Option<Msg> {
    if !spin.is_zero() {
        let until = Instant::now() + spin;
        loop {
            match rx.try_recv() {
                Ok(msg) => return Some(msg),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) if Instant::now() >= until => break,
                Err(TryRecvError::Empty) => std::hint::spin_loop(),
            }
        }
    }
    rx.recv().ok()
}

/// Adds queued jobs to `jobs` until `max_batch`, the queue runs dry (and `max_wait` has passed under load),
/// or a control message arrives (returned, to be handled after this batch).
fn collect(
    rx: &Receiver<Msg>,
    jobs: &mut Vec<Job>,
    max_batch: usize,
    max_wait: Duration,
    under_load: bool,
) -> Option<Msg> {
    let deadline = Instant::now() + max_wait;
    while jobs.len() < max_batch {
        let msg = match rx.try_recv() {
            Ok(msg) => msg,
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {
                let now = Instant::now();
                if max_wait.is_zero() || !(under_load || jobs.len() > 1) || now >= deadline {
                    return None;
                }
                match rx.recv_timeout(deadline - now) {
                    Ok(msg) => msg,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
                }
            }
        };
        match msg {
            Msg::Jobs(js) => jobs.extend(js),
            control => return Some(control),
        }
    }
    None
}

/// After `Shutdown`: answers whatever slipped into the queue behind it.
fn drain(shared: &Shared, rx: &Receiver<Msg>, model: Option<&Loaded>, max_batch: usize) {
    while let Ok(msg) = rx.try_recv() {
        match msg {
            Msg::Jobs(mut jobs) => {
                shared.dequeued(jobs.len());
                while !jobs.is_empty() {
                    let tail = jobs.split_off(jobs.len().min(max_batch));
                    process(model, jobs);
                    jobs = tail;
                }
            }
            Msg::Swap(..) | Msg::Pause { .. } | Msg::Shutdown => {}
        }
    }
}

/// Publishes a newly loaded model: snapshot for callers, metrics, readiness.
fn install(shared: &Shared, old: Option<&Loaded>, new: Loaded) -> Loaded {
    if let Some(old) = old {
        let i = &old.snapshot.info;
        metrics::gauge!(m::MODEL_INFO, "version" => i.version.clone(), "subset" => i.subset.clone()).set(0.0);
    }
    let i = &new.snapshot.info;
    metrics::gauge!(m::MODEL_INFO, "version" => i.version.clone(), "subset" => i.subset.clone())
        .set(1.0);
    tracing::info!(version = %i.version, path = %i.path.display(), "model serving");
    shared.set_snapshot(Some(new.snapshot.clone()));
    shared.readiness.send_replace(Readiness::Ready);
    new
}

/// Runs one forward pass over `jobs` (at most `max_batch`) and answers each.
fn process(model: Option<&Loaded>, jobs: Vec<Job>) {
    let Some(model) = model else {
        for job in jobs {
            job.answer(Err(PredictError::NotReady("no model loaded".into())));
        }
        return;
    };
    let started = Instant::now();
    let pre = model.artifact.preprocessor();
    let mut ready = Vec::with_capacity(jobs.len());
    for job in jobs {
        if *job.version == *model.snapshot.version {
            ready.push(job);
        } else {
            // Prepared under a model that has since been swapped out: the caller redoes it.
            let _ = job.reply.send(Outcome::Stale);
        }
    }
    if ready.is_empty() {
        return;
    }
    let count = ready.len();
    let mut inputs = Vec::with_capacity(count * pre.window() * pre.n_features());
    for job in &ready {
        inputs.extend_from_slice(&job.prepared.input);
    }
    let t0 = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| model.artifact.predict(&inputs, count)));
    let model_time = t0.elapsed();
    metrics::histogram!(m::BATCH_SIZE).record(count as f64);
    metrics::histogram!(m::MODEL_LATENCY).record(model_time.as_secs_f64());
    let outputs = match outcome {
        Ok(Ok(out)) if out.len() == count => out,
        Ok(Ok(out)) => {
            return fail_all(
                ready,
                format!("model returned {} outputs for {count} windows", out.len()),
            );
        }
        Ok(Err(e)) => return fail_all(ready, format!("forward pass failed: {e}")),
        Err(_) => return fail_all(ready, "forward pass panicked".into()),
    };
    let model_us = micros(model_time);
    let cal = model.artifact.calibration();
    for (mut job, raw) in ready.into_iter().zip(outputs) {
        let result = if raw.is_finite() {
            let timing = Timing {
                queue_us: micros(started.saturating_duration_since(job.enqueued)),
                model_us,
                total_us: 0,
            };
            Ok(calibrated_prediction(
                cal,
                std::mem::take(&mut job.engine_id),
                &job.prepared,
                f64::from(raw),
                model.snapshot.version.to_string(),
                Source::Local,
                timing,
            ))
        } else {
            Err(PredictError::Internal(
                "model produced a non-finite prediction".into(),
            ))
        };
        job.answer(result);
    }
}

/// A model output (local or remote) as a prediction: clamped at 0, with the calibration's interval
/// and confidence, so both sources are dressed identically.
pub(crate) fn calibrated_prediction(
    cal: &rul_model::Calibration,
    engine_id: String,
    prepared: &Prepared,
    raw: f64,
    model_version: String,
    source: Source,
    timing: Timing,
) -> Prediction {
    let rul = raw.max(0.0);
    let (lower, upper) = cal.interval(rul);
    Prediction {
        engine_id,
        rul,
        lower,
        upper,
        level: cal.level(),
        confidence: cal.confidence(rul),
        tolerance: cal.tolerance(),
        model_version,
        padded: prepared.padded_cycles > 0,
        padded_cycles: prepared.padded_cycles,
        unknown_condition: prepared.unknown_condition,
        source,
        fallback_reason: None,
        cached: false,
        timing,
    }
}

/// Answers every job with the same internal error.
fn fail_all(jobs: Vec<Job>, reason: String) {
    tracing::error!(%reason, jobs = jobs.len(), "batch failed");
    for job in jobs {
        job.answer(Err(PredictError::Internal(reason.clone())));
    }
}

/// Whole microseconds, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
