//! RUL alerts over REST: list them and acknowledge one (admin token). Handlers only parse, call
//! [`rul_fleet::Fleet`], and map the result.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use rul_fleet::{Alert, AlertState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::errors::{ApiError, ErrorBody};
use super::fleet::fleet;
use super::json::{ApiJson, ApiQuery};

/// Query of GET /alerts.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// Only alerts in this state.
    pub state: Option<AlertStateParam>,
    /// Only this engine's alerts.
    pub engine_id: Option<String>,
    /// Most alerts returned, newest first, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// An alert's state.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum AlertStateParam {
    /// Raised, not acknowledged.
    Open,
    /// Acknowledged, still active.
    Acked,
    /// The lower bound climbed back above the clearing threshold.
    Cleared,
}

impl From<AlertStateParam> for AlertState {
    fn from(p: AlertStateParam) -> Self {
        match p {
            AlertStateParam::Open => AlertState::Open,
            AlertStateParam::Acked => AlertState::Acked,
            AlertStateParam::Cleared => AlertState::Cleared,
        }
    }
}

/// One alert.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AlertBody {
    /// `{engine_id}@{opened_cycle}`.
    pub alert_id: String,
    /// The engine.
    pub engine_id: String,
    /// `warning` or `critical` (the highest reached while active).
    pub severity: String,
    /// `open`, `acked` or `cleared`.
    pub state: String,
    /// Threshold the tracked lower bound crossed (cycles).
    pub threshold: f64,
    /// Cycle of the prediction that raised it.
    pub opened_cycle: u64,
    /// Tracked lower bound then.
    pub opened_lower: f64,
    /// Latest tracked lower bound while active.
    pub last_lower: f64,
    /// Cycle of the latest change.
    pub updated_cycle: u64,
    /// When it opened (RFC 3339).
    pub opened_at: String,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// Their note.
    pub ack_note: Option<String>,
    /// When (RFC 3339).
    pub acked_at: Option<String>,
    /// Cycle at which it cleared.
    pub cleared_cycle: Option<u64>,
    /// When (RFC 3339).
    pub cleared_at: Option<String>,
}

impl From<&Alert> for AlertBody {
    fn from(a: &Alert) -> Self {
        rul_fleet::alert_message!(a => AlertBody)
    }
}

/// Answer of GET /alerts.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertsBody {
    /// Alerts, newest first.
    pub alerts: Vec<AlertBody>,
}

/// Body of POST /alerts/{alert_id}/ack.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// Who acknowledges (1..=1000 characters, not only whitespace, no control characters).
    #[schema(min_length = 1, max_length = 1000)]
    pub who: String,
    /// Optional note (what will be done; at most 1000 characters, no control characters).
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub note: String,
}

/// RUL alerts, newest first.
#[utoipa::path(
    get,
    path = "/alerts",
    tag = "fleet",
    params(AlertParams),
    responses(
        (status = 200, description = "Alerts, newest first", body = AlertsBody),
        (status = 503, description = "Fleet not enabled or store unavailable", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<AlertParams>,
) -> Result<Json<AlertsBody>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "invalid_request",
            "limit must be between 1 and 1000",
        ));
    }
    let alerts = fleet(&state)?
        .alerts(
            params.state.map(AlertState::from),
            params.engine_id.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(AlertsBody {
        alerts: alerts.iter().map(AlertBody::from).collect(),
    }))
}

/// Acknowledge an active alert (admin token); acknowledging it again changes nothing but who and note.
#[utoipa::path(
    post,
    path = "/alerts/{alert_id}/ack",
    tag = "fleet",
    params(("alert_id" = String, Path, description = "Alert identifier ({engine_id}@{cycle})")),
    request_body = AckBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The acknowledged alert", body = AlertBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 403, description = "Admin API disabled (no ADMIN_TOKEN configured)", body = ErrorBody),
        (status = 404, description = "Unknown alert", body = ErrorBody),
        (status = 409, description = "The alert has cleared", body = ErrorBody),
        (status = 422, description = "who only whitespace, or who/note with control characters or too long", body = ErrorBody),
        (status = 503, description = "Fleet not enabled or store unavailable", body = ErrorBody),
    )
)]
pub async fn ack(
    State(state): State<AppState>,
    Path(alert_id): Path<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AckBody>,
) -> Result<Json<AlertBody>, ApiError> {
    super::admin::authorize(&state, &headers)?;
    let alert = fleet(&state)?.ack(&alert_id, &body.who, &body.note).await?;
    Ok(Json(AlertBody::from(&alert)))
}

/// Answer of GET /alerts/policy: when alerts open, escalate and clear.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AlertPolicyBody {
    /// An alert opens when the tracked lower bound falls below this (cycles; ALERT_RUL_BELOW).
    pub rul_below: f64,
    /// Below this the alert is critical (ALERT_CRITICAL_BELOW).
    pub critical_below: f64,
    /// An active alert clears when the lower bound climbs back above this (ALERT_CLEAR_ABOVE).
    pub clear_above: f64,
    /// Engine label whose numeric value overrides `rul_below` for that engine.
    pub engine_label: String,
}

/// The alert thresholds the fleet applies (what the dashboard draws as the alert line).
#[utoipa::path(
    get,
    path = "/alerts/policy",
    tag = "fleet",
    responses((status = 200, description = "Alert thresholds", body = AlertPolicyBody))
)]
pub async fn policy(State(state): State<AppState>) -> Json<AlertPolicyBody> {
    let p = state.alert_policy;
    Json(AlertPolicyBody {
        rul_below: p.rul_below,
        critical_below: p.critical_below,
        clear_above: p.clear_above,
        engine_label: rul_fleet::alerts::RUL_BELOW_LABEL.to_string(),
    })
}
