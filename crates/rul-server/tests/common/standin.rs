//! A stand-in for the SageMaker runtime on 127.0.0.1:0: serves `POST /endpoints/{name}/invocations` by handing
//! the body to our own container router's `/invocations` (what SageMaker does with a container), records what
//! the client sent (signature, content type), and can be switched to misbehave in each way the client must
//! survive.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How the stand-in answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward to the container's /invocations (a container error becomes a 424 ModelError, as SageMaker does).
    None,
    /// HTTP 500 InternalFailure.
    ServerError,
    /// HTTP 424 ModelError.
    ModelError,
    /// HTTP 200 with a body that is not TensorFlow-Serving JSON.
    Malformed,
    /// Answers only after 3 s (past the client's timeout).
    Slow,
    /// HTTP 429 ThrottlingException.
    Throttle,
    /// The container's well-formed answer with every RUL replaced by 1e12.
    Huge,
    /// The container's well-formed answer with every RUL replaced by -1e308.
    HugelyNegative,
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub endpoint: String,
    pub authorization: String,
    pub content_type: String,
}

#[derive(Clone)]
struct Shared {
    container: Router,
    fault: Arc<Mutex<Fault>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A running stand-in.
pub struct StandIn {
    pub addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    /// Starts a stand-in forwarding to `container` (a router built with SageMaker container mode on).
    pub async fn start(container: Router) -> StandIn {
        let shared = Shared {
            container,
            fault: Arc::new(Mutex::new(Fault::None)),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let app = Router::new()
            .route("/endpoints/{name}/invocations", post(invoke))
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandIn {
            addr,
            fault: shared.fault,
            seen: shared.seen,
            task,
        }
    }

    /// The URL to give the client as its endpoint override.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the behaviour.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().expect("lock") = fault;
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn aws_error(status: u16, kind: &str, body: serde_json::Value) -> Response {
    (
        StatusCode::from_u16(status).expect("status"),
        [
            ("x-amzn-ErrorType", kind.to_string()),
            ("content-type", "application/json".to_string()),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn invoke(
    State(shared): State<Shared>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let content_type = text(header::CONTENT_TYPE);
    shared.seen.lock().expect("lock").push(Seen {
        endpoint,
        authorization: text(header::AUTHORIZATION),
        content_type: content_type.clone(),
    });
    let fault = *shared.fault.lock().expect("lock");
    match fault {
        Fault::ServerError => {
            return aws_error(
                500,
                "InternalFailure",
                serde_json::json!({"message": "stand-in failure"}),
            );
        }
        Fault::ModelError => return model_error(500, "the model is broken"),
        Fault::Malformed => {
            return (
                StatusCode::OK,
                [("content-type", "application/json")],
                "{\"predictions\": oops",
            )
                .into_response();
        }
        Fault::Throttle => {
            return aws_error(
                429,
                "ThrottlingException",
                serde_json::json!({"message": "rate exceeded"}),
            );
        }
        Fault::Slow => tokio::time::sleep(Duration::from_secs(3)).await,
        Fault::None | Fault::Huge | Fault::HugelyNegative => {}
    }
    let request = Request::post("/invocations")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("request");
    let answer = shared.container.oneshot(request).await.expect("infallible");
    let status = answer.status();
    let bytes = axum::body::to_bytes(answer.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let replacement = match fault {
        Fault::Huge => Some(1e12),
        Fault::HugelyNegative => Some(-1e308),
        _ => None,
    };
    if let (true, Some(value)) = (status.is_success(), replacement) {
        let mut answer: serde_json::Value = serde_json::from_slice(&bytes).expect("container JSON");
        for p in answer["predictions"].as_array_mut().expect("predictions") {
            *p = serde_json::json!([value]);
        }
        (
            status,
            [("content-type", "application/json")],
            answer.to_string(),
        )
            .into_response()
    } else if status.is_success() {
        (status, [("content-type", "application/json")], bytes).into_response()
    } else {
        model_error(status.as_u16(), &String::from_utf8_lossy(&bytes))
    }
}

/// SageMaker's answer when the container returned an error: 424 ModelError.
fn model_error(original: u16, message: &str) -> Response {
    aws_error(
        424,
        "ModelError",
        serde_json::json!({
            "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
            "Message": format!("Received error ({original}) from primary with message \"{message}\""),
            "OriginalStatusCode": original,
            "OriginalMessage": message,
        }),
    )
}
