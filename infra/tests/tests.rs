//! The infra crate's checks, in one test binary: the generated files against the committed
//! ones, the state machine's handling of every error name, the template's own assertions,
//! and the real validators and scanners.

mod catalog;
mod deploy;
mod generated;
mod scanners;
mod state_machine;
mod template_checks;
