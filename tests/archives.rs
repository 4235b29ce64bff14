//! Collections in archives, read in place: ZIPs as Velociraptor's offline collector streams
//! them (data descriptors, sizes only in the central directory) and as KAPE or an analyst
//! zips a folder, tar and tar.gz. Archives are built here with the `zip` and `tar` crates from
//! the committed fixture machines; each machine in an archive must get exactly the verdict and
//! findings of the same hives scanned as files. Damaged, truncated, hostile (escaping names,
//! zip bombs) archives give clear errors and never panic; a mutation pass flips and cuts
//! bytes of each format.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use rebootscan::discover::{discover, Discovery, MachineSpec};
use rebootscan::report::MachineReport;
use rebootscan::scan::{scan_machine, ScanOptions};
use zip::write::SimpleFileOptions;
use zip::CompressionMethod;

fn fixture(machine: &str, hive: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines").join(machine).join(hive);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The finding's data without the staged-file lookups, which only a tree with the drive's
/// folders can answer (a hive folder scan does not look them up).
fn without_lookups(data: &serde_json::Value) -> serde_json::Value {
    let mut data = data.clone();
    if let Some(serde_json::Value::Array(operations)) = data.get_mut("operations") {
        for operation in operations {
            if let serde_json::Value::Object(fields) = operation {
                fields.retain(|key, _| !key.starts_with("staged_") && !key.starts_with("current_"));
            }
        }
    }
    data
}

/// What must not change between a machine scanned from files and from an archive.
fn outcome(report: &MachineReport) -> serde_json::Value {
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| serde_json::json!({"rule": f.rule, "data": without_lookups(&serde_json::to_value(&f.data).unwrap()), "key": f.key, "value": f.value, "strength": f.strength, "last_write": f.last_write, "summary": f.summary}))
        .collect();
    serde_json::json!({
        "verdict": report.verdict,
        "reason": report.verdict_reason,
        "computer": report.computer_name,
        "findings": findings,
        "errors": report.errors.len(),
    })
}

fn scan_folder_of(machine: &str) -> serde_json::Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines").join(machine);
    let discovery = discover(&[dir]);
    assert_eq!(discovery.machines.len(), 1);
    outcome(&scan_machine(&discovery.machines[0], &ScanOptions::default()))
}

fn machine<'a>(discovery: &'a Discovery, label_end: &str) -> &'a MachineSpec {
    discovery
        .machines
        .iter()
        .find(|m| m.label.ends_with(label_end))
        .unwrap_or_else(|| panic!("no machine {label_end}: {discovery:#?}"))
}

const MACHINES: [&str; 3] = ["win11-cbs-reboot-pending", "server2019-clean", "win10-pending-driver-update"];

/// A Velociraptor collection: streamed (data descriptors), hives under both accessors.
fn velociraptor_zip(machine: &str) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new_stream(Cursor::new(Vec::new()));
    let deflate = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for hive in ["SYSTEM", "SOFTWARE"] {
        zip.start_file(format!("uploads/auto/C%3A/Windows/System32/config/{hive}"), deflate).unwrap();
        zip.write_all(&fixture(machine, hive)).unwrap();
    }
    zip.start_file("uploads.json", deflate).unwrap();
    zip.write_all(b"[]").unwrap();
    zip.start_file("results/Windows.KapeFiles.Targets%2FAll File Metadata.json", deflate).unwrap();
    zip.write_all(b"{}").unwrap();
    zip.finish().unwrap().into_inner().into_inner()
}

fn zip_of(members: &[(&str, Vec<u8>)], method: CompressionMethod) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in members {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn tar_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, &bytes[..]).unwrap();
    }
    builder.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn each_archive_layout_gives_the_verdicts_of_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let [velo, kape, flat] = MACHINES;
    write(dir.path(), "Collection-SRV01_corp_example_com-20261202.zip", &velociraptor_zip(velo));
    // KAPE --zip: C/… at the root; an analyst's zip of a whole output folder: HOST/C/….
    let kape_members: Vec<(&str, Vec<u8>)> = vec![
        ("C/Windows/System32/config/SYSTEM", fixture(kape, "SYSTEM")),
        ("C/Windows/System32/config/SOFTWARE", fixture(kape, "SOFTWARE")),
        ("2026-12-02T101010_ConsoleLog.txt", b"log".to_vec()),
        ("HOST2/C/Windows/System32/config/SYSTEM", fixture(flat, "SYSTEM")),
        ("HOST2/C/Windows/System32/config/SOFTWARE", fixture(flat, "SOFTWARE")),
    ];
    write(dir.path(), "2026-12-02T101010_kape.zip", &zip_of(&kape_members, CompressionMethod::Deflated));
    let flat_members: Vec<(&str, Vec<u8>)> =
        vec![("host3/SYSTEM", fixture(flat, "SYSTEM")), ("host3/SOFTWARE", fixture(flat, "SOFTWARE"))];
    write(dir.path(), "flat.tar", &tar_of(&flat_members));
    write(dir.path(), "flat.tgz", &gzip(&tar_of(&flat_members)));
    // A .tar.gz by content only: no telling name.
    write(dir.path(), "collection.bin.gz", &gzip(&tar_of(&kape_members[..2])));

    let discovery = discover(&[dir.path().to_path_buf()]);
    assert!(discovery.skipped.is_empty(), "{:#?}", discovery.skipped);
    let expected = [
        ("Collection-SRV01_corp_example_com-20261202.zip [/]", velo),
        ("2026-12-02T101010_kape.zip [/]", kape),
        ("2026-12-02T101010_kape.zip [HOST2]", flat),
        ("flat.tar [host3]", flat),
        ("flat.tgz [host3]", flat),
        ("collection.bin.gz [/]", kape),
    ];
    assert_eq!(discovery.machines.len(), expected.len(), "{:#?}", discovery.machines);
    for (label, source) in expected {
        let spec = machine(&discovery, label);
        let report = scan_machine(spec, &ScanOptions::default());
        assert!(report.errors.is_empty(), "{label}: {:?}", report.errors);
        assert_eq!(outcome(&report), scan_folder_of(source), "{label}");
        assert!(report.inputs.iter().any(|i| i.role == "archive"), "{label}: the archive is listed among the inputs");
    }
    // The hives' report paths name the member inside the archive.
    let velo_spec = machine(&discovery, "20261202.zip [/]");
    assert!(velo_spec
        .hives
        .iter()
        .any(|h| h.to_string_lossy().ends_with(".zip/uploads/auto/C%3A/Windows/System32/config/SYSTEM")));
}

#[test]
fn nothing_in_a_tree_is_dropped_silently() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<(&str, Vec<u8>)> = vec![
        ("C/Windows/System32/config/SYSTEM", fixture("server2019-clean", "SYSTEM")),
        ("2026-12-02T101010_host.vhdx", b"vhdxfile and more".to_vec()),
        ("../../etc/SYSTEM", b"regf".to_vec()),
        ("/abs/notes.txt", b"x".to_vec()),
        ("inner.zip", b"PK\x05\x06".to_vec()),
    ];
    write(dir.path(), "kape.zip", &zip_of(&members, CompressionMethod::Deflated));
    write(dir.path(), "volume.ntfs.gz", &gzip(b"not a tar at all"));
    write(dir.path(), "broken.zip", b"PK\x03\x04 and then nothing");
    write(dir.path(), "empty.zip", &zip_of(&[("readme.txt", b"hello".to_vec())], CompressionMethod::Stored));
    let mut big_unknown = vec![0u8; 70_000];
    big_unknown[..4].copy_from_slice(b"BZh9");
    write(dir.path(), "export", &big_unknown);
    let discovery = discover(&[dir.path().to_path_buf()]);
    let said = |list: &[rebootscan::discover::Skipped], path_end: &str, words: &str| {
        list.iter().any(|s| s.path.ends_with(path_end) && s.reason.contains(words))
    };
    assert_eq!(discovery.machines.len(), 1, "{discovery:#?}");
    assert!(
        said(&discovery.skipped, "kape.zip/2026-12-02T101010_host.vhdx", "disk image inside a ZIP archive"),
        "{discovery:#?}"
    );
    assert!(said(&discovery.skipped, "kape.zip/../../etc/SYSTEM", "escapes the archive"), "{discovery:#?}");
    assert!(said(&discovery.ignored, "kape.zip//abs/notes.txt", "escapes the archive"), "{discovery:#?}");
    assert!(said(&discovery.skipped, "kape.zip/inner.zip", "archive inside"), "{discovery:#?}");
    assert!(said(&discovery.ignored, "volume.ntfs.gz", "gzip-compressed file"), "{discovery:#?}");
    assert!(said(&discovery.skipped, "broken.zip", "damaged ZIP archive"), "{discovery:#?}");
    assert!(said(&discovery.ignored, "empty.zip", "without SYSTEM, SOFTWARE or COMPONENTS"), "{discovery:#?}");
    assert!(said(&discovery.ignored, "export", "bzip2"), "{discovery:#?}");
}

#[test]
fn zip_bombs_and_damaged_members_are_errors_of_their_machine() {
    let dir = tempfile::tempdir().unwrap();
    let system = fixture("server2019-clean", "SYSTEM");
    // 64 MiB of zeros deflate to about 64 KiB: far past the expansion bound.
    let bomb = vec![0u8; 64 << 20];
    let members: Vec<(&str, Vec<u8>)> =
        vec![("C/Windows/System32/config/SYSTEM", system.clone()), ("C/Windows/System32/config/SOFTWARE", bomb)];
    let path = write(dir.path(), "bomb.zip", &zip_of(&members, CompressionMethod::Deflated));
    let discovery = discover(std::slice::from_ref(&path));
    let report = scan_machine(&discovery.machines[0], &ScanOptions::default());
    assert!(
        report.errors.iter().any(|e| e.message.contains("zip bomb") && e.file.ends_with("config/SOFTWARE")),
        "{:?}",
        report.errors
    );
    // A flipped byte inside the stored SYSTEM member: the CRC says so.
    let mut stored = zip_of(&[("SYSTEM", system.clone())], CompressionMethod::Stored);
    let at = stored.windows(4).position(|w| w == b"regf").unwrap() + 5000;
    stored[at] ^= 0x40;
    let path = write(dir.path(), "flipped.zip", &stored);
    let discovery = discover(std::slice::from_ref(&path));
    let report = scan_machine(&discovery.machines[0], &ScanOptions::default());
    assert!(report.errors.iter().any(|e| e.message.contains("damaged ZIP member")), "{:?}", report.errors);
}

/// Found by the `zip_index` fuzz target: a central-directory entry claiming gigabytes of
/// compressed bytes in a small archive passed the expansion check (gigabytes of output from
/// gigabytes of input) and sized the member's buffer before a byte was read.
#[test]
fn a_compressed_size_larger_than_the_archive_is_an_error_before_any_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let system = fixture("server2019-clean", "SYSTEM");
    let mut zip = zip_of(&[("C/Windows/System32/config/SYSTEM", system)], CompressionMethod::Deflated);
    let central = zip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    let claimed = 0xCB23_C9CEu32;
    zip[central + 20..central + 24].copy_from_slice(&claimed.to_le_bytes());
    zip[central + 24..central + 28].copy_from_slice(&claimed.to_le_bytes());
    let path = write(dir.path(), "claims.zip", &zip);
    let discovery = discover(std::slice::from_ref(&path));
    let report = scan_machine(&discovery.machines[0], &ScanOptions::default());
    let message = format!("{claimed} compressed bytes, more than the {} bytes of the whole archive", zip.len());
    assert!(
        report.errors.iter().any(|e| e.message.contains(&message) && e.file.ends_with("config/SYSTEM")),
        "{:?}",
        report.errors
    );
}

#[test]
fn truncated_archives_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<(&str, Vec<u8>)> = vec![("host/SYSTEM", fixture("server2019-clean", "SYSTEM"))];
    let zip = zip_of(&members, CompressionMethod::Deflated);
    let path = write(dir.path(), "cut.zip", &zip[..zip.len() / 2]);
    let discovery = discover(std::slice::from_ref(&path));
    assert!(discovery.machines.is_empty());
    assert!(discovery.skipped.iter().any(|s| s.reason.contains("damaged ZIP archive")), "{discovery:#?}");

    let tar = tar_of(&members);
    // Cut inside the hive's data: the member is listed, reading it says the archive is cut.
    let path = write(dir.path(), "cut.tar", &tar[..4096]);
    let discovery = discover(std::slice::from_ref(&path));
    assert!(discovery.machines.is_empty());
    assert!(discovery.skipped.iter().any(|s| s.reason.contains("damaged tar archive")), "{discovery:#?}");

    let tgz = gzip(&tar);
    let path = write(dir.path(), "cut.tar.gz", &tgz[..tgz.len() / 2]);
    let discovery = discover(std::slice::from_ref(&path));
    let failed = !discovery.skipped.is_empty()
        || discovery.machines.iter().any(|m| !scan_machine(m, &ScanOptions::default()).errors.is_empty());
    assert!(failed, "a cut gzip stream is an error: {discovery:#?}");
}

/// A tar member whose stored name is not UTF-8 (a PAX `path` record, a GNU long name or the
/// header's own name in a code page) is read under its name with each byte that is not UTF-8
/// written %XX, its machine told so, never dropped or renamed to what the ustar header holds;
/// a member after a damaged PAX header, whose name is uncertain, is listed and not read.
#[cfg(unix)]
#[test]
fn tar_names_that_are_not_utf8_are_read_losslessly_and_said() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let source = "win10-pending-driver-update";
    let mut builder = tar::Builder::new(Vec::new());
    let append = |builder: &mut tar::Builder<Vec<u8>>, name: &[u8], bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, std::ffi::OsStr::from_bytes(name), bytes).unwrap();
    };
    for hive in ["SYSTEM", "SOFTWARE"] {
        // PAX: the ustar header holds a stand-in name (as writers do for a name it cannot
        // hold); the `path` record, in Latin-1, is the member's name.
        let mut pax_path = b"pax-h\xe9l\xe8ne/Windows/System32/config/".to_vec();
        pax_path.extend_from_slice(hive.as_bytes());
        builder.append_pax_extensions([("path", &pax_path[..])]).unwrap();
        append(&mut builder, format!("stand-in/{hive}").as_bytes(), &fixture(source, hive));
        // GNU long name (the path is longer than the header's 100 bytes).
        let mut long = format!("{}/", "c".repeat(100)).into_bytes();
        long.extend_from_slice(b"gnu-\xff%/Windows/System32/config/");
        long.extend_from_slice(hive.as_bytes());
        append(&mut builder, &long, &fixture(source, hive));
        // The header's own name field.
        let mut short = b"ustar-\xe9/".to_vec();
        short.extend_from_slice(hive.as_bytes());
        append(&mut builder, &short, &fixture(source, hive));
    }
    // A PAX header whose record claims more bytes than it has: the name of the member after
    // it cannot be known.
    let records = b"99 path=damaged/SYSTEM\n";
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_size(records.len() as u64);
    header.set_mode(0o644);
    builder.append_data(&mut header, "PaxHeaders/SYSTEM", &records[..]).unwrap();
    append(&mut builder, b"stand-in-2/SYSTEM", &fixture(source, "SYSTEM"));
    let path = write(dir.path(), "names.tar", &builder.into_inner().unwrap());

    let discovery = discover(std::slice::from_ref(&path));
    let labels: Vec<&str> = discovery.machines.iter().map(|m| m.label.as_str()).collect();
    let healthy = scan_folder_of(source);
    let long_folder = format!("{}/gnu-%FF%25", "c".repeat(100));
    for (label_end, folder) in [
        ("[pax-h%E9l%E8ne]", "pax-h%E9l%E8ne/Windows/System32/config"),
        (&format!("[{long_folder}]")[..], &format!("{long_folder}/Windows/System32/config")[..]),
        ("[ustar-%E9]", "ustar-%E9"),
    ] {
        let spec = machine(&discovery, label_end);
        let report = scan_machine(spec, &ScanOptions::default());
        assert_eq!(outcome(&report), healthy, "{label_end}");
        for hive in ["SYSTEM", "SOFTWARE"] {
            let said = format!("names.tar/{folder}/{hive}: the member's name in the archive is not UTF-8");
            let warnings: Vec<&String> = report.hives.iter().flat_map(|h| &h.warnings).collect();
            assert!(warnings.iter().any(|w| w.contains(&said)), "{label_end}: {warnings:#?}");
        }
    }
    assert!(
        !labels.iter().any(|l| l.contains("stand-in")),
        "a stand-in name is never read as the member's: {labels:?}"
    );
    assert_eq!(discovery.machines.len(), 3, "{labels:?}");
    assert!(
        discovery.skipped.iter().any(|s| s.path.ends_with("names.tar/stand-in-2/SYSTEM")
            && s.reason.contains("record 1 of its PAX header")
            && s.reason.contains("name is uncertain, not read")),
        "{:#?}",
        discovery.skipped
    );
}

/// Walks a ZIP's central directory (from the end record) and each member's local header:
/// sets or clears bit 11 of their flags (the name is UTF-8) and lets `patch` rewrite the
/// name bytes of both in place (the same length). Only name fields are touched, never data.
fn patch_zip_names(zip: &mut [u8], utf8_flag: bool, patch: impl Fn(&mut [u8])) {
    let u16_at = |zip: &[u8], at: usize| u16::from_le_bytes([zip[at], zip[at + 1]]) as usize;
    let u32_at = |zip: &[u8], at: usize| u32::from_le_bytes(zip[at..at + 4].try_into().unwrap()) as usize;
    let set_flag = |zip: &mut [u8], at: usize| {
        let value = u16::from_le_bytes([zip[at], zip[at + 1]]);
        let value = if utf8_flag { value | 1 << 11 } else { value & !(1 << 11) };
        zip[at..at + 2].copy_from_slice(&value.to_le_bytes());
    };
    let end = zip.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    let (count, mut central) = (u16_at(zip, end + 10), u32_at(zip, end + 16));
    for _ in 0..count {
        assert_eq!(&zip[central..central + 4], b"PK\x01\x02");
        let name_len = u16_at(zip, central + 28);
        let next = central + 46 + name_len + u16_at(zip, central + 30) + u16_at(zip, central + 32);
        let local = u32_at(zip, central + 42);
        assert_eq!(&zip[local..local + 4], b"PK\x03\x04");
        set_flag(zip, central + 8);
        set_flag(zip, local + 6);
        patch(&mut zip[central + 46..central + 46 + name_len]);
        let local_name_len = u16_at(zip, local + 26);
        patch(&mut zip[local + 30..local + 30 + local_name_len]);
        central = next;
    }
}

/// A ZIP member name is read from its stored bytes as a tar member's is: flagged UTF-8 but
/// not (a Latin-1 byte), it is read with the byte as %XX and its machine told so, where the
/// crate's lossy decoding would give U+FFFD and read two such folders as one; UTF-8 stored
/// without the flag (as many writers do) is read as UTF-8, not as CP437 mojibake.
#[test]
fn zip_names_are_read_from_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let source = "win10-pending-driver-update";
    let mut members = Vec::new();
    // Two folders whose stored names differ only in bytes that are not UTF-8 (written here as
    // `\u{e9}` and `\u{e8}`, two UTF-8 bytes each, then patched to one Latin-1 byte and a `%`).
    for folder in ["h\u{e9}l\u{e8}ne", "h\u{e8}l\u{e9}ne"] {
        for hive in ["SYSTEM", "SOFTWARE"] {
            members.push((format!("{folder}/Windows/System32/config/{hive}"), fixture(source, hive)));
        }
    }
    let refs: Vec<(&str, Vec<u8>)> = members.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let mut zip = zip_of(&refs, CompressionMethod::Deflated);
    patch_zip_names(&mut zip, true, |name| {
        for (utf8, latin1) in [(&b"\xc3\xa9"[..], &b"\xe9%"[..]), (&b"\xc3\xa8"[..], &b"\xe8%"[..])] {
            while let Some(at) = name.windows(2).position(|w| w == utf8) {
                name[at..at + 2].copy_from_slice(latin1);
            }
        }
    });
    let path = write(dir.path(), "latin1.zip", &zip);
    let discovery = discover(std::slice::from_ref(&path));
    let labels: Vec<&str> = discovery.machines.iter().map(|m| m.label.as_str()).collect();
    // The `zip` crate keeps one member per name as it decodes names (lossily), so of the two
    // folders one is read (the later, as extracting leaves it) and the other listed, by its
    // bytes, as not read: never merged, never dropped without a word.
    assert_eq!(labels.len(), 1, "{labels:?}");
    let (read, hidden) = ("h%E8%25l%E9%25ne", "h%E9%25l%E8%25ne");
    let report = scan_machine(machine(&discovery, &format!("[{read}]")), &ScanOptions::default());
    let healthy = scan_folder_of(source);
    assert_eq!(outcome(&report), healthy);
    let warnings: Vec<&String> = report.hives.iter().flat_map(|h| &h.warnings).collect();
    for hive in ["SYSTEM", "SOFTWARE"] {
        let said =
            format!("latin1.zip/{read}/Windows/System32/config/{hive}: the member's name in the archive is not UTF-8");
        assert!(warnings.iter().any(|w| w.contains(&said)), "{warnings:#?}");
        assert!(
            discovery
                .skipped
                .iter()
                .any(|s| s.path.ends_with(&format!("latin1.zip/{hidden}/Windows/System32/config/{hive}"))
                    && s.reason.contains("only the later one is read; this one is listed, not read")),
            "{:#?}",
            discovery.skipped
        );
    }

    // Two members of exactly one name (the writer refuses that, so the second is renamed in
    // place): the later is read, the earlier listed.
    let twice = [
        ("twin-a/Windows/System32/config/SYSTEM", fixture(source, "SYSTEM")),
        ("twin-a/Windows/System32/config/SOFTWARE", fixture(source, "SOFTWARE")),
        ("twin-b/Windows/System32/config/SYSTEM", fixture("server2019-clean", "SYSTEM")),
    ];
    let mut zip = zip_of(&twice, CompressionMethod::Deflated);
    patch_zip_names(&mut zip, false, |name| {
        if name.starts_with(b"twin-b") {
            name[5] = b'a';
        }
    });
    let path = write(dir.path(), "twice.zip", &zip);
    let discovery = discover(std::slice::from_ref(&path));
    assert_eq!(discovery.machines.len(), 1, "{discovery:#?}");
    let report = scan_machine(&discovery.machines[0], &ScanOptions::default());
    let later = scan_folder_of("server2019-clean");
    assert_eq!(report.computer_name.as_deref(), later["computer"].as_str(), "the later SYSTEM is read");
    assert_ne!(later["computer"], healthy["computer"], "the two SYSTEMs differ");
    assert!(
        discovery.skipped.iter().any(|s| s.path.ends_with("twice.zip/twin-a/Windows/System32/config/SYSTEM")
            && s.reason.contains("only the later one is read")),
        "{:#?}",
        discovery.skipped
    );

    let members: Vec<(String, Vec<u8>)> = ["SYSTEM", "SOFTWARE"]
        .iter()
        .map(|hive| (format!("caf\u{e9}/Windows/System32/config/{hive}"), fixture(source, hive)))
        .collect();
    let refs: Vec<(&str, Vec<u8>)> = members.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let mut zip = zip_of(&refs, CompressionMethod::Deflated);
    patch_zip_names(&mut zip, false, |_| {});
    let path = write(dir.path(), "unflagged.zip", &zip);
    let discovery = discover(std::slice::from_ref(&path));
    let labels: Vec<&str> = discovery.machines.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert!(labels[0].ends_with("[caf\u{e9}]"), "UTF-8 without the flag read as UTF-8: {labels:?}");
    let report = scan_machine(&discovery.machines[0], &ScanOptions::default());
    assert_eq!(outcome(&report), healthy);
    assert!(report.hives.iter().all(|h| h.warnings.iter().all(|w| !w.contains("not UTF-8"))), "{:#?}", report.hives);
}

/// Cuts and flips bytes of each format: never a panic, and any machine that still comes out
/// either matches the intact one, carries an error, or is unknown (corruption is never read
/// as absence).
#[test]
fn archive_mutations_never_pass_for_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let source = "win10-pending-driver-update";
    let members: Vec<(&str, Vec<u8>)> =
        vec![("h/SYSTEM", fixture(source, "SYSTEM")), ("h/SOFTWARE", fixture(source, "SOFTWARE"))];
    let healthy = scan_folder_of(source);
    let formats: Vec<(&str, Vec<u8>)> = vec![
        ("m.zip", zip_of(&members, CompressionMethod::Deflated)),
        ("m.tar", tar_of(&members)),
        ("m.tar.gz", gzip(&tar_of(&members))),
    ];
    let mut checked = 0;
    for (name, bytes) in formats {
        let len = bytes.len();
        let mut offsets: Vec<usize> = if name == "m.tar" {
            // tar has no checksum over member data (a flipped hive byte is the hive mutation
            // test's business): flip the headers, every 3rd byte of each.
            let mut headers = Vec::new();
            let mut at = 0;
            for (_, member) in &members {
                headers.extend((at..at + 512).step_by(3));
                at += 512 + member.len().div_ceil(512) * 512;
            }
            headers
        } else {
            // The first and last 2 KiB (local headers, central directory, gzip header and
            // trailer), then a stride through the rest (deflate data under a CRC).
            let mut offsets: Vec<usize> = (0..len.min(2048)).step_by(7).collect();
            offsets.extend((len.saturating_sub(2048)..len).step_by(5));
            offsets
        };
        offsets.extend((0..len).step_by(len / 40 + 1).filter(|_| name != "m.tar"));
        let mut mutants: Vec<Vec<u8>> = offsets
            .iter()
            .map(|&at| {
                let mut m = bytes.clone();
                m[at] ^= 0x10;
                m
            })
            .collect();
        mutants.extend((1..len).step_by(len / 25 + 1).map(|cut| bytes[..cut].to_vec()));
        for (number, mutant) in mutants.iter().enumerate() {
            let path = write(dir.path(), name, mutant);
            let discovery = discover(std::slice::from_ref(&path));
            for spec in &discovery.machines {
                let report = scan_machine(spec, &ScanOptions::default());
                let got = outcome(&report);
                // A renamed member (a flipped name byte) leaves its machine without a hive,
                // which makes it unknown: visible, never a confident other answer.
                let visible = !report.errors.is_empty()
                    || !discovery.skipped.is_empty()
                    || report.verdict == rebootscan::verdict::Verdict::Unknown;
                assert!(got == healthy || visible, "{name} mutant {number}: silently different: {got}");
            }
            checked += 1;
        }
    }
    assert!(checked > 300, "{checked}");
}
