//! Running a study: trials drawn by the [`Sampler`], trained through [`train_tracked`] with the
//! [`MedianPruner`] watching each epoch, recorded in the [`StudyStore`] as they finish.
//!
//! `jobs > 1` runs that many trials at once on worker threads, but `rul_model::train::fit`
//! holds a process-wide lock (burn's random generator is global, and one training at a time
//! keeps every trial deterministic), so only data preparation, calibration, test evaluation
//! and artifact writing overlap; the training loops themselves still run one after another.

use std::collections::{BTreeMap, VecDeque};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use rul_data::SubsetData;
use rul_model::train::EpochReport;
use rul_model::{StopReason, TrainConfig};
use rul_track::TrackSettings;
use serde_json::Value;

use crate::error::TuneError;
use crate::report::{best_trial, write_best};
use crate::sampler::{Observation, Sampler};
use crate::store::{StudySettings, StudyStore, TrialRecord, TrialState};
use crate::tracked::train_tracked;

/// What to run.
#[derive(Clone, Debug)]
pub struct StudyRequest {
    /// Study directory (created, or resumed when it holds a study).
    pub dir: PathBuf,
    /// Settings; on resume they must equal the stored ones.
    pub settings: StudySettings,
    /// Whether `settings.space` was given explicitly (else a resumed study keeps its own).
    pub space_given: bool,
    /// Total trials the study should have when done (finished ones count).
    pub trials: usize,
    /// Trials at once (see the module documentation for what runs concurrently).
    pub jobs: usize,
    /// Where each trial's run is recorded.
    pub track: TrackSettings,
}

/// Progress of a study, for display.
#[derive(Debug)]
pub enum StudyEvent<'a> {
    /// The study directory is open; `resumed` trials were already finished.
    Opened {
        /// Trials finished before this session.
        resumed: usize,
        /// Target number of trials.
        total: usize,
        /// The study's settings.
        settings: &'a StudySettings,
    },
    /// A trial starts with these parameters.
    TrialStarted {
        /// Trial number.
        number: usize,
        /// Sampled values.
        params: &'a BTreeMap<String, Value>,
    },
    /// A trial finished an epoch.
    Epoch {
        /// Trial number.
        number: usize,
        /// The epoch.
        report: &'a EpochReport,
    },
    /// A trial finished (complete, pruned or failed) and was recorded.
    TrialFinished {
        /// Its record.
        record: &'a TrialRecord,
        /// Trials finished so far, this one included.
        finished: usize,
        /// Target number of trials.
        total: usize,
        /// Best completed trial so far.
        best: Option<&'a TrialRecord>,
        /// Estimated seconds left (mean trial time this session × trials left).
        eta_secs: Option<f64>,
    },
}

/// What a study run produced.
#[derive(Debug)]
pub struct StudyOutcome {
    /// Every finished trial, by number.
    pub trials: Vec<TrialRecord>,
    /// Trials run in this session.
    pub ran: usize,
    /// The best completed trial.
    pub best: Option<TrialRecord>,
    /// `best.toml`, when there is a best trial.
    pub best_config: Option<PathBuf>,
    /// The study's settings.
    pub settings: StudySettings,
}

struct Shared {
    finished: Vec<TrialRecord>,
    pending: VecDeque<usize>,
    error: Option<TuneError>,
    session_seconds: Vec<f64>,
}

/// Runs (or resumes) a study until it has `trials` finished trials, then writes `best.toml`.
pub fn run_study(
    request: &StudyRequest,
    data: &SubsetData,
    on_event: &(dyn Fn(StudyEvent<'_>) + Sync),
) -> Result<StudyOutcome, TuneError> {
    if data.subset != request.settings.subset {
        return Err(TuneError::Study {
            path: request.dir.clone(),
            problem: format!(
                "the data is {} but the study tunes {}",
                data.subset, request.settings.subset
            ),
        });
    }
    let (store, finished) =
        StudyStore::open(&request.dir, request.settings.clone(), request.space_given)?;
    let settings = store.settings().clone();
    // The base must be valid before any trial runs.
    settings.space.base_config(settings.subset)?;
    on_event(StudyEvent::Opened {
        resumed: finished.len(),
        total: request.trials,
        settings: &settings,
    });
    let done: std::collections::BTreeSet<usize> = finished.iter().map(|t| t.number).collect();
    let pending: VecDeque<usize> = (0..request.trials).filter(|n| !done.contains(n)).collect();
    let jobs = request.jobs.clamp(1, pending.len().max(1));
    let sampler = Sampler::new(&settings.space, settings.seed, settings.startup_trials);
    let shared = Mutex::new(Shared {
        finished,
        pending,
        error: None,
        session_seconds: Vec::new(),
    });
    let ctx = Ctx {
        store: &store,
        settings: &settings,
        sampler: &sampler,
        data,
        track: &request.track,
        total: request.trials,
        shared: &shared,
        on_event,
    };
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| ctx.worker());
        }
    });
    let shared = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = shared.error {
        return Err(e);
    }
    let mut trials = shared.finished;
    trials.sort_by_key(|t| t.number);
    let best = best_trial(&trials).cloned();
    let best_config = match &best {
        Some(b) => Some(write_best(store.dir(), b)?),
        None => None,
    };
    Ok(StudyOutcome {
        trials,
        ran: shared.session_seconds.len(),
        best,
        best_config,
        settings,
    })
}

/// What every worker shares.
struct Ctx<'a> {
    store: &'a StudyStore,
    settings: &'a StudySettings,
    sampler: &'a Sampler,
    data: &'a SubsetData,
    track: &'a TrackSettings,
    total: usize,
    shared: &'a Mutex<Shared>,
    on_event: &'a (dyn Fn(StudyEvent<'_>) + Sync),
}

impl Ctx<'_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes trials off the queue until it is empty or the study failed.
    fn worker(&self) {
        loop {
            let (number, params) = {
                let mut shared = self.lock();
                if shared.error.is_some() {
                    return;
                }
                let Some(number) = shared.pending.pop_front() else {
                    return;
                };
                let mut told: Vec<&TrialRecord> = shared
                    .finished
                    .iter()
                    .filter(|t| t.state != TrialState::Failed && t.value.is_some())
                    .collect();
                told.sort_by_key(|t| t.number);
                let history: Vec<Observation<'_>> = told
                    .iter()
                    .filter_map(|t| t.value.map(|v| (&t.params, v)))
                    .collect();
                match self.sampler.sample(number, &history) {
                    Ok(p) => (number, p),
                    Err(e) => {
                        shared.error = Some(e);
                        return;
                    }
                }
            };
            (self.on_event)(StudyEvent::TrialStarted {
                number,
                params: &params,
            });
            let result = self.run_trial(number, params);
            let mut shared = self.lock();
            let record = match result.and_then(|r| self.store.append(&r).map(|()| r)) {
                Ok(r) => r,
                Err(e) => {
                    shared.error = Some(e);
                    return;
                }
            };
            shared.session_seconds.push(record.seconds);
            shared.finished.push(record);
            let finished = shared.finished.len();
            let mean =
                shared.session_seconds.iter().sum::<f64>() / shared.session_seconds.len() as f64;
            let left = self.total.saturating_sub(finished);
            let best = best_trial(&shared.finished);
            if let Some(record) = shared.finished.last() {
                (self.on_event)(StudyEvent::TrialFinished {
                    record,
                    finished,
                    total: self.total,
                    best,
                    eta_secs: (left > 0).then_some(mean * left as f64),
                });
            }
        }
    }

    /// Trains one trial. Training failures become a failed record; only study-level problems
    /// (an unwritable runs directory) are errors.
    fn run_trial(
        &self,
        number: usize,
        params: BTreeMap<String, Value>,
    ) -> Result<TrialRecord, TuneError> {
        let started = Instant::now();
        let mut record = TrialRecord {
            number,
            state: TrialState::Failed,
            params,
            value: None,
            val_rmse: Vec::new(),
            best_epoch: 0,
            stop: None,
            seconds: 0.0,
            test_rmse: None,
            test_score: None,
            artifact: None,
            run_dir: None,
            error: None,
            config: None,
            finished: String::new(),
        };
        let config = match self.trial_config(&record.params) {
            Ok(c) => c,
            Err(e) => {
                record.error = Some(e.to_string());
                record.finished = rul_model::pipeline::now_rfc3339();
                return Ok(record);
            }
        };
        let study = self
            .store
            .dir()
            .file_name()
            .map_or_else(|| "study".into(), |n| n.to_string_lossy().into_owned());
        let tags = BTreeMap::from([
            ("rul.command".to_string(), "tune".to_string()),
            (
                "rul.study".to_string(),
                self.store.dir().display().to_string(),
            ),
            ("rul.trial".to_string(), number.to_string()),
        ]);
        let out = self.store.artifact_dir(number);
        let mut history: Vec<f64> = Vec::new();
        let tracked = train_tracked(
            self.data,
            &config,
            &out,
            self.track,
            &format!("{study}-trial-{number}"),
            tags,
            &mut |r: &EpochReport| {
                history.push(r.val_rmse);
                (self.on_event)(StudyEvent::Epoch { number, report: r });
                let completed: Vec<Vec<f64>> = self
                    .lock()
                    .finished
                    .iter()
                    .filter(|t| t.state == TrialState::Complete)
                    .map(|t| t.val_rmse.clone())
                    .collect();
                if self.settings.pruner.should_prune(&history, &completed) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )?;
        record.val_rmse = history;
        record.run_dir = tracked.run_dir;
        record.config = Some(config);
        match tracked.result {
            Ok(summary) => {
                record.state = if summary.stop == StopReason::Pruned {
                    TrialState::Pruned
                } else {
                    TrialState::Complete
                };
                record.value = Some(summary.val_rmse);
                record.best_epoch = summary.best_epoch;
                record.stop = Some(summary.stop);
                record.test_rmse = tracked.record.metrics.get("test_rmse").copied();
                record.test_score = tracked.record.metrics.get("test_score").copied();
                record.artifact = Some(summary.dir);
            }
            Err(e) => record.error = Some(e.to_string()),
        }
        record.seconds = started.elapsed().as_secs_f64();
        record.finished = rul_model::pipeline::now_rfc3339();
        Ok(record)
    }

    /// The space's configuration for these values with the study's epoch cap and time budget.
    fn trial_config(&self, params: &BTreeMap<String, Value>) -> Result<TrainConfig, TuneError> {
        let mut config = self.settings.space.config(self.settings.subset, params)?;
        if let Some(epochs) = self.settings.max_epochs {
            config.epochs = epochs;
        }
        if let Some(t) = self.settings.trial_time_budget_secs {
            config.time_budget_secs = Some(t);
        }
        config.validate().map_err(|problem| TuneError::Space {
            source_name: "trial configuration".into(),
            problem,
        })?;
        Ok(config)
    }
}
