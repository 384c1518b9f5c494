//! The real `rul` binary as SageMaker runs it: `rul serve --sagemaker` (/ping, /invocations, SIGTERM drain) and
//! `rul sagemaker package` (an archive SageMaker can unpack into /opt/ml/model and we can load).

mod common;

use std::process::Command;

use common::{http, readings};

/// `rul serve` as the image runs it (RUL_SAGEMAKER=1), with `--port 0 --model <model>` overriding 8080 and
/// /opt/ml/model (gRPC on an ephemeral port).
fn start(model: &std::path::Path) -> common::Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rul"));
    command
        .args(["serve", "--port", "0", "--model"])
        .arg(model)
        .env("RUL_SAGEMAKER", "1")
        .env_remove("MODEL_PATH")
        .env_remove("HTTP_PORT");
    common::start(command)
}

#[test]
fn serve_sagemaker_pings_invokes_and_drains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("model");
    rul_model::write_test_artifact(&model, 5).expect("test artifact");
    let mut server = start(&model);
    // --port 0 won over container mode's 8080 (an ephemeral port was bound).
    assert_ne!(server.http.port(), 8080);
    common::wait_for_200(server.http, "/ping");

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
    let exit = common::terminate(&mut server);
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
