//! rul-testkit: what the integration tests of every crate share, so no test folder keeps its own copy.
//! - [`cmapss_dir`]: the real data, or a skip with a reason (a failure in CI);
//! - [`models_dir`]: the committed artifacts; [`test_artifact`]: a tiny real artifact, trained once per process;
//! - [`readings`]: plausible readings of the synthetic fleet's sensor profile, in every transport's form;
//! - [`scratch_sqlite_url`]: a fresh SQLite store per call.
//!
//! A dev-dependency only: nothing here is part of the service.

pub mod readings;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The C-MAPSS folder (`CMAPSS_DIR`, else `data/cmapss`) when it holds FD001, else None after printing why the
/// test skips. In CI (`CI` set) missing data is a failure, never a silent skip.
pub fn cmapss_dir() -> Option<PathBuf> {
    let dir = rul_data::resolve_data_dir(None);
    let present = [
        "train_FD001.txt.gz",
        "train_FD001.txt",
        "test_FD001.txt.gz",
        "test_FD001.txt",
    ]
    .iter()
    .any(|f| dir.join(f).exists());
    if present {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but there is no C-MAPSS data at {} (set CMAPSS_DIR)",
        dir.display()
    );
    eprintln!(
        "skipping: no C-MAPSS data at {} (set CMAPSS_DIR)",
        dir.display()
    );
    None
}

/// The committed model artifacts (`models/` at the workspace root).
pub fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

/// Scratch space of this process's fixtures, under the system temp dir (removed and recreated per process).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rul-testkit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("cannot create {}: {e}", dir.display());
        }
        dir
    })
}

/// A tiny real artifact (`rul_model::write_test_artifact` with `seed`), written once per process and name.
pub fn test_artifact(name: &str, seed: u64) -> &'static Path {
    static WRITTEN: OnceLock<Mutex<HashMap<(String, u64), &'static Path>>> = OnceLock::new();
    let written = WRITTEN.get_or_init(Mutex::default);
    let mut written = written
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    written.entry((name.to_string(), seed)).or_insert_with(|| {
        let dir = scratch().join(format!("artifact-{name}-{seed}"));
        if let Err(e) = rul_model::write_test_artifact(&dir, seed) {
            panic!("writing the test artifact {}: {e}", dir.display());
        }
        // Kept for the whole process, like the files themselves.
        Box::leak(dir.into_boxed_path())
    })
}

/// A directory that holds no artifact.
pub fn missing_artifact() -> PathBuf {
    scratch().join("no-such-artifact")
}

/// A SQLite store URL no other call returns (a fresh file in this process's scratch space).
pub fn scratch_sqlite_url() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(
        "sqlite://{}",
        scratch().join(format!("fleet-{n}.db")).display()
    )
}
