//! The shipped example machines (`fixtures/machines`, what the README's first command scans)
//! give the verdicts their sources describe.

use std::path::Path;

use rebootscan::discover::discover;
use rebootscan::scan::{scan_machine, ScanOptions};
use rebootscan::verdict::Verdict;

#[test]
fn shipped_example_machines_give_their_documented_verdicts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines");
    let discovery = discover(&[root]);
    assert!(discovery.skipped.is_empty(), "{:?}", discovery.skipped);
    let expected: &[(&str, Verdict, Option<&str>, Option<&str>)] = &[
        ("cs010-pfro-in-current-set", Verdict::Pending, Some("pending_file_rename_operations"), Some("ControlSet010")),
        ("pfro-only-in-old-control-set", Verdict::NotPending, None, Some("ControlSet001")),
        ("server2019-clean", Verdict::NotPending, None, Some("ControlSet002")),
        ("system-only-dns-rename", Verdict::Pending, Some("computer_rename_dns"), Some("controlset001")),
        ("temp-cleanup-only", Verdict::NotPending, None, Some("ControlSet001")),
        (
            "win10-pending-driver-update",
            Verdict::Pending,
            Some("pending_file_rename_operations"),
            Some("ControlSet001"),
        ),
        ("win11-cbs-reboot-pending", Verdict::Pending, Some("cbs_reboot_pending"), Some("ControlSet001")),
        ("win11-sysprep-generalized", Verdict::Pending, Some("session_manager_setup_execute"), Some("ControlSet001")),
    ];
    let labels: Vec<&str> = discovery.machines.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(labels, expected.iter().map(|e| e.0).collect::<Vec<_>>());
    for (spec, (label, verdict, strongest, control_set)) in discovery.machines.iter().zip(expected) {
        let report = scan_machine(spec, &ScanOptions::default());
        assert!(report.errors.is_empty(), "{label}: {:?}", report.errors);
        assert_eq!(report.verdict, *verdict, "{label}");
        let decisive = report.strongest_finding().filter(|f| f.strength.decides()).map(|f| f.rule.as_str());
        assert_eq!(decisive, *strongest, "{label}");
        assert_eq!(report.control_set.as_deref(), *control_set, "{label}");
    }
}

#[test]
fn patch_level_is_reported_in_json_and_csv() {
    let machine = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines/win11-cbs-reboot-pending");
    let run = |format: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan"))
            .args(["scan", machine.to_str().unwrap(), "--as-of", "2024-07-01", "--format", format])
            .output()
            .unwrap()
    };
    let json: serde_json::Value = serde_json::from_slice(&run("json").stdout).unwrap();
    let report = &json["machines"][0];
    let patch = &report["patch"];
    assert_eq!(patch["product"], "Windows 11");
    assert_eq!(patch["version"], "23H2");
    assert_eq!(patch["update"]["kb"], "KB5037771");
    assert_eq!(patch["monthly_updates_behind"], 1);
    assert_eq!(patch["days_behind"], 28);
    assert_eq!(patch["pending_rollup"]["update"]["kb"], "KB5039212");
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "cbs_cumulative_update_install_pending")
        .expect("the pending cumulative update is a finding of its own");
    assert_eq!(finding["data"]["kb"], "KB5039212");

    let csv = run("csv");
    let mut reader = csv::Reader::from_reader(&csv.stdout[..]);
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let column = |name: &str| row.get(header.iter().position(|h| h == name).unwrap()).unwrap().to_string();
    assert_eq!(column("patch_kb"), "KB5037771");
    assert_eq!(column("patch_date"), "2024-05-14");
    assert_eq!(column("days_behind"), "28");
    assert_eq!(column("servicing_status"), "in servicing");
    assert_eq!(column("pending_cumulative_update"), "KB5039212");
}

/// `scan_all` hands the reports over in discovery order with any number of threads, counts
/// them, and the streamed JSON document is the `ScanDocument` of the same reports.
#[test]
fn scan_all_is_ordered_and_streams_the_scan_document() {
    use rebootscan::report::writer::{OutputFormat, ReportWriter, ScanDocument};
    use rebootscan::scan::{scan_all, ScanError};

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines");
    let discovery = discover(&[root]);
    let mut streamed = Vec::new();
    let mut reports = Vec::new();
    for jobs in [Some(1), Some(3), None] {
        let options = ScanOptions { jobs, ..ScanOptions::default() };
        let mut writer = ReportWriter::new(OutputFormat::Json, Vec::new()).unwrap();
        let mut labels = Vec::new();
        reports.clear();
        let summary = scan_all(&discovery, &options, |report| -> std::io::Result<()> {
            writer.write(&report)?;
            labels.push(report.machine.clone());
            reports.push(report);
            Ok(())
        })
        .unwrap();
        assert_eq!(labels, discovery.machines.iter().map(|m| m.label.clone()).collect::<Vec<_>>());
        assert_eq!((summary.machines, summary.pending, summary.unknown, summary.with_errors), (8, 5, 0, 0));
        let bytes = writer.finish(&discovery).unwrap();
        if !streamed.is_empty() {
            assert_eq!(bytes, streamed, "jobs {jobs:?}: not byte-identical");
        }
        streamed = bytes;
    }
    let parsed: serde_json::Value = serde_json::from_slice(&streamed).unwrap();
    let document = serde_json::to_value(ScanDocument::new(reports, &discovery)).unwrap();
    assert_eq!(parsed, document);

    let options = ScanOptions {
        rules: rebootscan::rules::RuleOptions { skip: vec!["cbs_reboot_pendng".into()], ..Default::default() },
        ..ScanOptions::default()
    };
    let mut called = false;
    let refused = scan_all(&discovery, &options, |_| -> Result<(), std::io::Error> {
        called = true;
        Ok(())
    });
    match refused {
        Err(ScanError::UnknownRule(unknown)) => assert_eq!(unknown.close.first(), Some(&"cbs_reboot_pending")),
        other => panic!("expected an unknown rule, got {other:?}"),
    }
    assert!(!called, "nothing may be scanned when a rule id is wrong");

    // The sink's error stops the scan at once.
    let mut seen = 0;
    let stopped = scan_all(&discovery, &ScanOptions::default(), |_| {
        seen += 1;
        if seen == 2 {
            Err("disk full")
        } else {
            Ok(())
        }
    });
    assert!(matches!(stopped, Err(ScanError::Sink("disk full"))));
    assert_eq!(seen, 2);
}

/// The generalized image says what it is in text, JSON and CSV: the next boot runs Windows
/// Setup (specialize, then OOBE), and its only pending file operation is a cache clean-up.
#[test]
fn generalized_image_reads_as_such_in_text_json_and_csv() {
    let machine = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines/win11-sysprep-generalized");
    let run = |format: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan"))
            .args(["scan", machine.to_str().unwrap(), "--format", format])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    };
    let text = String::from_utf8(run("text")).unwrap();
    assert!(
        text.contains("windows setup: generalized (sysprep) image: the next boot runs Windows Setup, the specialize pass and then OOBE (oobe\\windeploy.exe)"),
        "{text}"
    );
    assert!(text.contains("[medium] windows_setup_pending  SYSTEM Setup : SystemSetupInProgress"), "{text}");
    assert!(text.contains("setupcl.exe is Windows Setup's specialize-pass tool"), "{text}");
    assert!(text.contains("[temp_cleanup]"), "{text}");

    let json: serde_json::Value = serde_json::from_slice(&run("json")).unwrap();
    let report = &json["machines"][0];
    let setup = &report["context"]["windows_setup"];
    assert_eq!(setup["generalized"], true, "{setup:#}");
    assert_eq!(setup["stage"], "specialize_and_oobe");
    assert_eq!(setup["setup_type"], 2);
    assert_eq!(setup["cmd_line"], "oobe\\windeploy.exe");
    assert_eq!(setup["image_state"], "IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE");
    let findings = report["findings"].as_array().unwrap();
    let setup_finding = findings.iter().find(|f| f["rule"] == "windows_setup_pending").unwrap();
    assert_eq!(setup_finding["strength"], "medium");
    assert_eq!(setup_finding["key"], "Setup");
    assert_eq!(setup_finding["data"]["windows_setup"]["stage"], "specialize_and_oobe");
    let pfro = findings.iter().find(|f| f["rule"] == "pending_file_rename_operations").unwrap();
    assert_eq!(pfro["strength"], "weak");
    assert_eq!(pfro["data"]["operations"][0]["class"], "temp_cleanup");

    let csv = run("csv");
    let mut reader = csv::Reader::from_reader(&csv[..]);
    let header = reader.headers().unwrap().clone();
    let row = reader.records().next().unwrap().unwrap();
    let column = |name: &str| row.get(header.iter().position(|h| h == name).unwrap()).unwrap().to_string();
    assert_eq!(column("windows_setup"), "generalized_image: specialize_and_oobe");
    assert_eq!(column("pfro_temp_cleanup"), "1");
    assert_eq!(column("pfro_user_profile"), "0");
}
