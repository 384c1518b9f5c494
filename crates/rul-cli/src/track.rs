//! `rul track`: choose the RUL tracker's parameters on a model's held-out (validation and calibration) engines and measure raw vs tracked
//! answers on the official test engines replayed from their first cycle.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rul_fleet::tracking_eval::{score, trajectories, tune};
use rul_fleet::{Tracker, TrackerConfig};

use crate::model_data::ModelData;

#[derive(Args)]
pub struct TrackArgs {
    /// Model artifact directory.
    #[arg(long, default_value = "models/fd001")]
    model: PathBuf,
    /// C-MAPSS directory (default $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Score the parameters the service would use for this model (its `tracker.json`, else the defaults)
    /// instead of tuning new ones.
    #[arg(long)]
    defaults: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Store the chosen parameters beside the model (`tracker.json`), where `rul serve` reads them.
    #[arg(long, conflicts_with = "defaults")]
    write: bool,
}

pub fn run(args: TrackArgs) -> anyhow::Result<()> {
    let loaded = ModelData::load(&args.model, args.data_dir.as_deref())?;
    let held_out = loaded.held_out();
    let ModelData { artifact, data, .. } = loaded;
    let spec = artifact.spec().clone();
    let ceiling = artifact.preprocessor().config().ceiling;
    let calibration = artifact.calibration().clone();
    let horizon = calibration.truth_horizon.unwrap_or(ceiling);
    let level = calibration.level();
    let make = |c: TrackerConfig| Tracker::new(c, calibration.clone(), ceiling);

    let zeros = vec![0.0; held_out.len()];
    let validation = trajectories(&artifact, &held_out, &zeros)?;
    let test = trajectories(&artifact, &data.test, &data.test_rul)?;
    let (config, val_report) = if args.defaults {
        let c = TrackerConfig::for_model_dir(&args.model)?;
        (c, score(&make(c), &validation, ceiling, horizon))
    } else {
        tune(make, &validation, ceiling, horizon, level)
    };
    let test_report = score(&make(config), &test, ceiling, horizon);
    if args.write {
        let path = args.model.join(rul_fleet::TRACKER_FILE);
        std::fs::write(&path, serde_json::to_string_pretty(&config)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let out = serde_json::json!({
        "model": artifact.version(),
        "subset": spec.subset.to_string(),
        "tracker": config,
        "held_out_engines": val_report,
        "test_engines": test_report,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{} ({}), tracker {:?}",
        artifact.version(),
        spec.subset,
        config
    );
    for (name, r) in [("held-out", &val_report), ("test", &test_report)] {
        println!(
            "{name:>10}: {} engines | last cycle RMSE raw {:.2} -> tracked {:.2} (capped {:.2} -> {:.2}), \
             PHM08 {:.0} -> {:.0} | consistency {:.1}% -> {:.1}% | all-cycle RMSE {:.2} -> {:.2} \
             (raw truth <= ceiling {:.2} -> {:.2}) | coverage {:.1}% (width {:.1}) -> {:.1}% (width {:.1})",
            r.engines,
            r.last_raw.rmse,
            r.last_tracked.rmse,
            r.last_raw_capped.rmse,
            r.last_tracked_capped.rmse,
            r.last_raw.score,
            r.last_tracked.score,
            100.0 * r.consistency_raw,
            100.0 * r.consistency_tracked,
            r.all_rmse_raw,
            r.all_rmse_tracked,
            r.resolved_rmse_raw,
            r.resolved_rmse_tracked,
            100.0 * r.coverage_raw,
            r.width_raw,
            100.0 * r.coverage_tracked,
            r.width_tracked,
        );
    }
    Ok(())
}
