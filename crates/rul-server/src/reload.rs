//! Model reload on SIGHUP (the same reload `/admin/reload` runs).

use rul_core::Predictor;

/// Reloads the model from its configured path on every SIGHUP; a refused artifact is logged and the
/// old model keeps serving.
pub async fn reload_on_sighup(predictor: Predictor) {
    #[cfg(unix)]
    {
        let mut hangups = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::hangup(),
        ) {
            Ok(stream) => stream,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload only via /admin/reload");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            match predictor.reload(None).await {
                Ok(info) => tracing::info!(model_version = %info.version, "SIGHUP: model reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: reload refused; the previous model keeps serving")
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = predictor;
}
