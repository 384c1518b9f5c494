//! `rul serve`: the prediction service (gRPC + REST) on the configured model, or a SageMaker container.

use anyhow::Context;
use clap::ArgMatches;
use clap::parser::ValueSource;
use rul_server::ServerConfig;
use rul_server::config::{Explicit, RemoteConnector};

/// Which container-mode defaults the user set explicitly (flag or environment), from clap's value sources.
pub fn explicit(matches: Option<&ArgMatches>) -> Explicit {
    let given = |id: &str| {
        matches
            .and_then(|m| m.value_source(id))
            .is_some_and(|s| s != ValueSource::DefaultValue)
    };
    Explicit {
        model_path: given("model_path"),
        http_port: given("http_port"),
    }
}

pub fn run(mut config: ServerConfig, explicit: Explicit) -> anyhow::Result<()> {
    config.apply_container_defaults(explicit);
    config.sagemaker.connector = sagemaker_connector();
    rul_server::memory::configure_allocator();
    rul_server::logging::init(&config.log_level, config.log_format.as_deref())
        .context("initialising logging")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime
        .block_on(rul_server::serve(config))
        .context("serving")
}

/// The SageMaker runtime client (the AWS SDK's default credential chain) for `use_sagemaker` requests.
fn sagemaker_connector() -> RemoteConnector {
    RemoteConnector::new(|settings| async move {
        let backend = rul_sagemaker::SageMakerBackend::new(
            &settings,
            rul_sagemaker::CredentialSource::DefaultChain,
        )
        .await;
        std::sync::Arc::new(backend) as std::sync::Arc<dyn rul_core::RemoteBackend>
    })
}
