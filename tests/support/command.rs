//! Running the rebootscan binary as users do, for the command-line tests (tests/cli.rs,
//! tests/safety.rs, tests/reports.rs): the binary Cargo built for this test run, and its
//! output as text.

use std::path::Path;
use std::process::{Command, Output};

/// The binary, to add arguments, pipes or limits to.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rebootscan"))
}

/// Runs the binary with `args` and waits for it.
pub fn rebootscan(args: &[&str]) -> Output {
    bin().args(args).output().expect("run rebootscan")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn stdout(output: &Output) -> String {
    text(&output.stdout)
}

pub fn stderr(output: &Output) -> String {
    text(&output.stderr)
}

/// A path as a command-line argument (temporary paths are UTF-8).
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}
