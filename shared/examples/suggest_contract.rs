//! Drafts a data contract from a local file's profile, for the user to edit and commit.
//!
//! ```text
//! cargo run --release -p shared --example suggest_contract -- INPUT [--dataset NAME] [--prefix PREFIX]
//! ```
//!
//! Profiles INPUT with the parsing core, as the `profile` example does, and prints on stdout a
//! contract (the format of `docs/contracts.md`): the dataset (from the file name unless
//! `--dataset`), its prefix (`incoming/<dataset>/` unless `--prefix`), the detected format,
//! delimiter and header, and one `[[columns]]` per profiled column with the type mapped from
//! the inferred one, `nullable = false` when the column had no null, and the observed min and
//! max as a comment. The draft is checked with `Contract::parse` before it is printed.
//!
//! Exits 0 with the draft; 2 on bad arguments; otherwise prints the error's name and message on
//! stderr and exits with the name's exit code (as `profile` does).

use std::fmt::Write as _;
use std::fs::File;
use std::path::Path;
use std::process::ExitCode;

use shared::DEFAULT_INPUT_PREFIX;
use shared::{Analysis, ColumnSummary, Config, Contract, ErrorName, Format, ValueType};
use shared::{ColumnType, MAX_DATASET_NAME};

/// Read size: large enough that system calls cost nothing next to parsing.
const CHUNK: usize = 1 << 20;

/// Observed strings longer than this many characters are cut in the comments.
const COMMENT_TEXT_CHARS: usize = 40;

/// The longest column name a contract takes, in bytes.
const MAX_COLUMN_NAME: usize = 255;

/// Extensions dropped from the file name to make the dataset's name (last first).
const EXTENSIONS: [&str; 10] = [
    "gz", "gzip", "zst", "zstd", "csv", "tsv", "txt", "jsonl", "ndjson", "json",
];

const USAGE: &str = "usage: suggest_contract INPUT [--dataset NAME] [--prefix PREFIX]";

struct Arguments {
    input: String,
    dataset: Option<String>,
    prefix: Option<String>,
}

fn arguments() -> Result<Arguments, String> {
    let mut input = None;
    let mut dataset = None;
    let mut prefix = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--dataset" => &mut dataset,
            "--prefix" => &mut prefix,
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option `{flag}`")),
            _ if input.is_none() => {
                input = Some(arg);
                continue;
            }
            _ => return Err(format!("one INPUT only (`{arg}` is a second)")),
        };
        let value = args
            .next()
            .ok_or_else(|| format!("`{arg}` needs a value"))?;
        if slot.replace(value).is_some() {
            return Err(format!("`{arg}` is given twice"));
        }
    }
    let input = input.ok_or_else(|| "INPUT is missing".to_owned())?;
    Ok(Arguments {
        input,
        dataset,
        prefix,
    })
}

fn main() -> ExitCode {
    let args = match arguments() {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("{problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let dataset = args
        .dataset
        .clone()
        .unwrap_or_else(|| dataset_name(&args.input));
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("{DEFAULT_INPUT_PREFIX}{dataset}/"));
    if !prefix.starts_with(DEFAULT_INPUT_PREFIX) {
        eprintln!(
            "note: the prefix `{prefix}` is outside `{DEFAULT_INPUT_PREFIX}`: it must be inside \
             the deployment's input prefix"
        );
    }
    let file = match File::open(&args.input) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("SourceMissing: cannot open {}: {e}", args.input);
            return exit(ErrorName::SourceMissing);
        }
    };
    let analysis = match shared::process_reader(file, Config::default(), Some(&args.input), CHUNK) {
        Ok(analysis) => analysis,
        Err(error) => {
            eprintln!("{}: {error}", error.name());
            return exit(error.name());
        }
    };
    let draft = draft(&args.input, &dataset, &prefix, &analysis);
    // The draft must be a contract: a bad --dataset or --prefix is the user's (exit 2), anything
    // else is a bug here.
    if let Err(e) = Contract::parse(Path::new("suggested.toml"), &draft) {
        let at_fault = e
            .message
            .starts_with("dataset")
            .then_some(("--dataset", 2))
            .or_else(|| e.message.starts_with("prefix").then_some(("--prefix", 2)));
        return if let Some((flag, code)) = at_fault {
            eprintln!("{flag}: {}", e.message);
            eprintln!("{USAGE}");
            ExitCode::from(code)
        } else {
            eprintln!("Internal: the drafted contract does not parse: {e}\n{draft}");
            exit(ErrorName::Internal)
        };
    }
    print!("{draft}");
    ExitCode::SUCCESS
}

fn exit(name: ErrorName) -> ExitCode {
    ExitCode::from(u8::try_from(name.exit_code()).unwrap_or(1))
}

/// The file's name without its directory and known extensions, made an identifier:
/// `[a-z][a-z0-9_]*`, at most [`MAX_DATASET_NAME`] characters.
fn dataset_name(input: &str) -> String {
    let mut stem = Path::new(input)
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    while let Some((rest, extension)) = stem.rsplit_once('.') {
        if rest.is_empty() || !EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str()) {
            break;
        }
        stem.truncate(rest.len());
    }
    let mut name = String::new();
    for c in stem.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('_') {
            name.push('_');
        }
    }
    while name.ends_with('_') {
        name.pop();
    }
    if name.is_empty() {
        name.push_str("dataset");
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "data_");
    }
    name.truncate(MAX_DATASET_NAME);
    while name.ends_with('_') {
        name.pop();
    }
    name
}

/// Whether `name` can name a contract's column (as `Contract::parse` checks it).
fn is_column_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_COLUMN_NAME && !name.chars().any(char::is_control)
}

/// `text` as a TOML string, quoted and escaped.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// A JSON value from the profile for a one-line comment: strings cut and escaped.
fn comment_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) if s.chars().count() > COMMENT_TEXT_CHARS => {
            let cut: String = s.chars().take(COMMENT_TEXT_CHARS).collect();
            format!("{}…", serde_json::Value::String(cut))
        }
        other => other.to_string(),
    }
}

/// The contract type for a profiled column, and a note on the choice when there is one.
fn column_type(column: &ColumnSummary) -> (ColumnType, Option<&'static str>) {
    match column.value_type {
        None => (
            ColumnType::String,
            Some("no value seen: the type is a guess"),
        ),
        Some(ValueType::Boolean) => (ColumnType::Boolean, None),
        Some(ValueType::Integer) => {
            let fits = |v: &serde_json::Value| v.as_i64().is_some_and(|i| i32::try_from(i).is_ok());
            if fits(&column.min) && fits(&column.max) {
                (
                    ColumnType::Int32,
                    Some("int32: the values seen fit; int64 if they may grow"),
                )
            } else {
                (ColumnType::Int64, None)
            }
        }
        Some(ValueType::Float) => (
            ColumnType::Float64,
            Some("float64: decimal(p, s) for money and other exact amounts"),
        ),
        Some(ValueType::Date) => (ColumnType::Date, None),
        Some(ValueType::Timestamp) => (ColumnType::Timestamp, None),
        Some(ValueType::String) => (ColumnType::String, None),
    }
}

/// The contract text for `analysis` of the file `input`.
fn draft(input: &str, dataset: &str, prefix: &str, analysis: &Analysis) -> String {
    let file_name = Path::new(input)
        .file_name()
        .map_or_else(|| input.to_owned(), |n| n.to_string_lossy().into_owned());
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push('\n');
    };
    line(&format!(
        "# Drafted by suggest_contract from {} ({} records{}): edit before committing.",
        file_name.escape_debug(),
        analysis.records.valid,
        match analysis.records.malformed {
            0 => String::new(),
            n => format!(", {n} malformed and not profiled"),
        }
    ));
    line("# The format is documented in docs/contracts.md.");
    line(&format!("dataset = {}", toml_string(dataset)));
    line(&format!("prefix = {}", toml_string(prefix)));
    line("");
    line("[format]");
    let layout = analysis.layout;
    line(&format!("type = {}", toml_string(layout.format.as_str())));
    if layout.format == Format::Csv {
        if let Some(delimiter) = layout.delimiter {
            line(&format!(
                "delimiter = {}",
                toml_string(&char::from(delimiter).to_string())
            ));
        }
        if let Some(header) = layout.header {
            line(&format!("header = {header}"));
        }
    }
    if analysis.compression != shared::Compression::None {
        line(&format!(
            "# compressed with {}: detected on every upload, not part of the contract",
            analysis.compression.as_str()
        ));
    }
    line("");
    line("# The defaults, spelled out.");
    line("[header]");
    line("missing_columns = \"fail\"");
    line("extra_columns = \"ignore\"");
    line("order = \"by_name\"");
    line("");
    line("[rejects]");
    line("max_share = 0.1");
    for (index, column) in analysis.columns.iter().enumerate() {
        line("");
        if !is_column_name(&column.name) {
            line(&format!(
                "# column {}, named {}, is left out: a contract column's name is 1 to {} \
                 characters without control characters (an extra column is ignored by default)",
                index + 1,
                comment_value(&serde_json::Value::String(column.name.clone())),
                MAX_COLUMN_NAME,
            ));
            continue;
        }
        let (column_type, note) = column_type(column);
        let mut seen = format!(
            "# seen: {} value{}, {} null{}",
            column.count,
            if column.count == 1 { "" } else { "s" },
            column.nulls,
            if column.nulls == 1 { "" } else { "s" },
        );
        if !column.min.is_null() {
            let _ = write!(
                seen,
                "; min {}, max {}",
                comment_value(&column.min),
                comment_value(&column.max)
            );
        }
        line(&seen);
        if let Some(note) = note {
            line(&format!("# {note}"));
        }
        line("[[columns]]");
        line(&format!("name = {}", toml_string(&column.name)));
        line(&format!("type = {}", toml_string(&column_type.to_string())));
        if column.nulls == 0 && column.count > 0 {
            line("nullable = false");
        }
    }
    if analysis.columns_not_profiled > 0 {
        line("");
        line(&format!(
            "# {} more columns were not profiled (past the profiler's column limit): add them",
            analysis.columns_not_profiled
        ));
    }
    out
}
