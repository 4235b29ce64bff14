//! Disk images end to end: GPT and MBR raw images (partition tables written by the project's
//! own writer, `tests/support/partition_writer.rs`, in the layouts Debian's sgdisk and sfdisk
//! make) around the committed NTFS volumes of `fixtures/images/`, scanned through the command
//! line and through the library.
//!
//! The volumes hold hives written by the project's regf writer, staged PE files written by
//! `tests/support/pe_writer.rs`, NTFS-compressed files and a dirty hive with its log. Making
//! directories and compressed files in NTFS needs a mount, so the volumes are made once by
//! `fixtures/images/make-volumes.sh` (from [`write_volume_inputs`]) and committed gzipped;
//! [`committed_volumes_hold_what_this_test_builds`] proves they still hold what this file
//! describes.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rebootscan::discover::discover;
use rebootscan::image::source::{ImageFile, ImageSpec};
use rebootscan::image::volume::{FileProblem, NtfsVolume};
use rebootscan::scan::{scan_machine, ScanOptions};
use rebootscan::source::{BlockSource, EntryKind, FileTree};
use rebootscan::verdict::Verdict;
use support::hive_writer::{HiveSpec, ValueSpec};
use support::log_writer::new_format_log;
use support::partition_writer::{
    self, GptPartition, LogicalPartition, MbrPartition, BASIC_DATA, EFI_SYSTEM, MBR_EXTENDED, MBR_NTFS, SECTOR,
};
use support::pe_writer::{self, PeSpec};

// ---- What the volumes hold ---------------------------------------------------------------

/// A file on a test volume.
struct VolumeFile {
    /// Relative path with `/`.
    path: &'static str,
    bytes: Vec<u8>,
    /// Written NTFS-compressed.
    compressed: bool,
}

fn file(path: &'static str, bytes: Vec<u8>) -> VolumeFile {
    VolumeFile { path, bytes, compressed: false }
}

/// The pending renames of the `windows` volume, and what each should show.
const RENAMES: &[&str] = &[
    // Staged and current file present: the Windows Update write-up's case.
    "\\??\\C:\\Windows\\WinSxS\\Temp\\PendingRenames\\clbcatq.dll",
    "!\\??\\C:\\Windows\\System32\\clbcatq.dll",
    // Staged file gone (stale entry), current present.
    "\\??\\C:\\Windows\\system32\\spool\\DRIVERS\\x64\\3\\New\\UNIDRV.DLL",
    "\\??\\C:\\Windows\\system32\\spool\\DRIVERS\\x64\\3\\UNIDRV.DLL",
    // Staged file NTFS-compressed: refused, not misread.
    "\\??\\C:\\Windows\\System32\\drivers\\SET1A01.tmp",
    "!\\??\\C:\\Windows\\System32\\drivers\\vmhgfs.sys",
    // A new file: nothing there now.
    "\\??\\C:\\Program Files\\Contoso\\agent.dll.new",
    "!\\??\\C:\\Program Files\\Contoso\\agent.dll",
    // Not a PE file.
    "\\??\\C:\\Windows\\System32\\catroot2\\edb.new",
    "\\??\\C:\\Windows\\System32\\catroot2\\edb.log",
    // Another drive: not looked up.
    "\\??\\D:\\Apps\\tool.dll.new",
    "\\??\\D:\\Apps\\tool.dll",
    // A delete.
    "\\??\\C:\\Windows\\Temp\\setup.tmp",
    "",
];

fn windows_system() -> HiveSpec {
    let mut system = HiveSpec::new("ROOT");
    system.set_value("Select", ValueSpec::dword("Current", 1));
    system.set_value("Select", ValueSpec::dword("Default", 1));
    system.set_value("ControlSet001\\Control\\ComputerName\\ComputerName", ValueSpec::sz("ComputerName", "WKS-IMAGE"));
    system.set_value(
        "ControlSet001\\Control\\Session Manager",
        ValueSpec::multi_sz("PendingFileRenameOperations", RENAMES),
    );
    system
}

fn windows_software() -> HiveSpec {
    let mut software = HiveSpec::new("ROOT");
    let key = "Microsoft\\Windows NT\\CurrentVersion";
    software.set_value(key, ValueSpec::sz("ProductName", "Windows 10 Pro"));
    software.set_value(key, ValueSpec::sz("CurrentBuild", "19045"));
    software.set_value(key, ValueSpec::dword("UBR", 4291));
    software.set_value(key, ValueSpec::sz("SystemRoot", "C:\\WINDOWS"));
    software
}

fn windows_components() -> HiveSpec {
    let mut components = HiveSpec::new("ROOT");
    components.key_mut("CanonicalData\\Catalogs");
    components.key_mut("DerivedData\\Components");
    components
}

fn pe(version: [u16; 4], padding: usize) -> Vec<u8> {
    pe_writer::build(&PeSpec { padding, ..PeSpec::dll(version) })
}

/// A Windows 10 volume with a pending Windows Update-style rename set.
fn windows_volume() -> Vec<VolumeFile> {
    let mut pe32 = PeSpec::dll([0, 3, 10586, 0]);
    pe32.pe32_plus = false;
    vec![
        file("Windows/System32/config/SYSTEM", windows_system().build()),
        file("Windows/System32/config/SOFTWARE", windows_software().build()),
        file("Windows/System32/config/COMPONENTS", windows_components().build()),
        // Windows 10 1803 and later leave empty RegBack copies.
        file("Windows/System32/config/RegBack/SYSTEM", Vec::new()),
        file("Windows/System32/config/RegBack/SOFTWARE", Vec::new()),
        file("Windows/WinSxS/Temp/PendingRenames/clbcatq.dll", pe([2001, 12, 4414, 46], 0)),
        file("Windows/System32/clbcatq.dll", pe([2001, 12, 4414, 42], 0)),
        file("Windows/System32/spool/DRIVERS/x64/3/UNIDRV.DLL", pe_writer::build(&pe32)),
        VolumeFile {
            path: "Windows/System32/drivers/SET1A01.tmp",
            bytes: pe([10, 0, 19041, 1], 128 << 10),
            compressed: true,
        },
        file("Windows/System32/drivers/vmhgfs.sys", pe([10, 0, 19041, 0], 0)),
        file("Program Files/Contoso/agent.dll.new", pe([5, 2, 0, 0], 0)),
        file("Windows/System32/catroot2/edb.new", b"not a program, just a log file\r\n".repeat(40)),
        file("Windows/Temp/setup.tmp", b"x".to_vec()),
    ]
}

/// A volume whose SYSTEM is dirty (the rename is only in SYSTEM.LOG1) and whose SOFTWARE
/// is NTFS-compressed.
fn dirty_volume() -> Vec<VolumeFile> {
    let (primary, log) = support::dirty::system_with_rename_only_in_log("DIRTY-IMAGE", |before, after| {
        new_format_log(before, after, support::dirty::SEQUENCE, 2)
    });
    let mut software = windows_software();
    // Big and compressible, so that NTFS really compresses it.
    software.set_value("Contoso", ValueSpec::binary("Blob", &[0u8; 96 << 10]));
    vec![
        file("Windows/System32/config/SYSTEM", primary),
        file("Windows/System32/config/SYSTEM.LOG1", log),
        file("Windows/System32/config/SYSTEM.LOG2", Vec::new()),
        VolumeFile { path: "Windows/System32/config/SOFTWARE", bytes: software.build(), compressed: true },
        file("Windows/System32/ntdll.dll", pe([10, 0, 19041, 3636], 0)),
    ]
}

/// A data volume: NTFS, no Windows.
fn data_volume() -> Vec<VolumeFile> {
    vec![file("Data/readme.txt", b"backups go here\r\n".to_vec()), file("Users/Public/notes.txt", b"-".to_vec())]
}

fn volume_files(name: &str) -> Vec<VolumeFile> {
    match name {
        "windows" => windows_volume(),
        "dirty" => dirty_volume(),
        "data" => data_volume(),
        _ => panic!("no volume {name}"),
    }
}

const VOLUMES: [&str; 3] = ["windows", "dirty", "data"];

/// Writes what `fixtures/images/make-volumes.sh` copies into the volumes:
/// `$REBOOTSCAN_IMAGE_INPUTS/<volume>/files/…`, `…/compressed/…` and `compressed.txt`.
#[test]
#[ignore = "run by fixtures/images/make-volumes.sh"]
fn write_volume_inputs() {
    let root = PathBuf::from(std::env::var("REBOOTSCAN_IMAGE_INPUTS").expect("REBOOTSCAN_IMAGE_INPUTS"));
    for name in VOLUMES {
        let mut list = String::new();
        for entry in volume_files(name) {
            let folder = if entry.compressed { "compressed" } else { "files" };
            let path = root.join(name).join(folder).join(entry.path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &entry.bytes).unwrap();
            if entry.compressed {
                list.push_str(entry.path);
                list.push('\n');
            }
        }
        std::fs::write(root.join(name).join("compressed.txt"), list).unwrap();
    }
}

// ---- Building disks around the volumes ------------------------------------------------------

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The committed volume, decompressed.
fn volume(name: &str) -> Vec<u8> {
    let path = manifest_dir().join("fixtures/images").join(format!("{name}.ntfs.gz"));
    let compressed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut bytes).unwrap();
    bytes
}

/// GPT: 1 EFI system (empty), 2 basic data (empty), 3 `windows`, 4 `data` — the layout
/// `sgdisk -o -n 1:2048:4095 -t 1:ef00 -n 2:4096:6143 -t 2:0700 -n 3:6144:14335 -t 3:0700
/// -n 4:14336:22527 -t 4:0700` writes.
const GPT_WINDOWS_START: u64 = 6144;
fn gpt_image(dir: &Path) -> PathBuf {
    let part = |type_guid, first_lba, last_lba, name| GptPartition { type_guid, first_lba, last_lba, name };
    let mut disk = partition_writer::gpt_disk(
        24576,
        &[
            part(EFI_SYSTEM, 2048, 4095, "EFI system partition"),
            part(BASIC_DATA, 4096, 6143, "Microsoft basic data"),
            part(BASIC_DATA, GPT_WINDOWS_START, 14335, "Microsoft basic data"),
            part(BASIC_DATA, 14336, 22527, "Microsoft basic data"),
        ],
    );
    partition_writer::place(&mut disk, GPT_WINDOWS_START, &volume("windows"));
    partition_writer::place(&mut disk, 14336, &volume("data"));
    let path = dir.join("gpt.raw");
    std::fs::write(&path, disk).unwrap();
    path
}

/// MBR: 1 `data` (primary), 2 extended with 5 `dirty` and 6 `windows` (logical), the layout
/// of the sfdisk script `label: dos` / `start=2048, size=8192, type=7` / `start=10240,
/// size=22528, type=5` / `start=12288, size=8192, type=7` / `start=22528, size=8192, type=7`
/// (the first EBR at the start of the extended partition, the second right after partition 5).
fn mbr_image(dir: &Path) -> PathBuf {
    let mut disk = partition_writer::mbr_disk(
        32768,
        &[
            MbrPartition { kind: MBR_NTFS, first_lba: 2048, sectors: 8192 },
            MbrPartition { kind: MBR_EXTENDED, first_lba: 10240, sectors: 22528 },
        ],
        &[
            LogicalPartition { ebr_lba: 10240, kind: MBR_NTFS, first_lba: 12288, sectors: 8192 },
            LogicalPartition { ebr_lba: 20480, kind: MBR_NTFS, first_lba: 22528, sectors: 8192 },
        ],
    );
    partition_writer::place(&mut disk, 2048, &volume("data"));
    partition_writer::place(&mut disk, 12288, &volume("dirty"));
    partition_writer::place(&mut disk, 22528, &volume("windows"));
    let path = dir.join("mbr.raw");
    std::fs::write(&path, disk).unwrap();
    path
}

fn rebootscan(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_rebootscan")).args(args).output().expect("run rebootscan");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "rebootscan panicked: {stderr}");
    output
}

fn json_scan(path: &Path) -> (Option<i32>, serde_json::Value, String) {
    let output = rebootscan(&["scan", path.to_str().unwrap(), "--format", "json"]);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)));
    (output.status.code(), report, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn operation<'a>(machine: &'a serde_json::Value, source_end: &str) -> &'a serde_json::Value {
    machine["findings"][0]["data"]["operations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["source"].as_str().unwrap().ends_with(source_end))
        .unwrap_or_else(|| panic!("no operation from …{source_end}"))
}

// ---- Tests ---------------------------------------------------------------------------------

#[test]
fn committed_volumes_hold_what_this_test_builds() {
    let dir = tempfile::tempdir().unwrap();
    for name in VOLUMES {
        let path = dir.path().join(format!("{name}.ntfs"));
        std::fs::write(&path, volume(name)).unwrap();
        let image = ImageFile::open(&ImageSpec::for_path(&path)).unwrap();
        let len = image.len();
        let mut ntfs = NtfsVolume::open(Box::new(image), 0, len, format!("{name} [volume]")).unwrap();
        assert_eq!(ntfs.name(), format!("{name} [volume]"));
        for entry in volume_files(name) {
            let components: Vec<&str> = entry.path.split('/').collect();
            // The volume as a file tree: the file is listed in its folder, once (no 8.3
            // twin), with its size; its folders are directories.
            let (file_name, folder) = components.split_last().unwrap();
            let listed = ntfs.list(folder).unwrap().unwrap();
            let matching: Vec<_> = listed.iter().filter(|e| e.name.eq_ignore_ascii_case(file_name)).collect();
            assert_eq!(matching.len(), 1, "{name}: {} listed {listed:?}", entry.path);
            assert_eq!(matching[0].kind, EntryKind::File, "{name}: {}", entry.path);
            let metadata = ntfs.metadata(&components).unwrap().unwrap();
            assert_eq!((metadata.kind, metadata.size), (EntryKind::File, entry.bytes.len() as u64), "{}", entry.path);
            assert_eq!(ntfs.metadata(folder).unwrap().unwrap().kind, EntryKind::Directory, "{}", entry.path);
            if !entry.compressed && entry.bytes.len() > 2 {
                let tail = rebootscan::source::with_file(&mut ntfs, &components, 1 << 20, |file| {
                    let mut tail = [0u8; 2];
                    file.read_exact_at(file.len() - 2, &mut tail).map(|()| tail)
                });
                assert_eq!(tail.unwrap().unwrap().unwrap()[..], entry.bytes[entry.bytes.len() - 2..], "{}", entry.path);
            }
            let read = ntfs.read_file(&components, 1 << 30);
            if entry.compressed {
                assert_eq!(read, Err(FileProblem::Compressed), "{name}: {} must be NTFS-compressed", entry.path);
            } else {
                let bytes = read.unwrap_or_else(|e| panic!("{name}: {}: {e}", entry.path));
                assert!(
                    bytes.as_deref() == Some(&entry.bytes[..]),
                    "{name}: {} differs from what this test builds: rerun fixtures/images/make-volumes.sh",
                    entry.path
                );
            }
        }
    }
}

#[test]
fn gpt_image_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_image(dir.path());
    let (code, report, stderr) = json_scan(&image);
    assert_eq!(code, Some(0), "{stderr}\n{report:#}");
    let machines = report["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 1, "{report:#}");
    let machine = &machines[0];
    assert_eq!(machine["machine"], format!("{} [partition 3]", image.display()));
    assert_eq!(machine["computer_name"], "WKS-IMAGE");
    assert_eq!(machine["verdict"], "pending");
    assert_eq!(machine["errors"], serde_json::json!([]));
    let hive_paths: Vec<&str> =
        machine["hives"].as_array().unwrap().iter().map(|h| h["path"].as_str().unwrap()).collect();
    let prefix = format!("{} [partition 3]/Windows/System32/config/", image.display());
    assert_eq!(hive_paths, ["SYSTEM", "SOFTWARE", "COMPONENTS"].map(|h| format!("{prefix}{h}")));
    assert_eq!(machine["inputs"][0]["role"], "disk image");

    let clbcatq = operation(machine, "clbcatq.dll");
    assert_eq!(clbcatq["staged_file"], "present");
    assert_eq!(clbcatq["staged_version"], "2001.12.4414.46");
    assert_eq!(clbcatq["current_file"], "present");
    assert_eq!(clbcatq["current_version"], "2001.12.4414.42");
    let unidrv = operation(machine, "UNIDRV.DLL");
    assert_eq!(unidrv["staged_file"], "missing");
    assert_eq!(unidrv["current_version"], "0.3.10586.0", "a PE32 file");
    let compressed = operation(machine, "SET1A01.tmp");
    assert_eq!(compressed["staged_file"], "unreadable");
    assert!(compressed["staged_detail"].as_str().unwrap().starts_with("NTFS-compressed file"), "{compressed:#}");
    assert_eq!(compressed["current_version"], "10.0.19041.0");
    let agent = operation(machine, "agent.dll.new");
    assert_eq!((agent["staged_version"].as_str(), agent["current_file"].as_str()), (Some("5.2.0.0"), Some("missing")));
    let edb = operation(machine, "edb.new");
    assert_eq!(edb["staged_file"], "present");
    assert!(edb["staged_detail"].as_str().unwrap().starts_with("not a PE file"), "{edb:#}");
    let other_drive = operation(machine, "tool.dll.new");
    assert_eq!(other_drive["staged_file"], "not_checked");
    assert_eq!(other_drive["staged_detail"], "on drive D:, not on this volume (C:)");
    assert!(operation(machine, "setup.tmp").get("staged_file").is_none(), "deletes are not looked up");
    let notes = machine["findings"][0]["notes"].to_string();
    assert!(notes.contains("from SystemRoot in SOFTWARE"), "{notes}");
    assert!(notes.contains("UNIDRV.DLL"), "{notes}");

    // The data volume and the empty RegBack copies are left out with a note; the empty
    // partitions are not NTFS and are not mentioned.
    let ignored = report["ignored"].to_string();
    assert!(ignored.contains("[partition 4]") && ignored.contains("not a Windows installation"), "{ignored}");
    assert!(ignored.contains("empty RegBack copies (SYSTEM, SOFTWARE)"), "{ignored}");
    assert!(!ignored.contains("[partition 1]"), "{ignored}");

    let text = String::from_utf8_lossy(&rebootscan(&["scan", image.to_str().unwrap()]).stdout).into_owned();
    for line in [
        "System32\\clbcatq.dll: 2001.12.4414.42 now, 2001.12.4414.46 after reboot",
        "system32\\spool\\DRIVERS\\x64\\3\\UNIDRV.DLL: 0.3.10586.0 now; the staged file is missing",
        "System32\\drivers\\vmhgfs.sys: 10.0.19041.0 now; staged file: NTFS-compressed file: not read",
        "System32\\catroot2\\edb.log: no file now; staged file: not a PE file (no MZ signature; 1280 bytes)",
        "Apps\\tool.dll: not looked up (on drive D:, not on this volume (C:))",
        "Program Files\\Contoso\\agent.dll: no file now, 5.2.0.0 after reboot",
        "verdict: PENDING",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[test]
fn mbr_image_with_logical_partitions_dirty_hive_and_compressed_hive() {
    let dir = tempfile::tempdir().unwrap();
    let image = mbr_image(dir.path());
    let (code, report, stderr) = json_scan(&image);
    // The compressed SOFTWARE hive cannot be analysed: the run is incomplete.
    assert_eq!(code, Some(3), "{stderr}");
    let machines = report["machines"].as_array().unwrap();
    let labels: Vec<&str> = machines.iter().map(|m| m["machine"].as_str().unwrap()).collect();
    let name = image.display().to_string();
    assert_eq!(labels, [format!("{name} [partition 5]"), format!("{name} [partition 6]")]);

    let dirty = &machines[0];
    assert_eq!(dirty["computer_name"], "DIRTY-IMAGE");
    assert_eq!(dirty["verdict"], "pending", "the rename is only in SYSTEM.LOG1: {dirty:#}");
    let system = dirty["hives"].as_array().unwrap().iter().find(|h| h["kind"] == "SYSTEM").unwrap();
    assert_eq!(system["log_replay"]["applied"], true, "{system:#}");
    let logs = system["log_replay"]["logs_found"].to_string();
    assert!(logs.contains("[partition 5]/Windows/System32/config/SYSTEM.LOG1"), "{logs}");
    let errors = dirty["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0]["file"], format!("{name} [partition 5]/Windows/System32/config/SOFTWARE"));
    assert!(errors[0]["message"].as_str().unwrap().contains("NTFS-compressed file: not read"), "{errors:#?}");
    let ntdll = operation(dirty, "SET2.tmp");
    assert_eq!(
        (ntdll["staged_file"].as_str(), ntdll["current_version"].as_str()),
        (Some("missing"), Some("10.0.19041.3636"))
    );
    // Without SOFTWARE there is no SystemRoot: the drive letter is assumed, and said so.
    assert!(dirty["findings"][0]["notes"].to_string().contains("assumed"), "{dirty:#}");

    let windows = &machines[1];
    assert_eq!(windows["verdict"], "pending");
    assert_eq!(operation(windows, "clbcatq.dll")["staged_version"], "2001.12.4414.46");
    assert!(report["ignored"].to_string().contains("[partition 1]"), "the data volume is noted");
    assert!(stderr.contains("1 with errors"), "{stderr}");
}

#[test]
fn bare_volume_split_raw_and_images_in_a_tree() {
    let dir = tempfile::tempdir().unwrap();
    let windows = volume("windows");
    let bare = dir.path().join("c-drive.img");
    std::fs::write(&bare, &windows).unwrap();
    let (code, report, stderr) = json_scan(&bare);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["machines"][0]["machine"], format!("{} [volume]", bare.display()));
    assert_eq!(report["machines"][0]["verdict"], "pending");

    // A split raw set: the first segment stands for the set.
    let whole = std::fs::read(gpt_image(dir.path())).unwrap();
    let split = dir.path().join("split");
    std::fs::create_dir(&split).unwrap();
    for (index, piece) in whole.chunks(5 << 20).enumerate() {
        std::fs::write(split.join(format!("disk.{:03}", index + 1)), piece).unwrap();
    }
    let first = split.join("disk.001");
    let (code, report, stderr) = json_scan(&first);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["machines"][0]["machine"], format!("{} [partition 3]", first.display()));
    assert_eq!(operation(&report["machines"][0], "clbcatq.dll")["current_version"], "2001.12.4414.42");
    assert_eq!(
        report["machines"][0]["inputs"].as_array().unwrap().iter().filter(|i| i["role"] == "disk image").count(),
        3
    );

    // In a collection tree: images are found by extension, labelled relative to the root;
    // later segments belong to the first; a non-image with an image extension is ignored.
    let case = dir.path().join("case");
    std::fs::create_dir_all(case.join("host1")).unwrap();
    std::fs::create_dir_all(case.join("host2")).unwrap();
    std::fs::rename(&split, case.join("host1/split")).unwrap();
    std::fs::write(case.join("host2/notes.img"), b"just a picture").unwrap();
    std::fs::copy(&bare, case.join("host2/c.raw")).unwrap();
    let output = rebootscan(&["discover", case.to_str().unwrap()]);
    let listing = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(listing.contains("host1/split/disk.001 [partition 3]\n"), "{listing}");
    assert!(listing.contains("host2/c.raw [volume]\n"), "{listing}");
    assert!(listing.contains("notes.img: named like a disk image, but neither"), "{listing}");
    assert!(!listing.contains("disk.002"), "{listing}");
    assert!(listing.contains("2 machine(s), 0 path(s) skipped"), "{listing}");
}

#[test]
fn container_formats_name_the_conversion_command() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        // VHDX is read in place (tests/containers.rs): a damaged one says so.
        ("disk.vhdx", b"vhdxfile\0\0\0\0", "damaged or truncated VHDX"),
        // QCOW2 is read in place (tests/vhd_qcow2.rs): a damaged one says so.
        ("disk.qcow2", b"QFI\xfb\0\0\0\x03", "damaged or truncated QCOW2 image: cluster_bits 0"),
        // E01 is read in place (tests/containers.rs); a damaged one names the segment check.
        ("disk.E01", b"EVF\x09\x0d\x0a\xff\x00\x01\x01\0", "damaged or incomplete EWF image"),
        // VMDK is read in place (tests/vmdk.rs): a descriptor without extents says so.
        ("disk.vmdk", b"# Disk DescriptorFile\nversion=1\n", "VMDK descriptor without any extent line"),
    ];
    for (name, head, message) in cases {
        let path = dir.path().join(name);
        let mut bytes = head.to_vec();
        bytes.resize(64 << 10, 0);
        std::fs::write(&path, bytes).unwrap();
        let output = rebootscan(&["scan", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        let line = stderr.lines().find(|l| l.starts_with(&format!("rebootscan: skipped {}: ", path.display())));
        assert!(line.is_some_and(|l| l.contains(message)), "{stderr}");
    }
    // A fixed VHD is a raw disk followed by a footer (cookie, version 1.0, current size, disk
    // type 2, checksum): the disk ends before the footer (tests/vhd_qcow2.rs has more).
    let mut fixed = std::fs::read(gpt_image(dir.path())).unwrap();
    let mut footer = b"conectix".to_vec();
    footer.resize(512, 0);
    footer[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
    footer[40..48].copy_from_slice(&(fixed.len() as u64).to_be_bytes());
    footer[60..64].copy_from_slice(&2u32.to_be_bytes());
    let sum = footer.iter().fold(0u32, |sum, &b| sum.wrapping_add(u32::from(b)));
    footer[64..68].copy_from_slice(&(!sum).to_be_bytes());
    fixed.extend(footer);
    let vhd = dir.path().join("fixed.vhd");
    std::fs::write(&vhd, fixed).unwrap();
    let (code, report, stderr) = json_scan(&vhd);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["machines"][0]["verdict"], "pending");

    // Next to a good image the run goes on and says it is incomplete; VDI is still refused
    // with the command that converts it.
    let vdi = dir.path().join("disk.vdi");
    let mut head = b"<<< Oracle VM VirtualBox Disk Image >>>\n".to_vec();
    head.resize(64 << 10, 0);
    std::fs::write(&vdi, head).unwrap();
    let good = dir.path().join("c.img");
    std::fs::write(&good, volume("windows")).unwrap();
    let output = rebootscan(&["scan", good.to_str().unwrap(), vdi.to_str().unwrap(), "--format", "json"]);
    assert_eq!(output.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["machines"].as_array().unwrap().len(), 1);
    assert!(report["skipped"][0]["reason"].as_str().unwrap().contains("qemu-img convert -O raw"));
}

#[test]
fn truncated_and_tiny_images_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(gpt_image(dir.path())).unwrap();

    // Cut before the partitions: every partition lies beyond the end.
    let short = dir.path().join("short.raw");
    std::fs::write(&short, &whole[..(GPT_WINDOWS_START * SECTOR) as usize - 4096]).unwrap();
    let output = rebootscan(&["scan", short.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "skipped {} [partition 3]: starts at byte {}, after the end of the image",
            short.display(),
            GPT_WINDOWS_START * SECTOR
        )),
        "{stderr}"
    );
    assert!(stderr.contains("the image is truncated"), "{stderr}");

    // Cut inside the Windows volume: what lies beyond the cut cannot be read, and says so.
    let cut = dir.path().join("cut.raw");
    std::fs::write(&cut, &whole[..(GPT_WINDOWS_START * SECTOR) as usize + (3 << 20)]).unwrap();
    let output = rebootscan(&["scan", cut.to_str().unwrap(), "--format", "json"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{stderr}");
    let everything = format!("{stderr}{}", String::from_utf8_lossy(&output.stdout));
    assert!(everything.contains("truncated"), "{everything}");

    // Cut inside the partition table.
    let table = dir.path().join("table.raw");
    std::fs::write(&table, &whole[..2048]).unwrap();
    let stderr = String::from_utf8_lossy(&rebootscan(&["scan", table.to_str().unwrap()]).stderr).into_owned();
    assert!(stderr.contains("GPT partition table damaged"), "{stderr}");
    assert!(stderr.contains("the image is truncated"), "{stderr}");

    // Far too short to be anything.
    let tiny = dir.path().join("tiny.dd");
    std::fs::write(&tiny, b"0123456789").unwrap();
    let stderr = String::from_utf8_lossy(&rebootscan(&["scan", tiny.to_str().unwrap()]).stderr).into_owned();
    assert!(
        stderr.contains(&format!("skipped {}: only 10 bytes long: too short for a disk image", tiny.display())),
        "{stderr}"
    );
}

#[test]
fn non_windows_volume_is_not_a_machine() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.img");
    std::fs::write(&data, volume("data")).unwrap();
    let output = rebootscan(&["scan", data.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "skipped {}: no Windows installation in this image ({} [volume]: NTFS volume without Windows\\System32\\config hives",
            data.display(),
            data.display()
        )),
        "{stderr}"
    );
}

#[test]
fn images_are_only_read() {
    let dir = tempfile::tempdir().unwrap();
    let image = mbr_image(dir.path());
    let before = std::fs::read(&image).unwrap();
    let modified = std::fs::metadata(&image).unwrap().modified().unwrap();
    let mut permissions = std::fs::metadata(&image).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&image, permissions).unwrap();
    let output = rebootscan(&["scan", image.to_str().unwrap(), "--hash", "--format", "json"]);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(std::fs::read(&image).unwrap(), before);
    assert_eq!(std::fs::metadata(&image).unwrap().modified().unwrap(), modified);
    // With --hash the hives and logs read out of the image are hashed.
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let inputs = report["machines"][0]["inputs"].as_array().unwrap();
    assert!(inputs
        .iter()
        .any(|i| i["role"] == "transaction log" && i["sha256"].as_str().is_some_and(|h| h.len() == 64)));
}

#[test]
fn library_scan_of_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_image(dir.path());
    let discovery = discover(std::slice::from_ref(&image));
    assert_eq!(discovery.machines.len(), 1, "{discovery:#?}");
    let spec = &discovery.machines[0];
    let volume = spec.image.as_ref().expect("an image volume");
    assert_eq!(volume.partition, Some(3));
    assert_eq!(volume.start, GPT_WINDOWS_START * SECTOR);
    assert_eq!(volume.hives, ["SYSTEM", "SOFTWARE", "COMPONENTS"]);
    let report = scan_machine(spec, &ScanOptions::default());
    assert_eq!(report.verdict, Verdict::Pending);
    assert_eq!(report.context.os.build_string().as_deref(), Some("19045.4291"));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn damaged_primary_gpt_falls_back_to_the_backup() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_image(dir.path());
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[512 + 16] ^= 0xff; // the primary header's checksum
    std::fs::write(&image, &bytes).unwrap();
    let probe = rebootscan::image::probe(&ImageSpec::for_path(&image)).unwrap();
    assert_eq!(probe.windows.len(), 1);
    assert_eq!(probe.windows[0].partition, Some(3));
    assert!(probe.warnings[0].contains("primary GPT damaged (header checksum mismatch"), "{:?}", probe.warnings);
    // The caveat travels to the hives read from that volume.
    let (code, report, stderr) = json_scan(&image);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(report["machines"][0]["hives"][0]["warnings"].to_string().contains("backup GPT"), "{report:#}");
}

/// Damaged file systems cost an error, never a panic or a hang: bytes of the Windows
/// volume's metadata (boot sector, MFT, indexes) are overwritten at random.
#[test]
fn damaged_volumes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let original = volume("windows");
    // Where the file system's own structures are: every 4 KiB cluster that is not all zeros
    // and not part of a file written by this test.
    let clusters: Vec<usize> =
        (0..original.len() / 4096).filter(|&c| original[c * 4096..(c + 1) * 4096].iter().any(|&b| b != 0)).collect();
    let path = dir.path().join("damaged.img");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..120 {
        let mut damaged = original.clone();
        for _ in 0..8 {
            let cluster = clusters[next() as usize % clusters.len()];
            let at = cluster * 4096 + next() as usize % 4096;
            damaged[at] = next() as u8;
        }
        std::fs::write(&path, &damaged).unwrap();
        let discovery = discover(std::slice::from_ref(&path));
        for spec in &discovery.machines {
            let _ = scan_machine(spec, &ScanOptions::default());
        }
    }
}
