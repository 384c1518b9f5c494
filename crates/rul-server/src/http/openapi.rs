//! OpenAPI 3.1 document generated from the handler and body types (served at GET /openapi.json).

use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder, Schema};
use utoipa::{Modify, OpenApi};

use super::{admin, alerts, drift, errors, events, fleet, model_files, ops, predict, ui};

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
        ops::health,
        ops::ready,
        predict::predict,
        predict::predict_batch,
        ops::model,
        admin::reload,
        ops::metrics,
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
        ops::HealthResponse,
        ops::ReadyResponse,
        ops::ModelResponse,
        admin::ReloadBody,
        admin::ReloadResponse,
        fleet::CycleReadingBody,
        fleet::ReadingsBody,
        fleet::EngineMetaBody,
        rul_fleet::TrackedPrediction,
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
        rul_fleet::Quality,
        rul_fleet::QualityFlag,
        rul_fleet::FlagKind,
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

/// Adds what the router's layers and the shared extractors can answer on top of each handler's own statuses:
/// 500 (caught panic) and 504 (REQUEST_TIMEOUT_MS) everywhere; 400, 413 (BODY_LIMIT_BYTES) and 415 where there
/// is a JSON body (`ApiJson`); 400 where there are query parameters; 429 on [`SHED_ROUTES`]. A handler that
/// documents one of these statuses itself keeps its own description.
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
                    add.push(("400", "Invalid JSON, or a body not matching the schema's structure (missing, unknown or mistyped field, not an object)"));
                    add.push(("413", "Body larger than BODY_LIMIT_BYTES"));
                    add.push(("415", "Content-Type is not application/json"));
                }
                let mut parameters = op.parameters.iter().flatten();
                if parameters.any(|p| matches!(p.parameter_in, ParameterIn::Query)) {
                    add.push(("400", "Bad query parameters"));
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
mod tests;
