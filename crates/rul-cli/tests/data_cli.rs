//! `rul data fetch` against a local HTTP server serving a zip the test builds, and `rul data inspect` on real data.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

fn rul() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rul"))
}

/// Serves `body` to every request on an ephemeral loopback port until the test ends.
fn serve(body: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(8) {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/zip\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    format!("http://{addr}/CMAPSSData.zip")
}

/// A zip holding a nested zip with the twelve file names and tiny contents, plus their SHA256SUMS.
fn archive() -> (Vec<u8>, String) {
    let names: Vec<String> = ["train", "test", "RUL"]
        .iter()
        .flat_map(|k| (1..=4).map(move |i| format!("{k}_FD00{i}.txt")))
        .collect();
    let mut sums = String::new();
    let mut inner = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in &names {
        let content = format!("content of {name}\n");
        sums.push_str(&format!(
            "{}  {name}\n",
            hex::encode(Sha256::digest(content.as_bytes()))
        ));
        inner
            .start_file(
                format!("CMAPSSData/{name}"),
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
        inner.write_all(content.as_bytes()).unwrap();
    }
    let inner = inner.finish().unwrap().into_inner();
    let mut outer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    outer
        .start_file(
            "6. Turbofan/CMAPSSData.zip",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
    outer.write_all(&inner).unwrap();
    (outer.finish().unwrap().into_inner(), sums)
}

#[test]
fn fetch_downloads_verifies_and_unpacks() {
    let (zip_bytes, sums) = archive();
    let digest = hex::encode(Sha256::digest(&zip_bytes));
    let url = serve(zip_bytes);
    let dir = tempfile::tempdir().unwrap();
    let sums_path = dir.path().join("SUMS");
    std::fs::write(&sums_path, &sums).unwrap();
    let dest = dir.path().join("cmapss");
    let out = rul()
        .args([
            "data",
            "fetch",
            "--url",
            &url,
            "--sha256",
            &digest,
            "--checksums",
        ])
        .arg(&sums_path)
        .arg("--dest")
        .arg(&dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 12);
    assert_eq!(
        std::fs::read_to_string(dest.join("RUL_FD003.txt")).unwrap(),
        "content of RUL_FD003.txt\n"
    );
}

#[test]
fn fetch_refuses_bad_checksums_and_writes_nothing() {
    let (zip_bytes, sums) = archive();
    let url = serve(zip_bytes);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("cmapss");
    let wrong = rul()
        .args(["data", "fetch", "--url", &url, "--sha256", &"0".repeat(64)])
        .arg("--dest")
        .arg(&dest)
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("archive checksum mismatch"));
    // The built-in list holds the real files' checksums, which the tiny archive cannot match.
    let _ = sums;
    let builtin = rul()
        .args(["data", "fetch", "--url", &url])
        .arg("--dest")
        .arg(&dest)
        .output()
        .unwrap();
    assert!(!builtin.status.success());
    assert!(String::from_utf8_lossy(&builtin.stderr).contains("checksum mismatch"));
    assert!(!dest.exists() || std::fs::read_dir(&dest).unwrap().count() == 0);
}

#[test]
fn inspect_reports_real_counts() {
    let dir = rul_data::resolve_data_dir(None);
    if !dir.join("train_FD002.txt.gz").exists() && !dir.join("train_FD002.txt").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but no data at {}",
            dir.display()
        );
        eprintln!("skipping: no C-MAPSS data at {}", dir.display());
        return;
    }
    let out = rul()
        .args(["data", "inspect", "--subset", "FD002", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["train"]["engines"], 260);
    assert_eq!(v[0]["train"]["rows"], 53759);
    assert_eq!(v[0]["test"]["engines"], 259);
    assert_eq!(v[0]["conditions"], 6);
}
