//! The fleet over REST: ingest readings, register engines, list and inspect the fleet, read an engine's
//! history. Handlers only parse, call [`rul_fleet::Fleet`], and map the result.

mod bodies;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rul_fleet::{EngineMeta, Fleet, ListQuery, SortKey};

pub use bodies::*;

use super::AppState;
use super::errors::{ApiError, ErrorBody};
use super::json::{ApiJson, ApiQuery};
use crate::metrics::RequestLog;

/// The fleet, or 503 when this server runs without one (SageMaker container mode).
pub(super) fn fleet(state: &AppState) -> Result<&Fleet, ApiError> {
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
        (status = 409, description = "Conflict: another reading for a stored cycle, or a cycle going backwards; nothing was stored", body = ErrorBody),
        (status = 421, description = "Another replica owns this engine (FLEET_REPLICAS > 1); details name the owner", body = ErrorBody),
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
    let readings =
        fleet_readings(&engine_id, &body.readings).map_err(|v| ApiError::validation(&v))?;
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
        (status = 503, description = "Fleet not enabled", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<EnginesBody>, ApiError> {
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
        (status = 404, description = "Unknown engine", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    )
)]
pub async fn predictions(
    State(state): State<AppState>,
    Path(engine_id): Path<String>,
    ApiQuery(range): ApiQuery<RangeParams>,
) -> Result<Json<TrajectoryBody>, ApiError> {
    let (fleet, from, to, limit) = history(&state, &engine_id, &range)?;
    let store = fleet.store();
    let predictions = store.predictions(&engine_id, from, to, limit).await?;
    Ok(Json(TrajectoryBody {
        engine_id,
        predictions,
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
        (status = 404, description = "Unknown engine", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
    )
)]
pub async fn readings(
    State(state): State<AppState>,
    Path(engine_id): Path<String>,
    ApiQuery(range): ApiQuery<RangeParams>,
) -> Result<Json<ReadingsHistoryBody>, ApiError> {
    let (fleet, from, to, limit) = history(&state, &engine_id, &range)?;
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

/// Largest cycle or offset a query may name (the schema's maximum).
const MAX_QUERY_NUMBER: u64 = 1_000_000_000_000_000_000;

/// The fleet, once `engine_id` is known, and the cycle range and row limit of a history query.
fn history<'a>(
    state: &'a AppState,
    engine_id: &str,
    range: &RangeParams,
) -> Result<(&'a Fleet, u64, u64, usize), ApiError> {
    let fleet = fleet(state)?;
    if !fleet.contains(engine_id) {
        return Err(rul_fleet::FleetError::NotFound.into());
    }
    let (from, to, limit) = bounds(range)?;
    Ok((fleet, from, to, limit))
}

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

fn with_log(body: impl IntoResponse, engine_id: &str) -> Response {
    let mut response = body.into_response();
    response.extensions_mut().insert(RequestLog {
        engine_id: Some(crate::metrics::log_safe(engine_id)),
        ..RequestLog::default()
    });
    response
}
