//! Files on an NTFS volume inside an image, through the `ntfs` crate, read-only.
//!
//! The crate reads NTFS structures faithfully but has three gaps this module closes:
//! - it returns wrong bytes, without an error, for NTFS-compressed (LZNT1) files and cannot
//!   decrypt EFS files, so the `$DATA` attribute flags are checked before every read and such
//!   files are refused with a message that says why;
//! - it follows index sub-nodes and data runs without a bound, so every operation runs on a
//!   read budget (see [`Budget`]);
//! - a corrupt volume can make it panic, so every call into it goes through
//!   [`guard::contain`], which turns a panic into an error for that file.

use std::io::{self, Read, Seek, SeekFrom};

use ntfs::indexes::NtfsFileNameIndex;
use ntfs::structured_values::{NtfsFileAttributeFlags, NtfsFileNamespace};
use ntfs::{Ntfs, NtfsAttributeFlags, NtfsFile};

use crate::image::source::{Budget, Slice, SliceOf};
use crate::load::guard;
pub use crate::source::FileProblem;
use crate::source::{BlockReader, BlockSource, DirEntry, EntryKind, FileTree, Metadata};

/// No cache here: the image from [`crate::image::source::open_image`] has one, kept from
/// discovery to the scan.
type Reader = Budget<BlockReader<Slice<Box<dyn BlockSource>>>>;

/// Budget for finding a file: a few index records per directory level, with a wide margin
/// for directories of tens of thousands of files (System32, WinSxS).
const LOOKUP_BUDGET: u64 = 256 << 20;
/// Extra budget for reading a file beyond its own size (data runs, attribute lists).
const READ_MARGIN: u64 = 64 << 20;

/// Why a volume could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeError {
    #[error(
        "BitLocker-encrypted volume: decrypt it first (with dislocker, or BitLocker on Windows) and scan the decrypted volume"
    )]
    BitLocker,
    #[error("not an NTFS volume ({0})")]
    NotNtfs(String),
    #[error("starts at byte {start}, after the end of the image ({image_len} bytes): the image is truncated")]
    BeyondEnd { start: u64, image_len: u64 },
    #[error("NTFS volume unreadable: {0}")]
    Ntfs(String),
}

fn ntfs_problem(error: impl std::fmt::Display) -> FileProblem {
    FileProblem::Ntfs(crate::messages::plain(&error.to_string()))
}

/// Best guess at the file system of a boot sector that is not NTFS, for messages.
fn file_system_guess(boot: &[u8]) -> &'static str {
    if boot.get(3..11) == Some(b"EXFAT   ") {
        "exFAT"
    } else if boot.get(82..87) == Some(b"FAT32") {
        "FAT32"
    } else if boot.get(54..57) == Some(b"FAT") {
        "FAT"
    } else if boot.get(3..7) == Some(b"ReFS") {
        "ReFS, which is not supported"
    } else if boot.get(1080..1082) == Some(&[0x53, 0xef][..]) {
        "ext2/3/4"
    } else if boot.iter().all(|&b| b == 0) {
        "empty: all zeros"
    } else {
        "unknown file system"
    }
}

/// An NTFS volume opened for reading.
pub struct NtfsVolume {
    name: String,
    ntfs: Ntfs,
    fs: Reader,
}

impl std::fmt::Debug for NtfsVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtfsVolume").field("name", &self.name).field("size", &self.ntfs.size()).finish()
    }
}

/// A file's `$DATA` as a block source.
struct DataReader<R> {
    inner: R,
    len: u64,
}

impl<R: Read + Seek> BlockSource for DataReader<R> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let wanted = buf.len().min(usize::try_from(self.len - offset).unwrap_or(usize::MAX));
        self.inner.seek(SeekFrom::Start(offset))?;
        self.inner.read_exact(&mut buf[..wanted])?;
        Ok(wanted)
    }
}

impl NtfsVolume {
    /// Opens the NTFS volume at `[start, start + len)` of the image; `name` is how messages
    /// and report paths call it (`disk.raw [partition 2]`).
    pub fn open(
        mut image: Box<dyn BlockSource>,
        start: u64,
        len: u64,
        name: String,
    ) -> Result<NtfsVolume, VolumeError> {
        if start >= image.len() {
            return Err(VolumeError::BeyondEnd { start, image_len: image.len() });
        }
        let mut boot = vec![0u8; 2048];
        let read = image.read_at(start, &mut boot).map_err(|e| VolumeError::Ntfs(e.to_string()))?;
        boot.truncate(read);
        match boot.get(3..11) {
            Some(b"NTFS    ") => {}
            Some(b"-FVE-FS-") => return Err(VolumeError::BitLocker),
            _ => return Err(VolumeError::NotNtfs(file_system_guess(&boot).to_string())),
        }
        // When the window reaches the end of the image (an image of one volume, or the last
        // partition of a cut image), let it run to the end the boot sector gives, so that a
        // read past the cut says "truncated" rather than looking like the end of the volume.
        let sector_size = boot.get(11..13).map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])));
        let sectors = boot.get(40..48).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes);
        let boot_size = sectors.checked_mul(sector_size).unwrap_or(0);
        let len = if start.saturating_add(len) >= image.len() { len.max(boot_size) } else { len };
        let mut fs = Budget::new(BlockReader::new(Slice::new(image, start, len, SliceOf::VolumeInImage)));
        fs.set(LOOKUP_BUDGET);
        let opened = guard::contain(|| -> Result<Ntfs, ntfs::NtfsError> {
            let mut ntfs = Ntfs::new(&mut fs)?;
            // Required before any name lookup (the crate panics without it).
            ntfs.read_upcase_table(&mut fs)?;
            Ok(ntfs)
        });
        match opened {
            Ok(Ok(ntfs)) => Ok(NtfsVolume { name, ntfs, fs }),
            Ok(Err(error)) => Err(VolumeError::Ntfs(crate::messages::plain(&error.to_string()))),
            Err(panic) => Err(VolumeError::Ntfs(format!("internal failure of the NTFS reader: {panic}"))),
        }
    }

    /// The image the volume was opened on, for opening another of its volumes.
    pub fn into_image(self) -> Box<dyn BlockSource> {
        self.fs.into_inner().into_inner().into_inner()
    }

    /// The volume's size as its boot sector gives it.
    pub fn size(&self) -> u64 {
        self.ntfs.size()
    }

    /// Runs `f` with the budget set and panics contained.
    fn run<T>(
        &mut self,
        budget: u64,
        f: impl FnOnce(&Ntfs, &mut Reader) -> Result<T, FileProblem>,
    ) -> Result<T, FileProblem> {
        self.fs.set(budget);
        let (ntfs, fs) = (&self.ntfs, &mut self.fs);
        match guard::contain(|| f(ntfs, fs)) {
            Ok(result) => result,
            Err(panic) => Err(FileProblem::Ntfs(format!("internal failure of the NTFS reader: {panic}"))),
        }
    }

    /// True when `path` (components, matched case-insensitively) is a directory.
    pub fn is_directory(&mut self, path: &[&str]) -> Result<bool, FileProblem> {
        Ok(self.metadata(path)?.is_some_and(|m| m.kind == EntryKind::Directory))
    }

    /// Reads a whole file; `Ok(None)` when it does not exist. Refuses files larger than
    /// `limit` (or than the volume), compressed and encrypted ones.
    pub fn read_file(&mut self, path: &[&str], limit: u64) -> Result<Option<Vec<u8>>, FileProblem> {
        crate::source::read_file(self, path, limit)
    }
}

impl FileTree for NtfsVolume {
    fn name(&self) -> String {
        self.name.clone()
    }

    /// No file is larger than its volume: a damaged size field must not cost gigabytes.
    fn file_size_limit(&self) -> u64 {
        self.ntfs.size()
    }

    fn metadata(&mut self, path: &[&str]) -> Result<Option<Metadata>, FileProblem> {
        self.run(LOOKUP_BUDGET, |ntfs, fs| {
            let Some(file) = find(ntfs, fs, path)? else { return Ok(None) };
            if file.is_directory() {
                return Ok(Some(Metadata { kind: EntryKind::Directory, size: 0 }));
            }
            let attributes = file.info().map_err(ntfs_problem)?.file_attributes();
            // A reparse point is a link (or junction) unless it is WOF's compressed file,
            // which is refused with its own reason when read.
            let wof = file.data(fs, "WofCompressedData").is_some();
            if attributes.contains(NtfsFileAttributeFlags::REPARSE_POINT) && !wof {
                return Ok(Some(Metadata { kind: EntryKind::Other, size: 0 }));
            }
            let size = match file.data(fs, "") {
                Some(item) => {
                    let item = item.map_err(ntfs_problem)?;
                    let attribute = item.to_attribute().map_err(ntfs_problem)?;
                    attribute.value_length()
                }
                None => 0,
            };
            Ok(Some(Metadata { kind: EntryKind::File, size }))
        })
    }

    fn list(&mut self, dir: &[&str]) -> Result<Option<Vec<DirEntry>>, FileProblem> {
        self.run(LOOKUP_BUDGET, |ntfs, fs| {
            let Some(directory) = find(ntfs, fs, dir)? else { return Ok(None) };
            if !directory.is_directory() {
                return Err(FileProblem::NotRegular("not a directory".into()));
            }
            let index = directory.directory_index(fs).map_err(ntfs_problem)?;
            let mut entries = index.entries();
            let mut listed = Vec::new();
            while let Some(entry) = entries.next(fs) {
                let entry = entry.map_err(ntfs_problem)?;
                let Some(key) = entry.key() else { continue };
                let name = key.map_err(ntfs_problem)?;
                // Every long name has an 8.3 twin in the DOS namespace: list each file once.
                if name.namespace() == NtfsFileNamespace::Dos {
                    continue;
                }
                let kind = if name.is_directory() {
                    EntryKind::Directory
                } else if name.file_attributes().contains(NtfsFileAttributeFlags::REPARSE_POINT) {
                    EntryKind::Other
                } else {
                    EntryKind::File
                };
                listed.push(DirEntry { name: name.name().to_string_lossy(), kind });
            }
            Ok(Some(listed))
        })
    }

    fn visit_file(
        &mut self,
        path: &[&str],
        budget: u64,
        f: &mut dyn FnMut(&mut dyn BlockSource),
    ) -> Result<bool, FileProblem> {
        let budget = LOOKUP_BUDGET.saturating_add(budget).saturating_add(READ_MARGIN);
        self.run(budget, |ntfs, fs| {
            let Some(file) = find(ntfs, fs, path)? else { return Ok(false) };
            with_data(&file, fs, |value, _| {
                f(value);
                Ok(true)
            })
        })
    }
}

/// Walks `path` from the root directory, case-insensitively (via the volume's $UpCase).
fn find<'n>(ntfs: &'n Ntfs, fs: &mut Reader, path: &[&str]) -> Result<Option<NtfsFile<'n>>, FileProblem> {
    let mut current = ntfs.root_directory(fs).map_err(ntfs_problem)?;
    for component in path {
        if !current.is_directory() {
            return Ok(None);
        }
        let next = {
            let index = current.directory_index(fs).map_err(ntfs_problem)?;
            let mut finder = index.finder();
            match NtfsFileNameIndex::find(&mut finder, ntfs, fs, component) {
                None => return Ok(None),
                Some(entry) => entry.map_err(ntfs_problem)?.to_file(ntfs, fs).map_err(ntfs_problem)?,
            }
        };
        current = next;
    }
    Ok(Some(current))
}

/// Checks that the unnamed `$DATA` of `file` can be read correctly and hands it to `f` as
/// random-access bytes with its size.
fn with_data<T>(
    file: &NtfsFile<'_>,
    fs: &mut Reader,
    f: impl FnOnce(&mut dyn BlockSource, u64) -> Result<T, FileProblem>,
) -> Result<T, FileProblem> {
    if file.is_directory() {
        return Err(FileProblem::Directory);
    }
    let attributes = file.info().map_err(ntfs_problem)?.file_attributes();
    if attributes.contains(NtfsFileAttributeFlags::ENCRYPTED) {
        return Err(FileProblem::Encrypted);
    }
    // WOF keeps the real content in a `WofCompressedData` stream behind a reparse point;
    // the unnamed stream is then empty or sparse.
    if attributes.contains(NtfsFileAttributeFlags::REPARSE_POINT) && file.data(fs, "WofCompressedData").is_some() {
        return Err(FileProblem::WofCompressed);
    }
    let item = match file.data(fs, "") {
        Some(item) => item.map_err(ntfs_problem)?,
        None => return Err(FileProblem::NoData),
    };
    let attribute = item.to_attribute().map_err(ntfs_problem)?;
    let flags = attribute.flags();
    if flags.contains(NtfsAttributeFlags::ENCRYPTED) {
        return Err(FileProblem::Encrypted);
    }
    // Resident data is stored as is even in a compressed folder; only non-resident data
    // goes through LZNT1.
    if flags.contains(NtfsAttributeFlags::COMPRESSED) && !attribute.is_resident() {
        return Err(FileProblem::Compressed);
    }
    let value = attribute.value(fs).map_err(ntfs_problem)?;
    let len = value.len();
    let mut reader = DataReader { inner: value.attach(fs), len };
    f(&mut reader, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses() {
        let mut boot = vec![0u8; 2048];
        assert_eq!(file_system_guess(&boot), "empty: all zeros");
        boot[82..87].copy_from_slice(b"FAT32");
        assert_eq!(file_system_guess(&boot), "FAT32");
    }
}
