//! One read-write lock per object key, so that a write (data, metadata and ETag, which s3s-fs
//! stores in three steps) and a conditional check are atomic with respect to the other
//! requests for the same key, as they are on S3.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

type ObjectId = (String, String);

/// Creates locks on demand and forgets them when nobody holds them.
#[derive(Debug)]
pub(crate) struct KeyLocks {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    locks: HashMap<ObjectId, Weak<RwLock<()>>>,
    /// Dead entries are swept when the map reaches this size.
    sweep_at: usize,
}

const MIN_SWEEP: usize = 1024;

impl Default for KeyLocks {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                locks: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        }
    }
}

impl KeyLocks {
    /// Shared access: reads of the same key run together.
    pub(crate) async fn read(&self, bucket: &str, key: &str) -> OwnedRwLockReadGuard<()> {
        self.lock_for(bucket, key).read_owned().await
    }

    /// Exclusive access: waits for the other readers and writers of the key.
    pub(crate) async fn write(&self, bucket: &str, key: &str) -> OwnedRwLockWriteGuard<()> {
        self.lock_for(bucket, key).write_owned().await
    }

    fn lock_for(&self, bucket: &str, key: &str) -> Arc<RwLock<()>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let id = (bucket.to_owned(), key.to_owned());
        if let Some(lock) = state.locks.get(&id).and_then(Weak::upgrade) {
            return lock;
        }
        if state.locks.len() >= state.sweep_at {
            state.locks.retain(|_, lock| lock.strong_count() > 0);
            state.sweep_at = (state.locks.len() * 2).max(MIN_SWEEP);
        }
        let lock = Arc::new(RwLock::new(()));
        state.locks.insert(id, Arc::downgrade(&lock));
        lock
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .locks
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_writer_excludes_readers_of_the_same_key_only() {
        let locks = KeyLocks::default();
        let writer = locks.write("b", "k").await;
        assert!(locks.lock_for("b", "k").try_read_owned().is_err());
        // Another key, or the same key in another bucket, is free.
        let _other = locks.read("b", "other").await;
        let _other_bucket = locks.write("c", "k").await;
        drop(writer);
        let _r1 = locks.read("b", "k").await;
        let _r2 = locks.read("b", "k").await;
    }

    #[tokio::test]
    async fn unused_locks_are_swept() {
        let locks = KeyLocks::default();
        for i in 0..3 * MIN_SWEEP {
            let _guard = locks.write("b", &i.to_string()).await;
        }
        assert!(locks.len() <= MIN_SWEEP + 1, "{}", locks.len());
    }
}
