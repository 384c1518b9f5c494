//! `rul data fetch`: download the NASA C-MAPSS archive, verify it and unpack the twelve data files.

use anyhow::{Context, bail};
use clap::Args;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public NASA Prognostics Data Repository archive (it nests `CMAPSSData.zip`).
const DEFAULT_URL: &str = "https://phm-datasets.s3.amazonaws.com/NASA/6.+Turbofan+Engine+Degradation+Simulation+Data+Set.zip";

/// SHA-256 of the twelve original text files, the same bytes whatever zip they arrive in.
const KNOWN_FILES: [(&str, &str); 12] = [
    (
        "RUL_FD001.txt",
        "a19c8ec94931949d0485bdc35118206e9c81c4547b422efb9cf86f4ceddbceca",
    ),
    (
        "RUL_FD002.txt",
        "c851dd96a6ea6998d3c4a8f834d3c8013aa90e93a6ed950dc826ad0655b2906b",
    ),
    (
        "RUL_FD003.txt",
        "df1e0566306b174a2de41c67a3e7a51877889598b78643fc3e5685259091b7cb",
    ),
    (
        "RUL_FD004.txt",
        "196b836b85a95ac7fdbbf29c5fdf1657382eafa445644d114ffaaf50dc2975e1",
    ),
    (
        "test_FD001.txt",
        "3cda7109ce17bafb5443f2ac926cfcf88154b941b8c4cf95eb55d1ddd6f52851",
    ),
    (
        "test_FD002.txt",
        "de7b5bf7e998a985c378488480528b7c02cff1406a46740def362dda8d9b4e02",
    ),
    (
        "test_FD003.txt",
        "299babd63c8d987cef079c4a425429f33b3a34797d803bbe2ad48c29dbd0d790",
    ),
    (
        "test_FD004.txt",
        "1dc675fff0624bac10786927c6715b37d1297657137400d2b1a3138d777a3ba5",
    ),
    (
        "train_FD001.txt",
        "963b5e22825b34d8b21c69e1aeb4af3e647050eb672ee8834ba4b5d91d2de0f8",
    ),
    (
        "train_FD002.txt",
        "dac6c4dbc4e7c1bdeb5747da3d313d05c395bb99801b44a002b26a2ba13d788f",
    ),
    (
        "train_FD003.txt",
        "2abbe9968cc5e8eb091980f51b20f62bb4127336d3482cb52071d53bf23329e2",
    ),
    (
        "train_FD004.txt",
        "27ef6160b6a1dcb2613a88de9c239f763b223f02cdc41dc5cdedc5dc189b6218",
    ),
];

/// Largest archive accepted (the real one is about 12 MB).
const MAX_ARCHIVE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Args)]
pub struct FetchArgs {
    /// Where to write the twelve files.
    #[arg(long, default_value = "data/cmapss")]
    dest: PathBuf,
    /// Archive URL.
    #[arg(long, env = "CMAPSS_URL", default_value = DEFAULT_URL)]
    url: String,
    /// Expected SHA-256 of the downloaded archive itself (optional; the files are always checked).
    #[arg(long)]
    sha256: Option<String>,
    /// A SHA256SUMS-style file (`<hex>  <name>` lines) to check the files against instead of the built-in list.
    #[arg(long)]
    checksums: Option<PathBuf>,
    /// Download timeout in seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

pub fn run(args: FetchArgs) -> anyhow::Result<()> {
    let expected = match &args.checksums {
        Some(path) => read_checksums(path)?,
        None => KNOWN_FILES
            .iter()
            .map(|(n, h)| (n.to_string(), h.to_string()))
            .collect(),
    };
    eprintln!("downloading {}", args.url);
    let archive = download(&args.url, Duration::from_secs(args.timeout_secs))?;
    let digest = hex::encode(Sha256::digest(&archive));
    eprintln!("archive: {} bytes, sha256 {digest}", archive.len());
    if let Some(want) = &args.sha256
        && !want.eq_ignore_ascii_case(&digest)
    {
        bail!("archive checksum mismatch: expected {want}, got {digest}");
    }
    let mut found = BTreeMap::new();
    collect_files(&archive, &expected, &mut found, 0)?;
    let missing: Vec<&String> = expected
        .keys()
        .filter(|n| !found.contains_key(*n))
        .collect();
    if !missing.is_empty() {
        bail!("archive lacks {missing:?}");
    }
    for (name, bytes) in &found {
        let got = hex::encode(Sha256::digest(bytes));
        if expected.get(name) != Some(&got) {
            bail!("{name}: checksum mismatch (got {got}); nothing was written");
        }
    }
    std::fs::create_dir_all(&args.dest)
        .with_context(|| format!("creating {}", args.dest.display()))?;
    for (name, bytes) in &found {
        write_atomically(&args.dest.join(name), bytes)?;
    }
    eprintln!(
        "wrote {} verified files to {}",
        found.len(),
        args.dest.display()
    );
    Ok(())
}

fn download(url: &str, timeout: Duration) -> anyhow::Result<Vec<u8>> {
    let client = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .context("building HTTP client")?;
    let response = client
        .get(url)
        .send()
        .with_context(|| format!("requesting {url}"))?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    let mut body = Vec::new();
    response
        .take(MAX_ARCHIVE_BYTES + 1)
        .read_to_end(&mut body)
        .context("reading the download")?;
    if body.len() as u64 > MAX_ARCHIVE_BYTES {
        bail!("archive is larger than {MAX_ARCHIVE_BYTES} bytes");
    }
    Ok(body)
}

/// Takes the expected files (by base name) from a zip, descending into nested zips.
fn collect_files(
    zip_bytes: &[u8],
    expected: &BTreeMap<String, String>,
    found: &mut BTreeMap<String, Vec<u8>>,
    depth: usize,
) -> anyhow::Result<()> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip_bytes)).context("not a zip archive")?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).context("reading zip entry")?;
        let name = entry
            .name()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let wanted = expected.contains_key(&name);
        let nested = name.ends_with(".zip") && depth < 2;
        if !wanted && !nested {
            continue;
        }
        if entry.size() > MAX_ARCHIVE_BYTES {
            bail!("{name}: entry too large");
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("unpacking {name}"))?;
        if wanted {
            found.insert(name, bytes);
        } else {
            collect_files(&bytes, expected, found, depth + 1)?;
        }
    }
    Ok(())
}

fn read_checksums(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = BTreeMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some(hash), Some(name)) => out.insert(
                name.trim_start_matches('*').to_string(),
                hash.to_lowercase(),
            ),
            _ => bail!("{}:{}: expected `<sha256>  <name>`", path.display(), i + 1),
        };
    }
    Ok(out)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}
