//! Flattening nested JSON (a training configuration) into MLflow-style `key = value` strings.

use std::collections::BTreeMap;

/// Flattens objects into dotted keys (`model.dropout`); arrays and scalars become their compact
/// JSON text (`model.lstm = [64,64]`), strings their plain value, nulls `"none"`. MLflow shows
/// parameters as strings, and dotted keys keep one column per setting in its comparison view.
pub fn flatten_params(value: &serde_json::Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

fn walk(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    use serde_json::Value;
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&key, v, out);
            }
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Value::Null => {
            out.insert(prefix.to_string(), "none".into());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_objects_become_dotted_keys() {
        let v = serde_json::json!({
            "epochs": 3,
            "model": {"kind": "lstm", "lstm": [64, 32], "dropout": 0.25},
            "time_budget_secs": null,
        });
        let p = flatten_params(&v);
        assert_eq!(p["epochs"], "3");
        assert_eq!(p["model.kind"], "lstm");
        assert_eq!(p["model.lstm"], "[64,32]");
        assert_eq!(p["model.dropout"], "0.25");
        assert_eq!(p["time_budget_secs"], "none");
        assert_eq!(p.len(), 5);
    }
}
