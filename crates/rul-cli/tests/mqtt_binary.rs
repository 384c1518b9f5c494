//! `rul replay --to mqtt` through the real binaries: a Mosquitto of this test on a free port, `rul serve` with
//! MQTT_URL on the shipped FD001 model, and the replay of 20 FD001 test engines, which must get one prediction
//! back per reading. Needs the C-MAPSS data (`CMAPSS_DIR`) and Mosquitto; skips without them (fails without
//! Mosquitto when CI=true).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Mosquitto process on a free loopback port; killed on drop.
struct Broker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn broker() -> Option<Broker> {
    let binary = Path::new("/usr/sbin/mosquitto");
    if !binary.is_file() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "mosquitto is not installed (CI=true: the MQTT tests must run)"
        );
        eprintln!("SKIPPED: mosquitto is not installed");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let config = dir.path().join("mosquitto.conf");
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n"),
    )
    .expect("config");
    let child = Command::new(binary)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Broker {
        child,
        port,
        _dir: dir,
    })
}

#[test]
fn replay_over_mqtt_gets_a_prediction_per_reading() {
    let Some(data) = rul_testkit::cmapss_dir() else {
        return;
    };
    let Some(broker) = broker() else {
        return;
    };
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let mut command = Command::new(env!("CARGO_BIN_EXE_rul"));
    command
        .arg("serve")
        .env("MODEL_PATH", rul_testkit::models_dir().join("fd001"))
        .env("HTTP_PORT", "0")
        .env("MQTT_URL", &url)
        .env("MQTT_TOPIC_PREFIX", "bin")
        .env("MQTT_CLIENT_ID", "bin-server");
    let server = common::start(command);
    common::wait_for_200(server.http, "/ready");
    let out = Command::new(env!("CARGO_BIN_EXE_rul"))
        .args(["replay", "--subset", "FD001", "--split", "test", "--json"])
        .args(["--to", "mqtt", "--mqtt", &url, "--topic-prefix", "bin"])
        .args(["--engines", "20"])
        .args(["--http", &format!("http://{}", server.http)])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("rul replay");
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let fd001 = rul_data::load_subset(&data, rul_data::Subset::FD001).expect("FD001");
    let total: usize = fd001.test.iter().take(20).map(|e| e.cycles.len()).sum();
    assert_eq!(report["sent"], total, "{report}");
    assert_eq!(report["mqtt"]["broker_acked"], total, "{report}");
    assert_eq!(report["mqtt"]["predictions"], total, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert!(
        !report["ranking"].as_array().is_some_and(Vec::is_empty),
        "{report}"
    );
}
