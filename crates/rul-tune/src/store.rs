//! The study directory: `study.json` (the settings a study was created with, checked on
//! resume), `trials.jsonl` (one JSON line per finished trial, appended and flushed as each
//! trial ends, so an interrupted study resumes without repeating finished trials),
//! `trials/<number>/model/` (each trial's artifact) and `best.toml` (see [`crate::report`]).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use rul_data::Subset;
use rul_model::{StopReason, TrainConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::TuneError;
use crate::pruner::MedianPruner;
use crate::space::SearchSpace;

/// Settings file of a study.
pub const STUDY_FILE: &str = "study.json";
/// One line per finished trial.
pub const TRIALS_FILE: &str = "trials.jsonl";
/// Version of the study files' layout.
pub const STUDY_FORMAT_VERSION: u32 = 1;

/// What defines a study's objective and sampling; a resumed study must use the same.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StudySettings {
    /// Subset tuned on.
    pub subset: Subset,
    /// Search space.
    pub space: SearchSpace,
    /// Sampler seed (trial training uses the base configuration's seed).
    pub seed: u64,
    /// Uniformly random trials before TPE takes over.
    pub startup_trials: usize,
    /// Pruning settings.
    pub pruner: MedianPruner,
    /// Epoch cap per trial (overrides the space's base when set).
    pub max_epochs: Option<usize>,
    /// Wall-clock budget per trial in seconds (the best epoch so far is kept).
    pub trial_time_budget_secs: Option<f64>,
}

/// How a trial ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TrialState {
    /// Trained to the end (max epochs, early stopping or time budget).
    Complete,
    /// Stopped by the pruner.
    Pruned,
    /// Training failed (invalid combination, divergence, …).
    Failed,
}

/// One line of `trials.jsonl`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TrialRecord {
    /// Trial number, from 0.
    pub number: usize,
    /// How it ended.
    pub state: TrialState,
    /// Sampled parameter values by name.
    pub params: BTreeMap<String, Value>,
    /// Objective: best validation RMSE (for pruned trials, the best before pruning).
    pub value: Option<f64>,
    /// Validation RMSE of every epoch run.
    pub val_rmse: Vec<f64>,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Why training stopped.
    pub stop: Option<StopReason>,
    /// Seconds the trial took (preparation to artifact).
    pub seconds: f64,
    /// Test-set RMSE and PHM08 score of the trial's model (recorded only, never the objective).
    pub test_rmse: Option<f64>,
    /// PHM08 score on the test set.
    pub test_score: Option<f64>,
    /// The trial's artifact directory.
    pub artifact: Option<PathBuf>,
    /// The trial's local tracking run folder.
    pub run_dir: Option<PathBuf>,
    /// Why it failed.
    pub error: Option<String>,
    /// The full training configuration the trial used.
    pub config: Option<TrainConfig>,
    /// When it finished (RFC 3339).
    pub finished: String,
}

#[derive(Serialize, Deserialize)]
struct StudyFile {
    format_version: u32,
    created: String,
    settings: StudySettings,
}

/// An open study directory.
#[derive(Debug)]
pub struct StudyStore {
    dir: PathBuf,
    settings: StudySettings,
}

impl StudyStore {
    /// Opens `dir`, creating the study when it has no `study.json`. An existing study must have
    /// been created with the same settings (a different space or seed would make resumed trials
    /// incomparable); `space: None` adopts the stored space. Returns the finished trials.
    pub fn open(
        dir: &Path,
        settings: StudySettings,
        space_given: bool,
    ) -> Result<(Self, Vec<TrialRecord>), TuneError> {
        std::fs::create_dir_all(dir).map_err(|e| TuneError::io(dir, e))?;
        let path = dir.join(STUDY_FILE);
        let settings = if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| TuneError::io(&path, e))?;
            let stored: StudyFile = serde_json::from_str(&text).map_err(|e| study_err(&path, e))?;
            if stored.format_version != STUDY_FORMAT_VERSION {
                return Err(study_err(
                    &path,
                    format!("format version {} is not supported", stored.format_version),
                ));
            }
            let mut wanted = settings;
            if !space_given {
                wanted.space = stored.settings.space.clone();
            }
            if let Some(field) = first_difference(&stored.settings, &wanted) {
                return Err(study_err(
                    dir,
                    format!(
                        "was created with a different {field}; resume with the same settings \
                         (see {STUDY_FILE}) or use another --study directory"
                    ),
                ));
            }
            stored.settings
        } else {
            let file = StudyFile {
                format_version: STUDY_FORMAT_VERSION,
                created: rul_model::pipeline::now_rfc3339(),
                settings,
            };
            let text = serde_json::to_string_pretty(&file).map_err(|e| study_err(&path, e))?;
            std::fs::write(&path, text).map_err(|e| TuneError::io(&path, e))?;
            file.settings
        };
        let store = Self {
            dir: dir.to_path_buf(),
            settings,
        };
        let trials = store.load_trials()?;
        Ok((store, trials))
    }

    /// The study directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The study's settings (as stored).
    pub fn settings(&self) -> &StudySettings {
        &self.settings
    }

    /// Where trial `number` writes its artifact.
    pub fn artifact_dir(&self, number: usize) -> PathBuf {
        self.dir
            .join("trials")
            .join(format!("{number:04}"))
            .join("model")
    }

    /// Reads `trials.jsonl`. A last line without its newline is a write cut short by an
    /// interruption: it is ignored (that trial runs again). Any other unreadable line is an error.
    pub fn load_trials(&self) -> Result<Vec<TrialRecord>, TuneError> {
        let path = self.dir.join(TRIALS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(TuneError::io(&path, e)),
        };
        let complete_text = if text.ends_with('\n') {
            text.as_str()
        } else {
            let cut = text.rfind('\n').map_or(0, |i| i + 1);
            if cut < text.len() {
                tracing::warn!(file = %path.display(), "ignoring an unfinished last line");
            }
            &text[..cut]
        };
        let mut by_number: BTreeMap<usize, TrialRecord> = BTreeMap::new();
        for (i, line) in complete_text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record: TrialRecord = serde_json::from_str(line)
                .map_err(|e| study_err(&path, format!("line {}: {e}", i + 1)))?;
            by_number.insert(record.number, record);
        }
        Ok(by_number.into_values().collect())
    }

    /// Appends one finished trial (one `write` of a whole line, then flushed to disk).
    pub fn append(&self, record: &TrialRecord) -> Result<(), TuneError> {
        let path = self.dir.join(TRIALS_FILE);
        let mut line = serde_json::to_string(record).map_err(|e| study_err(&path, e))?;
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TuneError::io(&path, e))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| TuneError::io(&path, e))
    }
}

/// Name of the first setting that differs, if any.
fn first_difference(a: &StudySettings, b: &StudySettings) -> Option<&'static str> {
    if a.subset != b.subset {
        Some("subset")
    } else if a.space != b.space {
        Some("search space")
    } else if a.seed != b.seed {
        Some("seed")
    } else if a.startup_trials != b.startup_trials {
        Some("number of startup trials")
    } else if a.pruner != b.pruner {
        Some("pruner setting")
    } else if a.max_epochs != b.max_epochs {
        Some("epoch cap")
    } else if a.trial_time_budget_secs != b.trial_time_budget_secs {
        Some("trial time budget")
    } else {
        None
    }
}

fn study_err(path: &Path, problem: impl std::fmt::Display) -> TuneError {
    TuneError::Study {
        path: path.to_path_buf(),
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> StudySettings {
        StudySettings {
            subset: Subset::FD001,
            space: SearchSpace::plan(),
            seed: 1,
            startup_trials: 3,
            pruner: MedianPruner::default(),
            max_epochs: Some(5),
            trial_time_budget_secs: None,
        }
    }

    fn record(number: usize) -> TrialRecord {
        TrialRecord {
            number,
            state: TrialState::Failed,
            params: BTreeMap::new(),
            value: None,
            val_rmse: vec![],
            best_epoch: 0,
            stop: None,
            seconds: 0.0,
            test_rmse: None,
            test_score: None,
            artifact: None,
            run_dir: None,
            error: Some("x".into()),
            config: None,
            finished: String::new(),
        }
    }

    #[test]
    fn an_unfinished_last_line_is_ignored_but_a_broken_middle_line_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let (store, trials) = StudyStore::open(tmp.path(), settings(), true).unwrap();
        assert!(trials.is_empty());
        store.append(&record(0)).unwrap();
        store.append(&record(1)).unwrap();
        let path = tmp.path().join(TRIALS_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"number\": 2, \"sta");
        std::fs::write(&path, &text).unwrap();
        let numbers: Vec<usize> = store
            .load_trials()
            .unwrap()
            .iter()
            .map(|t| t.number)
            .collect();
        assert_eq!(numbers, vec![0, 1]);
        std::fs::write(&path, format!("garbage\n{text}\n")).unwrap();
        let err = store.load_trials().unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn resuming_with_other_settings_is_refused_and_the_stored_space_is_adopted() {
        let tmp = tempfile::tempdir().unwrap();
        StudyStore::open(tmp.path(), settings(), true).unwrap();
        let mut other = settings();
        other.seed = 2;
        let err = StudyStore::open(tmp.path(), other, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("seed"), "{err}");
        let mut no_space = settings();
        no_space.space.params.truncate(1);
        assert!(StudyStore::open(tmp.path(), no_space.clone(), true).is_err());
        let (store, _) = StudyStore::open(tmp.path(), no_space, false).unwrap();
        assert_eq!(store.settings().space, SearchSpace::plan());
    }
}
