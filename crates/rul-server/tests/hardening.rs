//! Hardening against slow clients and lossy shutdowns, through `serve_with_listeners` on ephemeral ports: stalled
//! connections neither block /health nor stay open past the header timeout, and a shutdown under load reports
//! not-ready first and loses no request the server accepted.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::running::{Running, grpc_status};
use common::*;
use rul_server::ServerConfig;
use rul_server::config::ConnectionArgs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tonic_health::pb::health_check_response::ServingStatus;

/// A server that serves (model loaded, gRPC SERVING).
async fn start(config: ServerConfig) -> Running {
    let running = Running::start(config).await;
    running.wait_serving().await;
    running
}

/// Polls `condition` every 10 ms until it holds; fails the test if it does not within `limit`.
async fn poll<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} not seen within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many stalled connections this process can afford (client and server ends both count).
fn stalled_budget(wanted: usize) -> usize {
    let limit = rul_server::net::raise_open_file_limit().unwrap_or(1024);
    let spare = usize::try_from(limit.saturating_sub(400) / 4).unwrap_or(usize::MAX);
    wanted.min(spare).max(16)
}

/// Opens `n` connections to `addr` that send an incomplete request line and then nothing.
async fn stalled(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"GET /hea").await.expect("partial line");
        streams.push(stream);
    }
    streams
}

async fn health_ok(server: &Running, limit: Duration) {
    let client = reqwest::Client::builder()
        .timeout(limit)
        .build()
        .expect("client");
    let response = client
        .get(server.url("/health"))
        .send()
        .await
        .expect("/health answered while stalled connections were open");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn stalled_connections_leave_room_for_health() {
    // A header timeout far beyond the test's bound: every stalled connection is still open when /health answers.
    let config = ServerConfig {
        connections: ConnectionArgs {
            http_header_timeout_secs: 120,
            http_idle_timeout_secs: 180,
            ..ConnectionArgs::default()
        },
        ..config(artifact("hardening"))
    };
    let server = start(config).await;
    let streams = stalled(server.http, stalled_budget(400)).await;
    health_ok(&server, Duration::from_secs(10)).await;
    drop(streams);
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn stalled_connections_are_closed_after_the_header_timeout() {
    // More stalled clients than the cap: they are let in as earlier ones time out, and all get closed.
    let n = stalled_budget(200);
    let config = ServerConfig {
        connections: ConnectionArgs {
            http_header_timeout_secs: 1,
            http_max_connections: n / 2,
            ..ConnectionArgs::default()
        },
        ..config(artifact("hardening"))
    };
    let server = start(config).await;
    let streams = stalled(server.http, n).await;
    let closed = futures_util::future::join_all(streams.into_iter().map(|mut stream| async move {
        let mut rest = Vec::new();
        match tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut rest)).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => e.kind() == std::io::ErrorKind::ConnectionReset,
            Err(_) => false,
        }
    }))
    .await;
    assert!(
        closed.iter().all(|c| *c),
        "{} of {n} stalled connections were left open",
        closed.iter().filter(|c| !**c).count()
    );
    health_ok(&server, Duration::from_secs(10)).await;

    // A gRPC connection that never sends its preface is closed after the same timeout.
    let mut silent = TcpStream::connect(server.grpc).await.expect("connect grpc");
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), silent.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "a silent gRPC connection was left open");
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn shutdown_reports_not_ready_first_while_still_serving() {
    let config = ServerConfig {
        shutdown_delay_secs: 3,
        ..config(artifact("hardening"))
    };
    let mut server = start(config).await;
    let health = server.health().await;
    let client = reqwest::Client::new();
    let ready = client
        .get(server.url("/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), 200);

    server.trigger();
    poll(Duration::from_secs(10), "/ready 503", || {
        let request = client.get(server.url("/ready")).send();
        async move {
            let response = request
                .await
                .expect("server still accepts during the delay");
            response.status() == 503
        }
    })
    .await;
    poll(Duration::from_secs(10), "gRPC NOT_SERVING", || {
        let mut health = health.clone();
        async move { grpc_status(&mut health).await == Some(ServingStatus::NotServing) }
    })
    .await;
    let answer = client
        .post(server.url("/predict"))
        .json(&predict_body("during-delay", 30))
        .send()
        .await
        .expect("predictions still served during the delay");
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "HTTP/1 answers ask the client to reconnect"
    );
    drop(health);
    server.stop().await.expect("clean stop");
}

/// What became of one request of the load.
#[derive(Debug)]
enum Outcome {
    Answered(u16),
    NotSent,
    Lost(String),
}

#[tokio::test]
async fn shutdown_under_load_loses_no_accepted_request() {
    const REQUESTS: usize = 2000;
    const CONCURRENCY: usize = 32;
    const TRIGGER_AFTER: usize = 1000;
    let config = ServerConfig {
        shutdown_delay_secs: 1,
        shutdown_grace_secs: 10,
        ..config(artifact("hardening"))
    };
    let mut server = start(config).await;
    let url = server.url("/predict");
    let ready_url = server.url("/ready");
    let stop = Arc::new(Mutex::new(server.stop.take()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let (fired_tx, fired_rx) = oneshot::channel::<()>();
    let fired_tx = Arc::new(Mutex::new(Some(fired_tx)));

    // Watches /ready from the moment shutdown starts: it must answer 503 before the listener goes away.
    let watcher = tokio::spawn({
        let client = client.clone();
        async move {
            if fired_rx.await.is_err() {
                return None;
            }
            loop {
                match client.get(&ready_url).send().await {
                    Ok(r) if r.status() == 503 => return Some(true),
                    Ok(_) => {}
                    Err(_) => return Some(false),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });

    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, url, next, answered, stop, fired_tx) = (
                client.clone(),
                url.clone(),
                next.clone(),
                answered.clone(),
                stop.clone(),
                fired_tx.clone(),
            );
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= REQUESTS {
                        return outcomes;
                    }
                    let body = predict_body(&format!("load-{}", i % 50), 30);
                    let outcome = match client.post(&url).json(&body).send().await {
                        Ok(response) => {
                            let status = response.status().as_u16();
                            match response.bytes().await {
                                Ok(_) => Outcome::Answered(status),
                                Err(e) => Outcome::Lost(format!("truncated answer: {e:?}")),
                            }
                        }
                        Err(e) if e.is_connect() => Outcome::NotSent,
                        Err(e) => Outcome::Lost(format!("{e:?}")),
                    };
                    if matches!(outcome, Outcome::Answered(_))
                        && answered.fetch_add(1, Ordering::Relaxed) + 1 == TRIGGER_AFTER
                    {
                        if let Some(stop) = stop.lock().expect("lock").take() {
                            let _ = stop.send(());
                        }
                        if let Some(fired) = fired_tx.lock().expect("lock").take() {
                            let _ = fired.send(());
                        }
                    }
                    outcomes.push(outcome);
                }
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.extend(worker.await.expect("worker"));
    }
    let lost: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Lost(e) => Some(e),
            _ => None,
        })
        .collect();
    let ok = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Answered(200)))
        .count();
    let not_sent = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::NotSent))
        .count();
    eprintln!(
        "shutdown under load: {ok} answered 200, {not_sent} refused before sending, {} lost",
        lost.len()
    );
    assert!(
        lost.is_empty(),
        "{} lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(
        ok + not_sent,
        REQUESTS,
        "every answer is a 200: {:?}",
        outcomes
            .iter()
            .filter(|o| matches!(o, Outcome::Answered(s) if *s != 200))
            .take(5)
            .collect::<Vec<_>>()
    );
    assert!(ok >= TRIGGER_AFTER);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(30), watcher)
            .await
            .expect("watcher ends")
            .expect("join"),
        Some(true),
        "/ready answered 503 during the shutdown delay"
    );
    tokio::time::timeout(Duration::from_secs(30), server.task)
        .await
        .expect("stops in time")
        .expect("join")
        .expect("clean stop");
}
