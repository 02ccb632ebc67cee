//! Other AWS services on the S3 endpoint: those in the AWS JSON protocol, told apart from S3
//! requests by their `X-Amz-Target` header.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, StatusCode};
use hyper::body::Incoming;
use s3s::service::S3Service;
use s3s::{Body, HttpError, HttpResponse};

/// The content type of AWS JSON 1.0 responses.
pub const AMZ_JSON_1_0: &str = "application/x-amz-json-1.0";

/// The largest request body a [`JsonService`] is handed (8 MiB); a larger one is refused
/// with 413 `RequestEntityTooLargeException`.
pub const JSON_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// A service in the AWS JSON protocol (`X-Amz-Target: <Prefix>.<Operation>`), answered on the
/// same endpoint as S3 ([`LocalS3::json_service`](crate::LocalS3::json_service)).
///
/// Its requests are not authenticated: the endpoint does not check their signature.
#[async_trait::async_trait]
pub trait JsonService: Send + Sync + 'static {
    /// The `X-Amz-Target` prefix it answers, e.g. `"AWSStepFunctions"`.
    fn target_prefix(&self) -> &str;

    /// Answers one operation (the part of `X-Amz-Target` after the prefix and its dot) given
    /// the request body (at most [`JSON_BODY_LIMIT`] bytes; empty if the client sent none):
    /// the HTTP status and the JSON body, sent with content type [`AMZ_JSON_1_0`]. Errors use
    /// AWS JSON's `{"__type": "...", "message": "..."}`, with status 400 for the client's.
    async fn call(&self, operation: &str, body: Bytes) -> (StatusCode, Bytes);
}

/// The JSON services of one endpoint.
#[derive(Clone, Default)]
pub(crate) struct JsonServices(Vec<Arc<dyn JsonService>>);

impl JsonServices {
    pub(crate) fn push(&mut self, service: Arc<dyn JsonService>) {
        self.0.push(service);
    }

    /// The service this request is for, and the operation, by its `X-Amz-Target` header.
    fn route(&self, headers: &HeaderMap) -> Option<(Arc<dyn JsonService>, String)> {
        let target = headers.get("x-amz-target")?.to_str().ok()?;
        self.0.iter().find_map(|service| {
            let operation = target
                .strip_prefix(service.target_prefix())?
                .strip_prefix('.')?;
            Some((Arc::clone(service), operation.to_owned()))
        })
    }
}

impl fmt::Debug for JsonServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|service| service.target_prefix()))
            .finish()
    }
}

/// What the accept loop serves: the JSON services by `X-Amz-Target`, S3 otherwise.
#[derive(Clone)]
pub(crate) struct Endpoint {
    s3: S3Service,
    json: JsonServices,
}

impl Endpoint {
    pub(crate) fn new(s3: S3Service, json: JsonServices) -> Self {
        Self { s3, json }
    }
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>>;

impl hyper::service::Service<http::Request<Incoming>> for Endpoint {
    type Response = HttpResponse;
    type Error = HttpError;
    type Future = ResponseFuture;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        match self.json.route(request.headers()) {
            Some((service, operation)) => {
                Box::pin(
                    async move { Ok(answer(&*service, &operation, request.into_body()).await) },
                )
            }
            None => hyper::service::Service::call(&self.s3, request),
        }
    }
}

/// Reads the body, calls the service, and wraps its answer in an HTTP response.
async fn answer(service: &dyn JsonService, operation: &str, body: Incoming) -> HttpResponse {
    let (status, body) = match Body::from(body).store_all_limited(JSON_BODY_LIMIT).await {
        Ok(body) => service.call(operation, body).await,
        Err(error) if error.is::<http_body_util::LengthLimitError>() => (
            StatusCode::PAYLOAD_TOO_LARGE,
            error_body(
                "RequestEntityTooLargeException",
                &format!("the request body exceeds {JSON_BODY_LIMIT} bytes"),
            ),
        ),
        Err(error) => (
            StatusCode::BAD_REQUEST,
            error_body(
                "SerializationException",
                &format!("cannot read the request body: {error}"),
            ),
        ),
    };
    let mut response = HttpResponse::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(AMZ_JSON_1_0));
    response
}

/// `{"__type": kind, "message": message}`.
fn error_body(kind: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "__type": kind, "message": message }).to_string())
}
