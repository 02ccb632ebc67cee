//! The sans-IO processor: feed it the object's bytes in chunks of any size, then finish it.
//!
//! ```text
//! bytes ─▶ compression (magic bytes) ─▶ decoder ─▶ sniff buffer ─▶ format ─▶ parser ─▶ profile
//! ```
//!
//! Nothing depends on where the chunks are cut: the compression is decided on the first four
//! bytes, the format on exactly the first [`Config::sniff_bytes`] decompressed bytes, and the
//! parsers carry partial records over.

use std::io::Read;

use crate::compression::Compression;
use crate::config::{Config, Format};
use crate::conversion::{ContractOutcome, Conversion};
use crate::decompress::Decoder;
use crate::delimited::{RowProfiler, Tokenizer};
use crate::detect::{FormatHint, Layout, Sniffed, enough_to_sniff, sniff_layout};
use crate::error::{Error, ErrorKind};
use crate::json_lines::JsonLinesProfiler;
use crate::malformed::{MalformedLog, MalformedRecord};
use crate::profile::{ColumnSummary, Columns};
use crate::stage::{
    CONTRACT_STAGE, Stage as ProcessingStage, StageColumns, StageList, StageSection,
};

/// Record counts of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RecordCounts {
    /// Every record, malformed ones included; a CSV header is not a record.
    pub total: u64,
    /// Records that were profiled.
    pub valid: u64,
    /// Records that were not: see the malformed list.
    pub malformed: u64,
}

/// Everything the core learnt about one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The compression found by magic bytes.
    pub compression: Compression,
    /// How the text is laid out.
    pub layout: Layout,
    /// Whether the text started with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Bytes fed in (compressed size).
    pub bytes_in: u64,
    /// Bytes after decompression.
    pub bytes_decoded: u64,
    /// Record counts.
    pub records: RecordCounts,
    /// Profiled columns, in header order (CSV) or order of first appearance (JSON Lines).
    pub columns: Vec<ColumnSummary>,
    /// Columns past [`Config::max_columns`]: counted, not profiled.
    pub columns_not_profiled: u64,
    /// The first malformed records (up to [`Config::malformed_examples`]).
    pub malformed: Vec<MalformedRecord>,
    /// What the contract stage did, when the processor had one
    /// ([`Processor::with_conversion`]).
    pub contract: Option<ContractOutcome>,
    /// What the other stages returned ([`Processor::with_stage`]), in the order they were
    /// added.
    pub stages: Vec<StageSection>,
}

/// The streaming, sans-IO processor: feed it an object's bytes in chunks of any size
/// ([`Processor::feed`]), then [`Processor::finish`] it. Nothing depends on where the chunks
/// are cut: the compression is decided on the first bytes, the format on exactly the first
/// [`Config::sniff_bytes`] decompressed bytes, and the parsers carry partial records over.
#[derive(Debug)]
pub struct Processor {
    config: Config,
    hint: FormatHint,
    bytes_in: u64,
    stage: Stage,
    /// The processing stages, until the body starts.
    stages: StageList,
    /// Set by an error: the processor must not be used any more.
    failed: bool,
}

#[derive(Debug)]
enum Stage {
    /// Collecting the first bytes to tell the compression.
    Head(Vec<u8>),
    Body {
        compression: Compression,
        decoder: Decoder,
        text: Box<TextStage>,
    },
}

impl Processor {
    /// A processor for the object stored under `key` (its extension is a format hint only).
    pub fn new(config: Config, key: Option<&str>) -> Processor {
        Processor {
            hint: key.map(FormatHint::from_key).unwrap_or_default(),
            config,
            bytes_in: 0,
            stage: Stage::Head(Vec::with_capacity(Compression::MAGIC_LEN)),
            stages: StageList::default(),
            failed: false,
        }
    }

    /// A processor that also runs `conversion`, the contract stage: the contract's format
    /// options override `config`'s, and every record is checked, written or rejected.
    pub fn with_conversion(
        mut config: Config,
        key: Option<&str>,
        conversion: Conversion,
    ) -> Processor {
        let format = conversion.contract().format;
        config.format = format.format.or(config.format);
        config.delimiter = format.delimiter.or(config.delimiter);
        config.header = format.header.or(config.header);
        Processor::new(config, key).with_stage(CONTRACT_STAGE, Box::new(conversion))
    }

    /// Adds a processing stage, which sees every record after the stages added before it
    /// (see [`Stage`](crate::Stage)). Its section lands in [`Analysis::stages`] under `name`
    /// (the contract stage's in [`Analysis::contract`]). Add stages before the first
    /// [`feed`](Processor::feed).
    #[must_use]
    pub fn with_stage(mut self, name: &str, stage: Box<dyn ProcessingStage>) -> Processor {
        self.stages.push(name.to_owned(), stage);
        self
    }

    /// Processes the next chunk of the input.
    ///
    /// After an error the input is abandoned: later calls fail with an internal error.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.failed {
            return Err(ErrorKind::Internal("processor used after an error".into()).into());
        }
        let result = self.feed_inner(chunk);
        self.failed = result.is_err();
        result
    }

    fn feed_inner(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.bytes_in += chunk.len() as u64;
        match &mut self.stage {
            Stage::Head(head) => {
                head.extend_from_slice(chunk);
                if head.len() >= Compression::MAGIC_LEN {
                    let head = std::mem::take(head);
                    self.start_body(&head)?;
                }
                Ok(())
            }
            Stage::Body { decoder, text, .. } => decoder.decode(chunk, &mut |b| text.feed(b)),
        }
    }

    fn start_body(&mut self, head: &[u8]) -> Result<(), Error> {
        let compression = Compression::detect(head);
        let mut decoder = Decoder::new(compression)?;
        let mut text = Box::new(TextStage::new(
            self.config.clone(),
            self.hint,
            std::mem::take(&mut self.stages),
        ));
        decoder.decode(head, &mut |b| text.feed(b))?;
        self.stage = Stage::Body {
            compression,
            decoder,
            text,
        };
        Ok(())
    }

    /// Ends the input and returns what was learnt, or the error that makes it unusable.
    pub fn finish(mut self) -> Result<Analysis, Error> {
        if self.failed {
            return Err(ErrorKind::Internal("processor used after an error".into()).into());
        }
        if let Stage::Head(head) = &mut self.stage {
            let head = std::mem::take(head);
            self.start_body(&head)?;
        }
        let Stage::Body {
            compression,
            decoder,
            text,
        } = self.stage
        else {
            return Err(ErrorKind::Internal("no body stage after the head".into()).into());
        };
        decoder.finish()?;
        text.finish(compression, self.bytes_in)
    }
}

/// Reads `reader` to its end through a [`Processor`], in chunks of `chunk_size` bytes.
pub fn process_reader<R: Read>(
    reader: R,
    config: Config,
    key: Option<&str>,
    chunk_size: usize,
) -> Result<Analysis, Error> {
    Processor::new(config, key).read_to_end(reader, chunk_size)
}

impl Processor {
    /// Feeds `reader` to its end, in chunks of `chunk_size` bytes, and finishes.
    pub fn read_to_end<R: Read>(
        mut self,
        mut reader: R,
        chunk_size: usize,
    ) -> Result<Analysis, Error> {
        let mut buffer = vec![0; chunk_size.max(1)];
        while let Some(read) = read_some(&mut reader, &mut buffer)? {
            self.feed(&buffer[..read])?;
        }
        self.finish()
    }
}

/// One read of `reader` into `buffer`: `None` at the end, retried when interrupted, an error
/// as [`ErrorKind::Read`].
pub(crate) fn read_some(reader: &mut impl Read, buffer: &mut [u8]) -> Result<Option<usize>, Error> {
    loop {
        match reader.read(buffer) {
            Ok(0) => return Ok(None),
            Ok(read) => return Ok(Some(read)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ErrorKind::Read(e).into()),
        }
    }
}

/// Decompressed text: sniffed, then parsed.
#[derive(Debug)]
struct TextStage {
    config: Config,
    hint: FormatHint,
    decoded: u64,
    /// The first bytes, kept until the layout is decided.
    sniff: Vec<u8>,
    /// Set once the layout is decided.
    parser: Option<(Layout, bool, Parser)>,
    /// The processing stages, handed to the parser once the layout is decided.
    stages: StageList,
}

#[derive(Debug)]
enum Parser {
    Delimited {
        tokenizer: Box<Tokenizer>,
        rows: RowProfiler,
    },
    JsonLines(JsonLinesProfiler),
}

impl TextStage {
    fn new(config: Config, hint: FormatHint, stages: StageList) -> TextStage {
        TextStage {
            config,
            hint,
            decoded: 0,
            sniff: Vec::new(),
            parser: None,
            stages,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.decoded += bytes.len() as u64;
        match &mut self.parser {
            Some((_, _, parser)) => parser.feed(bytes),
            None => {
                self.sniff.extend_from_slice(bytes);
                if enough_to_sniff(self.sniff.len(), &self.config) {
                    self.decide(false)?;
                }
                Ok(())
            }
        }
    }

    /// Decides the layout on the sample and starts the parser with the bytes kept so far.
    fn decide(&mut self, at_end: bool) -> Result<(), Error> {
        let sniff = std::mem::take(&mut self.sniff);
        let Sniffed {
            layout,
            bom,
            body,
            base,
        } = sniff_layout(&sniff, at_end, self.hint, &self.config)?;
        let columns = Columns::new(self.config.max_columns);
        let malformed =
            MalformedLog::new(self.config.malformed_examples, self.config.malformed_limits);
        let mut stages = std::mem::take(&mut self.stages);
        let mut parser = match (layout.format, layout.delimiter) {
            (Format::Csv, Some(delimiter)) => Parser::Delimited {
                tokenizer: Box::new(Tokenizer::new(
                    delimiter,
                    self.config.max_record_bytes,
                    base,
                )),
                rows: {
                    if let Some(conversion) = stages.conversion_mut() {
                        conversion.set_delimiter(delimiter);
                    }
                    RowProfiler::new(layout.header.unwrap_or(false), columns, malformed)
                        .with_stages(stages)
                },
            },
            (Format::Csv, None) => {
                return Err(
                    ErrorKind::Internal("delimited layout without delimiter".into()).into(),
                );
            }
            (Format::JsonLines, _) => {
                stages.start(StageColumns::JsonLines)?;
                Parser::JsonLines(
                    JsonLinesProfiler::new(columns, malformed, self.config.max_record_bytes, base)
                        .with_stages(stages),
                )
            }
        };
        parser.feed(body)?;
        self.parser = Some((layout, bom, parser));
        Ok(())
    }

    fn finish(mut self, compression: Compression, bytes_in: u64) -> Result<Analysis, Error> {
        if self.parser.is_none() {
            self.decide(true)?;
        }
        let Some((layout, bom, mut parser)) = self.parser else {
            return Err(ErrorKind::Internal("no parser after deciding".into()).into());
        };
        let (total, valid, columns, malformed, stages) = match &mut parser {
            Parser::Delimited { tokenizer, rows } => {
                tokenizer.finish(rows)?;
                let stages = std::mem::take(&mut rows.stages);
                (
                    rows.total,
                    rows.valid,
                    &rows.columns,
                    &rows.malformed,
                    stages,
                )
            }
            Parser::JsonLines(lines) => {
                lines.finish()?;
                let stages = std::mem::take(&mut lines.stages);
                (
                    lines.total,
                    lines.valid,
                    &lines.columns,
                    &lines.malformed,
                    stages,
                )
            }
        };
        malformed.check_share(total)?;
        let records = RecordCounts {
            total,
            valid,
            malformed: malformed.count(),
        };
        let (contract, sections) = stages.finish(StageColumns::Positional, records)?;
        Ok(Analysis {
            compression,
            layout,
            bom,
            bytes_in,
            bytes_decoded: self.decoded,
            records,
            columns: columns.summaries(valid),
            columns_not_profiled: columns.not_profiled(),
            malformed: malformed.examples().to_vec(),
            contract,
            stages: sections,
        })
    }
}

impl Parser {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self {
            Parser::Delimited { tokenizer, rows } => tokenizer.feed(bytes, rows),
            Parser::JsonLines(lines) => lines.feed(bytes),
        }
    }
}
