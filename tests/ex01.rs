//! Ex01 (EWF2, EnCase 7) images, written by tests/support/ewf2_writer.rs from the EWF2
//! specification (no tool here writes Ex01, and the `ewf` crate has no writer) from the
//! committed windows.ntfs volume: the scan must give exactly the verdicts, findings and errors
//! of the raw volume, the container facts of the case data and hash sections, and clear errors
//! naming the file for missing, truncated and damaged sets, never a panic, never a silently
//! different answer. src/image/ewf2.rs says what the crate misreads and how it is wrapped.

use std::path::{Path, PathBuf};

use rebootscan::discover::discover;
use rebootscan::verdict::Verdict;

mod support;
use support::containers::{fixture, outcome, scan_one, write};
use support::ewf2_writer::{self, Ex01, Options, CASE_DATA, SECTOR_DATA, SECTOR_TABLE};

/// Writes the segments of `image` as `name.Ex01`, `name.Ex02`, … in `dir`.
fn write_set(dir: &Path, name: &str, image: &Ex01) -> Vec<PathBuf> {
    image.segments.iter().enumerate().map(|(i, s)| write(dir, &format!("{name}.Ex{:02}", i + 1), s)).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the scan says went wrong with `path`: its skipped reasons and the machines' errors.
fn trouble(path: &Path) -> String {
    let (discovery, reports) = scan_one(path);
    let mut said: Vec<String> = discovery.skipped.iter().map(|s| format!("{}: {}", s.path, s.reason)).collect();
    said.extend(reports.iter().flat_map(|r| r.errors.iter().map(|e| e.message.clone())));
    said.join("\n")
}

#[test]
fn the_writer_checksums_are_adler32() {
    // RFC 1950's Adler-32 of "Wikipedia", as Wikipedia gives it.
    assert_eq!(ewf2_writer::adler32(b"Wikipedia"), 0x11e6_0398);
}

#[test]
fn ex01_gives_the_verdicts_of_its_raw_volume() {
    let dir = tempfile::tempdir().unwrap();
    let volume = fixture("images", "windows.ntfs");
    let raw = write(dir.path(), "windows.ntfs", &volume);
    let (raw_discovery, raw_reports) = scan_one(&raw);
    assert_eq!(raw_reports[0].verdict, Verdict::Pending);
    for (name, options) in [
        ("one", Options::default()),
        ("split", Options { segments: 2, chunks_per_table: 20, ..Options::default() }),
        ("packed", Options { store_every: 0, ..Options::default() }),
    ] {
        let image = ewf2_writer::write(&volume, &options);
        assert!(image.compressed_chunks > 0 && (image.stored_chunks > 0 || options.store_every == 0));
        let paths = write_set(dir.path(), name, &image);
        let (discovery, reports) = scan_one(&paths[0]);
        assert!(discovery.skipped.is_empty(), "{name}: {discovery:#?}");
        assert_eq!(reports.len(), raw_reports.len(), "{name}");
        assert_eq!(discovery.ignored.len(), raw_discovery.ignored.len(), "{name}");
        for (report, raw_report) in reports.iter().zip(&raw_reports) {
            assert_eq!(outcome(report), outcome(raw_report), "{name}");
            assert!(report.machine.starts_with(&format!("{} [volume]", paths[0].display())), "{}", report.machine);
        }
        let inputs = reports[0].inputs.iter().filter(|i| i.role == "disk image").count();
        assert_eq!(inputs, paths.len(), "{name}: every segment among the inputs");
    }
    // In a tree the second segment is read with the first, not as an image of its own.
    std::fs::remove_file(&raw).unwrap();
    let tree = discover(&[dir.path().to_path_buf()]);
    assert_eq!(tree.machines.len(), 3, "{:#?}", tree.machines);
    assert!(tree.skipped.is_empty() && !tree.ignored.iter().any(|s| s.path.ends_with("Ex02")), "{tree:#?}");
}

/// The case data's facts (EWF2 tags `cn`, `en`, `ex`, `nm`, `nt`, `av`, `os`, `tt`, `at`) and
/// the MD5 and SHA-1 hash sections reach the report, the hashes marked not verified.
#[test]
fn ex01_container_facts_come_from_its_case_data_and_hash_sections() {
    let dir = tempfile::tempdir().unwrap();
    let volume = fixture("images", "windows.ntfs");
    let options = Options { segments: 2, ..Options::default() };
    let image = ewf2_writer::write(&volume, &options);
    let paths = write_set(dir.path(), "laptop", &image);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan"))
        .args(["scan".as_ref(), "--format".as_ref(), "json".as_ref(), paths[0].as_os_str()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let container = &json["machines"][0]["container"];
    assert_eq!(container["format"], "Ex01");
    assert_eq!(container["segments"], 2);
    assert_eq!(container["disk_size"], volume.len());
    let case = &options.case;
    let acquired = time::OffsetDateTime::from_unix_timestamp(i64::from(case.acquired)).unwrap();
    let when = acquired
        .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC"))
        .unwrap();
    assert_eq!(
        container["acquisition"],
        serde_json::json!({
            "case_number": case.case_number,
            "evidence_number": case.evidence_number,
            "examiner": case.examiner,
            "description": case.description,
            "notes": case.notes,
            "acquisition_date": when,
            "system_date": when,
            "software": case.software,
            "os": case.os,
        })
    );
    assert_eq!(
        container["stored_hashes"],
        serde_json::json!({"md5": hex(&image.md5), "sha1": hex(&image.sha1), "verified": false})
    );
    assert!(container["notes"].to_string().contains("did not verify"), "{container}");

    let text = std::process::Command::new(env!("CARGO_BIN_EXE_rebootscan"))
        .args(["scan".as_ref(), paths[0].as_os_str()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains(&format!("container: Ex01 {}", paths[0].display())), "{stdout}");
    assert!(stdout.contains(&format!("case number {}", case.case_number)), "{stdout}");
    assert!(stdout.contains(&hex(&image.md5)) && stdout.contains(&hex(&image.sha1)), "{stdout}");
}

#[test]
fn missing_truncated_and_damaged_ex01_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let volume = fixture("images", "windows.ntfs");
    let split = ewf2_writer::write(&volume, &Options { segments: 2, ..Options::default() });
    let first = write(dir.path(), "split.Ex01", &split.segments[0]);
    let said = trouble(&first);
    assert!(said.contains("incomplete EWF set") && said.contains("split.Ex02 is missing"), "{said}");

    let image = ewf2_writer::write(&volume, &Options::default());
    let whole = &image.segments[0];
    for (name, bytes) in [("cut.Ex01", &whole[..whole.len() / 2]), ("tiny.Ex01", &whole[..40])] {
        let said = trouble(&write(dir.path(), name, bytes));
        assert!(said.contains(name) && said.contains("damaged Ex01 segment"), "{name}: {said}");
    }
    // A segment that ends without `done` (its last section cut off whole).
    let done = image.sections.last().unwrap();
    let said = trouble(&write(dir.path(), "nodone.Ex01", &whole[..done.descriptor]));
    assert!(said.contains("nodone.Ex01") && said.contains("neither a `done` nor a `next`"), "{said}");

    let damaged = |name: &str, at: usize| {
        let mut bytes = whole.clone();
        bytes[at] ^= 0x10;
        trouble(&write(dir.path(), name, &bytes))
    };
    let case = image.section(CASE_DATA);
    let said = damaged("descriptor.Ex01", case.descriptor + 16);
    assert!(said.contains("descriptor.Ex01") && said.contains("fails its checksum"), "{said}");
    let table = image.section(SECTOR_TABLE);
    let said = damaged("header.Ex01", table.data + 8);
    assert!(said.contains("header.Ex01") && said.contains("sector table header"), "{said}");
    let said = damaged("entries.Ex01", table.data + 32 + 16 + 8);
    assert!(said.contains("entries.Ex01") && said.contains("sector table entries"), "{said}");
    // A chunk past the end of the file, its table's checksum made right again.
    let mut bytes = whole.clone();
    let entries = table.data + 32;
    bytes[entries + 7] = 0x40;
    let count = u32::from_le_bytes(bytes[table.data + 8..table.data + 12].try_into().unwrap()) as usize;
    let checksum = ewf2_writer::adler32(&bytes[entries..entries + count * 16]);
    bytes[entries + count * 16..entries + count * 16 + 4].copy_from_slice(&checksum.to_le_bytes());
    let said = trouble(&write(dir.path(), "far.Ex01", &bytes));
    assert!(said.contains("far.Ex01") && said.contains("lies past the end of the file"), "{said}");
    let said = damaged("casedata.Ex01", case.data + 2);
    assert!(said.contains("casedata.Ex01"), "{said}");

    // Every stored chunk damaged: whichever the lookups touch fails its Adler-32.
    let mut bytes = whole.clone();
    let table = &whole[table.data..table.data + table.data_size];
    let count = u32::from_le_bytes(table[8..12].try_into().unwrap()) as usize;
    let mut flipped = 0;
    for entry in table[32..32 + count * 16].chunks_exact(16) {
        let flags = u32::from_le_bytes(entry[12..16].try_into().unwrap());
        if flags == ewf2_writer::CHECKSUMED {
            let offset = u64::from_le_bytes(entry[..8].try_into().unwrap()) as usize;
            bytes[offset + 100] ^= 0x01;
            flipped += 1;
        }
    }
    assert!(flipped > 0);
    let said = trouble(&write(dir.path(), "stored.Ex01", &bytes));
    assert!(
        said.contains("stored.Ex01") && said.contains("stored chunk") && said.contains("fails its checksum"),
        "{said}"
    );
}

/// A spec-conforming Ex01 with other than 64 sectors per chunk: the `ewf` crate (0.4.10) takes
/// the chunk size from tags EWF2 does not have and would read it as another disk, so it is
/// refused with what to do, never read wrong.
#[test]
fn ex01_with_a_chunk_size_the_crate_misreads_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let volume = fixture("images", "windows.ntfs");
    let image = ewf2_writer::write(&volume, &Options { sectors_per_chunk: 128, ..Options::default() });
    let path = write(dir.path(), "big-chunks.Ex01", &image.segments[0]);
    let (discovery, reports) = scan_one(&path);
    assert!(reports.is_empty(), "read although misread");
    let reason = &discovery.skipped.iter().find(|s| s.path.ends_with("big-chunks.Ex01")).unwrap().reason;
    assert!(reason.contains("128 sectors of 512 bytes") && reason.contains("ewfexport"), "{reason}");
}

/// Flips and cuts bytes of an Ex01: never a panic, and every machine still found is either
/// the raw form's or shows that something is wrong (an error, a skipped path, unknown).
#[test]
fn ex01_mutations_never_pass_for_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let volume = fixture("images", "windows.ntfs");
    let raw = write(dir.path(), "windows.ntfs", &volume);
    let healthy = outcome(&scan_one(&raw).1[0]);
    let image = ewf2_writer::write(&volume, &Options::default());
    let bytes = &image.segments[0];
    let len = bytes.len();
    // The file header, device information and case data; every descriptor and table; the
    // hash and done sections; and a stride through the sector data.
    let mut offsets: Vec<usize> = (0..image.section(SECTOR_DATA).data).step_by(7).collect();
    for section in &image.sections {
        offsets.extend((section.descriptor..section.descriptor + 64).step_by(5));
        if section.kind == SECTOR_TABLE {
            offsets.extend((section.data..section.data + section.data_size).step_by(13));
        }
    }
    for section in image.sections.iter().filter(|s| s.kind == SECTOR_DATA) {
        offsets.extend((section.data..section.data + section.data_size).step_by(section.data_size / 40));
    }
    let mut mutants: Vec<Vec<u8>> = offsets
        .iter()
        .map(|&at| {
            let mut m = bytes.clone();
            m[at] ^= 0x04;
            m
        })
        .collect();
    mutants.extend((32..len).step_by(len / 20).map(|cut| bytes[..cut].to_vec()));
    let count = mutants.len();
    let path = dir.path().join("m.Ex01");
    for (number, mutant) in mutants.into_iter().enumerate() {
        std::fs::write(&path, &mutant).unwrap();
        let (discovery, reports) = scan_one(&path);
        for report in &reports {
            let visible =
                !report.errors.is_empty() || !discovery.skipped.is_empty() || report.verdict == Verdict::Unknown;
            assert!(outcome(report) == healthy || visible, "mutant {number}: silently different: {}", outcome(report));
        }
    }
    support::note(&format!("ex01 mutations: {count}"));
    assert!(count > 300, "{count}");
}
