//! A dirty SYSTEM hive whose only evidence of a pending reboot is in its transaction log:
//! the case log replay exists for, shared by the replay, read-only and disk-image tests.

use super::hive_writer::{HiveSpec, ValueSpec};
use super::log_writer::make_dirty;

/// Sequence number of the hive before the change its log carries.
pub const SEQUENCE: u32 = 40;

/// SYSTEM of `computer_name` before (`with_rename` false) and after the change: a replacement
/// of a System32 file queued in PendingFileRenameOperations.
pub fn system(computer_name: &str, with_rename: bool) -> HiveSpec {
    let mut system = HiveSpec::new("ROOT");
    system.primary_sequence = SEQUENCE;
    system.secondary_sequence = SEQUENCE;
    system.set_value("Select", ValueSpec::dword("Current", 1));
    system
        .set_value("ControlSet001\\Control\\ComputerName\\ComputerName", ValueSpec::sz("ComputerName", computer_name));
    system.key_mut("ControlSet001\\Control\\Session Manager");
    if with_rename {
        system.set_value(
            "ControlSet001\\Control\\Session Manager",
            ValueSpec::multi_sz(
                "PendingFileRenameOperations",
                &["\\??\\C:\\Windows\\System32\\SET2.tmp", "!\\??\\C:\\Windows\\System32\\ntdll.dll"],
            ),
        );
    }
    system
}

/// The dirty primary (without the rename) and the log `make_log(before, after)` that adds it.
pub fn system_with_rename_only_in_log(
    computer_name: &str,
    make_log: impl Fn(&[u8], &[u8]) -> Vec<u8>,
) -> (Vec<u8>, Vec<u8>) {
    let before = system(computer_name, false).build();
    let after = system(computer_name, true).build();
    let log = make_log(&before, &after);
    let mut primary = before;
    make_dirty(&mut primary, SEQUENCE);
    (primary, log)
}
