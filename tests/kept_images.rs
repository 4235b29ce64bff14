//! Opened images kept from discovery to the scan (src/image/kept.rs): a kept image gives the
//! answers a fresh open gives (raw, E01, VMDK, VHD, VHDX, QCOW2), it is what makes the second open read (next to) nothing, and it
//! is never used for a file that changed, even in place at the same size.

use std::io::Write;
use std::path::Path;

use rebootscan::image::kept;

mod support;
use support::containers::{fixture, outcome, scan_one, write};

/// Bytes this process has read through read(2)/pread(2) so far.
fn bytes_read() -> u64 {
    let text = std::fs::read_to_string("/proc/self/io").unwrap();
    text.lines().find_map(|l| l.strip_prefix("rchar:")).unwrap().trim().parse().unwrap()
}

fn outcomes(path: &Path) -> (Vec<serde_json::Value>, u64) {
    let before = bytes_read();
    let (discovery, reports) = scan_one(path);
    let read = bytes_read() - before;
    assert_eq!(discovery.machines.len(), 1, "{}: {discovery:#?}", path.display());
    (reports.iter().map(outcome).collect(), read)
}

/// One test: the byte counts are of the whole process, so nothing else may run beside it.
#[test]
fn kept_images_answer_like_fresh_ones_and_never_outlive_a_change() {
    let forms = [
        ("images", "windows.ntfs"),
        ("containers", "windows.E01"),
        ("containers", "windows.vmdk"),
        ("containers", "windows-stream.vmdk"),
        ("containers", "windows.vhd"),
        ("containers", "windows.vhdx"),
        ("containers", "windows.qcow2"),
    ];
    let settled = tempfile::tempdir().unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let written: Vec<(&str, Vec<u8>)> = forms.iter().map(|(folder, name)| (*name, fixture(folder, name))).collect();
    for (name, bytes) in &written {
        write(settled.path(), name, bytes);
    }
    // Only files unchanged for a while are kept.
    std::thread::sleep(kept::SETTLED + std::time::Duration::from_millis(200));
    for (name, bytes) in &written {
        kept::forget_all();
        let path = settled.path().join(name);
        // Discovery opens the image and keeps it; the scan takes it.
        let (first, first_read) = outcomes(&path);
        // Both take the one the last scan kept: discovery only looks at the file's head (and
        // a VMDK's descriptor, for the extents it names).
        let (again, again_read) = outcomes(&path);
        // A file just written is opened afresh each time.
        let copy = write(fresh.path(), name, bytes);
        let (expected, fresh_read) = outcomes(&copy);
        assert_eq!(first, expected, "{name}");
        assert_eq!(again, expected, "{name}");
        assert!(
            again_read * 4 <= fresh_read,
            "{name}: {again_read} bytes read through the kept image, {fresh_read} through a fresh one"
        );
        assert!(first_read <= fresh_read, "{name}: {first_read} bytes kept from discovery, {fresh_read} not");
    }
    // Overwritten in place (same inode, same size) after a scan kept it: just after, it has
    // not settled and is opened afresh; once settled, its stamps differ from the kept image's,
    // which is dropped. Either way the new content (a volume without Windows) is read.
    let path = settled.path().join("windows.ntfs");
    outcomes(&path);
    let other = fixture("images", "data.ntfs");
    assert_eq!(other.len() as u64, std::fs::metadata(&path).unwrap().len());
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().write_all(&other).unwrap();
    let (discovery, _) = scan_one(&path);
    assert!(discovery.machines.is_empty(), "the old volume's machine, just after: {discovery:#?}");
    std::thread::sleep(kept::SETTLED + std::time::Duration::from_millis(200));
    let (discovery, _) = scan_one(&path);
    assert!(discovery.machines.is_empty(), "the old volume's machine, once settled: {discovery:#?}");
}
