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
    ];
    let labels: Vec<&str> = discovery.machines.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(labels, expected.iter().map(|e| e.0).collect::<Vec<_>>());
    for (spec, (label, verdict, strongest, control_set)) in discovery.machines.iter().zip(expected) {
        let report = scan_machine(spec, &ScanOptions::default());
        assert!(report.errors.is_empty(), "{label}: {:?}", report.errors);
        assert_eq!(report.verdict, *verdict, "{label}");
        let decisive = report.strongest_finding().filter(|f| f.strength.decides()).map(|f| f.rule);
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
        assert_eq!((summary.machines, summary.pending, summary.unknown, summary.with_errors), (7, 4, 0, 0));
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
