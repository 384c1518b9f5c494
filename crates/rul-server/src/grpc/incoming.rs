//! The gRPC listener's connections: at most GRPC_MAX_CONNECTIONS open (further clients wait in the listen
//! backlog), TCP_NODELAY and keep-alive set, and closed if no byte arrives within HTTP_HEADER_TIMEOUT_SECS.

use std::sync::Arc;

use futures_util::Stream;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::config::ConnectionArgs;
use crate::net::{Activity, Watched, accept_pause, configure_stream};

/// Accepted connections of `listener` under `limits`; each holds its slot until it closes.
pub fn capped(
    listener: TcpListener,
    limits: &ConnectionArgs,
) -> impl Stream<Item = Result<Watched<TcpStream>, std::io::Error>> + Send + 'static {
    let slots = Arc::new(Semaphore::new(limits.grpc_max_connections));
    let (first_byte, keepalive) = (limits.header_timeout(), limits.keepalive_interval());
    futures_util::stream::unfold((listener, slots), move |(listener, slots)| async move {
        let slot = slots.clone().acquire_owned().await.ok()?;
        loop {
            match listener.accept().await {
                Ok((tcp, _)) => {
                    configure_stream(&tcp, keepalive);
                    let stream = Watched::new(tcp, Activity::new())
                        .first_byte_within(first_byte)
                        .holding(slot);
                    return Some((Ok(stream), (listener, slots)));
                }
                Err(e) => accept_pause(&e).await,
            }
        }
    })
}
