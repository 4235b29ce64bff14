//! Where evidence bytes come from, behind two traits, so that each new container format is
//! one module that implements one of them and the rest of the pipeline does not change.
//!
//! - A [`BlockSource`] is random-access bytes: a raw image file or a split raw set
//!   ([`crate::image::source::ImageFile`]), a partition of it
//!   ([`crate::image::source::Slice`]), a file inside a volume or on the host
//!   ([`host::HostFile`]). A disk container (E01, VHDX, VMDK, QCOW2) is a `BlockSource` that
//!   decodes its own format and hands out the disk's bytes; everything above it (partition
//!   table, NTFS, hives) then reads it like a raw image.
//! - A [`FileTree`] is a folder hierarchy whose files are block sources: a host folder
//!   ([`host::HostFolder`]) or an NTFS volume ([`crate::image::volume::NtfsVolume`]). An
//!   archive (zip, tar) is a `FileTree`; finding the Windows installation in it, loading its
//!   hives and logs and checking the files behind pending renames
//!   ([`crate::image::machine`]) work on any tree.
//!
//! Both are read-only by construction: neither trait has a way to write, and the
//! implementations open evidence with `File::open` only. Implementations bound what a
//! damaged structure can make them read or allocate (the NTFS volume runs every call on a
//! read budget; [`read_file`] checks a size against its limit before allocating).
//!
//! # A new container in one module
//!
//! A block container implements [`BlockSource`] over the file it decodes; here a toy format
//! whose disk bytes follow a 512-byte header:
//!
//! ```
//! use std::io;
//! use rebootscan::source::BlockSource;
//!
//! /// The disk inside a file with a 512-byte header.
//! struct Headered<S> { inner: S }
//!
//! impl<S: BlockSource> BlockSource for Headered<S> {
//!     fn len(&self) -> u64 {
//!         self.inner.len().saturating_sub(512)
//!     }
//!     fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
//!         match offset.checked_add(512) {
//!             Some(inner_offset) => self.inner.read_at(inner_offset, buf),
//!             None => Ok(0),
//!         }
//!     }
//! }
//!
//! let mut file = vec![0xffu8; 512];
//! file.extend_from_slice(b"disk bytes");
//! let mut disk = Headered { inner: &file[..] };
//! let mut buf = [0u8; 4];
//! disk.read_exact_at(5, &mut buf).unwrap();
//! assert_eq!(&buf, b"byte");
//! assert_eq!(disk.len(), 10);
//! ```
//!
//! Wiring it in is one match arm in [`crate::image::source::open_image`], where the
//! container is recognised by its magic. An archive implements [`FileTree`] the same way
//! (`list`, `metadata`, `with_file`) and is then probed with
//! [`crate::image::machine::find_windows`] like a volume.

pub mod host;

use std::io;

/// A stored file name as text, losslessly, and whether it was UTF-8. tar and Unix folders
/// store names as bytes (PAX says UTF-8, old writers used the machine's code page): a name
/// that is not UTF-8 is kept with each of its bytes that is not UTF-8 written `%XX` (and a
/// `%` of the name as `%25`), so two such names never read as one and the analyst sees the
/// bytes stored, where lossy decoding gives U+FFFD for every one of them and merges names.
/// A valid UTF-8 name is kept as it is (Velociraptor's own `C%3A` stays as written), so a
/// valid name spelt like an escaped one (`caf%E9` beside Latin-1 `café`) reads the same: the
/// archive index then lists the second as a duplicate.
pub fn name_text(bytes: &[u8]) -> (String, bool) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return (text.to_string(), true);
    }
    let mut text = String::with_capacity(bytes.len() * 2);
    for chunk in bytes.utf8_chunks() {
        text.push_str(&chunk.valid().replace('%', "%25"));
        for byte in chunk.invalid() {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    (text, false)
}

/// Random-access bytes of known length. `read_at` takes `&mut self` because most sources
/// keep a seek position or a cache.
pub trait BlockSource {
    /// Length in bytes.
    fn len(&self) -> u64;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads up to `buf.len()` bytes at `offset`: fewer only at the end of the source, none
    /// at or past it. Bytes the source promises but cannot produce (a truncated image) are an
    /// error, never a short read.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Caveats found while opening the source that the report should repeat (a container read
    /// by a backup copy of a damaged header); none for most sources.
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// What a disk container says about itself (case metadata, stored hashes, a replayed
    /// log), for the machine's report; `None` for raw bytes.
    fn container_facts(&self) -> Option<crate::image::facts::ContainerFacts> {
        None
    }

    /// Fills `buf` from `offset`, or fails with `UnexpectedEof` when the source ends first.
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            let at = offset.checked_add(filled as u64).ok_or(io::ErrorKind::UnexpectedEof)?;
            match self.read_at(at, &mut buf[filled..])? {
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("past the end ({} bytes) at byte {at}", self.len()),
                    ))
                }
                read => filled += read,
            }
        }
        Ok(())
    }
}

impl BlockSource for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        // An offset beyond the address space is past the end of any buffer: end of file.
        let Some(rest) = usize::try_from(offset).ok().and_then(|start| self.get(start..)) else { return Ok(0) };
        let count = rest.len().min(buf.len());
        buf[..count].copy_from_slice(&rest[..count]);
        Ok(count)
    }
}

impl<S: BlockSource + ?Sized> BlockSource for Box<S> {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }

    fn warnings(&self) -> Vec<String> {
        (**self).warnings()
    }

    fn container_facts(&self) -> Option<crate::image::facts::ContainerFacts> {
        (**self).container_facts()
    }
}

impl<S: BlockSource + ?Sized> BlockSource for &mut S {
    fn len(&self) -> u64 {
        (**self).len()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }
}

/// What a [`Slice`] is a window of, for the message when the source ends inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SliceOf {
    /// One partition of a disk image, seen as a volume of its own.
    VolumeInImage,
    /// One member of a plain tar archive, served straight from the file.
    MemberInTar,
}

/// A window `[start, start + len)` of a block source: a partition of an image, a member of a
/// tar archive. Reading a byte the partition table or the tar header promises but the source
/// does not hold is an error that says so, instead of the silent short read a file gives.
pub struct Slice<S> {
    inner: S,
    start: u64,
    len: u64,
    of: SliceOf,
}

impl<S: BlockSource> Slice<S> {
    pub fn new(inner: S, start: u64, len: u64, of: SliceOf) -> Slice<S> {
        Slice { inner, start, len, of }
    }

    /// The source the window is of.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn truncated(&self) -> io::Error {
        let (source_end, window_end) = (self.inner.len(), self.start.saturating_add(self.len));
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            match self.of {
                SliceOf::VolumeInImage => format!(
                    "the image ends at byte {source_end} but the volume goes on to byte {window_end}: the image is \
                     truncated"
                ),
                SliceOf::MemberInTar => format!(
                    "the tar archive ends at byte {source_end} inside a member that goes on to byte {window_end}: the \
                     archive is truncated"
                ),
            },
        )
    }
}

impl<S: BlockSource> BlockSource for Slice<S> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() || offset >= self.len {
            return Ok(0);
        }
        let wanted = buf.len().min(usize::try_from(self.len - offset).unwrap_or(usize::MAX));
        let read = self.inner.read_at(self.start.saturating_add(offset), &mut buf[..wanted])?;
        if read == 0 {
            return Err(self.truncated());
        }
        Ok(read)
    }
}

/// `Read + Seek` over a block source, for crates that want a reader (the `ntfs` crate).
pub struct BlockReader<S> {
    inner: S,
    position: u64,
}

impl<S: BlockSource> BlockReader<S> {
    pub fn new(inner: S) -> BlockReader<S> {
        BlockReader { inner, position: 0 }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: BlockSource> io::Read for BlockReader<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read_at(self.position, buf)?;
        self.position = self.position.saturating_add(read as u64);
        Ok(read)
    }
}

impl<S: BlockSource> io::Seek for BlockReader<S> {
    fn seek(&mut self, target: io::SeekFrom) -> io::Result<u64> {
        let new = match target {
            io::SeekFrom::Start(offset) => Some(offset),
            io::SeekFrom::End(delta) => self.inner.len().checked_add_signed(delta),
            io::SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position =
            new.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start or past 2^64"))?;
        Ok(self.position)
    }
}

/// What a path of a [`FileTree`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    /// A link, device, pipe, reparse point…: never followed or read.
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: EntryKind,
}

/// What a path of a tree is, and its size for files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub kind: EntryKind,
    pub size: u64,
}

/// Why a file of a tree could not be read.
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
    #[error("not a regular file ({0}): only regular files are read")]
    NotRegular(String),
    #[error("has no data stream")]
    NoData,
    #[error("claims {size} bytes, more than the {limit} allowed (larger than its volume, or than any hive can be)")]
    TooLarge { size: u64, limit: u64 },
    #[error("cannot allocate {0} bytes for it")]
    OutOfMemory(u64),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Ntfs(String),
}

/// A read-only folder hierarchy. Paths are components from the tree's root; how they
/// compare (case-insensitively on NTFS) is the tree's business.
pub trait FileTree {
    /// What the tree is in messages and report paths: `disk.raw [partition 2]`, a folder.
    fn name(&self) -> String;

    /// No file of the tree can be larger than this (a volume's size), so that a damaged size
    /// field is refused before it costs memory.
    fn file_size_limit(&self) -> u64 {
        u64::MAX
    }

    /// What `path` is; `Ok(None)` when it does not exist.
    fn metadata(&mut self, path: &[&str]) -> Result<Option<Metadata>, FileProblem>;

    /// The entries of the directory `dir`; `Ok(None)` when it does not exist.
    fn list(&mut self, dir: &[&str]) -> Result<Option<Vec<DirEntry>>, FileProblem>;

    /// Calls `f` once with random access to the regular file at `path` and returns `true`;
    /// `Ok(false)` when it does not exist. `budget` bounds what `f` may read beyond the
    /// lookup. Use [`with_file`] for a closure that returns a value.
    fn visit_file(
        &mut self,
        path: &[&str],
        budget: u64,
        f: &mut dyn FnMut(&mut dyn BlockSource),
    ) -> Result<bool, FileProblem>;
}

/// Runs `f` on the file at `path` of `tree` and returns what it returns; `Ok(None)` when the
/// file does not exist.
pub fn with_file<T>(
    tree: &mut (impl FileTree + ?Sized),
    path: &[&str],
    budget: u64,
    f: impl FnOnce(&mut dyn BlockSource) -> T,
) -> Result<Option<T>, FileProblem> {
    let mut f = Some(f);
    let mut result = None;
    let found = tree.visit_file(path, budget, &mut |file| {
        if let Some(f) = f.take() {
            result = Some(f(file));
        }
    })?;
    Ok(if found { result } else { None })
}

/// Reads a whole file of `tree`; `Ok(None)` when it does not exist. A file larger than
/// `limit` (or than [`FileTree::file_size_limit`]) is refused before anything is allocated
/// for it.
pub fn read_file(
    tree: &mut (impl FileTree + ?Sized),
    path: &[&str],
    limit: u64,
) -> Result<Option<Vec<u8>>, FileProblem> {
    let limit = limit.min(tree.file_size_limit());
    let read = with_file(tree, path, limit, |file| -> Result<Vec<u8>, FileProblem> {
        let size = file.len();
        if size > limit {
            return Err(FileProblem::TooLarge { size, limit });
        }
        let len = usize::try_from(size).map_err(|_| FileProblem::OutOfMemory(size))?;
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|_| FileProblem::OutOfMemory(size))?;
        bytes.resize(len, 0);
        file.read_exact_at(0, &mut bytes).map_err(|e| FileProblem::Io(e.to_string()))?;
        Ok(bytes)
    })?;
    read.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom};

    #[test]
    fn slices_are_block_sources() {
        let mut bytes: &[u8] = b"0123456789";
        let mut buf = [0u8; 3];
        bytes.read_exact_at(7, &mut buf).unwrap();
        assert_eq!(&buf, b"789");
        assert_eq!(bytes.read_at(8, &mut buf).unwrap(), 2);
        assert!(bytes.read_exact_at(8, &mut buf).is_err());
        assert!(bytes.read_exact_at(u64::MAX, &mut buf).is_err());
        assert_eq!(bytes.read_at(u64::MAX, &mut buf).unwrap(), 0);
    }

    #[test]
    fn block_reader_reads_and_seeks() {
        let mut reader = BlockReader::new(&b"0123456789"[..]);
        reader.seek(SeekFrom::End(-3)).unwrap();
        let mut rest = String::new();
        reader.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "789");
        assert!(reader.seek(SeekFrom::Current(-20)).is_err());
    }
}
