//! ZIP members through the `zip` crate (MIT; the zip-rs project, fuzzed upstream with
//! cargo-fuzz targets for reading, and the reader behind cargo's own crate handling tools;
//! already used by this project's test suite). It reads sizes and CRCs from the central
//! directory, which is what Velociraptor's streamed ZIPs need: their local headers carry sizes
//! of 0 with data descriptors after the data. What the crate does not bound is checked here:
//! the member count the end record claims (before the crate sizes a vector by it), each
//! member's size, and its expansion ratio.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use ::zip::result::ZipError;
use ::zip::ZipArchive;

use crate::archive::{member_name, ArchiveError, Index, Location, MemberName, MemberReader, MAX_ENTRIES};
use crate::source::{EntryKind, FileProblem};

/// No real member expands more than this (hives compress about 3:1 to 20:1, a mostly empty
/// one maybe 100:1); deflate allows up to 1032:1, which zip bombs use.
pub const MAX_EXPANSION: u64 = 250;
/// Members smaller than this are not held to the ratio (a tiny compressed run of zeros is
/// harmless).
const RATIO_FREE_SIZE: u64 = 1 << 20;
/// A central-directory header is at least 46 bytes.
const MIN_CENTRAL_HEADER: u64 = 46;

fn damaged(detail: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Damaged { format: "ZIP archive", detail: detail.to_string() }
}

/// The member count and central-directory size the end records claim, checked against the
/// file's length before the `zip` crate allocates for them; returns the count.
fn check_end_record(file: &mut File, len: u64) -> Result<u64, ArchiveError> {
    let tail_len = len.min(65_557);
    let mut tail = vec![0u8; tail_len as usize];
    file.seek(SeekFrom::Start(len - tail_len))?;
    file.read_exact(&mut tail)?;
    let Some(at) = tail.windows(4).rposition(|w| w == b"PK\x05\x06") else {
        return Err(damaged("no end-of-central-directory record (the file is truncated or not a ZIP)"));
    };
    let record = &tail[at..];
    if record.len() < 22 {
        return Err(damaged("end-of-central-directory record cut off"));
    }
    let u16_at = |o: usize| u16::from_le_bytes([record[o], record[o + 1]]) as u64;
    let mut count = u16_at(10);
    if count == 0xffff && at >= 20 && &tail[at - 20..at - 16] == b"PK\x06\x07" {
        // ZIP64: the locator before the end record points at the ZIP64 end record.
        let locator = &tail[at - 20..at];
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&locator[8..16]);
        let offset = u64::from_le_bytes(offset);
        if offset.saturating_add(56) > len {
            return Err(damaged("the ZIP64 end record lies past the end of the file"));
        }
        let mut record64 = [0u8; 56];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut record64)?;
        let mut total = [0u8; 8];
        total.copy_from_slice(&record64[32..40]);
        count = u64::from_le_bytes(total);
    }
    if count.saturating_mul(MIN_CENTRAL_HEADER) > len {
        return Err(damaged(format!(
            "the end record claims {count} members, more than a file of {len} bytes can hold"
        )));
    }
    if count > MAX_ENTRIES as u64 {
        return Err(ArchiveError::TooMany(format!(
            "ZIP archive with {count} members: more than the {MAX_ENTRIES} read (split the collection)"
        )));
    }
    Ok(count)
}

/// The name of each central-directory entry from `start`, as this module reads names
/// ([`crate::source::name_text`] of the stored bytes, or of the Info-ZIP Unicode Path field
/// when there is one, as the crate takes it). Walked only when the crate holds fewer members
/// than the end record counts; reads stop at `count` entries or the first damaged header.
fn central_directory_names(file: &mut File, start: u64, count: u64) -> io::Result<Vec<String>> {
    file.seek(SeekFrom::Start(start))?;
    let mut reader = io::BufReader::new(file);
    let mut names = Vec::new();
    for _ in 0..count {
        let mut header = [0u8; MIN_CENTRAL_HEADER as usize];
        reader.read_exact(&mut header)?;
        if &header[..4] != b"PK\x01\x02" {
            break;
        }
        let u16_at = |o: usize| u16::from_le_bytes([header[o], header[o + 1]]) as usize;
        // At most 64 KiB each: the lengths are 16-bit fields.
        let mut name = vec![0u8; u16_at(28)];
        let mut extra = vec![0u8; u16_at(30)];
        reader.read_exact(&mut name)?;
        reader.read_exact(&mut extra)?;
        io::copy(&mut (&mut reader).take(u16_at(32) as u64), &mut io::sink())?;
        names.push(crate::source::name_text(unicode_path(&extra).unwrap_or(&name)).0);
    }
    Ok(names)
}

/// The UTF-8 name of an Info-ZIP Unicode Path extra field (0x7075, version 1), if any.
fn unicode_path(extra: &[u8]) -> Option<&[u8]> {
    let mut rest = extra;
    while rest.len() >= 4 {
        let id = u16::from_le_bytes([rest[0], rest[1]]);
        let size = u16::from_le_bytes([rest[2], rest[3]]) as usize;
        let body = rest.get(4..4 + size)?;
        if id == 0x7075 && body.first() == Some(&1) && body.len() >= 5 {
            return Some(&body[5..]);
        }
        rest = &rest[4 + size..];
    }
    None
}

pub(crate) struct ZipMembers {
    archive: ZipArchive<File>,
    /// The archive's length: no member's compressed bytes can be more.
    len: u64,
}

pub(crate) fn open(path: &Path) -> Result<(Index, ZipMembers), ArchiveError> {
    let (mut file, meta) = crate::input::open_regular(path)?;
    let count = check_end_record(&mut file, meta.len())?;
    file.seek(SeekFrom::Start(0))?;
    // A second handle on the same read-only open, for the directory walk below.
    let mut walker = file.try_clone()?;
    let mut archive = ZipArchive::new(file).map_err(damaged)?;
    let mut index = Index::default();
    let mut names = Vec::with_capacity(archive.len());
    for number in 0..archive.len() {
        let member = archive.by_index_raw(number).map_err(|e| damaged(format!("member {number}: {e}")))?;
        let kind = if member.is_dir() {
            EntryKind::Directory
        } else if member.is_symlink() {
            EntryKind::Other
        } else {
            EntryKind::File
        };
        // The name from the stored bytes, not the crate's: it decodes a name flagged UTF-8
        // lossily (each invalid byte U+FFFD, so two names can read as one) and an unflagged
        // one as CP437, while writers without the flag mostly store UTF-8 or the Windows code
        // page. Read as tar members and host files are read (UTF-8 kept, any other byte %XX),
        // the same collection gets the same labels however it was packed, and nothing merges.
        // (The Info-ZIP Unicode Path field, when present, is already in `name_raw`.)
        let (name, utf8) = crate::source::name_text(member.name_raw());
        if !utf8 {
            if let MemberName::Inside(components) = member_name(&name) {
                index.not_utf8.push(components.join("/"));
            }
        }
        index.add(&name, kind, member.size(), member.compressed_size(), Location::Zip(number));
        names.push(name);
    }
    if (archive.len() as u64) < count {
        note_hidden_members(&mut walker, archive.central_directory_start(), count, names, &mut index)?;
    }
    Ok((index, ZipMembers { archive, len: meta.len() }))
}

/// The `zip` crate keeps one member per name (as it decodes the name: lossy UTF-8 or CP437),
/// the last one stored, so members sharing a name, or whose names differ only in bytes that
/// are not UTF-8, are not in its list at all. Each is found here in the central directory and
/// listed as not read, so that an archive never hides a member silently.
fn note_hidden_members(
    file: &mut File,
    start: u64,
    count: u64,
    listed: Vec<String>,
    index: &mut Index,
) -> Result<(), ArchiveError> {
    let stored = central_directory_names(file, start, count)?;
    let mut remaining: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for name in listed {
        *remaining.entry(name).or_default() += 1;
    }
    // The crate keeps the last copy of each name, so the earlier ones are the hidden ones:
    // walk the directory from its end.
    for name in stored.iter().rev() {
        match remaining.get_mut(name) {
            Some(left) if *left > 0 => *left -= 1,
            _ => index.note(
                name,
                "a member the ZIP reader cannot tell apart from a later one of the same name (or of a name differing \
                 only in bytes that are not UTF-8): only the later one is read; this one is listed, not read"
                    .to_string(),
            ),
        }
    }
    Ok(())
}

fn problem(error: ZipError) -> FileProblem {
    match error {
        ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED) | ZipError::InvalidPassword => FileProblem::Encrypted,
        ZipError::UnsupportedArchive(what) => FileProblem::Io(format!("ZIP member not readable: {what}")),
        other => FileProblem::Io(format!("damaged ZIP member: {other}")),
    }
}

impl MemberReader for ZipMembers {
    fn read_member(
        &mut self,
        location: Location,
        size: u64,
        compressed: u64,
        limit: u64,
    ) -> Result<Vec<u8>, FileProblem> {
        let Location::Zip(number) = location else { return Err(FileProblem::NoData) };
        if size > limit {
            return Err(FileProblem::TooLarge { size, limit });
        }
        // The central directory's compressed size bounds the expansion check below and so
        // what is allocated for the member: it must fit in the archive first.
        if compressed > self.len {
            return Err(FileProblem::Io(format!(
                "damaged ZIP member: the central directory says it has {compressed} compressed bytes, more than the \
                 {} bytes of the whole archive",
                self.len
            )));
        }
        if size > RATIO_FREE_SIZE && size > compressed.saturating_mul(MAX_EXPANSION) {
            return Err(FileProblem::Io(format!(
                "ZIP member would expand {compressed} bytes to {size} (more than {MAX_EXPANSION}:1): refused as a likely zip bomb"
            )));
        }
        let member = self.archive.by_index(number).map_err(problem)?;
        let len = usize::try_from(size).map_err(|_| FileProblem::OutOfMemory(size))?;
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|_| FileProblem::OutOfMemory(size))?;
        // One byte more than declared shows a member that decompresses to more than the
        // central directory says; the crate checks the CRC at the end.
        member
            .take(size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| FileProblem::Io(format!("damaged ZIP member: {e}")))?;
        if bytes.len() as u64 != size {
            return Err(FileProblem::Io(format!(
                "damaged ZIP member: decompresses to {}{} bytes, the central directory says {size}",
                bytes.len(),
                if bytes.len() as u64 > size { "+" } else { "" }
            )));
        }
        Ok(bytes)
    }
}
