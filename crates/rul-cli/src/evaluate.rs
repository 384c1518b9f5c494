//! `rul evaluate`: score an artifact on a subset's official test set.

use anyhow::Context;
use clap::Args;
use rul_data::{Subset, load_subset, resolve_data_dir};
use rul_model::artifact::Artifact;
use rul_model::evaluate::{EvalReport, evaluate};
use std::path::PathBuf;

#[derive(Args)]
pub struct EvaluateArgs {
    /// Artifact directory.
    #[arg(long)]
    model: PathBuf,
    /// Subset whose test set to use (default: the model's own).
    #[arg(long)]
    subset: Option<Subset>,
    /// Print the full report as JSON.
    #[arg(long)]
    json: bool,
    /// Write scatter, error-histogram and trajectory PNGs into this folder.
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Folder with the C-MAPSS files (default: $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: EvaluateArgs) -> anyhow::Result<()> {
    let artifact =
        Artifact::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    let subset = args.subset.unwrap_or(artifact.card().subset);
    let dir = resolve_data_dir(args.data_dir.as_deref());
    let data = load_subset(&dir, subset)
        .with_context(|| format!("loading {subset} from {}", dir.display()))?;
    let report = evaluate(&artifact, subset, &data.test, &data.test_rul).context("evaluating")?;
    if let Some(plots) = &args.plots {
        let written = rul_model::plots::write_plots(&report, plots)?;
        for p in written {
            eprintln!("wrote {}", p.display());
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// The human-readable table: raw truth is the headline, capped truth for comparison with papers.
pub fn print_report(r: &EvalReport) {
    println!(
        "model {} on {} test set ({} engines)",
        r.version, r.subset, r.engines
    );
    println!("{:<34} {:>8} {:>8} {:>10}", "", "RMSE", "MAE", "PHM08");
    let rows = [
        ("last cycle, raw truth (headline)", &r.last_cycle.raw),
        ("last cycle, truth capped at ceiling", &r.last_cycle.capped),
        ("all cycles, raw truth", &r.all_cycles.raw),
        ("all cycles, truth capped", &r.all_cycles.capped),
    ];
    for (name, m) in rows {
        println!(
            "{name:<34} {:>8.3} {:>8.3} {:>10.1}",
            m.rmse, m.mae, m.score
        );
    }
    println!(
        "{:.0}% intervals: coverage {:.1}% (last cycle), {:.1}% (all cycles); mean width {:.1} cycles",
        r.intervals.level * 100.0,
        r.intervals.coverage * 100.0,
        r.intervals_all_cycles.coverage * 100.0,
        r.intervals.mean_width
    );
    println!("confidence reliability (last cycle): predicted → observed (n)");
    for b in r.reliability.iter().filter(|b| b.count > 0) {
        println!(
            "  [{:.1}, {:.1}): {:.2} → {:.2} ({})",
            b.lo, b.hi, b.mean_confidence, b.observed, b.count
        );
    }
}
