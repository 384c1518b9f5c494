//! `rul train`: fit a model on one subset and write a complete artifact directory; the run is
//! recorded in the runs directory (and MLflow when `MLFLOW_TRACKING_URI` is set).

use anyhow::Context;
use clap::Args;
use rul_data::{Subset, SubsetData, load_subset, resolve_data_dir};
use rul_model::TrainConfig;
use rul_model::train::EpochReport;
use rul_track::TrackSettings;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

/// What a training command reads: the subset, its configuration and data, and where runs are recorded.
#[derive(Args)]
pub struct TrainingInput {
    /// C-MAPSS subset to train on.
    #[arg(long)]
    subset: Subset,
    /// Training configuration (TOML or JSON); per-subset defaults otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Maximum epochs (overrides the config).
    #[arg(long)]
    epochs: Option<usize>,
    /// Folder with the C-MAPSS files (default: $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Local runs directory for the experiment records (`<dir>/<timestamp>-<id>/run.json`).
    #[arg(long, env = "RUL_RUNS_DIR", default_value = "runs")]
    runs_dir: PathBuf,
}

impl TrainingInput {
    /// The configuration file (or the subset's defaults) with `--epochs`, and the subset's data.
    pub fn load(&self) -> anyhow::Result<(TrainConfig, SubsetData)> {
        let subset = self.subset;
        let mut config = match &self.config {
            Some(path) => TrainConfig::from_file(path)
                .with_context(|| format!("loading {}", path.display()))?,
            None => TrainConfig::for_subset(subset),
        };
        anyhow::ensure!(
            config.subset == subset,
            "the config is for {} but --subset is {subset}",
            config.subset,
        );
        if let Some(epochs) = self.epochs {
            config.epochs = epochs;
        }
        let dir = resolve_data_dir(self.data_dir.as_deref());
        let data = load_subset(&dir, subset)
            .with_context(|| format!("loading {subset} from {}", dir.display()))?;
        Ok((config, data))
    }

    /// Where the runs are recorded (the runs directory, and MLflow when configured).
    pub fn track(&self) -> TrackSettings {
        TrackSettings::from_env(Some(self.runs_dir.clone()), &format!("rul-{}", self.subset))
    }
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    input: TrainingInput,
    /// Artifact directory to write (created or replaced).
    #[arg(long)]
    out: PathBuf,
    /// Seed for splits, initialisation, dropout and shuffling (overrides the config).
    #[arg(long)]
    seed: Option<u64>,
    /// Print the final summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Epoch lines: one updating line on a terminal, plain log lines otherwise.
fn progress_printer() -> impl FnMut(&EpochReport) -> ControlFlow<()> {
    let tty = std::io::stderr().is_terminal();
    move |r: &EpochReport| {
        let line = format!(
            "epoch {:>3}/{:<3} train_rmse {:>7.3}  val_rmse {:>7.3}  lr {:.2e}  best {:>7.3}@{:<3} elapsed {:>6.1}s  eta ≤{:>6.1}s",
            r.epoch,
            r.max_epochs,
            r.train_rmse,
            r.val_rmse,
            r.lr,
            r.best_val_rmse,
            r.best_epoch,
            r.elapsed_secs,
            r.eta_secs
        );
        let mut err = std::io::stderr();
        if tty {
            let _ = write!(err, "\r\x1b[2K{line}{}", if r.improved { " *" } else { "" });
            let _ = err.flush();
        } else {
            let _ = writeln!(err, "{line}{}", if r.improved { " improved" } else { "" });
        }
        ControlFlow::Continue(())
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let (mut config, data) = args.input.load()?;
    if let Some(seed) = args.seed {
        config = config.with_seed(seed);
    }
    let mut progress = progress_printer();
    let track = args.input.track();
    let name = args
        .out
        .file_name()
        .map_or_else(|| "train".into(), |n| n.to_string_lossy().into_owned());
    let tags = BTreeMap::from([("rul.command".to_string(), "train".to_string())]);
    let tracked = rul_tune::train_tracked(
        &data,
        &config,
        &args.out,
        &track,
        &name,
        tags,
        &mut progress,
    )
    .context("recording the run")?;
    eprintln!();
    for warning in &tracked.record.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(dir) = &tracked.run_dir {
        eprintln!("run recorded in {}", dir.display());
    }
    let summary = tracked.result.context("training")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "wrote {} ({}): {} epochs (best {}, {:?}), {:.1}s training ({:.0} windows/s), {:.1}s total, val RMSE {:.3}",
            summary.dir.display(),
            summary.version,
            summary.epochs_run,
            summary.best_epoch,
            summary.stop,
            summary.train_seconds,
            summary.train_windows_per_second,
            summary.total_seconds,
            summary.val_rmse
        );
        if let Some(test) = &summary.test {
            crate::evaluate::print_report(test);
        }
    }
    Ok(())
}
