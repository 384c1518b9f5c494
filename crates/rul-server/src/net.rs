//! Socket plumbing shared by both listeners: per-connection activity tracking (for the idle and quiet rules), a
//! deadline for a new connection's first bytes, socket options, and what to do when `accept` fails.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

/// When a connection last moved a byte and whether it has delivered a request head yet.
#[derive(Clone, Debug)]
pub struct Activity(Arc<ActivityState>);

#[derive(Debug)]
struct ActivityState {
    opened: Instant,
    last_ms: AtomicU64,
    served: AtomicBool,
}

impl Activity {
    /// Tracking for a connection opened now.
    pub fn new() -> Self {
        Self(Arc::new(ActivityState {
            opened: Instant::now(),
            last_ms: AtomicU64::new(0),
            served: AtomicBool::new(false),
        }))
    }

    /// When a byte last moved (the opening, if none has).
    pub fn last(&self) -> Instant {
        self.0.opened + Duration::from_millis(self.0.last_ms.load(Ordering::Relaxed))
    }

    /// Whether a complete request head has arrived on this connection.
    pub fn served_any(&self) -> bool {
        self.0.served.load(Ordering::Relaxed)
    }

    /// Records that a request head arrived.
    pub fn request_started(&self) {
        self.0.served.store(true, Ordering::Relaxed);
        self.touch();
    }

    fn touch(&self) {
        let ms = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_ms.store(ms, Ordering::Relaxed);
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

/// A stream that records its activity, optionally fails reads when no byte arrived before a deadline, and holds
/// its listener's connection slot until dropped.
pub struct Watched<IO> {
    io: IO,
    activity: Activity,
    first_byte: Option<Pin<Box<Sleep>>>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl<IO> Watched<IO> {
    /// `io`, reporting to `activity`.
    pub fn new(io: IO, activity: Activity) -> Self {
        Self {
            io,
            activity,
            first_byte: None,
            _slot: None,
        }
    }

    /// The same stream, failing its reads with `TimedOut` if no byte has arrived within `limit`.
    pub fn first_byte_within(mut self, limit: Duration) -> Self {
        self.first_byte = Some(Box::pin(tokio::time::sleep(limit)));
        self
    }

    /// The same stream, releasing `slot` when it is dropped.
    pub fn holding(mut self, slot: OwnedSemaphorePermit) -> Self {
        self._slot = Some(slot);
        self
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.activity.touch();
                    this.first_byte = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = this
                    .first_byte
                    .as_mut()
                    .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no bytes from the client in time",
                    )))
                } else {
                    Poll::Pending
                }
            }
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<IO: tonic::transport::server::Connected> tonic::transport::server::Connected for Watched<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

/// TCP_NODELAY (small answers never wait on Nagle's algorithm) and TCP keep-alive probes after `keepalive` idle.
pub fn configure_stream(tcp: &TcpStream, keepalive: Duration) {
    let _ = tcp.set_nodelay(true);
    let probes = socket2::TcpKeepalive::new().with_time(keepalive);
    if let Err(e) = socket2::SockRef::from(tcp).set_tcp_keepalive(&probes) {
        tracing::debug!(error = %e, "cannot enable TCP keep-alive");
    }
}

/// After a failed `accept`: nothing for errors about that one connection; a short pause when the process is out
/// of descriptors or memory, so the loop does not spin while connections close.
pub async fn accept_pause(error: &io::Error) {
    use io::ErrorKind::*;
    if matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    ) {
        return;
    }
    tracing::warn!(error = %error, "accept failed; pausing 50 ms");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// The soft open-file limit of this process (None where it cannot be read).
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes into the struct we pass.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        (rc == 0).then_some(limit.rlim_cur)
    }
    #[cfg(not(unix))]
    None
}

/// Raises the soft open-file limit to the hard limit (what a server with thousands of connections needs);
/// returns the limit in force afterwards.
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: limit.rlim_max,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    return Some(raised.rlim_cur);
                }
            }
        }
        Some(limit.rlim_cur)
    }
    #[cfg(not(unix))]
    None
}
