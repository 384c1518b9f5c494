//! The real `rul` binary as SageMaker runs it: `rul serve --sagemaker` (/ping, /invocations, SIGTERM drain) and
//! `rul sagemaker package` (an archive SageMaker can unpack into /opt/ml/model and we can load).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    http: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `rul serve` as the image runs it (RUL_SAGEMAKER=1), with `--port 0 --model <model>` overriding 8080 and
/// /opt/ml/model (gRPC on an ephemeral port).
fn start(model: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rul"))
        .args(["serve", "--port", "0", "--model"])
        .arg(model)
        .env("RUL_SAGEMAKER", "1")
        .env_remove("MODEL_PATH")
        .env_remove("HTTP_PORT")
        .env("HOST", "127.0.0.1")
        .env("GRPC_PORT", "0")
        .env("LOG_FORMAT", "json")
        .env("SHUTDOWN_GRACE_SECS", "20")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn rul serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let http = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("read log line");
        let v: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if v["message"] == "listening" {
            break v["http"]
                .as_str()
                .expect("address")
                .parse::<SocketAddr>()
                .expect("socket address");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, http }
}

fn http(
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

fn readings() -> Vec<serde_json::Value> {
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

#[test]
fn serve_sagemaker_pings_invokes_and_drains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    rul_model::write_test_artifact(&model, 5).expect("test artifact");
    let mut server = start(&model);
    // --port 0 won over container mode's 8080 (an ephemeral port was bound).
    assert_ne!(server.http.port(), 8080);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(server.http, "GET", "/ping", "text/plain", "").0 != 200 {
        assert!(Instant::now() < deadline, "/ping never answered 200");
        std::thread::sleep(Duration::from_millis(100));
    }

    let body = serde_json::json!({"engine_id": "sm", "sensor_data": readings()}).to_string();
    let (status, text) = http(server.http, "POST", "/predict", "application/json", &body);
    assert_eq!(status, 200, "{text}");
    let local: serde_json::Value = serde_json::from_str(&text).expect("json");
    let body = serde_json::json!({"instances": [readings()]}).to_string();
    let (status, text) = http(
        server.http,
        "POST",
        "/invocations",
        "application/json",
        &body,
    );
    assert_eq!(status, 200, "{text}");
    let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
    let (a, b) = (
        local["predicted_rul"].as_f64().expect("rul"),
        answer["predictions"][0][0].as_f64().expect("prediction"),
    );
    assert!((a - b).abs() < 1e-9, "/predict {a} vs /invocations {b}");

    // SIGTERM: the process drains and exits cleanly (SageMaker allows 30 s).
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "did not exit within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
}

#[test]
fn package_writes_a_loadable_model_tar_gz() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    rul_model::write_test_artifact(&model, 9).expect("test artifact");
    let out = dir.path().join("model.tar.gz");
    let run = Command::new(env!("CARGO_BIN_EXE_rul"))
        .args(["sagemaker", "package", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("rul sagemaker package");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // Every file of the model directory, at the archive root.
    let mut expected: Vec<String> = std::fs::read_dir(&model)
        .expect("read model dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    let open = || {
        tar::Archive::new(flate2::read::GzDecoder::new(
            std::fs::File::open(&out).expect("open"),
        ))
    };
    let mut names: Vec<String> = open()
        .entries()
        .expect("entries")
        .map(|e| {
            e.expect("entry")
                .path()
                .expect("path")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, expected);

    // Unpacked as SageMaker does, it loads as the same model.
    let unpacked = dir.path().join("opt-ml-model");
    open().unpack(&unpacked).expect("unpack");
    let original = rul_model::Artifact::load(&model).expect("original loads");
    let loaded = rul_model::Artifact::load(&unpacked).expect("unpacked loads");
    assert_eq!(loaded.version(), original.version());

    // A directory that is not an artifact is refused, and nothing is written.
    let refused = Command::new(env!("CARGO_BIN_EXE_rul"))
        .args(["sagemaker", "package", "--model"])
        .arg(dir.path().join("nope"))
        .arg("--out")
        .arg(dir.path().join("bad.tar.gz"))
        .output()
        .expect("rul sagemaker package");
    assert!(!refused.status.success());
    assert!(!dir.path().join("bad.tar.gz").exists());
}
