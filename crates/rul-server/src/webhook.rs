//! ALERT_WEBHOOK_URL: every alert change is POSTed as JSON (the same body as GET /alerts items), retried with
//! exponential backoff. A task of its own, fed by the fleet's event broadcast, so a slow or dead receiver never
//! blocks ingestion; if it falls far behind it logs how many changes it skipped.

use std::time::Duration;

use rul_fleet::{Fleet, FleetEvent};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::http::alerts::AlertBody;

/// Attempts per alert change before it is dropped (logged).
const ATTEMPTS: u32 = 6;
/// Delay before the first retry; doubles each time (0.5, 1, 2, 4, 8 s).
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Per-request timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Starts the webhook sender for `fleet`'s alerts.
pub fn spawn(fleet: &Fleet, url: String) -> JoinHandle<()> {
    let mut events = fleet.subscribe();
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .unwrap_or_default();
    tokio::spawn(async move {
        loop {
            let alert = match events.recv().await {
                Ok(FleetEvent::Alert(alert)) => alert,
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "alert webhook fell behind; skipped events");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            deliver(&client, &url, &AlertBody::from(alert.as_ref())).await;
        }
    })
}

/// POSTs one alert change until a 2xx answer or the attempts run out.
async fn deliver(client: &reqwest::Client, url: &str, body: &AlertBody) {
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        let outcome = client.post(url).json(body).send().await;
        let failure = match outcome {
            Ok(r) if r.status().is_success() => {
                metrics::counter!("rul_alert_webhook_total", "outcome" => "delivered").increment(1);
                return;
            }
            Ok(r) => format!("status {}", r.status()),
            Err(e) => e.without_url().to_string(),
        };
        tracing::warn!(
            alert = body.alert_id.as_str(),
            attempt,
            failure = failure.as_str(),
            "alert webhook failed"
        );
        if attempt < ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    metrics::counter!("rul_alert_webhook_total", "outcome" => "dropped").increment(1);
}
