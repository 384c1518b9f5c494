//! Request and response bodies of the fleet routes (with their OpenAPI schemas) and their mapping from the
//! fleet's own types.

use std::collections::BTreeMap;

use rul_fleet::{EngineView, IngestReport, TrackedPrediction};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::http::predict::SensorReadingBody;
use crate::input::{self, RawRequest};
use rul_data::{Reading, ValidationError};

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

/// The shared checks (engine id, settings together; see [`crate::input`]) over one engine's cycle readings, and
/// the fleet's `(cycle, reading)` pairs; the one decoding of readings for REST and MQTT.
pub fn fleet_readings(
    engine_id: &str,
    readings: &[CycleReadingBody],
) -> Result<Vec<(u64, Reading)>, ValidationError> {
    let raw = RawRequest {
        engine_id: engine_id.to_string(),
        readings: readings.iter().map(|r| r.reading.to_raw()).collect(),
        use_sagemaker: false,
    };
    let request = input::to_core_request(raw)?;
    Ok(readings
        .iter()
        .map(|r| r.cycle)
        .zip(request.readings)
        .collect())
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

/// How far an engine's recent inputs sit from the model's training distribution.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DriftBody {
    /// Mahalanobis length of the mean of the engine's last readings (up to 30), in training standard
    /// deviations.
    pub score: f64,
    /// Whether `score` is above the largest seen on any training engine.
    pub drifting: bool,
    /// The input whose mean moved most.
    pub sensor: String,
    /// That input's mean shift in training standard deviations (signed).
    pub shift: f64,
}

impl From<&rul_data::Drift> for DriftBody {
    fn from(d: &rul_data::Drift) -> Self {
        DriftBody {
            score: d.score,
            drifting: d.drifting,
            sensor: d.sensor.clone(),
            shift: d.shift,
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
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
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
    pub prediction: Option<TrackedPrediction>,
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
            prediction: r.prediction.clone(),
        }
    }
}

/// One engine of the fleet.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
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
    pub latest: Option<TrackedPrediction>,
    /// Input drift against the training distribution (null without a training profile or before 10
    /// readings).
    #[schema(required = true)]
    pub drift: Option<DriftBody>,
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
            latest: v.latest.clone(),
            drift: v.drift.as_ref().map(DriftBody::from),
        }
    }
}

/// Answer of GET /engines.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
pub struct EnginesBody {
    /// Engines matching the filter (before paging).
    pub total: usize,
    /// This page.
    pub engines: Vec<EngineBody>,
}

/// Answer of GET /engines/{engine_id}/predictions.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
pub struct TrajectoryBody {
    /// Engine.
    pub engine_id: String,
    /// Predictions in cycle order.
    pub predictions: Vec<TrackedPrediction>,
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
