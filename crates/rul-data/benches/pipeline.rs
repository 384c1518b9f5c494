//! Load + label + normalise + window all four subsets (the 1.5 s target is for this whole pass).

use criterion::{Criterion, criterion_group, criterion_main};
use rul_data::*;

fn pipeline(c: &mut Criterion) {
    let dir = resolve_data_dir(None);
    if load_subset(&dir, Subset::FD001).is_err() {
        eprintln!(
            "skipping: no C-MAPSS data at {} (set CMAPSS_DIR)",
            dir.display()
        );
        return;
    }
    let mut group = c.benchmark_group("data");
    group.sample_size(10);
    group.bench_function("all_four_subsets", |b| {
        b.iter(|| {
            let mut windows = 0;
            for subset in Subset::all() {
                let d = load_subset(&dir, subset).expect("data");
                let p = Preprocessor::fit(PreprocessorConfig::for_subset(subset), &d.train)
                    .expect("fit");
                let labels: Vec<_> = d.train.iter().map(|e| train_labels(e, 125.0)).collect();
                windows += p.windows(&d.train, &labels).count;
            }
            windows
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
