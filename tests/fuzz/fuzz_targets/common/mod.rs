//! What the container and archive targets share: turning the fuzz input into files on disk
//! (the readers open paths, read-only and regular-only, as they do on evidence) and reading a
//! spread of offsets of what they open, as a scan would.
//!
//! The input is either the bytes of the first file as they are, or, when it starts with
//! [`FILE_SET_MAGIC`], a compact description of one or more sparse files: containers put
//! their structures megabytes apart (a VHDX's log at 1 MiB, its metadata and BAT after it), so a
//! seed that is small enough to commit must be able to leave the zeros out. After the magic
//! come records of `file: u8` (an index into the target's file names, taken modulo their
//! number), `offset: u64 LE`, `len: u32 LE` and `len` bytes written at `offset`; a record with
//! `len` 0 only makes its file at least `offset` bytes long. Files end at [`MAX_FILE_LEN`].
//! `tests/fuzz/make-seeds.py` writes seeds in this form from the fixtures.
#![allow(dead_code)]

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rebootscan::image::partition::{self, Layout};
use rebootscan::source::BlockSource;

pub const FILE_SET_MAGIC: &[u8; 8] = b"FZFILES\0";
/// Large enough for the fixtures' 20 MiB VHDX; holes cost nothing on tmpfs.
pub const MAX_FILE_LEN: u64 = 64 << 20;

/// One folder per fuzzing process (jobs run side by side), emptied before every input.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        base.join(format!("rebootscan-fuzz-{}", std::process::id()))
    })
}

fn le_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap())
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().unwrap())
}

/// Writes the input as the files `names` (the first one alone unless the input is a file
/// set) in a fresh scratch folder, and returns their paths; a file a set does not mention is
/// not created.
pub fn write_files(data: &[u8], names: &[&str]) -> Vec<PathBuf> {
    let dir = scratch();
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).expect("scratch folder");
    let paths: Vec<PathBuf> = names.iter().map(|name| dir.join(name)).collect();
    let Some(mut rest) = data.strip_prefix(FILE_SET_MAGIC) else {
        fs::write(&paths[0], data).expect("scratch file");
        return paths;
    };
    let mut files: Vec<Option<File>> = names.iter().map(|_| None).collect();
    while rest.len() >= 13 {
        let index = usize::from(rest[0]) % names.len();
        let offset = le_u64(&rest[1..9]) % MAX_FILE_LEN;
        let len = (le_u32(&rest[9..13]) as usize).min(rest.len() - 13);
        let bytes = &rest[13..13 + len];
        rest = &rest[13 + len..];
        let file = files[index].get_or_insert_with(|| File::create(&paths[index]).expect("scratch file"));
        let end = (offset + len as u64).min(MAX_FILE_LEN);
        let bytes = &bytes[..(end - offset) as usize];
        if file.metadata().expect("scratch file").len() < end {
            file.set_len(end).expect("scratch file");
        }
        file.write_all_at(bytes, offset).expect("scratch file");
    }
    if files[0].is_none() {
        File::create(&paths[0]).expect("scratch file");
    }
    paths
}

/// A cheap hash of the input, for offsets that differ from input to input.
fn mix(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn read(source: &mut dyn BlockSource, offset: u64, buf: &mut [u8]) {
    if let Ok(read) = source.read_at(offset, buf) {
        assert!(read <= buf.len(), "read_at claims {read} bytes into a {}-byte buffer", buf.len());
    }
}

/// Reads what a scan reads of a disk: its facts and warnings, the first sectors, the
/// partition table and the first and last sectors of each partition, and offsets across the
/// disk (the middle, the end, past the end, and a few that depend on the input), in whole
/// clusters and in odd, unaligned pieces.
pub fn read_disk(source: &mut dyn BlockSource, data: &[u8]) {
    let _ = source.container_facts();
    let _ = source.warnings();
    let len = source.len();
    let mut big = vec![0u8; 64 << 10];
    let mut odd = vec![0u8; 1000];
    let mut hash = mix(data);
    let mut offsets = vec![0, 512, 4096, 65_536, 1 << 20, len / 2, len.saturating_sub(65_536)];
    offsets.extend([len.saturating_sub(512), len.saturating_sub(1), len, len.saturating_add(4096), u64::MAX - 10]);
    for _ in 0..4 {
        hash = hash.rotate_left(17).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        offsets.push(if len == 0 { hash } else { hash % len });
    }
    for &offset in &offsets {
        read(source, offset, &mut big);
        read(source, offset.wrapping_add(777), &mut odd);
    }
    let mut head = [0u8; 4096];
    read(source, 0, &mut head);
    let _ = partition::is_volume_boot_sector(&head);
    if let Ok(Layout::Table(table)) = partition::read_layout(source) {
        for part in table.partitions.iter().take(8) {
            read(source, part.start, &mut head);
            let _ = partition::is_volume_boot_sector(&head);
            read(source, part.start.saturating_add(part.length).saturating_sub(512), &mut odd[..512]);
        }
    }
}

/// Writes the input as the files `names`, opens the first one as a disk image the way a scan
/// does (format by its magic, a split set or a descriptor's extents by its name), and reads it.
pub fn open_and_read_image(data: &[u8], names: &[&str]) {
    open_and_read_image_repaired(data, names, |_| {});
}

/// [`open_and_read_image`], with `repair` run on the first file before it is opened.
pub fn open_and_read_image_repaired(data: &[u8], names: &[&str], repair: impl Fn(&Path)) {
    let paths = write_files(data, names);
    if repairs(data) {
        repair(&paths[0]);
    }
    let spec = rebootscan::image::ImageSpec::for_path(&paths[0]);
    if let Ok(mut disk) = rebootscan::image::source::open_image(&spec) {
        read_disk(disk.as_mut(), data);
    }
}

/// Opens the archive `path` as the format its first bytes say (as discovery does), lists it,
/// and reads the start and the end of up to 32 of its files, as a scan reads hives.
pub fn open_and_read_archive(path: &Path) {
    use rebootscan::archive::{self, ArchiveTree};
    use rebootscan::source::FileTree;
    let mut head = [0u8; 512];
    let got = File::open(path).and_then(|file| file.read_at(&mut head, 0)).unwrap_or(0);
    let Some(format) = archive::detect(&head[..got], || archive::tar::gzip_holds_tar(path)) else { return };
    let Ok(mut tree) = ArchiveTree::open(path, format) else { return };
    let _ = tree.notes();
    let _ = tree.names_not_utf8();
    let _ = tree.list(&[]);
    for (components, _) in tree.files().into_iter().take(32) {
        let components: Vec<&str> = components.iter().map(String::as_str).collect();
        if let Some(parent) = components.split_last().map(|(_, parent)| parent) {
            let _ = tree.list(parent);
        }
        let _ = tree.metadata(&components);
        let _ = tree.visit_file(&components, 1 << 20, &mut |file: &mut dyn BlockSource| {
            let mut buf = [0u8; 4096];
            let len = file.len();
            for offset in [0, len / 2, len.saturating_sub(4096), len] {
                read(file, offset, &mut buf);
            }
        });
    }
}

// Checksum repair. A mutation almost never keeps a CRC right, so without this the fuzzer
// would stop at the first checksum of every structure and never reach what it guards (a
// VHDX's log replay, the GPT entries, a VHD's dynamic header). Half of the inputs (by their
// hash) are repaired after the mutation, the other half left as they are, so the checksum
// checks themselves are fuzzed too.

/// True for the inputs whose checksums are repaired.
pub fn repairs(data: &[u8]) -> bool {
    mix(data) & 1 == 0
}

fn crc_table(polynomial: u32) -> [u32; 256] {
    let mut table = [0u32; 256];
    for (n, entry) in table.iter_mut().enumerate() {
        let mut crc = n as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ polynomial } else { crc >> 1 };
        }
        *entry = crc;
    }
    table
}

fn crc(table: &[u32; 256], bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| table[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8))
}

/// CRC-32 (IEEE), as GPT uses it.
pub fn crc32(bytes: &[u8]) -> u32 {
    static TABLE: OnceLock<[u32; 256]> = OnceLock::new();
    crc(TABLE.get_or_init(|| crc_table(0xEDB8_8320)), bytes)
}

/// CRC-32C (Castagnoli), as VHDX uses it.
pub fn crc32c(bytes: &[u8]) -> u32 {
    static TABLE: OnceLock<[u32; 256]> = OnceLock::new();
    crc(TABLE.get_or_init(|| crc_table(0x82F6_3B78)), bytes)
}

fn pread(file: &File, offset: u64, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset).ok()?;
    Some(buf)
}

/// Sets the CRC-32C at bytes 4..8 of the `len` bytes at `offset` (a VHDX header, region
/// table or log entry) when they start with `signature`.
fn repair_crc32c_at(file: &File, offset: u64, len: usize, signature: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = pread(file, offset, len)?;
    if !bytes.starts_with(signature) {
        return None;
    }
    bytes[4..8].fill(0);
    let sum = crc32c(&bytes);
    bytes[4..8].copy_from_slice(&sum.to_le_bytes());
    file.write_all_at(&bytes[4..8], offset + 4).ok()?;
    Some(bytes)
}

/// Repairs the CRC-32C of a VHDX's two headers, two region tables and every log entry each
/// header's log holds (MS-VHDX §2.2.2, §2.2.3, §2.3.1).
pub fn repair_vhdx(path: &Path) {
    let Ok(file) = fs::OpenOptions::new().read(true).write(true).open(path) else { return };
    for table in [0x3_0000, 0x4_0000] {
        repair_crc32c_at(&file, table, 0x1_0000, b"regi");
    }
    for at in [0x1_0000u64, 0x2_0000] {
        let Some(header) = pread(&file, at, 4096).filter(|h| h.starts_with(b"head")) else { continue };
        let length = u64::from(le_u32(&header[68..72])).min(32 << 20);
        let offset = le_u64(&header[72..80]);
        if let Some(log) = offset.checked_add(length).and_then(|_| pread(&file, offset, length as usize)) {
            for entry in (0..log.len()).step_by(4096) {
                if !log[entry..].starts_with(b"loge") {
                    continue;
                }
                let len = le_u32(&log[entry + 8..entry + 12]) as usize;
                // Entries that wrap round the ring's end are left as they are.
                if len >= 4096 && len % 4096 == 0 && entry + len <= log.len() {
                    repair_crc32c_at(&file, offset + entry as u64, len, b"loge");
                }
            }
        }
        repair_crc32c_at(&file, at, 4096, b"head");
    }
}

/// VHD's checksum: the one's complement of the sum of the structure's bytes without it.
fn repair_vhd_sum(file: &File, offset: u64, len: usize, field: usize, signature: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = pread(file, offset, len)?;
    if !bytes.starts_with(signature) {
        return None;
    }
    bytes[field..field + 4].fill(0);
    let sum = !bytes.iter().fold(0u32, |sum, &b| sum.wrapping_add(u32::from(b)));
    file.write_all_at(&sum.to_be_bytes(), offset + field as u64).ok()?;
    Some(bytes)
}

/// Repairs a VHD's footer, its copy at byte 0, and the dynamic header the footer names.
pub fn repair_vhd(path: &Path) {
    let Ok(file) = fs::OpenOptions::new().read(true).write(true).open(path) else { return };
    let Ok(len) = file.metadata().map(|m| m.len()) else { return };
    for at in [len.saturating_sub(512), 0] {
        if let Some(footer) = repair_vhd_sum(&file, at, 512, 64, b"conectix") {
            let dynamic = u64::from_be_bytes(footer[16..24].try_into().unwrap());
            repair_vhd_sum(&file, dynamic, 1024, 36, b"cxsparse");
        }
    }
}

/// Repairs the entry-array and header CRCs of a GPT's primary and backup headers, for
/// 512- and 4096-byte sectors (UEFI 2.10 §5.3).
pub fn repair_gpt(disk: &mut [u8]) {
    for sector in [512usize, 4096] {
        let Some(primary) = disk.get(sector..sector * 2) else { continue };
        if !primary.starts_with(b"EFI PART") {
            continue;
        }
        let backup = le_u64(&primary[32..40]);
        let mut headers = vec![sector as u64];
        headers.extend(backup.checked_mul(sector as u64));
        for at in headers {
            let Ok(at) = usize::try_from(at) else { continue };
            let Some(header) = disk.get(at..at.saturating_add(sector)) else { continue };
            if !header.starts_with(b"EFI PART") {
                continue;
            }
            let size = (le_u32(&header[12..16]) as usize).clamp(92, sector);
            let entries = le_u64(&header[72..80]).saturating_mul(sector as u64);
            let entries_len = u64::from(le_u32(&header[80..84])) * u64::from(le_u32(&header[84..88]));
            let range = usize::try_from(entries)
                .ok()
                .zip(usize::try_from(entries_len).ok())
                .and_then(|(start, len)| disk.get(start..start.checked_add(len)?));
            if let Some(array) = range {
                let sum = crc32(array);
                disk[at + 88..at + 92].copy_from_slice(&sum.to_le_bytes());
            }
            disk[at + 16..at + 20].fill(0);
            let sum = crc32(&disk[at..at + size]);
            disk[at + 16..at + 20].copy_from_slice(&sum.to_le_bytes());
        }
    }
}
