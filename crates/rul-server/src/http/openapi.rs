//! OpenAPI 3.1 document generated from the handler and body types (served at GET /openapi.json).

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder, Schema};
use utoipa::{Modify, OpenApi};

use super::{admin, alerts, drift, errors, events, fleet, model_files, predict, routes, ui};

/// The REST API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "RUL Prediction Service",
        description = "Predicts turbofan Remaining Useful Life (cycles) from C-MAPSS sensor sequences. \
Every error answer, including 404 (unknown route) and 405 (wrong method, with an Allow header), has the \
ErrorBody shape. Request bodies must be JSON objects; readings are further checked against the loaded model \
(422 with the violations)."
    ),
    paths(
        routes::health,
        routes::ready,
        predict::predict,
        predict::predict_batch,
        routes::model,
        admin::reload,
        routes::metrics,
        fleet::ingest,
        fleet::register,
        fleet::list,
        fleet::engine,
        fleet::predictions,
        fleet::readings,
        fleet::delete,
        alerts::list,
        alerts::ack,
        drift::report,
        alerts::policy,
        events::events,
        model_files::evaluation,
        model_files::plot,
        ui::index,
        ui::asset,
    ),
    components(schemas(
        errors::ErrorBody,
        errors::ViolationBody,
        predict::SensorReadingBody,
        predict::PredictBody,
        predict::PredictResponse,
        predict::Interval,
        predict::BatchBody,
        predict::BatchRequestItem,
        predict::BatchItem,
        predict::BatchResponse,
        routes::HealthResponse,
        routes::ReadyResponse,
        routes::ModelCard,
        admin::ReloadBody,
        admin::ReloadResponse,
        fleet::CycleReadingBody,
        fleet::ReadingsBody,
        fleet::EngineMetaBody,
        fleet::TrackedBody,
        fleet::GapBody,
        fleet::IngestBody,
        fleet::EngineBody,
        fleet::EnginesBody,
        fleet::TrajectoryBody,
        fleet::StoredReadingBody,
        fleet::ReadingsHistoryBody,
        fleet::SortParam,
        alerts::AlertBody,
        alerts::AlertsBody,
        alerts::AckBody,
        alerts::AlertStateParam,
        fleet::QualityBody,
        fleet::QualityFlagBody,
        fleet::DriftBody,
        drift::DriftReportBody,
        drift::SensorDriftBody,
        drift::DriftingEngineBody,
        alerts::AlertPolicyBody,
        model_files::ReliabilityBinBody,
        model_files::IntervalBucketBody,
        model_files::EvaluationBody,
    )),
    modifiers(&BearerAuth, &OptionalReloadBody, &LayerResponses, &EngineIdRule),
    tags(
        (name = "prediction", description = "RUL predictions"),
        (name = "operations", description = "Health, readiness, model card, metrics, admin"),
        (name = "fleet", description = "Engines reporting one cycle at a time: ingestion, tracked RUL, history"),
        (name = "dashboard", description = "The fleet dashboard page and its embedded files"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// POST /admin/reload's body is optional, but when present it is an object (not `null`): utoipa can say
/// "optional" only through `Option<ReloadBody>`, which would also document `null` as a valid body.
struct OptionalReloadBody;

impl Modify for OptionalReloadBody {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let body = openapi
            .paths
            .paths
            .get_mut("/admin/reload")
            .and_then(|item| item.post.as_mut())
            .and_then(|op| op.request_body.as_mut());
        if let Some(body) = body {
            body.required = Some(Required::False);
        }
    }
}

/// The engine-id rule ([`rul_core::engine_id_pattern`]) on `PredictBody.engine_id` and on every `{engine_id}`
/// path parameter: generated from the rule's own table, so the document cannot drift from the check.
struct EngineIdRule;

impl Modify for EngineIdRule {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let constrain = |schema: &mut RefOr<Schema>| {
            if let RefOr::T(Schema::Object(o)) = schema {
                o.min_length = Some(1);
                o.max_length = Some(rul_core::MAX_ENGINE_ID_CHARS);
                o.pattern = Some(rul_core::engine_id_pattern());
            }
        };
        if let Some(RefOr::T(Schema::Object(body))) = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("PredictBody"))
            && let Some(id) = body.properties.get_mut("engine_id")
        {
            constrain(id);
        }
        for item in openapi.paths.paths.values_mut() {
            for op in operations(item) {
                // Path parameters only: a query filter (GET /alerts?engine_id=) that matches nothing is an empty list.
                for p in op.parameters.iter_mut().flatten() {
                    if p.name == "engine_id"
                        && matches!(p.parameter_in, ParameterIn::Path)
                        && let Some(schema) = p.schema.as_mut()
                    {
                        constrain(schema);
                    }
                }
            }
        }
    }
}

/// Routes behind the load-shedding layer (`route_layer(shed_load)` in [`super::http_router`]): they may answer 429.
pub const SHED_ROUTES: [&str; 4] = [
    "/predict",
    "/predict/batch",
    "/admin/reload",
    "/engines/{engine_id}/readings",
];

/// Adds what the router's layers can answer on top of each handler's own statuses: 500 (caught panic) and 504
/// (REQUEST_TIMEOUT_MS) everywhere, 413 (BODY_LIMIT_BYTES) where there is a body, 429 on [`SHED_ROUTES`].
struct LayerResponses;

impl Modify for LayerResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for op in operations(item) {
                let mut add = vec![
                    (
                        "500",
                        "Internal error (generic message; the detail is logged)",
                    ),
                    ("504", "Request ran past REQUEST_TIMEOUT_MS"),
                ];
                if op.request_body.is_some() {
                    add.push(("413", "Body larger than BODY_LIMIT_BYTES"));
                }
                if SHED_ROUTES.contains(&path.as_str()) {
                    add.push(("429", "Overloaded (CONCURRENCY_LIMIT reached); retry later"));
                }
                for (status, description) in add {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| error_response(description).into());
                }
            }
        }
    }
}

/// The operations of one path (the methods the API uses).
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// A response with an [`errors::ErrorBody`] body.
fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

/// The document as JSON.
pub fn document() -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut json = serde_json::to_value(doc).unwrap_or_default();
    settings_together(&mut json);
    json
}

/// The operating settings are all three or none: schemas with `setting_1..3` properties get `dependentRequired`
/// (JSON Schema 2020-12, which OpenAPI 3.1 uses; utoipa has no attribute for it). Batch items keep a copy
/// without it (`BatchSensorReading`): a batch answers a broken item inside its 200, item by item.
fn settings_together(doc: &mut serde_json::Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    if let Some(loose) = schemas.get("SensorReadingBody").cloned() {
        schemas.insert("BatchSensorReading".into(), loose);
        if let Some(r) = schemas
            .get_mut("BatchRequestItem")
            .and_then(|b| b.pointer_mut("/properties/sensor_data/items/$ref"))
        {
            *r = "#/components/schemas/BatchSensorReading".into();
        }
    }
    for (name, schema) in schemas.iter_mut() {
        if name != "BatchSensorReading" {
            require_settings_together(schema);
        }
    }
}

fn require_settings_together(value: &mut serde_json::Value) {
    const SETTINGS: [&str; 3] = ["setting_1", "setting_2", "setting_3"];
    match value {
        serde_json::Value::Object(map) => {
            let has_all = map
                .get("properties")
                .and_then(serde_json::Value::as_object)
                .is_some_and(|p| SETTINGS.iter().all(|s| p.contains_key(*s)));
            if has_all {
                let others = |me: &str| {
                    SETTINGS
                        .into_iter()
                        .filter(|s| *s != me)
                        .collect::<Vec<_>>()
                };
                let rule: serde_json::Map<String, serde_json::Value> = SETTINGS
                    .into_iter()
                    .map(|s| (s.to_string(), others(s).into()))
                    .collect();
                map.insert("dependentRequired".into(), rule.into());
            }
            map.values_mut().for_each(require_settings_together);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(require_settings_together),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
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
                assert_eq!(has("413"), op["requestBody"].is_object(), "{method} {path}");
                assert_eq!(
                    has("429"),
                    SHED_ROUTES.contains(&path.as_str()),
                    "{method} {path}"
                );
            }
        }
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
}
