//! `encoding-type=url` for listings: a client that asks for encoded keys (the AWS CLI always
//! does) decodes them, so raw keys would turn `a+b` into `a b`. S3 encodes the keys and
//! prefixes; we do the same.

use s3s::dto::{CommonPrefix, EncodingType, ListObjectsOutput, ListObjectsV2Output, Object};

/// Percent-encodes `value` as S3 does for `encoding-type=url`: the one encoder of event keys,
/// [`shared::encode_event_key`] (unreserved characters and `/` stay, a space becomes `+`,
/// every other byte `%XX`).
pub(crate) fn url_encode(value: &str) -> String {
    shared::encode_event_key(value)
}

fn wants_url(encoding: Option<&EncodingType>) -> bool {
    encoding.is_some_and(|e| e.as_str() == EncodingType::URL)
}

fn encode_in_place(value: &mut Option<String>) {
    if let Some(value) = value.as_mut() {
        *value = url_encode(value);
    }
}

fn encode_entries(contents: Option<&mut Vec<Object>>, prefixes: Option<&mut Vec<CommonPrefix>>) {
    for object in contents.into_iter().flatten() {
        encode_in_place(&mut object.key);
    }
    for prefix in prefixes.into_iter().flatten() {
        encode_in_place(&mut prefix.prefix);
    }
}

/// Encodes what S3 encodes in a ListObjectsV2 answer: keys, common prefixes, `Delimiter`,
/// `Prefix`, `StartAfter` (continuation tokens are opaque and stay as they are).
pub(crate) fn encode_v2(output: &mut ListObjectsV2Output) {
    if !wants_url(output.encoding_type.as_ref()) {
        return;
    }
    encode_entries(output.contents.as_mut(), output.common_prefixes.as_mut());
    encode_in_place(&mut output.delimiter);
    encode_in_place(&mut output.prefix);
    encode_in_place(&mut output.start_after);
}

/// Encodes what S3 encodes in a ListObjects (v1) answer: keys, common prefixes, `Delimiter`,
/// `Marker`, `NextMarker`.
pub(crate) fn encode_v1(output: &mut ListObjectsOutput) {
    if !wants_url(output.encoding_type.as_ref()) {
        return;
    }
    encode_entries(output.contents.as_mut(), output.common_prefixes.as_mut());
    encode_in_place(&mut output.delimiter);
    encode_in_place(&mut output.marker);
    encode_in_place(&mut output.next_marker);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_s3() {
        assert_eq!(
            url_encode("incoming/a b+c%d.csv"),
            "incoming/a+b%2Bc%25d.csv"
        );
        assert_eq!(url_encode("é/日"), "%C3%A9/%E6%97%A5");
        assert_eq!(url_encode("A-z_0.9~"), "A-z_0.9~");
        assert_eq!(url_encode("a&b=c?d#e"), "a%26b%3Dc%3Fd%23e");
    }

    #[test]
    fn leaves_listings_alone_without_encoding_type() {
        let mut output = ListObjectsV2Output {
            contents: Some(vec![Object {
                key: Some("a b".to_owned()),
                ..Object::default()
            }]),
            ..ListObjectsV2Output::default()
        };
        encode_v2(&mut output);
        assert_eq!(output.contents.unwrap()[0].key.as_deref(), Some("a b"));
    }

    #[test]
    fn encodes_keys_and_prefixes_when_asked() {
        let mut output = ListObjectsV2Output {
            encoding_type: Some(EncodingType::from(EncodingType::URL.to_owned())),
            contents: Some(vec![Object {
                key: Some("in/a b".to_owned()),
                ..Object::default()
            }]),
            common_prefixes: Some(vec![CommonPrefix {
                prefix: Some("in/c+d/".to_owned()),
            }]),
            prefix: Some("in/".to_owned()),
            next_continuation_token: Some("in/a b".to_owned()),
            ..ListObjectsV2Output::default()
        };
        encode_v2(&mut output);
        assert_eq!(output.contents.unwrap()[0].key.as_deref(), Some("in/a+b"));
        assert_eq!(
            output.common_prefixes.unwrap()[0].prefix.as_deref(),
            Some("in/c%2Bd/")
        );
        assert_eq!(output.next_continuation_token.as_deref(), Some("in/a b"));
    }
}
