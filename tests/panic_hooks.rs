//! Panic containment does not depend on the process's panic hook: a host (a Python process,
//! a test harness) may replace the hook after the library installed its own, or take it away,
//! and a panic during a machine's scan (or inside a guarded nt-hive call) is still contained
//! and reported as that machine's error, while a run over a corrupt and a healthy machine goes
//! on as usual. One test in a binary of its own: panic hooks are process-wide, and the phases
//! must run in this order.

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rebootscan::discover::{discover, Discovery};
use rebootscan::load::guard::contain;
use rebootscan::report::MachineReport;
use rebootscan::scan::{contain_machine, scan_all, scan_machine, ScanOptions};
use rebootscan::verdict::Verdict;
use support::hive_writer::{HiveSpec, ValueSpec};

const VALUE: &str = "PendingFileRenameOperations";

fn system_with_renames() -> Vec<u8> {
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.set_value(
        "ControlSet001\\Control\\Session Manager",
        ValueSpec::multi_sz(VALUE, &["\\??\\C:\\Windows\\System32\\a.new", "!\\??\\C:\\Windows\\System32\\a.dll"]),
    );
    spec.build()
}

/// The renames' value with its data offset set to nil (0xFFFFFFFF), which nt-hive 0.3 asserts
/// on (the reader now refuses it before calling nt-hive).
fn system_with_a_nil_data_offset() -> Vec<u8> {
    let mut bytes = system_with_renames();
    let name = bytes.windows(VALUE.len()).position(|w| w == VALUE.as_bytes()).expect("value name in the hive");
    let vk = name - rebootscan::load::cells::VK_NAME;
    assert_eq!(&bytes[vk..vk + 2], rebootscan::load::cells::VK_SIGNATURE);
    let offset = vk + rebootscan::load::cells::VK_DATA_OFFSET;
    bytes[offset..offset + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    bytes
}

fn machines(root: &Path) -> Discovery {
    for (name, hive) in [("healthy", system_with_renames()), ("corrupt", system_with_a_nil_data_offset())] {
        std::fs::create_dir_all(root.join(name)).unwrap();
        std::fs::write(root.join(name).join("SYSTEM"), hive).unwrap();
    }
    let discovery = discover(&[root.to_path_buf()]);
    assert_eq!(discovery.machines.len(), 2, "{discovery:?}");
    discovery
}

fn scan_run(discovery: &Discovery) -> Vec<MachineReport> {
    let mut reports = Vec::new();
    scan_all(discovery, &ScanOptions::default(), |report| -> Result<(), std::convert::Infallible> {
        reports.push(report);
        Ok(())
    })
    .unwrap();
    reports
}

/// The healthy machine is pending; the corrupt one is unknown, with an error that names the
/// defect.
fn assert_run_goes_on(reports: &[MachineReport], phase: &str) {
    let healthy = reports.iter().find(|r| r.machine.contains("healthy")).unwrap();
    assert_eq!(healthy.verdict, Verdict::Pending, "{phase}");
    assert!(healthy.errors.is_empty(), "{phase}: {:?}", healthy.errors);
    let broken = reports.iter().find(|r| r.machine.contains("corrupt")).unwrap();
    assert_eq!(broken.verdict, Verdict::Unknown, "{phase}");
    assert!(
        broken.errors.iter().any(|e| e.message.contains("nil (0xFFFFFFFF) offset")),
        "{phase}: {:?}",
        broken.errors
    );
}

/// A panic of the scan itself (a bug of ours) and one inside a guarded call (nt-hive): the
/// machine's report says so, and the guarded call returns the message.
fn assert_machine_boundary_holds(discovery: &Discovery, phase: &str) -> MachineReport {
    assert_eq!(contain(|| -> () { panic!("nt-hive: {phase}") }), Err(format!("nt-hive: {phase}")));
    let spec = &discovery.machines[0];
    let options = ScanOptions::default();
    let report = contain_machine(spec, &options, || -> MachineReport { panic!("index out of range: {phase}") });
    assert_eq!(report.machine, spec.label);
    assert_eq!(report.verdict, Verdict::Unknown, "{phase}");
    assert!(report.findings.is_empty(), "{phase}");
    assert_eq!(report.errors.len(), 1, "{phase}");
    let message = &report.errors[0].message;
    assert!(message.contains(&format!("internal failure while scanning this machine (index out of range: {phase}")));
    assert!(report.not_evaluated.len() >= 10, "every rule is listed as not evaluated");
    // The scan without a panic is untouched by the boundary.
    let scanned = contain_machine(spec, &options, || scan_machine(spec, &options));
    assert!(scanned.errors.is_empty() || scanned.machine.contains("corrupt"), "{phase}");
    report
}

#[test]
fn panics_are_contained_whatever_the_host_does_with_the_hook() {
    let dir = tempfile::tempdir().unwrap();
    let discovery = machines(dir.path());

    // 1. The library's own hook (installed on first use): quiet, and the error carries where
    // the panic happened.
    assert_run_goes_on(&scan_run(&discovery), "library hook");
    let report = assert_machine_boundary_holds(&discovery, "library hook");
    assert!(report.errors[0].message.contains(" at tests/panic_hooks.rs:"), "{:?}", report.errors);

    // 2. The host replaces the hook after the library set its own up: the host's hook now sees
    // every panic (printing is its business), and containment holds all the same.
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    std::panic::set_hook(Box::new(move |info| {
        counter.fetch_add(1, Ordering::SeqCst);
        eprintln!("host hook: {info}");
    }));
    assert_run_goes_on(&scan_run(&discovery), "host hook");
    let report = assert_machine_boundary_holds(&discovery, "host hook");
    assert_eq!(seen.load(Ordering::SeqCst), 2, "the host's hook saw both panics: it replaced the library's");
    assert!(!report.errors[0].message.contains(" at "), "no location without the library's hook");

    // 3. The host takes the hook away (the default hook is back): still contained.
    let _ = std::panic::take_hook();
    assert_run_goes_on(&scan_run(&discovery), "hook taken away");
    assert_machine_boundary_holds(&discovery, "hook taken away");
}
