//! Reference of what `rul train` does: train, calibrate, evaluate, write the artifact and plots.
//! Usage: train_full FD001 OUT_DIR [config.toml]   (data from $CMAPSS_DIR or data/cmapss)
use rul_data::{Subset, load_subset, resolve_data_dir};
use rul_model::{TrainConfig, train_subset, write_plots};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let subset: Subset = args.get(1).map_or("FD001", String::as_str).parse()?;
    let out = Path::new(args.get(2).map_or("models/tmp", String::as_str));
    let mut config = match args.get(3) {
        Some(p) => TrainConfig::from_file(Path::new(p))?,
        None => TrainConfig::for_subset(subset),
    };
    config.subset = subset;
    let data = load_subset(&resolve_data_dir(None), subset)?;
    let summary = train_subset(&data, &config, out, &mut |r| {
        println!(
            "epoch {:3}/{} train {:6.2} val {:6.2} lr {:.1e} {:6.1}s eta {:5.0}s{}",
            r.epoch,
            r.max_epochs,
            r.train_rmse,
            r.val_rmse,
            r.lr,
            r.elapsed_secs,
            r.eta_secs,
            if r.improved { " *" } else { "" }
        )
    })?;
    println!(
        "{} best epoch {} val RMSE {:.2}, val interval coverage {:.3} (width {:.1}); train {:.0}s total {:.0}s",
        summary.version,
        summary.best_epoch,
        summary.val_rmse,
        summary.val_intervals.coverage,
        summary.val_intervals.mean_width,
        summary.train_seconds,
        summary.total_seconds
    );
    if let Some(t) = &summary.test {
        println!(
            "test last cycle: RMSE {:.2} MAE {:.2} score {:.0} (capped RMSE {:.2}); all cycles RMSE {:.2}; \
             coverage {:.3} width {:.1}",
            t.last_cycle.raw.rmse,
            t.last_cycle.raw.mae,
            t.last_cycle.raw.score,
            t.last_cycle.capped.rmse,
            t.all_cycles.raw.rmse,
            t.intervals.coverage,
            t.intervals.mean_width
        );
        for b in &t.reliability {
            println!(
                "  confidence {:.1}-{:.1}: n {:4} mean {:.2} observed {:.2}",
                b.lo, b.hi, b.count, b.mean_confidence, b.observed
            );
        }
        write_plots(t, &out.join("plots"))?;
    }
    Ok(())
}
