//! What the commands read from the bucket: the inputs' current versions, the reports, the
//! failure records.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::DateTime;
use serde_json::Value;
use shared::{FailureRecord, KeyLayout};

use crate::OperateError;

/// The pipeline's bucket and its key layout.
#[derive(Debug, Clone)]
pub struct Bucket {
    client: aws_sdk_s3::Client,
    name: String,
    layout: KeyLayout,
}

/// An input object's current version.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectVersion {
    /// The key (decoded, as S3 lists it).
    pub key: String,
    /// Its version id; `None` in a bucket without versioning (S3's `"null"`).
    pub version_id: Option<String>,
    /// Its entity tag, without quotes.
    pub etag: Option<String>,
    /// Its size in bytes.
    pub size: u64,
}

/// A report as `status` and `reprocess` need it: which source version it is about, and what
/// the processor said.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportHead {
    /// The report's key.
    pub key: String,
    /// When S3 stored it.
    pub last_modified: Option<DateTime>,
    /// The source version it reports on (`source.version_id`).
    pub version_id: Option<String>,
    /// The source's entity tag (`source.etag`).
    pub etag: Option<String>,
    /// `processing.processor`: the route that wrote it.
    pub route: Option<String>,
    /// The other outputs it lists (a contract's, the stages').
    pub outputs: Vec<String>,
}

impl ReportHead {
    /// Whether it reports on exactly this version of the object (version id and etag, as
    /// the processors decide whether an event is already done).
    pub fn matches(&self, object: &ObjectVersion) -> bool {
        self.version_id == object.version_id && self.etag == object.etag
    }
}

/// A failure record found under [`shared::FAILURE_PREFIX`], with its S3 time.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureRecordHead {
    /// The record's key.
    pub key: String,
    /// When S3 stored it.
    pub last_modified: Option<DateTime>,
    /// The record.
    pub record: FailureRecord,
}

fn s3_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    operation: &'static str,
    bucket: &str,
    key: &str,
    error: &aws_sdk_s3::error::SdkError<E>,
) -> OperateError {
    OperateError::S3 {
        operation,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        message: DisplayErrorContext(error).to_string(),
    }
}

fn is_not_found<E: ProvideErrorMetadata>(error: &aws_sdk_s3::error::SdkError<E>) -> bool {
    matches!(
        error.code(),
        Some("NoSuchKey" | "NotFound" | "NoSuchVersion")
    ) || error
        .raw_response()
        .is_some_and(|response| response.status().as_u16() == 404)
}

/// The part of `encoded` that every URL encoder leaves as it is: up to the first `%` or `+`.
/// Failure records are keyed by the key as S3's event spells it; listing from this part and
/// decoding what comes back does not depend on which characters S3 chooses to escape.
fn unescaped_head(encoded: &str) -> &str {
    let end = encoded.find(['%', '+']).unwrap_or(encoded.len());
    &encoded[..end]
}

impl Bucket {
    /// The bucket `name`, read through `client`, with `layout`'s prefixes.
    pub fn new(client: aws_sdk_s3::Client, name: &str, layout: KeyLayout) -> Bucket {
        Bucket {
            client,
            name: name.to_owned(),
            layout,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its key layout.
    pub fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    /// The current version of every object under `prefix` (delete markers and older
    /// versions left out), in key order.
    pub async fn objects(&self, prefix: &str) -> Result<Vec<ObjectVersion>, OperateError> {
        let mut objects = Vec::new();
        let mut key_marker = None;
        let mut version_marker = None;
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.name)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| s3_error("ListObjectVersions", &self.name, prefix, &e))?;
            for version in page.versions() {
                if version.is_latest() != Some(true) {
                    continue;
                }
                let Some(key) = version.key() else { continue };
                objects.push(ObjectVersion {
                    key: key.to_owned(),
                    version_id: version
                        .version_id()
                        .filter(|id| *id != "null")
                        .map(str::to_owned),
                    etag: version.e_tag().map(|e| e.trim_matches('"').to_owned()),
                    size: version
                        .size()
                        .and_then(|s| u64::try_from(s).ok())
                        .unwrap_or(0),
                });
            }
            if page.is_truncated() == Some(true) {
                key_marker = page.next_key_marker().map(str::to_owned);
                version_marker = page.next_version_id_marker().map(str::to_owned);
                if key_marker.is_none() {
                    break;
                }
            } else {
                break;
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    /// The current version of `key`, if it exists (not when its latest version is a delete
    /// marker). Read from the version listing, not with HeadObject: a HEAD needs
    /// `s3:GetObject` on the upload itself (AWS: HeadObject, "To use HEAD, you must have the
    /// s3:GetObject permission",
    /// <https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html>), which the
    /// stack's operator policy does not grant: it never reads the uploads' bytes.
    pub async fn object(&self, key: &str) -> Result<Option<ObjectVersion>, OperateError> {
        Ok(self.objects(key).await?.into_iter().find(|o| o.key == key))
    }

    async fn get_json(
        &self,
        key: &str,
    ) -> Result<Option<(Vec<u8>, Option<DateTime>)>, OperateError> {
        match self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
        {
            Ok(object) => {
                let modified = object.last_modified().copied();
                let body = object
                    .body
                    .collect()
                    .await
                    .map_err(|e| OperateError::S3 {
                        operation: "GetObject",
                        bucket: self.name.clone(),
                        key: key.to_owned(),
                        message: e.to_string(),
                    })?
                    .to_vec();
                Ok(Some((body, modified)))
            }
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(s3_error("GetObject", &self.name, key, &error)),
        }
    }

    /// The report of the input `key`, if there is one.
    pub async fn report(&self, key: &str) -> Result<Option<ReportHead>, OperateError> {
        let report_key = self.layout.report_key(key);
        let Some((body, last_modified)) = self.get_json(&report_key).await? else {
            return Ok(None);
        };
        let report: Value =
            serde_json::from_slice(&body).map_err(|e| OperateError::BadDocument {
                what: "report",
                bucket: self.name.clone(),
                key: report_key.clone(),
                message: e.to_string(),
            })?;
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let mut outputs: Vec<String> = Vec::new();
        let listed = |section: &Value, outputs: &mut Vec<String>| {
            for output in section["outputs"].as_array().map_or(&[][..], Vec::as_slice) {
                if let Some(key) = output["key"].as_str() {
                    outputs.push(key.to_owned());
                }
            }
        };
        listed(&report["contract"], &mut outputs);
        if let Some(stages) = report["stages"].as_object() {
            for stage in stages.values() {
                listed(stage, &mut outputs);
            }
        }
        Ok(Some(ReportHead {
            key: report_key,
            last_modified,
            version_id: text(&report["source"]["version_id"]),
            etag: text(&report["source"]["etag"]),
            route: text(&report["processing"]["processor"]),
            outputs,
        }))
    }

    /// Every failure record of an input under `prefix`, by decoded input key.
    pub async fn failure_records(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, OperateError> {
        let encoded = shared::encode_event_key(prefix);
        let list_prefix = format!("{}{}", shared::FAILURE_PREFIX, unescaped_head(&encoded));
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.name)
                .prefix(&list_prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| s3_error("ListObjectsV2", &self.name, &list_prefix, &e))?;
            for object in page.contents() {
                let Some(record_key) = object.key() else {
                    continue;
                };
                let Some(subject) = shared::failure_record_subject(record_key) else {
                    continue;
                };
                let Ok(key) = shared::decode_event_key(subject) else {
                    continue;
                };
                if key.starts_with(prefix) {
                    found.push((key, record_key.to_owned()));
                }
            }
            token = page.next_continuation_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(found)
    }

    /// The failure record at `record_key`, if it is there.
    pub async fn failure_record(
        &self,
        record_key: &str,
    ) -> Result<Option<FailureRecordHead>, OperateError> {
        let Some((body, last_modified)) = self.get_json(record_key).await? else {
            return Ok(None);
        };
        let record = serde_json::from_slice(&body).map_err(|e| OperateError::BadDocument {
            what: "failure record",
            bucket: self.name.clone(),
            key: record_key.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Some(FailureRecordHead {
            key: record_key.to_owned(),
            last_modified,
            record,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_records_are_listed_from_the_part_no_encoder_changes() {
        assert_eq!(unescaped_head("incoming/a+b%2B.csv"), "incoming/a");
        assert_eq!(unescaped_head("incoming/2024/"), "incoming/2024/");
        assert_eq!(unescaped_head(""), "");
    }

    #[test]
    fn a_report_matches_one_version_and_etag() {
        let object = ObjectVersion {
            key: "incoming/a.csv".into(),
            version_id: Some("v1".into()),
            etag: Some("e1".into()),
            size: 1,
        };
        let mut report = ReportHead {
            key: "processed/a.csv.report.json".into(),
            last_modified: None,
            version_id: Some("v1".into()),
            etag: Some("e1".into()),
            route: None,
            outputs: vec![],
        };
        assert!(report.matches(&object));
        report.version_id = Some("v0".into());
        assert!(!report.matches(&object));
    }
}
