//! Trains one configuration end to end (no plots) and prints a JSON summary line; used to
//! compare configurations on validation engines. Usage: sweep FD001 OUT_DIR [config.toml]
use rul_data::{Subset, load_subset, resolve_data_dir};
use rul_model::{TrainConfig, train_subset};
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
    let s = train_subset(&data, &config, out, &mut |r| {
        eprintln!(
            "epoch {:3} train {:6.2} val {:6.2} lr {:.1e} {:6.1}s{}",
            r.epoch,
            r.train_rmse,
            r.val_rmse,
            r.lr,
            r.elapsed_secs,
            if r.improved { " *" } else { "" }
        )
    })?;
    let t = s.test.as_ref();
    println!(
        "{}",
        serde_json::json!({
            "subset": subset, "config": args.get(3), "version": s.version,
            "val_rmse": s.val_rmse, "val_rmse_raw": s.val_raw.rmse, "val_score_raw": s.val_raw.score, "val_cov": s.val_intervals.coverage, "val_width": s.val_intervals.mean_width,
            "best_epoch": s.best_epoch, "epochs": s.epochs_run, "stop": s.stop, "train_s": s.train_seconds,
            "test_rmse": t.map(|t| t.last_cycle.raw.rmse), "test_score": t.map(|t| t.last_cycle.raw.score),
            "test_rmse_capped": t.map(|t| t.last_cycle.capped.rmse), "test_mae": t.map(|t| t.last_cycle.raw.mae),
            "test_cov": t.map(|t| t.intervals.coverage), "test_width": t.map(|t| t.intervals.mean_width),
        })
    );
    Ok(())
}
