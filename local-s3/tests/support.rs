//! Shared helpers: start a server with a bucket, read bodies, inspect SDK errors.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use local_s3::{LocalS3, RunningS3};

/// The bucket every test server starts with.
pub const BUCKET: &str = "data";

/// A server with [`BUCKET`], on a fresh temporary folder and an ephemeral port.
pub async fn start() -> RunningS3 {
    LocalS3::builder()
        .bucket(BUCKET)
        .start()
        .await
        .expect("local S3 starts")
}

/// Puts `body` at `key` in [`BUCKET`] and returns the ETag as the SDK shows it (quoted).
pub async fn put(client: &Client, key: &str, body: &[u8]) -> String {
    let output = client
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .expect("put succeeds");
    output.e_tag.expect("put returns an ETag")
}

/// Reads the whole object at `key` in [`BUCKET`].
pub async fn get(client: &Client, key: &str) -> Vec<u8> {
    let output = client
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("get succeeds");
    collect(output.body).await
}

/// Collects a body.
pub async fn collect(body: ByteStream) -> Vec<u8> {
    body.collect()
        .await
        .expect("the body arrives")
        .into_bytes()
        .to_vec()
}

/// The S3 error code and HTTP status of a failed SDK call.
pub fn code_and_status<E, R>(error: &SdkError<E, R>) -> (Option<String>, u16)
where
    E: ProvideErrorMetadata,
    R: HttpStatus,
{
    let code = match error {
        SdkError::ServiceError(service) => service.err().code().map(str::to_owned),
        _ => None,
    };
    let status = error.raw_response().map_or(0, HttpStatus::status);
    (code, status)
}

/// The HTTP status of a raw response.
pub trait HttpStatus {
    /// The status code.
    fn status(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The MD5 of `data`, computed independently of the server (for ETags).
pub fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

/// Every file under `dir`, recursively (none if it does not exist).
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}
