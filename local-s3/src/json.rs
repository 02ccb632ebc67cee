//! Other services on the S3 endpoint: those in the AWS JSON protocol, told apart from S3
//! requests by their `X-Amz-Target` header, and web pages under a path no bucket can have.

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

/// Web pages served on the S3 endpoint under one path ([`LocalS3::pages`](crate::LocalS3::pages)),
/// e.g. the local pipeline's `/ui`: `GET` (and `HEAD`) requests for exactly that path or below
/// it go here, unauthenticated. The path is a single segment shorter than three characters
/// (checked at start), a name no bucket can have (S3's bucket names have 3 to 63 characters:
/// <https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html>), so no S3
/// request is ever taken from S3.
#[async_trait::async_trait]
pub trait PageService: Send + Sync + 'static {
    /// The path it answers, e.g. `"/ui"`: that path, and any below it (`/ui/...`).
    fn path(&self) -> &str;

    /// Answers a `GET` of `path` (under [`path`](PageService::path)) with this query string
    /// (without `?`; empty if none): the status, the content type and the body.
    async fn get(&self, path: &str, query: &str) -> Page;
}

/// A page a [`PageService`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type`, e.g. `text/html; charset=utf-8`.
    pub content_type: &'static str,
    /// The body.
    pub body: Bytes,
}

/// Whether `path` is a name [`PageService::path`] may be: `/` and one segment of one or two
/// characters (so not a bucket name).
pub(crate) fn is_page_path(path: &str) -> bool {
    path.strip_prefix('/')
        .is_some_and(|name| (1..3).contains(&name.len()) && !name.contains('/'))
}

/// The page service of one endpoint, if any.
#[derive(Clone, Default)]
pub(crate) struct Pages(pub(crate) Option<Arc<dyn PageService>>);

impl fmt::Debug for Pages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pages")
            .field(&self.0.as_ref().map(|pages| pages.path()))
            .finish()
    }
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

/// What the accept loop serves: the JSON services by `X-Amz-Target`, the pages by path, S3
/// otherwise.
#[derive(Clone)]
pub(crate) struct Endpoint {
    s3: S3Service,
    json: JsonServices,
    pages: Pages,
}

impl Endpoint {
    pub(crate) fn new(s3: S3Service, json: JsonServices, pages: Pages) -> Self {
        Self { s3, json, pages }
    }

    /// The page service, when this request is for it.
    fn pages_for(&self, request: &http::Request<Incoming>) -> Option<Arc<dyn PageService>> {
        let pages = self.pages.0.as_ref()?;
        let path = request.uri().path();
        let below = path.strip_prefix(pages.path())?;
        let is_read =
            request.method() == http::Method::GET || request.method() == http::Method::HEAD;
        (is_read && (below.is_empty() || below.starts_with('/'))).then(|| Arc::clone(pages))
    }
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>>;

impl hyper::service::Service<http::Request<Incoming>> for Endpoint {
    type Response = HttpResponse;
    type Error = HttpError;
    type Future = ResponseFuture;

    fn call(&self, request: http::Request<Incoming>) -> Self::Future {
        if let Some(pages) = self.pages_for(&request) {
            return Box::pin(async move { Ok(page(&*pages, &request).await) });
        }
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

/// Asks the page service for the page and wraps it in an HTTP response (no body for `HEAD`).
async fn page(pages: &dyn PageService, request: &http::Request<Incoming>) -> HttpResponse {
    let uri = request.uri();
    let page = pages.get(uri.path(), uri.query().unwrap_or("")).await;
    let body = if request.method() == http::Method::HEAD {
        Body::empty()
    } else {
        Body::from(page.body)
    };
    let mut response = HttpResponse::new(body);
    *response.status_mut() = page.status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static(page.content_type),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    // The browser keeps to the content type (no HTML sniffed out of a text answer).
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    response
}

/// `{"__type": kind, "message": message}`.
fn error_body(kind: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "__type": kind, "message": message }).to_string())
}

#[cfg(test)]
mod tests {
    use super::is_page_path;

    #[test]
    fn a_page_path_is_one_segment_too_short_for_a_bucket() {
        assert!(is_page_path("/ui"));
        assert!(is_page_path("/x"));
        for path in ["ui", "/", "/abc", "/ui/x", "//"] {
            assert!(!is_page_path(path), "{path}");
        }
    }
}
