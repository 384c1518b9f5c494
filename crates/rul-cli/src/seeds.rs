//! `rul seeds`: the multi-seed protocol — train one configuration with several seeds and print
//! every seed's validation and test figures with their mean ± sd (the judge is validation RMSE).

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rul_tune::{run_seeds, seeds_table};

#[derive(Args)]
pub struct SeedsArgs {
    /// Subset, configuration (its seed is ignored), data and runs directory (one run per seed).
    #[command(flatten)]
    input: crate::train::TrainingInput,
    /// Seeds to train with (comma-separated; at least 3 for a spread worth reading).
    #[arg(long, value_delimiter = ',', default_values_t = [42u64, 43, 44])]
    seeds: Vec<u64>,
    /// Folder for the artifacts (`<out>/seed-<seed>`).
    #[arg(long)]
    out: PathBuf,
    /// Print the study as JSON (every seed's figures and the spread).
    #[arg(long)]
    json: bool,
}

pub fn run(args: SeedsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.seeds.is_empty(), "--seeds needs at least one seed");
    let (config, data) = args.input.load()?;
    let track = args.input.track();
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
