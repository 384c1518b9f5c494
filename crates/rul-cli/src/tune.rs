//! `rul tune`: hyperparameter search (TPE + median pruning) over a declared space, resumable
//! from its study directory; prints progress, the trials table and where `best.toml` went.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rul_data::{Subset, load_subset, resolve_data_dir};
use rul_track::TrackSettings;
use rul_tune::{
    MedianPruner, SearchSpace, StudyEvent, StudyRequest, StudySettings, TrialState, run_study,
    trials_table,
};

#[derive(Args)]
pub struct TuneArgs {
    /// C-MAPSS subset to tune on (validation engines come from its training file).
    #[arg(long)]
    subset: Subset,
    /// Trials the study should have when done (finished trials of a resumed study count).
    #[arg(long, default_value_t = 20)]
    trials: usize,
    /// Search space (TOML); default: the plan's LSTM space. A resumed study keeps its own.
    #[arg(long)]
    space: Option<PathBuf>,
    /// Study directory (trials.jsonl, trial artifacts, best.toml); re-running resumes it.
    #[arg(long)]
    study: Option<PathBuf>,
    /// Trials at once. Training loops still run one at a time (burn's global RNG); only data
    /// preparation, calibration, evaluation and artifact writing overlap.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Sampler seed (each trial trains with the space's training seed).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Random trials before TPE takes over.
    #[arg(long, default_value_t = 10)]
    startup_trials: usize,
    /// Completed trials before the median pruner may prune.
    #[arg(long, default_value_t = 5)]
    prune_after_trials: usize,
    /// Epochs at the start of every trial that are never pruned.
    #[arg(long, default_value_t = 1)]
    prune_warmup_epochs: usize,
    /// Epoch cap per trial (default: the space's base or the subset's default).
    #[arg(long)]
    max_epochs: Option<usize>,
    /// Wall-clock budget per trial in seconds; the best epoch so far is kept.
    #[arg(long)]
    trial_time_budget: Option<f64>,
    /// Local runs directory for the trials' experiment records.
    #[arg(long, env = "RUL_RUNS_DIR", default_value = "runs")]
    runs_dir: PathBuf,
    /// Folder with the C-MAPSS files (default: $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: TuneArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.trials > 0, "--trials must be at least 1");
    anyhow::ensure!(args.jobs > 0, "--jobs must be at least 1");
    let space = match &args.space {
        Some(path) => SearchSpace::from_file(path)?,
        None => SearchSpace::plan(),
    };
    let study_dir = args
        .study
        .clone()
        .unwrap_or_else(|| PathBuf::from("studies").join(args.subset.name().to_lowercase()));
    let request = StudyRequest {
        dir: study_dir.clone(),
        settings: StudySettings {
            subset: args.subset,
            space,
            seed: args.seed,
            startup_trials: args.startup_trials,
            pruner: MedianPruner {
                startup_trials: args.prune_after_trials,
                warmup_epochs: args.prune_warmup_epochs,
            },
            max_epochs: args.max_epochs,
            trial_time_budget_secs: args.trial_time_budget,
        },
        space_given: args.space.is_some(),
        trials: args.trials,
        jobs: args.jobs,
        track: TrackSettings::from_env(
            Some(args.runs_dir.clone()),
            &format!("rul-{}", args.subset),
        ),
    };
    let dir = resolve_data_dir(args.data_dir.as_deref());
    let data = load_subset(&dir, args.subset)
        .with_context(|| format!("loading {} from {}", args.subset, dir.display()))?;
    let tty = std::io::stderr().is_terminal();
    let outcome = run_study(&request, &data, &|event| print_event(&event, tty))
        .with_context(|| format!("study {}", study_dir.display()))?;

    let names: Vec<String> = outcome
        .settings
        .space
        .params
        .iter()
        .map(|p| p.name.clone())
        .collect();
    println!("{}", trials_table(&outcome.trials, &names));
    let pruned = outcome
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .count();
    let failed = outcome
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Failed)
        .count();
    println!(
        "{} trials ({} run now, {pruned} pruned, {failed} failed) in {}",
        outcome.trials.len(),
        outcome.ran,
        study_dir.display()
    );
    match (&outcome.best, &outcome.best_config) {
        (Some(best), Some(path)) => println!(
            "best: trial {} with validation RMSE {:.4}; configuration in {}\n\
             re-train: rul train --subset {} --config {} --out models/{}-tuned",
            best.number,
            best.value.unwrap_or(f64::NAN),
            path.display(),
            args.subset,
            path.display(),
            args.subset.name().to_lowercase()
        ),
        _ => println!("no trial completed, so there is no best configuration"),
    }
    Ok(())
}

fn print_event(event: &StudyEvent<'_>, tty: bool) {
    let mut err = std::io::stderr();
    match event {
        StudyEvent::Opened { resumed, total, .. } => {
            if *resumed > 0 {
                let _ = writeln!(
                    err,
                    "resuming: {resumed} of {total} trials already finished"
                );
            }
        }
        StudyEvent::TrialStarted { number, params } => {
            let shown: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}={}", rul_tune::report::format_value(v)))
                .collect();
            let _ = writeln!(err, "trial {number}: {}", shown.join(" "));
        }
        StudyEvent::Epoch { number, report } if tty => {
            let _ = write!(
                err,
                "\r\x1b[2K  trial {number} epoch {}/{} val_rmse {:.3} best {:.3}",
                report.epoch, report.max_epochs, report.val_rmse, report.best_val_rmse
            );
            let _ = err.flush();
        }
        StudyEvent::Epoch { .. } => {}
        StudyEvent::TrialFinished {
            record,
            finished,
            total,
            best,
            eta_secs,
        } => {
            let state = match record.state {
                TrialState::Complete => "complete",
                TrialState::Pruned => "PRUNED",
                TrialState::Failed => "FAILED",
            };
            let value = record.value.map_or("-".into(), |v| format!("{v:.3}"));
            let best = best.map_or("-".into(), |b| {
                format!("{:.3} (trial {})", b.value.unwrap_or(f64::NAN), b.number)
            });
            let eta = eta_secs.map_or(String::new(), |s| format!("  eta {}", minutes(s)));
            let clear = if tty { "\r\x1b[2K" } else { "" };
            let _ = writeln!(
                err,
                "{clear}[{finished}/{total}] trial {} {state} val_rmse {value} after {} epochs ({:.0}s)  best {best}{eta}",
                record.number,
                record.val_rmse.len(),
                record.seconds
            );
            if let Some(e) = &record.error {
                let _ = writeln!(err, "  error: {e}");
            }
        }
    }
}

fn minutes(secs: f64) -> String {
    if secs >= 90.0 {
        format!("{:.0}m", secs / 60.0)
    } else {
        format!("{secs:.0}s")
    }
}
