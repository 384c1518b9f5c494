//! Request pipeline behind the public API: staging (validation, cache, preprocessing), admission to the
//! bounded queue, awaiting answers and resubmitting jobs a reload made stale.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::TrySendError;
use std::time::Instant;

use rul_data::MAX_READINGS;
use tokio::sync::oneshot;

use super::Predictor;
use crate::cache::ReadingsDigest;
use crate::engine_id::check_engine_id;
use crate::error::PredictError;
use crate::loader::Snapshot;
use crate::metrics_names as m;
use crate::types::{PredictRequest, Prediction, Readiness, Timing};
use crate::worker::{Job, Msg, Outcome, micros};

/// How often one request may be re-prepared because reloads kept replacing the model under it.
const MAX_STALE_RETRIES: usize = 4;

type Reply = oneshot::Receiver<Outcome>;

/// One request after the caller-side stage: answered already, or waiting for the model thread.
pub(super) enum Staged {
    Done(Result<Prediction, PredictError>),
    Queued(Job, Reply, Option<ReadingsDigest>),
}

/// A request handed to the model thread, awaiting its answer.
pub(super) enum Slot {
    Done(Result<Prediction, PredictError>),
    Waiting(Reply, Option<ReadingsDigest>),
}

impl Predictor {
    /// The serving snapshot, or why there is none.
    pub(super) fn serving(&self) -> Result<Arc<Snapshot>, PredictError> {
        if !self.inner.accepting.load(Ordering::Acquire) {
            return Err(PredictError::NotReady("predictor is shutting down".into()));
        }
        match (
            self.inner.shared.snapshot(),
            &*self.inner.shared.readiness.borrow(),
        ) {
            (Some(snap), Readiness::Ready) => Ok(snap),
            (_, Readiness::Loading) => Err(PredictError::NotReady("model is loading".into())),
            (_, Readiness::Failed(_)) => Err(PredictError::NotReady("no model loaded".into())),
            (None, Readiness::Ready) => Err(PredictError::NotReady("no model loaded".into())),
        }
    }

    /// Caller-side work for one request: engine id check, cache lookup (when `use_cache`), validation +
    /// preprocessing.
    pub(super) fn stage(
        &self,
        snap: &Arc<Snapshot>,
        req: &PredictRequest,
        start: Instant,
        use_cache: bool,
    ) -> Staged {
        if let Err(e) = check_engine_id(&req.engine_id) {
            return Staged::Done(Err(e));
        }
        let cache = &self.inner.cache;
        let digest =
            (use_cache && cache.enabled() && (1..=MAX_READINGS).contains(&req.readings.len()))
                .then(|| cache.digest(&req.readings));
        if let Some(d) = &digest
            && let Some(mut hit) = cache.get(&req.engine_id, &snap.version, d)
        {
            hit.cached = true;
            hit.timing = Timing {
                queue_us: 0,
                model_us: 0,
                total_us: micros(start.elapsed()),
            };
            return Staged::Done(Ok(hit));
        }
        let prepared = match snap.preprocessor.prepare(&req.readings) {
            Ok(p) => p,
            Err(e) => return Staged::Done(Err(PredictError::Validation(e))),
        };
        let (reply, rx) = oneshot::channel();
        let job = Job {
            engine_id: req.engine_id.clone(),
            prepared,
            version: snap.version.clone(),
            enqueued: Instant::now(),
            reply,
        };
        Staged::Queued(job, rx, digest)
    }

    /// Admits as many jobs as the queue limit allows and sends them as one message; the rest are answered
    /// `Overloaded` (or `NotReady` if the model thread is gone) through their own reply channels.
    pub(super) fn enqueue(&self, mut jobs: Vec<Job>) {
        let admitted = self.reserve(jobs.len());
        let rejected = jobs.split_off(admitted);
        reject(rejected, &PredictError::Overloaded);
        if jobs.is_empty() {
            return;
        }
        let n = jobs.len();
        let now = Instant::now();
        jobs.iter_mut().for_each(|j| j.enqueued = now);
        match self.inner.tx.try_send(Msg::Jobs(jobs)) {
            Ok(()) => self.depth_gauge(),
            Err(e) => {
                self.inner.shared.depth.fetch_sub(n, Ordering::AcqRel);
                let (msg, err) = match e {
                    TrySendError::Full(msg) => (msg, PredictError::Overloaded),
                    TrySendError::Disconnected(msg) => (msg, stopped()),
                };
                if let Msg::Jobs(jobs) = msg {
                    reject(jobs, &err);
                }
            }
        }
    }

    /// Re-queues a job that was already admitted once (it went stale during a reload): no queue limit applies,
    /// so a reload never turns an accepted request into `Overloaded`.
    async fn resubmit(&self, mut job: Job) {
        self.inner.shared.depth.fetch_add(1, Ordering::AcqRel);
        job.enqueued = Instant::now();
        if let Err(Msg::Jobs(jobs)) = self.send_blocking_if_full(Msg::Jobs(vec![job])).await {
            self.inner.shared.depth.fetch_sub(1, Ordering::AcqRel);
            reject(jobs, &stopped());
        }
        self.depth_gauge();
    }

    /// Reserves up to `n` queue slots, returning how many were granted.
    fn reserve(&self, n: usize) -> usize {
        let depth = &self.inner.shared.depth;
        let mut current = depth.load(Ordering::Acquire);
        loop {
            let granted = n.min(self.inner.queue_capacity.saturating_sub(current));
            if granted == 0 {
                return 0;
            }
            match depth.compare_exchange_weak(
                current,
                current + granted,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return granted,
                Err(actual) => current = actual,
            }
        }
    }

    /// Publishes the queue depth gauge.
    fn depth_gauge(&self) {
        metrics::gauge!(m::QUEUE_DEPTH).set(self.inner.shared.depth.load(Ordering::Acquire) as f64);
    }

    /// Awaits the model thread's answer (re-preparing and resubmitting if a reload made the job stale), caches it
    /// and stamps the total time.
    pub(super) async fn finish(
        &self,
        mut reply: Reply,
        mut digest: Option<ReadingsDigest>,
        req: &PredictRequest,
        start: Instant,
    ) -> Result<Prediction, PredictError> {
        for _ in 0..MAX_STALE_RETRIES {
            let outcome = reply.await.map_err(|_| {
                PredictError::NotReady("predictor shut down before answering".into())
            })?;
            match outcome {
                Outcome::Done(result) => {
                    let mut prediction = result?;
                    if let Some(d) = &digest {
                        let cache = &self.inner.cache;
                        let key = cache.key(&prediction.engine_id, &prediction.model_version, d);
                        cache.insert(key, prediction.clone());
                    }
                    prediction.timing.total_us = micros(start.elapsed());
                    return Ok(prediction);
                }
                Outcome::Stale => {
                    match self.stage(&self.serving()?, req, start, digest.is_some()) {
                        Staged::Done(result) => return result,
                        Staged::Queued(job, rx, d) => {
                            (reply, digest) = (rx, d);
                            self.resubmit(job).await;
                        }
                    }
                }
            }
        }
        Err(PredictError::Internal(
            "the model was replaced repeatedly while this request was queued".into(),
        ))
    }

    /// Sends a message, waiting off the async runtime for a free slot if the channel is momentarily full; gives the
    /// message back if the model thread is gone.
    async fn send_blocking_if_full(&self, msg: Msg) -> Result<(), Msg> {
        match self.inner.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(TrySendError::Disconnected(msg)) => Err(msg),
            Err(TrySendError::Full(msg)) => {
                let tx = self.inner.tx.clone();
                match tokio::task::spawn_blocking(move || tx.send(msg)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(std::sync::mpsc::SendError(msg))) => Err(msg),
                    Err(_) => Err(Msg::Shutdown),
                }
            }
        }
    }

    /// Sends a control message (reload, shutdown, pause).
    pub(super) async fn send_control(&self, msg: Msg) -> Result<(), PredictError> {
        self.send_blocking_if_full(msg).await.map_err(|_| stopped())
    }
}

/// Answers every job with `err`.
fn reject(jobs: Vec<Job>, err: &PredictError) {
    for job in jobs {
        job.answer(Err(err.clone()));
    }
}

/// The error for a model thread that has exited.
fn stopped() -> PredictError {
    PredictError::NotReady("model thread stopped".into())
}

/// Counts a finished request in the metrics.
pub(super) fn record(result: &Result<Prediction, PredictError>) {
    match result {
        Ok(p) => metrics::counter!(m::PREDICTIONS, "source" => p.source.as_str()).increment(1),
        Err(e) => metrics::counter!(m::ERRORS, "kind" => e.kind()).increment(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: PredictError) -> Option<String> {
        match e {
            PredictError::Validation(v) => v.violations.first().and_then(|v| v.field.clone()),
            _ => None,
        }
    }

    #[test]
    fn engine_id_rules() {
        assert!(check_engine_id("engine-7").is_ok());
        assert!(check_engine_id(&"x".repeat(128)).is_ok());
        assert!(check_engine_id(&"é".repeat(128)).is_ok());
        for bad in ["", "   ", "a\nb", "tab\there", "nul\0"] {
            assert_eq!(
                field_of(check_engine_id(bad).unwrap_err()).as_deref(),
                Some("engine_id"),
                "{bad:?}"
            );
        }
        assert_eq!(
            field_of(check_engine_id(&"x".repeat(129)).unwrap_err()).as_deref(),
            Some("engine_id")
        );
    }

    /// A job prepared under model A but answered after a swap to model B is re-prepared and served by B.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stale_jobs_are_reprepared_after_a_swap() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        for (dir, seed) in [(&a, 11), (&b, 12)] {
            std::fs::create_dir_all(dir).unwrap();
            rul_model::write_test_artifact(dir, seed).unwrap();
        }
        let p = Predictor::start(crate::PredictorConfig {
            model_path: a,
            cache_capacity: 100,
            ..Default::default()
        });
        p.wait_ready().await.unwrap();
        let snap_a = p.serving().unwrap();
        let reading = crate::neutral_reading(&snap_a.preprocessor);
        let req = PredictRequest {
            engine_id: "e".into(),
            readings: vec![reading; 3],
        };
        let v_b = p.reload(Some(b)).await.unwrap().version;
        assert_ne!(*snap_a.version, *v_b);
        let start = Instant::now();
        let Staged::Queued(job, reply, digest) = p.stage(&snap_a, &req, start, true) else {
            panic!("expected a queued job");
        };
        p.enqueue(vec![job]);
        let pred = p.finish(reply, digest, &req, start).await.unwrap();
        assert_eq!(pred.model_version, v_b);
        // The answer was cached under the version that produced it.
        assert!(p.predict(req).await.unwrap().cached);
    }
}
