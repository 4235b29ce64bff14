//! Reports an analyst acts on (issue 13): evidence time and pending-since, the machine CSV
//! columns, the operations CSV, the timeline, the text summary, the HTML report, and the
//! command-line contract fixes. Every test runs the real binary.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::command::{arg, rebootscan, stderr, stdout};
use support::fixture_source::build_fixture;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines")
}

/// What a test machine holds; the hives are written from fixture sources.
struct Machine<'a> {
    name: &'a str,
    /// `ComputerName`; two machines with the same name and install date are one machine
    /// collected twice.
    computer_name: &'a str,
    install_date: u32,
    /// The SYSTEM hive's base-block time (the newest one makes the evidence time).
    system_written: &'a str,
    /// `PendingFileRenameOperations` strings and the Session Manager key's last write.
    renames: &'a [&'a str],
    renames_written: &'a str,
    /// `CurrentBuild` and `UBR`.
    build: (u32, u32),
}

impl Machine<'_> {
    fn write(&self, root: &Path) -> PathBuf {
        let folder = root.join(self.name);
        std::fs::create_dir_all(&folder).unwrap();
        let mut system = format!(
            "version = 1.5\nfile_name = \"SYSTEM\"\nlast_written = {}\n\n[Select]\n\"Current\" = dword 1\n\n\
             [ControlSet001\\Control\\ComputerName\\ComputerName]\n\"ComputerName\" = sz \"{}\"\n\n\
             [ControlSet001\\Control\\Session Manager]\nlast_written = {}\n",
            self.system_written, self.computer_name, self.renames_written
        );
        if !self.renames.is_empty() {
            let strings: Vec<String> =
                self.renames.iter().map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))).collect();
            system.push_str(&format!("\"PendingFileRenameOperations\" = multi_sz [{}]\n", strings.join(", ")));
        }
        let software = format!(
            "version = 1.5\nfile_name = \"SOFTWARE\"\nlast_written = 2020-01-01T00:00:00Z\n\n\
             [Microsoft\\Windows NT\\CurrentVersion]\n\"ProductName\" = sz \"Windows 10 Pro\"\n\
             \"EditionID\" = sz \"Professional\"\n\"InstallationType\" = sz \"Client\"\n\
             \"CurrentBuild\" = sz \"{}\"\n\"UBR\" = dword {}\n\"InstallDate\" = dword {}\n",
            self.build.0, self.build.1, self.install_date
        );
        std::fs::write(folder.join("SYSTEM"), build_fixture(&system).expect("SYSTEM source")).unwrap();
        std::fs::write(folder.join("SOFTWARE"), build_fixture(&software).expect("SOFTWARE source")).unwrap();
        folder
    }
}

const REPLACE_DRIVER: &[&str] = &[
    "\\??\\C:\\Windows\\System32\\drivers\\SET1.tmp",
    "!\\??\\C:\\Windows\\System32\\drivers\\e1d68x64.sys",
    "\\??\\C:\\Windows\\Temp\\old.log",
    "",
];

/// A pending machine: its renames were queued on 2024-03-02, the SYSTEM hive was last written
/// on 2024-05-14, and it runs Windows 10 22H2 with the April 2024 update.
fn pending_machine(name: &str) -> Machine<'_> {
    Machine {
        name,
        computer_name: "WKS-7",
        install_date: 1_672_740_000,
        system_written: "2024-05-14T18:42:10.1234567Z",
        renames: REPLACE_DRIVER,
        renames_written: "2024-03-02T08:00:00.0000001Z",
        build: (19045, 4291),
    }
}

fn clean_machine(name: &str) -> Machine<'_> {
    Machine {
        name,
        computer_name: "SRV-1",
        install_date: 1_600_000_000,
        system_written: "2024-06-01T00:00:00Z",
        renames: &[],
        renames_written: "2024-06-01T00:00:00Z",
        build: (19045, 4291),
    }
}

fn scan_json(args: &[&str]) -> serde_json::Value {
    let output = rebootscan(args);
    assert!(matches!(output.status.code(), Some(0 | 3)), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

#[test]
fn evidence_time_pending_since_and_patch_lag_at_the_evidence_time() {
    let dir = tempfile::tempdir().unwrap();
    let folder = pending_machine("wks").write(dir.path());
    let json = scan_json(&["scan", arg(&folder), "--format", "json"]);
    let machine = &json["machines"][0];
    assert_eq!(machine["verdict"], "pending");
    assert_eq!(machine["verdict_reason"], "pending because of pending_file_rename_operations (strong)");
    // The newest of the hive times (SYSTEM 2024-05-14, SOFTWARE 2020) and the last shutdown.
    assert_eq!(machine["evidence_time"], "2024-05-14T18:42:10.1234567Z");
    // Timestamps keep FILETIME's 100-ns digit.
    assert_eq!(machine["pending_since"], "2024-03-02T08:00:00.0000001Z");
    assert_eq!(machine["findings"][0]["last_write"], "2024-03-02T08:00:00.0000001Z");
    assert_eq!(machine["pending_days"], 73);
    assert_eq!(machine["source"], arg(&folder));
    assert_eq!(machine["duplicate_of"], serde_json::Value::Null);
    let patch = &machine["patch"];
    assert_eq!(patch["as_of"], "2024-05-14");
    assert_eq!(patch["as_of_source"], "evidence_time");
    // KB5036892 (2024-04-09) at 2024-05-14: one monthly update behind, not two years.
    assert_eq!(patch["monthly_updates_behind"], 1);
    assert_eq!(patch["days_behind"], 35);

    let given = scan_json(&["scan", arg(&folder), "--format", "json", "--as-of", "2024-08-31"]);
    let patch = &given["machines"][0]["patch"];
    assert_eq!(patch["as_of"], "2024-08-31");
    assert_eq!(patch["as_of_source"], "given");
    assert!(patch["monthly_updates_behind"].as_u64().unwrap() >= 4, "{patch}");
    let text = stdout(&rebootscan(&["scan", arg(&folder), "--as-of", "2024-08-31"]));
    assert!(text.contains("as of 2024-08-31 (--as-of)"), "{text}");
    let text = stdout(&rebootscan(&["scan", arg(&folder)]));
    assert!(text.contains("as of 2024-05-14 (evidence time)"), "{text}");

    let clean = clean_machine("srv").write(dir.path());
    let json = scan_json(&["scan", arg(&clean), "--format", "json"]);
    let machine = &json["machines"][0];
    assert_eq!(machine["verdict"], "not_pending");
    assert_eq!(machine["pending_since"], serde_json::Value::Null);
    assert_eq!(machine["pending_days"], serde_json::Value::Null);
    assert_eq!(machine["evidence_time"], "2024-06-01T00:00:00Z");
}

#[test]
fn unknown_skip_rule_is_a_usage_error_naming_close_ids() {
    let folder = fixtures().join("server2019-clean");
    let output = rebootscan(&["scan", arg(&folder), "--skip-rule", "cbs_reboot_pendng"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("cbs_reboot_pendng: no such rule (close: cbs_reboot_pending"), "{message}");
    assert!(message.contains("Usage: rebootscan scan"), "{message}");
    assert!(output.stdout.is_empty());
    // Case does not matter for a known id.
    assert_eq!(rebootscan(&["scan", arg(&folder), "--skip-rule", "CBS_REBOOT_PENDING"]).status.code(), Some(0));
}

#[test]
fn zero_jobs_is_refused() {
    let output = rebootscan(&["scan", arg(&fixtures()), "-j", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("at least 1 worker thread"), "{}", stderr(&output));
}

#[test]
fn dry_run_and_discover_print_json() {
    let folder = fixtures();
    for args in [
        vec!["scan", "--dry-run", "--format", "json", arg(&folder)],
        vec!["discover", "--format", "json", arg(&folder)],
    ] {
        let output = rebootscan(&args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON discovery");
        let labels: Vec<&str> =
            json["machines"].as_array().unwrap().iter().map(|m| m["label"].as_str().unwrap()).collect();
        assert!(labels.contains(&"win10-pending-driver-update"), "{labels:?}");
        assert!(json["machines"][0]["hives"].as_array().is_some());
        assert!(json["skipped"].as_array().unwrap().is_empty());
    }
}

#[test]
fn empty_folder_gives_the_same_status_from_scan_and_discover() {
    let dir = tempfile::tempdir().unwrap();
    let scan = rebootscan(&["scan", arg(dir.path())]);
    let discover = rebootscan(&["discover", arg(dir.path())]);
    let dry_run = rebootscan(&["scan", "--dry-run", arg(dir.path())]);
    assert_eq!(scan.status.code(), Some(1));
    assert_eq!(discover.status.code(), scan.status.code());
    assert_eq!(dry_run.status.code(), scan.status.code());
    for output in [&scan, &discover, &dry_run] {
        assert!(stderr(output).contains("no machine to scan"), "{}", stderr(output));
    }
}

#[cfg(unix)]
#[test]
fn output_files_get_the_usual_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let findings = dir.path().join("findings.csv");
    // The test process's umask is inherited; read it back from a file created the plain way.
    let probe = dir.path().join("probe");
    std::fs::write(&probe, b"").unwrap();
    let usual = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
    let output = rebootscan(&[
        "scan",
        arg(&fixtures()),
        "--format",
        "json",
        "-o",
        arg(&report),
        "--findings-csv",
        arg(&findings),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    for file in [&report, &findings] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, usual, "{} has mode {mode:o}", file.display());
    }
}

#[test]
fn two_outputs_naming_one_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("out.csv");
    let same = dir.path().join(".").join("out.csv");
    let output =
        rebootscan(&["scan", arg(&fixtures()), "--format", "csv", "-o", arg(&report), "--findings-csv", arg(&same)]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("-o and --findings-csv both name"), "{}", stderr(&output));
    assert!(!report.exists());
}

#[test]
fn skip_rule_drops_the_rules_context_findings_too() {
    let folder = fixtures().join("pfro-only-in-old-control-set");
    let json = scan_json(&["scan", arg(&folder), "--format", "json"]);
    let rules: Vec<&str> =
        json["machines"][0]["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"pending_file_rename_operations"), "the fixture has a context finding: {rules:?}");
    let json = scan_json(&["scan", arg(&folder), "--format", "json", "--skip-rule", "pending_file_rename_operations"]);
    let machine = &json["machines"][0];
    assert!(
        machine["findings"].as_array().unwrap().iter().all(|f| f["rule"] != "pending_file_rename_operations"),
        "{}",
        machine["findings"]
    );
    assert!(machine["not_evaluated"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["rule"] == "pending_file_rename_operations" && n["reason"] == "skipped"));
}

/// A case folder: a pending machine, the same machine collected a second time (same
/// computer name and install date), and a clean one.
fn case_folder(root: &Path) -> PathBuf {
    let case = root.join("case");
    pending_machine("kape/WKS-7").write(&case);
    pending_machine("velociraptor/WKS-7").write(&case);
    clean_machine("srv").write(&case);
    case
}

fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
    (header, rows)
}

fn column<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let index = header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}: {header:?}"));
    &row[index]
}

#[test]
fn machine_csv_answers_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let case = case_folder(dir.path());
    let report = dir.path().join("machines.csv");
    let output = rebootscan(&["scan", arg(&case), "--format", "csv", "-o", arg(&report)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let (header, rows) = read_csv(&report);
    for name in
        ["verdict_reason", "source", "evidence_time", "pending_since", "pending_days", "pfro_deletes", "duplicate_of"]
    {
        assert!(header.iter().any(|h| h == name), "{name}: {header:?}");
    }
    let labels: Vec<&str> = rows.iter().map(|r| column(&header, r, "machine")).collect();
    assert_eq!(labels, ["kape/WKS-7", "srv", "velociraptor/WKS-7"]);
    let kape = &rows[0];
    assert_eq!(column(&header, kape, "verdict_reason"), "pending because of pending_file_rename_operations (strong)");
    assert_eq!(column(&header, kape, "source"), arg(&case.join("kape/WKS-7")));
    assert_eq!(column(&header, kape, "evidence_time"), "2024-05-14T18:42:10.1234567Z");
    assert_eq!(column(&header, kape, "pending_since"), "2024-03-02T08:00:00.0000001Z");
    assert_eq!(column(&header, kape, "pending_days"), "73");
    assert_eq!(column(&header, kape, "pfro_operations"), "2");
    assert_eq!(column(&header, kape, "pfro_deletes"), "1");
    assert_eq!(column(&header, kape, "duplicate_of"), "");
    // The second collection of the same machine points at the first.
    assert_eq!(column(&header, &rows[2], "duplicate_of"), "kape/WKS-7");
    assert_eq!(column(&header, &rows[1], "duplicate_of"), "");
    assert_eq!(column(&header, &rows[1], "verdict"), "not_pending");
    // Volatile rules are not observable in any hive saved from disk: not repeated per row;
    // the machine-specific reason (no COMPONENTS hive here) stays.
    let not_evaluated = column(&header, kape, "not_evaluated");
    assert!(!not_evaluated.contains("volatile"), "{not_evaluated}");
    assert!(not_evaluated.contains("components_pending_transaction:hive_missing"), "{not_evaluated}");
    let json = scan_json(&["scan", arg(&case), "--format", "json"]);
    assert_eq!(json["machines"][2]["duplicate_of"], "kape/WKS-7");
}

#[test]
fn operations_csv_has_one_row_per_pending_operation() {
    let dir = tempfile::tempdir().unwrap();
    let case = case_folder(dir.path());
    let operations = dir.path().join("operations.csv");
    let output =
        rebootscan(&["scan", arg(&case), "-o", arg(&dir.path().join("r.txt")), "--operations-csv", arg(&operations)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let (header, rows) = read_csv(&operations);
    assert_eq!(
        header,
        [
            "machine",
            "computer_name",
            "value",
            "key",
            "strength",
            "index",
            "op",
            "source",
            "target",
            "class",
            "replace_existing",
            "source_path",
            "target_path",
            "current_file",
            "current_version",
            "staged_file",
            "staged_version"
        ]
    );
    // Two machines with two operations each; the clean one has none.
    assert_eq!(rows.len(), 4);
    let rename = &rows[0];
    assert_eq!(column(&header, rename, "machine"), "kape/WKS-7");
    assert_eq!(column(&header, rename, "value"), "PendingFileRenameOperations");
    assert_eq!(column(&header, rename, "index"), "0");
    assert_eq!(column(&header, rename, "op"), "rename");
    assert_eq!(column(&header, rename, "source"), "\\??\\C:\\Windows\\System32\\drivers\\SET1.tmp");
    assert_eq!(column(&header, rename, "target"), "\\??\\C:\\Windows\\System32\\drivers\\e1d68x64.sys");
    assert_eq!(column(&header, rename, "class"), "windows_system");
    assert_eq!(column(&header, rename, "replace_existing"), "true");
    assert_eq!(column(&header, rename, "target_path"), "C:\\Windows\\System32\\drivers\\e1d68x64.sys");
    let delete = &rows[1];
    assert_eq!((column(&header, delete, "op"), column(&header, delete, "target")), ("delete", ""));
}

#[test]
fn timeline_imports_into_timesketch_as_csv_and_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let case = case_folder(dir.path());
    let csv_path = dir.path().join("timeline.csv");
    let jsonl_path = dir.path().join("timeline.jsonl");
    let forced = dir.path().join("timeline.txt");
    let out = dir.path().join("r.txt");
    let output = rebootscan(&["scan", arg(&case), "-o", arg(&out), "--timeline", arg(&csv_path)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    rebootscan(&["scan", arg(&case), "-o", arg(&out), "--timeline", arg(&jsonl_path)]);
    rebootscan(&["scan", arg(&case), "-o", arg(&out), "--timeline", arg(&forced), "--timeline-format", "jsonl"]);

    let (header, rows) = read_csv(&csv_path);
    assert_eq!(&header[..4], ["message", "datetime", "timestamp_desc", "timestamp"]);
    let descriptions: Vec<&str> = rows.iter().map(|r| column(&header, r, "timestamp_desc")).collect();
    for wanted in ["Key Last Written", "Hive Last Written", "Install Date"] {
        assert!(descriptions.contains(&wanted), "{wanted}: {descriptions:?}");
    }
    let key = rows.iter().find(|r| column(&header, r, "timestamp_desc") == "Key Last Written").unwrap();
    assert_eq!(column(&header, key, "datetime"), "2024-03-02T08:00:00.0000001Z");
    assert_eq!(column(&header, key, "timestamp"), "1709366400000000");
    assert_eq!(column(&header, key, "rule"), "pending_file_rename_operations");
    assert!(column(&header, key, "message").starts_with("kape/WKS-7: [strong] pending_file_rename_operations SYSTEM\\"));
    // Every row carries the three fields Timesketch requires.
    assert!(rows.iter().all(|r| !r[0].is_empty() && !r[1].is_empty() && !r[2].is_empty()));

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), rows.len());
    for line in &lines {
        for field in ["message", "datetime", "timestamp_desc", "timestamp", "machine"] {
            assert!(line.get(field).is_some(), "{field}: {line}");
        }
    }
    assert_eq!(std::fs::read(&forced).unwrap(), std::fs::read(&jsonl_path).unwrap());
}

#[test]
fn timeline_dates_the_missing_security_fixes() {
    let dir = tempfile::tempdir().unwrap();
    let machine = fixtures().join("win10-pending-driver-update");
    let timeline = dir.path().join("t.csv");
    let json = scan_json(&["scan", arg(&machine), "--format", "json", "--timeline", arg(&timeline)]);
    let security = &json["machines"][0]["security"];
    assert_eq!(security["status"], "assessed");
    let (header, rows) = read_csv(&timeline);
    let event = rows
        .iter()
        .find(|r| column(&header, r, "timestamp_desc") == "Oldest Missing Security Fix Released")
        .expect("security event");
    let oldest = &security["oldest_missing_fix"];
    assert_eq!(column(&header, event, "kb"), oldest["kb"].as_str().unwrap());
    assert_eq!(column(&header, event, "datetime"), format!("{}T00:00:00Z", oldest["released"].as_str().unwrap()));
    assert_eq!(column(&header, event, "missing_cves"), security["missing_cves"].to_string());
    let kev = security["exploited_missing"].as_array().unwrap().len();
    assert_eq!(column(&header, event, "exploited_missing"), kev.to_string());
    assert!(column(&header, event, "message").contains(&format!("{kev} known exploited (KEV)")));
}

#[test]
fn timesketch_importer_reads_the_timeline_as_written() {
    let test = "timesketch_importer_reads_the_timeline_as_written";
    let Some(python) = support::external::timesketch_python(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let case = case_folder(dir.path());
    let csv_path = dir.path().join("timeline.csv");
    let jsonl_path = dir.path().join("timeline.jsonl");
    let out = dir.path().join("r.txt");
    for timeline in [&csv_path, &jsonl_path] {
        let output = rebootscan(&["scan", arg(&case), "-o", arg(&out), "--timeline", arg(timeline)]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    // Timesketch's own reading code (tests/timesketch/check_timeline.py): every row becomes one
    // event with the message, timestamp_desc and instant (100-ns digits included) as written.
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/timesketch/check_timeline.py");
    let output = Command::new(python).arg(checker).arg(&csv_path).arg(&jsonl_path).output().unwrap();
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let rows = read_csv(&csv_path).1.len();
    assert_eq!(
        stdout(&output).trim(),
        format!("timesketch importer: {rows} CSV events and {rows} JSONL events read as written")
    );
}

#[test]
fn text_report_ends_with_a_summary_and_quiet_prints_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let case = case_folder(dir.path());
    let output = rebootscan(&["scan", arg(&case)]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    // Per machine: the verdict right under the machine's name, before any finding.
    let first = text.find("== kape/WKS-7").unwrap();
    let verdict = text[first..].find("verdict: PENDING").unwrap();
    let findings = text[first..].find("findings:").unwrap();
    assert!(verdict < findings, "{text}");
    // The volatile rules take one line per machine, not one line per rule.
    let volatile_lines = text.lines().filter(|l| l.contains("(volatile)")).count();
    assert_eq!(volatile_lines, 3, "{text}");
    assert!(!text.contains('\u{1b}'), "no colour when the output is not a terminal");
    let summary = &text[text.find("== summary: 3 machines: 2 pending, 0 unknown, 1 not pending").expect(&text)..];
    let lines: Vec<&str> = summary.lines().collect();
    assert!(lines[1].starts_with("machine") && lines[1].contains("pending since") && lines[1].contains("patch level"));
    assert!(lines[2].starts_with("kape/WKS-7  "), "{summary}");
    assert!(lines[2].contains("PENDING") && lines[2].contains("pending_file_rename_operations (strong)"));
    assert!(lines[2].contains("2024-03-02 (73 d)") && lines[2].contains("KB5036892, 1 behind"), "{summary}");
    assert!(lines[3].starts_with("velociraptor/WKS-7 (= kape/WKS-7)"), "{summary}");
    assert!(lines[4].starts_with("srv") && lines[4].contains("NOT_PENDING"), "{summary}");
    assert!(lines[5].contains("not observable in any hive saved from disk"), "{summary}");

    let quiet = stdout(&rebootscan(&["scan", "--quiet", arg(&case)]));
    assert!(quiet.starts_with("== summary: 3 machines"), "{quiet}");
    assert_eq!(quiet, summary);

    // One machine: no summary table.
    let single = stdout(&rebootscan(&["scan", arg(&case.join("srv"))]));
    assert!(!single.contains("== summary"), "{single}");
}

#[test]
fn a_dirty_hive_without_logs_is_explained_once() {
    let dir = tempfile::tempdir().unwrap();
    let folder = clean_machine("dirty").write(dir.path());
    let system = folder.join("SYSTEM");
    let mut bytes = std::fs::read(&system).unwrap();
    // Secondary sequence number differs from the primary: dirty, and no log beside it.
    bytes[8] = bytes[8].wrapping_add(1);
    std::fs::write(&system, &bytes).unwrap();
    let text = stdout(&rebootscan(&["scan", arg(&folder)]));
    assert!(text.contains("no transaction logs beside it"), "{text}");
    let mentions = text.matches("may be missing").count() + text.matches("reading the stale primary").count();
    assert_eq!(mentions, 1, "{text}");
}
