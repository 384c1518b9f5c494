//! The fleet over REST: ingest readings, register engines, list and inspect the fleet, read an engine's
//! history. Handlers only parse, call [`rul_fleet::Fleet`], and map the result.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rul_fleet::{
    EngineMeta, EngineView, Fleet, IngestReport, ListQuery, SortKey, TrackedPrediction,
};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::AppState;
use super::errors::{ApiError, ErrorBody};
use super::json::ApiJson;
use super::predict::SensorReadingBody;
use crate::input::{self, RawRequest};
use crate::metrics::RequestLog;

/// One reading with its cycle number: `cycle` plus the fields of a /predict reading.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CycleReadingBody {
    /// Flight cycle number (>= 1, increasing per engine).
    pub cycle: u64,
    /// Sensor values and settings.
    #[serde(flatten)]
    pub reading: SensorReadingBody,
}

impl<'de> Deserialize<'de> for CycleReadingBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::<String, Value>::deserialize(deserializer)?;
        let cycle = map
            .remove("cycle")
            .ok_or_else(|| D::Error::missing_field("cycle"))?;
        // JSON Schema's integer includes 3.0: accept integral floats too.
        let cycle = cycle
            .as_u64()
            .or_else(|| {
                cycle
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && (0.0..=9.2e18).contains(f))
                    .map(|f| f as u64)
            })
            .ok_or_else(|| D::Error::custom("cycle must be a non-negative integer"))?;
        let reading =
            SensorReadingBody::deserialize(Value::Object(map)).map_err(D::Error::custom)?;
        Ok(CycleReadingBody { cycle, reading })
    }
}

impl PartialSchema for CycleReadingBody {
    /// A /predict reading's schema with a required integer `cycle` added.
    fn schema() -> RefOr<Schema> {
        let mut schema = SensorReadingBody::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            let cycle = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1))
                .maximum(Some(i64::MAX))
                .description(Some("Flight cycle number (>= 1, increasing per engine)."));
            object.properties.insert("cycle".into(), cycle.into());
            object.required.insert(0, "cycle".into());
        }
        schema
    }
}

impl ToSchema for CycleReadingBody {}

/// Body of POST /engines/{engine_id}/readings.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadingsBody {
    /// 1..=1000 readings in cycle order.
    #[schema(min_items = 1, max_items = 1000)]
    #[serde(deserialize_with = "crate::http::json::objects")]
    pub readings: Vec<CycleReadingBody>,
}

/// Body of PUT /engines/{engine_id}.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EngineMetaBody {
    /// Tags to filter the fleet by (at most 32, each 1..=64 printable characters).
    #[serde(default)]
    #[schema(max_items = 32)]
    pub tags: Vec<String>,
    /// Free-form labels (at most 32; keys and values 1..=64 printable characters).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The tracked prediction after one cycle.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TrackedBody {
    /// Engine.
    pub engine_id: String,
    /// Cycle of the reading this prediction follows.
    pub cycle: u64,
    /// Tracked RUL (the model's estimates fused over cycles, falling one per cycle between readings).
    pub rul: f64,
    /// Lower bound of the tracked interval.
    pub lower: f64,
    /// Upper bound of the tracked interval.
    pub upper: f64,
    /// Nominal coverage of the intervals.
    pub level: f64,
    /// The model's own estimate for this cycle (what /predict answers on the same history).
    pub rul_model: f64,
    /// The model's calibrated interval.
    pub model_lower: f64,
    /// The model's calibrated interval.
    pub model_upper: f64,
    /// Calibrated probability that the true RUL is within the model's tolerance of `rul_model`.
    pub confidence: f64,
    /// Model version.
    pub model_version: String,
    /// When it was computed (RFC 3339).
    #[schema(format = DateTime)]
    pub at: String,
}

impl From<&TrackedPrediction> for TrackedBody {
    fn from(p: &TrackedPrediction) -> Self {
        TrackedBody {
            engine_id: p.engine_id.clone(),
            cycle: p.cycle,
            rul: p.rul,
            lower: p.lower,
            upper: p.upper,
            level: p.level,
            rul_model: p.rul_model,
            model_lower: p.model_lower,
            model_upper: p.model_upper,
            confidence: p.confidence,
            model_version: p.model_version.clone(),
            at: p.at.clone(),
        }
    }
}

/// Missing cycles between two accepted readings.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct GapBody {
    /// Last cycle before the gap.
    pub after_cycle: u64,
    /// Cycles missing.
    pub missing: u64,
}

/// Answer of POST /engines/{engine_id}/readings.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct IngestBody {
    /// Engine.
    pub engine_id: String,
    /// Readings newly stored.
    pub accepted: usize,
    /// Readings already stored with the same values (redeliveries): acknowledged, ignored.
    pub duplicates: usize,
    /// Gaps the new readings left.
    pub gaps: Vec<GapBody>,
    /// Whether the latest model window was padded.
    pub padded: bool,
    /// Whether the latest reading's settings matched no known operating condition.
    pub unknown_condition: bool,
    /// The engine's latest tracked prediction.
    #[schema(required = true)]
    pub prediction: Option<TrackedBody>,
}

impl From<&IngestReport> for IngestBody {
    fn from(r: &IngestReport) -> Self {
        IngestBody {
            engine_id: r.engine_id.clone(),
            accepted: r.accepted,
            duplicates: r.duplicates,
            gaps: r
                .gaps
                .iter()
                .map(|g| GapBody {
                    after_cycle: g.after_cycle,
                    missing: g.missing,
                })
                .collect(),
            padded: r.padded,
            unknown_condition: r.unknown_condition,
            prediction: r.prediction.as_ref().map(TrackedBody::from),
        }
    }
}

/// One engine of the fleet.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct EngineBody {
    /// Engine.
    pub engine_id: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// First accepted cycle (null before the first reading).
    #[schema(required = true)]
    pub first_cycle: Option<u64>,
    /// Last accepted cycle (null before the first reading).
    #[schema(required = true)]
    pub last_cycle: Option<u64>,
    /// Readings accepted.
    pub readings: u64,
    /// Cycles missing between accepted readings.
    pub missing_cycles: u64,
    /// Registration time (RFC 3339).
    #[schema(format = DateTime)]
    pub registered: String,
    /// Latest tracked prediction (null before the first reading).
    #[schema(required = true)]
    pub latest: Option<TrackedBody>,
}

impl From<&EngineView> for EngineBody {
    fn from(v: &EngineView) -> Self {
        EngineBody {
            engine_id: v.engine_id.clone(),
            tags: v.meta.tags.clone(),
            labels: v.meta.labels.clone(),
            first_cycle: v.first_cycle,
            last_cycle: v.last_cycle,
            readings: v.readings,
            missing_cycles: v.missing_cycles,
            registered: v.registered.clone(),
            latest: v.latest.as_ref().map(TrackedBody::from),
        }
    }
}

/// Answer of GET /engines.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct EnginesBody {
    /// Engines matching the filter (before paging).
    pub total: usize,
    /// This page.
    pub engines: Vec<EngineBody>,
}

/// Answer of GET /engines/{engine_id}/predictions.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TrajectoryBody {
    /// Engine.
    pub engine_id: String,
    /// Predictions in cycle order.
    pub predictions: Vec<TrackedBody>,
}

/// One stored reading.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct StoredReadingBody {
    /// Cycle.
    pub cycle: u64,
    /// Values by name (s1..s21, setting_1..setting_3; absent = not sent).
    pub values: BTreeMap<String, f64>,
}

/// Answer of GET /engines/{engine_id}/readings.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ReadingsHistoryBody {
    /// Engine.
    pub engine_id: String,
    /// Readings in cycle order.
    pub readings: Vec<StoredReadingBody>,
}

/// Query of GET /engines.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only engines carrying this tag.
    pub tag: Option<String>,
    /// Order: lower_bound (most urgent first, the default), rul or engine_id.
    pub sort: Option<SortParam>,
    /// Engines to skip.
    #[param(minimum = 0, maximum = 1e18)]
    pub offset: Option<usize>,
    /// Engines per page, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// Sort order of GET /engines.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortParam {
    /// Tracked interval's lower bound, lowest first.
    LowerBound,
    /// Tracked RUL, lowest first.
    Rul,
    /// Engine id.
    EngineId,
}

/// Query of the history routes.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeParams {
    /// First cycle (inclusive).
    #[param(minimum = 0, maximum = 1e18)]
    pub from_cycle: Option<u64>,
    /// Last cycle (inclusive).
    #[param(minimum = 0, maximum = 1e18)]
    pub to_cycle: Option<u64>,
    /// Rows to return, 1..=10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
}

/// The fleet, or 503 when this server runs without one (SageMaker container mode).
fn fleet(state: &AppState) -> Result<&Fleet, ApiError> {
    state.fleet.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "fleet state is not enabled on this server",
        )
    })
}

/// Ingest readings of one engine (registered on first sight) and answer its updated prediction.
#[utoipa::path(
    post,
    path = "/engines/{engine_id}/readings",
    tag = "fleet",
    params(("engine_id" = String, Path, description = "Engine identifier (1..=128 printable characters)")),
    request_body = ReadingsBody,
    responses(
        (status = 200, description = "Stored (or recognised as redeliveries); the engine's latest tracked prediction", body = IngestBody),
        (status = 400, description = "Invalid JSON or a body not matching the schema", body = ErrorBody),
        (status = 409, description = "Conflict: another reading for a stored cycle, or a cycle going backwards; nothing was stored", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "A reading the model refuses, a bad engine id, cycle or count; nothing was stored", body = ErrorBody),
        (status = 503, description = "Model not ready or store unavailable", body = ErrorBody),
    )
)]
pub async fn ingest(
    State(state): State<AppState>,
    Path(engine_id): Path<String>,
    ApiJson(body): ApiJson<ReadingsBody>,
) -> Result<Response, ApiError> {
    let fleet = fleet(&state)?;
    let raw = RawRequest {
        engine_id: engine_id.clone(),
        readings: body.readings.iter().map(|r| r.reading.to_raw()).collect(),
        use_sagemaker: false,
    };
    let request = input::to_core_request(raw).map_err(|v| ApiError::validation(&v))?;
    let readings = body
        .readings
        .iter()
        .map(|r| r.cycle)
        .zip(request.readings)
        .collect();
    let report = fleet.ingest(engine_id.clone(), readings).await?;
    Ok(with_log(Json(IngestBody::from(&report)), &engine_id))
}

/// Register an engine, or replace its tags and labels.
#[utoipa::path(
    put,
    path = "/engines/{engine_id}",
    tag = "fleet",
    params(("engine_id" = String, Path, description = "Engine identifier")),
    request_body = EngineMetaBody,
    responses(
        (status = 200, description = "The engine", body = EngineBody),
        (status = 400, description = "Invalid JSON or a body not matching the schema", body = ErrorBody),
        (status = 415, description = "Content-Type is not application/json", body = ErrorBody),
        (status = 422, description = "Bad engine id, tags or labels", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    Path(engine_id): Path<String>,
    ApiJson(body): ApiJson<EngineMetaBody>,
) -> Result<Response, ApiError> {
    let meta = EngineMeta {
        tags: body.tags,
        labels: body.labels,
    };
    let view = fleet(&state)?.register(&engine_id, meta).await?;
    Ok(with_log(Json(EngineBody::from(&view)), &engine_id))
}

/// The fleet, most urgent first.
#[utoipa::path(
    get,
    path = "/engines",
    tag = "fleet",
    params(ListParams),
    responses(
        (status = 200, description = "A page of engines", body = EnginesBody),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        (status = 503, description = "Fleet not enabled", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EnginesBody>, ApiError> {
    let Query(params) = params.map_err(query_error)?;
    let bad_limit = params.limit.is_some_and(|l| !(1..=1000).contains(&l));
    if bad_limit || params.offset.is_some_and(|o| o as u64 > MAX_QUERY_NUMBER) {
        return Err(too_large());
    }
    let query = ListQuery {
        tag: params.tag,
        sort: match params.sort {
            None | Some(SortParam::LowerBound) => SortKey::LowerBound,
            Some(SortParam::Rul) => SortKey::Rul,
            Some(SortParam::EngineId) => SortKey::EngineId,
        },
        offset: params.offset.unwrap_or(0),
        limit: params.limit.unwrap_or(100).clamp(1, 1000),
    };
    let page = fleet(&state)?.list(&query);
    Ok(Json(EnginesBody {
        total: page.total,
        engines: page.engines.iter().map(EngineBody::from).collect(),
    }))
}

/// One engine.
#[utoipa::path(
    get,
    path = "/engines/{engine_id}",
    tag = "fleet",
    params(("engine_id" = String, Path, description = "Engine identifier")),
    responses(
        (status = 200, description = "The engine", body = EngineBody),
        (status = 404, description = "Unknown engine", body = ErrorBody),
        (status = 503, description = "Fleet not enabled", body = ErrorBody),
    )
)]
pub async fn engine(
    State(state): State<AppState>,
    Path(engine_id): Path<String>,
) -> Result<Json<EngineBody>, ApiError> {
    let view = fleet(&state)?.engine(&engine_id)?;
    Ok(Json(EngineBody::from(&view)))
}

/// An engine's tracked predictions over cycles (its trajectory).
#[utoipa::path(
    get,
    path = "/engines/{engine_id}/predictions",
    tag = "fleet",
    params(("engine_id" = String, Path, description = "Engine identifier"), RangeParams),
    responses(
        (status = 200, description = "Predictions in cycle order", body = TrajectoryBody),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        (status = 404, description = "Unknown engine", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    )
)]
pub async fn predictions(
    State(state): State<AppState>,
    Path(engine_id): Path<String>,
    params: Result<Query<RangeParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TrajectoryBody>, ApiError> {
    let Query(range) = params.map_err(query_error)?;
    let fleet = known(&state, &engine_id)?;
    let (from, to, limit) = bounds(&range)?;
    let rows = fleet
        .store()
        .predictions(&engine_id, from, to, limit)
        .await?;
    Ok(Json(TrajectoryBody {
        engine_id,
        predictions: rows.iter().map(TrackedBody::from).collect(),
    }))
}

/// An engine's stored readings.
#[utoipa::path(
    get,
    path = "/engines/{engine_id}/readings",
    tag = "fleet",
    params(("engine_id" = String, Path, description = "Engine identifier"), RangeParams),
    responses(
        (status = 200, description = "Readings in cycle order", body = ReadingsHistoryBody),
        (status = 400, description = "Bad query parameters", body = ErrorBody),
        (status = 404, description = "Unknown engine", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    )
)]
pub async fn readings(
    State(state): State<AppState>,
    Path(engine_id): Path<String>,
    params: Result<Query<RangeParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ReadingsHistoryBody>, ApiError> {
    let Query(range) = params.map_err(query_error)?;
    let fleet = known(&state, &engine_id)?;
    let (from, to, limit) = bounds(&range)?;
    let rows = fleet.store().readings(&engine_id, from, to, limit).await?;
    Ok(Json(ReadingsHistoryBody {
        engine_id,
        readings: rows
            .into_iter()
            .map(|r| StoredReadingBody {
                cycle: r.cycle,
                values: r
                    .values
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            })
            .collect(),
    }))
}

/// Remove an engine and its whole history (admin token).
#[utoipa::path(
    delete,
    path = "/engines/{engine_id}",
    tag = "fleet",
    params(("engine_id" = String, Path, description = "Engine identifier")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Admin API disabled (no ADMIN_TOKEN configured)", body = ErrorBody),
        (status = 404, description = "Unknown engine", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Path(engine_id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    super::admin::authorize(&state, &headers)?;
    fleet(&state)?.delete(&engine_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn known<'a>(state: &'a AppState, engine_id: &str) -> Result<&'a Fleet, ApiError> {
    let fleet = fleet(state)?;
    if fleet.contains(engine_id) {
        Ok(fleet)
    } else {
        Err(rul_fleet::FleetError::NotFound.into())
    }
}

/// Largest cycle or offset a query may name (the schema's maximum).
const MAX_QUERY_NUMBER: u64 = 1_000_000_000_000_000_000;

fn bounds(range: &RangeParams) -> Result<(u64, u64, usize), ApiError> {
    let from = range.from_cycle.unwrap_or(0);
    let to = range.to_cycle.unwrap_or(MAX_QUERY_NUMBER);
    if from > MAX_QUERY_NUMBER || to > MAX_QUERY_NUMBER {
        return Err(too_large());
    }
    let limit = range.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(too_large());
    }
    Ok((from, to, limit))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!(
            "query numbers out of range: limit 1..=1000 (engines) or 1..=10000 (history), cycles and offset at most {MAX_QUERY_NUMBER}"
        ),
    )
}

fn query_error(rejection: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "query parameters do not match the schema",
    )
    .with_details(serde_json::json!({ "reason": rejection.body_text() }))
}

fn with_log(body: impl IntoResponse, engine_id: &str) -> Response {
    let mut response = body.into_response();
    response.extensions_mut().insert(RequestLog {
        engine_id: Some(crate::metrics::log_safe(engine_id)),
        ..RequestLog::default()
    });
    response
}
