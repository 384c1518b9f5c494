//! `rul seeds`: the multi-seed protocol — train one configuration with several seeds and print
//! every seed's validation and test figures with their mean ± sd (the judge is validation RMSE).

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rul_data::Subset;
use rul_track::TrackSettings;
use rul_tune::{run_seeds, seeds_table};

#[derive(Args)]
pub struct SeedsArgs {
    /// C-MAPSS subset to train on.
    #[arg(long)]
    subset: Subset,
    /// Training configuration (TOML or JSON); per-subset defaults otherwise. Its seed is ignored.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seeds to train with (comma-separated; at least 3 for a spread worth reading).
    #[arg(long, value_delimiter = ',', default_values_t = [42u64, 43, 44])]
    seeds: Vec<u64>,
    /// Folder for the artifacts (`<out>/seed-<seed>`).
    #[arg(long)]
    out: PathBuf,
    /// Maximum epochs (overrides the config).
    #[arg(long)]
    epochs: Option<usize>,
    /// Folder with the C-MAPSS files (default: $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print the study as JSON (every seed's figures and the spread).
    #[arg(long)]
    json: bool,
    /// Local runs directory for the experiment records (one run per seed).
    #[arg(long, env = "RUL_RUNS_DIR", default_value = "runs")]
    runs_dir: PathBuf,
}

pub fn run(args: SeedsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.seeds.is_empty(), "--seeds needs at least one seed");
    let (config, data) = crate::train::config_and_data(
        args.subset,
        args.config.as_deref(),
        args.epochs,
        args.data_dir.as_deref(),
    )?;
    let track =
        TrackSettings::from_env(Some(args.runs_dir.clone()), &format!("rul-{}", args.subset));
    let study = run_seeds(
        &data,
        &config,
        &args.seeds,
        &args.out,
        &track,
        &mut |seed, r| {
            let _ = writeln!(
                std::io::stderr(),
                "seed {seed} epoch {:>3} val_rmse {:>7.3} best {:>7.3}@{} elapsed {:.1}s",
                r.epoch,
                r.val_rmse,
                r.best_val_rmse,
                r.best_epoch,
                r.elapsed_secs
            );
            ControlFlow::Continue(())
        },
    )
    .context("multi-seed training")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&study)?);
    } else {
        print!("{}", seeds_table(&study));
    }
    Ok(())
}
