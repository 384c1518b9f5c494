//! `model.tar.gz` for SageMaker: the artifact's files at the archive root (SageMaker unpacks the archive into
//! `/opt/ml/model`, where `rul serve --sagemaker` loads it). The artifact is loaded and checked first, so a broken
//! one is never shipped; entries are written in name order with fixed metadata, so the archive is reproducible.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

/// Why packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The directory does not hold a loadable artifact.
    #[error("{dir} is not a loadable model artifact: {reason}")]
    InvalidArtifact {
        /// The model directory.
        dir: PathBuf,
        /// What loading said.
        reason: String,
    },
    /// Something in the directory is not a regular file (archives hold the artifact's files only).
    #[error("{0} is not a regular file; a model artifact directory holds files only")]
    NotAFile(PathBuf),
    /// Reading the artifact or writing the archive failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What went into the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSummary {
    /// Archive entry names (file names at the root), sorted.
    pub files: Vec<String>,
    /// Size of the written archive in bytes.
    pub bytes: u64,
    /// The artifact's model version.
    pub model_version: String,
}

/// Writes `out` (a gzip'd tar) holding every file of the artifact directory `model_dir` at the archive root.
pub fn package_model(model_dir: &Path, out: &Path) -> Result<PackageSummary, PackageError> {
    let artifact =
        rul_model::Artifact::load(model_dir).map_err(|e| PackageError::InvalidArtifact {
            dir: model_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PackageError::Io { path, source }
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(model_dir).map_err(io(model_dir))? {
        let entry = entry.map_err(io(model_dir))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io(&path))?;
        if !kind.is_file() {
            return Err(PackageError::NotAFile(path));
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        files.push((name, path));
    }
    files.sort();

    let partial = out.with_extension("partial");
    let written = write_archive(&files, &partial);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, out).map_err(io(out))?;
    let bytes = std::fs::metadata(out).map_err(io(out))?.len();
    Ok(PackageSummary {
        files: files.into_iter().map(|(name, _)| name).collect(),
        bytes,
        model_version: artifact.version().to_string(),
    })
}

fn write_archive(files: &[(String, PathBuf)], out: &Path) -> Result<(), PackageError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PackageError::Io { path, source }
    };
    let file = File::create(out).map_err(io(out))?;
    let mut tar = tar::Builder::new(GzEncoder::new(BufWriter::new(file), Compression::default()));
    for (name, path) in files {
        let mut source = File::open(path).map_err(io(path))?;
        let size = source.metadata().map_err(io(path))?.len();
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, &mut source)
            .map_err(io(path))?;
    }
    let gz = tar.into_inner().map_err(io(out))?;
    let mut writer = gz.finish().map_err(io(out))?;
    writer.flush().map_err(io(out))?;
    writer
        .into_inner()
        .map_err(|e| PackageError::Io {
            path: out.to_path_buf(),
            source: e.into_error(),
        })?
        .sync_all()
        .map_err(io(out))
}
