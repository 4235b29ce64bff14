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
