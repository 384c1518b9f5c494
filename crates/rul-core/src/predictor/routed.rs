//! Routing between the local model and the remote endpoint: requests that ask for the remote one are validated and
//! preprocessed here (exactly as local ones), sent as normalised windows in one remote call per batch, and
//! answered with the local calibration. Any remote failure — or an open breaker, or no endpoint configured — is
//! answered by the local model with `Source::LocalFallback` and counted by reason.

use std::sync::Arc;
use std::time::Instant;

use rul_data::Prepared;

use super::{PREPARE_INLINE_MAX, Predictor, pipeline::record};
use crate::error::PredictError;
use crate::loader::Snapshot;
use crate::metrics_names as m;
use crate::remote::{FallbackReason, Remote, RemoteAnswer, RemoteError, RemoteRequest};
use crate::types::{PredictRequest, Prediction, Route, Source, Timing};
use crate::worker::{calibrated_prediction, micros};

type Answer = Result<Prediction, PredictError>;

impl Predictor {
    /// Predicts one engine on `route`: `Route::Local` is [`Predictor::predict`]; `Route::Remote` asks the remote
    /// endpoint and falls back to the local model (never failing because the remote did).
    pub async fn predict_routed(&self, req: PredictRequest, route: Route) -> Answer {
        match route {
            Route::Local => self.predict(req).await,
            Route::Remote => self
                .predict_many_routed(vec![(req, Route::Remote)])
                .await
                .pop()
                .unwrap_or_else(|| Err(PredictError::Internal("no answer for one request".into()))),
        }
    }

    /// Predicts many engines, each on its own route, answering in request order. Local items share forward
    /// passes as in [`Predictor::predict_many`]; remote items share one remote call.
    pub async fn predict_many_routed(&self, reqs: Vec<(PredictRequest, Route)>) -> Vec<Answer> {
        let n = reqs.len();
        let mut local = Vec::new();
        let mut remote = Vec::new();
        let mut order = Vec::with_capacity(n);
        for (req, route) in reqs {
            match route {
                Route::Local => {
                    order.push(Route::Local);
                    local.push(req);
                }
                Route::Remote => {
                    order.push(Route::Remote);
                    remote.push(req);
                }
            }
        }
        let (local, remote) = tokio::join!(
            async {
                if local.is_empty() {
                    Vec::new()
                } else {
                    self.predict_many_local(local).await
                }
            },
            async {
                if remote.is_empty() {
                    Vec::new()
                } else {
                    self.predict_remote(remote).await
                }
            }
        );
        let (mut local, mut remote) = (local.into_iter(), remote.into_iter());
        let missing = || Err(PredictError::Internal("routing lost an answer".into()));
        let results: Vec<Answer> = order
            .into_iter()
            .map(|route| match route {
                Route::Local => local.next().unwrap_or_else(missing),
                Route::Remote => remote.next().unwrap_or_else(missing),
            })
            .collect();
        results.iter().for_each(record);
        results
    }

    /// The configured remote (None = no endpoint configured).
    pub fn remote(&self) -> Option<&Remote> {
        self.inner.remote.as_ref()
    }

    /// The remote path for requests that asked for it (metrics are recorded by the caller).
    async fn predict_remote(&self, reqs: Vec<PredictRequest>) -> Vec<Answer> {
        let start = Instant::now();
        let snap = match self.serving() {
            Ok(snap) => snap,
            Err(e) => return vec![Err(e); reqs.len()],
        };
        let prepared = self.prepare_all(&snap, reqs).await;
        let mut slots: Vec<Option<Answer>> = Vec::with_capacity(prepared.len());
        let mut valid = Vec::new();
        for (req, outcome) in prepared {
            match outcome {
                Ok(p) => {
                    slots.push(None);
                    valid.push((req, p));
                }
                Err(e) => slots.push(Some(Err(e))),
            }
        }
        let answers = if valid.is_empty() {
            Vec::new()
        } else {
            match self.inner.remote.clone() {
                None => self.fall_back(valid, FallbackReason::NotConfigured).await,
                Some(remote) => self.call_remote(&remote, &snap, valid, start).await,
            }
        };
        let mut answers = answers.into_iter();
        slots
            .into_iter()
            .map(|slot| {
                slot.unwrap_or_else(|| {
                    answers.next().unwrap_or_else(|| {
                        Err(PredictError::Internal("remote path lost an answer".into()))
                    })
                })
            })
            .collect()
    }

    /// Engine id check + validation + preprocessing of every request (off the async worker for big batches).
    async fn prepare_all(
        &self,
        snap: &Arc<Snapshot>,
        reqs: Vec<PredictRequest>,
    ) -> Vec<(PredictRequest, Result<Prepared, PredictError>)> {
        fn prepare(snap: &Snapshot, req: &PredictRequest) -> Result<Prepared, PredictError> {
            crate::engine_id::check_engine_id(&req.engine_id)?;
            Ok(snap.preprocessor.prepare(&req.readings)?)
        }
        if reqs.len() <= PREPARE_INLINE_MAX {
            return reqs
                .into_iter()
                .map(|r| {
                    let p = prepare(snap, &r);
                    (r, p)
                })
                .collect();
        }
        let snap = snap.clone();
        let n = reqs.len();
        let task = tokio::task::spawn_blocking(move || {
            reqs.into_iter()
                .map(|r| {
                    let p = prepare(&snap, &r);
                    (r, p)
                })
                .collect::<Vec<_>>()
        });
        match task.await {
            Ok(done) => done,
            Err(e) => {
                let e = PredictError::Internal(format!("preprocessing task failed: {e}"));
                (0..n)
                    .map(|_| {
                        let empty = PredictRequest {
                            engine_id: String::new(),
                            readings: Vec::new(),
                        };
                        (empty, Err(e.clone()))
                    })
                    .collect()
            }
        }
    }

    /// One remote call for every valid request, guarded by the breaker; falls back on any failure.
    async fn call_remote(
        &self,
        remote: &Remote,
        snap: &Snapshot,
        valid: Vec<(PredictRequest, Prepared)>,
        start: Instant,
    ) -> Vec<Answer> {
        let Some(permit) = remote.breaker.try_acquire() else {
            return self.fall_back(valid, FallbackReason::CircuitOpen).await;
        };
        let request = RemoteRequest {
            windows: valid.iter().map(|(_, p)| p.input.clone()).collect(),
            window: snap.preprocessor.window(),
            n_features: snap.preprocessor.n_features(),
        };
        let t0 = Instant::now();
        let outcome =
            remote.backend.predict(request).await.and_then(|answer| {
                checked(answer, valid.len(), snap.preprocessor.config().ceiling)
            });
        let took = t0.elapsed();
        metrics::histogram!(m::REMOTE_LATENCY).record(took.as_secs_f64());
        match outcome {
            Ok(answer) => {
                permit.success();
                metrics::counter!(m::REMOTE_CALLS, "outcome" => "ok").increment(1);
                let version = answer
                    .model_version
                    .unwrap_or_else(|| remote.name().to_string());
                valid
                    .into_iter()
                    .zip(answer.ruls)
                    .map(|((req, prepared), raw)| {
                        let timing = Timing {
                            queue_us: 0,
                            model_us: micros(took),
                            total_us: micros(start.elapsed()),
                        };
                        Ok(calibrated_prediction(
                            &snap.calibration,
                            req.engine_id,
                            &prepared,
                            raw,
                            version.clone(),
                            Source::Sagemaker,
                            timing,
                        ))
                    })
                    .collect()
            }
            Err(error) => {
                permit.failure();
                let reason = error.reason();
                metrics::counter!(m::REMOTE_CALLS, "outcome" => reason.as_str()).increment(1);
                tracing::warn!(
                    backend = remote.name(),
                    reason = reason.as_str(),
                    error = %error,
                    "remote prediction failed; answering from the local model"
                );
                self.fall_back(valid, reason).await
            }
        }
    }

    /// Answers from the local model, marking every answer as a fallback for `reason` and counting it.
    async fn fall_back(
        &self,
        valid: Vec<(PredictRequest, Prepared)>,
        reason: FallbackReason,
    ) -> Vec<Answer> {
        metrics::counter!(m::REMOTE_FALLBACKS, "reason" => reason.as_str())
            .increment(valid.len() as u64);
        let reqs = valid.into_iter().map(|(req, _)| req).collect();
        self.predict_many_local(reqs)
            .await
            .into_iter()
            .map(|answer| match answer {
                Ok(mut p) => {
                    p.source = Source::LocalFallback;
                    p.fallback_reason = Some(reason.as_str());
                    Ok(p)
                }
                // Both backends failed: the architecture's "remote failure after fallback also failed".
                Err(PredictError::Overloaded) => Err(PredictError::Overloaded),
                Err(e) => Err(PredictError::Remote(format!(
                    "remote unavailable ({}); local fallback failed: {e}",
                    reason.as_str()
                ))),
            })
            .collect()
    }
}

/// How far past the label ceiling a remote RUL may lie and still come from a model trained with that ceiling
/// (raw outputs overshoot a little at both ends; 1e12 or -1e308 come from a broken endpoint).
const REMOTE_PLAUSIBLE_MARGIN: f64 = 0.5;

/// Checks that a remote answer has one finite, plausible RUL per window: within
/// [-margin x ceiling, (1 + margin) x ceiling] for the serving model's label ceiling.
fn checked(
    answer: RemoteAnswer,
    expected: usize,
    ceiling: f64,
) -> Result<RemoteAnswer, RemoteError> {
    if answer.ruls.len() != expected {
        return Err(RemoteError::Malformed(format!(
            "{} predictions for {expected} windows",
            answer.ruls.len()
        )));
    }
    if answer.ruls.iter().any(|v| !v.is_finite()) {
        return Err(RemoteError::Malformed("a prediction is not finite".into()));
    }
    let (lo, hi) = (
        -REMOTE_PLAUSIBLE_MARGIN * ceiling,
        (1.0 + REMOTE_PLAUSIBLE_MARGIN) * ceiling,
    );
    if let Some(v) = answer.ruls.iter().find(|v| !(lo..=hi).contains(*v)) {
        return Err(RemoteError::Malformed(format!(
            "a prediction ({v:.4e}) lies outside the plausible range [{lo}, {hi}] for a model with RUL ceiling {ceiling}"
        )));
    }
    Ok(answer)
}
