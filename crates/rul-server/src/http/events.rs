//! Live fleet changes as Server-Sent Events (`GET /events`), for the dashboard and any other live view.
//!
//! Each [`rul_fleet::FleetEvent`] becomes one event: `engine` (the engine's view, as `GET /engines/{id}`
//! answers it), `deleted` (`{"engine_id"}`) or `alert` (the alert, as `GET /alerts` lists it). The stream opens
//! with `hello` (sent once the subscription exists, so a client knows nothing after it is missed) and, when a
//! slow client falls behind the fleet's buffer, sends `lagged` (`{"missed": n}`): the client should refetch
//! what it shows. The stream ends when the server shuts down, so an open page never holds up a drain.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use rul_fleet::FleetEvent;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::AppState;
use super::alerts::AlertBody;
use super::errors::{ApiError, ErrorBody};
use super::fleet::{EngineBody, fleet};

/// Live fleet changes (`text/event-stream`): `hello`, then `engine`, `deleted`, `alert` and `lagged` events.
#[utoipa::path(
    get,
    path = "/events",
    tag = "fleet",
    responses(
        (status = 200, description = "An endless event stream: `hello` {}, then `engine` (EngineBody), `deleted` \
{engine_id}, `alert` (AlertBody) and `lagged` {missed} (refetch) events; ends when the server shuts down",
         body = String, content_type = "text/event-stream"),
        (status = 503, description = "Fleet not enabled", body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let receiver = fleet(&state)?.subscribe();
    let stop = state.shutdown.clone();
    let stream = futures_util::stream::unfold(
        Feed {
            receiver,
            stop,
            greeted: false,
        },
        next_event,
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// One subscriber's position in the fleet's broadcast.
struct Feed {
    receiver: tokio::sync::broadcast::Receiver<FleetEvent>,
    stop: Option<crate::shutdown::Listener>,
    greeted: bool,
}

async fn next_event(mut feed: Feed) -> Option<(Result<Event, Infallible>, Feed)> {
    if !feed.greeted {
        feed.greeted = true;
        return Some((Ok(json_event("hello", &serde_json::json!({}))), feed));
    }
    let received = match feed.stop.clone() {
        Some(stop) => tokio::select! {
            () = stop.wait() => return None,
            r = feed.receiver.recv() => r,
        },
        None => feed.receiver.recv().await,
    };
    let event = match received {
        Ok(event) => to_event(&event),
        Err(RecvError::Lagged(missed)) => {
            json_event("lagged", &serde_json::json!({ "missed": missed }))
        }
        Err(RecvError::Closed) => return None,
    };
    Some((Ok(event), feed))
}

/// The SSE form of a fleet change.
fn to_event(event: &FleetEvent) -> Event {
    match event {
        FleetEvent::Updated(view) => json_event("engine", &EngineBody::from(view.as_ref())),
        FleetEvent::Deleted(engine_id) => {
            json_event("deleted", &serde_json::json!({ "engine_id": engine_id }))
        }
        FleetEvent::Alert(alert) => json_event("alert", &AlertBody::from(alert.as_ref())),
    }
}

fn json_event(name: &str, body: &impl Serialize) -> Event {
    // Serialising these bodies cannot fail (string keys, finite or null numbers); an empty object if it did.
    let data = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    Event::default().event(name).data(data)
}
