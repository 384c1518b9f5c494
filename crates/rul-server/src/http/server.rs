//! The REST accept loop (in place of `axum::serve`, which has no timeouts or connection cap): HTTP/1.1 and h2c
//! over hyper with a request-head timeout, an idle timeout, a cap on open connections, and a drain that closes
//! keep-alive connections without racing a client's next request.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Request, Version, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::ServiceExt;

use crate::net::{Activity, Watched, accept_pause, configure_stream};
use crate::shutdown::{Draining, Listener};

/// After the stop, a connection is closed once it has been quiet this long: gracefully if it has served a request
/// (an in-flight one finishes first), at once if it never delivered a complete request head.
const QUIET: Duration = Duration::from_millis(250);

/// Concurrent requests one h2c connection may have open (REST clients rarely use HTTP/2 at all).
const H2_MAX_STREAMS: u32 = 100;

/// Limits of the REST listener.
#[derive(Clone, Copy, Debug)]
pub struct HttpLimits {
    /// Open connections at most.
    pub max_connections: usize,
    /// Time to deliver a complete request head.
    pub header_timeout: Duration,
    /// Time a connection may pass with no byte moving.
    pub idle_timeout: Duration,
    /// TCP keep-alive probe interval (and HTTP/2 ping interval).
    pub keepalive: Duration,
}

/// Serves `router` on `listener` until `stop` fires, then stops accepting and waits until every connection has
/// closed (the caller bounds that wait). While `draining` is set, HTTP/1 answers carry `Connection: close`.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    draining: Draining,
    stop: Listener,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.keepalive)
        .max_concurrent_streams(H2_MAX_STREAMS);
    let shared = Arc::new(Shared {
        builder,
        router,
        limits,
        draining,
        stop: stop.clone(),
    });
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut stopped => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stopped => break,
        };
        match accepted {
            Ok((tcp, _)) => spawn_connection(shared.clone(), tcp, permit),
            Err(e) => accept_pause(&e).await,
        }
    }
    // Connections the kernel already completed are served too: closing the listener would reset them after
    // their clients had sent a request.
    while let Some(Ok((tcp, _))) = futures_util::FutureExt::now_or_never(listener.accept()) {
        match slots.clone().try_acquire_owned() {
            Ok(permit) => spawn_connection(shared.clone(), tcp, permit),
            Err(_) => break,
        }
    }
    drop(listener);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

struct Shared {
    builder: auto::Builder<TokioExecutor>,
    router: Router,
    limits: HttpLimits,
    draining: Draining,
    stop: Listener,
}

fn spawn_connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    configure_stream(&tcp, shared.limits.keepalive);
    tokio::spawn(async move {
        serve_connection(&shared, tcp).await;
        drop(permit);
    });
}

/// One connection: hyper serves it while this loop enforces the first-head deadline, the idle timeout and the
/// quiet-then-close rule after the stop.
async fn serve_connection(shared: &Shared, tcp: TcpStream) {
    let activity = Activity::new();
    let opened = Instant::now();
    let service = {
        let (router, draining, activity) = (
            shared.router.clone(),
            shared.draining.clone(),
            activity.clone(),
        );
        hyper::service::service_fn(move |request: Request<Incoming>| {
            activity.request_started();
            let (router, draining) = (router.clone(), draining.clone());
            async move {
                let http1 = request.version() < Version::HTTP_2;
                let mut response = router.oneshot(request.map(axum::body::Body::new)).await?;
                if http1 && draining.is_set() {
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let io = TokioIo::new(Watched::new(tcp, activity.clone()));
    let conn = shared.builder.serve_connection(io, service);
    tokio::pin!(conn);
    let stopped = shared.stop.clone().wait();
    tokio::pin!(stopped);
    let limits = shared.limits;
    let mut stopping = false;
    let mut closing = false;
    loop {
        let head_due = (!activity.served_any()).then_some(opened + limits.header_timeout);
        let quiet_due = (stopping && !closing).then_some(activity.last() + QUIET);
        let idle_due = activity.last() + limits.idle_timeout;
        let deadline = [head_due, quiet_due]
            .into_iter()
            .flatten()
            .fold(idle_due, Instant::min);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "http connection ended with an error");
                }
                return;
            }
            () = &mut stopped, if !stopping => stopping = true,
            () = tokio::time::sleep_until(deadline) => {
                let now = Instant::now();
                if head_due.is_some_and(|due| now >= due) && !activity.served_any() {
                    tracing::debug!("http connection sent no request head in time; closed");
                    return;
                }
                if now >= activity.last() + limits.idle_timeout {
                    tracing::debug!("http connection idle too long; closed");
                    return;
                }
                if quiet_due.is_some() && now >= activity.last() + QUIET {
                    if !activity.served_any() {
                        return;
                    }
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
