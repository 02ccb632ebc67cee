//! What the test modules share: running the processor in chunks, comparing outcomes.

use std::path::{Path, PathBuf};
use std::process::Command;

use shared::{Analysis, Config, Error, ErrorKind, Processor};

/// `../shared/corpora` beside the repository root (CI has it there too).
pub fn corpora() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpora = root
        .parent()
        .and_then(|repo| repo.parent())
        .map(|outside| outside.join("shared").join("corpora"))
        .expect("the repository has a parent folder");
    assert!(
        corpora.is_dir(),
        "third-party corpora missing at {}: ../shared must sit beside the repository",
        corpora.display()
    );
    corpora
}

/// Processes `input` fed as the given pieces.
pub fn analyze_pieces(
    pieces: &[&[u8]],
    config: &Config,
    key: Option<&str>,
) -> Result<Analysis, Error> {
    let mut processor = Processor::new(config.clone(), key);
    for piece in pieces {
        processor.feed(piece)?;
    }
    processor.finish()
}

/// Processes `input` in one piece.
pub fn analyze(input: &[u8], config: &Config, key: Option<&str>) -> Result<Analysis, Error> {
    analyze_pieces(&[input], config, key)
}

/// Processes `input` cut at `cuts` (sorted offsets).
pub fn analyze_cut(
    input: &[u8],
    cuts: &[usize],
    config: &Config,
    key: Option<&str>,
) -> Result<Analysis, Error> {
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for &cut in cuts {
        let cut = cut.clamp(start, input.len());
        pieces.push(&input[start..cut]);
        start = cut;
    }
    pieces.push(&input[start..]);
    analyze_pieces(&pieces, config, key)
}

/// A comparable rendering of an outcome. Errors compare by name and kind; their message too,
/// except for corrupt compressed data, where the decoder's stopping point may depend on how
/// much input it was given at once.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Analysis(Box<Analysis>),
    Error(&'static str, String),
}

pub fn outcome(result: Result<Analysis, Error>) -> Outcome {
    match result {
        Ok(analysis) => Outcome::Analysis(Box::new(analysis)),
        Err(error) => {
            let detail = match error.kind() {
                ErrorKind::CorruptCompression { compression, .. } => {
                    format!("corrupt {compression}")
                }
                _ => error.to_string(),
            };
            Outcome::Error(error.name().as_str(), detail)
        }
    }
}

/// A configuration that never fails on malformed records.
pub fn lenient() -> Config {
    Config {
        malformed_limits: shared::MalformedLimits {
            max_count: None,
            max_share: None,
        },
        ..Config::default()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// `data` in BGZF members of at most `block` bytes of input each, and the empty member that
/// ends a BGZF file, as `bgzip` writes them (the SAM/BAM format specification, section 4.1:
/// a gzip member whose extra field `BC` holds the member's size less one).
pub fn bgzf(data: &[u8], block: usize) -> Vec<u8> {
    let mut stream = Vec::new();
    for piece in data.chunks(block.max(1)) {
        stream.extend(bgzf_member(piece));
    }
    stream.extend(bgzf_member(&[]));
    stream
}

/// One BGZF member holding `data`.
pub fn bgzf_member(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut deflate =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflate.write_all(data).unwrap();
    let deflated = deflate.finish().unwrap();
    let size = 18 + deflated.len() + 8;
    // ID1 ID2 CM FLG(FEXTRA) MTIME XFL OS XLEN, then the subfield: B C, SLEN, BSIZE.
    let mut member = vec![
        0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, b'B', b'C', 2, 0,
    ];
    member.extend_from_slice(&u16::try_from(size - 1).unwrap().to_le_bytes());
    member.extend_from_slice(&deflated);
    let mut crc = flate2::Crc::new();
    crc.update(data);
    member.extend_from_slice(&crc.sum().to_le_bytes());
    member.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
    member
}

/// One of the crate's example programs (`profile`, `convert`, `suggest_contract`), built next
/// to this test binary: `cargo test` builds them; `cargo test --test integration` does not, and
/// then it is built here with the same cargo, profile and target folder.
pub fn example_command(name: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let examples = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile_dir| profile_dir.join("examples"))
        .expect("target/<profile>/deps/<test binary>");
    let binary: PathBuf = examples.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile_dir = examples.parent().expect("target/<profile>");
        let mut build = Command::new(cargo);
        build.args(["build", "-q", "-p", "shared", "--example", name]);
        if let Some(target_dir) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target_dir);
        }
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(
            status.success() && binary.exists(),
            "cannot build {}",
            binary.display()
        );
    }
    Command::new(binary)
}

/// A fresh folder under the system's temporary one, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A folder named after `prefix`, this process and the time.
    pub fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `PIPELINE_PYTHON`, else the venv `scripts/setup-tools` creates at the workspace root: the
/// Python the oracles run DuckDB and pyarrow with.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("PIPELINE_PYTHON") {
        return PathBuf::from(python);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate sits in a workspace")
        .join(".tools/venv/bin/python")
}

/// Writes `content` to the file `name` in this process's folder `<suite>-<pid>` under the
/// system's temporary one (kept for the process's life: tests of one suite share it, so
/// their file names must differ) and returns its path.
pub fn temp_file(suite: &str, name: &str, content: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{suite}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write a temporary file");
    path
}
