//! The cases where a naive reading of real machines goes wrong (issue 14), on machines written
//! by the project's hive writer and scanned through the command line as an analyst would:
//! a delta SOFTWARE beside a full SYSTEM, a PFRO list with an unpaired final source, a
//! profile-cache-only PFRO, and a sysprep-generalized image.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use support::hive_writer::{HiveSpec, ValueSpec};

const SESSION_MANAGER: &str = "ControlSet001\\Control\\Session Manager";

fn rebootscan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rebootscan")).args(args).output().expect("run rebootscan")
}

fn system(computer_name: &str) -> HiveSpec {
    let mut system = HiveSpec::new("ROOT");
    system.set_value("Select", ValueSpec::dword("Current", 1));
    system.set_value("Select", ValueSpec::dword("Default", 1));
    system
        .set_value("ControlSet001\\Control\\ComputerName\\ComputerName", ValueSpec::sz("ComputerName", computer_name));
    system.set_value(SESSION_MANAGER, ValueSpec::multi_sz("BootExecute", &["autocheck autochk *"]));
    system
}

fn software() -> HiveSpec {
    let mut software = HiveSpec::new("ROOT");
    let current_version = "Microsoft\\Windows NT\\CurrentVersion";
    software.set_value(current_version, ValueSpec::sz("ProductName", "Windows 10 Pro"));
    software.set_value(current_version, ValueSpec::sz("CurrentBuild", "19045"));
    software.set_value(current_version, ValueSpec::dword("UBR", 4291));
    software.set_value(
        "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing",
        ValueSpec::dword("ExecuteState", 0xFFFF_FFFF),
    );
    software
}

/// Writes the hives into a new folder and returns the JSON report of its one machine.
fn scan_json(dir: &Path, hives: &[(&str, &HiveSpec)]) -> Value {
    for (name, spec) in hives {
        std::fs::write(dir.join(name), spec.build()).unwrap();
    }
    let output = rebootscan(&["scan", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    report["machines"][0].clone()
}

fn scan_text(dir: &Path) -> String {
    String::from_utf8_lossy(&rebootscan(&["scan", dir.to_str().unwrap()]).stdout).into_owned()
}

fn finding<'a>(machine: &'a Value, rule: &str) -> &'a Value {
    machine["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule)
        .unwrap_or_else(|| panic!("no {rule} finding: {machine:#}"))
}

#[test]
fn delta_software_beside_a_full_system_is_unknown_naming_the_delta_hive() {
    let dir = tempfile::tempdir().unwrap();
    let mut delta = software();
    delta.minor_version = 6;
    let machine = scan_json(dir.path(), &[("SYSTEM", &system("LAYER-01")), ("SOFTWARE", &delta)]);
    assert!(machine["findings"].as_array().unwrap().is_empty(), "{machine:#}");
    assert_eq!(machine["verdict"], "unknown", "{machine:#}");
    let reason = machine["verdict_reason"].as_str().unwrap();
    assert!(reason.contains("SOFTWARE") && reason.contains("differencing (\"delta\") hive"), "{reason}");
    assert!(reason.contains(&dir.path().join("SOFTWARE").display().to_string()), "{reason}");
    let software_hive = machine["hives"].as_array().unwrap().iter().find(|h| h["kind"] == "SOFTWARE").unwrap();
    assert_eq!(software_hive["differencing"], true);

    let text = scan_text(dir.path());
    assert!(text.contains("verdict: UNKNOWN — no strong or medium finding, but SOFTWARE"), "{text}");

    // The same machine with a full SOFTWARE is a plain "not pending".
    let full = tempfile::tempdir().unwrap();
    let machine = scan_json(full.path(), &[("SYSTEM", &system("LAYER-01")), ("SOFTWARE", &software())]);
    assert_eq!(machine["verdict"], "not_pending", "{machine:#}");

    // A delta hive that does hold an indicator still proves it.
    let pending = tempfile::tempdir().unwrap();
    let mut delta = software();
    delta.minor_version = 6;
    delta.key_mut("Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending");
    let machine = scan_json(pending.path(), &[("SYSTEM", &system("LAYER-01")), ("SOFTWARE", &delta)]);
    assert_eq!(machine["verdict"], "pending", "{machine:#}");
}

#[test]
fn unpaired_final_source_is_a_delete_and_listed_as_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let mut system = system("TAIL-01");
    // The data ends `stale.tmp\0\0`: the source's NUL and the list terminator, no empty target.
    system.set_value(
        SESSION_MANAGER,
        ValueSpec::multi_sz(
            "PendingFileRenameOperations",
            &[
                "\\??\\C:\\Windows\\System32\\SET7.tmp",
                "!\\??\\C:\\Windows\\System32\\clbcatq.dll",
                "\\??\\C:\\Windows\\Temp\\stale.tmp",
            ],
        ),
    );
    let machine = scan_json(dir.path(), &[("SYSTEM", &system), ("SOFTWARE", &software())]);
    let pfro = finding(&machine, "pending_file_rename_operations");
    let operations = pfro["data"]["operations"].as_array().unwrap();
    assert_eq!(operations.len(), 2, "{pfro:#}");
    assert_eq!(operations[1]["op"], "delete");
    assert_eq!(operations[1]["source_path"], "C:\\Windows\\Temp\\stale.tmp");
    let malformed = pfro["data"]["malformed"].as_array().unwrap();
    assert_eq!(malformed.len(), 1, "{pfro:#}");
    let problem = malformed[0].as_str().unwrap();
    assert!(problem.contains("unpaired final source") && problem.contains("stale.tmp"), "{problem}");
    assert!(problem.contains("two NULs"), "{problem}");
    assert!(pfro["summary"].as_str().unwrap().contains("1 encoding problem(s)"), "{pfro:#}");

    let text = scan_text(dir.path());
    assert!(text.contains("malformed: unpaired final source"), "{text}");
}
