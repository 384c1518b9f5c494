//! Our own wording for JSON bodies that fail to parse: the field path and what it must be ("sensor_data[0].s2
//! must be a number"), never serde's or axum's phrasing ("invalid type: boolean `true`, expected f64",
//! "Failed to deserialize ... target type"), and never more than a clipped echo of what the client sent.

use axum::http::StatusCode;
use serde_json::error::Category;

use super::errors::{ApiError, MAX_ECHO_CHARS, clip};

/// A parse failure of a JSON body as the API's error: broken JSON is 400 `invalid_json`, well-formed JSON of the
/// wrong shape 400 `invalid_request`; `details` carries `reason` and, for shape errors, the `field` path.
pub fn json_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let (line, column) = (inner.line(), inner.column());
    match inner.classify() {
        Category::Data => {
            let field = (path != ".").then_some(path.as_str());
            let reason = describe(field, &inner.to_string());
            let field = field.map(|f| clip(f, 4 * MAX_ECHO_CHARS));
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "request body does not match the schema (missing, unknown or mistyped field)",
            )
            .with_details(serde_json::json!({ "reason": reason, "field": field }))
        }
        Category::Eof => syntax(format!(
            "the body ends before the JSON does (line {line}, column {column})"
        )),
        Category::Syntax | Category::Io => {
            syntax(format!("invalid JSON at line {line}, column {column}"))
        }
    }
}

/// The reason for a shape error found inside a value at `prefix` (e.g. `instances[0][3]`), in our wording.
pub fn reason_at(prefix: &str, err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = err.path().to_string();
    let field = if path == "." {
        prefix.to_string()
    } else {
        format!("{prefix}.{path}")
    };
    describe(Some(&field), &err.inner().to_string())
}

/// 400 `invalid_json` with `reason`.
pub fn syntax(reason: String) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_json",
        "request body is not valid JSON",
    )
    .with_details(serde_json::json!({ "reason": reason }))
}

/// Rephrases one serde data error (`message`, without its position) for the field at `path`.
fn describe(path: Option<&str>, message: &str) -> String {
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    let raw_name = message.split('`').nth(1).unwrap_or_default();
    let name = clip(raw_name, MAX_ECHO_CHARS);
    // For an unknown field the path ends in that field's own name: the subject is its parent.
    let path = if message.starts_with("unknown field ") {
        path.and_then(|p| p.strip_suffix(raw_name))
            .map(|p| p.trim_end_matches('.'))
            .filter(|p| !p.is_empty())
    } else {
        path
    };
    let subject = path.map_or_else(|| "the body".to_string(), |p| clip(p, 4 * MAX_ECHO_CHARS));
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let expected = rest.rsplit_once(", expected ").map_or("", |(_, e)| e);
        format!("{subject} must be {}", expected_as_words(expected))
    } else if let Some(rest) = message.strip_prefix("invalid value: ") {
        let expected = rest.rsplit_once(", expected ").map_or("", |(_, e)| e);
        format!("{subject} must be {}", expected_as_words(expected))
    } else if let Some(rest) = message.strip_prefix("invalid length ") {
        let expected = rest.split_once(", expected ").map_or("", |(_, e)| e);
        format!("{subject} must have {}", clip(expected, MAX_ECHO_CHARS))
    } else if message.starts_with("unknown field ") {
        format!("{subject} has an unknown field \"{}\"", name)
    } else if message.starts_with("unknown variant ") {
        format!("{subject} is not one of the allowed values")
    } else if message.starts_with("missing field ") {
        format!("{subject} is missing the required field \"{}\"", name)
    } else if message.starts_with("duplicate field ") {
        format!("{subject} has the field \"{}\" twice", name)
    } else {
        // Our own deserializers' messages ("a JSON object", range checks) are already client wording.
        format!("{subject}: {}", clip(message, 4 * MAX_ECHO_CHARS))
    }
}

/// What a serde "expected ..." phrase asks for, in words a client reads.
fn expected_as_words(expected: &str) -> String {
    match expected {
        "f64" | "f32" => "a number".into(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".into(),
        "a boolean" => "true or false".into(),
        "a string" | "a borrowed string" | "a character" => "a string".into(),
        "a sequence" => "an array".into(),
        "a map" | "a JSON object" => "an object".into(),
        "unit" => "null".into(),
        e if e.starts_with("struct ") => "an object".into(),
        e if e.starts_with("a sequence") => "an array".into(),
        e if e.starts_with("variant ") || e.starts_with("one of ") => {
            "one of the allowed values".into()
        }
        "" => "a value of the documented type".into(),
        e => clip(e, MAX_ECHO_CHARS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        engine_id: String,
        readings: Vec<Reading>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Reading {
        s2: Option<f64>,
        cycle: Option<u64>,
    }

    fn reason(json: &str) -> (String, serde_json::Value) {
        let mut de = serde_json::Deserializer::from_str(json);
        let err = serde_path_to_error::deserialize::<_, Body>(&mut de).expect_err("must fail");
        let e = json_error(err);
        let details = e.body().details.clone();
        (
            details["reason"].as_str().unwrap_or_default().to_string(),
            details,
        )
    }

    #[test]
    fn mistyped_fields_are_named_with_their_path() {
        let (r, d) = reason(r#"{"engine_id": "e", "readings": [{"s2": true}]}"#);
        assert_eq!(r, "readings[0].s2 must be a number");
        assert_eq!(d["field"], "readings[0].s2");
        let (r, _) = reason(r#"{"engine_id": "e", "readings": [{"cycle": -1}]}"#);
        assert_eq!(r, "readings[0].cycle must be a non-negative integer");
        let (r, _) = reason(r#"{"engine_id": 7, "readings": []}"#);
        assert_eq!(r, "engine_id must be a string");
        let (r, _) = reason(r#"{"engine_id": "e", "readings": {}}"#);
        assert_eq!(r, "readings must be an array");
    }

    #[test]
    fn missing_and_unknown_fields() {
        let (r, _) = reason(r#"{"readings": []}"#);
        assert_eq!(r, "the body is missing the required field \"engine_id\"");
        let (r, _) = reason(r#"{"engine_id": "e", "readings": [], "extra": 1}"#);
        assert_eq!(r, "the body has an unknown field \"extra\"");
    }

    #[test]
    fn no_library_wording_and_echoes_are_clipped() {
        let long = "x".repeat(100_000);
        let (r, _) = reason(&format!(
            r#"{{"engine_id": "e", "readings": [], "{long}": 1}}"#
        ));
        assert!(r.chars().count() < 2 * MAX_ECHO_CHARS, "{} chars", r.len());
        for json in [
            r#"{"engine_id": "e", "readings": [{"s2": "7"}]}"#,
            r#"{"engine_id": "e", "readings": [{"s2": [1]}]}"#,
            r#"{"engine_id": null, "readings": []}"#,
        ] {
            let (r, _) = reason(json);
            for leak in [
                "expected",
                "invalid type",
                "f64",
                "Failed to deserialize",
                "target type",
            ] {
                assert!(!r.contains(leak), "{r}");
            }
        }
    }

    #[test]
    fn syntax_errors_give_a_position() {
        let mut de = serde_json::Deserializer::from_str("{\"engine_id\": ");
        let err = serde_path_to_error::deserialize::<_, Body>(&mut de).expect_err("eof");
        let e = json_error(err);
        assert_eq!(e.body().kind, "invalid_json");
        assert!(
            e.body().details["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("line 1")
        );
    }
}
