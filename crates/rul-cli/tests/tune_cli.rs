//! `rul tune` and `rul train` end to end on synthetic C-MAPSS files: a three-trial study writes
//! its table and `best.toml`, re-running resumes without training, `rul train --config best.toml`
//! reproduces the best trial's validation RMSE, and an unreachable MLflow only warns.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use rul_data::Engine;

fn rul() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rul"))
}

/// Writes `engines` in the C-MAPSS text layout (unit, cycle, 3 settings, 21 sensors).
fn write_series(path: &Path, engines: &[Engine]) {
    let mut text = String::new();
    for e in engines {
        for c in &e.cycles {
            let _ = write!(text, "{} {}", c.unit, c.cycle);
            for v in c.settings.iter().chain(c.sensors.iter()) {
                let _ = write!(text, " {v:.4}");
            }
            text.push('\n');
        }
    }
    std::fs::write(path, text).unwrap();
}

/// Synthetic FD001 files (the data `rul_model::synthetic` trains its test artifact on).
fn synthetic_dir(dir: &Path) {
    let data = rul_model::synthetic::synthetic_data(21);
    std::fs::create_dir_all(dir).unwrap();
    write_series(&dir.join("train_FD001.txt"), &data.train);
    write_series(&dir.join("test_FD001.txt"), &data.test);
    let rul: String = data.test_rul.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(dir.join("RUL_FD001.txt"), rul).unwrap();
}

/// The tiny test configuration as a space base, searching LSTM units and learning rate.
fn tiny_space(path: &Path) {
    let base = toml::Value::try_from(rul_model::synthetic::test_config(21)).unwrap();
    let mut text = toml::to_string(&toml::Value::Table(toml::map::Map::from_iter([(
        "base".to_string(),
        base,
    )])))
    .unwrap();
    text.push_str(
        r#"
[[param]]
name = "lstm_units"
path = "model.lstm.0"
type = "int"
low = 4
high = 12

[[param]]
name = "learning_rate"
path = "learning_rate"
type = "float"
low = 1e-3
high = 1e-2
log = true
"#,
    );
    std::fs::write(path, text).unwrap();
}

fn run_ok(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    (stdout, stderr)
}

#[test]
fn tune_writes_best_toml_that_train_reproduces() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, study, runs) = (
        tmp.path().join("data"),
        tmp.path().join("study"),
        tmp.path().join("runs"),
    );
    synthetic_dir(&data);
    let space = tmp.path().join("space.toml");
    tiny_space(&space);
    let tune = |trials: &str| {
        let mut cmd = rul();
        cmd.args([
            "tune",
            "--subset",
            "FD001",
            "--trials",
            trials,
            "--max-epochs",
            "2",
        ])
        .arg("--space")
        .arg(&space)
        .arg("--study")
        .arg(&study)
        .arg("--data-dir")
        .arg(&data)
        .arg("--runs-dir")
        .arg(&runs)
        .env_remove("MLFLOW_TRACKING_URI");
        cmd
    };
    let (stdout, stderr) = run_ok(&mut tune("3"));
    assert!(
        stdout.contains("val_rmse") && stdout.contains("best: trial"),
        "{stdout}"
    );
    assert!(stderr.contains("[3/3]"), "{stderr}");
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 3);

    // Same command again: nothing left to train.
    let (stdout, stderr) = run_ok(&mut tune("3"));
    assert!(
        stderr.contains("3 of 3 trials already finished"),
        "{stderr}"
    );
    assert!(stdout.contains("(0 run now"), "{stdout}");
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 3);

    // The best trial's value, from the study file.
    let lines = std::fs::read_to_string(study.join("trials.jsonl")).unwrap();
    let best = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|t| t["state"] == "complete")
        .filter_map(|t| t["value"].as_f64())
        .fold(f64::INFINITY, f64::min);
    assert!(best.is_finite());

    // Re-train from best.toml with an unreachable MLflow: same validation RMSE, a warning.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (stdout, stderr) = run_ok(
        rul()
            .args(["train", "--subset", "FD001", "--json"])
            .arg("--config")
            .arg(study.join("best.toml"))
            .arg("--out")
            .arg(tmp.path().join("model"))
            .arg("--data-dir")
            .arg(&data)
            .arg("--runs-dir")
            .arg(&runs)
            .env("MLFLOW_TRACKING_URI", format!("http://127.0.0.1:{port}")),
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["val_rmse"].as_f64(), Some(best), "{stdout}");
    assert!(stderr.contains("warning: MLflow"), "{stderr}");
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 4);
}
