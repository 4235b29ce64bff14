//! VMDK disks read in place (src/image/vmdk.rs), from the committed fixtures of
//! `fixtures/containers/` (made once by `make-containers.sh` with qemu-img from the committed
//! NTFS volumes of `fixtures/images/`, the raw forms compared against): monolithicSparse,
//! streamOptimized (as qemu-img writes it, and as VMware writes it with the grain directory
//! at the end), twoGbMaxExtentSparse and monolithicFlat (descriptor + extents), and a
//! differencing child without its parent. Each form gives exactly the verdicts, findings and
//! errors of its raw volume; damaged, truncated and incomplete disks are clear errors naming
//! the file, never a panic, never a silently different answer.

use std::path::Path;
use std::process::Command;

use rebootscan::discover::discover;
use rebootscan::image::vmdk::VmdkImage;
use rebootscan::source::BlockSource;
use rebootscan::verdict::Verdict;

mod support;
use support::containers::{fixture, outcome, scan_one, write};

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

/// Byte offsets of the grain directory and of the first grain table of a sparse extent.
fn directory_and_table(image: &[u8]) -> (usize, usize) {
    let directory = le_u64(image, 56) as usize * 512;
    (directory, le_u32(image, directory) as usize * 512)
}

/// The streamOptimized fixture as VMware writes it in one pass: the header's directory
/// offset is GD_AT_END and the real header is a footer before the end-of-stream marker.
fn stream_with_footer() -> Vec<u8> {
    let mut image = fixture("containers", "windows-stream.vmdk");
    let header = image[..512].to_vec();
    image[56..64].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut footer_marker = vec![0u8; 512];
    footer_marker[0] = 1; // one sector of metadata follows
    footer_marker[12] = 3; // MARKER_FOOTER
    image.extend_from_slice(&footer_marker);
    image.extend_from_slice(&header);
    image.extend_from_slice(&[0u8; 512]); // end of stream
    image
}

/// (files to write, the file to scan, its raw volume)
fn forms() -> Vec<(Vec<&'static str>, &'static str)> {
    vec![
        (vec!["windows.vmdk"], "windows.ntfs"),
        (vec!["windows-stream.vmdk"], "windows.ntfs"),
        (vec!["dirty-split.vmdk", "dirty-split-s001.vmdk"], "dirty.ntfs"),
        (vec!["dirty-mono.vmdk", "dirty-mono-flat.vmdk"], "dirty.ntfs"),
    ]
}

#[test]
fn every_vmdk_form_gives_the_verdicts_of_its_raw_volume() {
    let dir = tempfile::tempdir().unwrap();
    for (files, raw) in forms() {
        let raw_path = write(dir.path(), raw, &fixture("images", raw));
        for file in &files {
            write(dir.path(), file, &fixture("containers", file));
        }
        let (raw_discovery, raw_reports) = scan_one(&raw_path);
        let (discovery, reports) = scan_one(&dir.path().join(files[0]));
        assert!(discovery.skipped.is_empty(), "{discovery:#?}");
        assert_eq!(reports.len(), raw_reports.len(), "{discovery:#?}");
        assert_eq!(discovery.ignored.len(), raw_discovery.ignored.len(), "{discovery:#?}");
        for (report, raw_report) in reports.iter().zip(&raw_reports) {
            assert_eq!(outcome(report), outcome(raw_report), "{}", files[0]);
            assert!(report.machine.starts_with(&format!("{} [volume]", dir.path().join(files[0]).display())));
        }
        assert_eq!(reports[0].verdict, Verdict::Pending);
        // The descriptor and every extent are among the inputs.
        let inputs: Vec<&str> =
            reports[0].inputs.iter().filter(|i| i.role == "disk image").map(|i| i.path.as_str()).collect();
        assert_eq!(inputs.len(), files.len(), "{inputs:?}");
        for file in &files {
            assert!(inputs.iter().any(|i| i.ends_with(file)), "{file} not in {inputs:?}");
        }
    }
    // streamOptimized with its directory at the end (the footer).
    let footer = write(dir.path(), "footer-stream.vmdk", &stream_with_footer());
    let (discovery, reports) = scan_one(&footer);
    assert!(discovery.skipped.is_empty(), "{discovery:#?}");
    assert_eq!(outcome(&reports[0]), outcome(&scan_one(&dir.path().join("windows.ntfs")).1[0]));
    // In a tree, extent files are read with their descriptor: one machine per disk, nothing
    // skipped and no extent listed on its own.
    let tree = discover(&[dir.path().to_path_buf()]);
    let labels: Vec<&str> = tree.machines.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(tree.machines.len(), 7, "{labels:?}");
    assert!(!labels.iter().any(|l| l.contains("-s001") || l.contains("-flat")), "{labels:?}");
    assert!(tree.skipped.is_empty(), "{tree:#?}");
    assert!(!tree.ignored.iter().any(|s| s.path.contains("-s001") || s.path.contains("-flat")), "{tree:#?}");
}

/// The one reason `path` was skipped for.
fn skipped_reason(path: &Path) -> String {
    let (discovery, reports) = scan_one(path);
    assert!(reports.is_empty(), "{discovery:#?}");
    assert_eq!(discovery.skipped.len(), 1, "{discovery:#?}");
    discovery.skipped[0].reason.clone()
}

#[test]
fn missing_extents_and_parents_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let descriptor = write(dir.path(), "dirty-split.vmdk", &fixture("containers", "dirty-split.vmdk"));
    let reason = skipped_reason(&descriptor);
    assert!(
        reason.contains("dirty-split-s001.vmdk is missing") && reason.contains("beside its descriptor"),
        "{reason}"
    );
    let child = write(dir.path(), "child.vmdk", &fixture("containers", "child.vmdk"));
    let reason = skipped_reason(&child);
    assert!(reason.contains("differencing VMDK") && reason.contains("parent.vmdk (missing)"), "{reason}");
    assert!(reason.contains("qemu-img convert -O raw") && reason.contains("child.vmdk"), "{reason}");
    // With the parent present it is still refused: zeros for the grains it holds would be wrong.
    write(dir.path(), "parent.vmdk", &fixture("containers", "windows.vmdk"));
    assert!(skipped_reason(&child).contains("parent.vmdk (present)"));
    // A descriptor naming a file outside its folder is not followed.
    let text = String::from_utf8(fixture("containers", "dirty-mono.vmdk")).unwrap();
    let escaping =
        write(dir.path(), "escape.vmdk", text.replace("\"dirty-mono-flat.vmdk\"", "\"/etc/passwd\"").as_bytes());
    assert!(skipped_reason(&escaping).contains("not a name in the descriptor's folder"));
    // An extent given alone, or met in a tree without its descriptor.
    let lonely = tempfile::tempdir().unwrap();
    let flat = write(lonely.path(), "dirty-mono-flat.vmdk", &fixture("containers", "dirty-mono-flat.vmdk"));
    assert!(skipped_reason(&flat).contains("without its descriptor"), "{}", skipped_reason(&flat));
    let tree = discover(&[lonely.path().to_path_buf()]);
    assert!(tree.machines.is_empty());
    assert!(tree.ignored.iter().any(|s| s.reason.contains("without its descriptor")), "{tree:#?}");
    let extent = write(dir.path(), "dirty-split-s001.vmdk", &fixture("containers", "dirty-split-s001.vmdk"));
    assert!(skipped_reason(&extent).contains("an extent of the VMDK disk"));
}

#[test]
fn truncated_and_damaged_vmdk_are_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let sparse = fixture("containers", "windows.vmdk");
    let stream = fixture("containers", "windows-stream.vmdk");
    let (directory, table) = directory_and_table(&sparse);
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("tiny.vmdk", sparse[..100].to_vec(), "shorter than its header"),
        ("cut.vmdk", sparse[..sparse.len() / 4].to_vec(), "past the end of the file"),
        ("cut-stream.vmdk", stream[..stream.len() / 3].to_vec(), "past the end of the file"),
    ];
    let mut grain = sparse.clone();
    grain[20] = 100; // grain size not a power of two
    cases.push(("grain.vmdk", grain, "grain size of 100 sectors"));
    let mut directory_past = sparse.clone();
    directory_past[directory..directory + 4].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    cases.push(("directory.vmdk", directory_past, "points at a grain table at byte"));
    let mut table_past = sparse.clone();
    table_past[table..table + 4].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    cases.push(("table.vmdk", table_past, "grain 0 at byte 8589934080 lies past the end of the file"));
    let mut no_footer = stream_with_footer();
    let len = no_footer.len();
    no_footer[len - 1024..len - 1020].copy_from_slice(b"XXXX");
    cases.push(("footer.vmdk", no_footer, "footer at byte"));
    // Read lazily: a file cut after every grain the scan needs still gives the raw answer.
    let half = write(dir.path(), "half.vmdk", &sparse[..sparse.len() / 2]);
    let raw = write(dir.path(), "windows.ntfs", &fixture("images", "windows.ntfs"));
    assert_eq!(outcome(&scan_one(&half).1[0]), outcome(&scan_one(&raw).1[0]));
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
            messages.iter().any(|m| m.contains(expected) && m.contains(name)),
            "{name}: expected `{expected}` naming the file in {messages:#?}"
        );
        assert!(reports.iter().all(|r| r.verdict == Verdict::Unknown || !r.errors.is_empty()), "{name}");
    }
}

/// The grains of the streamOptimized fixture: (grain index, marker offset).
fn stream_grains(image: &[u8]) -> Vec<(u64, usize)> {
    let (_, table) = directory_and_table(image);
    (0..512)
        .filter_map(|i| {
            let sector = le_u32(image, table + i * 4);
            (sector > 1).then_some((i as u64, sector as usize * 512))
        })
        .collect()
}

#[test]
fn bad_compressed_grains_are_errors_naming_the_grain() {
    let dir = tempfile::tempdir().unwrap();
    let stream = fixture("containers", "windows-stream.vmdk");
    let grains = stream_grains(&stream);
    let (index, marker) = grains[0];
    let read_grain = |name: &str, bytes: &[u8], grain: u64| -> String {
        let path = write(dir.path(), name, bytes);
        let mut image = VmdkImage::open(&path).unwrap();
        let mut buf = vec![0u8; 4096];
        let error = image.read_exact_at(grain * 65536, &mut buf).unwrap_err().to_string();
        assert!(error.contains(name) && error.contains(&format!("at byte {marker}")) || grain != index, "{error}");
        error
    };
    let mut flipped = stream.clone();
    flipped[marker + 12 + 40] ^= 0x55;
    assert!(read_grain("inflate.vmdk", &flipped, index).contains("does not inflate"));
    let mut lba = stream.clone();
    lba[marker] ^= 0x01;
    assert!(read_grain("lba.vmdk", &lba, index).contains("says it holds sector 1"));
    let mut huge = stream.clone();
    huge[marker + 8..marker + 12].copy_from_slice(&0x0100_0000u32.to_le_bytes());
    assert!(read_grain("size.vmdk", &huge, index).contains("claims 16777216 compressed bytes"));
    // The last grain's compressed size running past the end of the file.
    let &(last, last_marker) = grains.iter().max_by_key(|(_, at)| *at).unwrap();
    let mut past = stream.clone();
    let beyond = (past.len() - last_marker) as u32;
    past[last_marker + 8..last_marker + 12].copy_from_slice(&beyond.to_le_bytes());
    let error = read_grain("past.vmdk", &past, last);
    assert!(error.contains("runs past the end of the file") && error.contains(&format!("at byte {last_marker}")));
    // A grain that inflates to less than a grain (a valid zlib stream of 100 bytes).
    let mut short = stream.clone();
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, &[7u8; 100]).unwrap();
    let small = encoder.finish().unwrap();
    short[marker + 8..marker + 12].copy_from_slice(&(small.len() as u32).to_le_bytes());
    short[marker + 12..marker + 12 + small.len()].copy_from_slice(&small);
    assert!(read_grain("short.vmdk", &short, index).contains("inflates to 100 bytes instead of 65536"));
}

/// Flips bytes of the sparse header, embedded descriptor, grain directory and grain table,
/// and of the streamOptimized header, tables, markers and compressed grains, and cuts both
/// files: never a panic, and every machine still found is either the raw form's or shows
/// that something is wrong (an error, a skipped path, unknown).
#[test]
fn vmdk_mutations_never_pass_for_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let raw = write(dir.path(), "windows.ntfs", &fixture("images", "windows.ntfs"));
    let healthy = outcome(&scan_one(&raw).1[0]);
    let mut mutants: Vec<Vec<u8>> = Vec::new();
    let flip = |image: &[u8], at: usize, bit: u8| {
        let mut m = image.to_vec();
        m[at] ^= bit;
        m
    };
    for name in ["windows.vmdk", "windows-stream.vmdk"] {
        let image = fixture("containers", name);
        let (directory, table) = directory_and_table(&image);
        let header = 0..80;
        let descriptor = (512..1536).filter(|at| image[*at] != 0).step_by(23);
        let tables = (directory..directory + 4).chain((table..table + 512).filter(|at| image[*at] != 0).step_by(2));
        let mut offsets: Vec<usize> = header.chain(descriptor).chain(tables).collect();
        if name.contains("stream") {
            for (_, marker) in stream_grains(&image).into_iter().step_by(4) {
                offsets.extend([marker, marker + 1, marker + 8, marker + 9, marker + 12, marker + 30, marker + 200]);
            }
        }
        mutants.extend(offsets.iter().map(|&at| flip(&image, at, 0x10)));
        mutants.extend((1024..image.len()).step_by(image.len() / 8).map(|cut| image[..cut].to_vec()));
    }
    let count = mutants.len();
    for (number, mutant) in mutants.into_iter().enumerate() {
        let path = write(dir.path(), "m.vmdk", &mutant);
        let (discovery, reports) = scan_one(&path);
        for report in &reports {
            let visible =
                !report.errors.is_empty() || !discovery.skipped.is_empty() || report.verdict == Verdict::Unknown;
            assert!(outcome(report) == healthy || visible, "mutant {number}: silently different: {}", outcome(report));
        }
    }
    assert!(count > 200, "{count}");
}

fn cli(args: &[&Path]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rebootscan")).arg("scan").args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn cli_scans_each_vmdk_form_and_a_folder_of_descriptor_and_extents() {
    let dir = tempfile::tempdir().unwrap();
    for (files, raw) in forms() {
        let raw_path = write(dir.path(), raw, &fixture("images", raw));
        for file in &files {
            write(dir.path(), file, &fixture("containers", file));
        }
        let (raw_code, raw_out, _) = cli(&[&raw_path]);
        let (code, out, err) = cli(&[&dir.path().join(files[0])]);
        assert_eq!(code, raw_code, "{}: {err}", files[0]);
        let verdict = |text: &str| text.lines().find(|l| l.starts_with("verdict:")).map(str::to_string);
        assert_eq!(verdict(&out), verdict(&raw_out), "{}", files[0]);
        assert!(verdict(&out).is_some_and(|v| v.contains("PENDING")), "{out}");
    }
    // A folder holding one descriptor and its extents is one machine.
    let set = dir.path().join("vm");
    std::fs::create_dir(&set).unwrap();
    for file in ["dirty-split.vmdk", "dirty-split-s001.vmdk"] {
        write(&set, file, &fixture("containers", file));
    }
    let output =
        Command::new(env!("CARGO_BIN_EXE_rebootscan")).args(["scan", "--format", "json"]).arg(&set).output().unwrap();
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let machines = document["machines"].as_array().unwrap();
    assert_eq!(machines.len(), 1, "{document:#}");
    assert!(machines[0]["machine"].as_str().unwrap().ends_with("dirty-split.vmdk [volume]"));
    assert_eq!(document["skipped"].as_array().unwrap().len(), 0, "{document:#}");
    // A broken disk beside a good one: the good one is scanned, the run says it is incomplete.
    write(&set, "child.vmdk", &fixture("containers", "child.vmdk"));
    let (code, _, err) = cli(&[&set]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("child.vmdk") && err.contains("parent.vmdk (missing)"), "{err}");
}

/// twoGbMaxExtentFlat as VMware lays it out (`NAME-f001.vmdk`, `NAME-f002.vmdk`, …), built here
/// from the dirty volume cut at a sector that is not a grain boundary, with a ZERO extent
/// after it: reads that cross extents give the raw volume's bytes and verdicts, and in a tree
/// the extents are not machines of their own.
#[test]
fn reads_cross_flat_and_zero_extents() {
    let dir = tempfile::tempdir().unwrap();
    let raw = fixture("images", "dirty.ntfs");
    let cut = 3001 * 512;
    write(dir.path(), "multi-f001.vmdk", &raw[..cut]);
    // The second extent starts 2 sectors into its file (the descriptor's offset field).
    let mut second = vec![0xeeu8; 1024];
    second.extend_from_slice(&raw[cut..]);
    write(dir.path(), "multi-f002.vmdk", &second);
    let sectors = raw.len() / 512;
    let descriptor = format!(
        "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType=\"twoGbMaxExtentFlat\"\n\n\
         # Extent description\nRW 3001 FLAT \"multi-f001.vmdk\" 0\nRW {} FLAT \"multi-f002.vmdk\" 2\nRW 64 ZERO\n",
        sectors - 3001
    );
    let path = write(dir.path(), "multi.vmdk", descriptor.as_bytes());
    let mut image = VmdkImage::open(&path).unwrap();
    assert_eq!(image.len(), raw.len() as u64 + 64 * 512);
    let mut across = vec![0u8; 8192];
    image.read_exact_at(cut as u64 - 4096, &mut across).unwrap();
    assert_eq!(across, raw[cut - 4096..cut + 4096]);
    let mut tail = vec![1u8; 1024];
    image.read_exact_at(raw.len() as u64 - 512, &mut tail).unwrap();
    assert_eq!(tail[..512], raw[raw.len() - 512..]);
    assert!(tail[512..].iter().all(|&b| b == 0), "the ZERO extent reads as zeros");
    let raw_path = write(dir.path(), "dirty.ntfs", &raw);
    let (discovery, reports) = scan_one(&path);
    assert!(discovery.skipped.is_empty(), "{discovery:#?}");
    assert_eq!(outcome(&reports[0]), outcome(&scan_one(&raw_path).1[0]));
    assert_eq!(reports[0].inputs.iter().filter(|i| i.role == "disk image").count(), 3);
    let tree = discover(&[dir.path().to_path_buf()]);
    assert_eq!(tree.machines.len(), 2, "{:#?}", tree.machines);
    assert!(tree.skipped.is_empty() && tree.ignored.iter().all(|s| !s.path.contains("-f00")), "{tree:#?}");
    // An extent shorter than the descriptor says is refused at open, naming it.
    write(dir.path(), "multi-f002.vmdk", &second[..second.len() - 512]);
    let error = VmdkImage::open(&path).err().unwrap().to_string();
    assert!(error.contains("multi-f002.vmdk") && error.contains("truncated extent"), "{error}");
}
