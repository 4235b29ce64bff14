//! Test support shared by the integration tests and the benchmarks: the project's own regf
//! writer, its transaction-log writer, fixture sources, and access to the shared real-hive corpus.
#![allow(dead_code)]

pub mod command;
pub mod containers;
pub mod corpus;
pub mod dirty;
pub mod ewf2_writer;
pub mod external;
pub mod fixture_source;
pub mod hive_writer;
pub mod log_writer;
pub mod partition_writer;
pub mod pe_writer;
pub mod vhdx_writer;

/// Says on the terminal that `test` skipped a check. Written to the process's stderr directly:
/// the test harness captures `eprintln!` of passing tests, and a skip nobody sees is a pass.
pub fn skipped(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {test}: {why}");
}

/// Prints a line about what a test did (how many variants, …) past the harness's capture.
pub fn note(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}
