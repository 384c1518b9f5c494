//! Unit tests of the OpenAPI document.

use super::*;
use serde_json::Value;

fn doc() -> Value {
    serde_json::to_value(document()).expect("serialize")
}

fn schema<'a>(json: &'a Value, name: &str) -> &'a Value {
    &json["components"]["schemas"][name]
}

#[test]
fn document_lists_every_route_and_error_schema() {
    let json = doc();
    for path in [
        "/health",
        "/ready",
        "/predict",
        "/predict/batch",
        "/model",
        "/admin/reload",
        "/metrics",
    ] {
        assert!(json["paths"][path].is_object(), "{path} missing");
    }
    let predict = &json["paths"]["/predict"]["post"]["responses"];
    for status in [
        "200", "400", "413", "415", "422", "429", "503", "504", "500",
    ] {
        assert!(predict[status].is_object(), "/predict {status} missing");
    }
    assert_eq!(
        predict["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert!(json["components"]["schemas"]["ErrorBody"]["properties"]["type"].is_object());
    assert!(json["components"]["securitySchemes"]["bearer"].is_object());
    assert_eq!(
        json["paths"]["/admin/reload"]["post"]["security"][0]["bearer"],
        serde_json::json!([])
    );
}

#[test]
fn layer_statuses_are_documented_where_they_can_happen() {
    let json = doc();
    let paths = json["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let responses = &op["responses"];
            let has = |status: &str| responses[status].is_object();
            assert!(has("500") && has("504"), "{method} {path}");
            let body = op["requestBody"].is_object();
            assert_eq!(has("413"), body, "{method} {path}");
            // Every JSON body goes through ApiJson, every query string through ApiQuery.
            let query = (op["parameters"].as_array())
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            assert!(!body || (has("400") && has("415")), "{method} {path}");
            assert!(!query || has("400"), "{method} {path}");
            assert_eq!(
                has("429"),
                SHED_ROUTES.contains(&path.as_str()),
                "{method} {path}"
            );
        }
    }
    // A handler's own description of an inherited status wins over the generic one.
    let ack = &json["paths"]["/alerts/{alert_id}/ack"]["post"]["responses"];
    assert_eq!(
        ack["415"]["description"],
        "Content-Type is not application/json"
    );
    let reload_415 = &json["paths"]["/admin/reload"]["post"]["responses"]["415"];
    assert_eq!(
        reload_415["description"],
        "Body present but not application/json"
    );
    let reload = &json["paths"]["/admin/reload"]["post"];
    for status in [
        "200", "400", "401", "403", "413", "415", "422", "429", "503",
    ] {
        assert!(reload["responses"][status].is_object(), "reload {status}");
    }
}

#[test]
fn request_constraints_match_the_server() {
    use crate::input::{MAX_BATCH_REQUESTS, MAX_ENGINE_ID_CHARS};
    let json = doc();
    let predict = &schema(&json, "PredictBody")["properties"];
    assert_eq!(predict["engine_id"]["minLength"], 1);
    assert_eq!(predict["engine_id"]["maxLength"], MAX_ENGINE_ID_CHARS);
    assert_eq!(MAX_ENGINE_ID_CHARS, rul_core::MAX_ENGINE_ID_CHARS);
    assert_eq!(
        predict["engine_id"]["pattern"],
        rul_core::engine_id_pattern()
    );
    let path_id = &json["paths"]["/engines/{engine_id}"]["get"]["parameters"][0]["schema"];
    assert_eq!(path_id["pattern"], rul_core::engine_id_pattern());
    assert_eq!(path_id["maxLength"], MAX_ENGINE_ID_CHARS);
    let reading = schema(&json, "SensorReadingBody");
    assert_eq!(
        reading["dependentRequired"]["setting_3"],
        serde_json::json!(["setting_1", "setting_2"])
    );
    assert!(schema(&json, "BatchSensorReading")["dependentRequired"].is_null());
    assert_eq!(
        schema(&json, "BatchRequestItem")["properties"]["sensor_data"]["items"]["$ref"],
        "#/components/schemas/BatchSensorReading"
    );
    assert_eq!(predict["sensor_data"]["minItems"], 1);
    assert_eq!(predict["sensor_data"]["maxItems"], rul_data::MAX_READINGS);
    assert_eq!(predict["use_sagemaker"]["type"], "boolean");
    assert_eq!(schema(&json, "PredictBody")["additionalProperties"], false);
    assert_eq!(
        schema(&json, "SensorReadingBody")["additionalProperties"],
        false
    );

    let batch = &schema(&json, "BatchBody")["properties"]["requests"];
    assert_eq!(batch["minItems"], 1);
    assert_eq!(batch["maxItems"], MAX_BATCH_REQUESTS);
    assert_eq!(
        batch["items"]["$ref"],
        "#/components/schemas/BatchRequestItem"
    );
    // A batch item has PredictBody's structure but none of its value rules (those fail the item, not the batch).
    let item = schema(&json, "BatchRequestItem");
    let names = |v: &Value| {
        let mut k: Vec<String> = v["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    assert_eq!(names(item), names(schema(&json, "PredictBody")));
    assert_eq!(item["required"], schema(&json, "PredictBody")["required"]);
    assert_eq!(item["additionalProperties"], false);
    let text = item.to_string();
    for keyword in [
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "enum",
    ] {
        assert!(!text.contains(keyword), "{keyword} in {text}");
    }

    let reload = &json["paths"]["/admin/reload"]["post"]["requestBody"];
    assert_eq!(reload["required"], false);
    assert_eq!(
        reload["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ReloadBody"
    );
    let model_path = &schema(&json, "ReloadBody")["properties"]["model_path"];
    assert_eq!(model_path["maxLength"], super::admin::MAX_MODEL_PATH_CHARS);
    assert_eq!(model_path["pattern"], "^/");
}

#[test]
fn error_details_may_be_violations_an_object_or_null() {
    let json = doc();
    let details = &schema(&json, "ErrorBody")["properties"]["details"]["oneOf"];
    let kinds: Vec<&Value> = details
        .as_array()
        .expect("oneOf")
        .iter()
        .map(|s| &s["type"])
        .collect();
    assert_eq!(kinds, ["array", "object", "null"]);
    assert_eq!(
        details[0]["items"]["$ref"],
        "#/components/schemas/ViolationBody"
    );
    // The violations the server sends have exactly the documented fields, all required.
    let sent = serde_json::to_value(rul_data::Violation {
        reading: None,
        field: Some("s2".into()),
        reason: "is missing".into(),
    })
    .expect("serialize");
    let mut sent_keys: Vec<&String> = sent.as_object().expect("object").keys().collect();
    sent_keys.sort();
    let violation = schema(&json, "ViolationBody");
    let mut required: Vec<&str> = violation["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    required.sort_unstable();
    assert_eq!(sent_keys, required);
}

#[test]
fn examples_are_valid_requests() {
    let json = doc();
    let example = |path: &str| {
        json["paths"][path]["post"]["requestBody"]["content"]["application/json"]["example"]
            .to_string()
    };
    let predict: super::predict::PredictBody =
        crate::http::json::from_object_slice(example("/predict").as_bytes())
            .expect("predict example");
    assert!(crate::input::to_core_request(predict_raw(&predict)).is_ok());
    let batch: super::predict::BatchBody =
        crate::http::json::from_object_slice(example("/predict/batch").as_bytes())
            .expect("batch example");
    assert_eq!(batch.requests.len(), 2);
}

fn predict_raw(body: &super::predict::PredictBody) -> crate::input::RawRequest {
    crate::input::RawRequest {
        engine_id: body.engine_id.clone(),
        readings: body
            .sensor_data
            .iter()
            .map(super::predict::SensorReadingBody::to_raw)
            .collect(),
        use_sagemaker: body.use_sagemaker,
    }
}
