//! `rul predict`: one prediction from a running service, the plan's "client for testing".

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct PredictArgs {
    /// gRPC address of a running `rul serve` (HOST:PORT).
    #[arg(long, default_value = "127.0.0.1:50051")]
    grpc: String,
    /// Engine identifier sent with the request.
    #[arg(long)]
    engine: String,
    /// Readings file: CSV with a header of sensor names, or a JSON array of {"s2": ..} objects, oldest first.
    #[arg(long)]
    readings: PathBuf,
    /// Deadline in milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
}

pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let readings = rul_client::read_readings_file(&args.readings)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let answer = runtime.block_on(rul_client::predict_grpc(
        &args.grpc,
        &args.engine,
        &readings,
        Duration::from_millis(args.timeout_ms),
    ))?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
