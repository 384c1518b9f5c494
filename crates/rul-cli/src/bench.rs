//! `rul bench`: load a running service over gRPC and REST with real test-engine histories;
//! `rul bench model`: the network alone, in process (see [`crate::bench_model`]).

use anyhow::Context;
use clap::{Args, Subcommand};
use rul_client::PredictCall;
use rul_client::loadgen::{LoadgenConfig, run as run_load};
use rul_data::{DEFAULT_SENSORS, RawReading, Subset, load_subset, resolve_data_dir};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: Option<BenchCommand>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Time the network alone in process: 1 window and batches, fast path and burn.
    Model(crate::bench_model::ModelBenchArgs),
    /// Many large gRPC messages at once, and the server's resident memory during and after (checks
    /// MAX_INFLIGHT_BYTES).
    Burst(BurstArgs),
}

/// `rul bench burst` options.
#[derive(Args)]
struct BurstArgs {
    /// gRPC address of the service under test.
    #[arg(long, default_value = "127.0.0.1:50051")]
    grpc: String,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Concurrent calls per connection.
    #[arg(long, default_value_t = 32)]
    streams: usize,
    /// Bytes of each PredictRUL message.
    #[arg(long, default_value_t = 4_000_000)]
    message_bytes: usize,
    /// Calls each stream makes one after another.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Process id of the server, to sample its resident memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds to wait after the burst before the last memory sample.
    #[arg(long, default_value_t = 35)]
    settle_secs: u64,
}

/// Load-generator options (the default `rul bench`).
#[derive(Args)]
struct LoadArgs {
    /// gRPC address of the service under test; "none" skips gRPC.
    #[arg(long, default_value = "127.0.0.1:50051")]
    grpc: String,
    /// REST address of the service under test; "none" skips REST.
    #[arg(long, default_value = "127.0.0.1:8000")]
    http: String,
    /// Subset whose test engines supply the request histories.
    #[arg(long, default_value = "FD001")]
    subset: Subset,
    /// Readings per request (the last N cycles of each test engine).
    #[arg(long, default_value_t = 50)]
    readings: usize,
    /// Concurrency levels, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    concurrency: Vec<usize>,
    /// Seconds per transport and level.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Request cap per transport and level.
    #[arg(long, default_value_t = 200_000)]
    max_requests: u64,
    /// Keep engine ids constant so repeated histories hit the cache (default: unique ids, no cache hits).
    #[arg(long)]
    allow_cache: bool,
    /// Print JSON instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// Folder with the C-MAPSS files (default: $CMAPSS_DIR, else data/cmapss).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

/// One request per test engine from its last `n` cycles (the 14 default sensors and the settings).
fn bodies(subset: Subset, dir: &std::path::Path, n: usize) -> anyhow::Result<Vec<PredictCall>> {
    let data = load_subset(dir, subset).with_context(|| format!("loading {subset}"))?;
    Ok(data
        .test
        .iter()
        .map(|engine| {
            let start = engine.cycles.len().saturating_sub(n);
            let sensor_data = engine.cycles[start..]
                .iter()
                .map(|c| RawReading::from(c.reading(&DEFAULT_SENSORS)))
                .collect();
            PredictCall {
                engine_id: format!("{subset}-{}", engine.unit),
                sensor_data,
                use_sagemaker: false,
            }
        })
        .collect())
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        Some(BenchCommand::Model(model)) => crate::bench_model::run(model),
        Some(BenchCommand::Burst(burst)) => run_burst(burst),
        None => run_load_test(args.load),
    }
}

fn run_load_test(args: LoadArgs) -> anyhow::Result<()> {
    let dir = resolve_data_dir(args.data_dir.as_deref());
    let requests = bodies(args.subset, &dir, args.readings)?;
    let pick = |a: &str| (a != "none").then(|| a.to_string());
    let config = LoadgenConfig {
        grpc: pick(&args.grpc),
        http: pick(&args.http),
        requests,
        concurrency: args.concurrency,
        duration: Duration::from_secs(args.seconds),
        max_requests: args.max_requests,
        timeout: Duration::from_secs(5),
        unique_engine_ids: !args.allow_cache,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(run_load(&config))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.to_markdown());
    }
    Ok(())
}

fn run_burst(args: BurstArgs) -> anyhow::Result<()> {
    let config = rul_client::loadgen::burst::BurstConfig {
        grpc: args.grpc,
        connections: args.connections,
        streams: args.streams,
        message_bytes: args.message_bytes,
        rounds: args.rounds,
        server_pid: args.server_pid,
        settle: Duration::from_secs(args.settle_secs),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(rul_client::loadgen::burst::run(&config))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
