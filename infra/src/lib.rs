//! The S3 upload pipeline's AWS side, from typed Rust: the state machine definition
//! ([`statemachine`], on the [`asl`] model), the CloudFormation template ([`template`], on the
//! [`cfn`] model), and the files `infra synth` writes.
//!
//! Deploying: [`request`] holds what a deploy is asked for and every check that needs no AWS
//! call (names and their limits, settings, tags, image URIs); [`preflight`] the read-only
//! checks against the account (their decisions pure, on gathered facts); [`deploy`] the
//! change-set flow, which reports [`deploy::Progress`] to a callback and fails with a
//! [`deploy::DeployError`]; [`clients`] the AWS clients they share.
//!
//! The contracts come from [`shared`]: error names and their retry flags, exit codes, the job
//! document, prefixes and the threshold. Nothing here is written by hand twice. The data
//! contracts (`contracts/*.toml`) are read at synth and deploy time: each becomes a Glue
//! table ([`catalog`]), and the processors may write its outputs.

pub mod asl;
pub mod catalog;
pub mod cfn;
pub mod clients;
pub mod deploy;
pub mod monitoring;
pub mod operator;
pub mod preflight;
pub mod request;
pub mod statemachine;
pub mod template;

use std::path::Path;

/// The committed state machine definition, relative to the repository root.
pub const STATE_MACHINE_FILE: &str = "statemachine.asl.json";

/// The committed template, relative to the repository root.
pub const TEMPLATE_FILE: &str = "infra/template.json";

/// The data contracts' folder, relative to the repository root (`--contracts-dir`'s default).
pub const CONTRACTS_DIR: &str = "contracts";

/// The generated files: `(path relative to the repository root, contents)`.
pub fn synth(settings: &template::Settings) -> Vec<(&'static str, String)> {
    let definition = statemachine::definition(&settings.state_machine);
    vec![
        (STATE_MACHINE_FILE, statemachine::to_json(&definition)),
        (TEMPLATE_FILE, template::template(settings).to_json()),
    ]
}

/// Writes the generated files under `root`; returns the paths it changed.
pub fn write_synth(
    root: &Path,
    settings: &template::Settings,
) -> std::io::Result<Vec<&'static str>> {
    let mut changed = Vec::new();
    for (path, contents) in synth(settings) {
        let full = root.join(path);
        if std::fs::read_to_string(&full).ok().as_deref() != Some(contents.as_str()) {
            std::fs::write(&full, contents)?;
            changed.push(path);
        }
    }
    Ok(changed)
}
