//! The exact messages the CLI prints for bad input: each names the file and says what to do.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::hive_writer::{HiveSpec, ValueSpec};

fn rebootscan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rebootscan")).args(args).output().expect("run rebootscan")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn has_line(output: &str, line: &str) -> bool {
    output.lines().any(|l| l == line)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn path_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("evidence");
    let output = rebootscan(&["scan", path(&missing)]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        has_line(&stderr, &format!("rebootscan: skipped {}: does not exist (check the path)", missing.display())),
        "{stderr}"
    );
    assert!(
        has_line(
            &stderr,
            "rebootscan: error: no machine to scan: give a hive file, a folder holding SYSTEM/SOFTWARE/COMPONENTS, or a collection tree"
        ),
        "{stderr}"
    );
}

#[test]
fn directory_with_no_hives() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "case notes").unwrap();
    let output = rebootscan(&["scan", path(dir.path())]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    let expected = format!(
        "rebootscan: skipped {}: no SYSTEM, SOFTWARE or COMPONENTS hive found in this folder or below (give a hive file directly, or the folder that holds the hives or Windows/System32/config)",
        dir.path().display()
    );
    assert!(has_line(&stderr, &expected), "{stderr}");
}

/// Scans one file and returns the `errors:` line of the text report for it.
fn error_line_for(file: &Path) -> (Option<i32>, String) {
    let output = rebootscan(&["scan", path(file)]);
    (output.status.code(), text(&output.stdout))
}

#[test]
fn files_that_are_not_hives() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("SYSTEM", b"", "the file is empty (0 bytes): the copy failed or the file was never written; collect the hive again"),
        (
            "notes.txt",
            b"Windows Registry Editor Version 5.00\r\n",
            "not a registry hive: it starts with \"Wind\" instead of the \"regf\" signature; give the hive files from Windows\\System32\\config (SYSTEM, SOFTWARE, COMPONENTS)",
        ),
        (
            "tool.exe",
            b"MZ\x90\x00\x03\x00\x00\x00\x04\x00",
            "not a registry hive: it starts with \"MZ\" (a Windows executable) instead of the \"regf\" signature; give the hive files from Windows\\System32\\config (SYSTEM, SOFTWARE, COMPONENTS)",
        ),
        (
            "SOFTWARE",
            b"regf\x01\x00\x00\x00\x01\x00\x00\x00",
            "truncated: only 12 bytes, shorter than the 512-byte base block; the copy is incomplete, collect the hive again",
        ),
    ];
    for (name, bytes, message) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let (code, stdout) = error_line_for(&file);
        assert_eq!(code, Some(3), "{name}");
        assert!(has_line(&stdout, &format!("  {}: {message}", file.display())), "{name}: {stdout}");
    }
}

#[test]
fn hive_of_the_wrong_kind() {
    let dir = tempfile::tempdir().unwrap();
    let mut ntuser = HiveSpec::new("ROOT");
    ntuser.key_mut("Software\\Microsoft");
    ntuser.set_value("Environment", ValueSpec::sz("TEMP", "%USERPROFILE%\\AppData\\Local\\Temp"));
    let file = dir.path().join("SYSTEM");
    std::fs::write(&file, ntuser.build()).unwrap();
    let output = rebootscan(&["scan", path(&file)]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    assert!(
        has_line(
            &stdout,
            "             warning: wrong hive kind: named like a SYSTEM hive, but its content is a NTUSER hive (Software with Control Panel / Environment); give this machine's SYSTEM from Windows\\System32\\config"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("verdict: UNKNOWN"), "{stdout}");
}

#[test]
fn differencing_hive() {
    let Some(corpus) = support::corpus::corpus_dir("differencing_hive") else { return };
    let output = rebootscan(&["scan", path(&corpus.join("software-delta"))]);
    let stdout = text(&output.stdout);
    assert!(
        has_line(
            &stdout,
            "             warning: format 1.6 differencing (\"delta\") hive from a container layer: a partial view holding only what the layer changed, so absent keys prove nothing; scan the hives of the container's base image for a whole machine"
        ),
        "{stdout}"
    );
}

#[test]
fn output_that_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut system = HiveSpec::new("ROOT");
    system.set_value("Select", ValueSpec::dword("Current", 1));
    system.key_mut("ControlSet001\\Control");
    std::fs::write(dir.path().join("SYSTEM"), system.build()).unwrap();
    let target = dir.path().join("no-such-folder/report.json");
    let output = rebootscan(&["scan", path(dir.path()), "-o", path(&target)]);
    assert_eq!(output.status.code(), Some(1));
    let expected = format!(
        "rebootscan: error: cannot write the report to {}: No such file or directory (os error 2) (choose a folder that exists and that you may write to)",
        target.display()
    );
    assert!(has_line(&text(&output.stderr), &expected), "{}", text(&output.stderr));

    let output = rebootscan(&["scan", path(dir.path()), "--findings-csv", path(&target)]);
    assert_eq!(output.status.code(), Some(1));
    let expected = format!(
        "rebootscan: error: cannot write the findings CSV to {}: No such file or directory (os error 2) (choose a folder that exists and that you may write to)",
        target.display()
    );
    assert!(has_line(&text(&output.stderr), &expected), "{}", text(&output.stderr));
}

/// Runs rebootscan as an unprivileged user when the tests run as root (as CI does), since
/// root reads files whatever their permissions.
#[cfg(unix)]
fn run_unprivileged(args: &[&str]) -> Option<Output> {
    let is_root = Command::new("id").arg("-u").output().ok().is_some_and(|o| text(&o.stdout).trim() == "0");
    if !is_root {
        return Some(rebootscan(args));
    }
    let mut command = Command::new("setpriv");
    command.args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_rebootscan")]).args(args);
    match command.output() {
        Ok(output) if !text(&output.stderr).contains("setpriv:") => Some(output),
        _ => {
            // setpriv is part of util-linux, on every CI image: under CI=true a skip here
            // would hide the check, so it fails instead.
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("permission_denied: cannot drop privileges with setpriv, and CI=true");
            }
            support::skipped("permission_denied", "cannot drop privileges with setpriv");
            None
        }
    }
}

#[cfg(unix)]
#[test]
fn permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("rebootscan-perm").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("SYSTEM");
    std::fs::write(&file, b"regf").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    let Some(output) = run_unprivileged(&["scan", path(&file)]) else { return };
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let expected = format!(
        "  {}: cannot read the file: Permission denied (os error 13); check that it exists and that you may read it",
        file.display()
    );
    assert!(has_line(&text(&output.stdout), &expected), "{}", text(&output.stdout));
}

/// A file in a folder that can be listed but not searched cannot be stat'ed: with no telling
/// name it could still be an image or an archive, so it is skipped with the reason, never
/// taken for a small file of no interest.
#[cfg(unix)]
#[test]
fn a_file_that_cannot_be_stated_is_skipped_with_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new().prefix("rebootscan-stat").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let boxed = dir.path().join("box");
    std::fs::create_dir(&boxed).unwrap();
    std::fs::write(boxed.join("export"), vec![0u8; 70_000]).unwrap();
    // Readable (listed) but not searchable (no stat) by others.
    std::fs::set_permissions(&boxed, std::fs::Permissions::from_mode(0o744)).unwrap();
    let Some(output) = run_unprivileged(&["scan", path(dir.path())]) else { return };
    let expected = format!(
        "rebootscan: skipped {}: cannot be read: Permission denied (os error 13) (check that you may read it)",
        boxed.join("export").display()
    );
    assert!(has_line(&text(&output.stderr), &expected), "{}", text(&output.stderr));
}
