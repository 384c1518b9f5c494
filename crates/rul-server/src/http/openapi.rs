//! OpenAPI 3.1 document generated from the handler and body types (served at GET /openapi.json).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, errors, predict, routes};

/// The REST API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "RUL Prediction Service",
        description = "Predicts turbofan Remaining Useful Life (cycles) from C-MAPSS sensor sequences. \
Every error answer, including 404 (unknown route) and 405 (wrong method), has the ErrorBody shape."
    ),
    paths(
        routes::health,
        routes::ready,
        predict::predict,
        predict::predict_batch,
        routes::model,
        admin::reload,
        routes::metrics,
    ),
    components(schemas(
        errors::ErrorBody,
        predict::SensorReadingBody,
        predict::PredictBody,
        predict::PredictResponse,
        predict::Interval,
        predict::BatchBody,
        predict::BatchItem,
        predict::BatchResponse,
        routes::HealthResponse,
        routes::ReadyResponse,
        admin::ReloadBody,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "prediction", description = "RUL predictions"),
        (name = "operations", description = "Health, readiness, model card, metrics, admin"),
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

/// The document as JSON.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_every_route_and_error_schema() {
        let json = serde_json::to_value(document()).expect("serialize");
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
        for status in ["200", "400", "413", "415", "422", "429", "503", "500"] {
            assert!(predict[status].is_object(), "/predict {status} missing");
        }
        assert_eq!(
            predict["422"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody"
        );
        assert!(json["components"]["schemas"]["ErrorBody"]["properties"]["type"].is_object());
        assert!(json["components"]["securitySchemes"]["bearer"].is_object());
    }
}
