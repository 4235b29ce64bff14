//! Disk containers read in place, from the committed fixtures of `fixtures/containers/` (made
//! once by `make-containers.sh` with ewfacquire from the committed NTFS volumes of
//! `fixtures/images/`, which are the raw forms compared against). Each container must give
//! exactly the verdicts, findings and errors of its raw form; missing segments, truncated and
//! damaged containers are clear errors, never a panic, never a silently different answer.

use std::io::Write;
use std::path::Path;

use rebootscan::discover::discover;
use rebootscan::verdict::Verdict;

mod support;
use support::containers::{fixture, outcome, scan_one, write};

#[test]
fn e01_and_vhdx_give_the_verdicts_of_their_raw_volumes() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (vec!["windows.E01"], "windows.ntfs"),
        (vec!["split.E01", "split.E02"], "dirty.ntfs"),
        (vec!["windows.vhdx"], "windows.ntfs"),
        (vec!["dirty-fixed.vhdx"], "dirty.ntfs"),
    ];
    for (segments, raw) in cases {
        let raw_path = write(dir.path(), raw, &fixture("images", raw));
        for segment in &segments {
            write(dir.path(), segment, &fixture("containers", segment));
        }
        let (raw_discovery, raw_reports) = scan_one(&raw_path);
        let (discovery, reports) = scan_one(&dir.path().join(segments[0]));
        assert!(discovery.skipped.is_empty(), "{discovery:#?}");
        assert_eq!(reports.len(), raw_reports.len(), "{discovery:#?}");
        assert_eq!(discovery.ignored.len(), raw_discovery.ignored.len());
        for (report, raw_report) in reports.iter().zip(&raw_reports) {
            assert_eq!(outcome(report), outcome(raw_report), "{}", segments[0]);
            assert!(report.machine.starts_with(&format!("{}{}", dir.path().join(segments[0]).display(), " [volume]")));
        }
        assert_eq!(reports[0].verdict, Verdict::Pending);
        // Every segment is listed among the inputs.
        let inputs: Vec<&str> =
            reports[0].inputs.iter().filter(|i| i.role == "disk image").map(|i| i.path.as_str()).collect();
        assert_eq!(inputs.len(), segments.len(), "{inputs:?}");
    }
    // In a tree, the second segment is read with the first, not as an image of its own.
    let tree = discover(&[dir.path().to_path_buf()]);
    assert_eq!(tree.machines.len(), 6, "{:#?}", tree.machines);
    assert!(tree.skipped.is_empty() && !tree.ignored.iter().any(|s| s.path.ends_with("E02")), "{tree:#?}");
}

#[test]
fn missing_truncated_and_damaged_e01_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let split = write(dir.path(), "split.E01", &fixture("containers", "split.E01"));
    let (discovery, _) = scan_one(&split);
    assert!(discovery.machines.is_empty());
    assert!(
        discovery
            .skipped
            .iter()
            .any(|s| s.reason.contains("incomplete EWF set") && s.reason.contains("split.E02 is missing")),
        "a missing second segment: {discovery:#?}"
    );
    let image = fixture("containers", "windows.E01");
    let cut = write(dir.path(), "cut.E01", &image[..image.len() / 2]);
    let (discovery, reports) = scan_one(&cut);
    let failed = !discovery.skipped.is_empty() || reports.iter().any(|r| !r.errors.is_empty());
    assert!(failed, "{discovery:#?}");
    let tiny = write(dir.path(), "tiny.E01", &image[..20]);
    let (discovery, _) = scan_one(&tiny);
    assert!(discovery.skipped.iter().any(|s| s.path.ends_with("tiny.E01")), "{discovery:#?}");
}

/// Flips and cuts bytes of an E01: never a panic, and every machine still found is either
/// the raw form's or shows that something is wrong (an error, a skipped path, unknown).
#[test]
fn e01_mutations_never_pass_for_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let raw = write(dir.path(), "windows.ntfs", &fixture("images", "windows.ntfs"));
    let healthy = outcome(&scan_one(&raw).1[0]);
    let image = fixture("containers", "windows.E01");
    let len = image.len();
    // The file header, section descriptors and volume section (first 2 KiB), the table and
    // end sections (last 4 KiB), and a stride through the compressed chunks.
    let mut offsets: Vec<usize> = (13..2048).step_by(11).collect();
    offsets.extend((len - 4096..len).step_by(17));
    offsets.extend((2048..len - 4096).step_by((len - 6144) / 60));
    let mut mutants: Vec<Vec<u8>> = offsets
        .iter()
        .map(|&at| {
            let mut m = image.clone();
            m[at] ^= 0x04;
            m
        })
        .collect();
    mutants.extend((64..len).step_by(len / 20).map(|cut| image[..cut].to_vec()));
    let count = mutants.len();
    for (number, mutant) in mutants.into_iter().enumerate() {
        let path = dir.path().join("m.E01");
        std::fs::File::create(&path).unwrap().write_all(&mutant).unwrap();
        let (discovery, reports) = scan_one(&path);
        for report in &reports {
            let visible =
                !report.errors.is_empty() || !discovery.skipped.is_empty() || report.verdict == Verdict::Unknown;
            assert!(outcome(report) == healthy || visible, "mutant {number}: silently different: {}", outcome(report));
        }
    }
    assert!(count > 300, "{count}");
}

/// A case folder as it arrives: a KAPE output folder, a Velociraptor collection ZIP and an
/// E01, in one run, one report with every machine.
#[test]
fn mixed_case_folder_gives_one_report_with_every_machine() {
    let dir = tempfile::tempdir().unwrap();
    let machines = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines");
    let kape = dir.path().join("kape/HOST1/C/Windows/System32/config");
    std::fs::create_dir_all(&kape).unwrap();
    for hive in ["SYSTEM", "SOFTWARE"] {
        std::fs::copy(machines.join("server2019-clean").join(hive), kape.join(hive)).unwrap();
    }
    let mut zip = zip::ZipWriter::new_stream(std::io::Cursor::new(Vec::new()));
    let deflate = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for hive in ["SYSTEM", "SOFTWARE"] {
        zip.start_file(format!("uploads/ntfs/%5C%5C.%5CC%3A/Windows/System32/config/{hive}"), deflate).unwrap();
        zip.write_all(&std::fs::read(machines.join("win11-cbs-reboot-pending").join(hive)).unwrap()).unwrap();
    }
    let zip = zip.finish().unwrap().into_inner().into_inner();
    write(dir.path(), "Collection-WKS7_corp_example_com-2026-12-02T10_00_00Z.zip", &zip);
    write(dir.path(), "laptop.E01", &fixture("containers", "windows.E01"));
    write(dir.path(), "2026-12-02T101500_WKS9.vhdx", &fixture("containers", "kape.vhdx"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan"))
        .args(["scan", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let machines: Vec<(String, String)> = document["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["machine"].as_str().unwrap().to_string(), m["verdict"].as_str().unwrap().to_string()))
        .collect();
    let verdict_of = |end: &str| machines.iter().find(|(label, _)| label.ends_with(end)).map(|(_, v)| v.as_str());
    assert_eq!(machines.len(), 4, "{machines:?}");
    assert_eq!(verdict_of("WKS9.vhdx [partition 1]/C"), Some("pending"), "{machines:?}");
    assert_eq!(verdict_of("kape/HOST1"), Some("not_pending"), "{machines:?}");
    assert_eq!(verdict_of("2026-12-02T10_00_00Z.zip [/]"), Some("pending"), "{machines:?}");
    assert_eq!(verdict_of("laptop.E01 [volume]"), Some("pending"), "{machines:?}");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn truncated_and_damaged_vhdx_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixture("containers", "windows.vhdx");
    for (name, bytes) in [("cut.vhdx", &image[..image.len() / 2]), ("tiny.vhdx", &image[..100])] {
        let path = write(dir.path(), name, bytes);
        let (discovery, reports) = scan_one(&path);
        let failed = !discovery.skipped.is_empty() || reports.iter().any(|r| !r.errors.is_empty());
        assert!(failed, "{name}: {discovery:#?}");
    }
    // Both headers damaged: no valid header.
    let mut headers = image.clone();
    for at in [0x10000 + 4, 0x20000 + 4] {
        headers[at] ^= 0xff;
    }
    let path = write(dir.path(), "headers.vhdx", &headers);
    let (discovery, _) = scan_one(&path);
    assert!(discovery.skipped.iter().any(|s| s.reason.contains("damaged or truncated VHDX")), "{discovery:#?}");
}

/// Flips bytes of the VHDX structures (every 3rd non-zero byte of the first 4 MiB: headers,
/// region tables, log, metadata, BAT) and cuts the file: never a panic, never a silently
/// different answer.
#[test]
fn vhdx_mutations_never_pass_for_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let raw = write(dir.path(), "windows.ntfs", &fixture("images", "windows.ntfs"));
    let healthy = outcome(&scan_one(&raw).1[0]);
    let image = fixture("containers", "windows.vhdx");
    let structures = image.len().min(4 << 20);
    let offsets: Vec<usize> = (0..structures).filter(|&at| image[at] != 0).step_by(3).take(250).collect();
    let mut mutants: Vec<Vec<u8>> = offsets
        .iter()
        .map(|&at| {
            let mut m = image.clone();
            m[at] ^= 0x08;
            m
        })
        .collect();
    mutants.extend((4096..image.len()).step_by(image.len() / 12).map(|cut| image[..cut].to_vec()));
    let count = mutants.len();
    for (number, mutant) in mutants.into_iter().enumerate() {
        let path = write(dir.path(), "m.vhdx", &mutant);
        let (discovery, reports) = scan_one(&path);
        for report in &reports {
            let visible =
                !report.errors.is_empty() || !discovery.skipped.is_empty() || report.verdict == Verdict::Unknown;
            assert!(outcome(report) == healthy || visible, "mutant {number}: silently different: {}", outcome(report));
        }
    }
    assert!(count > 100, "{count}");
}

/// The log entries of a VHDX whose sequence number is `sequence`, as (file offset of the entry).
fn vhdx_log_entry(image: &[u8], sequence: u64) -> usize {
    let header = [0x10000usize, 0x20000]
        .into_iter()
        .max_by_key(|&h| u64::from_le_bytes(image[h + 8..h + 16].try_into().unwrap()))
        .unwrap();
    let log_offset = u64::from_le_bytes(image[header + 72..header + 80].try_into().unwrap()) as usize;
    let log_length = u32::from_le_bytes(image[header + 68..header + 72].try_into().unwrap()) as usize;
    (log_offset..log_offset + log_length)
        .step_by(4096)
        .find(|&at| {
            &image[at..at + 4] == b"loge" && u64::from_le_bytes(image[at + 16..at + 24].try_into().unwrap()) == sequence
        })
        .unwrap_or_else(|| panic!("no log entry with sequence {sequence}"))
}

/// A dirty VHDX (make-dirty-vhdx.py): the BAT entry of the block holding the hives exists only
/// in its log, beside qemu's stale entries and one of another LogGuid that would zero the BAT.
/// Replayed in memory it gives exactly the raw volume's report; the file is opened read-only
/// and its bytes do not change; read without its log it gives something else; a damaged entry
/// of the current log is a clear error, a damaged stale one is ignored.
#[test]
fn dirty_vhdx_log_is_replayed_in_memory_only() {
    let dir = tempfile::tempdir().unwrap();
    let raw = write(dir.path(), "windows.ntfs", &fixture("images", "windows.ntfs"));
    let healthy = outcome(&scan_one(&raw).1[0]);
    let image = fixture("containers", "dirty-log.vhdx");
    let path = write(dir.path(), "dirty-log.vhdx", &image);
    let (discovery, reports) = scan_one(&path);
    assert!(discovery.skipped.is_empty(), "{discovery:#?}");
    assert_eq!(reports.len(), 1, "{discovery:#?}");
    assert_eq!(outcome(&reports[0]), healthy);
    assert_eq!(std::fs::read(&path).unwrap(), image, "the scan changed the evidence");

    // Opened for reading only: the handle's access mode, as the kernel sees it.
    #[cfg(target_os = "linux")]
    {
        use rebootscan::source::BlockSource;
        let mut opened = rebootscan::image::vhdx::VhdxImage::open(&path).unwrap();
        let mut sector = [0u8; 512];
        opened.read_exact_at(0, &mut sector).unwrap();
        let target = std::fs::canonicalize(&path).unwrap();
        let mut handles = 0;
        for fd in std::fs::read_dir("/proc/self/fd").unwrap() {
            let fd = fd.unwrap();
            if std::fs::read_link(fd.path()).ok().as_deref() != Some(target.as_path()) {
                continue;
            }
            let info =
                std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.file_name().to_string_lossy())).unwrap();
            let flags = info.lines().find_map(|l| l.strip_prefix("flags:")).unwrap().trim();
            assert_eq!(u32::from_str_radix(flags, 8).unwrap() & 0o3, 0, "not O_RDONLY: {info}");
            handles += 1;
        }
        assert_eq!(handles, 1);
    }

    // Without the log (the header's LogGuid cleared, its checksum made good) the disk differs.
    let mut unlogged = image.clone();
    for header in [0x10000usize, 0x20000] {
        unlogged[header + 48..header + 64].fill(0);
        unlogged[header + 4..header + 8].fill(0);
        let sum = vhdx::header::crc32c(&unlogged[header..header + 4096]);
        unlogged[header + 4..header + 8].copy_from_slice(&sum.to_le_bytes());
    }
    let unlogged_path = write(dir.path(), "unlogged.vhdx", &unlogged);
    let (discovery, reports) = scan_one(&unlogged_path);
    assert!(reports.iter().all(|r| outcome(r) != healthy), "the fixture does not need its log: {discovery:#?}");

    // A damaged entry of the current log (sequence 8, its data sector): a clear error, no machine.
    let mut damaged = image.clone();
    damaged[vhdx_log_entry(&image, 8) + 4096 + 100] ^= 0x01;
    let damaged_path = write(dir.path(), "damaged.vhdx", &damaged);
    let (discovery, reports) = scan_one(&damaged_path);
    assert!(reports.is_empty(), "{discovery:#?}");
    assert!(
        discovery.skipped.iter().any(|s| s.reason.contains("a dirty VHDX")
            && s.reason.contains("is damaged (its CRC-32C does not match)")
            && s.reason.contains("qemu-img check -r all")),
        "{discovery:#?}"
    );
    // A damaged stale entry (another LogGuid, sequence 100) changes nothing.
    let mut stale = image.clone();
    stale[vhdx_log_entry(&image, 100) + 300] ^= 0x01;
    let stale_path = write(dir.path(), "stale.vhdx", &stale);
    let (discovery, reports) = scan_one(&stale_path);
    assert_eq!(reports.len(), 1, "{discovery:#?}");
    assert_eq!(outcome(&reports[0]), healthy);
}

/// A differencing VHDX whose parent is absent (qemu-img cannot make one: its VHDX driver has
/// no backing files), made here from windows.vhdx by MS-VHDX §2.6.2: HasParent set in File
/// Parameters and a Parent Locator item added. From the CLI: exit 3, the parent named.
#[test]
fn differencing_vhdx_error_names_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = fixture("containers", "windows.vhdx");
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let regions = 0x30000;
    let metadata = (0..u32_at(&image, regions + 8) as usize)
        .map(|n| regions + 16 + 32 * n)
        .find(|&e| image[e..e + 16] == vhdx::region::METADATA_GUID)
        .map(|e| u64::from_le_bytes(image[e + 16..e + 24].try_into().unwrap()) as usize)
        .unwrap();
    let count = u16::from_le_bytes(image[metadata + 10..metadata + 12].try_into().unwrap()) as usize;
    let mut end = 0;
    for n in 0..count {
        let e = metadata + 32 + 32 * n;
        let (offset, len) = (u32_at(&image, e + 16) as usize, u32_at(&image, e + 20) as usize);
        end = end.max(offset + len);
        if image[e..e + 16] == vhdx::metadata::GUID_FILE_PARAMETERS {
            image[metadata + offset + 4] |= 2; // HasParent
        }
    }
    let utf16 = |s: &str| s.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>();
    let pairs = [("parent_linkage", "{0badc0de-0000-4000-8000-000000000012}"), ("relative_path", ".\\parent.vhdx")];
    let mut item = vec![0u8; 20 + 12 * pairs.len()];
    item[18..20].copy_from_slice(&(pairs.len() as u16).to_le_bytes());
    for (n, (key, value)) in pairs.iter().enumerate() {
        let (key, value) = (utf16(key), utf16(value));
        let at = 20 + 12 * n;
        let key_at = item.len() as u32;
        item[at..at + 4].copy_from_slice(&key_at.to_le_bytes());
        item[at + 8..at + 10].copy_from_slice(&(key.len() as u16).to_le_bytes());
        item.extend_from_slice(&key);
        let value_at = item.len() as u32;
        item[at + 4..at + 8].copy_from_slice(&value_at.to_le_bytes());
        item[at + 10..at + 12].copy_from_slice(&(value.len() as u16).to_le_bytes());
        item.extend_from_slice(&value);
    }
    image[metadata + end..metadata + end + item.len()].copy_from_slice(&item);
    let e = metadata + 32 + 32 * count;
    image[e..e + 16].copy_from_slice(&vhdx::metadata::GUID_PARENT_LOCATOR);
    image[e + 16..e + 20].copy_from_slice(&(end as u32).to_le_bytes());
    image[e + 20..e + 24].copy_from_slice(&(item.len() as u32).to_le_bytes());
    image[e + 24..e + 28].copy_from_slice(&6u32.to_le_bytes()); // IsVirtualDisk, IsRequired
    image[metadata + 10..metadata + 12].copy_from_slice(&((count + 1) as u16).to_le_bytes());
    write(dir.path(), "child.vhdx", &image);
    // Beside a readable disk: that machine is scanned, the child skipped (exit 3). Alone, the
    // child leaves nothing to scan (exit 1), with the same message.
    write(dir.path(), "other.vhdx", &fixture("containers", "windows.vhdx"));
    let output =
        std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan")).arg("scan").arg(dir.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("child.vhdx: a differencing VHDX"), "{stderr}");
    assert!(stderr.contains(r#"its parent is relative_path ".\\parent.vhdx""#), "{stderr}");
    assert!(stderr.contains("merge the chain first"), "{stderr}");
}

/// A KAPE container (make-containers.sh --only kape): an MBR disk with one NTFS partition at
/// LBA 17 labelled `KAPE (…)`, the hives under `C\Windows\System32\config` and a copy log,
/// no Windows at its root: one machine, `…[partition 1]/C`, with the verdict of its hives.
#[test]
fn kape_vhdx_gives_the_machine_of_its_collected_tree() {
    let dir = tempfile::tempdir().unwrap();
    let raw = write(dir.path(), "windows.ntfs", &fixture("images", "windows.ntfs"));
    let healthy = outcome(&scan_one(&raw).1[0]);
    let kape = write(dir.path(), "kape.vhdx", &fixture("containers", "kape.vhdx"));
    let (discovery, reports) = scan_one(&kape);
    assert!(discovery.skipped.is_empty(), "{discovery:#?}");
    assert_eq!(reports.len(), 1, "{discovery:#?}");
    assert_eq!(reports[0].machine, format!("{} [partition 1]/C", kape.display()));
    // The hives' verdict and findings; the files behind the renames were not collected, so
    // their states differ (missing) from the installed volume's.
    let (got, want) = (outcome(&reports[0]), healthy);
    for field in ["verdict", "reason", "computer", "build", "errors"] {
        assert_eq!(got[field], want[field], "{field}");
    }
    let rules = |o: &serde_json::Value| {
        o["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["rule"].clone(), f["key"].clone(), f["value"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(rules(&got), rules(&want));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan")).arg("scan").arg(&kape).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("kape.vhdx [partition 1]/C") && stdout.contains("verdict: PENDING"), "{stdout}");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}
