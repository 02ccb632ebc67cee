//! Other AWS JSON-protocol services on the S3 endpoint, told apart by `X-Amz-Target`, and web
//! pages under a path no bucket can have.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use local_s3::{JSON_BODY_LIMIT, JsonService, LocalS3, Operation, Page, PageService};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{BUCKET, get, put};

/// Answers `{"service", "operation", "body"}`; the operation `Fail` answers a 400 error.
struct Echo(&'static str);

#[async_trait::async_trait]
impl JsonService for Echo {
    fn target_prefix(&self) -> &str {
        self.0
    }

    async fn call(&self, operation: &str, body: Bytes) -> (StatusCode, Bytes) {
        if operation == "Fail" {
            let error = r#"{"__type":"NopeException","message":"no"}"#;
            return (
                StatusCode::BAD_REQUEST,
                Bytes::from_static(error.as_bytes()),
            );
        }
        let answer = serde_json::json!({
            "service": self.0,
            "operation": operation,
            "body": String::from_utf8_lossy(&body),
        });
        (StatusCode::OK, Bytes::from(answer.to_string()))
    }
}

/// A response read off the wire.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// One unsigned `POST /` with this `X-Amz-Target` (if any), over a fresh connection.
async fn post(addr: SocketAddr, target: Option<&str>, body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let target = target.map_or(String::new(), |t| format!("X-Amz-Target: {t}\r\n"));
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/x-amz-json-1.0\r\n{target}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse(&raw)
}

/// One unsigned `method path` without a body, over a fresh connection.
async fn request(addr: SocketAddr, method: &str, path: &str) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.to_owned(), value.trim().to_owned())
        })
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status: status.parse().unwrap(),
        headers,
        body,
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&raw[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap(), 16).unwrap();
        if size == 0 {
            return body;
        }
        let start = line_end + 2;
        body.extend_from_slice(&raw[start..start + size]);
        raw = &raw[start + size + 2..];
    }
}

#[tokio::test]
async fn a_target_with_the_prefix_goes_to_its_service_unsigned() {
    let s3 = LocalS3::builder()
        .json_service(Arc::new(Echo("TestService")))
        .json_service(Arc::new(Echo("OtherService_20240101")))
        .start()
        .await
        .unwrap();
    let response = post(s3.addr(), Some("TestService.DoThing"), br#"{"a":1}"#).await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-amz-json-1.0")
    );
    assert_eq!(
        response.json(),
        serde_json::json!({"service": "TestService", "operation": "DoThing", "body": r#"{"a":1}"#})
    );

    let other = post(s3.addr(), Some("OtherService_20240101.List"), b"").await;
    assert_eq!(
        other.json(),
        serde_json::json!({"service": "OtherService_20240101", "operation": "List", "body": ""})
    );

    let failed = post(s3.addr(), Some("TestService.Fail"), b"{}").await;
    assert_eq!(failed.status, 400);
    assert_eq!(failed.json()["__type"], "NopeException");
    assert_eq!(
        failed.header("content-type"),
        Some("application/x-amz-json-1.0")
    );
    assert_eq!(s3.requests_seen(Operation::Any), 0);
    s3.shutdown().await;
}

#[tokio::test]
async fn other_targets_and_plain_requests_go_to_s3() {
    let s3 = LocalS3::builder()
        .bucket(BUCKET)
        .json_service(Arc::new(Echo("TestService")))
        .start()
        .await
        .unwrap();
    // The prefix must be followed by a dot; neither of these is the JSON service's.
    for target in [Some("TestServiceX.DoThing"), Some("TestService"), None] {
        let response = post(s3.addr(), target, b"{}").await;
        // S3 refuses the unsigned `POST /`, with an XML error.
        assert!(response.status >= 400, "{target:?}: {}", response.status);
        assert!(
            String::from_utf8_lossy(&response.body).contains("<Error>"),
            "{target:?}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }

    // Signed S3 requests work as before, beside the JSON service.
    let client = s3.client();
    put(&client, "k", b"data").await;
    assert_eq!(get(&client, "k").await, b"data");
    assert_eq!(
        post(s3.addr(), Some("TestService.Ping"), b"{}")
            .await
            .json()["operation"],
        "Ping"
    );
    s3.shutdown().await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused() {
    let s3 = LocalS3::builder()
        .json_service(Arc::new(Echo("TestService")))
        .start()
        .await
        .unwrap();
    let body = vec![b' '; JSON_BODY_LIMIT + 1];
    let response = post(s3.addr(), Some("TestService.Big"), &body).await;
    assert_eq!(response.status, 413);
    assert_eq!(response.json()["__type"], "RequestEntityTooLargeException");

    let body = vec![b' '; JSON_BODY_LIMIT];
    let response = post(s3.addr(), Some("TestService.Big"), &body).await;
    assert_eq!(response.status, 200);
    s3.shutdown().await;
}

/// Answers `GET` with the path and query it was given, as text.
struct Pages;

#[async_trait::async_trait]
impl PageService for Pages {
    fn path(&self) -> &'static str {
        "/ui"
    }

    async fn get(&self, path: &str, query: &str) -> Page {
        Page {
            status: StatusCode::OK,
            content_type: "text/plain; charset=utf-8",
            body: Bytes::from(format!("{path}?{query}")),
        }
    }
}

#[tokio::test]
async fn pages_answer_reads_under_their_path_unsigned_and_s3_keeps_everything_else() {
    let s3 = LocalS3::builder()
        .bucket(BUCKET)
        .pages(Arc::new(Pages))
        .start()
        .await
        .unwrap();
    for (path, body) in [
        ("/ui", "/ui?"),
        ("/ui/", "/ui/?"),
        ("/ui/execution?name=a%20b", "/ui/execution?name=a%20b"),
    ] {
        let response = request(s3.addr(), "GET", path).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(String::from_utf8_lossy(&response.body), body);
        assert_eq!(
            response.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
    }
    let head = request(s3.addr(), "HEAD", "/ui").await;
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(s3.requests_seen(Operation::Any), 0);

    // Other methods, and paths that only begin like it, are S3's: unsigned, refused with
    // S3's XML error.
    for (method, path) in [("PUT", "/ui"), ("DELETE", "/ui/x"), ("GET", "/uix")] {
        let response = request(s3.addr(), method, path).await;
        assert!(
            response.status >= 400,
            "{method} {path}: {}",
            response.status
        );
        assert!(
            String::from_utf8_lossy(&response.body).contains("<Error>"),
            "{method} {path}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }
    // Signed S3 requests work as before, beside the pages.
    let client = s3.client();
    put(&client, "ui", b"data").await;
    assert_eq!(get(&client, "ui").await, b"data");
    s3.shutdown().await;
}

#[test]
#[should_panic(expected = "one or two characters")]
fn pages_under_a_path_a_bucket_could_have_are_refused() {
    struct Named;
    #[async_trait::async_trait]
    impl PageService for Named {
        fn path(&self) -> &'static str {
            "/pages"
        }

        async fn get(&self, _: &str, _: &str) -> Page {
            unreachable!("never served")
        }
    }
    let _ = LocalS3::builder().pages(Arc::new(Named));
}
