//! Connection limits of both listeners: how many connections, how long a client may take to send a request head
//! or stay silent, and gRPC's HTTP/2 keep-alive and per-connection stream limit.

use std::time::Duration;

use clap::Args;

/// Connection settings (flattened into [`super::ServerConfig`]).
#[derive(Args, Clone, Debug, PartialEq)]
pub struct ConnectionArgs {
    /// Open REST connections at most; further clients wait in the listen backlog until one closes (lowered at
    /// startup to fit the open-file limit).
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 4096)]
    pub http_max_connections: usize,
    /// Seconds a client has to send a complete request head, counted from the connection's opening or the end of
    /// the previous response (so it also closes HTTP/1 keep-alive connections idle that long); new gRPC
    /// connections must send their first bytes within it too.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub http_header_timeout_secs: u64,
    /// Seconds a REST connection may pass with no byte moving in either direction (stalled bodies, clients that
    /// stop reading) before it is closed; must exceed REQUEST_TIMEOUT_MS.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub http_idle_timeout_secs: u64,
    /// Open gRPC connections at most; further clients wait in the listen backlog (lowered at startup to fit the
    /// open-file limit).
    #[arg(long, env = "GRPC_MAX_CONNECTIONS", default_value_t = 1024)]
    pub grpc_max_connections: usize,
    /// Concurrent streams (calls) one gRPC connection may open (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(long, env = "GRPC_MAX_CONCURRENT_STREAMS", default_value_t = 100)]
    pub grpc_max_concurrent_streams: u32,
    /// Seconds between HTTP/2 pings on a gRPC connection (and TCP keep-alive probes on both listeners).
    #[arg(long, env = "GRPC_KEEPALIVE_INTERVAL_SECS", default_value_t = 30)]
    pub grpc_keepalive_interval_secs: u64,
    /// Seconds a gRPC client has to answer a ping before its connection is closed.
    #[arg(long, env = "GRPC_KEEPALIVE_TIMEOUT_SECS", default_value_t = 10)]
    pub grpc_keepalive_timeout_secs: u64,
    /// Request bytes being received and handled at once, REST and gRPC together; a request that finds them
    /// taken is refused (429 / RESOURCE_EXHAUSTED) rather than let memory grow with connections × message size.
    #[arg(long, env = "MAX_INFLIGHT_BYTES", default_value_t = DEFAULT_MAX_INFLIGHT_BYTES)]
    pub max_inflight_bytes: usize,
}

/// 64 MiB: sixteen 4 MB gRPC messages, or sixty-four 1 MB REST bodies, at once.
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 64 << 20;

impl Default for ConnectionArgs {
    fn default() -> Self {
        Self {
            http_max_connections: 4096,
            http_header_timeout_secs: 10,
            http_idle_timeout_secs: 60,
            grpc_max_connections: 1024,
            grpc_max_concurrent_streams: 100,
            grpc_keepalive_interval_secs: 30,
            grpc_keepalive_timeout_secs: 10,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
        }
    }
}

/// Most connections one listener may be configured to hold.
const MAX_CONNECTIONS: usize = 1_000_000;

impl ConnectionArgs {
    /// Problems with these settings (empty when valid); `request_timeout_ms` is REQUEST_TIMEOUT_MS.
    pub fn problems(&self, request_timeout_ms: u64) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, value) in [
            ("HTTP_MAX_CONNECTIONS", self.http_max_connections),
            ("GRPC_MAX_CONNECTIONS", self.grpc_max_connections),
        ] {
            if !(1..=MAX_CONNECTIONS).contains(&value) {
                problems.push(format!(
                    "{name} must be between 1 and {MAX_CONNECTIONS}, got {value}"
                ));
            }
        }
        for (name, value) in [
            ("HTTP_HEADER_TIMEOUT_SECS", self.http_header_timeout_secs),
            (
                "GRPC_KEEPALIVE_INTERVAL_SECS",
                self.grpc_keepalive_interval_secs,
            ),
            (
                "GRPC_KEEPALIVE_TIMEOUT_SECS",
                self.grpc_keepalive_timeout_secs,
            ),
        ] {
            if !(1..=3600).contains(&value) {
                problems.push(format!("{name} must be between 1 and 3600, got {value}"));
            }
        }
        if self.http_idle_timeout_secs.saturating_mul(1000) <= request_timeout_ms
            || self.http_idle_timeout_secs > 86_400
        {
            problems.push(format!(
                "HTTP_IDLE_TIMEOUT_SECS must exceed REQUEST_TIMEOUT_MS ({request_timeout_ms} ms) and be at most \
                 86400, got {}",
                self.http_idle_timeout_secs
            ));
        }
        if self.grpc_max_concurrent_streams == 0 {
            problems.push("GRPC_MAX_CONCURRENT_STREAMS must be at least 1".to_string());
        }
        problems
    }

    /// HTTP_HEADER_TIMEOUT_SECS.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.http_header_timeout_secs)
    }

    /// HTTP_IDLE_TIMEOUT_SECS.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.http_idle_timeout_secs)
    }

    /// GRPC_KEEPALIVE_INTERVAL_SECS.
    pub fn keepalive_interval(&self) -> Duration {
        Duration::from_secs(self.grpc_keepalive_interval_secs)
    }

    /// GRPC_KEEPALIVE_TIMEOUT_SECS.
    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_secs(self.grpc_keepalive_timeout_secs)
    }

    /// (REST, gRPC) connection caps lowered, if needed, so that both together leave `reserve` descriptors of
    /// `open_files` (the process's open-file limit) for everything else.
    pub fn caps_within(&self, open_files: u64, reserve: u64) -> (usize, usize) {
        let wanted = (self.http_max_connections, self.grpc_max_connections);
        let budget = usize::try_from(open_files.saturating_sub(reserve)).unwrap_or(usize::MAX);
        let total = wanted.0.saturating_add(wanted.1);
        if total <= budget {
            return wanted;
        }
        let http = (wanted.0 as u128 * budget as u128 / total.max(1) as u128) as usize;
        (http.max(1), budget.saturating_sub(http).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(ConnectionArgs::default().problems(10_000).is_empty());
    }

    #[test]
    fn bad_values_are_named() {
        let args = ConnectionArgs {
            http_max_connections: 0,
            http_header_timeout_secs: 0,
            http_idle_timeout_secs: 5,
            grpc_max_concurrent_streams: 0,
            ..ConnectionArgs::default()
        };
        let all = args.problems(10_000).join("; ");
        for name in [
            "HTTP_MAX_CONNECTIONS",
            "HTTP_HEADER_TIMEOUT_SECS",
            "HTTP_IDLE_TIMEOUT_SECS",
            "GRPC_MAX_CONCURRENT_STREAMS",
        ] {
            assert!(all.contains(name), "{name} missing from {all}");
        }
    }

    #[test]
    fn caps_shrink_to_fit_the_open_file_limit() {
        let args = ConnectionArgs::default();
        assert_eq!(args.caps_within(1_000_000, 256), (4096, 1024));
        let (http, grpc) = args.caps_within(512, 256);
        assert!(http + grpc <= 256 && http > grpc, "{http} {grpc}");
        assert_eq!(args.caps_within(10, 256), (1, 1));
    }
}
