//! The pipeline's contracts: the job document a processor receives, object keys as S3 event
//! notifications spell them, and where outputs go.
//!
//! One source of truth, shared by the processors, the infra generator and the tests. No AWS
//! here: plain data and pure functions.

use std::fmt;

/// Objects up to this size (inclusive) go to the Lambda function, larger ones to Fargate: the
/// largest payload a synchronous Lambda invocation may return is 6 MiB, and a Lambda that
/// reads more than that in one request gains nothing over a container.
pub const DEFAULT_THRESHOLD_BYTES: u64 = 6 * 1024 * 1024;

/// Uploads under this prefix start the pipeline.
pub const DEFAULT_INPUT_PREFIX: &str = "incoming/";

/// Outputs go under this prefix, which never starts the pipeline.
pub const DEFAULT_OUTPUT_PREFIX: &str = "processed/";

/// Suffix of a report's key.
pub const REPORT_SUFFIX: &str = ".report.json";

/// Records that meet a contract go under this prefix, as
/// `curated/<dataset>/<key relative to the contract's prefix>.parquet`.
pub const CURATED_PREFIX: &str = "curated/";

/// Records a contract rejects go under this prefix, as
/// `rejected/<dataset>/<key relative to the contract's prefix>.rejects.jsonl`.
pub const REJECTED_PREFIX: &str = "rejected/";

/// A failed execution leaves a record of its failure under this prefix, as
/// `failed/<key as the event spells it>.json` ([`failure_record_key`]): the state machine's
/// failure path writes it itself (an S3 `PutObject` task before each `Fail` state), so the
/// key is the event's, form-URL-encoded, input prefix included (the States Language has no
/// function to decode it or to cut a prefix). Not an output: a record of a failure, which a
/// later report supersedes (see [`FailureRecord`]).
pub const FAILURE_PREFIX: &str = "failed/";

/// Suffix of a failure record's key.
pub const FAILURE_SUFFIX: &str = ".json";

/// The failure record's key for an object whose key the event spells `event_key`
/// (form-URL-encoded, as [`JobObject::key`] holds it).
pub fn failure_record_key(event_key: &str) -> String {
    format!("{FAILURE_PREFIX}{event_key}{FAILURE_SUFFIX}")
}

/// The event-spelled key a failure record's key is about: the inverse of
/// [`failure_record_key`]; `None` for a key that is not a failure record's.
pub fn failure_record_subject(record_key: &str) -> Option<&str> {
    record_key
        .strip_prefix(FAILURE_PREFIX)?
        .strip_suffix(FAILURE_SUFFIX)
        .filter(|key| !key.is_empty())
}

/// The JSON document a failed execution writes at [`failure_record_key`]. The state machine
/// builds it (infra's `statemachine`), so its fields are what Step Functions has at hand.
///
/// A later success for the same object does not delete it: the report written then is newer
/// (S3's `LastModified`, one clock for both), and the newer of the two is the object's last
/// outcome. Deleting on every success would cost each successful execution a state and a
/// request, and in the versioned bucket leave a delete marker per success.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailureRecord {
    /// [`FAILURE_RECORD_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The execution's error name: one of [`ErrorName`](crate::ErrorName)'s.
    pub error: String,
    /// The execution's cause: the processor's error message, the stopped ECS task, or the
    /// caught error as JSON text for an unexpected failure.
    #[serde(default)]
    pub cause: Option<String>,
    /// The execution that failed.
    pub execution_arn: String,
    /// When its failure path began (ISO 8601, from Step Functions).
    pub failed_at: String,
    /// The bucket.
    pub bucket: String,
    /// The object as the event described it: key (form-URL-encoded), size, etag, version id,
    /// sequencer.
    pub object: JobObject,
}

/// The [`FailureRecord::schema_version`] the state machine writes.
pub const FAILURE_RECORD_SCHEMA_VERSION: u32 = 1;

/// Environment variables both processors read; the infra generator sets them.
pub mod env {
    /// The input prefix (default [`DEFAULT_INPUT_PREFIX`](super::DEFAULT_INPUT_PREFIX)).
    pub const INPUT_PREFIX: &str = "PIPELINE_INPUT_PREFIX";
    /// The output prefix (default [`DEFAULT_OUTPUT_PREFIX`](super::DEFAULT_OUTPUT_PREFIX)).
    pub const OUTPUT_PREFIX: &str = "PIPELINE_OUTPUT_PREFIX";
    /// The job document as JSON (the Fargate task's container override).
    pub const JOB: &str = "PIPELINE_JOB";
    /// `true` to address buckets in the path (`http://host/bucket/key`), as an S3 endpoint
    /// on loopback needs; set with `AWS_ENDPOINT_URL`.
    pub const S3_PATH_STYLE: &str = "PIPELINE_S3_PATH_STYLE";
    /// The folder holding the data contracts (`*.toml`), built into the deployment and read
    /// once per container at start.
    pub const CONTRACTS_DIR: &str = "PIPELINE_CONTRACTS_DIR";
    /// The threads that parse one object (a positive integer; default: the CPUs the
    /// container may use, [`Parallelism::available`](crate::Parallelism::available)), an object
    /// under a contract included. An object that other stages run on is parsed on one thread.
    pub const THREADS: &str = "PIPELINE_THREADS";
    /// The bytes of decompressed text each worker parses at a time (default: 1 MiB); memory
    /// grows with threads × this size.
    pub const RANGE_BYTES: &str = "PIPELINE_RANGE_BYTES";
    /// The CloudWatch namespace of the processors' metrics (default
    /// [`NAMESPACE_PREFIX`](crate::NAMESPACE_PREFIX); a stack gives `<prefix>/<stack name>`).
    pub const METRICS_NAMESPACE: &str = "PIPELINE_METRICS_NAMESPACE";
}

/// The job document: what a processor needs to know about one uploaded object.
///
/// Its shape is the `detail` of the S3 `Object Created` event (EventBridge), minus what a
/// processor does not need, so the state machine builds it from two paths, and so a
/// processor can also be handed an event's `detail` as it is. Small by design: ECS container
/// overrides are capped at 8 KiB.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    /// The bucket.
    pub bucket: String,
    /// The object, as the event describes it.
    pub object: JobObject,
}

/// The object of a [`Job`], with the event's field names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobObject {
    /// The key as the event spells it: form-URL-encoded (see [`decode_event_key`]).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Entity tag, without quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Version id, in a versioned bucket.
    #[serde(
        default,
        rename = "version-id",
        skip_serializing_if = "Option::is_none"
    )]
    pub version_id: Option<String>,
    /// The event's sequencer: orders events for the same key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<String>,
}

/// The `detail` of an S3 `Object Created` event as EventBridge delivers it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ObjectCreatedDetail {
    /// Always `"0"`.
    #[serde(default)]
    pub version: Option<String>,
    /// The bucket.
    pub bucket: BucketName,
    /// The object.
    pub object: JobObject,
    /// The request that created the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The account or principal that made the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// Where the request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip_address: Option<String>,
    /// `PutObject`, `POST Object`, `CopyObject` or `CompleteMultipartUpload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A bucket, as events name it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BucketName {
    /// The bucket's name.
    pub name: String,
}

impl From<ObjectCreatedDetail> for Job {
    fn from(detail: ObjectCreatedDetail) -> Self {
        Job {
            bucket: detail.bucket.name,
            object: detail.object,
        }
    }
}

impl Job {
    /// The object key, decoded from the event's form-URL-encoding.
    pub fn key(&self) -> Result<String, KeyError> {
        decode_event_key(&self.object.key)
    }
}

/// A key that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A `%` not followed by two hexadecimal digits.
    #[error("bad escape at byte {at} of the key {key:?}: '%' must be followed by two hex digits")]
    BadEscape {
        /// The key as given.
        key: String,
        /// Byte offset of the `%`.
        at: usize,
    },
    /// The decoded bytes are not UTF-8.
    #[error("the key {key:?} does not decode to UTF-8")]
    NotUtf8 {
        /// The key as given.
        key: String,
    },
}

/// Decodes a key as S3 event notifications spell it: form-URL-encoded, `+` for a space and
/// `%XX` for any other byte that needs it (so a literal `+` arrives as `%2B`).
///
/// The one place where keys are decoded: decoding twice would turn a literal `%2B` into `+`
/// and then into a space.
pub fn decode_event_key(raw: &str) -> Result<String, KeyError> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => {
                decoded.push(b' ');
                at += 1;
            }
            b'%' => {
                let hex = |offset: usize| {
                    bytes
                        .get(at + offset)
                        .and_then(|b| char::from(*b).to_digit(16))
                };
                let (Some(high), Some(low)) = (hex(1), hex(2)) else {
                    return Err(KeyError::BadEscape {
                        key: raw.to_owned(),
                        at,
                    });
                };
                // Two hex digits make a byte.
                #[allow(clippy::cast_possible_truncation)]
                decoded.push((high * 16 + low) as u8);
                at += 3;
            }
            byte => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| KeyError::NotUtf8 {
        key: raw.to_owned(),
    })
}

/// Encodes a key the way S3 event notifications do (the inverse of [`decode_event_key`]):
/// unreserved characters and `/` stay, a space becomes `+`, every other byte `%XX`.
pub fn encode_event_key(key: &str) -> String {
    let mut encoded = String::with_capacity(key.len());
    for &byte in key.as_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b'*' => {
                encoded.push(char::from(byte));
            }
            b' ' => encoded.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                encoded.push('%');
                encoded.push(char::from(HEX[usize::from(byte >> 4)]));
                encoded.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
        }
    }
    encoded
}

/// Where inputs are and outputs go, in the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    input_prefix: String,
    output_prefix: String,
}

/// A layout whose outputs could start the pipeline again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LayoutError(String);

impl KeyLayout {
    /// A layout with these prefixes. The output prefix must not be empty, and neither
    /// prefix may start with the other: an output under the input prefix would start the
    /// pipeline again, forever.
    pub fn new(input_prefix: &str, output_prefix: &str) -> Result<KeyLayout, LayoutError> {
        if output_prefix.is_empty() {
            return Err(LayoutError(
                "the output prefix is empty: outputs would land among the inputs".into(),
            ));
        }
        if input_prefix.starts_with(output_prefix) || output_prefix.starts_with(input_prefix) {
            return Err(LayoutError(format!(
                "the input prefix {input_prefix:?} and the output prefix {output_prefix:?} overlap: \
                 outputs would start the pipeline again"
            )));
        }
        for (which, prefix) in [("input", input_prefix), ("output", output_prefix)] {
            if prefix.starts_with(FAILURE_PREFIX) || FAILURE_PREFIX.starts_with(prefix) {
                return Err(LayoutError(format!(
                    "the {which} prefix {prefix:?} overlaps {FAILURE_PREFIX:?}, where failed \
                     executions leave their records"
                )));
            }
        }
        Ok(KeyLayout {
            input_prefix: input_prefix.to_owned(),
            output_prefix: output_prefix.to_owned(),
        })
    }

    /// The input prefix.
    pub fn input_prefix(&self) -> &str {
        &self.input_prefix
    }

    /// The output prefix.
    pub fn output_prefix(&self) -> &str {
        &self.output_prefix
    }

    /// Whether `key` is an input (under the input prefix).
    pub fn is_input(&self, key: &str) -> bool {
        key.starts_with(&self.input_prefix)
    }

    /// The report's key for the (decoded) input `key`: the output prefix, the key relative to
    /// the input prefix, and [`REPORT_SUFFIX`]. Always under the output prefix.
    pub fn report_key(&self, key: &str) -> String {
        let relative = key.strip_prefix(&self.input_prefix).unwrap_or(key);
        format!("{}{relative}{REPORT_SUFFIX}", self.output_prefix)
    }
}

impl Default for KeyLayout {
    fn default() -> Self {
        KeyLayout {
            input_prefix: DEFAULT_INPUT_PREFIX.to_owned(),
            output_prefix: DEFAULT_OUTPUT_PREFIX.to_owned(),
        }
    }
}

impl fmt::Display for KeyLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.input_prefix, self.output_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_once() {
        assert_eq!(
            decode_event_key("incoming/a+b.csv").unwrap(),
            "incoming/a b.csv"
        );
        assert_eq!(
            decode_event_key("incoming/a%2Bb.csv").unwrap(),
            "incoming/a+b.csv"
        );
        assert_eq!(
            decode_event_key("incoming/100%25.csv").unwrap(),
            "incoming/100%.csv"
        );
        assert_eq!(decode_event_key("incoming/%2525").unwrap(), "incoming/%25");
        assert_eq!(
            decode_event_key("incoming/caf%C3%A9/%E6%97%A5%E6%9C%AC.csv").unwrap(),
            "incoming/café/日本.csv"
        );
        let deep = format!("incoming/{}x.csv", "d/".repeat(300));
        assert_eq!(decode_event_key(&deep).unwrap(), deep);
        let long = "k".repeat(1024);
        assert_eq!(decode_event_key(&long).unwrap(), long);
        assert!(matches!(
            decode_event_key("a%2"),
            Err(KeyError::BadEscape { at: 1, .. })
        ));
        assert!(matches!(
            decode_event_key("a%zz"),
            Err(KeyError::BadEscape { .. })
        ));
        assert!(matches!(
            decode_event_key("a%FF"),
            Err(KeyError::NotUtf8 { .. })
        ));
    }

    #[test]
    fn encoding_round_trips() {
        for key in [
            "incoming/a b+c%d.csv",
            "incoming/café/日本 語.csv",
            "incoming/x~y_z-1.2*",
        ] {
            let encoded = encode_event_key(key);
            assert!(!encoded.contains(' '));
            assert_eq!(decode_event_key(&encoded).unwrap(), key);
        }
        assert_eq!(
            encode_event_key("incoming/a b+c.csv"),
            "incoming/a+b%2Bc.csv"
        );
    }

    #[test]
    fn outputs_never_land_among_inputs() {
        let layout = KeyLayout::default();
        assert_eq!(
            layout.report_key("incoming/2024/a b.csv"),
            "processed/2024/a b.csv.report.json"
        );
        assert!(!layout.is_input(&layout.report_key("incoming/x.csv")));
        assert!(KeyLayout::new("incoming/", "incoming/out/").is_err());
        assert!(KeyLayout::new("data/", "data/").is_err());
        assert!(
            KeyLayout::new("", "processed/").is_err(),
            "every key is an input"
        );
        assert!(KeyLayout::new("incoming/", "").is_err());
        assert!(KeyLayout::new("in/", "out/").is_ok());
        // Failure records are keyed `failed/<input key>`: an input prefix over them would
        // start the pipeline on its own failures.
        assert!(KeyLayout::new("fail", "out/").is_err());
        assert!(KeyLayout::new("failed/in/", "out/").is_err());
        assert!(KeyLayout::new("in/", "failed/").is_err());
    }

    #[test]
    fn failure_records_are_keyed_by_the_event_key() {
        let key = failure_record_key("incoming/a+b%2B.csv");
        assert_eq!(key, "failed/incoming/a+b%2B.csv.json");
        assert_eq!(failure_record_subject(&key), Some("incoming/a+b%2B.csv"));
        assert_eq!(failure_record_subject("failed/.json"), None);
        assert_eq!(failure_record_subject("processed/x.json"), None);
        let layout = KeyLayout::default();
        assert!(!layout.is_input(&key));
        assert!(!key.starts_with(layout.output_prefix()));
    }

    #[test]
    fn jobs_read_an_event_detail_as_it_is() {
        let detail = r#"{
            "version": "0", "bucket": {"name": "uploads"},
            "object": {"key": "incoming/a+b.csv", "size": 5, "etag": "b1946ac9",
                       "version-id": "3HL4kqtJ", "sequencer": "0062E99A88DC407460"},
            "request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012",
            "source-ip-address": "1.2.3.4", "reason": "PutObject"
        }"#;
        let detail: ObjectCreatedDetail = serde_json::from_str(detail).unwrap();
        assert_eq!(detail.reason.as_deref(), Some("PutObject"));
        let job = Job::from(detail);
        assert_eq!(job.key().unwrap(), "incoming/a b.csv");
        assert_eq!(job.object.version_id.as_deref(), Some("3HL4kqtJ"));
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
        let minimal: Job =
            serde_json::from_str(r#"{"bucket":"b","object":{"key":"k","size":0}}"#).unwrap();
        assert_eq!(minimal.object.etag, None);
    }
}
