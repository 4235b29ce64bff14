//! The command line as users run it: output contract, exit status, error messages.

mod support;

use std::path::{Path, PathBuf};

use support::command::{arg, rebootscan, stderr, stdout};
use support::hive_writer::{HiveSpec, ValueSpec};

/// Writes a machine folder `dir/name` with a SYSTEM and a SOFTWARE hive; `pending` queues a
/// System32 replacement.
fn write_machine(dir: &Path, name: &str, pending: bool) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let mut system = HiveSpec::new("ROOT");
    system.set_value("Select", ValueSpec::dword("Current", 1));
    system.set_value("ControlSet001\\Control\\ComputerName\\ComputerName", ValueSpec::sz("ComputerName", name));
    if pending {
        system.set_value(
            "ControlSet001\\Control\\Session Manager",
            ValueSpec::multi_sz(
                "PendingFileRenameOperations",
                &[
                    "\\??\\C:\\Windows\\System32\\SET1.tmp",
                    "!\\??\\C:\\Windows\\System32\\clbcatq.dll",
                    "\\??\\C:\\Windows\\Temp\\x.tmp",
                    "",
                ],
            ),
        );
    }
    let mut software = HiveSpec::new("ROOT");
    software.set_value("Microsoft\\Windows NT\\CurrentVersion", ValueSpec::sz("CurrentBuild", "19045"));
    std::fs::write(folder.join("SYSTEM"), system.build()).unwrap();
    std::fs::write(folder.join("SOFTWARE"), software.build()).unwrap();
    folder
}

#[test]
fn readme_rule_list_is_generated_from_the_table() {
    let output = rebootscan(&["rules", "--markdown"]);
    assert!(output.status.success());
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let begin = readme.find("<!-- rules:begin -->\n").expect("begin marker") + "<!-- rules:begin -->\n".len();
    let end = readme.find("<!-- rules:end -->").expect("end marker");
    assert_eq!(
        &readme[begin..end],
        stdout(&output),
        "README rule list is stale: regenerate it with `rebootscan rules --markdown`"
    );
}

#[test]
fn json_contract_for_a_pending_machine() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_machine(dir.path(), "HOST-A", true);
    let output = rebootscan(&["scan", arg(&folder), "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let machine = &json["machines"][0];
    assert_eq!(machine["machine"], "HOST-A");
    assert_eq!(machine["computer_name"], "HOST-A");
    assert_eq!(machine["verdict"], "pending");
    assert_eq!(machine["control_set"], "ControlSet001");
    for field in ["kind", "path", "dirty", "format_version", "warnings"] {
        assert!(machine["hives"][0].get(field).is_some(), "hives[].{field}");
    }
    let finding = &machine["findings"][0];
    for field in ["rule", "strength", "hive", "key", "value", "last_write", "data"] {
        assert!(finding.get(field).is_some(), "findings[].{field}");
    }
    assert_eq!(finding["rule"], "pending_file_rename_operations");
    let operations = finding["data"]["operations"].as_array().unwrap();
    assert_eq!(operations.len(), 2);
    assert_eq!(operations[0]["op"], "rename");
    assert_eq!(operations[0]["replace_existing"], true);
    assert_eq!(operations[0]["class"], "windows_system");
    assert_eq!(operations[1]["op"], "delete");
    assert_eq!(operations[1]["target"], serde_json::Value::Null);
    assert!(finding["data"]["malformed"].as_array().unwrap().is_empty());
    assert!(machine["not_evaluated"].as_array().unwrap().iter().any(|n| n["reason"] == "volatile"));
    assert!(machine["errors"].as_array().unwrap().is_empty());
    // Not read from a disk container: the field is there, null.
    assert_eq!(machine.get("container"), Some(&serde_json::Value::Null));
    // Every field of a machine object is documented in the README's contract.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let begin = readme.find("### JSON output contract").expect("contract section");
    let contract = &readme[begin..begin + readme[begin..].find("### CSV columns").expect("next section")];
    for field in machine.as_object().unwrap().keys() {
        assert!(contract.contains(&format!("`{field}`")), "README's JSON contract lacks `{field}`");
    }
}

#[test]
fn jsonl_csv_and_findings_csv_cover_every_machine() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    write_machine(&case, "a-pending", true);
    write_machine(&case, "b-clean", false);
    std::fs::create_dir_all(case.join("c-broken")).unwrap();
    std::fs::write(case.join("c-broken/SYSTEM"), b"this is not a hive").unwrap();

    let output = rebootscan(&["scan", arg(&case), "--format", "jsonl"]);
    assert_eq!(output.status.code(), Some(3), "one machine could not be analysed");
    let lines: Vec<serde_json::Value> = stdout(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let verdicts: Vec<(&str, &str)> =
        lines.iter().map(|m| (m["machine"].as_str().unwrap(), m["verdict"].as_str().unwrap())).collect();
    assert_eq!(verdicts, vec![("a-pending", "pending"), ("b-clean", "not_pending"), ("c-broken", "unknown")]);
    let broken_error = lines[2]["errors"][0]["message"].as_str().unwrap();
    assert!(broken_error.contains("not a registry hive"), "{broken_error}");
    assert!(
        stderr(&output).contains("3 machine(s) scanned: 1 pending, 1 unknown, 1 with errors"),
        "{}",
        stderr(&output)
    );

    let report = dir.path().join("report.csv");
    let findings = dir.path().join("findings.csv");
    let output =
        rebootscan(&["scan", arg(&case), "--format", "csv", "-o", arg(&report), "--findings-csv", arg(&findings)]);
    assert_eq!(output.status.code(), Some(3));
    assert!(output.stdout.is_empty());
    let mut reader = csv::Reader::from_path(&report).unwrap();
    let header = reader.headers().unwrap().clone();
    assert_eq!(header.iter().next(), Some("machine"));
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    assert_eq!(&rows[0][header.iter().position(|h| h == "verdict").unwrap()], "pending");
    assert_eq!(&rows[0][header.iter().position(|h| h == "pfro_windows_system").unwrap()], "1");
    let mut reader = csv::Reader::from_path(&findings).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][2], "pending_file_rename_operations");
    // Atomic writes leave nothing behind but the two reports.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, vec!["case", "findings.csv", "report.csv"]);

    // Same input, byte-identical report.
    let again = dir.path().join("again.csv");
    rebootscan(&["scan", arg(&case), "--format", "csv", "-o", arg(&again)]);
    assert_eq!(std::fs::read(&report).unwrap(), std::fs::read(&again).unwrap());
}

#[test]
fn fail_on_pending_gives_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let pending = write_machine(dir.path(), "p", true);
    let clean = write_machine(dir.path(), "c", false);
    assert_eq!(rebootscan(&["scan", arg(&pending), "--fail-on-pending"]).status.code(), Some(4));
    assert_eq!(rebootscan(&["scan", arg(&clean), "--fail-on-pending"]).status.code(), Some(0));
    assert_eq!(rebootscan(&["scan", arg(&pending)]).status.code(), Some(0));
}

#[test]
fn errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let output = rebootscan(&["scan", arg(&missing)]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains(&format!("skipped {}: does not exist", missing.display())), "{message}");
    assert!(message.contains("no machine to scan"), "{message}");

    let empty_dir = dir.path().join("empty");
    std::fs::create_dir(&empty_dir).unwrap();
    let message = stderr(&rebootscan(&["scan", arg(&empty_dir)]));
    assert!(message.contains("no SYSTEM, SOFTWARE or COMPONENTS hive found"), "{message}");

    for (name, bytes, expected) in [
        ("zero", &b""[..], "the file is empty (0 bytes)"),
        ("text", &b"Windows Registry Editor Version 5.00\r\n"[..], "not a registry hive: it starts with \"Wind\""),
        ("program.exe", &b"MZ\x90\x00\x03\x00\x00\x00"[..], "\"MZ\" (a Windows executable)"),
        ("short", &b"regf\x01\x00\x00\x00"[..], "truncated: only 8 bytes"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let output = rebootscan(&["scan", arg(&path), "--format", "json"]);
        assert_eq!(output.status.code(), Some(3), "{name}");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let error = &json["machines"][0]["errors"][0];
        assert_eq!(error["file"], arg(&path));
        assert!(error["message"].as_str().unwrap().contains(expected), "{name}: {error}");
    }
}

#[test]
fn truncated_hive_is_reported_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_machine(dir.path(), "t", false);
    let system = folder.join("SYSTEM");
    let bytes = std::fs::read(&system).unwrap();
    std::fs::write(&system, &bytes[..bytes.len() - 4096]).unwrap();
    let output = rebootscan(&["inspect", arg(&system)]);
    assert_eq!(output.status.code(), Some(3));
    assert!(stdout(&output).contains("truncated: the base block declares"), "{}", stdout(&output));
}

#[test]
fn inspect_shows_base_block_kind_and_control_sets() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_machine(dir.path(), "i", false);
    let output = rebootscan(&["inspect", arg(&folder.join("SYSTEM"))]);
    assert!(output.status.success());
    let text = stdout(&output);
    for expected in
        ["format: 1.5", "state: clean", "kind: SYSTEM", "current control set: ControlSet001 (from Select\\Current)"]
    {
        assert!(text.contains(expected), "{expected}: {text}");
    }
}

#[test]
fn recover_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_machine(dir.path(), "r", false);
    let system = folder.join("SYSTEM");
    let before = std::fs::read(&system).unwrap();
    let output = rebootscan(&["recover", arg(&system), "-o", arg(&system)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("a file this run reads"), "{}", stderr(&output));
    assert_eq!(std::fs::read(&system).unwrap(), before);
    let earlier = dir.path().join("earlier.hive");
    std::fs::write(&earlier, b"an earlier result").unwrap();
    let output = rebootscan(&["recover", arg(&system), "-o", arg(&earlier)]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("already exists (the output must be a new file)"), "{}", stderr(&output));
    assert_eq!(std::fs::read(&earlier).unwrap(), b"an earlier result");
}

#[test]
fn unknown_rule_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_machine(dir.path(), "u", false);
    let output = rebootscan(&["scan", arg(&folder), "--skip-rule", "no_such_rule"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--skip-rule no_such_rule: no such rule"));
    let typo = rebootscan(&["scan", arg(&folder), "--skip-rule", "msi_in_progres"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(stderr(&typo).contains("msi_in_progres: no such rule (close: msi_in_progress)"), "{}", stderr(&typo));
}

/// The two probes of issue 19, from the command line, each beside a healthy SOFTWARE (the
/// clean Server 2019 fixture): a SYSTEM whose `Control` subkey list points back at the root
/// loses its System32 rename, and an `ExecuteState` stored as a 2-byte REG_DWORD. Neither may
/// read as `not_pending`: each is `unknown`, with an error naming the file, the key and the
/// defect (or the type and length).
#[test]
fn corrupt_list_and_short_dword_probes_are_unknown_with_the_defect() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines/server2019-clean");
    let healthy_software = std::fs::read(fixtures.join("SOFTWARE")).unwrap();

    // Probe 1: every entry of Control's subkey list redirected to the root key.
    let corrupt = dir.path().join("corrupt-list");
    std::fs::create_dir_all(&corrupt).unwrap();
    let mut system = write_machine(dir.path(), "template", true).join("SYSTEM");
    let mut bytes = std::fs::read(&system).unwrap();
    let root = u32::from_le_bytes(bytes[36..40].try_into().unwrap());
    let control = (76..bytes.len() - 7)
        .find(|&at| &bytes[at..at + 7] == b"Control" && &bytes[at - 76..at - 74] == b"nk" && bytes[at - 4] == 7)
        .expect("Control key node")
        - 76;
    let list = 4096 + u32::from_le_bytes(bytes[control + 28..control + 32].try_into().unwrap()) as usize;
    assert_eq!(&bytes[list + 4..list + 6], b"lh");
    let count = u16::from_le_bytes([bytes[list + 6], bytes[list + 7]]) as usize;
    for entry in 0..count {
        bytes[list + 8 + entry * 8..list + 12 + entry * 8].copy_from_slice(&root.to_le_bytes());
    }
    std::fs::write(corrupt.join("SYSTEM"), &bytes).unwrap();
    std::fs::write(corrupt.join("SOFTWARE"), &healthy_software).unwrap();

    // Probe 2: a clean SYSTEM, and the healthy SOFTWARE with ExecuteState cut to 2 bytes.
    let short = dir.path().join("short-dword");
    std::fs::create_dir_all(&short).unwrap();
    system = write_machine(dir.path(), "clean", false).join("SYSTEM");
    std::fs::copy(&system, short.join("SYSTEM")).unwrap();
    let mut software = healthy_software.clone();
    let vk = (20..software.len() - 12)
        .find(|&at| &software[at..at + 12] == b"ExecuteState" && &software[at - 20..at - 18] == b"vk")
        .expect("ExecuteState value")
        - 20;
    assert_eq!(u32::from_le_bytes(software[vk + 4..vk + 8].try_into().unwrap()), 0x8000_0004, "an inline DWORD");
    software[vk + 4..vk + 8].copy_from_slice(&0x8000_0002u32.to_le_bytes());
    std::fs::write(short.join("SOFTWARE"), &software).unwrap();

    for (folder, rule, defect) in [
        (&corrupt, "pending_file_rename_operations (read_error)", "corrupt subkey list"),
        (&short, "cbs_execute_state (wrong_type)", "is a REG_DWORD of 2 bytes (a REG_DWORD holds 4)"),
    ] {
        let output = rebootscan(&["scan", arg(folder), "--format", "json"]);
        // A machine with errors was not fully analysed: exit status 3.
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
        let machine = &json["machines"][0];
        assert_eq!(machine["verdict"], "unknown", "{machine:#}");
        assert!(machine["verdict_reason"].as_str().unwrap().contains(rule), "{machine:#}");
        let errors = machine["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["message"].as_str().unwrap().contains(defect)), "{errors:#?}");
        let text = stdout(&rebootscan(&["scan", arg(folder)]));
        assert!(text.contains("verdict: UNKNOWN") && text.contains(defect), "{text}");
    }
}
