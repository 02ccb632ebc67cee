//! The pipeline's data directory (`--data-dir`): what survives a restart.
//!
//! ```text
//! local-pipeline.json          the format marker: {"format": ..., "version": 1}
//! s3/                          the local S3's own store (local-s3 owns its layout)
//! executions/00000001.json     one file per execution, in start order: status, input,
//!                              output, history, and where a running one is (its position)
//! task-logs/<execution>/<task id>.log   each ECS task's output, kept
//! ```
//!
//! Every file is written whole and atomically: to a temporary file beside it, then renamed
//! over it, so a crash leaves the previous version or the new one, never a mix. Writes are
//! made durable (fsync of the file and of the directory) when an execution starts, ends, or is
//! stopped by the runner; the events in between are renamed into place without fsync, so a
//! crash of the machine (not of the program) may lose the last events of a running
//! execution, which is then taken up from its last saved state.
//!
//! A directory of another version, or one that holds files but no marker (an earlier
//! local-pipeline kept S3 objects directly in it), is refused with a [`DataDirError`], never
//! read as if it were this version. A directory holding only `s3/` (a store filled for it,
//! e.g. by local-s3's `fill` example with `--root DIR/s3`) is taken as new.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::execution::ExecutionRecord;

/// The version of the data directory's layout and files this program reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// The marker file's name, at the top of the data directory.
pub const MARKER: &str = "local-pipeline.json";

/// The marker's `format` value.
const FORMAT_NAME: &str = "local-pipeline data directory";

/// Why a data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The directory is of another format version.
    #[error(
        "{} is a local-pipeline data directory of version {found}; this local-pipeline reads \
         version {FORMAT_VERSION} only: use another --data-dir (or the local-pipeline that \
         wrote this one)",
        path.display()
    )]
    Version {
        /// The directory.
        path: PathBuf,
        /// The version its marker gives.
        found: u64,
    },
    /// The directory holds files but no marker.
    #[error(
        "{} holds files but no {MARKER}: it is not a local-pipeline data directory of version \
         {FORMAT_VERSION} (an earlier local-pipeline kept S3 objects directly in it); use an \
         empty or new --data-dir, or move this one away",
        path.display()
    )]
    Unversioned {
        /// The directory.
        path: PathBuf,
    },
    /// A file that should be ours cannot be read as such.
    #[error("{}: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io {
        path: path.to_owned(),
        source,
    }
}

#[derive(Serialize, Deserialize)]
struct Marker {
    format: String,
    version: u64,
}

/// What an execution's file holds.
#[derive(Serialize, Deserialize)]
struct ExecutionFile {
    version: u64,
    execution: ExecutionRecord,
}

#[derive(Deserialize)]
struct VersionOnly {
    version: u64,
}

/// An opened data directory of this version.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens `root` (created, with its marker, if missing, empty, or holding only `s3/`);
    /// refuses a directory of another version, or one holding other files but no marker.
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        fs::create_dir_all(root).map_err(io_error(root))?;
        let root = root.canonicalize().map_err(io_error(root))?;
        let marker = root.join(MARKER);
        match fs::read(&marker) {
            Ok(bytes) => {
                let corrupt = |detail: String| DataDirError::Corrupt {
                    path: marker.clone(),
                    detail,
                };
                let read: Marker = serde_json::from_slice(&bytes)
                    .map_err(|e| corrupt(format!("not a data directory marker: {e}")))?;
                if read.format != FORMAT_NAME {
                    return Err(corrupt(format!(
                        "the marker's format is {:?}, not {FORMAT_NAME:?}",
                        read.format
                    )));
                }
                if read.version != FORMAT_VERSION {
                    return Err(DataDirError::Version {
                        path: root,
                        found: read.version,
                    });
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                // New: empty, or holding only an S3 store prepared for it (`s3/`).
                for entry in fs::read_dir(&root).map_err(io_error(&root))? {
                    let entry = entry.map_err(io_error(&root))?;
                    if entry.file_name() != "s3" {
                        return Err(DataDirError::Unversioned { path: root });
                    }
                }
                let text = serde_json::to_vec_pretty(&Marker {
                    format: FORMAT_NAME.to_owned(),
                    version: FORMAT_VERSION,
                })
                .unwrap_or_default();
                write_atomically(&marker, &text, true)?;
            }
            Err(source) => {
                return Err(DataDirError::Io {
                    path: marker,
                    source,
                });
            }
        }
        let dir = DataDir { root };
        for folder in [dir.s3_root(), dir.executions_dir(), dir.task_logs()] {
            fs::create_dir_all(&folder).map_err(io_error(&folder))?;
        }
        Ok(dir)
    }

    /// The directory (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The local S3's folder.
    pub fn s3_root(&self) -> PathBuf {
        self.root.join("s3")
    }

    /// Where the ECS tasks' logs go (`<execution>/<task id>.log`).
    pub fn task_logs(&self) -> PathBuf {
        self.root.join("task-logs")
    }

    fn executions_dir(&self) -> PathBuf {
        self.root.join("executions")
    }

    /// Removes the temporary files a crash left (of a write it cut short). Only the one
    /// runner of the directory may call it, when it starts: another reader doing so would
    /// remove a live writer's file between its write and its rename.
    pub fn remove_leftovers(&self) -> Result<(), DataDirError> {
        let dir = self.executions_dir();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let path = entry.map_err(io_error(&dir))?.path();
            if is_temporary(&path) {
                fs::remove_file(&path).map_err(io_error(&path))?;
            }
        }
        Ok(())
    }

    /// Every execution saved, with its ordinal, in start order. Temporary files are skipped
    /// (a write in progress, or one a crash cut short: [`DataDir::remove_leftovers`]), so a
    /// directory may be read while its runner writes to it.
    pub fn load_executions(&self) -> Result<Vec<(u64, ExecutionRecord)>, DataDirError> {
        let dir = self.executions_dir();
        let mut files = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_error(&dir))? {
            let path = entry.map_err(io_error(&dir))?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            if is_temporary(&path) {
                continue;
            }
            let Some(ordinal) = name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u64>().ok())
            else {
                tracing::warn!(file = %path.display(), "not an execution file: ignored");
                continue;
            };
            files.push((ordinal, path));
        }
        files.sort_by_key(|(ordinal, _)| *ordinal);
        // Parsing dominates a restart on many executions: spread it over the cores.
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let chunk = files.len().div_ceil(threads).max(1);
        let parsed: Vec<Result<Vec<(u64, ExecutionRecord)>, DataDirError>> =
            std::thread::scope(|scope| {
                let workers: Vec<_> = files
                    .chunks(chunk)
                    .map(|part| {
                        scope.spawn(move || {
                            part.iter()
                                .map(|(ordinal, path)| Ok((*ordinal, read_execution(path)?)))
                                .collect()
                        })
                    })
                    .collect();
                workers
                    .into_iter()
                    .map(|worker| {
                        worker
                            .join()
                            .unwrap_or_else(|e| std::panic::resume_unwind(e))
                    })
                    .collect()
            });
        let mut loaded = Vec::with_capacity(files.len());
        for part in parsed {
            loaded.extend(part?);
        }
        Ok(loaded)
    }

    /// The journal of the execution with this ordinal.
    pub fn journal(&self, ordinal: u64) -> Journal {
        let dir = self.executions_dir();
        Journal {
            path: dir.join(format!("{ordinal:08}.json")),
            temporary: dir.join(format!(".{ordinal:08}.json.tmp")),
        }
    }
}

/// Reads one execution's file.
fn read_execution(path: &Path) -> Result<ExecutionRecord, DataDirError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let corrupt = |detail: String| DataDirError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    // One parse; the version is looked at on its own only to explain a failure.
    let wrong_version = |found: u64| {
        corrupt(format!(
            "an execution file of version {found}, in a directory of version {FORMAT_VERSION}"
        ))
    };
    let file: ExecutionFile = serde_json::from_slice(&bytes).map_err(|e| {
        match serde_json::from_slice::<VersionOnly>(&bytes) {
            Ok(VersionOnly { version }) if version != FORMAT_VERSION => wrong_version(version),
            _ => corrupt(format!("not an execution file: {e}")),
        }
    })?;
    if file.version != FORMAT_VERSION {
        return Err(wrong_version(file.version));
    }
    Ok(file.execution)
}

/// Where one execution is saved.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
    temporary: PathBuf,
}

impl Journal {
    /// Saves `record` atomically; durably (fsync) when `sync`.
    pub fn save(&self, record: &ExecutionRecord, sync: bool) -> Result<(), DataDirError> {
        let file = ExecutionFile {
            version: FORMAT_VERSION,
            execution: record.clone(),
        };
        let text = serde_json::to_vec(&file).map_err(|e| DataDirError::Corrupt {
            path: self.path.clone(),
            detail: format!("cannot serialize the execution: {e}"),
        })?;
        write_via(&self.temporary, &self.path, &text, sync)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Writes `bytes` to `path` through a temporary file beside it.
/// `.<name>.tmp`: a file [`write_atomically`] has not renamed into place (yet).
fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|name| name.starts_with('.'))
        && path
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("tmp"))
}

fn write_atomically(path: &Path, bytes: &[u8], sync: bool) -> Result<(), DataDirError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.tmp"));
    write_via(&temporary, path, bytes, sync)
}

fn write_via(temporary: &Path, path: &Path, bytes: &[u8], sync: bool) -> Result<(), DataDirError> {
    let mut file = fs::File::create(temporary).map_err(io_error(temporary))?;
    file.write_all(bytes).map_err(io_error(temporary))?;
    if sync {
        file.sync_all().map_err(io_error(temporary))?;
    }
    drop(file);
    fs::rename(temporary, path).map_err(io_error(path))?;
    if sync && let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_gets_a_marker_and_reopens() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("data");
        let dir = DataDir::open(&root).unwrap();
        assert!(root.join(MARKER).is_file());
        assert!(dir.s3_root().is_dir() && dir.task_logs().is_dir());
        DataDir::open(&root).unwrap();
        // One holding only an S3 store made for it (local-s3's `fill` example) is new too.
        let prepared = temp.path().join("prepared");
        fs::create_dir_all(prepared.join("s3/objects")).unwrap();
        DataDir::open(&prepared).unwrap();
        assert!(prepared.join(MARKER).is_file());
    }

    #[test]
    fn other_versions_and_unmarked_directories_are_refused() {
        let temp = tempfile::tempdir().unwrap();
        let old = temp.path().join("old");
        fs::create_dir_all(old.join("uploads/incoming")).unwrap();
        fs::write(old.join("uploads/incoming/a.csv"), "a\n").unwrap();
        let error = DataDir::open(&old).unwrap_err();
        assert!(matches!(error, DataDirError::Unversioned { .. }), "{error}");
        assert!(
            error.to_string().contains("no local-pipeline.json"),
            "{error}"
        );

        let newer = temp.path().join("newer");
        fs::create_dir_all(&newer).unwrap();
        fs::write(
            newer.join(MARKER),
            r#"{"format": "local-pipeline data directory", "version": 2}"#,
        )
        .unwrap();
        let error = DataDir::open(&newer).unwrap_err();
        assert!(
            matches!(error, DataDirError::Version { found: 2, .. }),
            "{error}"
        );
        assert!(error.to_string().contains("version 2"), "{error}");

        let garbled = temp.path().join("garbled");
        fs::create_dir_all(&garbled).unwrap();
        fs::write(garbled.join(MARKER), "{").unwrap();
        assert!(matches!(
            DataDir::open(&garbled).unwrap_err(),
            DataDirError::Corrupt { .. }
        ));
    }

    #[test]
    fn executions_are_saved_atomically_and_read_back_in_order() {
        let temp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(temp.path()).unwrap();
        let execution = |name: &str| {
            crate::execution::Execution::new(
                format!("arn:aws:states:us-east-1:1:execution:m:{name}"),
                "arn:aws:states:us-east-1:1:stateMachine:m".into(),
                name.into(),
                serde_json::json!({"n": name}),
            )
            .snapshot()
        };
        dir.journal(2).save(&execution("b"), true).unwrap();
        dir.journal(1).save(&execution("a"), false).unwrap();
        // A write a crash cut short leaves a temporary file, never a half-written one.
        fs::write(dir.executions_dir().join(".00000003.json.tmp"), "{\"vers").unwrap();
        let loaded = dir.load_executions().unwrap();
        let names: Vec<(u64, &str)> = loaded.iter().map(|(n, r)| (*n, r.name.as_str())).collect();
        assert_eq!(names, [(1, "a"), (2, "b")]);
        // Reading leaves it (it may be a live write); the runner removes it when it starts.
        assert!(dir.executions_dir().join(".00000003.json.tmp").exists());
        dir.remove_leftovers().unwrap();
        assert!(!dir.executions_dir().join(".00000003.json.tmp").exists());
        assert_eq!(dir.load_executions().unwrap().len(), 2);
        assert_eq!(loaded[0].1.input, serde_json::json!({"n": "a"}));
    }
}
