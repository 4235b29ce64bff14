//! Dynamic and fixed VHD and QCOW2 read in place, from the committed fixtures of
//! `fixtures/containers/` (made once by `make-containers.sh --only vhd,qcow2` and `--only
//! qcow2-zstd` with qemu-img from the committed NTFS volumes of `fixtures/images/`, which are
//! the raw forms compared against). Each container gives exactly the verdicts, findings and
//! errors of its raw form; truncated and damaged containers, differencing disks and overlays
//! whose parent is not read, encrypted images and external data files are clear errors naming
//! the file, never a panic, never a silently different answer. qemu-img cannot make a
//! differencing VHD, so the test builds one from the dynamic fixture (`differencing_vhd`
//! below); encrypted, external-data-file, unknown-feature and version 1 QCOW headers are the
//! v3 fixture patched in the test.

use std::path::Path;

use rebootscan::discover::Discovery;
use rebootscan::verdict::Verdict;

mod support;
use support::containers::{fixture, outcome, scan_one, write};

fn skipped_reason(discovery: &Discovery, name: &str) -> String {
    discovery
        .skipped
        .iter()
        .find(|s| s.path.ends_with(name))
        .map(|s| s.reason.clone())
        .unwrap_or_else(|| panic!("{name} not skipped: {discovery:#?}"))
}

/// Each form scanned alone gives what its raw volume gives.
fn assert_same_as_raw(cases: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    for &(container, raw) in cases {
        let raw_path = write(dir.path(), raw, &fixture("images", raw));
        let path = write(dir.path(), container, &fixture("containers", container));
        let (raw_discovery, raw_reports) = scan_one(&raw_path);
        let (discovery, reports) = scan_one(&path);
        assert!(discovery.skipped.is_empty(), "{container}: {discovery:#?}");
        assert_eq!(reports.len(), raw_reports.len(), "{container}: {discovery:#?}");
        assert_eq!(discovery.ignored.len(), raw_discovery.ignored.len(), "{container}");
        for (report, raw_report) in reports.iter().zip(&raw_reports) {
            assert_eq!(outcome(report), outcome(raw_report), "{container}");
            assert!(report.machine.starts_with(&format!("{} [volume]", path.display())), "{}", report.machine);
        }
        assert_eq!(reports[0].verdict, Verdict::Pending, "{container}");
    }
}

#[test]
fn vhd_gives_the_verdicts_of_its_raw_volume() {
    assert_same_as_raw(&[("windows.vhd", "windows.ntfs"), ("dirty-fixed.vhd", "dirty.ntfs")]);
}

/// The virtual size of a fixed VHD is its footer's current size: the footer is not disk data.
#[test]
fn fixed_vhd_ends_before_its_footer() {
    use rebootscan::image::source::{open_image, ImageSpec};
    let dir = tempfile::tempdir().unwrap();
    let image = fixture("containers", "dirty-fixed.vhd");
    let path = write(dir.path(), "dirty-fixed.vhd", &image);
    let footer = &image[image.len() - 512..];
    assert_eq!(&footer[..8], b"conectix");
    let current_size = u64::from_be_bytes(footer[40..48].try_into().unwrap());
    let Ok(disk) = open_image(&ImageSpec::for_path(&path)) else { panic!("fixed VHD not opened") };
    assert_eq!(disk.len(), current_size);
    assert_eq!(disk.len(), image.len() as u64 - 512);
}

/// Big-endian u32 and u64 fields, and the VHD checksum (one's complement of the byte sum
/// without the checksum field).
fn put_be32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

fn vhd_checksum(bytes: &mut [u8], field: usize) {
    put_be32(bytes, field, 0);
    let sum = bytes.iter().fold(0u32, |sum, &b| sum.wrapping_add(u32::from(b)));
    put_be32(bytes, field, !sum);
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    text.encode_utf16().flat_map(|u| if big_endian { u.to_be_bytes() } else { u.to_le_bytes() }).collect()
}

/// The dynamic fixture turned into a differencing disk (type 4) whose parent is
/// `base-disk.vhd`: the parent name in the dynamic header, and two parent locators (Windows
/// relative and absolute paths, UTF-16LE) in two sectors put before the footer.
fn differencing_vhd() -> Vec<u8> {
    differencing_vhd_of("base-disk.vhd")
}

/// [`differencing_vhd`] with another parent name in the dynamic header.
fn differencing_vhd_of(parent: &str) -> Vec<u8> {
    let mut image = fixture("containers", "windows.vhd");
    let footer_at = image.len() - 512;
    let mut footer = image[footer_at..].to_vec();
    put_be32(&mut footer, 60, 4);
    vhd_checksum(&mut footer[..512], 64);
    let header_at = u64::from_be_bytes(footer[16..24].try_into().unwrap()) as usize;
    let (relative, absolute) = (utf16(".\\base-disk.vhd", false), utf16("D:\\Hyper-V\\base-disk.vhd", false));
    let mut header = image[header_at..header_at + 1024].to_vec();
    let name = utf16(parent, true);
    header[64..64 + name.len()].copy_from_slice(&name);
    for (slot, (code, path, at)) in
        [(b"W2ru", &relative, footer_at), (b"W2ku", &absolute, footer_at + 512)].into_iter().enumerate()
    {
        let entry = 576 + 24 * slot;
        header[entry..entry + 4].copy_from_slice(code);
        put_be32(&mut header, entry + 4, 1);
        put_be32(&mut header, entry + 8, path.len() as u32);
        header[entry + 16..entry + 24].copy_from_slice(&(at as u64).to_be_bytes());
    }
    vhd_checksum(&mut header, 36);
    image[header_at..header_at + 1024].copy_from_slice(&header);
    image.truncate(footer_at);
    for path in [&relative, &absolute] {
        let mut sector = path.clone();
        sector.resize(512, 0);
        image.extend_from_slice(&sector);
    }
    image[..512].copy_from_slice(&footer);
    image.extend_from_slice(&footer);
    image
}

#[test]
fn differencing_vhd_names_its_parent_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "child.vhd", &differencing_vhd());
    let (discovery, reports) = scan_one(&path);
    assert!(reports.is_empty());
    let reason = skipped_reason(&discovery, "child.vhd");
    for expected in [
        "child.vhd",
        "differencing VHD",
        "parent \"base-disk.vhd\"",
        "relative path .\\base-disk.vhd",
        "absolute path D:\\Hyper-V\\base-disk.vhd",
        "qemu-img convert -O raw CHILD.vhd",
    ] {
        assert!(reason.contains(expected), "{expected:?} missing from {reason}");
    }
    // Given alone from the command line: the refusal naming the parent comes first, then that
    // nothing is left to scan, exit 1 (README "Exit status": every path given was skipped).
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan")).arg("scan").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(lines[0].starts_with(&format!("rebootscan: skipped {}: ", path.display())), "{stderr}");
    assert!(lines[0].contains("differencing VHD") && lines[0].contains("parent \"base-disk.vhd\""), "{stderr}");
    assert!(lines.last().unwrap().starts_with("rebootscan: error: no machine to scan"), "{stderr}");
    assert!(output.stdout.is_empty(), "no report for nothing scanned");
}

/// A parent name is shown as the header holds it: the library keeps it exact (a control
/// character included, not replaced), and the command line escapes the control character
/// where it prints it, as for every string from the evidence.
#[test]
fn differencing_vhd_parent_name_is_shown_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "child.vhd", &differencing_vhd_of("base\u{1b}[2J-disk.vhd"));
    let (discovery, _) = scan_one(&path);
    let reason = skipped_reason(&discovery, "child.vhd");
    assert!(reason.contains("parent \"base\u{1b}[2J-disk.vhd\""), "{reason:?}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan")).arg("scan").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(r#"parent "base\x{1b}[2J-disk.vhd""#), "{stderr}");
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\u{fffd}'), "{stderr}");
}

#[test]
fn truncated_and_damaged_vhd_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixture("containers", "windows.vhd");
    let header_at = 512;
    let bat_at = u64::from_be_bytes(image[header_at + 16..header_at + 24].try_into().unwrap()) as usize;
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        // Cut: the end footer is gone, the copy at 0 leads to blocks past the end.
        ("cut.vhd", image[..image.len() / 2].to_vec(), "past the end of the file"),
        ("tiny.vhd", image[..700].to_vec(), "past the end of the file"),
    ];
    let mut header = image.clone();
    header[header_at + 40] ^= 0x01;
    cases.push(("header.vhd", header, "dynamic header checksum"));
    let mut bat = image.clone();
    put_be32(&mut bat, bat_at, 0x00ff_0000);
    cases.push(("bat.vhd", bat, "points at sector 16711680, past the end of the file"));
    let mut both = image.clone();
    let end = both.len() - 512;
    both[end + 20] ^= 0x01;
    both[20] ^= 0x01;
    cases.push(("footers.vhd", both, "checksum"));
    for (name, bytes, expected) in cases {
        let path = write(dir.path(), name, &bytes);
        let (discovery, reports) = scan_one(&path);
        let messages: Vec<String> = discovery
            .skipped
            .iter()
            .map(|s| s.reason.clone())
            .chain(reports.iter().flat_map(|r| r.errors.iter().map(|e| e.message.clone())))
            .collect();
        assert!(
            messages.iter().any(|m| m.contains(name) && m.contains(expected)),
            "{name}: {expected:?} not in {messages:#?}"
        );
    }
}

/// A damaged footer at the end: the copy at byte 0 is used and the report says so.
#[test]
fn vhd_read_by_its_footer_copy_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = fixture("containers", "windows.vhd");
    let end = image.len() - 512;
    image[end + 44] ^= 0x40;
    let path = write(dir.path(), "footer.vhd", &image);
    let (discovery, reports) = scan_one(&path);
    assert_eq!(reports.len(), 1, "{discovery:#?}");
    let raw = write(dir.path(), "windows.ntfs", &fixture("images", "windows.ntfs"));
    assert_eq!(outcome(&reports[0]), outcome(&scan_one(&raw).1[0]));
    let json = serde_json::to_string(&reports[0]).unwrap();
    assert!(json.contains("read by its copy at byte 0"), "{json}");
}

/// Flips bytes of `image` at `offsets` and cuts it at `cuts`: never a panic, and a machine
/// found is either the raw form's or shows that something is wrong.
fn assert_mutants_visible(name: &str, image: &[u8], raw: &str, offsets: &[usize], cuts: &[usize]) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let raw_path = write(dir.path(), raw, &fixture("images", raw));
    let healthy = outcome(&scan_one(&raw_path).1[0]);
    let mut count = 0;
    let mutants = offsets
        .iter()
        .map(|&at| {
            let mut m = image.to_vec();
            m[at] ^= 0x08;
            (format!("flip at {at}"), m)
        })
        .chain(cuts.iter().map(|&cut| (format!("cut at {cut}"), image[..cut].to_vec())));
    for (what, mutant) in mutants {
        count += 1;
        let path = write(dir.path(), name, &mutant);
        let (discovery, reports) = scan_one(&path);
        assert!(
            !reports.is_empty() || !discovery.skipped.is_empty() || !discovery.ignored.is_empty(),
            "{what}: the image vanished without a word: {discovery:#?}"
        );
        for report in &reports {
            let visible =
                !report.errors.is_empty() || !discovery.skipped.is_empty() || report.verdict == Verdict::Unknown;
            assert!(outcome(report) == healthy || visible, "{what}: silently different: {}", outcome(report));
        }
    }
    count
}

/// The VHD structures: footer copy, dynamic header and BAT (the first 2 KiB, every byte),
/// the footer (every byte), a stride through the blocks, and cuts.
#[test]
fn vhd_mutations_never_pass_for_evidence() {
    let image = fixture("containers", "windows.vhd");
    let len = image.len();
    let mut offsets: Vec<usize> = (0..2048).filter(|&at| image[at] != 0 || at % 7 == 0).collect();
    offsets.extend((len - 512..len).filter(|&at| image[at] != 0 || at % 7 == 0));
    offsets.extend((2048..len - 512).step_by((len - 2560) / 40));
    let cuts: Vec<usize> = (0..len).step_by(len / 12).skip(1).collect();
    let count = assert_mutants_visible("m.vhd", &image, "windows.ntfs", &offsets, &cuts);
    assert!(count > 150, "{count}");
}

/// `rebootscan scan --format json PATH`: exit status, the JSON document, stderr.
fn scan_json(path: &Path) -> (Option<i32>, serde_json::Value, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan"))
        .args(["scan", "--format", "json"])
        .arg(path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    (output.status.code(), document, String::from_utf8_lossy(&output.stderr).to_string())
}

/// From the command line: a VHD alone, and VHDs in a scanned folder.
#[test]
fn vhd_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let vhd = write(dir.path(), "windows.vhd", &fixture("containers", "windows.vhd"));
    let (code, document, stderr) = scan_json(&vhd);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(document["machines"][0]["verdict"], "pending", "{document}");
    write(dir.path(), "dirty-fixed.vhd", &fixture("containers", "dirty-fixed.vhd"));
    write(dir.path(), "child.vhd", &differencing_vhd());
    let (code, document, stderr) = scan_json(dir.path());
    let machines = document["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 2, "{document}");
    assert!(machines.iter().all(|m| m["verdict"] == "pending"), "{document}");
    let listed = document.to_string();
    assert!(listed.contains("child.vhd") && listed.contains("differencing VHD"), "{listed}");
    assert_eq!(code, Some(3), "a skipped child makes the run incomplete: {stderr}");
}

// QCOW2 (src/image/qcow2.rs).

/// Every readable QCOW2 fixture: v3, v2 (compat 0.10), extended L2 entries (subclusters),
/// deflate- and zstd-compressed clusters.
const QCOW2_FORMS: [(&str, &str); 6] = [
    ("windows.qcow2", "windows.ntfs"),
    ("windows-v2.qcow2", "windows.ntfs"),
    ("windows-subclusters.qcow2", "windows.ntfs"),
    ("dirty-compressed.qcow2", "dirty.ntfs"),
    ("dirty-zstd.qcow2", "dirty.ntfs"),
    ("windows-compressed.qcow2", "windows.ntfs"),
];

#[test]
fn qcow2_gives_the_verdicts_of_its_raw_volume() {
    assert_same_as_raw(&QCOW2_FORMS);
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn be_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap())
}

fn put_be64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_be_bytes());
}

/// Byte offsets of the L1 table, of the first L2 table and of the end of the header
/// extensions (the end marker) of a QCOW2 image.
struct QcowLayout {
    l1: usize,
    l2: usize,
    extensions_end: usize,
}

fn qcow_layout(image: &[u8]) -> QcowLayout {
    let l1 = be_u64(image, 40) as usize;
    let l2 = (be_u64(image, l1) & 0x00ff_ffff_ffff_fe00) as usize;
    let mut at = if be_u32(image, 4) == 3 { be_u32(image, 100) as usize } else { 72 };
    while be_u32(image, at) != 0 {
        at += 8 + (be_u32(image, at + 4) as usize).div_ceil(8) * 8;
    }
    QcowLayout { l1, l2, extensions_end: at }
}

/// Every message a scan of `path` gave: skipped reasons and report errors.
fn messages(path: &Path) -> Vec<String> {
    let (discovery, reports) = scan_one(path);
    discovery
        .skipped
        .iter()
        .map(|s| s.reason.clone())
        .chain(reports.iter().flat_map(|r| r.errors.iter().map(|e| e.message.clone())))
        .collect()
}

/// Each `(file name, bytes, expected parts)` scanned alone gives one message naming the file
/// and holding every part.
fn assert_messages(cases: Vec<(&str, Vec<u8>, Vec<&str>)>) {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, expected) in cases {
        let path = write(dir.path(), name, &bytes);
        let messages = messages(&path);
        assert!(
            messages.iter().any(|m| m.contains(name) && expected.iter().all(|part| m.contains(part))),
            "{name}: {expected:?} not in {messages:#?}"
        );
    }
}

#[test]
fn qcow2_overlay_names_its_backing_file_present_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let overlay = write(dir.path(), "overlay.qcow2", &fixture("containers", "overlay.qcow2"));
    for present in [false, true] {
        if present {
            write(dir.path(), "base.qcow2", &fixture("containers", "windows.qcow2"));
        }
        let (discovery, reports) = scan_one(&overlay);
        assert!(reports.is_empty(), "{discovery:#?}");
        let reason = skipped_reason(&discovery, "overlay.qcow2");
        let base = dir.path().join("base.qcow2");
        for expected in [
            "QCOW2 overlay",
            "backing file \"base.qcow2\"",
            &format!("{} {}", base.display(), if present { "present" } else { "missing" }),
            "format qcow2",
            "qemu-img convert -O raw",
            "scan the backing file",
        ] {
            assert!(reason.contains(expected), "{expected:?} missing from {reason}");
        }
    }
}

/// Encryption, an external data file, unknown incompatible features and QCOW version 1, made
/// by patching the v3 fixture's header.
#[test]
fn qcow2_that_cannot_be_read_as_a_plain_disk_is_refused_with_what_to_do() {
    let image = fixture("containers", "windows.qcow2");
    let layout = qcow_layout(&image);
    let patched = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut copy = image.clone();
        edit(&mut copy);
        copy
    };
    let luks = patched(&|m| m[35] = 2);
    let aes = patched(&|m| m[35] = 1);
    // Incompatible bit 2 and a data file name extension (0x44415441) before the end marker.
    let data_file = |autoclear: u64| {
        patched(&|m| {
            m[79] |= 1 << 2;
            put_be64(m, 88, autoclear);
            let at = layout.extensions_end;
            m[at..at + 4].copy_from_slice(&0x4441_5441u32.to_be_bytes());
            m[at + 4..at + 8].copy_from_slice(&9u32.to_be_bytes());
            m[at + 8..at + 24].copy_from_slice(b"disk.data\0\0\0\0\0\0\0");
            m[at + 24..at + 32].fill(0);
        })
    };
    // The same, behind an unknown 5,000-byte extension: the name lies past the first 4 KiB.
    let far_data_file = patched(&|m| {
        m[79] |= 1 << 2;
        let at = layout.extensions_end;
        m[at..at + 4].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        m[at + 4..at + 8].copy_from_slice(&5000u32.to_be_bytes());
        let at = at + 8 + 5000;
        m[at..at + 4].copy_from_slice(&0x4441_5441u32.to_be_bytes());
        m[at + 4..at + 8].copy_from_slice(&8u32.to_be_bytes());
        m[at + 8..at + 16].copy_from_slice(b"far.data");
        m[at + 16..at + 24].fill(0);
    });
    // Bit 9 set, and the feature name table's entry for bit 4 renamed to bit 9.
    let unknown = patched(&|m| {
        m[78] |= 0x02;
        let table = be_u32(m, 100) as usize + 8;
        let entry = (table..table + 384).step_by(48).find(|&e| m[e] == 0 && m[e + 1] == 4).unwrap();
        m[entry + 1] = 9;
    });
    let version1 = patched(&|m| m[7] = 1);
    assert_messages(vec![
        ("luks.qcow2", luks, vec!["LUKS-encrypted", "does not decrypt", "encrypt.key-secret", "-O raw"]),
        ("aes.qcow2", aes, vec!["AES-encrypted", "does not decrypt"]),
        ("data.qcow2", data_file(0), vec!["external data file", "disk.data (missing)", "with the data file in place"]),
        ("raw-data.qcow2", data_file(2), vec!["disk.data (missing)", "is a raw image of the disk: scan"]),
        ("far-data.qcow2", far_data_file, vec!["far.data (missing)"]),
        ("unknown.qcow2", unknown, vec!["incompatible feature bit(s) 9 (\"extended L2 entries\")", "-O raw"]),
        ("version1.qcow2", version1, vec!["QCOW version 1", "qemu-img convert -O raw"]),
    ]);
}

#[test]
fn truncated_and_damaged_qcow2_are_clear_errors() {
    let image = fixture("containers", "windows.qcow2");
    let layout = qcow_layout(&image);
    let patched = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut copy = image.clone();
        edit(&mut copy);
        copy
    };
    // The first data cluster (the boot sector's) moved past the end of the file.
    let l2_past_end = patched(&|m| put_be64(m, layout.l2, 0x8000_0000_1000_0000));
    let l1_past_end = patched(&|m| put_be64(m, layout.l1, 0x8000_0000_2000_0000));
    let unaligned = patched(&|m| put_be64(m, layout.l2, 0x8000_0000_0005_0200));
    let compressed = fixture("containers", "dirty-compressed.qcow2");
    let compressed_layout = qcow_layout(&compressed);
    let first = be_u64(&compressed, compressed_layout.l2);
    assert_ne!(first & (1 << 62), 0, "the first cluster of dirty-compressed.qcow2 is compressed");
    let data = (first & ((1 << 54) - 1)) as usize;
    let mut damaged_data = compressed.clone();
    damaged_data[data..data + 64].fill(0xff);
    let mut short = compressed.clone();
    // One sector of input instead of five: the cluster cannot inflate to 64 KiB.
    put_be64(&mut short, compressed_layout.l2, first & !(0xff << 54));
    let zstd = fixture("containers", "dirty-zstd.qcow2");
    let zstd_first = be_u64(&zstd, qcow_layout(&zstd).l2);
    let zstd_data = (zstd_first & ((1 << 54) - 1)) as usize;
    let mut damaged_zstd = zstd.clone();
    damaged_zstd[zstd_data + 8..zstd_data + 72].fill(0xff);
    let mut far = compressed.clone();
    put_be64(&mut far, compressed_layout.l2, (first & !((1 << 54) - 1)) | 0x1000_0000);
    assert_messages(vec![
        // Cut where the first data cluster starts, after the L2 table (a cut past the clusters a
        // scan reads gives the whole answer: only what a lookup touches is read).
        (
            "cut.qcow2",
            image[..layout.l2 + 65536].to_vec(),
            vec!["guest cluster 0 is stored at byte", "past the end of the file"],
        ),
        ("cut-l2.qcow2", image[..layout.l2 + 100].to_vec(), vec!["L2 table at byte 262144, past the end of the file"]),
        ("tiny.qcow2", image[..50].to_vec(), vec!["needs 72 bytes"]),
        ("bits.qcow2", patched(&|m| m[23] = 30), vec!["cluster_bits 30"]),
        ("version.qcow2", patched(&|m| m[7] = 4), vec!["version 4"]),
        ("l1size.qcow2", patched(&|m| m[36..40].fill(0)), vec!["the L1 table has 0 entries"]),
        ("l1offset.qcow2", patched(&|m| put_be64(m, 40, 1 << 40)), vec!["the L1 table", "past the end of the file"]),
        ("hlen.qcow2", patched(&|m| m[103] = 100), vec!["header_length 100"]),
        ("l2.qcow2", l2_past_end, vec!["guest cluster 0 is stored at byte 268435456, past the end of the file"]),
        ("l1.qcow2", l1_past_end, vec!["L2 table at byte 536870912, past the end of the file"]),
        ("align.qcow2", unaligned, vec!["not on a cluster boundary"]),
        ("inflate.qcow2", damaged_data, vec!["compressed guest cluster 0", "does not decompress (deflate)"]),
        ("short.qcow2", short, vec!["compressed guest cluster 0", "does not decompress (deflate)"]),
        ("far.qcow2", far, vec!["compressed guest cluster 0", "past the end of the file"]),
        ("zstd.qcow2", damaged_zstd, vec!["compressed guest cluster 0", "does not decompress (zstd)"]),
    ]);
}

/// The dirty bit, the corrupt bit and internal snapshots are said on the machine; the active
/// state reads as the raw volume.
#[test]
fn qcow2_dirty_corrupt_and_snapshots_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let raw = write(dir.path(), "windows.ntfs", &fixture("images", "windows.ntfs"));
    let healthy = outcome(&scan_one(&raw).1[0]);
    let mut image = fixture("containers", "windows.qcow2");
    image[79] |= 0b11;
    image[60..64].copy_from_slice(&2u32.to_be_bytes());
    let path = write(dir.path(), "flags.qcow2", &image);
    let (discovery, reports) = scan_one(&path);
    assert_eq!(reports.len(), 1, "{discovery:#?}");
    assert_eq!(outcome(&reports[0]), healthy);
    let json = serde_json::to_string(&reports[0]).unwrap();
    for expected in ["dirty bit is set", "corrupt bit is set", "2 internal snapshot(s): the active state was read"] {
        assert!(json.contains(expected), "{expected:?} not in {json}");
    }
    let clean = write(dir.path(), "windows.qcow2", &fixture("containers", "windows.qcow2"));
    // The warnings, not the whole report: the container facts name the format.
    let report = &scan_one(&clean).1[0];
    let warnings = serde_json::to_string(&report.hives.iter().map(|h| &h.warnings).collect::<Vec<_>>()).unwrap();
    assert!(!warnings.contains("QCOW2") && report.hives.iter().all(|h| h.warnings.is_empty()), "{warnings}");
}

/// Header (every byte of the first 512), header extensions, L1 and L2 entries in use, and the
/// compressed clusters of the deflate and zstd fixtures (a stride), and cuts: never a panic,
/// never a silently different answer.
#[test]
fn qcow2_mutations_never_pass_for_evidence() {
    let mut count = 0;
    for (name, raw) in [
        ("windows.qcow2", "windows.ntfs"),
        ("dirty-compressed.qcow2", "dirty.ntfs"),
        ("dirty-zstd.qcow2", "dirty.ntfs"),
    ] {
        let image = fixture("containers", name);
        let layout = qcow_layout(&image);
        let mut offsets: Vec<usize> = (0..512).filter(|&at| image[at] != 0 || at % 5 == 0).collect();
        offsets.extend((layout.l1..layout.l1 + 16).filter(|&at| image[at] != 0));
        offsets.extend((layout.l2..layout.l2 + 512).filter(|&at| image[at] != 0));
        let data_start = layout.l2 + 65536;
        offsets.extend((data_start..image.len()).step_by((image.len() - data_start) / 40));
        let cuts: Vec<usize> = (0..image.len()).step_by(image.len() / 10).skip(1).collect();
        count += assert_mutants_visible("m.qcow2", &image, raw, &offsets, &cuts);
    }
    assert!(count > 900, "{count}");
}

/// From the command line: a QCOW2 alone, and QCOW2 images in a scanned folder beside an overlay.
#[test]
fn qcow2_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let image = write(dir.path(), "windows.qcow2", &fixture("containers", "windows.qcow2"));
    let (code, document, stderr) = scan_json(&image);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(document["machines"][0]["verdict"], "pending", "{document}");
    write(dir.path(), "dirty-compressed.qcow2", &fixture("containers", "dirty-compressed.qcow2"));
    write(dir.path(), "old.qcow", &fixture("containers", "windows-v2.qcow2"));
    write(dir.path(), "overlay.qcow2", &fixture("containers", "overlay.qcow2"));
    let (code, document, stderr) = scan_json(dir.path());
    let machines = document["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 3, "{document}");
    assert!(machines.iter().all(|m| m["verdict"] == "pending"), "{document}");
    let listed = document["skipped"].to_string();
    assert!(listed.contains("overlay.qcow2") && listed.contains("QCOW2 overlay"), "{listed}");
    assert_eq!(code, Some(3), "a skipped overlay makes the run incomplete: {stderr}");
}
