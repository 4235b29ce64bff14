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
    let paths = write_files(data, names);
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
