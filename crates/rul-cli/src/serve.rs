//! `rul serve`: the prediction service (gRPC + REST) on the configured model.

use anyhow::Context;
use rul_server::ServerConfig;

pub fn run(config: ServerConfig) -> anyhow::Result<()> {
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
