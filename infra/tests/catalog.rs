//! The query side of the template, from the data contracts: the Glue database and tables
//! (columns, partition keys, partition projection), the Athena workgroup's encrypted results,
//! the processors' access to the contracts' outputs, and how the contracts reach them.

use std::path::{Path, PathBuf};

use infra::catalog;
use infra::template::{self, Settings, id, output, param};
use serde_json::{Value, json};
use shared::ColumnType;
use shared::{Contract, Contracts};
use shared::{DEFAULT_INPUT_PREFIX, env};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The repository's contracts (`contracts/`), as `infra synth` reads them.
pub(crate) fn repository_settings() -> Settings {
    Settings::with_contracts_dir(&root().join(infra::CONTRACTS_DIR)).unwrap()
}

/// The repository's contracts and a test contract with a partition column of every
/// partition type (`tests/support/contracts/`).
pub(crate) fn partitioned_settings() -> Settings {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/contracts");
    let repository =
        Contracts::load_dir(&root().join(infra::CONTRACTS_DIR), DEFAULT_INPUT_PREFIX).unwrap();
    let extra = Contracts::load_dir(&fixture, DEFAULT_INPUT_PREFIX).unwrap();
    assert!(!repository.is_empty() && !extra.is_empty());
    let all: Vec<Contract> = repository.iter().chain(extra.iter()).cloned().collect();
    Settings {
        contracts: Contracts::new(all, DEFAULT_INPUT_PREFIX).unwrap(),
        ..Settings::default()
    }
}

fn template_of(settings: &Settings) -> Value {
    serde_json::to_value(template::template(settings)).unwrap()
}

fn resources_of<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str(), r))
        .collect()
}

fn key_arn() -> Value {
    json!({ "Fn::If": ["CreateKey", { "Fn::GetAtt": [id::KEY, "Arn"] }, { "Ref": param::KMS_KEY_ARN }] })
}

/// The table of `dataset`'s contract.
fn table<'a>(template: &'a Value, dataset: &str) -> &'a Value {
    let (_, table) = resources_of(template, "AWS::Glue::Table")
        .into_iter()
        .find(|(_, t)| t["Properties"]["TableInput"]["Name"] == dataset)
        .unwrap_or_else(|| panic!("no table {dataset}"));
    &table["Properties"]
}

#[test]
fn each_contract_is_a_parquet_table_with_the_contracts_columns_and_partition_keys() {
    let settings = partitioned_settings();
    let template = template_of(&settings);
    let tables = resources_of(&template, "AWS::Glue::Table");
    assert_eq!(tables.len(), settings.contracts.iter().count());
    for contract in settings.contracts.iter() {
        let table = table(&template, &contract.dataset);
        assert_eq!(table["DatabaseName"], json!({ "Ref": catalog::DATABASE }));
        assert_eq!(table["CatalogId"], json!({ "Ref": "AWS::AccountId" }));
        let input = &table["TableInput"];
        assert_eq!(input["TableType"], "EXTERNAL_TABLE");
        let expected_columns: Vec<Value> = contract
            .columns
            .iter()
            .map(|c| json!({ "Name": c.name, "Type": c.column_type.glue_name() }))
            .collect();
        assert_eq!(
            input["StorageDescriptor"]["Columns"],
            json!(expected_columns),
            "{}: the contract's columns, in its order, with their Glue types",
            contract.dataset
        );
        let expected_keys: Vec<Value> = contract
            .partitions
            .iter()
            .map(|p| json!({ "Name": p.name, "Type": p.column_type.glue_name() }))
            .collect();
        assert_eq!(input["PartitionKeys"], json!(expected_keys));
        let storage = &input["StorageDescriptor"];
        assert_eq!(
            storage["Location"],
            json!({ "Fn::Sub": format!("s3://${{UploadBucket}}/curated/{}/", contract.dataset) })
        );
        assert_eq!(storage["InputFormat"], catalog::PARQUET_INPUT_FORMAT);
        assert_eq!(storage["OutputFormat"], catalog::PARQUET_OUTPUT_FORMAT);
        assert_eq!(
            storage["SerdeInfo"]["SerializationLibrary"],
            catalog::PARQUET_SERDE
        );
        assert_eq!(input["Parameters"]["classification"], "parquet");
    }
}

#[test]
fn the_sales_contracts_table_has_the_glue_types_of_its_columns() {
    // The committed example, spelled out: what a user sees in Athena.
    let template = template_of(&repository_settings());
    let columns = &table(&template, "sales")["TableInput"]["StorageDescriptor"]["Columns"];
    assert_eq!(
        columns,
        &json!([
            { "Name": "order_id", "Type": "bigint" },
            { "Name": "customer", "Type": "string" },
            { "Name": "amount", "Type": "decimal(12,2)" },
            { "Name": "currency", "Type": "string" },
            { "Name": "ordered_at", "Type": "timestamp" },
            { "Name": "shipped", "Type": "boolean" },
        ])
    );
    let parameters = &table(&template, "sales")["TableInput"]["Parameters"];
    assert!(
        parameters.get("projection.enabled").is_none(),
        "no partitions, no projection"
    );
}

#[test]
fn partition_columns_are_projected_as_athena_documents_it() {
    // AWS, Athena User Guide, "Supported types for partition projection"
    // (https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html):
    // `projection.<col>.type` is enum, integer, date or injected; integer needs
    // `projection.<col>.range` ("a two-element comma-separated list", limited to Java's
    // signed long); date needs `format` (Java date patterns) and `range`, whose end may be
    // the token NOW, with optional `interval` and `interval.unit`. "Set up partition
    // projection" (https://docs.aws.amazon.com/athena/latest/ug/partition-projection-setting-up.html):
    // `projection.enabled` true, and `storage.location.template` naming every partition
    // column as `${col}`. "Use dynamic ID partitioning"
    // (https://docs.aws.amazon.com/athena/latest/ug/partition-projection-dynamic-id-partitioning.html):
    // an injected column's values come from the query's equality conditions on it.
    let settings = partitioned_settings();
    let template = template_of(&settings);
    let contract = settings
        .contracts
        .iter()
        .find(|c| c.dataset == "device_events")
        .unwrap();
    let mut kinds: Vec<ColumnType> = contract.partitions.iter().map(|p| p.column_type).collect();
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            ColumnType::String,
            ColumnType::Date,
            ColumnType::Int32,
            ColumnType::Int64
        ],
        "the fixture covers every partition type"
    );
    let parameters = &table(&template, "device_events")["TableInput"]["Parameters"];
    let expected = json!({
        "classification": "parquet",
        "EXTERNAL": "TRUE",
        "projection.enabled": "true",
        "projection.region.type": "injected",
        "projection.day.type": "date",
        "projection.day.format": "yyyy-MM-dd",
        "projection.day.range": "2000-01-01,NOW",
        "projection.day.interval": "1",
        "projection.day.interval.unit": "DAYS",
        "projection.shard.type": "integer",
        "projection.shard.range": "-2147483648,2147483647",
        "projection.batch.type": "integer",
        "projection.batch.range": "-9223372036854775808,9223372036854775807",
        // Fn::Sub's `${!x}` is the literal `${x}` Athena fills; the folders are the key's
        // Hive-style ones, which the processors keep under curated/<dataset>/.
        "storage.location.template": {
            "Fn::Sub": "s3://${UploadBucket}/curated/device_events/region=${!region}/day=${!day}/shard=${!shard}/batch=${!batch}/"
        },
    });
    assert_eq!(parameters, &expected);
}

#[test]
fn the_database_is_named_after_the_stack_with_underscores() {
    let template = template_of(&repository_settings());
    let database = &template["Resources"][catalog::DATABASE];
    assert_eq!(database["Type"], "AWS::Glue::Database");
    assert_eq!(
        database["Properties"]["DatabaseInput"]["Name"],
        json!({ "Fn::Join": ["_", { "Fn::Split": ["-", { "Ref": "AWS::StackName" }] }] })
    );
    assert_eq!(
        template["Outputs"][output::GLUE_DATABASE]["Value"],
        json!({ "Ref": catalog::DATABASE })
    );
    assert_eq!(
        template["Outputs"][output::ATHENA_WORKGROUP]["Value"],
        json!({ "Ref": catalog::WORKGROUP })
    );
}

#[test]
fn the_workgroup_enforces_results_encrypted_with_the_stacks_key_under_their_own_prefix() {
    // Enforced: with "Override client-side settings" Athena uses the workgroup's results
    // location and encryption for every query, whatever the client asks (AWS, "Override
    // client-side settings", https://docs.aws.amazon.com/athena/latest/ug/workgroups-settings-override.html);
    // SSE_KMS with the key's ARN (AWS::Athena::WorkGroup EncryptionConfiguration,
    // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-athena-workgroup-encryptionconfiguration.html).
    let template = template_of(&repository_settings());
    let workgroups = resources_of(&template, "AWS::Athena::WorkGroup");
    assert_eq!(workgroups.len(), 1);
    let configuration = &workgroups[0].1["Properties"]["WorkGroupConfiguration"];
    assert_eq!(
        configuration["EnforceWorkGroupConfiguration"],
        json!(true),
        "clients may not override the encryption or the location"
    );
    let results = &configuration["ResultConfiguration"];
    assert_eq!(
        results["EncryptionConfiguration"],
        json!({ "EncryptionOption": "SSE_KMS", "KmsKey": key_arn() })
    );
    assert_eq!(
        results["OutputLocation"],
        json!({ "Fn::Sub": "s3://${UploadBucket}/athena-results/" })
    );
    assert_eq!(
        results["ExpectedBucketOwner"],
        json!({ "Ref": "AWS::AccountId" })
    );
    // Results expire; and no upload prefix the deploy accepts reaches them.
    let rules = &template["Resources"][id::BUCKET]["Properties"]["LifecycleConfiguration"]["Rules"];
    let expire = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Prefix"] == catalog::ATHENA_RESULTS_PREFIX)
        .expect("a lifecycle rule for the results");
    assert_eq!(
        expire["ExpirationInDays"],
        json!(catalog::ATHENA_RESULTS_DAYS)
    );
    for (input, output) in [
        ("athena-results/", "processed/"),
        ("incoming/", "athena-results/x/"),
        ("curated/", "processed/"),
        ("incoming/", "rejected/"),
    ] {
        assert!(
            infra::request::check_prefixes(input, output).is_err(),
            "{input} {output}"
        );
    }
    infra::request::check_prefixes("incoming/", "processed/").unwrap();
}

/// The processors' S3 statements as (actions, resources).
fn s3_statements(template: &Value, role: &str) -> Vec<(Vec<String>, Vec<Value>)> {
    let document = &template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"];
    let list = |v: &Value| match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    list(&document["Statement"])
        .into_iter()
        .map(|s| {
            let actions: Vec<String> = list(&s["Action"])
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect();
            (actions, list(&s["Resource"]))
        })
        .filter(|(actions, _)| actions.iter().any(|a| a.starts_with("s3:")))
        .collect()
}

#[test]
fn processors_write_contract_outputs_only_under_curated_and_rejected_of_their_datasets() {
    let settings = partitioned_settings();
    let template = template_of(&settings);
    let mut outputs: Vec<Value> = Vec::new();
    for contract in settings.contracts.iter() {
        for prefix in ["curated", "rejected"] {
            outputs.push(json!({ "Fn::Sub": format!("${{UploadBucket.Arn}}/{prefix}/{}/*", contract.dataset) }));
        }
    }
    let reports = json!({ "Fn::Sub": "${UploadBucket.Arn}/${OutputPrefix}*" });
    let input = json!({ "Fn::Sub": "${UploadBucket.Arn}/${InputPrefix}*" });
    for role in ["FunctionRole", "TaskRole"] {
        for (actions, resources) in s3_statements(&template, role) {
            for action in &actions {
                assert!(!action.contains('*'), "{role}: wildcard action {action}");
                if matches!(
                    action.as_str(),
                    "s3:PutObject"
                        | "s3:DeleteObject"
                        | "s3:AbortMultipartUpload"
                        | "s3:ListMultipartUploadParts"
                ) {
                    for resource in &resources {
                        assert_ne!(resource, &json!("*"), "{role}: {action} on *");
                        assert_ne!(resource, &input, "{role}: {action} on the input prefix");
                        assert!(
                            outputs.contains(resource)
                                || (action == "s3:PutObject" && resource == &reports),
                            "{role}: {action} on {resource}"
                        );
                    }
                }
                assert!(
                    !action.starts_with("s3:Delete") || action == "s3:DeleteObject",
                    "{role}: {action}"
                );
            }
        }
        let writes = s3_statements(&template, role)
            .into_iter()
            .find(|(actions, _)| actions.iter().any(|a| a == "s3:DeleteObject"))
            .unwrap_or_else(|| panic!("{role} cannot write contract outputs"));
        assert_eq!(
            writes.0,
            ["s3:PutObject", "s3:AbortMultipartUpload", "s3:DeleteObject"]
        );
        assert_eq!(writes.1, outputs, "{role}: every dataset's two prefixes");
        // The one read beyond the input and the reports: a HEAD of the previous rejects.
        let rejects: Vec<Value> = outputs
            .iter()
            .filter(|r| r["Fn::Sub"].as_str().unwrap().contains("/rejected/"))
            .cloned()
            .collect();
        let reads: Vec<Vec<Value>> = s3_statements(&template, role)
            .into_iter()
            .filter(|(actions, _)| actions.iter().any(|a| a == "s3:GetObject"))
            .map(|(_, resources)| resources)
            .collect();
        assert_eq!(
            reads,
            [vec![input.clone()], vec![reports.clone()], rejects],
            "{role}"
        );
    }
}

#[test]
fn without_contracts_there_are_no_tables_and_no_output_writes() {
    let template = template_of(&Settings::default());
    assert!(resources_of(&template, "AWS::Glue::Table").is_empty());
    assert_eq!(resources_of(&template, "AWS::Glue::Database").len(), 1);
    assert_eq!(resources_of(&template, "AWS::Athena::WorkGroup").len(), 1);
    for role in ["FunctionRole", "TaskRole"] {
        for (actions, _) in s3_statements(&template, role) {
            assert!(!actions.iter().any(|a| a == "s3:DeleteObject"), "{role}");
        }
    }
}

#[test]
fn the_processors_are_told_where_the_contracts_are_built_in() {
    // LAMBDA_TASK_ROOT, "the path to your Lambda function code", is /var/task: the zip's
    // files are there (AWS, "Defined runtime environment variables",
    // https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
    let template = template_of(&repository_settings());
    let function = &template["Resources"][id::FUNCTION]["Properties"];
    assert_eq!(
        function["Environment"]["Variables"][env::CONTRACTS_DIR],
        "/var/task/contracts",
        "the zip's contracts/ (Lambda unpacks the zip to /var/task)"
    );
    let container =
        &template["Resources"][id::TASK_DEFINITION]["Properties"]["ContainerDefinitions"][0];
    let variable = container["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == env::CONTRACTS_DIR)
        .expect("the task is told");
    assert_eq!(variable["Value"], "/contracts", "the Dockerfile's COPY");
    // The build puts them there.
    let makefile = std::fs::read_to_string(root().join("Makefile")).unwrap();
    assert!(makefile.contains("--include contracts"), "make lambda");
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("COPY contracts /contracts"),
        "the image"
    );
}

/// A contracts folder holding one file.
fn contracts_dir(name: &str, text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    dir
}

const BAD_TYPE: &str = "dataset = \"orders\"\nprefix = \"incoming/orders/\"\n\n[[columns]]\nname = \"id\"\ntype = \"int128\"\n";

#[test]
fn a_bad_contract_fails_synth_with_its_file_and_line() {
    let dir = contracts_dir("orders.toml", BAD_TYPE);
    let error = Settings::with_contracts_dir(dir.path()).unwrap_err();
    let path = dir.path().join("orders.toml");
    assert_eq!(error.path, path);
    assert_eq!(error.line, 6, "the type's line");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("{}:6: ", path.display())),
        "{message}"
    );
    assert!(message.contains("int128"), "{message}");

    // The same through the command, which writes nothing.
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir(out.path().join("infra")).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_infra"))
        .args(["synth", "--root"])
        .arg(out.path())
        .arg("--contracts-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{}:6: ", path.display())),
        "{stderr}"
    );
    assert!(!out.path().join(infra::TEMPLATE_FILE).exists());
}

#[test]
fn a_contract_outside_the_input_prefix_or_with_columns_glue_would_merge_fails_synth() {
    let outside = contracts_dir(
        "x.toml",
        "dataset = \"x\"\nprefix = \"elsewhere/x/\"\n\n[[columns]]\nname = \"a\"\ntype = \"string\"\n",
    );
    let error = Settings::with_contracts_dir(outside.path()).unwrap_err();
    assert!(error.to_string().contains("input prefix"), "{error}");
    let cased = contracts_dir(
        "y.toml",
        "dataset = \"y\"\nprefix = \"incoming/y/\"\n\n[[columns]]\nname = \"Id\"\ntype = \"string\"\n\n[[columns]]\nname = \"id\"\ntype = \"string\"\n",
    );
    let error = Settings::with_contracts_dir(cased.path()).unwrap_err();
    assert!(error.to_string().contains("lowercase"), "{error}");
    assert_eq!(error.line, 9, "the second column's name: {error}");
}
