//! Parsing `/invocations` bodies (TensorFlow-Serving JSON and CSV) into normalised windows or raw readings.
//! Pure functions: every malformed body is a structured 400/422, never a panic.

use axum::http::StatusCode;
use rul_core::MAX_INSTANCES;
use rul_data::{ValidationError, raw};

use serde_json::Value;

use super::super::errors::{ApiError, MAX_ECHO_CHARS, clip};
use super::super::json_error::reason_at;
use super::super::predict::SensorReadingBody;
use crate::input::{RawReading, RawRequest};

/// A parsed invocation: which kind of readings it carries.
#[derive(Clone, Debug, PartialEq)]
pub enum Invocation {
    /// Already-normalised feature rows, one list of rows per window.
    Normalised(Vec<Vec<Vec<f64>>>),
    /// Raw sensor readings, one request per window (engine ids `instance-0`, `instance-1`, ...).
    Raw(Vec<RawRequest>),
}

fn bad_request(kind: &str, reason: impl Into<String>) -> ApiError {
    let reason = reason.into();
    ApiError::new(
        StatusCode::BAD_REQUEST,
        kind,
        "request body does not match the /invocations format",
    )
    .with_details(serde_json::json!({ "reason": reason }))
}

fn count_violation(count: usize) -> ApiError {
    ApiError::validation(&ValidationError::single(
        None,
        Some("instances"),
        format!("expected 1 to {MAX_INSTANCES} windows, got {count}"),
    ))
}

/// `{"instances": [window, ...]}`: arrays of numbers are normalised rows, objects are raw readings.
pub fn parse_json(body: &[u8]) -> Result<Invocation, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "request body is not valid JSON",
        )
        .with_details(serde_json::json!({
            "reason": format!("invalid JSON at line {}, column {}", e.line(), e.column())
        }))
    })?;
    let Value::Object(mut object) = value else {
        return Err(bad_request(
            "invalid_request",
            "expected a JSON object {\"instances\": [...]}",
        ));
    };
    let instances = object.remove("instances");
    if let Some(key) = object.keys().find(|k| k.as_str() != "signature_name") {
        return Err(bad_request(
            "invalid_request",
            format!(
                "unknown field {:?}; only \"instances\" is accepted",
                clip(key, MAX_ECHO_CHARS)
            ),
        ));
    }
    let Some(Value::Array(windows)) = instances else {
        return Err(bad_request(
            "invalid_request",
            "\"instances\" must be an array of windows",
        ));
    };
    if windows.is_empty() || windows.len() > MAX_INSTANCES {
        return Err(count_violation(windows.len()));
    }
    let mut rows = Vec::with_capacity(windows.len());
    for (i, window) in windows.into_iter().enumerate() {
        match window {
            Value::Array(readings) => rows.push(readings),
            _ => {
                return Err(bad_request(
                    "invalid_request",
                    format!("instances[{i}] must be an array of readings"),
                ));
            }
        }
    }
    let all = |f: fn(&Value) -> bool| rows.iter().flatten().all(f);
    if all(Value::is_array) {
        normalised(rows).map(Invocation::Normalised)
    } else if all(Value::is_object) {
        raw(rows).map(Invocation::Raw)
    } else {
        Err(bad_request(
            "invalid_request",
            "readings must be all arrays of numbers (normalised features) or all objects (raw sensor readings)",
        ))
    }
}

fn normalised(windows: Vec<Vec<Value>>) -> Result<Vec<Vec<Vec<f64>>>, ApiError> {
    windows
        .into_iter()
        .enumerate()
        .map(|(i, readings)| {
            readings
                .into_iter()
                .enumerate()
                .map(|(r, row)| {
                    let Value::Array(cells) = row else {
                        return Err(bad_request("invalid_request", "mixed reading kinds"));
                    };
                    cells
                        .iter()
                        .enumerate()
                        .map(|(k, cell)| {
                            cell.as_f64().ok_or_else(|| {
                                bad_request(
                                    "invalid_request",
                                    format!("instances[{i}][{r}][{k}] is not a number"),
                                )
                            })
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn raw(windows: Vec<Vec<Value>>) -> Result<Vec<RawRequest>, ApiError> {
    windows
        .into_iter()
        .enumerate()
        .map(|(i, readings)| {
            let readings = readings
                .into_iter()
                .enumerate()
                .map(|(r, reading)| {
                    serde_path_to_error::deserialize::<_, SensorReadingBody>(reading)
                        .map(|body| body.to_raw())
                        .map_err(|e| {
                            bad_request(
                                "invalid_request",
                                reason_at(&format!("instances[{i}][{r}]"), &e),
                            )
                        })
                })
                .collect::<Result<Vec<RawReading>, ApiError>>()?;
            Ok(RawRequest {
                engine_id: format!("instance-{i}"),
                readings,
                use_sagemaker: false,
            })
        })
        .collect()
}

/// One window, one reading per line: a header of column names makes raw readings (the one readings-CSV parser,
/// [`rul_data::raw::parse_csv`], as for `rul predict` files), else normalised rows.
pub fn parse_csv(body: &[u8]) -> Result<Invocation, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| bad_request("invalid_request", "CSV body is not UTF-8"))?;
    let Some((_, first)) = raw::content_lines(text).next() else {
        return Err(ApiError::validation(&ValidationError::single(
            None,
            Some("instances[0]"),
            "the CSV body has no rows",
        )));
    };
    if !raw::is_header(first) {
        let rows = raw::content_lines(text)
            .map(|(n, line)| {
                line.split(',')
                    .enumerate()
                    .map(|(c, cell)| number(cell, n, c))
                    .collect()
            })
            .collect::<Result<Vec<Vec<f64>>, ApiError>>()?;
        return Ok(Invocation::Normalised(vec![rows]));
    }
    let readings =
        raw::parse_csv(text).map_err(|e| bad_request("invalid_request", e.to_string()))?;
    Ok(Invocation::Raw(vec![RawRequest {
        engine_id: "instance-0".into(),
        readings,
        use_sagemaker: false,
    }]))
}

fn number(cell: &str, line: usize, column: usize) -> Result<f64, ApiError> {
    cell.trim().parse::<f64>().map_err(|_| {
        bad_request(
            "invalid_request",
            format!(
                "line {line}, column {}: {:?} is not a number",
                column + 1,
                clip(cell, MAX_ECHO_CHARS)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(r: Result<Invocation, ApiError>) -> u16 {
        r.err().map(|e| e.status().as_u16()).unwrap_or(200)
    }

    #[test]
    fn echoed_tokens_are_clipped() {
        let long = "c".repeat(900_000);
        for body in [
            format!("{long}\n1\n"),
            format!("s2,s3\n1,{long}\n"),
            format!("{{\"instances\": [], \"{long}\": 1}}"),
        ] {
            let parse = if body.starts_with('{') {
                parse_json
            } else {
                parse_csv
            };
            let err = parse(body.as_bytes()).expect_err("refused");
            let text = serde_json::to_string(err.body()).unwrap_or_default();
            assert!(text.len() < 1024 && text.contains("ccc…"), "{text}");
        }
    }

    #[test]
    fn json_kinds_are_decided_by_content() {
        let n = parse_json(br#"{"instances": [[[0.1, 0.2], [0.3, 0.4]]]}"#).expect("normalised");
        assert_eq!(
            n,
            Invocation::Normalised(vec![vec![vec![0.1, 0.2], vec![0.3, 0.4]]])
        );
        let r = parse_json(br#"{"instances": [[{"s2": 642.0}], [{"s3": 1.0}]]}"#).expect("raw");
        let Invocation::Raw(reqs) = r else {
            panic!("expected raw")
        };
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].readings[0].sensors[1], Some(642.0));
        assert_eq!(reqs[1].engine_id, "instance-1");
    }

    #[test]
    fn wrong_json_shapes_are_400_or_422() {
        for (body, expected) in [
            (&b"not json"[..], 400),
            (br#"[1, 2]"#, 400),
            (br#"{"inputs": []}"#, 400),
            (br#"{"instances": 3}"#, 400),
            (br#"{"instances": []}"#, 422),
            (br#"{"instances": [3]}"#, 400),
            (br#"{"instances": [[[0.1], {"s2": 1.0}]]}"#, 400),
            (br#"{"instances": [[[0.1, "x"]]]}"#, 400),
            (br#"{"instances": [[{"s99": 1.0}]]}"#, 400),
            (br#"{"instances": [[{"s2": "x"}]]}"#, 400),
        ] {
            assert_eq!(
                status(parse_json(body)),
                expected,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn csv_with_and_without_header() {
        let n = parse_csv(b"0.1,0.2\n0.3,0.4\n\n").expect("normalised");
        assert_eq!(
            n,
            Invocation::Normalised(vec![vec![vec![0.1, 0.2], vec![0.3, 0.4]]])
        );
        let r =
            parse_csv(b"s2,s3,setting_1\r\n642.1,1589.7,\r\n642.2,1590.0,0.1\r\n").expect("raw");
        let Invocation::Raw(reqs) = r else {
            panic!("expected raw")
        };
        assert_eq!(reqs[0].readings.len(), 2);
        assert_eq!(reqs[0].readings[0].sensors[2], Some(1589.7));
        assert_eq!(reqs[0].readings[0].settings[0], None);
        assert_eq!(reqs[0].readings[1].settings[0], Some(0.1));
    }

    #[test]
    fn csv_with_a_header_is_the_readings_file_format() {
        let text = "# exported by a test\n\"Unit\",cycle,S2,s3,setting_1,setting_2,setting_3\n1,1,642.1,1589.7,0,0,100\n1,2,642.2,,0,0,100\n";
        let Invocation::Raw(reqs) = parse_csv(text.as_bytes()).expect("raw") else {
            panic!("expected raw readings")
        };
        assert_eq!(
            reqs[0].readings,
            raw::parse_csv(text).expect("the readings-file parser")
        );
    }

    #[test]
    fn wrong_csv_is_400_or_422() {
        for (body, expected) in [
            (&b""[..], 422),
            (b"\n\n", 422),
            (b"0.1,x\n", 400),
            (b"s2,s2\n1,2\n", 400),
            (b"s2,bogus\n1,2\n", 400),
            (b"s2,s3\n1\n", 400),
            (b"s2,s3\n1,y\n", 400),
            (&[0xff, 0xfe][..], 400),
        ] {
            assert_eq!(
                status(parse_csv(body)),
                expected,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
