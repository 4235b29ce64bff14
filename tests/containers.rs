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
use support::vhdx_writer;

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

/// Found by fuzzing (`tests/fuzz/regressions/`, 428 bytes): an Ex01 whose table gives its
/// first chunk 4 GiB of stored bytes made the ewf crate allocate 4 GiB to read it. Each chunk
/// a read touches is checked to lie in its segment first.
#[test]
fn ewf_chunk_larger_than_its_segment_is_an_error_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let image = include_bytes!("fuzz/regressions/ewf2-4gib-chunks.Ex01");
    let path = write(dir.path(), "huge-chunk.Ex01", image);
    let (discovery, _) = scan_one(&path);
    assert!(discovery.machines.is_empty(), "{discovery:#?}");
    // The Ex01 checks of src/image/ewf2.rs refuse it before the crate reads a chunk (its
    // section descriptors fail their Adler-32); tests/ex01.rs has a chunk past the end of its
    // segment behind valid checksums.
    let expected = format!("{}: damaged Ex01 segment: the section descriptor at byte", path.display());
    assert!(
        discovery.skipped.iter().any(|s| s.path.ends_with("huge-chunk.Ex01") && s.reason.contains(&expected)),
        "{discovery:#?}"
    );
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

/// A case folder as it arrives: a KAPE output folder, a Velociraptor collection ZIP, an E01,
/// a KAPE VHDX, a VMDK and a VHD, in one run, one report with every machine, each with the
/// verdict and findings of its raw form (the hive folder, or the raw NTFS volume).
#[test]
fn mixed_case_folder_gives_one_report_with_every_machine() {
    let dir = tempfile::tempdir().unwrap();
    let case = dir.path().join("case");
    let raw = dir.path().join("raw");
    let machines = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/machines");
    let kape = case.join("kape/HOST1/C/Windows/System32/config");
    std::fs::create_dir_all(&kape).unwrap();
    for (folder, machine) in [("server2019", "server2019-clean"), ("win11", "win11-cbs-reboot-pending")] {
        std::fs::create_dir_all(raw.join(folder)).unwrap();
        for hive in ["SYSTEM", "SOFTWARE"] {
            std::fs::copy(machines.join(machine).join(hive), raw.join(folder).join(hive)).unwrap();
        }
    }
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
    write(&case, "Collection-WKS7_corp_example_com-2026-12-02T10_00_00Z.zip", &zip);
    write(&case, "laptop.E01", &fixture("containers", "windows.E01"));
    write(&case, "2026-12-02T101500_WKS9.vhdx", &fixture("containers", "kape.vhdx"));
    write(&case, "esx-guest.vmdk", &fixture("containers", "windows.vmdk"));
    write(&case, "hyperv-gen1.vhd", &fixture("containers", "dirty-fixed.vhd"));
    for volume in ["windows.ntfs", "dirty.ntfs"] {
        write(&raw, volume, &fixture("images", volume));
    }
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan"))
        .args(["scan", "--format", "json"])
        .arg(&case)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let labels: Vec<String> =
        document["machines"].as_array().unwrap().iter().map(|m| m["machine"].as_str().unwrap().to_string()).collect();
    assert_eq!(labels.len(), 6, "{labels:?}");

    // Each machine of the run against its raw form, scanned alone.
    let (_, reports) = scan_one(&case);
    assert_eq!(reports.iter().map(|r| r.machine.clone()).collect::<Vec<_>>(), labels, "the run's machines");
    // The dirty volume's hives have no logs beside them: an error, so exit 3 (as its raw form).
    let status = if reports.iter().any(|r| !r.errors.is_empty()) { 3 } else { 0 };
    assert_eq!(output.status.code(), Some(status), "{}", String::from_utf8_lossy(&output.stderr));
    let raw_outcome = |path: &Path| {
        let (discovery, raw_reports) = scan_one(path);
        assert_eq!(raw_reports.len(), 1, "{discovery:#?}");
        outcome(&raw_reports[0])
    };
    let forms: [(&str, &str, bool); 6] = [
        ("kape/HOST1", "server2019", true),
        ("2026-12-02T10_00_00Z.zip [/]", "win11", true),
        ("laptop.E01 [volume]", "windows.ntfs", true),
        // KAPE collected the hives but not the files behind the renames: their states differ.
        ("WKS9.vhdx [partition 1]/C", "windows.ntfs", false),
        ("esx-guest.vmdk [volume]", "windows.ntfs", true),
        ("hyperv-gen1.vhd [volume]", "dirty.ntfs", true),
    ];
    let mut verdicts = Vec::new();
    for (end, form, whole) in forms {
        let report = reports.iter().find(|r| r.machine.ends_with(end)).unwrap_or_else(|| panic!("{end}: {labels:?}"));
        let (got, want) = (outcome(report), raw_outcome(&raw.join(form)));
        if whole {
            assert_eq!(got, want, "{end}");
        } else {
            for field in ["verdict", "reason", "computer", "build", "errors"] {
                assert_eq!(got[field], want[field], "{end}: {field}");
            }
        }
        verdicts.push(report.verdict);
    }
    // Both verdicts occur, so the comparison could tell them apart.
    assert!(verdicts.contains(&Verdict::Pending) && verdicts.contains(&Verdict::NotPending), "{verdicts:?}");
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
/// region tables, log, metadata, BAT; then every bit of the BAT entry and two bits of each
/// metadata item byte) and cuts the file: never a panic, never a silently different answer.
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
    // The bytes that say how the disk reads, which the pass above barely touches: every bit
    // of the first BAT entry (state, reserved bits, offset), and the low and high bit of each
    // byte of the metadata items (block size and flags, disk size, disk id, sector sizes).
    let (bat, _) = vhdx_writer::region(&image, 0x30000, vhdx_writer::BAT_REGION);
    let (metadata, _) = vhdx_writer::region(&image, 0x30000, vhdx_writer::METADATA_REGION);
    let u32_at = |at: usize| u32::from_le_bytes(image[at..at + 4].try_into().unwrap()) as usize;
    let items: Vec<usize> = (0..u16::from_le_bytes([image[metadata + 10], image[metadata + 11]]) as usize)
        .flat_map(|n| {
            let e = metadata + 32 + 32 * n;
            (metadata + u32_at(e + 16)..metadata + u32_at(e + 16) + u32_at(e + 20)).collect::<Vec<_>>()
        })
        .collect();
    assert!(items.len() >= 40, "{items:?}");
    let flips = (0..64).map(|bit| (bat + bit / 8, 1u8 << (bit % 8)));
    let flips = flips.chain(items.iter().flat_map(|&at| [(at, 0x01u8), (at, 0x80)]));
    let targeted = mutants.len();
    mutants.extend(flips.map(|(at, mask)| {
        let mut m = image.clone();
        m[at] ^= mask;
        m
    }));
    assert!(mutants.len() - targeted >= 140);
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
        vhdx_writer::seal(&mut unlogged[header..header + 4096]);
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
        .find(|&e| image[e..e + 16] == vhdx_writer::METADATA_REGION)
        .map(|e| u64::from_le_bytes(image[e + 16..e + 24].try_into().unwrap()) as usize)
        .unwrap();
    let count = u16::from_le_bytes(image[metadata + 10..metadata + 12].try_into().unwrap()) as usize;
    let mut end = 0;
    for n in 0..count {
        let e = metadata + 32 + 32 * n;
        let (offset, len) = (u32_at(&image, e + 16) as usize, u32_at(&image, e + 20) as usize);
        end = end.max(offset + len);
        if image[e..e + 16] == vhdx_writer::FILE_PARAMETERS {
            image[metadata + offset + 4] |= 2; // HasParent
        }
    }
    let utf16 = |s: &str| s.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>();
    let pairs = [
        ("parent_linkage", "{0badc0de-0000-4000-8000-000000000012}"),
        ("relative_path", ".\\parent.vhdx"),
        ("absolute_win32_path", "C:\\VMs\\par\u{1b}[2Jent.vhdx"),
    ];
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
    image[e..e + 16].copy_from_slice(&vhdx_writer::PARENT_LOCATOR);
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
    // The paths as written: one backslash each, only the control character escaped.
    assert!(
        stderr.contains(
            r#"its parent is relative_path ".\parent.vhdx", absolute_win32_path "C:\VMs\par\x{1b}[2Jent.vhdx""#
        ),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert!(stderr.contains("merge the chain first"), "{stderr}");
    let alone = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan"))
        .arg("scan")
        .arg(dir.path().join("child.vhdx"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&alone.stderr);
    assert_eq!(alone.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines[0].contains("child.vhdx: a differencing VHDX") && lines[0].contains("its parent is"), "{stderr}");
    assert!(lines.last().unwrap().starts_with("rebootscan: error: no machine to scan"), "{stderr}");
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

/// The EWF `header` section of `image` (its data offset and length): the section chain from
/// byte 13, each descriptor naming its type, the next descriptor and its size.
fn ewf_section(image: &[u8], kind: &[u8]) -> (usize, usize) {
    let mut at = 13usize;
    loop {
        let name = &image[at..at + 16];
        let next = u64::from_le_bytes(image[at + 16..at + 24].try_into().unwrap()) as usize;
        let size = u64::from_le_bytes(image[at + 24..at + 32].try_into().unwrap()) as usize;
        if name.starts_with(kind) && name[kind.len()] == 0 {
            return (at + 76, size - 76);
        }
        assert!(next > at, "no {} section", String::from_utf8_lossy(kind));
        at = next;
    }
}

/// The tab-separated fields of an EWF header text, by their codes (`c` case number, …).
fn ewf_header_fields(text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.split("\r\n").collect();
    lines[2].split('\t').zip(lines[3].split('\t')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn inflate(bytes: &[u8]) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::ZlibDecoder::new(bytes), &mut text).unwrap();
    text
}

fn rebootscan(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan")).args(args).output().unwrap()
}

/// What an E01 says about its acquisition reaches every view: the JSON has the header's
/// fields and the stored MD5 exactly as the file holds them (read here straight from its
/// `header` and `hash` sections), marked not verified; the text report shows them; a raw
/// volume has no container.
#[test]
fn e01_case_metadata_and_stored_hash_are_reported_not_verified() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixture("containers", "windows.E01");
    let path = write(dir.path(), "windows.E01", &image);
    let (data, len) = ewf_section(&image, b"header");
    let fields = ewf_header_fields(&inflate(&image[data..data + len]));
    let field = |code: &str| fields.iter().find(|(k, _)| k == code).map(|(_, v)| v.clone()).unwrap();
    let (hash, _) = ewf_section(&image, b"hash");
    let md5: String = image[hash..hash + 16].iter().map(|b| format!("{b:02x}")).collect();

    let output = rebootscan(&["scan".as_ref(), "--format".as_ref(), "json".as_ref(), path.as_os_str()]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let container = &json["machines"][0]["container"];
    assert_eq!(container["format"], "E01");
    assert_eq!(container["path"], path.display().to_string());
    assert_eq!(container["segments"], 1);
    let acquisition = &container["acquisition"];
    for (key, code) in [
        ("case_number", "c"),
        ("evidence_number", "n"),
        ("description", "a"),
        ("examiner", "e"),
        ("notes", "t"),
        ("software", "av"),
        ("os", "ov"),
    ] {
        assert_eq!(acquisition[key], field(code), "{key}");
    }
    // `2026 12 2 5 37 45` as stored, `2026-12-02 05:37:45` shown.
    let stored_date: Vec<u32> = field("m").split(' ').map(|p| p.parse().unwrap()).collect();
    let shown = acquisition["acquisition_date"].as_str().unwrap();
    let shown_date: Vec<u32> = shown.split(['-', ' ', ':']).map(|p| p.parse().unwrap()).collect();
    assert_eq!(shown_date, stored_date, "{shown}");
    assert_eq!(container["stored_hashes"], serde_json::json!({"md5": md5, "sha1": null, "verified": false}));
    assert!(container["notes"].to_string().contains("did not verify"), "{container}");

    let text = rebootscan(&["scan".as_ref(), path.as_os_str()]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains(&format!("container: E01 {}", path.display())), "{stdout}");
    assert!(stdout.contains(&format!("case number {}", field("c"))), "{stdout}");
    assert!(stdout.contains(&format!("stored hashes (recorded by the acquiring tool, not verified): MD5 {md5}")));

    let raw = write(dir.path(), "windows.ntfs", &fixture("images", "windows.ntfs"));
    let output = rebootscan(&["scan".as_ref(), "--format".as_ref(), "json".as_ref(), raw.as_os_str()]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["machines"][0]["container"], serde_json::Value::Null);
}

/// Read errors the acquiring tool recorded (an `error2` section, written here in place of the
/// E01's second `header2` copy, which the reader does not use) are a note of the container:
/// how many ranges, how many sectors, the first ranges.
#[test]
fn e01_acquisition_read_errors_are_noted() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = fixture("containers", "windows.E01");
    // The second header2 section: after the first one's descriptor and data.
    let (first, first_len) = ewf_section(&image, b"header2");
    let descriptor = first + first_len;
    assert!(image[descriptor..].starts_with(b"header2\0"), "two header2 copies");
    image[descriptor..descriptor + 16].fill(0);
    image[descriptor..descriptor + 6].copy_from_slice(b"error2");
    let adler = |bytes: &[u8]| {
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in bytes {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    };
    let sum = adler(&image[descriptor..descriptor + 72]);
    image[descriptor + 72..descriptor + 76].copy_from_slice(&sum.to_le_bytes());
    let ranges = [(100u32, 8u32), (4096, 16)];
    let mut data = Vec::new();
    data.extend_from_slice(&(ranges.len() as u32).to_le_bytes());
    data.extend_from_slice(&[0; 4]);
    for (sector, count) in ranges {
        data.extend_from_slice(&sector.to_le_bytes());
        data.extend_from_slice(&count.to_le_bytes());
    }
    let sum = adler(&data);
    data.extend_from_slice(&sum.to_le_bytes());
    image[descriptor + 76..descriptor + 76 + data.len()].copy_from_slice(&data);
    let path = write(dir.path(), "errors.E01", &image);
    let output = rebootscan(&["scan".as_ref(), "--format".as_ref(), "json".as_ref(), path.as_os_str()]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let notes = json["machines"][0]["container"]["notes"].to_string();
    let sectors: u32 = ranges.iter().map(|(_, count)| count).sum();
    assert!(notes.contains(&format!("recorded {} read error range(s), {sectors} sector(s)", ranges.len())), "{notes}");
    assert!(notes.contains("100+8, 4096+16"), "{notes}");
}

/// A case number written to attack the analyst's tools: an escape sequence, a spreadsheet
/// formula, markup and a bidirectional override. The E01's `header` section is re-written with
/// it (zlib, as the acquiring tool writes it; the other free-text fields emptied so that the
/// new stream fits the section). JSON keeps it exact; text and HTML show the control
/// characters as `\x{…}`; CSV neutralises the formula (kept with `--csv-raw`); HTML never
/// lets the markup out of its data.
#[test]
fn hostile_e01_case_metadata_is_escaped_in_every_view() {
    const HOSTILE: &str = "=HYPERLINK(\"x\")\u{1b}[2J<script>alert(1)</script>\u{202e}";
    let dir = tempfile::tempdir().unwrap();
    let mut image = fixture("containers", "windows.E01");
    let (data, len) = ewf_section(&image, b"header");
    let text = inflate(&image[data..data + len]);
    let mut fields = ewf_header_fields(&text);
    for (code, value) in &mut fields {
        match code.as_str() {
            "c" => *value = HOSTILE.to_string(),
            "a" | "e" | "t" | "u" => value.clear(),
            _ => {}
        }
    }
    let codes: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    let values: Vec<&str> = fields.iter().map(|(_, v)| v.as_str()).collect();
    let new_text = format!("1\r\nmain\r\n{}\r\n{}\r\n\r\n", codes.join("\t"), values.join("\t"));
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(new_text.as_bytes()).unwrap();
    let compressed = encoder.finish().unwrap();
    assert!(compressed.len() <= len, "{} > {len}", compressed.len());
    image[data..data + len].fill(0);
    image[data..data + compressed.len()].copy_from_slice(&compressed);
    let path = write(dir.path(), "hostile.E01", &image);

    let run = |extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec!["scan".as_ref()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        args.push(path.as_os_str());
        let output = rebootscan(&args);
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&run(&["--format", "json"])).unwrap();
    assert_eq!(json["machines"][0]["container"]["acquisition"]["case_number"], HOSTILE, "JSON is exact");
    assert_eq!(json["machines"][0]["container"]["acquisition"]["examiner"], serde_json::Value::Null);

    let text = run(&[]);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'), "raw control characters in the text report");
    assert!(text.contains("case number =HYPERLINK(\"x\")\\x{1b}[2J<script>alert(1)</script>\\x{202e}"), "{text}");

    let csv_cell = |raw: bool| {
        let mut extra = vec!["--format", "csv"];
        if raw {
            extra.push("--csv-raw");
        }
        let out = run(&extra);
        let mut reader = csv::Reader::from_reader(out.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        let row = reader.records().next().unwrap().unwrap();
        let at = |name: &str| row[header.iter().position(|h| h == name).unwrap()].to_string();
        (at("case_number"), at("container"), at("stored_md5"))
    };
    let (case, container, md5) = csv_cell(false);
    assert!(case.starts_with("'=HYPERLINK("), "formula neutralised: {case}");
    assert_eq!((container.as_str(), md5.len()), ("E01", 32));
    assert_eq!(csv_cell(true).0, HOSTILE, "--csv-raw keeps the stored value");

    let html = dir.path().join("report.html");
    run(&["-o", dir.path().join("report.txt").to_str().unwrap(), "--html", html.to_str().unwrap()]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<script").count(), 2, "only the data and the page's own script");
    assert!(!page.contains("<script>alert(1)") && !page.contains('\u{1b}') && !page.contains('\u{202e}'));
    assert!(page.contains("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\\\\x{202e}"), "escaped in the data");
    assert!(page.contains("\\\\x{1b}[2J"), "control characters shown as in the text report");
}

/// A dirty VHDX's replayed log is reported: the LogGuid of its header, the entries of that
/// LogGuid, their newest sequence number and the sectors written (here counted from the file
/// itself: data descriptors, and of them those inside the BAT region), and a note in the text
/// report. A clean VHDX has no replay.
#[test]
fn replayed_vhdx_log_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixture("containers", "dirty-log.vhdx");
    let path = write(dir.path(), "dirty-log.vhdx", &image);
    let u32_at = |at: usize| u32::from_le_bytes(image[at..at + 4].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(image[at..at + 8].try_into().unwrap()) as usize;
    let header = [0x10000usize, 0x20000].into_iter().max_by_key(|&h| u64_at(h + 8)).unwrap();
    let guid = &image[header + 48..header + 64];
    let (log_offset, log_length) = (u64_at(header + 72), u32_at(header + 68));
    let bat = (0..u32_at(0x30008))
        .map(|n| 0x30010 + 32 * n)
        .find(|&e| image[e..e + 16] == vhdx_writer::BAT_REGION)
        .map(|e| (u64_at(e + 16), u32_at(e + 24)))
        .unwrap();
    let (mut entries, mut newest, mut sectors, mut in_bat, mut zeroed) = (0, 0, 0, 0, 0);
    for at in (log_offset..log_offset + log_length).step_by(4096) {
        if &image[at..at + 4] != b"loge" || &image[at + 32..at + 48] != guid {
            continue;
        }
        entries += 1;
        newest = newest.max(u64_at(at + 16));
        for n in 0..u32_at(at + 24) {
            let d = at + 64 + 32 * n;
            match &image[d..d + 4] {
                b"desc" => {
                    sectors += 1;
                    let offset = u64_at(d + 16);
                    in_bat += usize::from(offset >= bat.0 && offset < bat.0 + bat.1);
                }
                _ => zeroed += 1,
            }
        }
    }
    assert!(entries > 0 && in_bat > 0, "the fixture's log writes the BAT");
    let guid_text = {
        let g = guid;
        format!(
            "{{{:08x}-{:04x}-{:04x}-{}-{}}}",
            u32::from_le_bytes(g[..4].try_into().unwrap()),
            u16::from_le_bytes(g[4..6].try_into().unwrap()),
            u16::from_le_bytes(g[6..8].try_into().unwrap()),
            g[8..10].iter().map(|b| format!("{b:02x}")).collect::<String>(),
            g[10..].iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    };
    let output = rebootscan(&["scan".as_ref(), "--format".as_ref(), "json".as_ref(), path.as_os_str()]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let container = &json["machines"][0]["container"];
    assert_eq!(
        container["log_replay"],
        serde_json::json!({
            "log_guid": guid_text,
            "sequence_number": newest,
            "entries": entries,
            "sectors_written": sectors,
            "bat_sectors_written": in_bat,
            "ranges_zeroed": zeroed,
        })
    );
    assert_eq!((container["format"].as_str(), container["disk_type"].as_str()), (Some("VHDX"), Some("dynamic")));
    let text = String::from_utf8(rebootscan(&["scan".as_ref(), path.as_os_str()]).stdout).unwrap();
    assert!(
        text.contains(&format!("note: dirty VHDX: its log (LogGuid {guid_text}) was replayed in memory")),
        "{text}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), image, "the file is unchanged");

    let clean = write(dir.path(), "windows.vhdx", &fixture("containers", "windows.vhdx"));
    let output = rebootscan(&["scan".as_ref(), "--format".as_ref(), "json".as_ref(), clean.as_os_str()]);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["machines"][0]["container"]["log_replay"], serde_json::Value::Null);
    assert!(json["machines"][0]["container"]["disk_identifier"].as_str().unwrap().starts_with('{'));
}

/// VMDK, VHD and QCOW2 facts as their files hold them: the VMDK's createType and CID from its
/// embedded descriptor, the VHD's creator application, size, time stamp and disk type from its
/// footer, the QCOW2 version, size and cluster size from its header.
#[test]
fn vmdk_vhd_and_qcow2_facts_are_read_from_their_headers() {
    let dir = tempfile::tempdir().unwrap();
    let vmdk = fixture("containers", "windows.vmdk");
    let vmdk_path = write(dir.path(), "windows.vmdk", &vmdk);
    let sectors = |at: usize| u64::from_le_bytes(vmdk[at..at + 8].try_into().unwrap()) as usize * 512;
    let (offset, size) = (sectors(28), sectors(36));
    let descriptor = String::from_utf8_lossy(&vmdk[offset..offset + size]).to_string();
    let value = |key: &str| {
        descriptor
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap()
    };
    let vhd = fixture("containers", "windows.vhd");
    let vhd_path = write(dir.path(), "windows.vhd", &vhd);
    let footer = &vhd[vhd.len() - 512..];
    let facts = |path: &Path| {
        let output = rebootscan(&["scan".as_ref(), "--format".as_ref(), "json".as_ref(), path.as_os_str()]);
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        json["machines"][0]["container"].clone()
    };
    let container = facts(&vmdk_path);
    assert_eq!(container["format"], "VMDK");
    assert_eq!(container["disk_type"], value("createType"));
    assert_eq!(container["content_id"], value("CID"));
    let container = facts(&vhd_path);
    assert_eq!(container["format"], "VHD");
    assert_eq!(container["disk_type"], "dynamic");
    let application = String::from_utf8_lossy(&footer[28..32]).trim().to_string();
    assert!(container["creator"].as_str().unwrap().starts_with(&format!("{application} ")), "{container}");
    assert_eq!(container["disk_size"], u64::from_be_bytes(footer[40..48].try_into().unwrap()));
    // The footer's time stamp counts seconds from 2000-01-01 00:00:00 UTC.
    let seconds = u32::from_be_bytes(footer[24..28].try_into().unwrap());
    let created = time::macros::datetime!(2000-01-01 0:00 UTC) + time::Duration::seconds(seconds.into());
    let created = created.format(&time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(container["created"], created);

    let qcow = fixture("containers", "windows.qcow2");
    let qcow_path = write(dir.path(), "windows.qcow2", &qcow);
    let be_u32 = |at: usize| u32::from_be_bytes(qcow[at..at + 4].try_into().unwrap());
    let container = facts(&qcow_path);
    assert_eq!(container["format"], "QCOW2");
    assert_eq!(container["disk_size"], u64::from_be_bytes(qcow[24..32].try_into().unwrap()));
    let kind = format!("version {}, {}-byte clusters", be_u32(4), 1u64 << be_u32(20));
    assert!(container["disk_type"].as_str().unwrap().starts_with(&kind), "{container}");
}

/// The first region table damaged (its metadata entry pointed elsewhere, its checksum left
/// stale): the second copy is read and the disk gives its raw volume's report. Both damaged:
/// a clear error naming the region tables.
#[test]
fn vhdx_damaged_region_table_is_read_from_its_second_copy() {
    let dir = tempfile::tempdir().unwrap();
    let raw = write(dir.path(), "windows.ntfs", &fixture("images", "windows.ntfs"));
    let healthy = outcome(&scan_one(&raw).1[0]);
    let image = fixture("containers", "windows.vhdx");
    let entry =
        |table: usize, id: [u8; 16]| (0..32).map(|n| table + 16 + 32 * n).find(|&e| image[e..e + 16] == id).unwrap();
    let mut first = image.clone();
    let e = entry(0x30000, vhdx_writer::METADATA_REGION);
    first[e + 16..e + 24].copy_from_slice(&(64u64 << 20).to_le_bytes());
    let (discovery, reports) = scan_one(&write(dir.path(), "first.vhdx", &first));
    assert!(discovery.skipped.is_empty(), "{discovery:#?}");
    assert_eq!(reports.len(), 1);
    assert_eq!(outcome(&reports[0]), healthy);
    // Sealed, the same change is believed: the first valid copy is the one read.
    vhdx_writer::seal(&mut first[0x30000..0x40000]);
    let (discovery, _) = scan_one(&write(dir.path(), "sealed.vhdx", &first));
    assert!(discovery.skipped.iter().any(|s| s.reason.contains("the metadata region")), "{discovery:#?}");
    let mut both = image.clone();
    both[0x30000 + 20] ^= 0x01;
    both[0x40000 + 20] ^= 0x01;
    let (discovery, reports) = scan_one(&write(dir.path(), "both.vhdx", &both));
    assert!(reports.is_empty());
    assert!(
        discovery.skipped.iter().any(|s| s.reason.contains("damaged or truncated VHDX: neither region table")),
        "{discovery:#?}"
    );
}

/// The BAT region of the fixture moved past the end of the file (both region tables, sealed):
/// an error naming the region and the file's length, no machine.
#[test]
fn vhdx_bat_past_the_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut image = fixture("containers", "windows.vhdx");
    let past = (image.len() as u64).div_ceil(1 << 20) * (1 << 20);
    for table in [0x30000usize, 0x40000] {
        let e = (0..32).map(|n| table + 16 + 32 * n).find(|&e| image[e..e + 16] == vhdx_writer::BAT_REGION).unwrap();
        image[e + 16..e + 24].copy_from_slice(&past.to_le_bytes());
        vhdx_writer::seal(&mut image[table..table + 0x10000]);
    }
    let (discovery, reports) = scan_one(&write(dir.path(), "bat.vhdx", &image));
    assert!(reports.is_empty());
    let reason =
        format!("the BAT region (1048576 bytes at byte {past}) goes past the end of the file ({} bytes)", image.len());
    assert!(discovery.skipped.iter().any(|s| s.reason.contains(&reason)), "{discovery:#?}");
}

/// The chunk ratio (2^23 sectors of 512 bytes over the block size: 16 for 256 MiB blocks)
/// puts a sector bitmap entry after every 16 payload entries; a non-differencing disk never
/// reads it. Written here: 18 blocks of 256 MiB, block 16 at BAT index 17 (present, a
/// pattern), the sector bitmap entry at index 16 pointing at other bytes, block 15 absent,
/// block 17 ZERO. Then the BAT's states and offsets that must be errors: PARTIALLY_PRESENT
/// without a parent, an unknown state, a block past the end of the file.
#[test]
fn vhdx_bat_interleaves_sector_bitmap_entries_by_chunk_ratio() {
    use rebootscan::source::BlockSource;
    use vhdx_writer::{bat_entry, Disk, FULLY_PRESENT, MIB, NOT_PRESENT, PARTIALLY_PRESENT, ZERO};
    let dir = tempfile::tempdir().unwrap();
    let block = 256 * MIB;
    let mut disk = Disk::dynamic(block as u32, 18 * block);
    assert_eq!(disk.bat.len(), 19, "18 payload entries and one sector bitmap entry");
    let pattern: Vec<u8> = (0..8192u32).map(|n| (n % 251) as u8 + 1).collect();
    disk.bat[15] = bat_entry(NOT_PRESENT, 0);
    disk.bat[16] = bat_entry(FULLY_PRESENT, 4 + 256);
    disk.bat[17] = bat_entry(FULLY_PRESENT, 4);
    disk.bat[18] = bat_entry(ZERO, 0);
    disk.payload = vec![(4 * MIB + 4096, pattern.clone()), ((4 + 256) * MIB + 4096, vec![0xee; 8192])];
    disk.file_len = (4 + 256 + 1) * MIB;
    let path = dir.path().join("chunks.vhdx");
    disk.write(&path);
    let mut image = rebootscan::image::vhdx::VhdxImage::open(&path).unwrap();
    assert_eq!(image.len(), 18 * block);
    let mut read = vec![0u8; 8192];
    image.read_exact_at(16 * block + 4096, &mut read).unwrap();
    assert!(read == pattern, "block 16 not read from BAT index 17");
    image.read_exact_at(16 * block, &mut read).unwrap();
    assert!(read[..4096].iter().all(|&b| b == 0) && read[4096..] == pattern[..4096]);
    // A read across blocks 15 (absent), 16 (present) and the end of 16 into 17 (ZERO).
    let mut across = vec![0xffu8; 12288];
    image.read_exact_at(16 * block - 4096, &mut across).unwrap();
    assert!(across[..8192].iter().all(|&b| b == 0) && across[8192..] == pattern[..4096]);
    image.read_exact_at(17 * block, &mut read).unwrap();
    assert!(read.iter().all(|&b| b == 0));
    let facts = image.container_facts().unwrap();
    assert_eq!((facts.disk_type.as_deref(), facts.logical_sector_size), (Some("dynamic"), Some(512)));
    assert_eq!(facts.creator.as_deref(), Some("rebootscan tests"));

    let error = |disk: &Disk, name: &str, at: u64| {
        let path = dir.path().join(name);
        disk.write(&path);
        let mut image = rebootscan::image::vhdx::VhdxImage::open(&path).unwrap();
        image.read_exact_at(at, &mut [0u8; 512]).unwrap_err().to_string()
    };
    disk.bat[18] = bat_entry(PARTIALLY_PRESENT, 4);
    let message = error(&disk, "partial.vhdx", 17 * block);
    assert!(
        message.contains(&format!("the BAT entry at byte {} says block 17 is partly in a parent", 2 * MIB + 18 * 8)),
        "{message}"
    );
    disk.bat[18] = bat_entry(4, 4);
    let message = error(&disk, "state.vhdx", 17 * block);
    assert!(message.contains("has state 4"), "{message}");
    disk.bat[18] = bat_entry(FULLY_PRESENT, 4096);
    let message = error(&disk, "past.vhdx", 17 * block + 512);
    assert!(
        message.contains(&format!(
            "block 17 is stored at byte {}, past the end of the file ({} bytes)",
            4096 * MIB,
            disk.file_len
        )),
        "{message}"
    );
    assert!(message.contains("past.vhdx: damaged or truncated VHDX"), "{message}");
}

/// Metadata items and regions this reader does not know: ignored when optional, the disk
/// refused naming the GUID when marked required (it may change how the disk reads).
#[test]
fn vhdx_unknown_required_metadata_item_or_region_is_refused() {
    use vhdx_writer::{guid, Disk, MIB};
    let dir = tempfile::tempdir().unwrap();
    let unknown = guid(0x1234_5678, 0x9abc, 0x4def, [0x80, 1, 2, 3, 4, 5, 6, 7]);
    let text = "{12345678-9abc-4def-8001-020304050607}";
    let open = |disk: &Disk, name: &str| {
        let path = dir.path().join(name);
        disk.write(&path);
        rebootscan::image::vhdx::VhdxImage::open(&path).map(|_| ()).map_err(|e| e.to_string())
    };
    let mut disk = Disk::dynamic(MIB as u32, 4 * MIB);
    disk.extra_items = vec![(unknown, 0)];
    assert_eq!(open(&disk, "optional-item.vhdx"), Ok(()));
    disk.extra_items = vec![(unknown, 4)];
    let message = open(&disk, "required-item.vhdx").unwrap_err();
    assert!(message.contains(&format!("a metadata item this reader does not know ({text}")), "{message}");
    assert!(message.contains("marked required") && message.contains("required-item.vhdx"), "{message}");
    disk.extra_items.clear();
    disk.extra_regions = vec![(unknown, false)];
    disk.file_len = 5 * MIB;
    assert_eq!(open(&disk, "optional-region.vhdx"), Ok(()));
    disk.extra_regions = vec![(unknown, true)];
    let message = open(&disk, "required-region.vhdx").unwrap_err();
    assert!(message.contains(&format!("a region this reader does not know ({text}")), "{message}");
}

/// A file beside an image set is a segment of it only when the set reaches it: `case.vhd`
/// and `case.zip` beside `case.E01` fit the pattern of EWF segments past the hundredth
/// (`.EAA` … `.ZZZ`) and were once taken for segments and dropped without a word; a
/// numbered segment after a missing one (`disk.004` when `disk.003` is missing, `case.E04`
/// when `case.E03` is) is listed as not read, never dropped.
#[test]
fn files_beside_an_image_set_are_segments_only_when_the_set_reaches_them() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "case.E01", &fixture("containers", "windows.E01"));
    write(dir.path(), "case.vhd", &fixture("containers", "windows.vhd"));
    write(dir.path(), "case.E04", b"EVF\x09\x0d\x0a\xff\x00 a stray later segment");
    let raw = fixture("images", "windows.ntfs");
    write(dir.path(), "disk.001", &raw[..raw.len() / 2]);
    write(dir.path(), "disk.002", &raw[raw.len() / 2..]);
    write(dir.path(), "disk.004", b"not reached");
    let discovery = discover(&[dir.path().to_path_buf()]);
    let mut labels: Vec<&str> = discovery.machines.iter().map(|m| m.label.as_str()).collect();
    labels.sort();
    assert_eq!(labels, ["case.E01 [volume]", "case.vhd [volume]", "disk.001 [volume]"], "{discovery:#?}");
    for (stray, first) in [("case.E04", "case.E01"), ("disk.004", "disk.001")] {
        assert!(
            discovery.ignored.iter().any(|i| i.path.ends_with(stray)
                && i.reason.contains(&format!("segment of the image set of {}", dir.path().join(first).display()))),
            "{stray}: {:#?}",
            discovery.ignored
        );
    }
    let healthy = outcome(&scan_one(&write(dir.path(), "alone.ntfs", &raw)).1[0]);
    for machine in &discovery.machines {
        let report = rebootscan::scan::scan_machine(machine, &rebootscan::scan::ScanOptions::default());
        assert_eq!(outcome(&report), healthy, "{}", machine.label);
    }
}
