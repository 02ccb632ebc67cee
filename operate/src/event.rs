//! The `Object Created` event EventBridge delivers for an object, made for an object that is
//! already in the bucket (`reprocess`): the same envelope and `detail`
//! ([`shared::ObjectCreatedDetail`]), pinned to the object's current version.
//!
//! What the pipeline's state machine reads of it is `detail.bucket.name` and `detail.object`;
//! the rest is there so that an execution started by `reprocess` looks like one EventBridge
//! started. The sequencer is left out (S3 gives it only in the event): a processor then
//! orders by the version alone.
//!
//! The envelope (`version` "0", `id`, `detail-type` "Object Created", `source` "aws.s3",
//! `account`, `time`, `region`, `resources` with the bucket's ARN, `detail`) is the one S3
//! documents: <https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html>.

use serde_json::{Value, json};
use shared::{BucketName, JobObject, ObjectCreatedDetail, encode_event_key};

use crate::bucket::ObjectVersion;

/// What the envelope says of where the event comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventOrigin {
    /// The account (`account`, `requester`).
    pub account: String,
    /// The region (`region`).
    pub region: String,
}

impl EventOrigin {
    /// The account and region of a state machine's ARN
    /// (`arn:<partition>:states:<region>:<account>:stateMachine:<name>`).
    pub fn of_state_machine(arn: &str) -> Option<EventOrigin> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", _, "states", region, account, "stateMachine", name]
                if !region.is_empty() && !account.is_empty() && !name.is_empty() =>
            {
                Some(EventOrigin {
                    account: (*account).to_owned(),
                    region: (*region).to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// The event for `object` of `bucket`: key form-URL-encoded as S3 spells it, size, etag,
/// version id; `id` is the event's id, `time` its RFC 3339 time.
pub fn object_created(
    bucket: &str,
    object: &ObjectVersion,
    origin: &EventOrigin,
    id: &str,
    time: &str,
) -> Value {
    let detail = ObjectCreatedDetail {
        version: Some("0".into()),
        bucket: BucketName {
            name: bucket.to_owned(),
        },
        object: JobObject {
            key: encode_event_key(&object.key),
            size: object.size,
            etag: object.etag.clone(),
            version_id: object.version_id.clone(),
            sequencer: None,
        },
        request_id: None,
        requester: Some(origin.account.clone()),
        source_ip_address: None,
        reason: Some("PutObject".into()),
    };
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": origin.account,
        "time": time,
        "region": origin.region,
        "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope has the members of the fixture the Lambda's tests hold (an event as
    /// AWS's documentation shows it), and its `detail` reads back as the job it carries.
    #[test]
    fn the_event_has_the_shape_eventbridge_delivers() {
        let fixture: Value = serde_json::from_str(include_str!(
            "../../lambda-processor/tests/fixtures/object-created.json"
        ))
        .unwrap();
        let origin = EventOrigin::of_state_machine(
            "arn:aws:states:ca-central-1:111122223333:stateMachine:pipeline",
        )
        .unwrap();
        let object = ObjectVersion {
            key: "incoming/a b+c.csv".into(),
            version_id: Some("IYV3p45BhZA4JpKjD3pH7ucWFNvqsRd5".into()),
            etag: Some("b1946ac92492d2347c6235b4d2611184".into()),
            size: 5,
        };
        let event = object_created(
            "amzn-s3-demo-bucket1",
            &object,
            &origin,
            "17793124-05d4-b198-2fde-7ededc63b103",
            "2021-11-12T00:00:00Z",
        );
        let members = |value: &Value| {
            let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(members(&event), members(&fixture));
        for member in [
            "version",
            "detail-type",
            "source",
            "account",
            "region",
            "resources",
            "time",
        ] {
            assert_eq!(event[member], fixture[member], "{member}");
        }
        let detail: ObjectCreatedDetail = serde_json::from_value(event["detail"].clone()).unwrap();
        let job = shared::Job::from(detail);
        assert_eq!(job.key().unwrap(), "incoming/a b+c.csv");
        assert_eq!(job.object.key, "incoming/a+b%2Bc.csv");
        assert_eq!(job.object.version_id, object.version_id);
        assert_eq!(
            event["detail"]["object"]["version-id"],
            fixture["detail"]["object"]["version-id"]
        );
        assert_eq!(EventOrigin::of_state_machine("arn:aws:states:x"), None);
    }
}
