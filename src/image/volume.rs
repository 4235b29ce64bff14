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
use ntfs::structured_values::NtfsFileAttributeFlags;
use ntfs::{Ntfs, NtfsAttributeFlags, NtfsFile};

use crate::image::source::{BlockCache, Budget, ImageFile, Slice};
use crate::load::guard;

type Reader = Budget<BlockCache<Slice>>;

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

/// Why a file on the volume could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    #[error(
        "NTFS-compressed file: not read, the NTFS reader would return wrong bytes (Windows or ntfs-3g can copy it out decompressed)"
    )]
    Compressed,
    #[error("EFS-encrypted file: cannot be read without the user's key")]
    Encrypted,
    #[error("WOF-compressed file (CompactOS / compact.exe): not read, since the NTFS reader cannot decompress it")]
    WofCompressed,
    #[error("is a directory, not a file")]
    Directory,
    #[error("has no data stream")]
    NoData,
    #[error("claims {size} bytes, more than the {limit} allowed (larger than its volume, or than any hive can be)")]
    TooLarge { size: u64, limit: u64 },
    #[error("cannot allocate {0} bytes for it")]
    OutOfMemory(u64),
    #[error("{0}")]
    Ntfs(String),
}

fn ntfs_problem(error: impl std::fmt::Display) -> FileProblem {
    FileProblem::Ntfs(error.to_string())
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
    ntfs: Ntfs,
    fs: Reader,
}

impl std::fmt::Debug for NtfsVolume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtfsVolume").field("size", &self.ntfs.size()).finish()
    }
}

/// Random access to a file's bytes, for readers that need only a few parts of a big file.
pub trait ReadAt {
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`; an error when the file ends first.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl ReadAt for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let part = start.checked_add(buf.len()).and_then(|end| self.get(start..end));
        let part = part.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "past the end of the file"))?;
        buf.copy_from_slice(part);
        Ok(())
    }
}

struct SeekReader<R> {
    inner: R,
    len: u64,
}

impl<R: Read + Seek> ReadAt for SeekReader<R> {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset.checked_add(buf.len() as u64).is_none_or(|end| end > self.len) {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "past the end of the file"));
        }
        self.inner.seek(SeekFrom::Start(offset))?;
        self.inner.read_exact(buf)
    }
}

impl NtfsVolume {
    /// Opens the NTFS volume at `[start, start + len)` of the image.
    pub fn open(mut image: ImageFile, start: u64, len: u64) -> Result<NtfsVolume, VolumeError> {
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
        let mut fs = Budget::new(BlockCache::new(Slice::new(image, start, len)));
        fs.set(LOOKUP_BUDGET);
        let opened = guard::contain(|| -> Result<Ntfs, ntfs::NtfsError> {
            let mut ntfs = Ntfs::new(&mut fs)?;
            // Required before any name lookup (the crate panics without it).
            ntfs.read_upcase_table(&mut fs)?;
            Ok(ntfs)
        });
        match opened {
            Ok(Ok(ntfs)) => Ok(NtfsVolume { ntfs, fs }),
            Ok(Err(error)) => Err(VolumeError::Ntfs(error.to_string())),
            Err(panic) => Err(VolumeError::Ntfs(format!("internal failure of the NTFS reader: {panic}"))),
        }
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
        self.run(LOOKUP_BUDGET, |ntfs, fs| Ok(find(ntfs, fs, path)?.is_some_and(|file| file.is_directory())))
    }

    /// Reads a whole file; `Ok(None)` when it does not exist. Refuses files larger than
    /// `limit`, compressed and encrypted ones.
    pub fn read_file(&mut self, path: &[&str], limit: u64) -> Result<Option<Vec<u8>>, FileProblem> {
        // No file is larger than its volume: a damaged size field must not cost gigabytes.
        let limit = limit.min(self.ntfs.size());
        // The size is not known before the lookup: the budget covers the largest file allowed.
        self.run(LOOKUP_BUDGET.saturating_add(limit).saturating_add(READ_MARGIN), |ntfs, fs| {
            let Some(file) = find(ntfs, fs, path)? else { return Ok(None) };
            with_data(&file, fs, |value, size| {
                if size > limit {
                    return Err(FileProblem::TooLarge { size, limit });
                }
                let len = usize::try_from(size).map_err(|_| FileProblem::OutOfMemory(size))?;
                let mut bytes = Vec::new();
                bytes.try_reserve_exact(len).map_err(|_| FileProblem::OutOfMemory(size))?;
                bytes.resize(len, 0);
                value.read_at(0, &mut bytes).map_err(ntfs_problem)?;
                Ok(Some(bytes))
            })
        })
    }

    /// Gives `f` random access to a file; `Ok(None)` when it does not exist. `budget` bounds
    /// what `f` may read.
    pub fn with_file<T>(
        &mut self,
        path: &[&str],
        budget: u64,
        f: impl FnOnce(&mut dyn ReadAt) -> T,
    ) -> Result<Option<T>, FileProblem> {
        self.run(LOOKUP_BUDGET.saturating_add(budget), |ntfs, fs| {
            let Some(file) = find(ntfs, fs, path)? else { return Ok(None) };
            with_data(&file, fs, |value, _| Ok(Some(f(value))))
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
    f: impl FnOnce(&mut dyn ReadAt, u64) -> Result<T, FileProblem>,
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
    let mut reader = SeekReader { inner: value.attach(fs), len };
    f(&mut reader, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_read_at() {
        let mut bytes: &[u8] = b"0123456789";
        let mut buf = [0u8; 3];
        bytes.read_at(7, &mut buf).unwrap();
        assert_eq!(&buf, b"789");
        assert!(bytes.read_at(8, &mut buf).is_err());
        assert!(bytes.read_at(u64::MAX, &mut buf).is_err());
    }

    #[test]
    fn guesses() {
        let mut boot = vec![0u8; 2048];
        assert_eq!(file_system_guess(&boot), "empty: all zeros");
        boot[82..87].copy_from_slice(b"FAT32");
        assert_eq!(file_system_guess(&boot), "FAT32");
    }
}
