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
    let needle = name.as_bytes();
    (76..bytes.len().saturating_sub(needle.len()))
        .find(|&at| {
            &bytes[at..at + needle.len()] == needle
                && &bytes[at - 76..at - 74] == b"nk"
                && u16::from_le_bytes([bytes[at - 4], bytes[at - 3]]) as usize == needle.len()
        })
        .map(|at| at - 76)
        .unwrap_or_else(|| panic!("no key node named {name}"))
}

/// The healthy SOFTWARE of a clean Server 2019 machine (servicing idle).
fn healthy_software() -> support::hive_writer::HiveSpec {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines/server2019-clean/SOFTWARE.hive.txt"),
    )
    .expect("fixture source");
    support::fixture_source::parse_fixture(&text).expect("fixture parses")
}

/// Scans a SYSTEM and a SOFTWARE together, as one machine.
fn scan_machine(system: Vec<u8>, software: Vec<u8>) -> MachineReport {
    let loaded = [("hostile/SYSTEM", system), ("hostile/SOFTWARE", software)]
        .into_iter()
        .map(|(label, bytes)| {
            let label = PathBuf::from(label);
            let hive = HiveFile::from_shared(&label, Arc::new(bytes), Vec::new(), LoadOptions::default());
            (label, hive)
        })
        .collect();
    assess("hostile", None, loaded, &RuleOptions::default())
}

/// The SYSTEM given beside a healthy SOFTWARE, so that the verdict depends on SYSTEM alone.
fn scan(system: Vec<u8>) -> MachineReport {
    scan_machine(system, healthy_software().build())
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

/// The machine is `unknown` because the named rule could not be read, and the report's errors
/// name the SYSTEM file and carry `expected`.
fn assert_unknown_because(report: &MachineReport, rule: &str, expected: &str) {
    assert_eq!(report.verdict, Verdict::Unknown, "{:#?}\n{:#?}", report.not_evaluated, report.findings);
    let reason = report.verdict_reason.as_deref().unwrap_or_default();
    assert!(reason.contains(rule), "{reason}");
    assert!(
        report.errors.iter().any(|e| e.file == "hostile/SYSTEM" && e.message.contains(expected)),
        "expected an error with {expected:?}: {:#?}",
        report.errors
    );
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
    assert_unknown_because(&report, "pending_file_rename_operations (read_error)", "exceeds the 64 MiB limit");
}

#[test]
fn the_unbroken_machine_is_pending_and_without_errors() {
    // The baseline every corruption below starts from: pending, through the System32 rename.
    let report = scan(system_with_renames());
    assert_eq!(report.verdict, Verdict::Pending, "{:#?}", report.not_evaluated);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert!(report.findings.iter().any(|f| f.rule == "pending_file_rename_operations"));
    // With the renames gone, the same SOFTWARE beside it gives a clean machine.
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.set_value("ControlSet001\\Control\\Session Manager", ValueSpec::dword("ProtectionMode", 1));
    let report = scan(spec.build());
    assert_eq!(report.verdict, Verdict::NotPending, "{:#?}", report.not_evaluated);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

#[test]
fn value_data_at_a_nil_offset_is_an_error_not_a_crash() {
    let mut bytes = system_with_renames();
    let vk = find(&bytes, b"PendingFileRenameOperations") - 20;
    put_u32(&mut bytes, vk + 8, u32::MAX);
    let report = scan(bytes);
    let detail = pfro_not_evaluated(&report);
    assert!(detail.contains("nil (0xFFFFFFFF) offset"), "{detail}");
    assert_unknown_because(&report, "pending_file_rename_operations", "nil (0xFFFFFFFF) offset");
}

#[test]
fn absurd_value_count_is_refused() {
    let mut bytes = system_with_renames();
    let nk = key_node(&bytes, "Session Manager");
    put_u32(&mut bytes, nk + 36, 0x7FFF_FFFF);
    let report = scan(bytes);
    let detail = pfro_not_evaluated(&report);
    assert!(detail.contains("Session Manager"), "{detail}");
    assert_unknown_because(&report, "pending_file_rename_operations", "Session Manager");
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
    // The renames are now unreachable, and the lookup says why instead of reading "absent".
    assert!(report.findings.iter().all(|f| !f.strength.decides()), "{:#?}", report.findings);
    let detail = pfro_not_evaluated(&report);
    assert!(detail.contains("corrupt subkey list"), "{detail}");
    assert!(detail.contains("not this key"), "{detail}");
    assert!(detail.contains("(while reading ControlSet001\\Control)"), "{detail}");
    assert_unknown_because(&report, "pending_file_rename_operations (read_error)", "corrupt subkey list");
}

#[test]
fn a_flipped_bit_in_a_key_name_on_the_path_is_a_read_error() {
    // "Session Manager" becomes "Session Oanager": the lookup by name misses it, and the
    // list's name hash (computed from the real name) no longer matches.
    let mut bytes = system_with_renames();
    let nk = key_node(&bytes, "Session Manager");
    bytes[nk + 76 + 8] ^= 0x02;
    let report = scan(bytes);
    let detail = pfro_not_evaluated(&report);
    assert!(detail.contains("carries name hash"), "{detail}");
    assert_unknown_because(&report, "pending_file_rename_operations", "Session Oanager");
}

#[test]
fn a_subkey_count_that_disagrees_with_the_list_is_a_read_error() {
    let mut bytes = system_with_renames();
    let control = key_node(&bytes, "Control");
    let count = u32_at(&bytes, control + 20);
    put_u32(&mut bytes, control + 20, count + 1);
    let report = scan(bytes);
    let detail = pfro_not_evaluated(&report);
    assert!(detail.contains(&format!("records {} subkeys, but its list", count + 1)), "{detail}");
    assert_unknown_because(&report, "pending_file_rename_operations", "records");
}

#[test]
fn a_key_whose_parent_is_another_key_is_a_read_error() {
    // The key is found by name, but it says it belongs elsewhere: a list entry was
    // redirected, or the key node is not the one the list meant.
    let mut bytes = system_with_renames();
    let session_manager = key_node(&bytes, "Session Manager");
    let select = key_node(&bytes, "Select");
    put_u32(&mut bytes, session_manager + 16, (select - 4 - 4096) as u32);
    let report = scan(bytes);
    let detail = pfro_not_evaluated(&report);
    assert!(detail.contains("whose parent is cell"), "{detail}");
    assert_unknown_because(&report, "pending_file_rename_operations", "not this key");
}

#[test]
fn an_unknown_leaf_signature_is_a_read_error() {
    let mut bytes = system_with_renames();
    let control = key_node(&bytes, "Control");
    let list = 4096 + u32_at(&bytes, control + 28) as usize;
    bytes[list + 4..list + 6].copy_from_slice(b"xx");
    let report = scan(bytes);
    let detail = pfro_not_evaluated(&report);
    assert!(detail.contains("signature \"xx\""), "{detail}");
    assert_unknown_because(&report, "pending_file_rename_operations", "not li, lf or lh");
}

#[test]
fn a_short_dword_is_wrong_type_not_absent() {
    // ExecuteState stored as a 2-byte REG_DWORD on an otherwise clean machine: the servicing
    // rule cannot tell, so the machine is unknown, with the type and length stated.
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.set_value("ControlSet001\\Control\\Session Manager", ValueSpec::dword("ProtectionMode", 1));
    let mut software = healthy_software();
    software.set_value(
        "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing",
        ValueSpec::raw("ExecuteState", 4, vec![0xFF, 0xFF]),
    );
    let report = scan_machine(spec.build(), software.build());
    assert_eq!(report.verdict, Verdict::Unknown, "{:#?}", report.not_evaluated);
    let entry = report.not_evaluated.iter().find(|n| n.rule == "cbs_execute_state").expect("not evaluated");
    assert_eq!(entry.reason, NotEvaluatedReason::WrongType);
    assert!(entry.detail.contains("is a REG_DWORD of 2 bytes (a REG_DWORD holds 4)"), "{}", entry.detail);
    assert!(report.verdict_reason.as_deref().unwrap_or_default().contains("cbs_execute_state (wrong_type)"));
    assert!(
        report.errors.iter().any(|e| e.file == "hostile/SOFTWARE" && e.message.contains("REG_DWORD")),
        "{:#?}",
        report.errors
    );
}

#[test]
fn text_where_a_number_is_compared_is_wrong_type() {
    let mut software = healthy_software();
    software.set_value("Microsoft\\ServerManager", ValueSpec::sz("CurrentRebootAttempts", "many"));
    software.set_value(
        "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing",
        ValueSpec::sz("ExecuteState", "idle"),
    );
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.set_value("ControlSet001\\Control\\Session Manager", ValueSpec::dword("ProtectionMode", 1));
    let report = scan_machine(spec.build(), software.build());
    let entry = report.not_evaluated.iter().find(|n| n.rule == "cbs_execute_state").expect("not evaluated");
    assert_eq!(entry.reason, NotEvaluatedReason::WrongType);
    assert!(entry.detail.contains("is a REG_SZ of 10 bytes, not a number (idle)"), "{}", entry.detail);
    // Non-zero text is truthy for a "non-zero" rule: "many" reboot attempts is a finding.
    assert!(report.findings.iter().any(|f| f.rule == "servermanager_current_reboot_attempts"));
    assert_eq!(report.verdict, Verdict::Pending);
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
    let report = scan(bytes);
    let detail = pfro_not_evaluated(&report);
    assert!(detail.contains("corrupt cell"), "{detail}");
    assert_unknown_because(&report, "pending_file_rename_operations", "corrupt cell");
}

#[test]
fn a_host_name_stored_as_a_number_is_wrong_type_not_absent() {
    // NV Hostname (the name the next boot takes) stored as a REG_DWORD: the rename rule cannot
    // compare it, so the machine is unknown, with the type and length stated.
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    let parameters = "ControlSet001\\Services\\Tcpip\\Parameters";
    spec.set_value(parameters, ValueSpec::sz("Hostname", "OLDNAME"));
    spec.set_value(parameters, ValueSpec::dword("NV Hostname", 7));
    let report = scan(spec.build());
    let entry = report.not_evaluated.iter().find(|n| n.rule == "computer_rename_dns").expect("not evaluated");
    assert_eq!(entry.reason, NotEvaluatedReason::WrongType);
    assert!(
        entry.detail.contains(
            "\"NV Hostname\" of ControlSet001\\Services\\Tcpip\\Parameters is a REG_DWORD of 4 bytes, not text"
        ),
        "{}",
        entry.detail
    );
    assert_unknown_because(&report, "computer_rename_dns (wrong_type)", "REG_DWORD of 4 bytes");
    // Both names as text, equal: a real negative.
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.set_value(parameters, ValueSpec::sz("Hostname", "OLDNAME"));
    spec.set_value(parameters, ValueSpec::sz("NV Hostname", "oldname"));
    let report = scan(spec.build());
    assert_eq!(report.verdict, Verdict::NotPending, "{:#?}", report.not_evaluated);
}

/// The SYSTEM of `system_with_renames` with the data size of PendingFileRenameOperations set
/// to `size` bytes (the data cell unchanged).
fn renames_cut_to(strings: &[&str], size: u32) -> Vec<u8> {
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.set_value(SESSION_MANAGER, ValueSpec::multi_sz("PendingFileRenameOperations", strings));
    let mut bytes = spec.build();
    let vk = find(&bytes, b"PendingFileRenameOperations") - 20;
    assert!(size < u32_at(&bytes, vk + 4), "a cut, not a growth");
    put_u32(&mut bytes, vk + 4, size);
    bytes
}

#[test]
fn renames_cut_short_are_wrong_type_unless_what_is_left_decides() {
    // Cut inside the first source: nothing is left to read, and the lost rest may be the
    // System32 rename. Neither proof nor absence.
    let renames = ["\\??\\C:\\Windows\\System32\\a.new", "!\\??\\C:\\Windows\\System32\\a.dll"];
    let report = scan(renames_cut_to(&renames, 32));
    let entry =
        report.not_evaluated.iter().find(|n| n.rule == "pending_file_rename_operations").expect("not evaluated");
    assert_eq!(entry.reason, NotEvaluatedReason::WrongType);
    assert!(entry.detail.contains("REG_MULTI_SZ of 32 bytes that ends inside a string"), "{}", entry.detail);
    assert_unknown_because(&report, "pending_file_rename_operations (wrong_type)", "cut short");
    // Cut inside a later temp clean-up: the System32 rename before it still decides.
    let renames = [
        "\\??\\C:\\Windows\\System32\\a.new",
        "!\\??\\C:\\Windows\\System32\\a.dll",
        "\\??\\C:\\Windows\\Temp\\x.tmp",
        "",
    ];
    let whole: usize = renames[..2].iter().map(|s| 2 * (s.len() + 1)).sum();
    let report = scan(renames_cut_to(&renames, whole as u32 + 20));
    assert_eq!(report.verdict, Verdict::Pending, "{:#?}", report.not_evaluated);
    let finding = report.findings.iter().find(|f| f.rule == "pending_file_rename_operations").expect("finding");
    let data = serde_json::to_string(&finding.data).expect("finding data serialises");
    assert!(data.contains("no terminating NUL"), "{data}");
}

/// Context values that are there but do not hold what they mean are warnings of their hive,
/// never silently absent.
#[test]
fn context_values_that_mean_nothing_are_warnings() {
    let mut software = healthy_software();
    software.set_value("Microsoft\\Windows NT\\CurrentVersion", ValueSpec::sz("CurrentBuild", "seventeen"));
    software.set_value("Microsoft\\Windows NT\\CurrentVersion", ValueSpec::qword("UBR", 1 << 40));
    let mut system = HiveSpec::new("ROOT");
    system.set_value("Select", ValueSpec::dword("Current", 1));
    system.set_value("ControlSet001\\Control\\Windows", ValueSpec::binary("ShutdownTime", &[1, 2, 3, 4]));
    let report = scan_machine(system.build(), software.build());
    let warnings = |file: &str| -> Vec<String> {
        report.hives.iter().filter(|h| h.path == file).flat_map(|h| h.warnings.clone()).collect()
    };
    let software_warnings = warnings("hostile/SOFTWARE");
    assert!(
        software_warnings.iter().any(|w| w.contains("CurrentBuild = \"seventeen\" is not a build number")),
        "{software_warnings:#?}"
    );
    assert!(
        software_warnings.iter().any(|w| w.contains("UBR = \"1099511627776\" is not a 32-bit revision number")),
        "{software_warnings:#?}"
    );
    let system_warnings = warnings("hostile/SYSTEM");
    assert!(
        system_warnings
            .iter()
            .any(|w| w.contains("ControlSet001\\Control\\Windows\\ShutdownTime is not an 8-byte FILETIME")),
        "{system_warnings:#?}"
    );
    assert_eq!(report.context.os.current_build, None);
    assert_eq!(report.context.last_shutdown, None);
}

/// A key that exists (the finding stands) but holds a value whose data cannot be read: the
/// finding says so in a note instead of showing the listing as complete.
#[test]
fn an_unreadable_value_in_a_listed_key_is_a_note_of_the_finding() {
    let cbs = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending";
    let mut software = healthy_software();
    software.set_value(cbs, ValueSpec::sz("MarkerValueXyz", "some text longer than four bytes"));
    let mut bytes = software.build();
    let vk = find(&bytes, b"MarkerValueXyz") - 20;
    assert_eq!(&bytes[vk..vk + 2], b"vk");
    put_u32(&mut bytes, vk + 8, u32::MAX);
    let mut system = HiveSpec::new("ROOT");
    system.set_value("Select", ValueSpec::dword("Current", 1));
    let report = scan_machine(system.build(), bytes);
    let finding = report.findings.iter().find(|f| f.rule == "cbs_reboot_pending").expect("the key is found");
    assert!(
        finding.notes.iter().any(|n| n.contains("MarkerValueXyz") && n.contains("nil (0xFFFFFFFF) offset")),
        "{:#?}",
        finding.notes
    );
    assert_eq!(report.verdict, Verdict::Pending);
}

/// A value name with one damaged character is not "no such value": the lookup says which
/// name the key holds instead. Numbered siblings (one digit for another) are no such trace.
#[test]
fn a_value_name_one_character_from_the_one_looked_up_is_a_read_error() {
    let mut bytes = system_with_renames();
    let vk = find(&bytes, b"PendingFileRenameOperations") - 20;
    bytes[vk + 20 + 7] ^= 0x01; // "PendingGileRenameOperations"
    let report = scan(bytes);
    let detail = pfro_not_evaluated(&report);
    assert!(
        detail.contains("the key holds \"PendingGileRenameOperations\" instead, one character from it"),
        "{detail}"
    );
    assert_unknown_because(&report, "pending_file_rename_operations (read_error)", "a damaged value name?");

    // A name that differs in a digit only, and one of another length: both plainly absent.
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value("Select", ValueSpec::dword("Current", 1));
    spec.set_value(SESSION_MANAGER, ValueSpec::multi_sz("PendingFileRenameOperations3", &["\\??\\C:\\x.tmp", ""]));
    spec.set_value(SESSION_MANAGER, ValueSpec::multi_sz("PendingFileRenameOperation", &["\\??\\C:\\y.tmp", ""]));
    let report = scan(spec.build());
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
    assert_eq!(report.verdict, Verdict::NotPending, "{:#?}", report.not_evaluated);
}
