//! `rul`: train, evaluate and serve a turbofan Remaining-Useful-Life model on NASA C-MAPSS.

mod data;
mod fetch;

use clap::{Parser, Subcommand};

/// Predict turbofan Remaining Useful Life: data tools, training, evaluation and the prediction service.
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Data(cmd) => data::run(cmd),
    }
}
