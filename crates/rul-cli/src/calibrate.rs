//! `rul calibrate`: refit an artifact's `confidence` on its own calibration engines (isotonic,
//! against raw truth) without retraining, and rewrite its metrics, card and manifest from a fresh
//! evaluation. The intervals and weights are unchanged; the model version changes because
//! calibration.json is part of it. `--metrics-only` keeps the calibration and only refreshes
//! metrics, card and manifest.

use anyhow::Context;
use clap::Args;
use rul_data::{load_subset, resolve_data_dir};
use rul_model::artifact::Artifact;
use rul_model::recalibrate::Mode;
use std::path::PathBuf;

#[derive(Args)]
pub struct CalibrateArgs {
    /// Artifact directory, rewritten in place.
    #[arg(long)]
    model: PathBuf,
    /// Folder with the C-MAPSS files (default: $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Keep calibration.json (and the version); only re-evaluate and rewrite metrics.json,
    /// MODEL_CARD.md and the manifest (e.g. after the evaluation gained figures).
    #[arg(long)]
    metrics_only: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: CalibrateArgs) -> anyhow::Result<()> {
    let artifact =
        Artifact::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    let subset = artifact.card().subset;
    drop(artifact);
    let dir = resolve_data_dir(args.data_dir.as_deref());
    let data = load_subset(&dir, subset)
        .with_context(|| format!("loading {subset} from {}", dir.display()))?;
    let mode = if args.metrics_only {
        Mode::MetricsOnly
    } else {
        Mode::Isotonic
    };
    let s = rul_model::recalibrate::recalibrate(&args.model, &data, mode)
        .with_context(|| format!("recalibrating {}", args.model.display()))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "old_version": s.old_version,
                "new_version": s.new_version,
                "calibration_windows": s.windows,
                "test_ece_before": s.ece_before,
                "test_ece_after": s.report.ece,
                "test_ece_all_cycles_before": s.ece_all_cycles_before,
                "test_ece_all_cycles_after": s.report.ece_all_cycles,
                "validation_ece_before": s.validation_ece_before,
                "validation_ece_after": s.report.heldout.as_ref().map(|h| h.validation_ece),
            }))?
        );
    } else {
        println!(
            "{}: {} -> {} ({}; {} calibration windows)",
            args.model.display(),
            s.old_version,
            s.new_version,
            if args.metrics_only {
                "metrics refreshed, calibration kept"
            } else {
                "isotonic confidence"
            },
            s.windows
        );
        println!(
            "test ECE all cycles {:.3} -> {:.3}; last cycle {:.3} -> {:.3}",
            s.ece_all_cycles_before, s.report.ece_all_cycles, s.ece_before, s.report.ece
        );
        if let (Some(before), Some(h)) = (s.validation_ece_before, &s.report.heldout) {
            println!(
                "validation ECE (held-out engines, all windows) {before:.3} -> {:.3}",
                h.validation_ece
            );
        }
    }
    Ok(())
}
