//! Trains on a subset's validation split and prints per-epoch progress (no artifact written).
//! Usage: experiment FD001 [config.toml]
use rul_data::{Subset, load_subset};
use rul_model::TrainConfig;
use rul_model::pipeline::prepare;
use rul_model::train::fit;
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let subset: Subset = args
        .get(1)
        .map_or(Ok(Subset::FD001), |s| s.parse())
        .unwrap();
    let mut config = match args.get(2) {
        Some(p) => TrainConfig::from_file(Path::new(p)).unwrap(),
        None => TrainConfig::for_subset(subset),
    };
    config.subset = subset;
    let data = load_subset(Path::new("/work/shared/data/cmapss"), subset).unwrap();
    let prep = prepare(&config, &data.train).unwrap();
    println!(
        "fit {} engines / {} windows, val {} / {}, cal {} engines; model {:?}",
        prep.fit_engines.len(),
        prep.fit.count,
        prep.val_engines.len(),
        prep.val.count,
        prep.cal_engines.len(),
        config.model
    );
    let out = fit(
        &config,
        &prep.fit,
        &prep.val,
        config.preprocessor.ceiling,
        &mut |r| {
            println!(
                "epoch {:3} train {:6.2} val {:6.2} lr {:.1e} {:5.1}s ({:4.1}s/epoch){}",
                r.epoch,
                r.train_rmse,
                r.val_rmse,
                r.lr,
                r.elapsed_secs,
                r.epoch_secs,
                if r.improved { " *" } else { "" }
            )
        },
    )
    .unwrap();
    println!(
        "best epoch {} val {:.3} stop {:?} {:.1}s",
        out.best_epoch, out.best_val_rmse, out.stop, out.seconds
    );
}
