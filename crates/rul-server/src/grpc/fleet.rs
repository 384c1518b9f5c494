//! The fleet over gRPC: the bidirectional reading stream and the read side (ListEngines, GetEngine).

use std::pin::Pin;

use futures_util::stream::{FuturesOrdered, StreamExt};
use rul_fleet::{EngineView, Fleet, ListQuery, SortKey, TrackedPrediction};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Response, Status, Streaming};

use super::convert;
use super::pb;
use super::service::PredictionApi;

/// Messages of one stream being worked on at once (across engines; one engine's stay in order).
const STREAM_IN_FLIGHT: usize = 256;

/// The answer stream of StreamReadings.
pub type AckStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::ReadingAck, Status>> + Send>>;

impl PredictionApi {
    fn fleet(&self) -> Result<&Fleet, Status> {
        self.fleet
            .as_ref()
            .ok_or_else(|| Status::unavailable("fleet state is not enabled on this server"))
    }

    /// Folds each message into its engine's state and answers every message, in order; a bad message gets an
    /// error ack and the stream goes on. Up to [`STREAM_IN_FLIGHT`] messages are processed concurrently (so
    /// the model batches across engines); each engine's messages are applied in arrival order.
    pub(super) fn stream(
        &self,
        mut incoming: Streaming<pb::ReadingMessage>,
    ) -> Result<Response<AckStream>, Status> {
        let fleet = self.fleet()?.clone();
        let (tx, rx) = mpsc::channel(STREAM_IN_FLIGHT);
        tokio::spawn(async move {
            let mut pending = FuturesOrdered::new();
            let mut open = true;
            loop {
                tokio::select! {
                    message = incoming.next(), if open && pending.len() < STREAM_IN_FLIGHT => match message {
                        Some(Ok(m)) => pending.push_back(ingest(&fleet, m)),
                        Some(Err(status)) => {
                            tracing::debug!(%status, "reading stream ended by the client");
                            open = false;
                        }
                        None => open = false,
                    },
                    Some(ack) = pending.next(), if !pending.is_empty() => {
                        if tx.send(Ok(ack)).await.is_err() {
                            break;
                        }
                    }
                    else => break,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    pub(super) fn list(
        &self,
        request: &pb::ListEnginesRequest,
    ) -> Result<pb::ListEnginesResponse, Status> {
        let sort = match request.sort.as_str() {
            "" | "lower_bound" => SortKey::LowerBound,
            "rul" => SortKey::Rul,
            "engine_id" => SortKey::EngineId,
            other => {
                return Err(Status::invalid_argument(format!(
                    "sort must be lower_bound, rul or engine_id, got {:?}",
                    other.chars().take(64).collect::<String>()
                )));
            }
        };
        let query = ListQuery {
            tag: (!request.tag.is_empty()).then(|| request.tag.clone()),
            sort,
            offset: request.offset as usize,
            limit: if request.limit == 0 {
                100
            } else {
                (request.limit as usize).min(1000)
            },
        };
        let page = self.fleet()?.list(&query);
        Ok(pb::ListEnginesResponse {
            total: u32::try_from(page.total).unwrap_or(u32::MAX),
            engines: page.engines.iter().map(engine).collect(),
        })
    }

    pub(super) fn get(&self, engine_id: &str) -> Result<pb::Engine, Status> {
        let view = self
            .fleet()?
            .engine(engine_id)
            .map_err(|e| convert::fleet_status(&e))?;
        Ok(engine(&view))
    }
}

/// Queues one message on its engine now (so arrival order is application order) and answers it when done.
fn ingest(
    fleet: &Fleet,
    message: pb::ReadingMessage,
) -> impl Future<Output = pb::ReadingAck> + Send + use<> {
    let engine_id = message.engine_id.clone();
    let cycle = message.cycle;
    let raw = message
        .reading
        .as_ref()
        .map(convert::raw_reading)
        .unwrap_or_default();
    let queued = raw
        .to_reading()
        .map_err(|v| {
            rul_fleet::FleetError::Predict(rul_core::PredictError::Validation(
                rul_data::ValidationError {
                    violations: vec![rul_data::Violation {
                        reading: Some(0),
                        ..v
                    }],
                },
            ))
        })
        .map(|reading| fleet.ingest(engine_id.clone(), vec![(cycle, reading)]));
    async move {
        let mut ack = pb::ReadingAck {
            engine_id,
            cycle,
            ..Default::default()
        };
        let outcome = match queued {
            Ok(future) => future.await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(report) => {
                ack.duplicate = report.duplicates > 0;
                ack.gap = report.gaps.iter().map(|g| g.missing).sum();
                ack.padded = report.padded;
                ack.unknown_condition = report.unknown_condition;
                ack.result = report
                    .prediction
                    .as_ref()
                    .map(|p| pb::reading_ack::Result::Prediction(tracked(p)));
            }
            Err(e) => {
                ack.result = Some(pb::reading_ack::Result::Error(convert::fleet_item_error(
                    &e,
                )))
            }
        }
        ack
    }
}

fn tracked(p: &TrackedPrediction) -> pb::TrackedRul {
    let quality_flags = p
        .quality
        .flags
        .iter()
        .map(|f| pb::QualityFlag {
            sensor: f.sensor.clone(),
            kind: f.kind.as_str().to_string(),
        })
        .collect();
    pb::TrackedRul {
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
        quality_flags,
    }
}

fn engine(v: &EngineView) -> pb::Engine {
    pb::Engine {
        engine_id: v.engine_id.clone(),
        tags: v.meta.tags.clone(),
        labels: v.meta.labels.clone().into_iter().collect(),
        first_cycle: v.first_cycle,
        last_cycle: v.last_cycle,
        readings: v.readings,
        missing_cycles: v.missing_cycles,
        registered: v.registered.clone(),
        latest: v.latest.as_ref().map(tracked),
        drift: v.drift.as_ref().map(|d| pb::EngineDrift {
            score: d.score,
            drifting: d.drifting,
            sensor: d.sensor.clone(),
            shift: d.shift,
        }),
    }
}
