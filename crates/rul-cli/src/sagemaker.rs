//! `rul sagemaker package`: lays out a model artifact as the `model.tar.gz` SageMaker expects.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

/// SageMaker deployment helpers.
#[derive(Subcommand)]
pub enum SagemakerCommand {
    /// Write a model.tar.gz with the artifact's files at the archive root (SageMaker unpacks it into
    /// /opt/ml/model, where `rul serve --sagemaker` reads it). The artifact is loaded and checked first.
    Package(PackageArgs),
}

/// Arguments of `rul sagemaker package`.
#[derive(Args)]
pub struct PackageArgs {
    /// Model artifact directory (e.g. models/fd001).
    #[arg(long)]
    model: PathBuf,
    /// Archive to write.
    #[arg(long, default_value = "model.tar.gz")]
    out: PathBuf,
}

pub fn run(cmd: SagemakerCommand) -> anyhow::Result<()> {
    match cmd {
        SagemakerCommand::Package(args) => {
            let summary = rul_sagemaker::package_model(&args.model, &args.out)
                .with_context(|| format!("packaging {}", args.model.display()))?;
            println!(
                "wrote {} ({} bytes, model {}): {}",
                args.out.display(),
                summary.bytes,
                summary.model_version,
                summary.files.join(" ")
            );
            Ok(())
        }
    }
}
