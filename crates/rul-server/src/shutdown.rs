//! Shutdown plumbing: the process signal (SIGTERM/SIGINT), the draining flag that readiness reports during the
//! shutdown delay, and a broadcast both servers wait on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

/// A future that resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed by this call, not on the first
/// poll, so a signal sent as soon as the server answers (it may answer before the serve loop first polls this)
/// is not lost to the default action. If a handler cannot be installed, that signal is simply not awaited.
/// Must be called inside a Tokio runtime.
pub fn signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(stream) => Some(stream),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for {name}");
                None
            }
        };
        let interrupt = listen(SignalKind::interrupt(), "SIGINT");
        let terminate = listen(SignalKind::terminate(), "SIGTERM");
        async move {
            let wait = |stream: Option<tokio::signal::unix::Signal>| async move {
                match stream {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => tracing::info!("SIGINT received; shutting down"),
                () = wait(terminate) => tracing::info!("SIGTERM received; shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("Ctrl-C received; shutting down");
        } else {
            std::future::pending::<()>().await;
        }
    }
}

/// Sending side of the shutdown broadcast.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// Receiving side; clone one per server.
#[derive(Clone, Debug)]
pub struct Listener(watch::Receiver<bool>);

/// A connected trigger/listener pair.
pub fn channel() -> (Trigger, Listener) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Listener(rx))
}

impl Trigger {
    /// Tells every listener to shut down (idempotent).
    pub fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Listener {
    /// Resolves once the trigger fired (or was dropped).
    pub async fn wait(mut self) {
        // An Err means the trigger is gone, which also means: shut down.
        let _ = self.0.wait_for(|fired| *fired).await;
    }
}

/// Set once shutdown began: /ready answers 503 and HTTP/1 answers carry `Connection: close` from then on.
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Marks the server as shutting down (idempotent).
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether shutdown began.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn listeners_resolve_after_fire() {
        let (trigger, listener) = channel();
        let waiting = tokio::spawn(listener.clone().wait());
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished());
        trigger.fire();
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("resolved")
            .expect("joined");
        // A listener created after firing resolves at once.
        tokio::time::timeout(Duration::from_secs(1), listener.wait())
            .await
            .expect("resolved");
    }

    #[tokio::test]
    async fn dropped_trigger_means_shutdown() {
        let (trigger, listener) = channel();
        drop(trigger);
        tokio::time::timeout(Duration::from_secs(1), listener.wait())
            .await
            .expect("resolved");
    }
}
