//! The Lambda Runtime API (version 2018-06-01) on loopback, for one execution environment.
//!
//! A custom runtime long-polls `GET /runtime/invocation/next`, handles the event, then posts
//! `/runtime/invocation/{id}/response` or `/runtime/invocation/{id}/error`; a runtime that
//! cannot start posts `/runtime/init/error`. Each sandbox gets its own server on its own
//! port, so a killed process's connections can never take an invocation meant for its
//! successor: dropping the server aborts every connection it accepted.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};

/// The largest response a synchronous invocation may return, as Lambda counts it.
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// The largest error document accepted from a runtime.
const MAX_ERROR_BYTES: usize = 1024 * 1024;

const PREFIX: &str = "/2018-06-01/runtime/";

/// An invocation waiting for the runtime's next poll.
#[derive(Debug)]
pub(crate) struct Queued {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    pub(crate) deadline: SystemTime,
    pub(crate) function_arn: Arc<str>,
    pub(crate) trace_id: String,
}

/// How the runtime ended an invocation.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// `POST /runtime/invocation/{id}/response` with this body.
    Response(Bytes),
    /// `POST /runtime/invocation/{id}/error`, or a response Lambda refuses (too large).
    Error {
        error_type: String,
        error_message: String,
    },
}

/// Where the runtime is in its init phase.
#[derive(Debug, Clone)]
pub(crate) enum InitState {
    /// Started, not yet polling.
    Initializing,
    /// First poll of `/runtime/invocation/next` arrived at this instant.
    Ready(Instant),
    /// The runtime posted `/runtime/init/error`.
    Failed {
        error_type: String,
        error_message: String,
    },
}

struct State {
    function: Arc<str>,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init: watch::Sender<InitState>,
}

impl State {
    fn take_in_flight(&self, request_id: &str) -> Option<oneshot::Sender<Outcome>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(request_id)
    }

    fn is_in_flight(&self, request_id: &str) -> bool {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(request_id)
    }
}

/// One sandbox's Runtime API server. Dropping it stops the server and cuts its connections.
pub(crate) struct RuntimeApiServer {
    addr: SocketAddr,
    state: Arc<State>,
    queue: mpsc::UnboundedSender<Queued>,
    task: JoinHandle<()>,
}

impl RuntimeApiServer {
    /// Listens on an ephemeral port of 127.0.0.1 and serves on the current tokio runtime.
    pub(crate) async fn bind(function: Arc<str>) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (queue, queued) = mpsc::unbounded_channel();
        let (init, _) = watch::channel(InitState::Initializing);
        let state = Arc::new(State {
            function,
            queue: tokio::sync::Mutex::new(queued),
            in_flight: Mutex::new(HashMap::new()),
            init,
        });
        let task = tokio::spawn(serve(listener, Arc::clone(&state)));
        Ok(Self {
            addr,
            state,
            queue,
            task,
        })
    }

    /// The `host:port` to put in `AWS_LAMBDA_RUNTIME_API`.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Watches the init phase.
    pub(crate) fn init_state(&self) -> watch::Receiver<InitState> {
        self.state.init.subscribe()
    }

    /// Queues an invocation for the runtime's next poll; the receiver gets its outcome.
    pub(crate) fn submit(&self, queued: Queued) -> oneshot::Receiver<Outcome> {
        let (done, outcome) = oneshot::channel();
        self.state
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(queued.request_id.clone(), done);
        // The receiver lives in `state`, which this server owns: sending cannot fail.
        let _ = self.queue.send(queued);
        outcome
    }

    /// Forgets an invocation that will not complete (timed out): a late answer gets 400.
    pub(crate) fn forget(&self, request_id: &str) {
        drop(self.state.take_in_flight(request_id));
    }
}

impl Drop for RuntimeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    // Owned here so that aborting this task drops (and aborts) every connection.
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "Runtime API: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let state = Arc::clone(&state);
        connections.spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&state), request));
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "Runtime API: connection ended with an error");
            }
        });
    }
}

type ApiResponse = Response<Full<Bytes>>;

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Result<ApiResponse, Infallible> {
    let path = request.uri().path().to_owned();
    tracing::debug!(function = %state.function, method = %request.method(), %path, "Runtime API request");
    let Some(resource) = path.strip_prefix(PREFIX) else {
        return Ok(not_found(&path));
    };
    let response = match (request.method(), resource) {
        (&Method::GET, "invocation/next") => next(&state).await,
        (&Method::POST, "init/error") => init_error(&state, request).await,
        (&Method::POST, resource) => match resource
            .strip_prefix("invocation/")
            .and_then(|rest| rest.rsplit_once('/'))
        {
            Some((request_id, "response")) => {
                invocation_response(&state, request_id, request).await
            }
            Some((request_id, "error")) => invocation_error(&state, request_id, request).await,
            _ => not_found(&path),
        },
        _ => not_found(&path),
    };
    Ok(response)
}

/// `GET /runtime/invocation/next`: the first poll ends init; then waits for an invocation.
async fn next(state: &State) -> ApiResponse {
    state.init.send_if_modified(|init| {
        let first = matches!(init, InitState::Initializing);
        if first {
            *init = InitState::Ready(Instant::now());
        }
        first
    });
    let queued = state.queue.lock().await.recv().await;
    let Some(queued) = queued else {
        // The sandbox is going away; Lambda's answer to a runtime it is about to stop.
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Runtime.Shutdown",
            "the execution environment is shutting down",
        );
    };
    let mut response = Response::new(Full::new(queued.payload));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set("lambda-runtime-aws-request-id", &queued.request_id);
    set(
        "lambda-runtime-deadline-ms",
        &crate::ids::epoch_millis(queued.deadline).to_string(),
    );
    set("lambda-runtime-invoked-function-arn", &queued.function_arn);
    set("lambda-runtime-trace-id", &queued.trace_id);
    response
}

/// `POST /runtime/invocation/{id}/response`.
async fn invocation_response(
    state: &State,
    request_id: &str,
    request: Request<Incoming>,
) -> ApiResponse {
    if !state.is_in_flight(request_id) {
        return invalid_request_id();
    }
    let body = match read_body(request, MAX_RESPONSE_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let message = format!(
                "Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            );
            complete(
                state,
                request_id,
                Outcome::Error {
                    error_type: "Function.ResponseSizeTooLarge".to_owned(),
                    error_message: message.clone(),
                },
            );
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &message,
            );
        }
        Err(BodyError::Read(error)) => {
            return error_response(StatusCode::BAD_REQUEST, "InvalidRequest", &error);
        }
    };
    if complete(state, request_id, Outcome::Response(body)) {
        accepted()
    } else {
        invalid_request_id()
    }
}

/// The error document of `/invocation/{id}/error` and `/init/error`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorRequest {
    error_type: Option<String>,
    error_message: Option<String>,
}

/// Reads the error a runtime reports: the body's `errorType` and `errorMessage`, else the
/// `Lambda-Runtime-Function-Error-Type` header (what Lambda does when the body is unusable).
async fn read_error(request: Request<Incoming>) -> Result<(String, String), ApiResponse> {
    let header_type = request
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = match read_body(request, MAX_ERROR_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return Err(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &format!("error documents are limited to {MAX_ERROR_BYTES} bytes"),
            ));
        }
        Err(BodyError::Read(error)) => {
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                &error,
            ));
        }
    };
    let document: ErrorRequest = serde_json::from_slice(&body).unwrap_or_default();
    let error_type = document
        .error_type
        .filter(|error_type| !error_type.is_empty())
        .or(header_type)
        .unwrap_or_else(|| "Unhandled".to_owned());
    let error_message = document
        .error_message
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    Ok((error_type, error_message))
}

/// `POST /runtime/invocation/{id}/error`.
async fn invocation_error(
    state: &State,
    request_id: &str,
    request: Request<Incoming>,
) -> ApiResponse {
    if !state.is_in_flight(request_id) {
        return invalid_request_id();
    }
    let (error_type, error_message) = match read_error(request).await {
        Ok(error) => error,
        Err(response) => return response,
    };
    let outcome = Outcome::Error {
        error_type,
        error_message,
    };
    if complete(state, request_id, outcome) {
        accepted()
    } else {
        invalid_request_id()
    }
}

/// `POST /runtime/init/error`: only during init, as in Lambda.
async fn init_error(state: &State, request: Request<Incoming>) -> ApiResponse {
    let (error_type, error_message) = match read_error(request).await {
        Ok(error) => error,
        Err(response) => return response,
    };
    let reported = state.init.send_if_modified(|init| {
        let initializing = matches!(init, InitState::Initializing);
        if initializing {
            *init = InitState::Failed {
                error_type: error_type.clone(),
                error_message: error_message.clone(),
            };
        }
        initializing
    });
    if reported {
        accepted()
    } else {
        error_response(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "init errors can only be reported before the first poll of /runtime/invocation/next",
        )
    }
}

/// Hands the outcome to the waiting invoker; false if the request id is no longer in flight.
fn complete(state: &State, request_id: &str, outcome: Outcome) -> bool {
    match state.take_in_flight(request_id) {
        Some(done) => {
            // The invoker may have given up (dropped): the runtime's answer is still accepted.
            let _ = done.send(outcome);
            true
        }
        None => false,
    }
}

enum BodyError {
    TooLarge,
    Read(String),
}

async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(error) => Err(BodyError::Read(error.to_string())),
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> ApiResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn accepted() -> ApiResponse {
    json_response(StatusCode::ACCEPTED, &serde_json::json!({ "status": "OK" }))
}

/// The Runtime API's error document: `{"errorMessage": ..., "errorType": ...}`.
fn error_response(status: StatusCode, error_type: &str, message: &str) -> ApiResponse {
    json_response(
        status,
        &serde_json::json!({ "errorMessage": message, "errorType": error_type }),
    )
}

fn invalid_request_id() -> ApiResponse {
    error_response(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

fn not_found(path: &str) -> ApiResponse {
    error_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("no Runtime API resource at {path}"),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    /// Sends one raw HTTP/1.1 request and returns the status code and the body.
    async fn raw(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
        (status, body)
    }

    fn queued(request_id: &str) -> Queued {
        Queued {
            request_id: request_id.to_owned(),
            payload: Bytes::from_static(br#"{"a":1}"#),
            deadline: SystemTime::now() + Duration::from_secs(3),
            function_arn: Arc::from("arn:aws:lambda:us-east-1:000000000000:function:f"),
            trace_id: "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
        }
    }

    #[tokio::test]
    async fn an_unknown_request_id_is_a_400_with_the_documented_shape() {
        let server = RuntimeApiServer::bind(Arc::from("f")).await.unwrap();
        for kind in ["response", "error"] {
            let path = format!("/2018-06-01/runtime/invocation/nope/{kind}");
            let (status, body) = raw(server.addr(), "POST", &path, "{}").await;
            assert_eq!(status, 400);
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["errorType"], "InvalidRequestID");
            assert_eq!(body["errorMessage"], "Invalid request ID");
        }
        let (status, _) = raw(server.addr(), "GET", "/2018-06-01/runtime/nothing", "").await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn a_response_completes_once_and_a_second_one_is_refused() {
        let server = RuntimeApiServer::bind(Arc::from("f")).await.unwrap();
        let mut init = server.init_state();
        let outcome = server.submit(queued("req-1"));
        let (status, body) = raw(
            server.addr(),
            "GET",
            "/2018-06-01/runtime/invocation/next",
            "",
        )
        .await;
        assert_eq!((status, body.as_str()), (200, r#"{"a":1}"#));
        assert!(matches!(*init.borrow_and_update(), InitState::Ready(_)));

        let path = "/2018-06-01/runtime/invocation/req-1/response";
        let (status, body) = raw(server.addr(), "POST", path, r#"{"ok":true}"#).await;
        assert_eq!((status, body.as_str()), (202, r#"{"status":"OK"}"#));
        match outcome.await.unwrap() {
            Outcome::Response(body) => assert_eq!(&body[..], br#"{"ok":true}"#),
            other @ Outcome::Error { .. } => panic!("{other:?}"),
        }
        let (status, _) = raw(server.addr(), "POST", path, "{}").await;
        assert_eq!(status, 400);
    }

    #[tokio::test]
    async fn an_error_takes_its_type_from_the_body_then_from_the_header() {
        let server = RuntimeApiServer::bind(Arc::from("f")).await.unwrap();
        let outcome = server.submit(queued("req-2"));
        let path = "/2018-06-01/runtime/invocation/req-2/error";
        let body = r#"{"errorType":"InvalidInput","errorMessage":"bad row","stackTrace":[]}"#;
        let (status, _) = raw(server.addr(), "POST", path, body).await;
        assert_eq!(status, 202);
        match outcome.await.unwrap() {
            Outcome::Error {
                error_type,
                error_message,
            } => assert_eq!(
                (error_type.as_str(), error_message.as_str()),
                ("InvalidInput", "bad row")
            ),
            other @ Outcome::Response(_) => panic!("{other:?}"),
        }

        let outcome = server.submit(queued("req-3"));
        let mut stream = TcpStream::connect(server.addr()).await.unwrap();
        stream
            .write_all(
                b"POST /2018-06-01/runtime/invocation/req-3/error HTTP/1.1\r\nHost: x\r\n\
                  Lambda-Runtime-Function-Error-Type: Runtime.Crashed\r\nContent-Length: 4\r\n\
                  Connection: close\r\n\r\noops",
            )
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 202"), "{response}");
        match outcome.await.unwrap() {
            Outcome::Error {
                error_type,
                error_message,
            } => assert_eq!(
                (error_type.as_str(), error_message.as_str()),
                ("Runtime.Crashed", "oops")
            ),
            other @ Outcome::Response(_) => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn init_errors_are_accepted_only_before_the_first_poll() {
        let server = RuntimeApiServer::bind(Arc::from("f")).await.unwrap();
        let init = server.init_state();
        let body = r#"{"errorType":"Runtime.InitError","errorMessage":"no config"}"#;
        let (status, _) = raw(
            server.addr(),
            "POST",
            "/2018-06-01/runtime/init/error",
            body,
        )
        .await;
        assert_eq!(status, 202);
        match &*init.borrow() {
            InitState::Failed {
                error_type,
                error_message,
            } => assert_eq!(
                (error_type.as_str(), error_message.as_str()),
                ("Runtime.InitError", "no config")
            ),
            other => panic!("{other:?}"),
        }
        let (status, body) = raw(
            server.addr(),
            "POST",
            "/2018-06-01/runtime/init/error",
            body,
        )
        .await;
        assert_eq!(status, 403, "{body}");
    }

    #[tokio::test]
    async fn an_oversized_response_is_413_and_a_function_error() {
        let server = RuntimeApiServer::bind(Arc::from("f")).await.unwrap();
        let outcome = server.submit(queued("req-4"));
        let big = "x".repeat(MAX_RESPONSE_BYTES + 1);
        let path = "/2018-06-01/runtime/invocation/req-4/response";
        let (status, body) = raw(server.addr(), "POST", path, &big).await;
        assert_eq!(status, 413, "{body}");
        match outcome.await.unwrap() {
            Outcome::Error { error_type, .. } => {
                assert_eq!(error_type, "Function.ResponseSizeTooLarge");
            }
            other @ Outcome::Response(_) => panic!("{other:?}"),
        }
    }
}
