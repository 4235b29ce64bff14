//! Independent programs that some tests use as cross-checks (hivex reading the hives our
//! writer produces, later a browser for the HTML report). They are the only tests allowed to
//! depend on something beyond the Rust toolchain: off CI a missing program skips the check
//! with a visible `SKIPPED` line; under `CI=true` (where `.ci/run` installs them) it fails, so
//! CI can never go green without running the cross-check.

use std::path::PathBuf;

/// Where `program` is, if it is installed (PATH, then /usr/sbin and /sbin, which a non-root
/// PATH may lack). `None` after printing `SKIPPED test: …` when it is missing outside CI.
///
/// # Panics
/// When the program is missing and `CI=true`.
pub fn cross_check_tool(program: &str, package: &str, test: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file());
    if found.is_some() {
        return found;
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{test}: `{program}` (Debian package {package}) is missing and CI=true: .ci/run installs it");
    }
    super::skipped(
        test,
        &format!("`{program}` not installed (Debian package {package}); this cross-check runs under CI"),
    );
    None
}

/// A Python interpreter that can import Timesketch's importer (`timesketch-import-client`):
/// `$REBOOTSCAN_TIMESKETCH_PYTHON` if set (`.ci/run` points it at its venv), else `python3`.
/// `None` after printing `SKIPPED test: …` when neither has it outside CI.
///
/// # Panics
/// When it is missing and `CI=true`.
pub fn timesketch_python(test: &str) -> Option<PathBuf> {
    let python = std::env::var_os("REBOOTSCAN_TIMESKETCH_PYTHON").map(PathBuf::from).unwrap_or("python3".into());
    let importable = std::process::Command::new(&python)
        .args(["-c", "import timesketch_import_client.importer"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if importable {
        return Some(python);
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{test}: {} cannot import timesketch_import_client and CI=true: .ci/run installs it", python.display());
    }
    super::skipped(
        test,
        &format!(
            "{} cannot import timesketch_import_client (pip install timesketch-import-client six python-dateutil, \
             or set REBOOTSCAN_TIMESKETCH_PYTHON); this cross-check runs under CI",
            python.display()
        ),
    );
    None
}
