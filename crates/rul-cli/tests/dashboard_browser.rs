//! The fleet dashboard end to end in Debian's Chromium: a real `rul serve` on the shipped FD001 model (with
//! its evaluation plots drawn by `rul evaluate --plots`), fed by `rul replay` while the page is open. The
//! browser side is `tests/browser/dashboard.test.mjs` (playwright-core driving /usr/bin/chromium).
//!
//! Needs the C-MAPSS data, Node.js, Chromium and `npm ci` in tests/browser; without them it skips with a
//! message, unless CI=true, where a missing browser or module is a failure. Screenshots go to the target's
//! tmp dir, or to docs/screenshots (the README's) with RUL_UPDATE_SCREENSHOTS=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const TOKEN: &str = "dashboard-admin-token-0123456789";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the browser test needs, or why it cannot run.
fn prerequisites() -> Result<(PathBuf, PathBuf), String> {
    let data = std::env::var_os("CMAPSS_DIR")
        .map(PathBuf::from)
        .filter(|d| {
            ["test_FD001.txt.gz", "test_FD001.txt"]
                .iter()
                .any(|f| d.join(f).exists())
        })
        .ok_or("CMAPSS_DIR is not set or holds no FD001 test file")?;
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium)",
            chromium.display()
        ));
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return Err("node is not installed".into());
    }
    if !repo()
        .join("tests/browser/node_modules/playwright-core")
        .is_dir()
    {
        return Err("playwright-core is not installed (cd tests/browser && npm ci)".into());
    }
    Ok((data, chromium))
}

/// A copy of the shipped model with its evaluation plots next to it (what the model view shows).
fn model_with_plots(dir: &Path, data: &Path) -> PathBuf {
    let model = dir.join("fd001");
    std::fs::create_dir_all(&model).expect("model dir");
    for entry in std::fs::read_dir(repo().join("models/fd001")).expect("shipped model") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), model.join(entry.file_name())).expect("copy");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rul"))
        .args(["evaluate", "--model"])
        .arg(&model)
        .arg("--plots")
        .arg(&model)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("rul evaluate");
    assert!(
        out.status.success(),
        "rul evaluate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    model
}

#[test]
fn dashboard_in_chromium() {
    let (data, chromium) = match prerequisites() {
        Ok(found) => found,
        Err(why)
            if std::env::var("CI").is_ok_and(|v| v == "true") && !why.starts_with("CMAPSS_DIR") =>
        {
            panic!("CI=true but the browser test cannot run: {why}")
        }
        Err(why) => {
            eprintln!("skipping the browser test: {why}");
            return;
        }
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    let model = model_with_plots(scratch.path(), &data);
    let mut command = Command::new(env!("CARGO_BIN_EXE_rul"));
    command
        .arg("serve")
        .env("MODEL_PATH", &model)
        .env("HTTP_PORT", "0")
        .env("ADMIN_TOKEN", TOKEN)
        .env("CACHE_CAPACITY", "0");
    let server = common::start(command);
    common::wait_for_200(server.http, "/ready");

    let shots = if std::env::var("RUL_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        repo().join("docs/screenshots")
    } else {
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots")
    };
    let status = Command::new("node")
        .arg("dashboard.test.mjs")
        .current_dir(repo().join("tests/browser"))
        .env("RUL_BASE", format!("http://{}", server.http))
        .env("RUL_BIN", env!("CARGO_BIN_EXE_rul"))
        .env("CMAPSS_DIR", &data)
        .env("RUL_ADMIN_TOKEN", TOKEN)
        .env("RUL_SCREENSHOTS", &shots)
        .env("RUL_EXPECT_PLOTS", "1")
        .env("CHROMIUM", &chromium)
        .status()
        .expect("node");
    assert!(
        status.success(),
        "the browser test failed (its output is above)"
    );
    for view in ["fleet", "engine", "model"] {
        assert!(
            shots.join(format!("{view}.png")).is_file(),
            "no {view} screenshot"
        );
    }
}

/// An open dashboard (a GET /events stream) ends when the server shuts down instead of holding up the drain:
/// with a 600 s grace period the process still exits (common::terminate allows 30 s).
#[test]
fn an_open_event_stream_does_not_hold_up_shutdown() {
    use std::io::{BufRead, BufReader, Write};

    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    rul_model::write_test_artifact(&model, 5).expect("test artifact");
    let mut command = Command::new(env!("CARGO_BIN_EXE_rul"));
    command
        .arg("serve")
        .env("MODEL_PATH", &model)
        .env("HTTP_PORT", "0")
        .env("SHUTDOWN_GRACE_SECS", "600");
    let mut server = common::start(command);
    common::wait_for_200(server.http, "/ready");
    let mut stream = std::net::TcpStream::connect(server.http).expect("connect");
    write!(
        stream,
        "GET /events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("write");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    while !line.starts_with("event: hello") {
        line.clear();
        assert!(
            reader.read_line(&mut line).expect("read") > 0,
            "stream ended before hello"
        );
    }
    let exit = common::terminate(&mut server);
    assert!(exit.success(), "{exit:?}");
}
