//! tar members through the `tar` crate (MIT OR Apache-2.0; the tar reader of cargo and
//! rustup, with a test suite of real archives from GNU tar, bsdtar and PAX writers), plain or
//! in a gzip stream (`flate2`, the zlib binding Rust tools share). Headers are walked raw:
//! GNU long names and PAX paths are read here with a bound, because the crate reads them whole
//! into memory whatever size the header claims. A plain tar member is served straight from
//! the file (nothing is copied); a gzip stream is read to its end once when opened (so its CRC
//! is checked), then walked again up to a member when it is read, each walk bounded by an
//! expansion ratio (a gzip bomb stops with an error).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::archive::{member_name, ArchiveError, Index, Location, MemberName, MemberReader, MAX_ENTRIES};
use crate::source::host::HostFile;
use crate::source::{BlockSource, EntryKind, FileProblem, Slice, SliceOf};

/// A long name or a PAX header is a few hundred bytes; more is not a name.
const MAX_NAME_RECORD: u64 = 64 << 10;
/// A gzip-compressed tar decompresses to at most this many times its size, plus a floor for
/// small archives of mostly empty hives.
const MAX_GZIP_EXPANSION: u64 = 250;
const GZIP_FLOOR: u64 = 256 << 20;

/// True when `head` starts with a tar header: the `ustar` magic, or a v7 header whose
/// checksum adds up.
pub fn is_tar_header(head: &[u8]) -> bool {
    let Some(block) = head.get(..512) else { return false };
    if &block[257..262] == b"ustar" {
        return true;
    }
    // v7 tar: no magic, only the checksum over the header with its own field as spaces.
    let field = &block[148..156];
    let digits: String = field.iter().take_while(|b| **b != 0 && **b != b' ').map(|b| *b as char).collect::<String>();
    let Ok(stored) = u32::from_str_radix(digits.trim(), 8) else { return false };
    let sum: u32 = block.iter().enumerate().map(|(i, b)| if (148..156).contains(&i) { 32 } else { *b as u32 }).sum();
    block[0] != 0 && stored == sum
}

/// Bounds what a decompressed stream may produce.
struct Bounded<R> {
    inner: R,
    remaining: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 && !buf.is_empty() {
            return Err(io::Error::other(format!(
                "the gzip stream expands more than {MAX_GZIP_EXPANSION}:1: refused as a likely gzip bomb"
            )));
        }
        // Arithmetic only: a budget beyond the address space bounds nothing a buffer can hold.
        let wanted = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..wanted])?;
        self.remaining -= read as u64;
        Ok(read)
    }
}

fn gzip_stream(path: &Path) -> io::Result<Bounded<MultiGzDecoder<File>>> {
    let (file, meta) = crate::input::open_regular(path)?;
    let remaining = meta.len().saturating_mul(MAX_GZIP_EXPANSION).max(GZIP_FLOOR);
    Ok(Bounded { inner: MultiGzDecoder::new(file), remaining })
}

/// True when the gzip file at `path` holds a tar (its first decompressed block is a header).
pub fn gzip_holds_tar(path: &Path) -> bool {
    let Ok(stream) = gzip_stream(path) else { return false };
    let mut block = Vec::with_capacity(512);
    stream.take(512).read_to_end(&mut block).is_ok() && is_tar_header(&block)
}

fn damaged(gzip: bool, detail: impl std::fmt::Display) -> ArchiveError {
    let format = if gzip { "gzip-compressed tar archive" } else { "tar archive" };
    ArchiveError::Damaged { format, detail: detail.to_string() }
}

/// What a PAX header says about the member after it.
#[derive(Default)]
struct PaxRecords {
    /// The raw `path` record.
    path: Option<Vec<u8>>,
    has_size: bool,
    /// Why the records could not all be read: the member's name is then uncertain.
    damage: Option<String>,
}

fn pax_records(records: &[u8]) -> PaxRecords {
    let mut pax = PaxRecords::default();
    for (number, extension) in ::tar::PaxExtensions::new(records).enumerate() {
        let extension = match extension {
            Ok(extension) => extension,
            Err(error) => {
                // The records are length-prefixed: past a bad one nothing can be trusted.
                pax.damage = Some(format!("record {} of its PAX header cannot be read ({error})", number + 1));
                break;
            }
        };
        match extension.key() {
            Ok("path") => pax.path = Some(extension.value_bytes().to_vec()),
            Ok("size") => pax.has_size = true,
            // Other keys (times, owners, `linkpath`, vendor keys) do not change what is read,
            // and a key that is not UTF-8 is none of `path` or `size`.
            _ => {}
        }
    }
    pax
}

fn read_name_record(entry: &mut impl Read, size: u64, gzip: bool) -> Result<Vec<u8>, ArchiveError> {
    if size > MAX_NAME_RECORD {
        return Err(damaged(
            gzip,
            format!("a long-name or PAX header of {size} bytes (at most {MAX_NAME_RECORD} read)"),
        ));
    }
    let mut bytes = Vec::new();
    entry.take(size).read_to_end(&mut bytes).map_err(|e| damaged(gzip, e))?;
    Ok(bytes)
}

/// Walks every header of the archive in `reader`.
fn index_of(reader: impl Read, gzip: bool) -> Result<Index, ArchiveError> {
    let mut archive = ::tar::Archive::new(reader);
    let mut index = Index::default();
    // The name the next member takes from a GNU long-name or PAX header, raw.
    let mut long_name: Option<Vec<u8>> = None;
    let mut pax_damage: Option<String> = None;
    let entries = archive.entries().map_err(|e| damaged(gzip, e))?.raw(true);
    for (ordinal, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| damaged(gzip, e))?;
        if index.count() >= MAX_ENTRIES {
            return Err(ArchiveError::TooMany(format!(
                "tar archive with more than {MAX_ENTRIES} members (split the collection)"
            )));
        }
        let entry_type = entry.header().entry_type();
        let size = entry.size();
        if entry_type.is_gnu_longname() {
            let mut bytes = read_name_record(&mut entry, size, gzip)?;
            while bytes.last() == Some(&0) {
                bytes.pop();
            }
            long_name = Some(bytes);
            continue;
        }
        if entry_type.is_pax_local_extensions() {
            let bytes = read_name_record(&mut entry, size, gzip)?;
            let pax = pax_records(&bytes);
            if pax.has_size {
                return Err(damaged(gzip, "a member larger than 8 GiB (PAX size record): not read"));
            }
            if pax.path.is_some() {
                long_name = pax.path;
            }
            pax_damage = pax.damage;
            continue;
        }
        if entry_type.is_pax_global_extensions() || entry_type.is_gnu_longlink() {
            read_name_record(&mut entry, size, gzip)?;
            continue;
        }
        let raw_name = long_name.take().unwrap_or_else(|| entry.path_bytes().into_owned());
        let (name, utf8) = crate::source::name_text(&raw_name);
        if let Some(damage) = pax_damage.take() {
            // The header that may rename this member is damaged: what it is called, and so
            // whether it is a hive, is not known. Listed, never read under a guessed name.
            index.note(&name, format!("{damage}: the member's name is uncertain, not read"));
            continue;
        }
        if !utf8 {
            if let MemberName::Inside(components) = member_name(&name) {
                index.not_utf8.push(components.join("/"));
            }
        }
        let kind = if entry_type.is_file() || entry_type.is_contiguous() {
            EntryKind::File
        } else if entry_type.is_dir() {
            EntryKind::Directory
        } else {
            EntryKind::Other
        };
        let location = if gzip { Location::TarGzip(ordinal) } else { Location::Tar(entry.raw_file_position()) };
        index.add(&name, kind, size, size, location);
    }
    Ok(index)
}

pub(crate) struct TarMembers {
    path: std::path::PathBuf,
    /// The plain tar, read-only; `None` for a gzip stream.
    file: Option<HostFile>,
}

pub(crate) fn open(path: &Path, gzip: bool) -> Result<(Index, TarMembers), ArchiveError> {
    let index = if gzip {
        let mut stream = gzip_stream(path)?;
        let index = index_of(&mut stream, true)?;
        // The gzip CRC is checked at the end of the stream, past the tar's end blocks: read
        // to it, so that a corrupt stream is an error, not hives with wrong bytes.
        io::copy(&mut stream, &mut io::sink()).map_err(|e| damaged(true, e))?;
        index
    } else {
        let (file, _) = crate::input::open_regular(path)?;
        index_of(io::BufReader::new(file), false)?
    };
    let file = if gzip {
        None
    } else {
        Some(HostFile::open(path).map_err(|e| ArchiveError::Io(io::Error::other(e.to_string())))?)
    };
    Ok((index, TarMembers { path: path.to_path_buf(), file }))
}

impl MemberReader for TarMembers {
    fn member_source(&mut self, location: Location, size: u64) -> Option<Box<dyn BlockSource + '_>> {
        match (location, self.file.as_mut()) {
            (Location::Tar(start), Some(file)) => Some(Box::new(Slice::new(file, start, size, SliceOf::MemberInTar))),
            _ => None,
        }
    }

    fn read_member(
        &mut self,
        location: Location,
        size: u64,
        _compressed: u64,
        limit: u64,
    ) -> Result<Vec<u8>, FileProblem> {
        let Location::TarGzip(wanted) = location else { return Err(FileProblem::NoData) };
        if size > limit {
            return Err(FileProblem::TooLarge { size, limit });
        }
        let io_problem = |e: io::Error| FileProblem::Io(format!("gzip-compressed tar archive: {e}"));
        let stream = gzip_stream(&self.path).map_err(io_problem)?;
        let mut archive = ::tar::Archive::new(stream);
        let entries = archive.entries().map_err(io_problem)?.raw(true);
        for (ordinal, entry) in entries.enumerate() {
            let entry = entry.map_err(io_problem)?;
            if ordinal != wanted {
                continue;
            }
            let len = usize::try_from(size).map_err(|_| FileProblem::OutOfMemory(size))?;
            let mut bytes = Vec::new();
            bytes.try_reserve_exact(len).map_err(|_| FileProblem::OutOfMemory(size))?;
            entry.take(size).read_to_end(&mut bytes).map_err(io_problem)?;
            if bytes.len() != len {
                return Err(FileProblem::Io(format!(
                    "gzip-compressed tar archive: the member ends after {} of its {size} bytes (truncated archive)",
                    bytes.len()
                )));
            }
            return Ok(bytes);
        }
        Err(FileProblem::Io(
            "gzip-compressed tar archive: the member is no longer where it was (the file changed?)".into(),
        ))
    }
}
