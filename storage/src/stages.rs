//! The processing stages every object goes through besides the profile and its contract's:
//! the one place a team registers its own ([`registered_stages`]).
//!
//! Both processors call [`run_job`](crate::run_job), which asks every registered
//! [`StageFactory`] whether it runs on the object and which outputs it writes, stages those
//! outputs with the contract's (in memory up to a part, then a multipart upload), feeds the
//! stage every record in the same pass, and commits all the outputs, then the report, only
//! once the whole object was read and every stage finished. A stage's failure fails the job
//! under the [`ErrorName`] the stage chose, and nothing of the job is committed. So a stage
//! registered here runs on both routes and in the local pipeline (which runs the same
//! processor binaries).
//!
//! [`ValueCounts`] is a small, complete example.

use std::collections::BTreeMap;
use std::io::Write;

use shared::{
    Error, ErrorName, KeyLayout, OutputDeclaration, RecordCounts, Stage, StageColumns,
    StageFactory, StageRecord, stage_failure,
};

/// The stages both processors run, in order, after the contract's. Add yours here.
pub fn registered_stages() -> Vec<Box<dyn StageFactory>> {
    Vec::new()
}

/// An example stage: counts the records of each value of one column, for the objects under
/// a prefix. It writes the counts as one JSON object (`{"value": count, …}`, sorted by
/// value) next to the report, under `<output prefix><key relative to the input
/// prefix>.value_counts.json`, and puts the column, the number of distinct values and the
/// records without a value in its report section.
///
/// Memory is bounded: past [`ValueCounts::MAX_VALUES`] distinct values the object fails
/// (`InvalidInput`), as it does when the column is missing; malformed records are not counted.
#[derive(Debug, Clone)]
pub struct ValueCounts {
    name: String,
    prefix: String,
    column: String,
    layout: KeyLayout,
}

impl ValueCounts {
    /// Distinct values kept at most.
    pub const MAX_VALUES: usize = 10_000;
    /// The `Content-Type` of its output.
    pub const CONTENT_TYPE: &'static str = "application/json";

    /// A stage named `name` counting the values of `column` for objects under `prefix`,
    /// writing under `layout`'s output prefix.
    pub fn new(name: &str, prefix: &str, column: &str, layout: KeyLayout) -> ValueCounts {
        ValueCounts {
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            column: column.to_owned(),
            layout,
        }
    }
}

impl StageFactory for ValueCounts {
    fn name(&self) -> &str {
        &self.name
    }

    fn outputs(&self, key: &str) -> Option<Vec<OutputDeclaration>> {
        let relative = key.strip_prefix(&self.prefix)?;
        let folder = self
            .prefix
            .strip_prefix(self.layout.input_prefix())
            .unwrap_or(&self.prefix);
        Some(vec![OutputDeclaration {
            name: "counts".to_owned(),
            key: format!(
                "{}{folder}{relative}.value_counts.json",
                self.layout.output_prefix()
            ),
            content_type: Self::CONTENT_TYPE,
        }])
    }

    fn build(
        &self,
        _key: &str,
        sinks: Vec<Box<dyn Write + Send>>,
    ) -> Result<Box<dyn Stage>, Error> {
        let Ok([sink]) = <[_; 1]>::try_from(sinks) else {
            return Err(stage_failure(
                ErrorName::Internal,
                &self.name,
                "one sink expected",
            ));
        };
        Ok(Box::new(ValueCountsStage {
            name: self.name.clone(),
            column: self.column.clone(),
            index: None,
            counts: BTreeMap::new(),
            without_value: 0,
            sink,
        }))
    }
}

/// [`ValueCounts`] over one object.
struct ValueCountsStage {
    name: String,
    column: String,
    /// The column's field (delimited text); `None` for JSON Lines (looked up by name).
    index: Option<usize>,
    counts: BTreeMap<String, u64>,
    without_value: u64,
    sink: Box<dyn Write + Send>,
}

impl ValueCountsStage {
    fn fail(&self, name: ErrorName, detail: String) -> Error {
        stage_failure(name, &self.name, detail)
    }

    fn count(&mut self, value: &str) -> Result<(), Error> {
        // Looked up by `&str` first: a value seen before allocates nothing.
        if let Some(count) = self.counts.get_mut(value) {
            *count += 1;
        } else if self.counts.len() < ValueCounts::MAX_VALUES {
            self.counts.insert(value.to_owned(), 1);
        } else {
            return Err(self.fail(
                ErrorName::InvalidInput,
                format!(
                    "column `{}` has more than {} distinct values",
                    self.column,
                    ValueCounts::MAX_VALUES
                ),
            ));
        }
        Ok(())
    }
}

impl Stage for ValueCountsStage {
    fn start(&mut self, columns: StageColumns<'_>) -> Result<(), Error> {
        match columns {
            StageColumns::Header(names) => match names.iter().position(|n| *n == self.column) {
                Some(index) => self.index = Some(index),
                None => {
                    return Err(self.fail(
                        ErrorName::InvalidInput,
                        format!("the header has no column `{}`", self.column),
                    ));
                }
            },
            StageColumns::JsonLines => {}
            _ => {
                return Err(self.fail(
                    ErrorName::InvalidInput,
                    format!("no header names the column `{}`", self.column),
                ));
            }
        }
        Ok(())
    }

    fn record(&mut self, record: &StageRecord<'_>) -> Result<(), Error> {
        if record.is_malformed() {
            return Ok(());
        }
        let value = match self.index {
            Some(index) => record.field(index).filter(|v| !v.is_empty()),
            None => match record
                .member(&self.column)
                .map(serde_json::value::RawValue::get)
            {
                None | Some("null") => None,
                Some(raw) => match serde_json::from_str::<std::borrow::Cow<'_, str>>(raw) {
                    // A string: its text (borrowed unless it holds escapes).
                    Ok(text) => return self.count(&text),
                    // A number, a boolean, an object: its JSON text.
                    Err(_) => Some(raw),
                },
            },
        };
        match value {
            Some(value) => self.count(value),
            None => {
                self.without_value += 1;
                Ok(())
            }
        }
    }

    fn finish(mut self: Box<Self>, _records: RecordCounts) -> Result<serde_json::Value, Error> {
        let write = |sink: &mut Box<dyn Write + Send>, counts: &BTreeMap<String, u64>| {
            serde_json::to_writer_pretty(&mut *sink, counts).map_err(std::io::Error::other)?;
            sink.write_all(b"\n")?;
            sink.flush()
        };
        if let Err(error) = write(&mut self.sink, &self.counts) {
            return Err(self.fail(ErrorName::Storage, format!("writing the counts: {error}")));
        }
        Ok(serde_json::json!({
            "column": self.column,
            "distinct_values": self.counts.len(),
            "records_without_value": self.without_value,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{Config, Processor, SharedBuffer};

    fn counts(key: &str, input: &[u8]) -> Result<(serde_json::Value, String), ErrorName> {
        let factory = ValueCounts::new(
            "by_status",
            "incoming/orders/",
            "status",
            KeyLayout::default(),
        );
        let buffer = SharedBuffer::new();
        let stage = factory
            .build(key, vec![Box::new(buffer.clone())])
            .map_err(|e| e.name())?;
        let analysis = Processor::new(Config::default(), Some(key))
            .with_stage(factory.name(), stage)
            .read_to_end(input, 7)
            .map_err(|e| e.name())?;
        let output = String::from_utf8(buffer.take()).unwrap();
        Ok((analysis.stages[0].section.clone(), output))
    }

    #[test]
    fn outputs_sit_beside_the_report_and_only_under_the_prefix() {
        let factory = ValueCounts::new(
            "by_status",
            "incoming/orders/",
            "status",
            KeyLayout::default(),
        );
        let outputs = factory.outputs("incoming/orders/day=1/a.csv").unwrap();
        assert_eq!(
            outputs[0].key,
            "processed/orders/day=1/a.csv.value_counts.json"
        );
        assert_eq!(factory.outputs("incoming/sales/a.csv"), None);
    }

    #[test]
    fn counts_csv_and_json_lines_values_alike() {
        let csv = b"id,status\n1,paid\n2,new\n3,paid\n4,\n5,\"paid\n";
        let (section, output) = counts("incoming/orders/a.csv", csv).unwrap();
        assert_eq!(
            section,
            serde_json::json!({"column": "status", "distinct_values": 2, "records_without_value": 1})
        );
        let counted: BTreeMap<String, u64> = serde_json::from_str(&output).unwrap();
        assert_eq!(
            counted,
            BTreeMap::from([("new".into(), 1), ("paid".into(), 2)])
        );

        let jsonl = b"{\"status\":\"paid\"}\n{\"status\":\"p\\u0061id\"}\n{\"status\":7}\n{}\n";
        let (section, output) = counts("incoming/orders/a.jsonl", jsonl).unwrap();
        assert_eq!(section["records_without_value"], 1);
        let counted: BTreeMap<String, u64> = serde_json::from_str(&output).unwrap();
        assert_eq!(
            counted,
            BTreeMap::from([("7".into(), 1), ("paid".into(), 2)])
        );
    }

    #[test]
    fn a_missing_column_fails_the_object_as_invalid_input() {
        let error = counts("incoming/orders/a.csv", b"id,state\n1,paid\n").unwrap_err();
        assert_eq!(error, ErrorName::InvalidInput);
        let error = counts("incoming/orders/a.csv", b"1,paid\n2,new\n").unwrap_err();
        assert_eq!(error, ErrorName::InvalidInput);
    }
}
