//! Data files read as a stream of bounded lines: plain or gzip, hashed as they are read, never unpacked whole,
//! so a small archive hiding a huge line (a "zip bomb") costs at most one line's worth of memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

use crate::error::DataError;

/// Longest line accepted in a data file, in bytes (a C-MAPSS line is about 200).
pub const MAX_LINE_BYTES: usize = 4096;
/// Longest piece of file content repeated in an error, in characters.
pub const MAX_TOKEN_ECHO: usize = 32;

/// `token` for an error message: at most [`MAX_TOKEN_ECHO`] characters, "…" when cut.
pub fn echo(token: &str) -> String {
    match token.char_indices().nth(MAX_TOKEN_ECHO) {
        Some((end, _)) => format!("{}…", &token[..end]),
        None => token.to_string(),
    }
}

/// Passes bytes through while hashing them (the digest of the file as stored, compressed or not).
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads `<stem>.txt.gz` or `<stem>.txt` from `dir` line by line, handing each non-overlong UTF-8 line with its
/// 1-based number to `line`; returns the file name used and the SHA-256 (hex) of its stored bytes.
pub fn for_each_line(
    dir: &Path,
    stem: &str,
    mut line: impl FnMut(&str, usize, &str) -> Result<(), DataError>,
) -> Result<(String, String), DataError> {
    let (path, file) = open(dir, stem)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| stem.to_string());
    let io_error = |source| DataError::Io {
        path: path.clone(),
        source,
    };
    let mut raw = BufReader::new(Hashing {
        inner: file,
        hasher: Sha256::new(),
    });
    let gzip = raw.fill_buf().map_err(io_error)?.starts_with(&[0x1f, 0x8b]);
    let mut raw = if gzip {
        let mut text = BufReader::new(GzDecoder::new(raw));
        read_lines(&name, &mut text, &mut line)?;
        text.into_inner().into_inner()
    } else {
        read_lines(&name, &mut raw, &mut line)?;
        raw
    };
    // Whatever the parser did not need still belongs to the file's digest.
    io::copy(&mut raw, &mut io::sink()).map_err(io_error)?;
    let digest = hex::encode(raw.into_inner().hasher.finalize());
    Ok((name, digest))
}

/// Splits `reader` into lines of at most [`MAX_LINE_BYTES`] bytes (without reading further into a longer one).
fn read_lines(
    name: &str,
    reader: &mut impl BufRead,
    line: &mut impl FnMut(&str, usize, &str) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut buf = Vec::with_capacity(256);
    for number in 1.. {
        buf.clear();
        let read = reader
            .by_ref()
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| parse_error(name, number, format!("cannot read: {e}")))?;
        if read == 0 {
            break;
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if buf.len() > MAX_LINE_BYTES {
            return Err(parse_error(
                name,
                number,
                format!("line is longer than {MAX_LINE_BYTES} bytes"),
            ));
        }
        let text = std::str::from_utf8(&buf).map_err(|e| {
            parse_error(
                name,
                number,
                format!("not UTF-8 text (byte {})", e.valid_up_to()),
            )
        })?;
        line(name, number, text.strip_suffix('\r').unwrap_or(text))?;
    }
    Ok(())
}

fn open(dir: &Path, stem: &str) -> Result<(PathBuf, File), DataError> {
    let candidates = [
        dir.join(format!("{stem}.txt.gz")),
        dir.join(format!("{stem}.txt")),
    ];
    for path in &candidates {
        match File::open(path) {
            Ok(file) => return Ok((path.clone(), file)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(DataError::Io {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Err(DataError::Missing {
        tried: candidates.to_vec(),
    })
}

pub(crate) fn parse_error(file: &str, line: usize, problem: impl Into<String>) -> DataError {
    DataError::Parse {
        file: file.to_string(),
        line,
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn lines_of(dir: &Path, stem: &str) -> Result<Vec<String>, DataError> {
        let mut out = Vec::new();
        for_each_line(dir, stem, |_, _, l| {
            out.push(l.to_string());
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn plain_and_gzip_give_the_same_lines_and_the_stored_digest() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"1 2\r\n3 4\n\n5";
        std::fs::write(dir.path().join("a.txt"), text).unwrap();
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(text).unwrap();
        let gz = enc.finish().unwrap();
        std::fs::write(dir.path().join("b.txt.gz"), &gz).unwrap();
        assert_eq!(lines_of(dir.path(), "a").unwrap(), ["1 2", "3 4", "", "5"]);
        assert_eq!(lines_of(dir.path(), "b").unwrap(), ["1 2", "3 4", "", "5"]);
        let (_, digest) = for_each_line(dir.path(), "b", |_, _, _| Ok(())).unwrap();
        assert_eq!(digest, hex::encode(Sha256::digest(&gz)));
    }

    #[test]
    fn a_huge_line_in_a_small_gzip_is_refused_without_unpacking_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        for _ in 0..64 {
            enc.write_all(&[b'7'; 1 << 20]).unwrap();
        }
        std::fs::write(dir.path().join("bomb.txt.gz"), enc.finish().unwrap()).unwrap();
        let err = lines_of(dir.path(), "bomb").unwrap_err().to_string();
        assert!(
            err.contains("bomb.txt.gz:1: line is longer than 4096 bytes"),
            "{err}"
        );
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn non_utf8_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.txt"), b"ok\n\xff\xfe\n").unwrap();
        let err = lines_of(dir.path(), "x").unwrap_err().to_string();
        assert!(err.contains("x.txt:2: not UTF-8"), "{err}");
    }

    #[test]
    fn echoes_are_clipped() {
        assert_eq!(echo("abc"), "abc");
        assert_eq!(echo(&"x".repeat(100)).chars().count(), MAX_TOKEN_ECHO + 1);
    }
}
