//! The result never depends on where chunk boundaries fall.

use proptest::prelude::*;
use shared::Config;

use crate::support::{analyze, analyze_cut, gzip, lenient, outcome, zstd};

/// Small inputs with every boundary hazard: CRLF, quotes, multi-byte UTF-8, a BOM, JSON
/// strings with escapes, compressed streams, malformed records.
fn hazards() -> Vec<(&'static str, Vec<u8>)> {
    let csv = "id,name,when,score\r\n1,\"Zoë, \"\"the\"\" one\",2024-02-29,1.5\r\n2,日本語,2024-03-01T10:00:00Z,\r\n3,\"multi\nline\",,-7\r\n4,bad\"quote,x,1\n5,ragged\n".as_bytes().to_vec();
    let jsonl = "{\"a\":1,\"b\":\"x\\u00e9\",\"c\":[1,{\"d\":null}]}\n{\"a\":2.5,\"b\":\"日本\"}\r\n\n{not json}\n\"scalar\"\n".as_bytes().to_vec();
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(b"a;b\n1;2\n3;4\n");
    vec![
        ("csv", csv.clone()),
        ("jsonl", jsonl.clone()),
        ("bom", bom),
        ("tsv", b"x\ty\n1\t\n\t2\n".to_vec()),
        ("csv.gz", gzip(&csv)),
        ("jsonl.zst", zstd(&jsonl)),
        ("unterminated", b"a,b\n1,2\n\"open,3\n4,5\n".to_vec()),
        ("empty", Vec::new()),
        ("binary", b"PK\x03\x04\0\0\x01".to_vec()),
        (
            "binary-then-corrupt.zst",
            zstd_raw_block_then_corrupt(b"\0\0\0\0binary\0"),
        ),
        (
            "text-then-corrupt.zst",
            zstd_raw_block_then_corrupt(b"a,b\n1,2\n"),
        ),
        (
            "binary-then-corrupt.gz",
            gzip_stored_block_then_corrupt(b"\0\0\0\0binary\0"),
        ),
        (
            "text-then-corrupt.gz",
            gzip_stored_block_then_corrupt(b"a,b\n1,2\n"),
        ),
    ]
}

/// A zstd frame whose first block holds `content` as it is (a raw block) and whose second
/// block header has the reserved type: the decoder can hand out the content, then must fail.
/// (Found by the fuzzer: fed whole, zstd's streaming decoder returned the error alone.)
fn zstd_raw_block_then_corrupt(content: &[u8]) -> Vec<u8> {
    // Magic; descriptor 0 (no content size, no checksum); window descriptor 0 (1 KiB).
    let mut frame = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00];
    let raw_header = u32::try_from(content.len()).unwrap() << 3; // not last, raw
    frame.extend_from_slice(&raw_header.to_le_bytes()[..3]);
    frame.extend_from_slice(content);
    frame.extend_from_slice(&[0xff, 0xff, 0xff]); // last, reserved type
    frame
}

/// A gzip member whose deflate stream stores `content` in a stored block and then has a block
/// of the reserved type (RFC 1951, 3.2.3): the content can come out, then the stream fails.
fn gzip_stored_block_then_corrupt(content: &[u8]) -> Vec<u8> {
    let mut member = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let len = u16::try_from(content.len()).unwrap();
    member.push(0b000); // not final, stored
    member.extend_from_slice(&len.to_le_bytes());
    member.extend_from_slice(&(!len).to_le_bytes());
    member.extend_from_slice(content);
    member.push(0b111); // final, reserved type
    member.extend_from_slice(&[0; 8]);
    member
}

/// A configuration whose sniffing window is tiny, so format detection straddles chunks too.
fn small_sniff() -> Config {
    Config {
        sniff_bytes: 7,
        ..lenient()
    }
}

#[test]
fn every_single_split_point_gives_the_whole_input_result() {
    for config in [lenient(), small_sniff()] {
        for (name, input) in hazards() {
            let key = Some(name);
            let whole = outcome(analyze(&input, &config, key));
            for cut in 0..=input.len() {
                let split = outcome(analyze_cut(&input, &[cut], &config, key));
                assert_eq!(split, whole, "{name}: split at {cut}");
            }
        }
    }
}

#[test]
fn byte_by_byte_and_three_way_splits_give_the_whole_input_result() {
    for (name, input) in hazards() {
        let config = lenient();
        let key = Some(name);
        let whole = outcome(analyze(&input, &config, key));
        let every_byte: Vec<usize> = (1..input.len()).collect();
        assert_eq!(
            outcome(analyze_cut(&input, &every_byte, &config, key)),
            whole,
            "{name}"
        );
        let step = (input.len() / 11).max(1);
        for a in (0..input.len()).step_by(step) {
            for b in (a..input.len()).step_by(step) {
                let split = outcome(analyze_cut(&input, &[a, b], &config, key));
                assert_eq!(split, whole, "{name}: cuts at {a} and {b}");
            }
        }
    }
}

/// Text made of the bytes that matter to the parsers.
fn text_like() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        &b"a"[..],
        b"7",
        b"-1.5",
        b"2024-01-31",
        b"true",
        b",",
        b";",
        b"\t",
        b"|",
        b"\"",
        b"\"\"",
        b"\n",
        b"\r\n",
        b"\r",
        b" ",
        b"{\"k\":1}",
        b"[",
        b"}",
        b"\xc3\xa9",
        b"\xe6\x97\xa5",
        b"\xff",
        b"\0",
    ]);
    prop::collection::vec(pieces, 0..120).prop_map(|pieces| pieces.concat())
}

fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..=len, 0..8).prop_map(|mut cuts| {
        cuts.sort_unstable();
        cuts
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_inputs_and_random_chunkings_agree(
        (input, cuts) in text_like().prop_flat_map(|input| {
            let len = input.len();
            (Just(input), cuts(len))
        }),
        sniff in 1usize..64,
        key in prop::sample::select(vec![None, Some("x.csv"), Some("x.jsonl"), Some("x.tsv")]),
    ) {
        let config = Config { sniff_bytes: sniff, max_record_bytes: 48, ..lenient() };
        let whole = outcome(analyze(&input, &config, key));
        prop_assert_eq!(outcome(analyze_cut(&input, &cuts, &config, key)), whole);
    }

    #[test]
    fn random_compressed_inputs_and_chunkings_agree(
        input in text_like(),
        seed in any::<u64>(),
        use_zstd in any::<bool>(),
    ) {
        let compressed = if use_zstd { zstd(&input) } else { gzip(&input) };
        let config = Config { sniff_bytes: 16, ..lenient() };
        let whole = outcome(analyze(&compressed, &config, None));
        let mut cuts: Vec<usize> = (0..5)
            .map(|i| (seed.rotate_left(i * 13) % (compressed.len() as u64 + 1)) as usize)
            .collect();
        cuts.sort_unstable();
        prop_assert_eq!(&outcome(analyze_cut(&compressed, &cuts, &config, None)), &whole);
        // Decompression never changes the result either.
        let plain = outcome(analyze(&input, &config, None));
        match (&whole, &plain) {
            (crate::support::Outcome::Analysis(a), crate::support::Outcome::Analysis(b)) => {
                prop_assert_eq!(&a.columns, &b.columns);
                prop_assert_eq!(a.records, b.records);
            }
            _ => prop_assert_eq!(whole, plain),
        }
    }
}
