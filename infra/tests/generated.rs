//! The committed generated files are exactly what the generator writes.

use std::path::Path;

use infra::template::Settings;

use crate::catalog::repository_settings;

#[test]
fn committed_files_match_the_generator() {
    // With the repository's contracts/, as `cargo run -p infra -- synth` reads them.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (path, contents) in infra::synth(&repository_settings()) {
        let committed = std::fs::read_to_string(root.join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}; run `cargo run -p infra -- synth`"));
        assert!(
            committed == contents,
            "{path} is out of date: run `cargo run -p infra -- synth` and commit the result"
        );
    }
}

#[test]
fn the_committed_definition_loads_into_the_model() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join(infra::STATE_MACHINE_FILE)).unwrap();
    let machine: infra::asl::StateMachine = serde_json::from_str(&text).unwrap();
    machine.validate().unwrap();
}

#[test]
fn a_different_threshold_changes_only_the_parameter_default() {
    let default = infra::synth(&Settings::default());
    let other = infra::synth(&Settings {
        threshold_bytes: 1_000,
        ..Settings::default()
    });
    assert_eq!(
        default[0], other[0],
        "the definition takes the threshold at deploy time"
    );
    let template: serde_json::Value = serde_json::from_str(&other[1].1).unwrap();
    assert_eq!(
        template["Parameters"]["ThresholdBytes"]["Default"],
        serde_json::json!(1_000)
    );
}
