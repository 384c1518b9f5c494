//! `rul`: train, evaluate and serve a turbofan Remaining-Useful-Life model on NASA C-MAPSS.

mod bench;
mod data;
mod evaluate;
mod fetch;
mod predict;
mod serve;
mod train;
mod tune;

use clap::{Parser, Subcommand};

/// Predict turbofan Remaining Useful Life: data tools, training, tuning, evaluation and the prediction service.
#[derive(Parser)]
#[command(name = "rul", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect or download the C-MAPSS data.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train a model on one subset and write an artifact directory.
    Train(train::TrainArgs),
    /// Search hyperparameters (TPE, median pruning); resumable; writes best.toml.
    Tune(tune::TuneArgs),
    /// Evaluate an artifact on a subset's official test set.
    Evaluate(evaluate::EvaluateArgs),
    /// Serve predictions over gRPC and REST (configuration from flags, environment and `.env`).
    Serve(Box<rul_server::ServerConfig>),
    /// Ask a running service for one prediction over gRPC.
    Predict(predict::PredictArgs),
    /// Measure latency and throughput of a running service over gRPC and REST.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    // `.env` fills the environment before flags are parsed, so flags still win; existing variables are kept.
    let dotenv = std::path::Path::new(".env");
    if dotenv.exists() {
        rul_server::load_dotenv(dotenv)?;
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Data(cmd) => data::run(cmd),
        Command::Train(args) => train::run(args),
        Command::Tune(args) => tune::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Serve(config) => serve::run(*config),
        Command::Predict(args) => predict::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
