//! Object-created notifications: what S3 would send to EventBridge after a write.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

/// How many notifications a slow subscriber may fall behind before it misses some (it then
/// receives [`broadcast::error::RecvError::Lagged`]).
pub const NOTIFICATION_BUFFER: usize = 4096;

/// The API call that created an object (EventBridge's `detail.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CreationReason {
    /// A single `PutObject`.
    PutObject,
    /// The `CompleteMultipartUpload` that ended a multipart upload.
    CompleteMultipartUpload,
    /// A `CopyObject` (the notification names the destination).
    CopyObject,
}

impl CreationReason {
    /// The name S3 uses in events: `"PutObject"`, `"CompleteMultipartUpload"`, `"CopyObject"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PutObject => "PutObject",
            Self::CompleteMultipartUpload => "CompleteMultipartUpload",
            Self::CopyObject => "CopyObject",
        }
    }
}

impl fmt::Display for CreationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An object was created (or overwritten): published after the write succeeded and before the
/// client gets its response, so a subscriber can read the object at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// The bucket.
    pub bucket: String,
    /// The object key, raw (not URL-encoded, unlike in S3's events).
    pub key: String,
    /// The object size in bytes.
    pub size: u64,
    /// The ETag, without quotes (see the crate docs for how it is computed).
    pub etag: String,
    /// The version id, in a versioned bucket (`None` in a bucket that never had versioning,
    /// and for a suspended bucket's `null` versions).
    pub version_id: Option<String>,
    /// Orders the events of the server: 18 upper-case hex digits, strictly increasing within a
    /// server, and based on the clock so that it keeps increasing across restarts on the same
    /// data folder. Compare as strings (fixed width), like S3's sequencer.
    pub sequencer: String,
    /// The API call that created the object.
    pub reason: CreationReason,
    /// When the write completed.
    pub time: SystemTime,
}

/// Publishes [`ObjectCreated`] to subscribers and numbers the events.
#[derive(Debug)]
pub(crate) struct Notifier {
    sender: broadcast::Sender<ObjectCreated>,
    last_sequence: AtomicU64,
}

impl Notifier {
    pub(crate) fn new() -> Self {
        let (sender, _) = broadcast::channel(NOTIFICATION_BUFFER);
        Self {
            sender,
            last_sequence: AtomicU64::new(0),
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ObjectCreated> {
        self.sender.subscribe()
    }

    /// Next sequencer: `max(previous + 1, nanoseconds since the epoch)`, as fixed-width hex.
    pub(crate) fn next_sequencer(&self, now: SystemTime) -> String {
        let clock = now.duration_since(UNIX_EPOCH).map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        });
        let next = |last: u64| last.saturating_add(1).max(clock);
        let previous = self
            .last_sequence
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(next(last)))
            .unwrap_or_else(|last| last);
        format!("{:018X}", next(previous))
    }

    /// Sends the event to the current subscribers (none: dropped).
    pub(crate) fn publish(&self, event: ObjectCreated) {
        tracing::debug!(bucket = %event.bucket, key = %event.key, reason = %event.reason, sequencer = %event.sequencer, "object created");
        // An error only means that nobody listens.
        let _ = self.sender.send(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sequencers_increase_strictly_even_when_the_clock_stands_still_or_goes_back() {
        let notifier = Notifier::new();
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let sequencers = [
            notifier.next_sequencer(now),
            notifier.next_sequencer(now),
            notifier.next_sequencer(now - Duration::from_mins(1)),
            notifier.next_sequencer(now + Duration::from_secs(1)),
        ];
        assert!(sequencers.is_sorted_by(|a, b| a < b), "{sequencers:?}");
        for sequencer in &sequencers {
            assert_eq!(sequencer.len(), 18);
            assert!(
                sequencer
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            );
        }
    }

    #[test]
    fn sequencers_follow_the_clock() {
        let later = Notifier::new().next_sequencer(UNIX_EPOCH + Duration::from_secs(2_000_000_000));
        let earlier =
            Notifier::new().next_sequencer(UNIX_EPOCH + Duration::from_secs(1_000_000_000));
        assert!(earlier < later);
    }
}
