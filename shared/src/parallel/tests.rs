//! Tests of the pipeline: guesses taken or parsed again, the merger's share of the parsing,
//! row groups ahead of ranges, range sizes and memory, and the workers' priority. (That
//! every output equals one thread's is tested in `shared/tests/parallel.rs` and
//! `parallel_contracts.rs`, and fuzzed.)

use super::pipeline::{
    FIRST_RANGE_BYTES, Job, LAST_PIECE_BYTES, Range, RangeFormat, WORKER_NICENESS,
    yield_to_the_feeding_thread,
};
use super::*;
use crate::parquet_output::EncodeHelpers;

#[test]
fn range_buffers_keep_a_bounded_number_of_emptied_buffers_with_room() {
    let buffers = RangeBuffers::new(2);
    buffers.give(Vec::new());
    assert!(buffers.take().is_none(), "a buffer of no room is not kept");
    for _ in 0..3 {
        buffers.give(vec![7; 10]);
    }
    let kept: Vec<Vec<u8>> = std::iter::from_fn(|| buffers.take()).collect();
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|b| b.is_empty() && b.capacity() == 10));
}

fn parallelism(threads: usize, range_bytes: usize) -> Parallelism {
    Parallelism::with_threads(threads).with_range_bytes(range_bytes)
}

/// Runs a pipeline over `text` and returns the ranges the merger parsed itself.
fn reparsed<F: RangeFormat>(format: F, text: &[u8], range_bytes: usize) -> (usize, usize) {
    let mut pipeline = Pipeline::new(format, parallelism(2, range_bytes), 0);
    pipeline.feed(text).unwrap();
    pipeline.merge_all().unwrap();
    (pipeline.reparsed, pipeline.sent)
}

/// Comma-separated text with a header, no contract.
fn delimited() -> Delimited {
    Delimited {
        delimiter: b',',
        header: true,
        config: Arc::new(Config::default()),
        contract: None,
    }
}

fn csv(rows: usize, quoted_break_every: usize) -> Vec<u8> {
    let mut text = b"id,name\n".to_vec();
    for i in 0..rows {
        if i % quoted_break_every == 0 {
            text.extend_from_slice(format!("{i},\"a\nb\"\n").as_bytes());
        } else {
            text.extend_from_slice(format!("{i},plain\n").as_bytes());
        }
    }
    text
}

#[test]
fn right_guesses_are_taken_and_wrong_ones_reparsed() {
    // No quoted line break: every guess is right.
    assert_eq!(reparsed(delimited(), &csv(5_000, usize::MAX), 4_096).0, 0);
    // A few: most guesses are still right.
    let (wrong, ranges) = reparsed(delimited(), &csv(5_000, 50), 4_096);
    assert!(wrong * 4 < ranges, "{wrong} of {ranges}");
    // JSON Lines never guesses.
    let mut lines = Vec::new();
    for i in 0..5_000 {
        lines.extend_from_slice(format!("{{\"i\":{i}}}\n").as_bytes());
    }
    let json_lines = JsonLines {
        config: Arc::new(Config::default()),
        contract: None,
    };
    assert_eq!(reparsed(json_lines, &lines, 4_096).0, 0);
}

#[test]
fn the_merger_is_one_of_the_threads_that_parse() {
    // Hundreds of small ranges fed at once: the window fills, and the merger parses
    // the ranges waiting for a worker.
    let text = csv(20_000, 7);
    for threads in [1, 2, 3] {
        let mut pipeline = csv_pipeline(parallelism(threads, 1_024));
        pipeline.feed(&text).unwrap();
        pipeline.merge_all().unwrap();
        assert_eq!(pipeline.workers.len(), threads - 1);
        if threads == 1 {
            assert_eq!(pipeline.merger_parsed, pipeline.sent);
        } else {
            assert!(pipeline.merger_parsed > 0, "{threads} threads");
        }
        let merged = pipeline.finish().unwrap();
        assert_eq!((merged.total, merged.valid), (20_000, 20_000));
    }
}

#[test]
fn a_row_group_to_encode_goes_ahead_of_the_ranges() {
    use crate::contract::{ColumnSpec, ColumnType, Constraints, Value};
    use crate::parquet_output::{ParquetOptions, ParquetWriter};
    let jobs = Arc::new(JobQueue::default());
    jobs.add_worker();
    let range = |start| {
        Arc::new(Range {
            start,
            before: None,
            bytes: b"1,2\n".to_vec(),
        })
    };
    assert!(jobs.push(0, range(0)));
    let columns = ["a", "b"].map(|name| ColumnSpec {
        name: name.into(),
        column_type: ColumnType::Int64,
        nullable: false,
        constraints: Constraints::default(),
    });
    let options = ParquetOptions {
        max_row_group_rows: 1,
        ..ParquetOptions::default()
    };
    let mut writer = ParquetWriter::new(&columns, Vec::new(), options).unwrap();
    writer.encode_with(Arc::clone(&jobs) as Arc<dyn EncodeHelpers>);
    let row = [Some(Value::Int64(1)), Some(Value::Int64(2))];
    // A full row group: offered to the one worker (and encoded by the writer's thread,
    // as no worker runs here).
    writer.push(&row).unwrap();
    assert!(matches!(jobs.next(), Some(Job::Encode(_))));
    assert!(matches!(jobs.next(), Some(Job::Parse(0, _))));
    // The merger takes the ranges only, dropping row groups left queued.
    assert!(jobs.push(1, range(4)));
    writer.push(&row).unwrap();
    assert!(matches!(jobs.take_waiting(), Some((1, _))));
    assert!(jobs.take_waiting().is_none());
    // Once closed: no job in, none out, and the writer encodes alone.
    jobs.close();
    assert!(!jobs.push(2, range(8)));
    writer.push(&row).unwrap();
    assert!(jobs.next().is_none());
    assert_eq!(writer.finish().unwrap().1.row_groups, 3);
}

#[test]
fn the_last_range_is_shared_by_the_workers() {
    let text = csv(5_000, usize::MAX);
    assert!((40_000..65_536).contains(&text.len()), "{}", text.len());
    // Shorter than a range: one piece per worker, each guessed right.
    assert_eq!(reparsed(delimited(), &text, 65_536), (0, 2));
    // Pieces are never shorter than the range size over the threads: a short text
    // stays whole.
    assert_eq!(reparsed(delimited(), &text[..1_000], 65_536), (0, 1));
    // The full ranges, then the short last one: in two when longer than half a range.
    for range in [4_096, 3_000, 1_000] {
        let (full, last) = (text.len() / range, text.len() % range);
        let pieces = if last > range / 2 { 2 } else { 1 };
        assert_eq!(
            reparsed(delimited(), &text, range).1,
            full + pieces,
            "{range}"
        );
    }
}

#[test]
fn a_zstd_stream_is_cut_into_frames_for_any_thread() {
    let text = csv(20_000, 7);
    // As `pzstd` writes: each frame behind a skippable frame that holds its size.
    let mut stream = Vec::new();
    let parts = text.chunks(10_000);
    let frames = parts.len();
    for part in parts {
        let frame = zstd::encode_all(part, 1).unwrap();
        stream.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]);
        stream.extend_from_slice(&u32::try_from(frame.len()).unwrap().to_le_bytes());
        stream.extend(frame);
    }
    let config = Config::default();
    let mut one = Processor::new(config.clone(), Some("x.csv.zst"));
    one.feed(&stream).unwrap();
    let expected = one.finish().unwrap();
    for threads in [FRAME_THREADS, 8] {
        let mut processor = ParallelProcessor::new(
            config.clone(),
            Some("x.csv.zst"),
            parallelism(threads, 4096),
        );
        for chunk in stream.chunks(5_000) {
            processor.feed(chunk).unwrap();
        }
        let Inner::Parallel(streaming) = &processor.inner else {
            panic!("{threads} threads on one");
        };
        let frames_cut = streaming
            .body
            .as_ref()
            .and_then(|body| body.frames.as_ref());
        // All but the frames decoded to sniff the text (64 KiB: the first 7) and those in
        // the chunk being fed when the first worker started. (Which threads decompress
        // them depends on the timing.)
        let cut = frames_cut.map_or(0, |frames| frames.cut);
        assert!(
            cut + 9 >= frames,
            "{threads} threads: {cut} of {frames} cut out"
        );
        assert_eq!(processor.finish().unwrap(), expected, "{threads} threads");
    }
}

/// A pipeline of comma-separated text with a header, profiled only.
fn csv_pipeline(parallelism: Parallelism) -> Pipeline<Delimited> {
    Pipeline::new(delimited(), parallelism, 0)
}

/// Feeds `text` to `pipeline` and returns the size of each range it sent.
fn sent_sizes(pipeline: &mut Pipeline<Delimited>, text: &[u8]) -> Vec<usize> {
    let mut sizes = Vec::new();
    for chunk in text.chunks(4_096) {
        pipeline.feed(chunk).unwrap();
        if pipeline.sent > sizes.len() {
            sizes.extend(pipeline.in_flight.back().map(|range| range.bytes.len()));
        }
    }
    sizes
}

#[test]
fn memory_is_bounded_by_the_window() {
    let parallelism = parallelism(3, 1 << 20);
    assert_eq!(parallelism.window(), 6);
    assert_eq!(parallelism.buffered_bytes(), 7 << 20);
    assert_eq!(Parallelism::with_threads(1).buffered_bytes(), 0);
    // The window is never passed while feeding.
    let mut pipeline = csv_pipeline(Parallelism::with_threads(2).with_range_bytes(1_000));
    for chunk in csv(20_000, 7).chunks(333) {
        pipeline.feed(chunk).unwrap();
        assert!(pipeline.in_flight.len() <= 4);
        assert!(pipeline.filling.len() < 1_000);
    }
    pipeline.finish().unwrap();
}

#[test]
fn pieces_fed_as_ranges_are_sent_as_they_are() {
    let text = csv(20_000, 7);
    let mut pipeline = csv_pipeline(parallelism(2, 4_096));
    // The first ranges, copied in.
    pipeline.feed(&text[..10_000]).unwrap();
    let sent = pipeline.sent;
    assert!(sent > 0 && !pipeline.filling.is_empty());
    // A whole range: the short one being filled goes first, then the piece itself.
    let piece = text[10_000..14_096].to_vec();
    let piece_at = piece.as_ptr();
    pipeline.feed_range(piece).unwrap();
    assert_eq!(pipeline.sent, sent + 2);
    let last = pipeline.in_flight.back().unwrap();
    assert_eq!((last.bytes.as_ptr(), last.bytes.len()), (piece_at, 4_096));
    // A shorter one is filled on.
    pipeline.feed_range(text[14_096..15_000].to_vec()).unwrap();
    assert_eq!(pipeline.sent, sent + 2);
    pipeline.feed(&text[15_000..]).unwrap();
    let merged = pipeline.finish().unwrap();
    assert_eq!(merged.total, 20_000);
    assert_eq!(merged.malformed.count(), 0);
}

#[cfg(target_os = "linux")]
#[test]
fn a_worker_runs_at_a_lower_priority_than_the_thread_that_feeds_it() {
    use rustix::process::getpriority_process;
    let feeding = getpriority_process(Some(rustix::thread::gettid())).unwrap();
    let worker = std::thread::spawn(|| {
        yield_to_the_feeding_thread();
        getpriority_process(Some(rustix::thread::gettid())).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(worker, (feeding + WORKER_NICENESS).min(19));
    // The feeding thread keeps its own.
    assert_eq!(
        getpriority_process(Some(rustix::thread::gettid())).unwrap(),
        feeding
    );
}

#[test]
fn the_first_ranges_grow_to_the_range_size() {
    let text = csv(400_000, 7);
    let range_bytes = 4 * FIRST_RANGE_BYTES + 1;
    assert!(text.len() > 3 * range_bytes, "{}", text.len());
    let mut pipeline = csv_pipeline(Parallelism::with_threads(8).with_range_bytes(range_bytes));
    let sizes = sent_sizes(&mut pipeline, &text);
    let first = FIRST_RANGE_BYTES;
    assert_eq!(
        sizes[..5],
        [first, 2 * first, 4 * first, range_bytes, range_bytes]
    );
    pipeline.finish().unwrap();
}

#[test]
fn the_last_ranges_shrink_towards_the_expected_end() {
    let text = csv(400_000, 7);
    let threads = 2;
    let range_bytes = 1 << 20;
    let mut pipeline =
        csv_pipeline(Parallelism::with_threads(threads).with_range_bytes(range_bytes))
            .ending_at(Some(text.len() as u64));
    let sizes = sent_sizes(&mut pipeline, &text);
    pipeline.finish().unwrap();
    // Full ranges while more than a range per share is left, then a share of what is
    // left, down to the smallest piece.
    let full = sizes.iter().position(|&size| size == range_bytes).unwrap();
    let last_full = sizes.iter().rposition(|&size| size == range_bytes).unwrap();
    assert!(
        sizes[full..=last_full]
            .iter()
            .all(|&size| size == range_bytes)
    );
    let mut start: usize = sizes[..=last_full].iter().sum();
    for &size in &sizes[last_full + 1..] {
        let share = (text.len() - start) / (2 * threads);
        assert_eq!(size, share.max(LAST_PIECE_BYTES), "{sizes:?}");
        start += size;
    }
    assert!(sizes.len() > last_full + 5, "{sizes:?}");
}
