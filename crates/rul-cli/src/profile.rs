//! `rul profile`: fit a model's input profile (`inputs.json`: training ranges, runs, steps, deciles, drift
//! threshold) on the engines it was trained on, then measure the data-quality flags and the drift score:
//! false alarms on held-out and test engines, other subsets' test engines, and faults injected into the
//! model's own test engines.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rul_data::{InputProfile, Subset};
use rul_fleet::QualityPolicy;
use rul_fleet::input_eval::{Fault, InputReport, evaluate};

use crate::model_data::ModelData;

#[derive(Args)]
pub struct ProfileArgs {
    /// Model artifact directory.
    #[arg(long, default_value = "models/fd001")]
    model: PathBuf,
    /// C-MAPSS directory (default $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Store the profile beside the model (`inputs.json`), where `rul serve` reads it.
    #[arg(long)]
    write: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ProfileArgs) -> anyhow::Result<()> {
    let loaded = ModelData::load(&args.model, args.data_dir.as_deref())?;
    let held_out = loaded.held_out();
    let ModelData {
        artifact,
        dir,
        data,
        split,
    } = loaded;
    let spec = artifact.spec().clone();
    let source = format!("train_{} (the model's training engines)", spec.subset);
    let profile = InputProfile::fit(artifact.preprocessor(), &split.fit_engines, &source)?;
    let policy = QualityPolicy::default();
    let bounds = artifact.preprocessor().sensor_bounds();

    let mut rows: Vec<(String, InputReport)> = vec![
        (
            format!("{} held-out engines (clean)", spec.subset),
            evaluate(&profile, &policy, bounds, &held_out, None),
        ),
        (
            format!("{} test engines (clean)", spec.subset),
            evaluate(&profile, &policy, bounds, &data.test, None),
        ),
    ];
    for other in Subset::all().into_iter().filter(|s| *s != spec.subset) {
        let Ok(d) = rul_data::load_subset(&dir, other) else {
            continue;
        };
        rows.push((
            format!("{other} test engines"),
            evaluate(&profile, &policy, bounds, &d.test, None),
        ));
    }
    for (i, sensor) in profile.sensors.iter().enumerate() {
        for fault in [
            Fault::Offset {
                input: i,
                sigmas: 3.0,
            },
            Fault::Stuck { input: i },
            Fault::Jump {
                input: i,
                sigmas: 8.0,
            },
        ] {
            let name = match fault {
                Fault::Offset { sigmas, .. } => format!("{sensor} +{sigmas} sigma offset"),
                Fault::Stuck { .. } => format!("{sensor} stuck"),
                Fault::Jump { sigmas, .. } => format!("{sensor} {sigmas} sigma step"),
            };
            rows.push((
                name,
                evaluate(&profile, &policy, bounds, &data.test, Some(fault)),
            ));
        }
    }
    if args.write {
        let path = args.model.join(rul_data::PROFILE_FILE);
        profile
            .save(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if args.json {
        let out = serde_json::json!({
            "model": artifact.version(),
            "subset": spec.subset.to_string(),
            "drift_threshold": profile.drift_threshold,
            "fitted_on": profile.source,
            "policy": {"range_margin": policy.range_margin, "jump_sigmas": policy.jump_sigmas,
                       "stuck_cycles": policy.stuck_cycles},
            "rows": rows.iter().map(|(n, r)| serde_json::json!({"data": n, "report": r})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "{} ({}): drift threshold {:.2} (largest on {} training engines); faults start at each engine's midpoint",
        artifact.version(),
        spec.subset,
        profile.drift_threshold,
        profile.source.engines
    );
    println!(
        "{:<40} {:>7} {:>14} {:>9} {:>12} {:>8} {:>8} {:>16}",
        "data",
        "engines",
        "drift engines",
        "delay",
        "out_of_range",
        "stuck",
        "jump",
        "refused readings"
    );
    for (name, r) in &rows {
        let count = |k: &str| r.flag_engines.get(k).copied().unwrap_or(0);
        println!(
            "{:<40} {:>7} {:>8} ({:>3.0}%) {:>9} {:>12} {:>8} {:>8} {:>7} ({:>5.1}%)",
            name,
            r.engines,
            r.drift_engines,
            100.0 * r.drift_engines as f64 / r.engines.max(1) as f64,
            r.drift_median_delay
                .map_or("-".to_string(), |d| format!("{d:.0}")),
            count("out_of_range"),
            count("stuck"),
            count("jump"),
            r.refused_readings,
            100.0 * r.refused_readings as f64 / r.readings.max(1) as f64,
        );
    }
    Ok(())
}
