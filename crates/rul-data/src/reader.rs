//! Reader for the C-MAPSS text files (`train_FD00x`, `test_FD00x`, `RUL_FD00x`), plain or gzip.

use crate::error::DataError;
use crate::schema::{COLUMNS, Subset};
use crate::text::{echo, for_each_line, parse_error};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One engine cycle: one line of a train or test file.
#[derive(Debug, Clone, PartialEq)]
pub struct Cycle {
    pub unit: u32,
    pub cycle: u32,
    pub settings: [f64; 3],
    /// `sensors[0]` is `s1`.
    pub sensors: [f64; 21],
}

impl Cycle {
    /// This cycle as a serving [`crate::Reading`] of the `sensors` named (the model's inputs) and its settings.
    pub fn reading<S: AsRef<str>>(&self, sensors: &[S]) -> crate::Reading {
        let values = sensors.iter().filter_map(|name| {
            let name = name.as_ref();
            crate::sensor_index(name).map(|i| (name, self.sensors[i]))
        });
        crate::Reading::from_named(values, Some(self.settings))
    }
}

/// All cycles of one engine, in increasing cycle order.
#[derive(Debug, Clone, PartialEq)]
pub struct Engine {
    pub unit: u32,
    pub cycles: Vec<Cycle>,
}

impl Engine {
    /// The engine's last recorded cycle number.
    pub fn last_cycle(&self) -> u32 {
        self.cycles.last().map_or(0, |c| c.cycle)
    }
}

/// The SHA-256 of one data file as read, recorded in model metrics for provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FileDigest {
    pub name: String,
    pub sha256: String,
}

/// A subset's train series, test series and test truth.
#[derive(Debug, Clone)]
pub struct SubsetData {
    pub subset: Subset,
    pub train: Vec<Engine>,
    pub test: Vec<Engine>,
    /// True remaining cycles after each test engine's last cycle, in test-unit order.
    pub test_rul: Vec<f64>,
    pub files: Vec<FileDigest>,
}

/// Where data lives: the flag, else `$CMAPSS_DIR`, else `data/cmapss`.
pub fn resolve_data_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    match std::env::var_os("CMAPSS_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("data/cmapss"),
    }
}

/// Loads and checks the three files of one subset, streaming each line by line.
pub fn load_subset(dir: &Path, subset: Subset) -> Result<SubsetData, DataError> {
    let mut files = Vec::with_capacity(3);
    let mut series = |stem: String| -> Result<Vec<Engine>, DataError> {
        let mut parser = SeriesParser::default();
        let (name, sha256) = for_each_line(dir, &stem, |file, n, line| parser.line(file, n, line))?;
        files.push(FileDigest {
            name: name.clone(),
            sha256,
        });
        parser.finish(&name)
    };
    let train = series(format!("train_{subset}"))?;
    let test = series(format!("test_{subset}"))?;
    let mut test_rul = Vec::new();
    let (rul_name, sha256) = for_each_line(dir, &format!("RUL_{subset}"), |file, n, line| {
        rul_line(file, n, line).map(|v| test_rul.extend(v))
    })?;
    files.push(FileDigest {
        name: rul_name.clone(),
        sha256,
    });
    if test_rul.len() != test.len() {
        return Err(DataError::RulLength {
            file: rul_name,
            expected: test.len(),
            found: test_rul.len(),
        });
    }
    Ok(SubsetData {
        subset,
        train,
        test,
        test_rul,
        files,
    })
}

/// Parses a train or test file: 26 numbers a line, units contiguous, cycles strictly increasing.
pub fn parse_series(file: &str, text: &str) -> Result<Vec<Engine>, DataError> {
    let mut parser = SeriesParser::default();
    for (idx, line) in text.lines().enumerate() {
        parser.line(file, idx + 1, line)?;
    }
    parser.finish(file)
}

/// [`parse_series`] one line at a time (what the streaming reader feeds).
#[derive(Default)]
struct SeriesParser {
    engines: Vec<Engine>,
}

impl SeriesParser {
    fn line(&mut self, file: &str, line_no: usize, line: &str) -> Result<(), DataError> {
        if line.trim().is_empty() {
            return Ok(());
        }
        let mut values = [0f64; COLUMNS];
        let mut n = 0;
        for token in line.split_ascii_whitespace() {
            if n == COLUMNS {
                n += 1;
                break;
            }
            values[n] = token.parse::<f64>().map_err(|_| {
                parse_error(
                    file,
                    line_no,
                    format!("column {}: {:?} is not a number", n + 1, echo(token)),
                )
            })?;
            if !values[n].is_finite() {
                return Err(parse_error(
                    file,
                    line_no,
                    format!("column {}: {:?} is not finite", n + 1, echo(token)),
                ));
            }
            n += 1;
        }
        if n != COLUMNS {
            let found = line.split_ascii_whitespace().count();
            return Err(parse_error(
                file,
                line_no,
                format!("expected {COLUMNS} columns, found {found}"),
            ));
        }
        let unit = whole_number(values[0]).ok_or_else(|| {
            parse_error(
                file,
                line_no,
                format!("unit {} is not a positive integer", values[0]),
            )
        })?;
        let cycle = whole_number(values[1]).ok_or_else(|| {
            parse_error(
                file,
                line_no,
                format!("cycle {} is not a positive integer", values[1]),
            )
        })?;
        let mut settings = [0f64; 3];
        settings.copy_from_slice(&values[2..5]);
        let mut sensors = [0f64; 21];
        sensors.copy_from_slice(&values[5..]);
        let row = Cycle {
            unit,
            cycle,
            settings,
            sensors,
        };
        match self.engines.last_mut() {
            Some(engine) if engine.unit == unit => {
                let last = engine.last_cycle();
                if cycle <= last {
                    return Err(parse_error(
                        file,
                        line_no,
                        format!("unit {unit}: cycle {cycle} does not follow cycle {last}"),
                    ));
                }
                engine.cycles.push(row);
            }
            _ => {
                if self.engines.iter().any(|e| e.unit == unit) {
                    return Err(parse_error(
                        file,
                        line_no,
                        format!("unit {unit} appears again after other units"),
                    ));
                }
                self.engines.push(Engine {
                    unit,
                    cycles: vec![row],
                });
            }
        }
        Ok(())
    }

    fn finish(self, file: &str) -> Result<Vec<Engine>, DataError> {
        if self.engines.is_empty() {
            return Err(parse_error(file, 0, "no data lines"));
        }
        Ok(self.engines)
    }
}

/// Parses a RUL file: one non-negative integer a line.
pub fn parse_rul(file: &str, text: &str) -> Result<Vec<f64>, DataError> {
    let mut out = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        out.extend(rul_line(file, idx + 1, line)?);
    }
    Ok(out)
}

/// One line of a RUL file: a value, or nothing for a blank line.
fn rul_line(file: &str, line_no: usize, line: &str) -> Result<Option<f64>, DataError> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let mut tokens = trimmed.split_ascii_whitespace();
    let token = tokens.next().unwrap_or_default();
    if tokens.next().is_some() {
        return Err(parse_error(file, line_no, "expected one number per line"));
    }
    token
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(Some)
        .ok_or_else(|| {
            parse_error(
                file,
                line_no,
                format!("{:?} is not a non-negative number", echo(token)),
            )
        })
}

fn whole_number(v: f64) -> Option<u32> {
    (v >= 1.0 && v <= f64::from(u32::MAX) && v.fract() == 0.0).then_some(v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(unit: u32, cycle: u32) -> String {
        let mut s = format!("{unit} {cycle} -0.0007 -0.0004 100.0");
        for i in 0..21 {
            s.push_str(&format!(" {}.5", 500 + i));
        }
        s.push_str("  ");
        s
    }

    #[test]
    fn parses_units_and_trailing_spaces() {
        let text = [line(1, 1), line(1, 2), line(2, 1)].join("\n");
        let engines = parse_series("t.txt", &text).unwrap();
        assert_eq!(engines.len(), 2);
        assert_eq!(engines[0].cycles.len(), 2);
        assert_eq!(engines[0].cycles[1].sensors[0], 500.5);
        assert_eq!(engines[1].unit, 2);
    }

    #[test]
    fn wrong_column_count_names_file_and_line() {
        let text = format!("{}\n1 2 3", line(1, 1));
        let err = parse_series("train_FD001.txt", &text)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train_FD001.txt:2") && err.contains("expected 26 columns, found 3"),
            "{err}"
        );
    }

    #[test]
    fn non_number_and_non_increasing_cycles_are_errors() {
        let bad = line(1, 1).replacen("100.0", "abc", 1);
        let err = parse_series("f", &bad).unwrap_err().to_string();
        assert!(err.contains("column 5") && err.contains("abc"), "{err}");
        let text = [line(1, 2), line(1, 2)].join("\n");
        let err = parse_series("f", &text).unwrap_err().to_string();
        assert!(
            err.contains("f:2") && err.contains("does not follow"),
            "{err}"
        );
        let text = [line(1, 1), line(2, 1), line(1, 2)].join("\n");
        assert!(
            parse_series("f", &text)
                .unwrap_err()
                .to_string()
                .contains("appears again")
        );
    }

    #[test]
    fn rul_file_parsing() {
        assert_eq!(parse_rul("r", "112 \n98\n\n").unwrap(), vec![112.0, 98.0]);
        assert!(
            parse_rul("r", "1\n-3\n")
                .unwrap_err()
                .to_string()
                .contains("r:2")
        );
    }

    #[test]
    fn rul_length_mismatch_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train_FD001.txt"), line(1, 1)).unwrap();
        std::fs::write(
            dir.path().join("test_FD001.txt"),
            [line(1, 1), line(2, 1)].join("\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("RUL_FD001.txt"), "5\n").unwrap();
        let err = load_subset(dir.path(), Subset::FD001)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("has 1 RUL values but the test file has 2 units"),
            "{err}"
        );
    }

    #[test]
    fn gzip_and_plain_both_read() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(line(1, 1).as_bytes()).unwrap();
        std::fs::write(dir.path().join("train_FD002.txt.gz"), enc.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join("test_FD002.txt"), line(1, 1)).unwrap();
        std::fs::write(dir.path().join("RUL_FD002.txt"), "7").unwrap();
        let data = load_subset(dir.path(), Subset::FD002).unwrap();
        assert_eq!(data.train.len(), 1);
        assert_eq!(data.test_rul, vec![7.0]);
        assert_eq!(data.files.len(), 3);
        assert_eq!(data.files[0].name, "train_FD002.txt.gz");
    }

    #[test]
    fn missing_file_says_what_was_tried() {
        let dir = tempfile::tempdir().unwrap();
        let err = load_subset(dir.path(), Subset::FD001)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train_FD001.txt.gz") && err.contains("CMAPSS_DIR"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_series("fuzz", &text);
            let _ = parse_rul("fuzz", &text);
        }

        #[test]
        fn random_numeric_lines_never_panic(rows in proptest::collection::vec(
            proptest::collection::vec(-1e6f64..1e6, 0..30), 0..20)) {
            let text: Vec<String> = rows.iter()
                .map(|r| r.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" "))
                .collect();
            let _ = parse_series("fuzz", &text.join("\n"));
        }
    }
}
