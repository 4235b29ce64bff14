//! Checks of an Ex01 (EWF2, EnCase 7) set made here before and while the `ewf` crate reads
//! it, from the EWF2 specification (Joachim Metz, libewf documentation). Written by hand
//! because `ewf` 0.4.10's EWF2 path, tested against a spec-conforming writer
//! (tests/support/ewf2_writer.rs), would otherwise misread evidence without a word:
//! - it checks no Adler-32 at all (section descriptors, sector table header and entries, the
//!   checksum after each stored chunk), so a damaged table or stored chunk reads as other data;
//! - it ignores the sector table's first chunk number and appends tables in file order;
//! - it takes the chunk geometry from device information tags `b` and `sc`, which EWF2 does
//!   not have (bytes per sector is `bp` there, sectors per chunk `sb` in the case data): any
//!   chunk size but EnCase's default of 64 × 512 bytes would be misread;
//! - it reads case data tags `de`, `ov`, `ad`, `sd`, which EWF2 does not have (description is
//!   `nm`, OS `os`, acquisition and system time `tt`/`at`): those facts would be missing;
//! - a set whose last segment ends with a `next` section (a segment missing) opens and reads
//!   as a shorter disk.
//!
//! So, at open: every section descriptor of every segment is walked back to front (bounded by
//! the file, each checked against its Adler-32, its data inside the file and before it), the
//! last segment must end with `done` and the others with `next`, every sector table is checked
//! against its two Adler-32 and must continue where the previous one ended, and the device
//! information and case data are read for the geometry and the facts the crate misses. The
//! caller refuses a set whose geometry the crate reads differently. While reading, each stored
//! (uncompressed) chunk a lookup touches is checked once against its Adler-32.

use crate::image::bytes::{le_u32, le_u64};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const FILE_HEADER_SIZE: u64 = 32;
const DESCRIPTOR_SIZE: u64 = 64;

const DEVICE_INFORMATION: u32 = 0x01;
const CASE_DATA: u32 = 0x02;
const SECTOR_TABLE: u32 = 0x04;
const NEXT: u32 = 0x0d;
const DONE: u32 = 0x0f;

/// Chunk data flags of a sector table entry.
const COMPRESSED: u32 = 0x1;
const CHECKSUMED: u32 = 0x2;
const PATTERN_FILL: u32 = 0x4;

/// EnCase limits a text value to 3000 characters; a serialized object of a few dozen values
/// stays far below these bounds.
const MAX_OBJECT_SIZE: u64 = 1 << 20;
const MAX_OBJECT_TEXT: u64 = 4 << 20;
/// The `ewf` crate's own bound on the entries of one table (4,000,000); one more here would
/// only be refused by it.
const MAX_TABLE_ENTRIES: u64 = 4_000_000;

fn invalid(path: &Path, what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: damaged Ex01 segment: {what}; check the set with `ewfverify` or re-export it", path.display()),
    )
}

fn read_at(file: &File, path: &Path, at: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(len).map_err(|_| invalid(path, format!("{len} bytes at byte {at}")))?];
    file.read_exact_at(&mut bytes, at).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    Ok(bytes)
}

fn adler32(bytes: &[u8]) -> u32 {
    adler2::adler32_slice(bytes)
}

/// A stored chunk, to be checked against the Adler-32 that follows it when first read.
#[derive(Debug, Clone, Copy)]
struct StoredChunk {
    segment: usize,
    offset: u64,
    /// Bytes of chunk data, without the checksum.
    len: u64,
    checked: bool,
}

/// What the checks learnt: the geometry, the facts the crate misses, the stored chunks.
#[derive(Debug, Default)]
pub struct Ewf2Set {
    /// Sectors per chunk (case data `sb`) and bytes per sector (device information `bp`).
    pub sectors_per_chunk: Option<u64>,
    pub bytes_per_sector: Option<u64>,
    /// Number of sectors (device information `ts`).
    pub sectors: Option<u64>,
    /// Chunks listed by the sector tables.
    pub chunks: u64,
    /// Case data `nm` (EWF1's description), `os`, `tt` and `at` (seconds since 1970, UTC).
    pub description: Option<String>,
    pub os: Option<String>,
    pub target_time: Option<String>,
    pub actual_time: Option<String>,
    stored: BTreeMap<u64, StoredChunk>,
    paths: Vec<PathBuf>,
}

/// A section as its descriptor places it.
struct Section {
    kind: u32,
    data: u64,
    size: u64,
}

/// The sections of one segment file in file order, every descriptor checked.
fn sections(file: &File, path: &Path) -> io::Result<Vec<Section>> {
    let len = file.metadata()?.len();
    if len < FILE_HEADER_SIZE + DESCRIPTOR_SIZE {
        return Err(invalid(path, format!("{len} bytes, shorter than a file header and one section (truncated)")));
    }
    let mut found = Vec::new();
    let mut at = len - DESCRIPTOR_SIZE;
    // Each section takes at least its 64-byte descriptor: the count is bounded by the file.
    for _ in 0..=(len / DESCRIPTOR_SIZE) {
        let d = read_at(file, path, at, DESCRIPTOR_SIZE)?;
        if adler32(&d[..60]) != le_u32(&d, 60) {
            return Err(invalid(
                path,
                format!("the section descriptor at byte {at} fails its checksum (damaged, or the file is truncated)"),
            ));
        }
        let kind = le_u32(&d, 0);
        let previous = le_u64(&d, 8);
        let size = le_u64(&d, 16);
        if u64::from(le_u32(&d, 24)) != DESCRIPTOR_SIZE {
            return Err(invalid(
                path,
                format!("the section descriptor at byte {at} gives a descriptor size other than 64"),
            ));
        }
        if le_u32(&d, 4) & 0x2 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: encrypted Ex01 sections cannot be read (the encryption is not published); export an unencrypted copy from EnCase",
                    path.display()
                ),
            ));
        }
        let Some(data) = at.checked_sub(size).filter(|&data| data >= FILE_HEADER_SIZE) else {
            return Err(invalid(
                path,
                format!("the section at byte {at} claims {size} bytes of data, more than precede it"),
            ));
        };
        found.push(Section { kind, data, size });
        if previous == 0 {
            if data != FILE_HEADER_SIZE {
                return Err(invalid(
                    path,
                    format!("no section descriptor links the bytes {FILE_HEADER_SIZE} to {data}"),
                ));
            }
            found.reverse();
            return Ok(found);
        }
        if previous.checked_add(DESCRIPTOR_SIZE).is_none_or(|end| end > data) {
            return Err(invalid(
                path,
                format!("the section at byte {at} links to a previous descriptor at byte {previous}, not before it"),
            ));
        }
        at = previous;
    }
    Err(invalid(path, "the section descriptors do not end".to_string()))
}

/// A serialized file object (device information, case data): zlib-compressed UTF-16LE with
/// a byte-order mark, `count`, `main`, a line of tab-separated tags, a line of values.
fn serialized_object(file: &File, path: &Path, section: &Section) -> io::Result<Vec<(String, String)>> {
    if section.size > MAX_OBJECT_SIZE {
        return Err(invalid(
            path,
            format!("a metadata section of {} bytes (at most {MAX_OBJECT_SIZE} expected)", section.size),
        ));
    }
    let packed = read_at(file, path, section.data, section.size)?;
    let mut utf16 = Vec::new();
    flate2::read::ZlibDecoder::new(packed.as_slice())
        .take(MAX_OBJECT_TEXT)
        .read_to_end(&mut utf16)
        .map_err(|e| invalid(path, format!("the metadata section at byte {} does not inflate ({e})", section.data)))?;
    let units: Vec<u16> = utf16.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect();
    let text: String = char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let (Some(tags), Some(values)) = (lines.get(2), lines.get(3)) else {
        return Err(invalid(path, format!("the metadata section at byte {} has no tag and value lines", section.data)));
    };
    // Escaped line feed, carriage return and tab inside a value.
    let unescape = |v: &str| v.replace('\u{1}', "\n").replace('\u{2}', "\r").replace('\u{3}', "\t");
    Ok(tags.split('\t').zip(values.split('\t')).map(|(t, v)| (t.to_string(), unescape(v))).collect())
}

fn utc(seconds: &str) -> Option<String> {
    let seconds: i64 = seconds.trim().parse().ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

impl Ewf2Set {
    /// Checks every segment of the set (in order) as the module doc says.
    pub fn check(segments: &[PathBuf], files: &[File]) -> io::Result<Ewf2Set> {
        let mut set = Ewf2Set { paths: segments.to_vec(), ..Ewf2Set::default() };
        for (index, (path, file)) in segments.iter().zip(files).enumerate() {
            let found = sections(file, path)?;
            let last = index + 1 == segments.len();
            match (found.last().map(|s| s.kind), last) {
                (Some(DONE), true) | (Some(NEXT), false) => {}
                (Some(NEXT), true) => {
                    let missing = super::ewf::next_segment_name(&segments[0], segments.len() + 1)
                        .unwrap_or_else(|| "the next segment".to_string());
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!(
                            "{}: incomplete EWF set: {} ends with a `next` section but {missing} is missing; put every segment (.Ex01, .Ex02, …) in the same folder",
                            segments[0].display(),
                            path.display()
                        ),
                    ));
                }
                (Some(DONE), false) => {
                    return Err(invalid(path, "it ends with a `done` section but more segments follow".to_string()));
                }
                _ => {
                    return Err(invalid(
                        path,
                        "it ends with neither a `done` nor a `next` section (truncated while written?)".to_string(),
                    ));
                }
            }
            for section in &found {
                match section.kind {
                    SECTOR_TABLE => set.sector_table(file, path, index, section)?,
                    DEVICE_INFORMATION if index == 0 => {
                        for (tag, value) in serialized_object(file, path, section)? {
                            match tag.as_str() {
                                "bp" => set.bytes_per_sector = value.trim().parse().ok(),
                                "ts" => set.sectors = value.trim().parse().ok(),
                                _ => {}
                            }
                        }
                    }
                    CASE_DATA if index == 0 => {
                        for (tag, value) in serialized_object(file, path, section)? {
                            let text = || Some(value.clone()).filter(|v| !v.trim().is_empty());
                            match tag.as_str() {
                                "sb" => set.sectors_per_chunk = value.trim().parse().ok(),
                                "nm" => set.description = text(),
                                "os" => set.os = text(),
                                "tt" => set.target_time = utc(&value),
                                "at" => set.actual_time = utc(&value),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(set)
    }

    fn sector_table(&mut self, file: &File, path: &Path, segment: usize, section: &Section) -> io::Result<()> {
        let at = section.data;
        if section.size < 36 {
            return Err(invalid(path, format!("the sector table at byte {at} is {} bytes, too short", section.size)));
        }
        let header = read_at(file, path, at, 20)?;
        if adler32(&header[..16]) != le_u32(&header, 16) {
            return Err(invalid(path, format!("the sector table header at byte {at} fails its checksum")));
        }
        let first = le_u64(&header, 0);
        let count = u64::from(le_u32(&header, 8));
        if count > MAX_TABLE_ENTRIES || 32 + count * 16 + 4 > section.size {
            return Err(invalid(
                path,
                format!("the sector table at byte {at} claims {count} entries, more than it holds"),
            ));
        }
        if first != self.chunks {
            return Err(invalid(
                path,
                format!(
                    "the sector table at byte {at} starts at chunk {first}, the previous tables end at {}",
                    self.chunks
                ),
            ));
        }
        let entries = read_at(file, path, at + 32, count * 16 + 4)?;
        let (entries, checksum) = entries.split_at(entries.len() - 4);
        if adler32(entries) != le_u32(checksum, 0) {
            return Err(invalid(path, format!("the sector table entries at byte {} fail their checksum", at + 32)));
        }
        let file_len = file.metadata()?.len();
        for (number, entry) in entries.chunks_exact(16).enumerate() {
            let flags = le_u32(entry, 12);
            let size = u64::from(le_u32(entry, 8));
            let chunk = first + number as u64;
            if flags & COMPRESSED != 0 && flags & PATTERN_FILL != 0 {
                // EnCase does not write them (the specification says so); the crate would
                // inflate an empty chunk instead of repeating the pattern.
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "{}: Ex01 chunk {chunk} is a pattern fill, which the `ewf` crate cannot read; convert the set with `ewfexport -f raw` and scan the raw image",
                        path.display()
                    ),
                ));
            }
            // Every chunk inside its segment file: the crate allocates a chunk's stored size
            // before it reads it.
            let offset = le_u64(entry, 0);
            if offset.checked_add(size).is_none_or(|end| end > file_len) {
                return Err(invalid(
                    path,
                    format!("chunk {chunk} ({size} bytes at byte {offset}) lies past the end of the file (truncated?)"),
                ));
            }
            if flags & COMPRESSED == 0 && flags & CHECKSUMED != 0 {
                let Some(len) = size.checked_sub(4) else {
                    return Err(invalid(
                        path,
                        format!("stored chunk {chunk} is {size} bytes, without room for its checksum"),
                    ));
                };
                self.stored.insert(chunk, StoredChunk { segment, offset, len, checked: false });
            }
        }
        self.chunks += count;
        Ok(())
    }

    /// Checks, once each, the stored chunks among `chunks` (chunk numbers) against the Adler-32
    /// that follows each in its segment; `chunk` gives a chunk's bytes as the crate decodes it.
    pub fn check_stored_chunks(
        &mut self,
        files: &[File],
        chunk_size: u64,
        chunks: std::ops::RangeInclusive<u64>,
        mut chunk: impl FnMut(u64, usize) -> io::Result<Vec<u8>>,
    ) -> io::Result<()> {
        let wanted: Vec<u64> = self.stored.range(chunks).filter(|(_, c)| !c.checked).map(|(n, _)| *n).collect();
        for number in wanted {
            let Some(stored) = self.stored.get(&number).copied() else { continue };
            let (Some(file), Some(path)) = (files.get(stored.segment), self.paths.get(stored.segment)) else {
                continue;
            };
            if stored.len > chunk_size {
                return Err(invalid(path, format!("stored chunk {number} is {} bytes, more than a chunk", stored.len)));
            }
            let checksum = stored
                .offset
                .checked_add(stored.len)
                .ok_or_else(|| invalid(path, format!("stored chunk {number} lies past the end of the file")))?;
            let checksum = read_at(file, path, checksum, 4)?;
            let len = usize::try_from(stored.len).map_err(|_| invalid(path, format!("stored chunk {number}")))?;
            let bytes = chunk(number, len)?;
            if bytes.len() != len || adler32(&bytes) != le_u32(&checksum, 0) {
                return Err(invalid(
                    path,
                    format!("stored chunk {number} (at byte {}) fails its checksum", stored.offset),
                ));
            }
            if let Some(c) = self.stored.get_mut(&number) {
                c.checked = true;
            }
        }
        Ok(())
    }
}
