//! `rul bench model`: the network alone, in process, for each inference engine: the latency of
//! one window (what a single request pays) and the time per window in batches (what the model
//! thread pays under load); then the whole in-process request path ([`crate::bench_request`]).
//! Inputs are the artifact subset's real test windows when the C-MAPSS data is present
//! (recurrent states then behave as in service), otherwise uniform [0, 1) values (and no
//! request-path figures, which need real readings).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use rul_data::{load_subset, resolve_data_dir, test_labels};
use rul_model::{Artifact, InferenceEngine};

use crate::bench_request::{self, RequestPath};
use serde::Serialize;

#[derive(Args)]
pub struct ModelBenchArgs {
    /// Model artifact directory.
    #[arg(long)]
    model: PathBuf,
    /// Engines to time, comma-separated (fast, burn).
    #[arg(long, value_delimiter = ',', default_value = "fast,burn")]
    engines: Vec<InferenceEngine>,
    /// Batch sizes for the per-window figures, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "32,256")]
    batches: Vec<usize>,
    /// Seconds per measurement (each engine, single window and every batch size).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Print JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// The model thread's polling time after a batch, as the service's MODEL_IDLE_SPIN_US.
    #[arg(long, default_value_t = rul_core::DEFAULT_IDLE_SPIN_US)]
    idle_spin_us: u64,
    /// Folder with the C-MAPSS files (default: $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// Latency of one call made alone.
#[derive(Serialize)]
pub struct Single {
    calls: usize,
    median_us: f64,
    mean_us: f64,
    p99_us: f64,
}

impl Single {
    /// Median, mean and 99th percentile of `times` (µs; at least one).
    pub fn from_times(mut times: Vec<f64>) -> Single {
        times.sort_by(f64::total_cmp);
        let n = times.len().max(1);
        Single {
            calls: times.len(),
            median_us: times.get(n / 2).copied().unwrap_or(0.0),
            mean_us: times.iter().sum::<f64>() / n as f64,
            p99_us: times.get((n * 99 / 100).min(n - 1)).copied().unwrap_or(0.0),
        }
    }
}

/// Time per window inside batches of one size.
#[derive(Serialize)]
struct Batch {
    batch: usize,
    calls: usize,
    per_window_us: f64,
    windows_per_s: f64,
}

#[derive(Serialize)]
struct EngineResult {
    engine: InferenceEngine,
    single: Single,
    batches: Vec<Batch>,
}

#[derive(Serialize)]
struct Report {
    model: String,
    version: String,
    architecture: String,
    window: usize,
    features: usize,
    inputs: String,
    profile: &'static str,
    cores: usize,
    results: Vec<EngineResult>,
    /// Empty without the C-MAPSS data.
    request_path: Vec<RequestPath>,
}

pub fn run(args: ModelBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.seconds.is_finite() && args.seconds > 0.0,
        "--seconds must be > 0"
    );
    anyhow::ensure!(
        args.batches.iter().all(|&b| (1..=65_536).contains(&b)),
        "batch sizes must be in 1..=65536"
    );
    let artifact =
        Artifact::load(&args.model).with_context(|| format!("loading {}", args.model.display()))?;
    let (window, features) = (artifact.spec().window, artifact.spec().n_features);
    let row = window * features;
    let largest = args.batches.iter().copied().max().unwrap_or(1).max(1);
    let (pool, inputs, test) = input_windows(&artifact, args.data_dir.as_deref(), largest)?;
    let budget = Duration::from_secs_f64(args.seconds);

    let mut results = Vec::new();
    for &engine in &args.engines {
        let one = &pool[..row];
        // Warm-up: lazy initialisation, thread-local buffers, caches.
        for _ in 0..10 {
            artifact.predict_with(engine, one, 1)?;
        }
        let mut times = Vec::new();
        let start = Instant::now();
        while start.elapsed() < budget || times.len() < 10 {
            let t = Instant::now();
            std::hint::black_box(artifact.predict_with(engine, std::hint::black_box(one), 1)?);
            times.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let single = Single::from_times(times);
        let mut batches = Vec::new();
        for &b in &args.batches {
            let x = &pool[..b * row];
            artifact.predict_with(engine, x, b)?;
            let mut calls = 0usize;
            let start = Instant::now();
            while start.elapsed() < budget || calls < 3 {
                std::hint::black_box(artifact.predict_with(engine, std::hint::black_box(x), b)?);
                calls += 1;
            }
            let per_window = start.elapsed().as_secs_f64() / (calls * b) as f64;
            batches.push(Batch {
                batch: b,
                calls,
                per_window_us: per_window * 1e6,
                windows_per_s: 1.0 / per_window,
            });
        }
        results.push(EngineResult {
            engine,
            single,
            batches,
        });
    }

    let sensors = &artifact.preprocessor().config().sensors;
    let reqs = bench_request::requests(&test, sensors, largest);
    let mut request_path = Vec::new();
    if !reqs.is_empty() {
        for &engine in &args.engines {
            request_path.push(bench_request::measure(
                &args.model,
                engine,
                &reqs,
                budget,
                Duration::from_micros(args.idle_spin_us),
            )?);
        }
    }
    let report = Report {
        model: args.model.display().to_string(),
        version: artifact.version().to_string(),
        architecture: artifact.card().architecture.clone(),
        window,
        features,
        inputs,
        profile: if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        },
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        results,
        request_path,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_markdown(&report);
    }
    Ok(())
}

/// `count` windows `[count, window, features]`: real test windows (cycled) when the data is
/// there, else deterministic uniform values; with a description of which, and the test engines
/// (none without the data).
fn input_windows(
    artifact: &Artifact,
    data_dir: Option<&std::path::Path>,
    count: usize,
) -> anyhow::Result<(Vec<f32>, String, Vec<rul_data::Engine>)> {
    let row = artifact.spec().window * artifact.spec().n_features;
    let subset = artifact.spec().subset;
    let dir = resolve_data_dir(data_dir);
    if let Ok(data) = load_subset(&dir, subset) {
        let labels: Vec<Vec<f64>> = data
            .test
            .iter()
            .zip(&data.test_rul)
            .map(|(e, &r)| test_labels(e, r))
            .collect();
        let windows = artifact.preprocessor().windows(&data.test, &labels);
        if windows.count > 0 {
            let pool: Vec<f32> = windows
                .inputs
                .iter()
                .copied()
                .cycle()
                .take(count * row)
                .collect();
            return Ok((pool, format!("{subset} test windows"), data.test));
        }
    }
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let pool = (0..count * row)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    Ok((pool, "synthetic uniform [0, 1)".into(), Vec::new()))
}

fn print_markdown(r: &Report) {
    println!(
        "{} ({}; {}, window {}, {} features; inputs: {}; {} profile, {} cores)\n",
        r.model, r.version, r.architecture, r.window, r.features, r.inputs, r.profile, r.cores
    );
    let mut header = "| engine | 1 window median (µs) | mean | p99 |".to_string();
    let mut rule = "|---|---|---|---|".to_string();
    if let Some(first) = r.results.first() {
        for b in &first.batches {
            header.push_str(&format!(" batch {}: µs/window | windows/s |", b.batch));
            rule.push_str("---|---|");
        }
    }
    println!("{header}\n{rule}");
    for e in &r.results {
        let mut line = format!(
            "| {} | {:.1} | {:.1} | {:.1} |",
            e.engine, e.single.median_us, e.single.mean_us, e.single.p99_us
        );
        for b in &e.batches {
            line.push_str(&format!(
                " {:.2} | {:.0} |",
                b.per_window_us, b.windows_per_s
            ));
        }
        println!("{line}");
    }
    if !r.request_path.is_empty() {
        println!(
            "\nWhole request path in process (Predictor, cache off, {} readings per request):\n",
            bench_request::READINGS
        );
        println!(
            "| engine | 1 request median (µs) | mean | p99 | per request in predict_many (µs) | requests/s | path overhead per request (µs) |"
        );
        println!("|---|---|---|---|---|---|---|");
        for p in &r.request_path {
            // Overhead against the network's time per window at the same batch size.
            let network = r
                .results
                .iter()
                .find(|e| e.engine == p.engine)
                .and_then(|e| e.batches.iter().find(|b| b.batch == p.batch))
                .map(|b| format!("{:.2}", p.per_request_us - b.per_window_us))
                .unwrap_or_else(|| "–".into());
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.0} | {network} |",
                p.engine,
                p.single.median_us,
                p.single.mean_us,
                p.single.p99_us,
                p.per_request_us,
                p.requests_per_s
            );
        }
    }
}
