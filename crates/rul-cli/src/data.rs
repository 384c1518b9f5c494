//! `rul data inspect` and `rul data fetch`.

use anyhow::Context;
use clap::{Args, Subcommand};
use rul_data::{
    Engine, Preprocessor, PreprocessorConfig, Subset, load_subset, resolve_data_dir, train_labels,
};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Print engines, rows, cycle lengths, window count and condition count per split.
    Inspect(InspectArgs),
    /// Download the public NASA archive, verify SHA-256 checksums and unpack the twelve files.
    Fetch(crate::fetch::FetchArgs),
}

#[derive(Args)]
pub struct InspectArgs {
    /// Folder with the C-MAPSS files (default: $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Subset to inspect; all four when omitted.
    #[arg(long)]
    subset: Option<Subset>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also time load + label + normalise + window over the chosen subsets (best of 5 passes).
    #[arg(long)]
    bench: bool,
}

#[derive(Serialize)]
struct SplitSummary {
    engines: usize,
    rows: usize,
    cycles_min: usize,
    cycles_median: usize,
    cycles_max: usize,
}

#[derive(Serialize)]
struct SubsetSummary {
    subset: Subset,
    train: SplitSummary,
    test: SplitSummary,
    window: usize,
    train_windows: usize,
    padded_test_windows: usize,
    conditions: usize,
}

fn split_summary(engines: &[Engine]) -> SplitSummary {
    let mut lengths: Vec<usize> = engines.iter().map(|e| e.cycles.len()).collect();
    lengths.sort_unstable();
    SplitSummary {
        engines: engines.len(),
        rows: lengths.iter().sum(),
        cycles_min: lengths.first().copied().unwrap_or(0),
        cycles_median: lengths.get(lengths.len() / 2).copied().unwrap_or(0),
        cycles_max: lengths.last().copied().unwrap_or(0),
    }
}

/// Loads, fits per-condition statistics and windows one subset as training would.
fn summarise(dir: &std::path::Path, subset: Subset) -> anyhow::Result<SubsetSummary> {
    let d = load_subset(dir, subset)
        .with_context(|| format!("loading {subset} from {}", dir.display()))?;
    let config = PreprocessorConfig {
        per_condition: true,
        ..PreprocessorConfig::for_subset(subset)
    };
    let p = Preprocessor::fit(config, &d.train)?;
    let labels: Vec<_> = d
        .train
        .iter()
        .map(|e| train_labels(e, p.config().ceiling))
        .collect();
    let train_windows = p.windows(&d.train, &labels).count;
    let test_labels: Vec<_> = d.test.iter().map(|e| vec![0.0; e.cycles.len()]).collect();
    let padded_test_windows = p.last_windows(&d.test, &test_labels).padded;
    Ok(SubsetSummary {
        subset,
        train: split_summary(&d.train),
        test: split_summary(&d.test),
        window: p.window(),
        train_windows,
        padded_test_windows,
        conditions: p.conditions().len(),
    })
}

pub fn run(cmd: DataCommand) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Inspect(args) => inspect(args),
        DataCommand::Fetch(args) => crate::fetch::run(args),
    }
}

fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let dir = resolve_data_dir(args.data_dir.as_deref());
    let subsets: Vec<Subset> = args
        .subset
        .map_or_else(|| Subset::all().to_vec(), |s| vec![s]);
    let summaries = subsets
        .iter()
        .map(|s| summarise(&dir, *s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
    } else {
        println!(
            "{:<6} {:<5} {:>7} {:>6} {:>12} {:>6} {:>9} {:>10} {:>6}",
            "subset",
            "split",
            "engines",
            "rows",
            "cycles m/md/M",
            "window",
            "windows",
            "padded",
            "conds"
        );
        for s in &summaries {
            for (name, split) in [("train", &s.train), ("test", &s.test)] {
                let (windows, padded) = if name == "train" {
                    (s.train_windows.to_string(), "-".to_string())
                } else {
                    ("-".to_string(), s.padded_test_windows.to_string())
                };
                println!(
                    "{:<6} {:<5} {:>7} {:>6} {:>12} {:>6} {:>9} {:>10} {:>6}",
                    s.subset,
                    name,
                    split.engines,
                    split.rows,
                    format!(
                        "{}/{}/{}",
                        split.cycles_min, split.cycles_median, split.cycles_max
                    ),
                    s.window,
                    windows,
                    padded,
                    s.conditions
                );
            }
        }
    }
    if args.bench {
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let start = Instant::now();
            for s in &subsets {
                summarise(&dir, *s)?;
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        eprintln!(
            "load+label+normalise+window of {} subset(s): best of 5 = {:.3} s",
            subsets.len(),
            best
        );
    }
    Ok(())
}
