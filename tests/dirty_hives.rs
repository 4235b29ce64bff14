//! End to end: a dirty SYSTEM hive whose PendingFileRenameOperations exists only in its
//! transaction log is reported pending, and text, JSON and CSV all say what was recovered.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::hive_writer::{HiveSpec, ValueSpec};
use support::log_writer::{new_format_log, old_format_log};

fn rebootscan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rebootscan")).args(args).output().expect("run rebootscan")
}

/// A machine folder whose SYSTEM on disk predates the rename; `log` turns it into the hive
/// that has it.
fn write_machine(dir: &Path, log: impl Fn(&[u8], &[u8]) -> Vec<u8>) {
    let (primary, entry) = support::dirty::system_with_rename_only_in_log("DIRTY-HOST", log);
    std::fs::write(dir.join("SYSTEM"), &primary).unwrap();
    std::fs::write(dir.join("SYSTEM.LOG1"), entry).unwrap();
    std::fs::write(dir.join("SYSTEM.LOG2"), b"").unwrap();
    let mut software = HiveSpec::new("ROOT");
    software.set_value("Microsoft\\Windows NT\\CurrentVersion", ValueSpec::sz("CurrentBuild", "19045"));
    std::fs::write(dir.join("SOFTWARE"), software.build()).unwrap();
}

fn check_machine(dir: &Path) {
    let path = dir.to_str().unwrap();
    let json = rebootscan(&["scan", path, "--format", "json"]);
    assert_eq!(json.status.code(), Some(0), "{}", String::from_utf8_lossy(&json.stderr));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let machine = &report["machines"][0];
    assert_eq!(machine["verdict"], "pending", "{machine:#}");
    assert_eq!(machine["findings"][0]["rule"], "pending_file_rename_operations");
    let system = machine["hives"].as_array().unwrap().iter().find(|h| h["kind"] == "SYSTEM").unwrap();
    assert_eq!(system["dirty"], true);
    assert_eq!(system["log_replay"]["applied"], true, "{system:#}");
    assert!(system["log_replay"]["report"]["sequence_reached"].as_u64().is_some());

    let text = String::from_utf8_lossy(&rebootscan(&["scan", path]).stdout).into_owned();
    assert!(text.contains("recovered from its transaction logs"), "{text}");
    assert!(text.contains("logs: dirty (seq 41/40); replayed"), "{text}");

    let csv = String::from_utf8_lossy(&rebootscan(&["scan", path, "--format", "csv"]).stdout).into_owned();
    assert!(csv.contains("SYSTEM: recovered from logs"), "{csv}");

    // The primary as it is on disk knows nothing of the rename, and says it may be stale.
    let stale = rebootscan(&["scan", path, "--format", "json", "--no-logs"]);
    let report: serde_json::Value = serde_json::from_slice(&stale.stdout).unwrap();
    let machine = &report["machines"][0];
    assert_eq!(machine["verdict"], "not_pending");
    let warnings = machine["hives"].to_string();
    assert!(warnings.contains("recent changes may be missing"), "{warnings}");
}

#[test]
fn rename_only_in_a_new_format_log_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    write_machine(dir.path(), |before, after| new_format_log(before, after, support::dirty::SEQUENCE, 2));
    check_machine(dir.path());
}

#[test]
fn rename_only_in_an_old_format_log_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    write_machine(dir.path(), |before, after| old_format_log(before, after, support::dirty::SEQUENCE + 1));
    check_machine(dir.path());
}

/// Only `SYSTEM.LOG2` beside a dirty SYSTEM: the replay runs from it, and text, JSON, CSV and
/// inspect all say that `SYSTEM.LOG1` is missing from the set.
#[test]
fn incomplete_log_set_is_replayed_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (primary, entry) = support::dirty::system_with_rename_only_in_log("HALF-LOGS", |before, after| {
        new_format_log(before, after, support::dirty::SEQUENCE, 2)
    });
    std::fs::write(dir.path().join("SYSTEM"), &primary).unwrap();
    std::fs::write(dir.path().join("SYSTEM.LOG2"), entry).unwrap();
    let path = dir.path().to_str().unwrap();

    let json = rebootscan(&["scan", path, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let machine = &report["machines"][0];
    assert_eq!(machine["verdict"], "pending", "{machine:#}");
    let system = &machine["hives"][0];
    assert_eq!(system["log_replay"]["applied"], true, "{system:#}");
    let set = &system["log_replay"]["log_set"];
    assert_eq!(set["expected"], serde_json::json!(["SYSTEM.LOG1", "SYSTEM.LOG2"]));
    assert_eq!(set["found"], serde_json::json!(["SYSTEM.LOG2"]));
    assert_eq!(set["missing"], serde_json::json!(["SYSTEM.LOG1"]));
    assert_eq!(set["complete"], false);
    assert!(system["warnings"].to_string().contains("incomplete transaction log set"), "{system:#}");

    let text = String::from_utf8_lossy(&rebootscan(&["scan", path]).stdout).into_owned();
    assert!(
        text.contains("log set: expected SYSTEM.LOG1, SYSTEM.LOG2; found SYSTEM.LOG2; incomplete: SYSTEM.LOG1 missing"),
        "{text}"
    );
    assert!(text.contains("recovered from its transaction logs"), "{text}");

    let csv = String::from_utf8_lossy(&rebootscan(&["scan", path, "--format", "csv"]).stdout).into_owned();
    assert!(csv.contains("SYSTEM: recovered from logs (SYSTEM.LOG1 missing)"), "{csv}");

    let system_path = dir.path().join("SYSTEM");
    let inspect = rebootscan(&["inspect", system_path.to_str().unwrap()]);
    let inspect = String::from_utf8_lossy(&inspect.stdout).into_owned();
    assert!(inspect.contains("log set: expected SYSTEM.LOG1, SYSTEM.LOG2; found SYSTEM.LOG2; incomplete"), "{inspect}");
    let inspect_json = rebootscan(&["inspect", system_path.to_str().unwrap(), "--json"]);
    let inspect_json: serde_json::Value = serde_json::from_slice(&inspect_json.stdout).unwrap();
    assert_eq!(inspect_json.to_string().matches("\"missing\":[\"SYSTEM.LOG1\"]").count(), 1, "{inspect_json:#}");
}

/// The old single-log layout of Windows XP: `SYSTEM.LOG` alone is a complete set.
#[test]
fn a_lone_dot_log_is_the_old_complete_set() {
    let dir = tempfile::tempdir().unwrap();
    let (primary, entry) = support::dirty::system_with_rename_only_in_log("XP-HOST", |before, after| {
        old_format_log(before, after, support::dirty::SEQUENCE + 1)
    });
    std::fs::write(dir.path().join("SYSTEM"), &primary).unwrap();
    std::fs::write(dir.path().join("SYSTEM.LOG"), entry).unwrap();
    let json = rebootscan(&["scan", dir.path().to_str().unwrap(), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let set = &report["machines"][0]["hives"][0]["log_replay"]["log_set"];
    assert_eq!(set["expected"], serde_json::json!(["SYSTEM.LOG"]), "{set:#}");
    assert_eq!(set["complete"], true, "{set:#}");
    assert_eq!(report["machines"][0]["verdict"], "pending");
}
