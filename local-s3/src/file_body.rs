//! GetObject bodies read from the object's file in large chunks.
//!
//! Streaming a body in small reads (s3s-fs, which this crate used to store through, read 4 KiB
//! at a time, each a trip to tokio's blocking pool) costs the server several CPU-seconds per
//! GiB, mostly in the kernel, which on a small machine is taken from the program reading the
//! object. Reading 1 MiB at a time makes the server's share small, as S3's is to its clients.

use std::fs::File;
use std::io::{self, Read};
#[cfg(test)]
use std::io::{Seek, SeekFrom};
#[cfg(test)]
use std::path::Path;

use bytes::Bytes;
use futures::Stream;

/// Bytes per read.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// Opens `path`, positioned at byte `first`.
#[cfg(test)]
pub(crate) fn open_range(path: &Path, first: u64) -> io::Result<File> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(first))?;
    Ok(file)
}

/// The next `length` bytes of `file`, in chunks of at most [`CHUNK_BYTES`]. A file shorter
/// than that ends the stream with an `UnexpectedEof` error, so a body is never cut silently.
pub(crate) fn chunks(
    file: File,
    length: u64,
) -> impl Stream<Item = io::Result<Bytes>> + Send + Sync {
    futures::stream::try_unfold((file, length), |(mut file, remaining)| async move {
        if remaining == 0 {
            return Ok(None);
        }
        let want = usize::try_from(remaining).map_or(CHUNK_BYTES, |r| r.min(CHUNK_BYTES));
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            let mut chunk = vec![0; want];
            file.read_exact(&mut chunk).map(|()| (file, chunk))
        })
        .await
        .map_err(io::Error::other)??;
        Ok(Some((Bytes::from(chunk), (file, remaining - want as u64))))
    })
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    fn file_with(content: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        std::fs::write(&path, content).unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn a_range_comes_back_whole_in_chunks() {
        let content: Vec<u8> = (0..=u8::MAX).cycle().take(CHUNK_BYTES * 2 + 10).collect();
        let (_dir, path) = file_with(&content);
        let first = 5u64;
        let length = (CHUNK_BYTES + 3) as u64;
        let parts: Vec<Bytes> = chunks(open_range(&path, first).unwrap(), length)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            parts.iter().map(Bytes::len).collect::<Vec<_>>(),
            [CHUNK_BYTES, 3]
        );
        assert_eq!(parts.concat(), content[5..5 + CHUNK_BYTES + 3]);
    }

    #[tokio::test]
    async fn a_file_shorter_than_the_range_is_an_error() {
        let (_dir, path) = file_with(b"short");
        let result: io::Result<Vec<Bytes>> = chunks(open_range(&path, 0).unwrap(), 10)
            .try_collect()
            .await;
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
