//! Receiving a request body into a staged file, and checking every digest the client gave
//! (`Content-MD5`, `x-amz-checksum-*` in headers or trailers) before anything is committed.

use std::sync::Arc;

use base64::Engine as _;
use futures::StreamExt as _;
use md5::{Digest, Md5};
use s3s::checksum::ChecksumHasher;
use s3s::dto::{ChecksumAlgorithm, StreamingBlob};
use s3s::{S3Error, S3ErrorCode, S3Result, TrailingHeaders};
use tokio::io::AsyncWriteExt as _;

use crate::objects::{Checksums, ObjectStore, Staged, hex};

/// The digests a request announced.
#[derive(Debug, Default)]
pub(crate) struct Expected {
    pub(crate) content_md5: Option<String>,
    pub(crate) algorithm: Option<ChecksumAlgorithm>,
    pub(crate) checksums: Checksums,
}

/// A body received and verified, not yet committed.
#[derive(Debug)]
pub(crate) struct Received {
    /// The file (`None` for an empty body).
    pub(crate) staged: Option<Staged>,
    pub(crate) size: u64,
    /// Hex MD5: the ETag of a single-part object.
    pub(crate) md5: String,
    /// The checksums the client asked for, verified.
    pub(crate) checksums: Checksums,
}

const WRITE_BUFFER: usize = 1 << 20;

fn internal(context: &str, error: impl std::fmt::Display) -> S3Error {
    S3Error::with_message(S3ErrorCode::InternalError, format!("{context}: {error}"))
}

/// Streams `body` into a staged file of `store` (at most `limit` bytes), then checks it against
/// `expected` (with the trailers, read once the body is over). Any refusal drops the staged
/// file: nothing was committed.
#[allow(
    clippy::too_many_lines,
    reason = "receive, then check each digest, in order"
)]
pub(crate) async fn receive(
    store: &Arc<ObjectStore>,
    body: Option<StreamingBlob>,
    limit: u64,
    mut expected: Expected,
    trailers: Option<TrailingHeaders>,
) -> S3Result<Received> {
    let mut hasher = ChecksumHasher::default();
    let wanted = |given: &Option<String>, algorithm: &str| {
        given.is_some()
            || expected
                .algorithm
                .as_ref()
                .is_some_and(|a| a.as_str().eq_ignore_ascii_case(algorithm))
    };
    if wanted(&expected.checksums.crc32, ChecksumAlgorithm::CRC32) {
        hasher.crc32 = Some(s3s::crypto::Crc32::default());
    }
    if wanted(&expected.checksums.crc32c, ChecksumAlgorithm::CRC32C) {
        hasher.crc32c = Some(s3s::crypto::Crc32c::default());
    }
    if wanted(&expected.checksums.sha1, ChecksumAlgorithm::SHA1) {
        hasher.sha1 = Some(s3s::crypto::Sha1::default());
    }
    if wanted(&expected.checksums.sha256, ChecksumAlgorithm::SHA256) {
        hasher.sha256 = Some(s3s::crypto::Sha256::default());
    }
    if wanted(&expected.checksums.crc64nvme, ChecksumAlgorithm::CRC64NVME) {
        hasher.crc64nvme = Some(s3s::crypto::Crc64Nvme::default());
    }

    let (staged, file) = store
        .stage()
        .map_err(|e| internal("cannot stage the upload", e))?;
    let mut writer =
        tokio::io::BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file));
    let mut md5 = Md5::new();
    let mut size = 0u64;
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                S3Error::with_message(
                    S3ErrorCode::IncompleteBody,
                    format!("the request body did not arrive whole: {e}"),
                )
            })?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(S3Error::with_message(
                    S3ErrorCode::EntityTooLarge,
                    format!(
                        "Your proposed upload exceeds the maximum allowed size ({limit} bytes)"
                    ),
                ));
            }
            md5.update(&chunk);
            hasher.update(&chunk);
            writer
                .write_all(&chunk)
                .await
                .map_err(|e| internal("cannot write the upload", e))?;
        }
    }
    writer
        .flush()
        .await
        .map_err(|e| internal("cannot write the upload", e))?;
    drop(writer);
    let md5 = hex(&md5.finalize());

    if let Some(given) = &expected.content_md5 {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(given.trim())
            .ok()
            .filter(|d| d.len() == 16)
            .ok_or_else(|| {
                S3Error::with_message(
                    S3ErrorCode::InvalidDigest,
                    "The Content-MD5 you specified was invalid.",
                )
            })?;
        if hex(&decoded) != md5 {
            return Err(S3Error::with_message(
                S3ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }

    if let Some(trailers) = trailers.and_then(|t| t.take()) {
        let take = |name: &str, slot: &mut Option<String>| {
            if let Some(value) = trailers.get(name).and_then(|v| v.to_str().ok()) {
                *slot = Some(value.to_owned());
            }
        };
        let c = &mut expected.checksums;
        take("x-amz-checksum-crc32", &mut c.crc32);
        take("x-amz-checksum-crc32c", &mut c.crc32c);
        take("x-amz-checksum-sha1", &mut c.sha1);
        take("x-amz-checksum-sha256", &mut c.sha256);
        take("x-amz-checksum-crc64nvme", &mut c.crc64nvme);
    }
    let computed = hasher.finalize();
    let pairs = [
        ("CRC32", &expected.checksums.crc32, &computed.checksum_crc32),
        (
            "CRC32C",
            &expected.checksums.crc32c,
            &computed.checksum_crc32c,
        ),
        ("SHA1", &expected.checksums.sha1, &computed.checksum_sha1),
        (
            "SHA256",
            &expected.checksums.sha256,
            &computed.checksum_sha256,
        ),
        (
            "CRC64NVME",
            &expected.checksums.crc64nvme,
            &computed.checksum_crc64nvme,
        ),
    ];
    for (name, given, computed) in pairs {
        if let Some(given) = given
            && computed.as_ref() != Some(given)
        {
            return Err(S3Error::with_message(
                S3ErrorCode::BadDigest,
                format!("The {name} you specified did not match the calculated checksum."),
            ));
        }
    }
    let checksums = Checksums {
        crc32: computed.checksum_crc32,
        crc32c: computed.checksum_crc32c,
        sha1: computed.checksum_sha1,
        sha256: computed.checksum_sha256,
        crc64nvme: computed.checksum_crc64nvme,
    };
    Ok(Received {
        staged: (size > 0).then_some(staged),
        size,
        md5,
        checksums,
    })
}
