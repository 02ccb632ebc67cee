//! The query side of the template: a Glue Data Catalog database, one table per data contract
//! over its curated Parquet, and an Athena workgroup whose results are encrypted.
//!
//! The processors write each object a contract owns as
//! `curated/<dataset>/<key relative to the contract's prefix>.parquet`, keeping the key's
//! Hive-style folders (`region=eu/day=2026-12-02/`): the table's location is
//! `curated/<dataset>/` and its partition columns are the contract's, with partition
//! projection, so new partitions need no crawler and no `MSCK REPAIR TABLE`.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use shared::CURATED_PREFIX;
use shared::{ColumnType, Contract, PartitionSpec};
use shared::{ContractError, Contracts};

use crate::cfn::{Resource, Template, reference, sub};

/// Logical id of the Glue database.
pub const DATABASE: &str = "GlueDatabase";

/// Logical id of the Athena workgroup.
pub const WORKGROUP: &str = "AthenaWorkGroup";

/// Where the workgroup writes query results, in the upload bucket (never under the input
/// prefix: `infra deploy` refuses prefixes that overlap it).
pub const ATHENA_RESULTS_PREFIX: &str = "athena-results/";

/// Days a query result is kept (the bucket's lifecycle rule expires them).
pub const ATHENA_RESULTS_DAYS: u32 = 30;

/// Parquet in the Glue Data Catalog: Hive's Parquet SerDe and formats, as Athena's own
/// `CREATE TABLE ... STORED AS PARQUET` records them.
pub const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
/// See [`PARQUET_SERDE`].
pub const PARQUET_INPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
/// See [`PARQUET_SERDE`].
pub const PARQUET_OUTPUT_FORMAT: &str =
    "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";

/// The first day a `date` partition projects (Athena needs a range; `NOW` ends it).
pub const DATE_PROJECTION_RANGE: &str = "2000-01-01,NOW";

/// The database's name: the stack's, with `_` for `-` (Athena names take no hyphen unquoted;
/// infra deploy only accepts lowercase stack names).
pub fn database_name() -> Value {
    json!({ "Fn::Join": ["_", { "Fn::Split": ["-", reference("AWS::StackName")] }] })
}

/// The logical id of each contract's table, in the contracts' order: `<Dataset>Table` in
/// CamelCase, numbered in the unlikely case two datasets give the same id.
pub fn table_ids(contracts: &Contracts) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for contract in contracts.iter() {
        let camel: String = contract
            .dataset
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        let mut id = format!("{camel}Table");
        let mut n = 2;
        while ids.contains(&id) {
            id = format!("{camel}{n}Table");
            n += 1;
        }
        ids.push(id);
    }
    ids
}

/// The table's location: `s3://<bucket>/curated/<dataset>/`.
fn location(contract: &Contract) -> Value {
    sub(&format!(
        "s3://${{UploadBucket}}/{CURATED_PREFIX}{}/",
        contract.dataset
    ))
}

/// The partition projection properties of one partition column (AWS, Athena User Guide,
/// "Supported types for partition projection").
fn projection(partition: &PartitionSpec) -> Vec<(String, String)> {
    let key = |suffix: &str| format!("projection.{}.{suffix}", partition.name);
    match partition.column_type {
        ColumnType::Int32 => vec![
            (key("type"), "integer".into()),
            (key("range"), format!("{},{}", i32::MIN, i32::MAX)),
        ],
        ColumnType::Int64 => vec![
            (key("type"), "integer".into()),
            (key("range"), format!("{},{}", i64::MIN, i64::MAX)),
        ],
        ColumnType::Date => vec![
            (key("type"), "date".into()),
            (key("format"), "yyyy-MM-dd".into()),
            (key("range"), DATE_PROJECTION_RANGE.into()),
            (key("interval"), "1".into()),
            (key("interval.unit"), "DAYS".into()),
        ],
        // Strings (and any type a contract might add later): values come from the query.
        _ => vec![(key("type"), "injected".into())],
    }
}

/// The table's parameters: Parquet, and partition projection when it has partitions.
fn table_parameters(contract: &Contract) -> Value {
    let mut parameters = Map::new();
    parameters.insert("classification".into(), json!("parquet"));
    parameters.insert("EXTERNAL".into(), json!("TRUE"));
    if !contract.partitions.is_empty() {
        parameters.insert("projection.enabled".into(), json!("true"));
        for partition in &contract.partitions {
            for (key, value) in projection(partition) {
                parameters.insert(key, json!(value));
            }
        }
        // The processors keep the key's Hive-style folders; `${!x}` is Fn::Sub's literal
        // `${x}`, the placeholder Athena fills.
        let folders = contract
            .partitions
            .iter()
            .fold(String::new(), |mut folders, p| {
                let _ = write!(folders, "{0}=${{!{0}}}/", p.name);
                folders
            });
        parameters.insert(
            "storage.location.template".into(),
            sub(&format!(
                "s3://${{UploadBucket}}/{CURATED_PREFIX}{}/{folders}",
                contract.dataset
            )),
        );
    }
    Value::Object(parameters)
}

/// One contract's table.
fn table(contract: &Contract) -> Resource {
    let columns: Vec<Value> = contract
        .columns
        .iter()
        .map(|c| json!({ "Name": c.name, "Type": c.column_type.glue_name() }))
        .collect();
    let partition_keys: Vec<Value> = contract
        .partitions
        .iter()
        .map(|p| json!({ "Name": p.name, "Type": p.column_type.glue_name() }))
        .collect();
    Resource::new(
        "AWS::Glue::Table",
        json!({
            "CatalogId": reference("AWS::AccountId"),
            "DatabaseName": reference(DATABASE),
            "TableInput": {
                "Name": contract.dataset,
                "Description": format!(
                    "Records of {} that meet the data contract (generated from it)",
                    contract.prefix
                ),
                "TableType": "EXTERNAL_TABLE",
                "Parameters": table_parameters(contract),
                "PartitionKeys": partition_keys,
                "StorageDescriptor": {
                    "Columns": columns,
                    "Location": location(contract),
                    "InputFormat": PARQUET_INPUT_FORMAT,
                    "OutputFormat": PARQUET_OUTPUT_FORMAT,
                    "Compressed": true,
                    "StoredAsSubDirectories": false,
                    "SerdeInfo": {
                        "SerializationLibrary": PARQUET_SERDE,
                        "Parameters": { "serialization.format": "1" },
                    },
                },
            },
        }),
    )
}

/// The database, a table per contract (none without contracts) and the workgroup.
pub fn resources(t: &mut Template, contracts: &Contracts, key_arn: &Value) {
    t.resource(
        DATABASE,
        Resource::new(
            "AWS::Glue::Database",
            json!({
                "CatalogId": reference("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": database_name(),
                    "Description": sub(
                        "S3 upload pipeline (${AWS::StackName}): one table per data contract, over its curated Parquet",
                    ),
                },
            }),
        ),
    );
    for (id, contract) in table_ids(contracts).iter().zip(contracts.iter()) {
        t.resource(id, table(contract));
    }
    t.resource(
        WORKGROUP,
        Resource::new(
            "AWS::Athena::WorkGroup",
            json!({
                "Name": sub("${AWS::StackName}"),
                "Description": sub(
                    "S3 upload pipeline (${AWS::StackName}): queries of the curated tables, results encrypted with the stack's key",
                ),
                "State": "ENABLED",
                // The stack's deletion also removes the workgroup's saved queries.
                "RecursiveDeleteOption": true,
                "WorkGroupConfiguration": {
                    // Clients cannot turn off the encryption or move the results.
                    "EnforceWorkGroupConfiguration": true,
                    "PublishCloudWatchMetricsEnabled": true,
                    "EngineVersion": { "SelectedEngineVersion": "Athena engine version 3" },
                    "ResultConfiguration": {
                        "OutputLocation": sub(&format!("s3://${{UploadBucket}}/{ATHENA_RESULTS_PREFIX}")),
                        "ExpectedBucketOwner": reference("AWS::AccountId"),
                        "EncryptionConfiguration": {
                            "EncryptionOption": "SSE_KMS",
                            "KmsKey": key_arn,
                        },
                    },
                },
            }),
        ),
    );
}

/// Checks what the catalog needs of the contracts beyond what [`Contracts::load_dir`]
/// checks: Glue keeps names in lowercase, so two columns of a table may not differ only in
/// case. The error names the second column's line.
pub fn check(contracts: &Contracts) -> Result<(), ContractError> {
    for contract in contracts.iter() {
        let names: Vec<&str> = contract
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .chain(contract.partitions.iter().map(|p| p.name.as_str()))
            .collect();
        for (i, name) in names.iter().enumerate() {
            let Some(first) = names[..i]
                .iter()
                .find(|other| other.to_lowercase() == name.to_lowercase())
            else {
                continue;
            };
            return Err(ContractError {
                path: contract.source.clone(),
                line: line_of(&contract.source, name),
                message: format!(
                    "columns `{first}` and `{name}` are one column in the Glue Data Catalog, \
                     which keeps names in lowercase"
                ),
            });
        }
    }
    Ok(())
}

/// The line (from 1) of the `name = "..."` entry naming `name` in the contract file, or 0.
fn line_of(path: &std::path::Path, name: &str) -> usize {
    let quoted = format!("\"{name}\"");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .position(|line| line.trim_start().starts_with("name") && line.contains(&quoted))
        })
        .map_or(0, |index| index + 1)
}
