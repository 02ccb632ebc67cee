//! Identifiers Lambda makes up: request ids, X-Ray trace ids, log stream names.
//!
//! Random enough to be unique per process and run, from the standard library's randomly keyed
//! hasher: no random-number crate for ids nobody checks cryptographically.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 64 random-looking bits, different at every call.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    RandomState::new().hash_one((count, since_epoch(SystemTime::now()), std::process::id()))
}

fn since_epoch(time: SystemTime) -> Duration {
    time.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Milliseconds since the Unix epoch, the unit of `Lambda-Runtime-Deadline-Ms`.
pub(crate) fn epoch_millis(time: SystemTime) -> u64 {
    u64::try_from(since_epoch(time).as_millis()).unwrap_or(u64::MAX)
}

/// A request id in the shape Lambda uses: a version 4 UUID.
pub(crate) fn request_id() -> String {
    let high = random_u64();
    let low = random_u64();
    // Version 4 in the third group, variant 10xx in the fourth.
    let time_hi = (high & 0x0fff) | 0x4000;
    let clock_seq = ((low >> 48) & 0x3fff) | 0x8000;
    format!(
        "{:08x}-{:04x}-{time_hi:04x}-{clock_seq:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        low & 0xffff_ffff_ffff
    )
}

/// An X-Ray trace header as Lambda passes it in `Lambda-Runtime-Trace-Id` (not sampled).
pub(crate) fn trace_id(now: SystemTime) -> String {
    format!(
        "Root=1-{:08x}-{:012x}{:012x};Parent={:016x};Sampled=0",
        since_epoch(now).as_secs() & 0xffff_ffff,
        random_u64() & 0xffff_ffff_ffff,
        random_u64() & 0xffff_ffff_ffff,
        random_u64()
    )
}

/// A log stream name in Lambda's shape: `2024/05/01/[$LATEST]` and 32 hexadecimal digits.
pub(crate) fn log_stream_name(now: SystemTime) -> String {
    let (year, month, day) = civil_date(since_epoch(now).as_secs() / 86_400);
    format!(
        "{year:04}/{month:02}/{day:02}/[$LATEST]{:016x}{:016x}",
        random_u64(),
        random_u64()
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days since 0000-03-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids_and_differ() {
        let first = request_id();
        let second = request_id();
        assert_ne!(first, second);
        let groups: Vec<&str> = first.split('-').collect();
        assert_eq!(
            groups.iter().map(|group| group.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{first}");
        assert!(
            matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{first}"
        );
        assert!(first.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
    }

    #[test]
    fn trace_ids_have_the_x_ray_shape() {
        let trace = trace_id(UNIX_EPOCH + Duration::from_secs(0x6650_0000));
        let (root, rest) = trace.split_once(';').unwrap();
        assert!(root.starts_with("Root=1-66500000-"), "{trace}");
        assert_eq!(root.len(), "Root=1-".len() + 8 + 1 + 24);
        assert!(rest.starts_with("Parent=") && rest.ends_with(";Sampled=0"));
    }

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(59), (1970, 3, 1));
        assert_eq!(civil_date(10_957), (2000, 1, 1));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(19_782), (2024, 2, 29));
        assert_eq!(civil_date(20_089), (2025, 1, 1));
    }

    #[test]
    fn log_stream_names_have_lambdas_shape() {
        let name = log_stream_name(UNIX_EPOCH + Duration::from_secs(20_089 * 86_400 + 5));
        assert!(name.starts_with("2025/01/01/[$LATEST]"), "{name}");
        assert_eq!(name.len(), "2025/01/01/[$LATEST]".len() + 32);
    }
}
