//! `rul`: train, evaluate and serve a turbofan Remaining-Useful-Life model on NASA C-MAPSS.

mod bench;
mod bench_model;
mod bench_request;
mod calibrate;
mod data;
mod evaluate;
mod fetch;
mod model_data;
mod predict;
mod profile;
mod replay;
mod sagemaker;
mod seeds;
mod serve;
mod track;
mod train;
mod tune;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// Train one configuration with several seeds; every seed's validation and test figures, mean ± sd.
    Seeds(seeds::SeedsArgs),
    /// Evaluate an artifact on a subset's official test set and its held-out run-to-failure engines.
    Evaluate(evaluate::EvaluateArgs),
    /// Refit an artifact's confidence on its calibration engines (no retraining); rewrites metrics and card.
    Calibrate(calibrate::CalibrateArgs),
    /// Serve predictions over gRPC and REST (configuration from flags, environment and `.env`); with
    /// --sagemaker (or RUL_SAGEMAKER=1, as the container image sets) as a SageMaker container.
    Serve(Box<rul_server::ServerConfig>),
    /// SageMaker deployment helpers.
    #[command(subcommand)]
    Sagemaker(sagemaker::SagemakerCommand),
    /// Ask a running service for one prediction over gRPC.
    Predict(predict::PredictArgs),
    /// Measure latency and throughput of a running service over gRPC and REST (`bench model`: the network alone).
    Bench(bench::BenchArgs),
    /// Stream a C-MAPSS split into a running service one cycle at a time (per-engine state, tracked RUL).
    Replay(replay::ReplayArgs),
    /// Tune the RUL tracker on validation engines and compare raw vs tracked RUL on the test engines.
    Track(track::TrackArgs),
    /// Fit a model's input profile (training ranges, drift threshold) and measure quality flags and drift.
    Profile(profile::ProfileArgs),
}

fn main() -> anyhow::Result<()> {
    // `.env` fills the environment before flags are parsed, so flags still win; existing variables are kept.
    let dotenv = std::path::Path::new(".env");
    if dotenv.exists() {
        rul_server::load_dotenv(dotenv)?;
    }
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Data(cmd) => data::run(cmd),
        Command::Train(args) => train::run(args),
        Command::Tune(args) => tune::run(args),
        Command::Seeds(args) => seeds::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Serve(config) => {
            let explicit = serve::explicit(matches.subcommand_matches("serve"));
            serve::run(*config, explicit)
        }
        Command::Sagemaker(cmd) => sagemaker::run(cmd),
        Command::Predict(args) => predict::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Track(args) => track::run(args),
        Command::Profile(args) => profile::run(args),
    }
}
