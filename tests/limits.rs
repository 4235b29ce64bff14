//! Hostile hives: sizes and counts an attacker controls are bounded, and exceeding a bound is
//! a clear error for that hive, never a hang, a huge allocation or a crash.

mod support;

use std::path::PathBuf;
use std::sync::Arc;

use rebootscan::load::{HiveFile, LoadOptions};
use rebootscan::report::MachineReport;
use rebootscan::rules::{NotEvaluatedReason, RuleOptions};
use rebootscan::scan::assess;
use rebootscan::verdict::Verdict;
use support::hive_writer::{HiveSpec, ValueSpec};

const SESSION_MANAGER: &str = "ControlSet001\\Control\\Session Manager";

fn system_with_renames() -> Vec<u8> {
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.set_value("ControlSet001\\Control\\ComputerName\\ComputerName", ValueSpec::sz("ComputerName", "LIMITS"));
    spec.set_value(
        SESSION_MANAGER,
        ValueSpec::multi_sz(
            "PendingFileRenameOperations",
            &["\\??\\C:\\Windows\\System32\\a.new", "!\\??\\C:\\Windows\\System32\\a.dll"],
        ),
    );
    spec.build()
}

fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).expect("needle in hive")
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// File offset of the `nk` record of the key named `name` (ASCII names sit at nk + 76).
fn key_node(bytes: &[u8], name: &str) -> usize {
    let at = find(bytes, name.as_bytes()) - 76;
    assert_eq!(&bytes[at..at + 2], b"nk");
    at
}

fn scan(bytes: Vec<u8>) -> MachineReport {
    let label = PathBuf::from("hostile/SYSTEM");
    let loaded = HiveFile::from_shared(&label, Arc::new(bytes), Vec::new(), LoadOptions::default());
    assess("hostile", None, vec![(label, loaded)], &RuleOptions::default())
}

fn pfro_not_evaluated(report: &MachineReport) -> String {
    let entry = report
        .not_evaluated
        .iter()
        .find(|n| n.rule == "pending_file_rename_operations")
        .unwrap_or_else(|| panic!("not evaluated: {:#?}\nfindings: {:#?}", report.not_evaluated, report.findings));
    assert_eq!(entry.reason, NotEvaluatedReason::ReadError);
    entry.detail.clone()
}

#[test]
fn value_claiming_two_gigabytes_is_refused() {
    let mut bytes = system_with_renames();
    let vk = find(&bytes, b"PendingFileRenameOperations") - 20;
    assert_eq!(&bytes[vk..vk + 2], b"vk");
    put_u32(&mut bytes, vk + 4, 0x7FFF_FFF0);
    let report = scan(bytes);
    let detail = pfro_not_evaluated(&report);
    assert!(detail.contains("exceeds the 64 MiB limit"), "{detail}");
    // A strong rule could not be read: the machine cannot be called "not pending".
    assert_eq!(report.verdict, Verdict::Unknown);
    assert!(report.errors.iter().any(|e| e.file == "hostile/SYSTEM"), "{:?}", report.errors);
}

#[test]
fn value_data_at_a_nil_offset_is_an_error_not_a_crash() {
    let mut bytes = system_with_renames();
    let vk = find(&bytes, b"PendingFileRenameOperations") - 20;
    put_u32(&mut bytes, vk + 8, u32::MAX);
    let detail = pfro_not_evaluated(&scan(bytes));
    assert!(detail.contains("nil (0xFFFFFFFF) offset"), "{detail}");
}

#[test]
fn absurd_value_count_is_refused() {
    let mut bytes = system_with_renames();
    let nk = key_node(&bytes, "Session Manager");
    put_u32(&mut bytes, nk + 36, 0x7FFF_FFFF);
    let detail = pfro_not_evaluated(&scan(bytes));
    assert!(!detail.is_empty());
}

#[test]
fn subkey_list_pointing_back_at_the_root_does_not_loop() {
    let mut bytes = system_with_renames();
    let root = u32_at(&bytes, 36);
    let control = key_node(&bytes, "Control");
    let list = 4096 + u32_at(&bytes, control + 28) as usize;
    assert_eq!(&bytes[list + 4..list + 6], b"lh");
    let count = u16::from_le_bytes([bytes[list + 6], bytes[list + 7]]) as usize;
    for entry in 0..count {
        put_u32(&mut bytes, list + 8 + entry * 8, root);
    }
    let report = scan(bytes);
    // The renames are now unreachable: no finding, no hang, and the verdict does not claim
    // more than the hive shows (SOFTWARE is missing anyway).
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_ne!(report.verdict, Verdict::NotPending);
}

#[test]
fn big_data_with_a_huge_segment_count_is_an_error() {
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    let big: Vec<String> = (0..2000).map(|i| format!("\\??\\C:\\Windows\\System32\\file{i:04}.dll")).collect();
    let strings: Vec<&str> = big.iter().map(String::as_str).collect();
    spec.set_value(SESSION_MANAGER, ValueSpec::multi_sz("PendingFileRenameOperations", &strings));
    let mut bytes = spec.build();
    let vk = find(&bytes, b"PendingFileRenameOperations") - 20;
    let db = 4096 + u32_at(&bytes, vk + 8) as usize;
    assert_eq!(&bytes[db + 4..db + 6], b"db", "the value is stored as big data");
    bytes[db + 6..db + 8].copy_from_slice(&u16::MAX.to_le_bytes());
    let detail = pfro_not_evaluated(&scan(bytes));
    assert!(detail.contains("corrupt cell"), "{detail}");
}
