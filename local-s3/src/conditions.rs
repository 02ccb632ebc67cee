//! Read preconditions (`If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`
//! on GetObject and HeadObject), evaluated as S3 and RFC 9110 §13.2.2 do: before Range.

use http::HeaderMap;
use http::header::{ETAG, LAST_MODIFIED};
use s3s::dto::{ETag, ETagCondition, Timestamp, TimestampFormat};
use s3s::{S3Error, S3ErrorCode};

/// The preconditions of one read request.
#[derive(Debug, Clone, Default)]
#[allow(clippy::struct_field_names, reason = "named after the HTTP headers")]
pub(crate) struct ReadConditions {
    pub(crate) if_match: Option<ETagCondition>,
    pub(crate) if_none_match: Option<ETagCondition>,
    pub(crate) if_modified_since: Option<Timestamp>,
    pub(crate) if_unmodified_since: Option<Timestamp>,
}

/// The outcome of evaluating [`ReadConditions`] against the current object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Serve the object.
    Proceed,
    /// `304 Not Modified`.
    NotModified,
    /// `412 Precondition Failed`, naming the condition that failed.
    PreconditionFailed(&'static str),
}

impl ReadConditions {
    pub(crate) fn is_empty(&self) -> bool {
        self.if_match.is_none()
            && self.if_none_match.is_none()
            && self.if_modified_since.is_none()
            && self.if_unmodified_since.is_none()
    }

    /// RFC 9110 order, which is also S3's: `If-Match` (else `If-Unmodified-Since`) may fail with
    /// 412; then `If-None-Match` (else `If-Modified-Since`) may answer 304. So `If-Match` true
    /// with `If-Unmodified-Since` false serves the object, and `If-None-Match` false with
    /// `If-Modified-Since` true answers 304, as S3 documents. Dates compare at whole seconds,
    /// the precision of HTTP dates.
    pub(crate) fn evaluate(&self, etag: &ETag, last_modified: &Timestamp) -> Verdict {
        let modified = seconds(last_modified);
        if let Some(condition) = &self.if_match {
            let matches = match condition {
                ETagCondition::Any => true,
                ETagCondition::ETag(wanted) => wanted.strong_cmp(etag),
            };
            if !matches {
                return Verdict::PreconditionFailed("If-Match");
            }
        } else if self
            .if_unmodified_since
            .as_ref()
            .is_some_and(|since| modified > seconds(since))
        {
            return Verdict::PreconditionFailed("If-Unmodified-Since");
        }

        if let Some(condition) = &self.if_none_match {
            let matches = match condition {
                ETagCondition::Any => true,
                ETagCondition::ETag(unwanted) => unwanted.weak_cmp(etag),
            };
            if matches {
                return Verdict::NotModified;
            }
        } else if self
            .if_modified_since
            .as_ref()
            .is_some_and(|since| modified <= seconds(since))
        {
            return Verdict::NotModified;
        }
        Verdict::Proceed
    }
}

impl Verdict {
    /// The error to answer with, or `None` to serve the object. A 304 carries the object's
    /// `ETag` and `Last-Modified`, as S3's does.
    pub(crate) fn into_error(self, etag: &ETag, last_modified: &Timestamp) -> Option<S3Error> {
        match self {
            Self::Proceed => None,
            Self::PreconditionFailed(condition) => Some(S3Error::with_message(
                S3ErrorCode::PreconditionFailed,
                format!(
                    "At least one of the pre-conditions you specified did not hold: {condition}"
                ),
            )),
            Self::NotModified => {
                let mut error = S3Error::new(S3ErrorCode::NotModified);
                let mut headers = HeaderMap::new();
                if let Ok(value) = etag.to_http_header() {
                    headers.insert(ETAG, value);
                }
                let mut date = Vec::new();
                if last_modified
                    .format(TimestampFormat::HttpDate, &mut date)
                    .is_ok()
                    && let Ok(value) = http::HeaderValue::from_bytes(&date)
                {
                    headers.insert(LAST_MODIFIED, value);
                }
                error.set_headers(headers);
                Some(error)
            }
        }
    }
}

fn seconds(timestamp: &Timestamp) -> i64 {
    time::OffsetDateTime::from(timestamp.clone()).unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn etag(value: &str) -> ETag {
        ETag::Strong(value.to_owned())
    }

    fn at(seconds: u64, millis: u64) -> Timestamp {
        Timestamp::from(UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_millis(millis))
    }

    fn verdict(conditions: &ReadConditions) -> Verdict {
        conditions.evaluate(&etag("abc"), &at(1000, 700))
    }

    #[test]
    fn if_match_compares_strongly() {
        let with = |c| ReadConditions {
            if_match: Some(c),
            ..ReadConditions::default()
        };
        assert_eq!(
            verdict(&with(ETagCondition::ETag(etag("abc")))),
            Verdict::Proceed
        );
        assert_eq!(verdict(&with(ETagCondition::Any)), Verdict::Proceed);
        assert_eq!(
            verdict(&with(ETagCondition::ETag(etag("xyz")))),
            Verdict::PreconditionFailed("If-Match")
        );
        assert_eq!(
            verdict(&with(ETagCondition::ETag(ETag::Weak("abc".to_owned())))),
            Verdict::PreconditionFailed("If-Match")
        );
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let with = |c| ReadConditions {
            if_none_match: Some(c),
            ..ReadConditions::default()
        };
        assert_eq!(
            verdict(&with(ETagCondition::ETag(etag("abc")))),
            Verdict::NotModified
        );
        assert_eq!(
            verdict(&with(ETagCondition::ETag(ETag::Weak("abc".to_owned())))),
            Verdict::NotModified
        );
        assert_eq!(verdict(&with(ETagCondition::Any)), Verdict::NotModified);
        assert_eq!(
            verdict(&with(ETagCondition::ETag(etag("xyz")))),
            Verdict::Proceed
        );
    }

    #[test]
    fn dates_compare_at_whole_seconds() {
        let unmodified = |t| ReadConditions {
            if_unmodified_since: Some(t),
            ..ReadConditions::default()
        };
        assert_eq!(verdict(&unmodified(at(1000, 0))), Verdict::Proceed);
        assert_eq!(
            verdict(&unmodified(at(999, 999))),
            Verdict::PreconditionFailed("If-Unmodified-Since")
        );
        let modified = |t| ReadConditions {
            if_modified_since: Some(t),
            ..ReadConditions::default()
        };
        assert_eq!(verdict(&modified(at(1000, 0))), Verdict::NotModified);
        assert_eq!(verdict(&modified(at(999, 0))), Verdict::Proceed);
    }

    #[test]
    fn etag_conditions_take_precedence_over_dates_as_s3_documents() {
        // If-Match true and If-Unmodified-Since false: 200.
        let c = ReadConditions {
            if_match: Some(ETagCondition::ETag(etag("abc"))),
            if_unmodified_since: Some(at(1, 0)),
            ..ReadConditions::default()
        };
        assert_eq!(verdict(&c), Verdict::Proceed);
        // If-None-Match false and If-Modified-Since true: 304.
        let c = ReadConditions {
            if_none_match: Some(ETagCondition::ETag(etag("abc"))),
            if_modified_since: Some(at(1, 0)),
            ..ReadConditions::default()
        };
        assert_eq!(verdict(&c), Verdict::NotModified);
        // A failed If-Match wins over a matching If-None-Match.
        let c = ReadConditions {
            if_match: Some(ETagCondition::ETag(etag("xyz"))),
            if_none_match: Some(ETagCondition::ETag(etag("abc"))),
            ..ReadConditions::default()
        };
        assert_eq!(verdict(&c), Verdict::PreconditionFailed("If-Match"));
    }

    #[test]
    fn not_modified_carries_etag_and_last_modified() {
        let error = Verdict::NotModified
            .into_error(&etag("abc"), &at(1000, 0))
            .unwrap();
        assert_eq!(error.code(), &S3ErrorCode::NotModified);
        let headers = error.headers().unwrap();
        assert_eq!(headers[ETAG], "\"abc\"");
        assert_eq!(headers[LAST_MODIFIED], "Thu, 01 Jan 1970 00:16:40 GMT");
        assert!(
            Verdict::Proceed
                .into_error(&etag("abc"), &at(0, 0))
                .is_none()
        );
    }
}
