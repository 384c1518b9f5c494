//! Shared by the tests that start the real `rul` binary: the server process (killed on drop), its
//! addresses read from the "listening" log line, a minimal HTTP/1.1 client and a synthetic history.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `rul serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub http: SocketAddr,
    pub grpc: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub use rul_testkit::scratch_sqlite_url;

/// Spawns `command` (a `rul serve` with JSON logs on stdout) and waits for its "listening" line.
pub fn start(mut command: Command) -> Server {
    if !command.get_envs().any(|(k, _)| k == "DATABASE_URL") {
        command.env("DATABASE_URL", scratch_sqlite_url());
    }
    if !command.get_envs().any(|(k, _)| k == "SHUTDOWN_GRACE_SECS") {
        command.env("SHUTDOWN_GRACE_SECS", "20");
    }
    if !command.get_envs().any(|(k, _)| k == "SHUTDOWN_DELAY_SECS") {
        command.env("SHUTDOWN_DELAY_SECS", "0");
    }
    let mut child = command
        .env("HOST", "127.0.0.1")
        .env("GRPC_PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn rul serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (http, grpc) = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("read log line");
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v["message"] == "listening" {
            let addr = |k: &str| {
                v[k].as_str()
                    .expect("address")
                    .parse::<SocketAddr>()
                    .expect("socket address")
            };
            break (addr("http"), addr("grpc"));
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server { child, http, grpc }
}

/// A minimal HTTP/1.1 exchange; returns (status, body).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    read_response(&mut s)
}

/// Reads a whole `Connection: close` response; returns (status, body).
pub fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Polls `GET path` until it answers 200 (panics after 60 s).
pub fn wait_for_200(addr: SocketAddr, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(addr, "GET", path, "text/plain", "").0 != 200 {
        assert!(Instant::now() < deadline, "{path} never answered 200");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGTERM and waits (at most 30 s) for the process to exit; returns its status.
pub fn terminate(server: &mut Server) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            return exit;
        }
        assert!(
            Instant::now() < deadline,
            "did not exit within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A history of 40 cycles from the synthetic fleet the test models are trained on.
pub fn readings() -> Vec<serde_json::Value> {
    let engine = &rul_data::synthetic::fleet(3, 11)[0];
    engine.cycles[engine.cycles.len() - 40..]
        .iter()
        .map(|c| {
            let mut o = serde_json::Map::new();
            for s in rul_data::DEFAULT_SENSORS {
                let i = rul_data::sensor_index(s).expect("sensor");
                o.insert(s.into(), c.sensors[i].into());
            }
            serde_json::Value::Object(o)
        })
        .collect()
}
