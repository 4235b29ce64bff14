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

fn profile_list(software: &mut HiveSpec, profiles_directory: &str, profiles: &[(&str, &str)]) {
    let list = "Microsoft\\Windows NT\\CurrentVersion\\ProfileList";
    software.set_value(list, ValueSpec::expand_sz("ProfilesDirectory", profiles_directory));
    software.set_value(list, ValueSpec::expand_sz("ProgramData", "%SystemDrive%\\ProgramData"));
    for (sid, path) in profiles {
        software.set_value(&format!("{list}\\{sid}"), ValueSpec::expand_sz("ProfileImagePath", path));
    }
}

#[test]
fn profile_cache_only_renames_are_weak_and_not_pending() {
    let dir = tempfile::tempdir().unwrap();
    let mut system = system("CACHE-01");
    let cache = "\\??\\C:\\Users\\alice\\AppData\\Local\\Microsoft\\Windows\\INetCache";
    system.set_value(
        SESSION_MANAGER,
        ValueSpec::multi_sz(
            "PendingFileRenameOperations",
            &[
                &format!("{cache}\\IE\\5XK2Q1LM\\analytics[1].js"),
                "",
                &format!("{cache}\\Low\\IE\\container.dat"),
                "",
                "\\??\\C:\\Users\\ALICE~1\\AppData\\Local\\Temp\\nsq3A1.tmp\\System.dll",
                "",
                "\\??\\C:\\Windows\\System32\\config\\systemprofile\\AppData\\Local\\Microsoft\\Windows\\INetCache\\a.dat",
                "",
            ],
        ),
    );
    let mut software = software();
    profile_list(
        &mut software,
        "%SystemDrive%\\Users",
        &[("S-1-5-18", "%systemroot%\\system32\\config\\systemprofile"), ("S-1-5-21-1-2-3-1001", "C:\\Users\\alice")],
    );
    let machine = scan_json(dir.path(), &[("SYSTEM", &system), ("SOFTWARE", &software)]);
    assert_eq!(machine["verdict"], "not_pending", "{machine:#}");
    let pfro = finding(&machine, "pending_file_rename_operations");
    assert_eq!(pfro["strength"], "weak");
    for operation in pfro["data"]["operations"].as_array().unwrap() {
        assert_eq!(operation["class"], "temp_cleanup", "{operation:#}");
    }
    assert_eq!(pfro["data"]["counts"]["windows_system"], 0);
    assert_eq!(machine["context"]["folders"]["source"], "software");
    assert_eq!(machine["context"]["folders"]["profiles_directories"], serde_json::json!(["C:\\Users"]));
}

/// The classes follow the folders SOFTWARE names: Windows on D:, profiles on E:.
#[test]
fn classes_are_anchored_to_the_machines_own_folders() {
    let dir = tempfile::tempdir().unwrap();
    let mut system = system("DRIVES-01");
    system.set_value(
        SESSION_MANAGER,
        ValueSpec::multi_sz(
            "PendingFileRenameOperations",
            &[
                "\\??\\E:\\Profiles\\bob\\AppData\\Local\\Microsoft\\OneDrive\\new\\FileSync.dll",
                "!\\??\\E:\\Profiles\\bob\\AppData\\Local\\Microsoft\\OneDrive\\FileSync.dll",
                "\\??\\C:\\Windows\\System32\\leftover.dll",
                "",
                "\\SystemRoot\\System32\\SET9.tmp",
                "!\\SystemRoot\\System32\\drivers\\netio.sys",
                "\\??\\D:\\Apps\\Tool\\tool.exe.new",
                "!\\??\\D:\\Apps\\Tool\\tool.exe",
            ],
        ),
    );
    let mut software = software();
    software.set_value("Microsoft\\Windows NT\\CurrentVersion", ValueSpec::sz("SystemRoot", "D:\\WINDOWS"));
    let current_version = "Microsoft\\Windows\\CurrentVersion";
    software.set_value(current_version, ValueSpec::sz("ProgramFilesDir", "D:\\Apps"));
    software.set_value(current_version, ValueSpec::sz("ProgramW6432Dir", "D:\\Apps"));
    software.set_value(current_version, ValueSpec::sz("ProgramFilesDir (x86)", "D:\\Apps (x86)"));
    profile_list(&mut software, "E:\\Profiles", &[("S-1-5-18", "%systemroot%\\system32\\config\\systemprofile")]);
    let machine = scan_json(dir.path(), &[("SYSTEM", &system), ("SOFTWARE", &software)]);
    let folders = &machine["context"]["folders"];
    assert_eq!(folders["system_root"], "D:\\WINDOWS");
    assert_eq!(folders["program_files"], serde_json::json!(["D:\\Apps", "D:\\Apps (x86)"]));
    assert_eq!(folders["profiles"], serde_json::json!(["D:\\WINDOWS\\system32\\config\\systemprofile"]));
    assert_eq!(folders["program_data"], "D:\\ProgramData");
    let pfro = finding(&machine, "pending_file_rename_operations");
    let classes: Vec<&str> =
        pfro["data"]["operations"].as_array().unwrap().iter().map(|o| o["class"].as_str().unwrap()).collect();
    assert_eq!(classes, ["user_profile", "other", "windows_system", "program_files"]);
    assert_eq!(pfro["strength"], "strong");

    let text = scan_text(dir.path());
    assert!(text.contains("[user_profile]"), "{text}");
    let csv = rebootscan(&["scan", dir.path().to_str().unwrap(), "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(&csv.stdout[..]);
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let column = |name: &str| row.get(header.iter().position(|h| h == name).unwrap()).unwrap().to_string();
    assert_eq!(column("pfro_user_profile"), "1");
    assert_eq!(column("pfro_windows_system"), "1");
    assert_eq!(column("pfro_other"), "1");
}

#[test]
fn readme_path_classes_are_generated_from_the_table() {
    let output = rebootscan(&["rules", "--classes", "--markdown"]);
    assert!(output.status.success());
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let begin = readme.find("<!-- classes:begin -->\n").expect("begin marker") + "<!-- classes:begin -->\n".len();
    let end = readme.find("<!-- classes:end -->").expect("end marker");
    assert_eq!(
        &readme[begin..end],
        String::from_utf8_lossy(&output.stdout),
        "README path classes are stale: regenerate them with `rebootscan rules --classes --markdown`"
    );
}

/// SYSTEM `Setup` states other than a generalized image: an in-place upgrade half done, and a
/// `CmdLine` that Winlogon runs before logon (the classic offline password-reset trick).
#[test]
fn setup_upgrade_and_setup_command_say_what_the_next_boot_runs() {
    // (SYSTEM\Setup numbers, CmdLine, stage, what the next boot runs)
    type Case<'a> = (&'a [(&'a str, u32)], &'a str, &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (
            &[("SystemSetupInProgress", 1), ("SetupType", 2)],
            "C:\\$WINDOWS.~BT\\Sources\\SetupHost.exe /PostReboot",
            "upgrade",
            "an in-place upgrade continues: the next boot runs Windows Setup (setup upgrade)",
        ),
        (
            &[("SystemSetupInProgress", 0), ("SetupType", 2)],
            "cmd.exe",
            "setup_command",
            "the next boot runs \"cmd.exe\" before the logon screen (SetupType = 2)",
        ),
    ];
    for (numbers, command, stage, next_boot) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut system = system("SETUP-01");
        for (name, value) in *numbers {
            system.set_value("Setup", ValueSpec::dword(name, *value));
        }
        system.set_value("Setup", ValueSpec::sz("CmdLine", command));
        let machine = scan_json(dir.path(), &[("SYSTEM", &system), ("SOFTWARE", &software())]);
        assert_eq!(machine["verdict"], "pending", "{machine:#}");
        let setup = &machine["context"]["windows_setup"];
        assert_eq!(setup["stage"], *stage, "{setup:#}");
        assert_eq!(setup["generalized"], false);
        let finding = finding(&machine, "windows_setup_pending");
        assert!(finding["summary"].as_str().unwrap().starts_with(next_boot), "{finding:#}");
        let text = scan_text(dir.path());
        assert!(text.contains(&format!("windows setup: {next_boot}")), "{text}");
    }

    // Setup finished (all zero, empty CmdLine): nothing, and not pending.
    let dir = tempfile::tempdir().unwrap();
    let mut system = system("SETUP-02");
    for name in ["SystemSetupInProgress", "OOBEInProgress", "SetupType"] {
        system.set_value("Setup", ValueSpec::dword(name, 0));
    }
    system.set_value("Setup", ValueSpec::sz("CmdLine", ""));
    let machine = scan_json(dir.path(), &[("SYSTEM", &system), ("SOFTWARE", &software())]);
    assert_eq!(machine["verdict"], "not_pending", "{machine:#}");
    assert_eq!(machine["context"]["windows_setup"]["stage"], Value::Null);
    assert!(!scan_text(dir.path()).contains("windows setup:"));
}
