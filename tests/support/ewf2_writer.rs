//! A small Ex01 (EWF2, EnCase 7) writer for the tests of the EWF reader (tests/ex01.rs), written
//! from Joachim Metz's "Expert Witness Compression Format 2 (EWF2)" (libewf documentation,
//! version 0.0.9), not from the `ewf` crate under test, so that reading what it writes is an
//! independent check. No tool available here writes Ex01 (ewfacquire 20140813 falls back to
//! E01) and the crate has no writer.
//!
//! What it writes, per segment (`.Ex01`, `.Ex02`), as the specification places it:
//! - the 32-byte file header (`EVF2\r\n\x81\0`, version 2.1, compression method 1 = zlib,
//!   segment number, set identifier);
//! - sections, each its data (padded to 16 bytes) followed by its 64-byte descriptor (type,
//!   data flags, offset of the previous section's descriptor or 0, data size including the
//!   padding, descriptor size, padding size, integrity hash left unset, Adler-32 of the first
//!   60 bytes): device information, case data (both a zlib-compressed UTF-16LE serialized
//!   object with its byte-order mark), then pairs of sector data (chunks 16-byte aligned:
//!   zlib-compressed ones flagged COMPRESSED, stored ones followed by their Adler-32 and
//!   flagged CHECKSUMED, the size including it) and sector table (20-byte header with first
//!   chunk, count and Adler-32, 12 bytes of padding, 16-byte entries with the chunk's offset in
//!   the segment file, size and flags, a 4-byte Adler-32 of the entries);
//! - in the last segment MD5 hash (16 bytes + Adler-32) and SHA-1 hash (20 bytes + Adler-32) of
//!   the whole disk, then `done`; in the others `next`.
//!
//! Where the specification leaves a choice, the choice is said at the line that makes it.

use md5::Digest as _;

pub const DEVICE_INFORMATION: u32 = 0x01;
pub const CASE_DATA: u32 = 0x02;
pub const SECTOR_DATA: u32 = 0x03;
pub const SECTOR_TABLE: u32 = 0x04;
pub const MD5_HASH: u32 = 0x08;
pub const SHA1_HASH: u32 = 0x09;
pub const NEXT: u32 = 0x0d;
pub const DONE: u32 = 0x0f;

pub const FILE_HEADER_SIZE: usize = 32;
pub const DESCRIPTOR_SIZE: usize = 64;
pub const SECTOR_SIZE: usize = 512;

/// Chunk data flags of a sector table entry.
pub const COMPRESSED: u32 = 0x1;
pub const CHECKSUMED: u32 = 0x2;

/// Adler-32 (RFC 1950), computed here rather than by a crate the reader also uses.
pub fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in bytes {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// The case metadata EnCase asks the examiner for (the case data section's `cn`, `en`, `ex`,
/// `nm`, `nt`), the acquiring software and OS (`av`, `os`) and the acquisition time (`tt`,
/// seconds since 1970 UTC).
#[derive(Clone, Debug)]
pub struct CaseData {
    pub case_number: String,
    pub evidence_number: String,
    pub examiner: String,
    pub description: String,
    pub notes: String,
    pub software: String,
    pub os: String,
    pub acquired: u32,
}

impl Default for CaseData {
    fn default() -> CaseData {
        CaseData {
            case_number: "CASE-2026-0412".to_string(),
            evidence_number: "EV-7".to_string(),
            examiner: "J. Analyst".to_string(),
            description: "laptop system volume".to_string(),
            notes: "seized at desk 4".to_string(),
            software: "7.04".to_string(),
            os: "Windows 7".to_string(),
            acquired: 1_795_000_000,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    /// EnCase offers 64 to 1024 sectors per chunk; 64 is its default.
    pub sectors_per_chunk: usize,
    /// Chunks per sector data section (each followed by its own sector table).
    pub chunks_per_table: usize,
    /// 1 or more segment files, the chunks shared out evenly.
    pub segments: usize,
    /// Every `store_every`-th chunk is stored uncompressed with its Adler-32 (EnCase stores a
    /// chunk that does not shrink); 0 for none.
    pub store_every: usize,
    pub case: CaseData,
}

impl Default for Options {
    fn default() -> Options {
        Options { sectors_per_chunk: 64, chunks_per_table: 48, segments: 1, store_every: 3, case: CaseData::default() }
    }
}

/// Where a section landed, for the tests that damage one.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    pub segment: usize,
    pub kind: u32,
    pub data: usize,
    pub data_size: usize,
    pub descriptor: usize,
}

pub struct Ex01 {
    pub segments: Vec<Vec<u8>>,
    pub sections: Vec<Section>,
    pub md5: [u8; 16],
    pub sha1: [u8; 20],
    pub compressed_chunks: usize,
    pub stored_chunks: usize,
}

impl Ex01 {
    pub fn section(&self, kind: u32) -> Section {
        *self.sections.iter().find(|s| s.kind == kind).unwrap()
    }
}

/// A serialized file object (the format of device information and case data): the object
/// count, the object name `main`, a line of tab-separated tags, a line of values, an empty
/// line; line feeds as delimiters; UTF-16LE with its byte-order mark; zlib-compressed (the
/// file header's compression method).
fn serialized_object(pairs: &[(&str, String)]) -> Vec<u8> {
    let tags: Vec<&str> = pairs.iter().map(|(t, _)| *t).collect();
    let values: Vec<String> =
        pairs.iter().map(|(_, v)| v.replace('\n', "\u{1}").replace('\r', "\u{2}").replace('\t', "\u{3}")).collect();
    let text = format!("1\nmain\n{}\n{}\n\n", tags.join("\t"), values.join("\t"));
    let mut utf16 = vec![0xff, 0xfe];
    for unit in text.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    zlib(&utf16)
}

struct Segment {
    bytes: Vec<u8>,
    /// Offset of the last section's descriptor, 0 before the first.
    previous: u64,
}

impl Segment {
    fn new(number: u32, set_id: [u8; 16]) -> Segment {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"EVF2\r\n\x81\0");
        bytes.push(2); // major version
        bytes.push(1); // minor version
        bytes.extend_from_slice(&1u16.to_le_bytes()); // compression method: zlib
        bytes.extend_from_slice(&number.to_le_bytes());
        bytes.extend_from_slice(&set_id);
        assert_eq!(bytes.len(), FILE_HEADER_SIZE);
        Segment { bytes, previous: 0 }
    }

    /// Appends `data`, pads it to 16 bytes and writes its descriptor after it.
    fn section(&mut self, segment: usize, kind: u32, data: &[u8], sections: &mut Vec<Section>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.close(segment, kind, start, sections);
    }

    /// Pads what was written since `start` to 16 bytes and writes its descriptor.
    fn close(&mut self, segment: usize, kind: u32, start: usize, sections: &mut Vec<Section>) {
        let padding = (16 - (self.bytes.len() - start) % 16) % 16;
        self.bytes.resize(self.bytes.len() + padding, 0);
        let data_size = self.bytes.len() - start;
        let descriptor = self.bytes.len();
        let mut d = Vec::with_capacity(DESCRIPTOR_SIZE);
        d.extend_from_slice(&kind.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes()); // data flags: no integrity hash, not encrypted
                                                  // "Previous section offset": taken as the previous section's descriptor, the only
                                                  // offset a reader going back to front can use; 0 for the first section.
        d.extend_from_slice(&self.previous.to_le_bytes());
        d.extend_from_slice(&(data_size as u64).to_le_bytes()); // includes the padding
        d.extend_from_slice(&(DESCRIPTOR_SIZE as u32).to_le_bytes());
        d.extend_from_slice(&(padding as u32).to_le_bytes());
        d.extend_from_slice(&[0; 16]); // integrity hash, unset (MD5HASHED flag clear)
        d.extend_from_slice(&[0; 12]);
        let checksum = adler32(&d);
        d.extend_from_slice(&checksum.to_le_bytes());
        self.bytes.extend_from_slice(&d);
        self.previous = descriptor as u64;
        sections.push(Section { segment, kind, data: start, data_size, descriptor });
    }
}

/// Writes `disk` (a whole number of sectors) as an Ex01 set.
pub fn write(disk: &[u8], options: &Options) -> Ex01 {
    assert_eq!(disk.len() % SECTOR_SIZE, 0);
    let chunk_size = options.sectors_per_chunk * SECTOR_SIZE;
    let chunks: Vec<&[u8]> = disk.chunks(chunk_size).collect();
    let md5: [u8; 16] = md5::Md5::digest(disk).into();
    let sha1: [u8; 20] = sha1::Sha1::digest(disk).into();
    let set_id = *b"\x3c\x1a\x5e\x90\x12\x7f\x44\x4b\x9b\x02\x6d\x51\xe8\x30\xa7\x11";
    let case = &options.case;
    let sectors = disk.len() / SECTOR_SIZE;
    let device = serialized_object(&[
        ("sn", "WD-WCC4E0123456".to_string()),
        ("md", "WDC WD5000AAKX".to_string()),
        ("lb", String::new()),
        ("ts", sectors.to_string()),
        ("hs", "0".to_string()),
        ("dc", "0".to_string()),
        ("dt", "f".to_string()),
        ("pid", String::new()),
        ("rs", "0".to_string()),
        ("ls", "0".to_string()),
        ("bp", SECTOR_SIZE.to_string()),
        ("ph", "1".to_string()),
    ]);
    let case_data = serialized_object(&[
        ("nm", case.description.clone()),
        ("cn", case.case_number.clone()),
        ("en", case.evidence_number.clone()),
        ("ex", case.examiner.clone()),
        ("nt", case.notes.clone()),
        ("av", case.software.clone()),
        ("os", case.os.clone()),
        ("tt", case.acquired.to_string()),
        ("at", case.acquired.to_string()),
        ("tb", chunks.len().to_string()),
        ("cp", "1".to_string()),
        ("sb", options.sectors_per_chunk.to_string()),
        ("gr", options.sectors_per_chunk.to_string()),
        ("wb", String::new()),
    ]);

    let per_segment = chunks.len().div_ceil(options.segments.max(1));
    let mut sections = Vec::new();
    let mut segments = Vec::new();
    let (mut compressed_chunks, mut stored_chunks) = (0, 0);
    for number in 0..options.segments.max(1) {
        let mut segment = Segment::new(number as u32 + 1, set_id);
        // Device information and case data in every segment file, in this order.
        segment.section(number, DEVICE_INFORMATION, &device, &mut sections);
        segment.section(number, CASE_DATA, &case_data, &mut sections);
        let first = (number * per_segment).min(chunks.len());
        let last = ((number + 1) * per_segment).min(chunks.len());
        for table_start in (first..last).step_by(options.chunks_per_table.max(1)) {
            let table_end = (table_start + options.chunks_per_table.max(1)).min(last);
            let start = segment.bytes.len();
            let mut entries = Vec::new();
            for (index, &chunk) in chunks.iter().enumerate().take(table_end).skip(table_start) {
                let store = options.store_every > 0 && index % options.store_every == 1;
                let at = segment.bytes.len();
                let (size, flags) = if store {
                    segment.bytes.extend_from_slice(chunk);
                    segment.bytes.extend_from_slice(&adler32(chunk).to_le_bytes());
                    stored_chunks += 1;
                    // The size includes the Adler-32 that follows the chunk.
                    (chunk.len() + 4, CHECKSUMED)
                } else {
                    let packed = zlib(chunk);
                    segment.bytes.extend_from_slice(&packed);
                    compressed_chunks += 1;
                    (packed.len(), COMPRESSED)
                };
                // Each chunk 16-byte aligned.
                let padded = segment.bytes.len().next_multiple_of(16);
                if index + 1 < table_end {
                    segment.bytes.resize(padded, 0);
                }
                entries.push((at as u64, size as u32, flags));
            }
            segment.close(number, SECTOR_DATA, start, &mut sections);

            let mut table = Vec::new();
            table.extend_from_slice(&(table_start as u64).to_le_bytes());
            table.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
            let header_checksum = adler32(&table);
            table.extend_from_slice(&header_checksum.to_le_bytes());
            table.extend_from_slice(&[0; 12]);
            let entries_start = table.len();
            for (offset, size, flags) in &entries {
                table.extend_from_slice(&offset.to_le_bytes());
                table.extend_from_slice(&size.to_le_bytes());
                table.extend_from_slice(&flags.to_le_bytes());
            }
            let entries_checksum = adler32(&table[entries_start..]);
            table.extend_from_slice(&entries_checksum.to_le_bytes());
            segment.section(number, SECTOR_TABLE, &table, &mut sections);
        }
        if number + 1 == options.segments.max(1) {
            let mut hash = md5.to_vec();
            hash.extend_from_slice(&adler32(&md5).to_le_bytes());
            segment.section(number, MD5_HASH, &hash, &mut sections);
            let mut hash = sha1.to_vec();
            hash.extend_from_slice(&adler32(&sha1).to_le_bytes());
            segment.section(number, SHA1_HASH, &hash, &mut sections);
            segment.section(number, DONE, &[], &mut sections);
        } else {
            segment.section(number, NEXT, &[], &mut sections);
        }
        segments.push(segment.bytes);
    }
    Ex01 { segments, sections, md5, sha1, compressed_chunks, stored_chunks }
}
