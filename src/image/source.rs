//! Reading an image file: read-only handles over one raw file or a split raw set
//! (`disk.001`, `disk.002`, …), a window onto one partition, a cache of the 4 KiB pages NTFS
//! reads again and again ([`BlockCache`]), and a read budget that stops a damaged file system
//! from sending the NTFS reader round in circles. The image and the partition are
//! [`BlockSource`]s; [`open_image`] is where a container format plugs in.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::image::container::{self, Container};
use crate::source::BlockSource;
pub use crate::source::{Slice, SliceOf};

/// Where an image's bytes live: one file, or the segments of a split raw image in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSpec {
    /// The path the user gave or discovery found (the first segment of a split set).
    pub path: PathBuf,
    /// Every segment in order; one entry for an ordinary image.
    pub segments: Vec<PathBuf>,
}

impl ImageSpec {
    /// The image at `path`, with the rest of its split set when `path` is a `.001` segment.
    pub fn for_path(path: &Path) -> ImageSpec {
        let is_ewf =
            path.extension().and_then(|e| e.to_str()).is_some_and(crate::image::ewf::is_first_segment_extension);
        let is_vmdk = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("vmdk"));
        let segments = if is_ewf {
            crate::image::ewf::segments(path)
        } else if is_vmdk {
            // A descriptor and the extent files it names, so that every file read is an input.
            std::iter::once(path.to_path_buf()).chain(crate::image::vmdk::extent_files(path)).collect()
        } else {
            split_segments(path).unwrap_or_else(|| vec![path.to_path_buf()])
        };
        ImageSpec { path: path.to_path_buf(), segments }
    }
}

/// Most split sets have at most a few hundred segments; the bound only stops a runaway walk.
const MAX_SEGMENTS: usize = 100_000;

/// The numeric extension of a split-raw segment (`001` → 1), keeping its width.
fn segment_number(path: &Path) -> Option<(u32, usize)> {
    let extension = path.extension()?.to_str()?;
    if extension.len() < 3 || !extension.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((extension.parse().ok()?, extension.len()))
}

/// For `x.001`: `x.001`, `x.002`, … as long as the next one exists. `None` for other names.
pub fn split_segments(path: &Path) -> Option<Vec<PathBuf>> {
    let (first, width) = segment_number(path)?;
    if first != 1 {
        return None;
    }
    let mut segments = vec![path.to_path_buf()];
    for number in 2.. {
        if segments.len() >= MAX_SEGMENTS {
            break;
        }
        let next = path.with_extension(format!("{number:0width$}"));
        if !next.is_file() {
            break;
        }
        segments.push(next);
    }
    Some(segments)
}

/// How a file named like a later segment of a split raw set stands to that set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentRole {
    /// Not named like a later segment, or no first segment beside it.
    NotSegment,
    /// Read as part of the set whose first segment this is.
    InSetOf(PathBuf),
    /// Named like a segment of the set whose first segment this is, but the set, read from
    /// its first segment as long as the next one exists, does not reach it (one before it is
    /// missing): not read, and said.
    Unreached(PathBuf),
}

/// The role of `x.002`, `x.004`… beside `x.001`: a member only if the set read from `x.001`
/// reaches it, so that nothing past a missing segment is dropped without a word.
pub fn segment_role(path: &Path) -> SegmentRole {
    let Some((number, width)) = segment_number(path) else { return SegmentRole::NotSegment };
    let first = path.with_extension(format!("{:0width$}", 1));
    if number < 2 || !first.is_file() {
        return SegmentRole::NotSegment;
    }
    let reached = split_segments(&first).is_some_and(|set| set.iter().any(|segment| segment == path));
    if reached {
        SegmentRole::InSetOf(first)
    } else {
        SegmentRole::Unreached(first)
    }
}

struct Segment {
    path: PathBuf,
    file: File,
    start: u64,
    len: u64,
}

/// The bytes of an image, opened read-only: nothing here can write to the evidence.
pub struct ImageFile {
    display: String,
    segments: Vec<Segment>,
    len: u64,
}

impl std::fmt::Debug for ImageFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageFile").field("image", &self.display).field("len", &self.len).finish()
    }
}

impl ImageFile {
    /// Opens every segment for reading only; each must be a regular file.
    pub fn open(spec: &ImageSpec) -> io::Result<ImageFile> {
        let mut segments = Vec::with_capacity(spec.segments.len());
        let mut start = 0u64;
        for path in &spec.segments {
            let (file, meta) = crate::input::open_regular(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
            let len = meta.len();
            segments.push(Segment { path: path.clone(), file, start, len });
            start = start.saturating_add(len);
        }
        Ok(ImageFile { display: spec.path.display().to_string(), segments, len: start })
    }
}

impl BlockSource for ImageFile {
    /// Total length of all segments.
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            let position = offset.saturating_add(filled as u64);
            let Some(segment) = self.segments.iter_mut().find(|s| position < s.start.saturating_add(s.len)) else {
                break;
            };
            let within = position - segment.start;
            let available = segment.len - within;
            let wanted = (buf.len() - filled).min(usize::try_from(available).unwrap_or(usize::MAX));
            // One pread: the block cache above asks for a 4 KiB block at a time.
            let read = std::os::unix::fs::FileExt::read_at(&segment.file, &mut buf[filled..filled + wanted], within)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", segment.path.display())))?;
            if read == 0 {
                // The segment is shorter than when it was opened.
                break;
            }
            filled += read;
        }
        Ok(filled)
    }
}

/// Opens the bytes of the disk in `spec`, read-only. A raw image or split raw set is read as
/// is, unless it ends with a VHD footer (a fixed VHD: its disk ends before the footer); a container (E01, VHDX, VMDK, …) is where a decoder implementing [`BlockSource`]
/// plugs in, one match arm per format. Until one does, the container is refused with the
/// command that converts it.
///
/// The image comes with a [`BlockCache`] in front of it and is kept for the next open of the
/// same unchanged files ([`crate::image::kept`]): discovery and the scan share one opened
/// container.
pub fn open_image(spec: &ImageSpec) -> Result<Box<dyn BlockSource>, OpenImageError> {
    let kept = crate::image::kept::open(spec, |spec| {
        open_container(spec).map(|image| Box::new(BlockCache::new(image)) as crate::image::kept::Opened)
    })?;
    Ok(Box::new(kept))
}

fn open_container(spec: &ImageSpec) -> Result<Box<dyn BlockSource + Send>, OpenImageError> {
    let mut image = ImageFile::open(spec).map_err(OpenImageError::Io)?;
    let mut head = vec![0u8; 4096];
    let read = image.read_at(0, &mut head).map_err(OpenImageError::Io)?;
    head.truncate(read);
    let display = spec.path.display().to_string();
    match container::detect(&head) {
        // A fixed VHD is raw bytes with a footer at the end; a dynamic VHD whose copy of the
        // footer at byte 0 is damaged is found by the one at the end too.
        None | Some(Container::Vhd) => {
            match crate::image::vhd::find_footer(&mut image, &display).map_err(OpenImageError::Io)? {
                None => Ok(Box::new(image)),
                Some((footer, warnings)) => Ok(Box::new(
                    crate::image::vhd::VhdImage::open(image, &display, footer, warnings).map_err(OpenImageError::Io)?,
                )),
            }
        }
        Some(Container::Ewf | Container::Ewf2) => {
            drop(image);
            let ewf = crate::image::ewf::EwfImage::open(&spec.segments).map_err(OpenImageError::Io)?;
            Ok(Box::new(ewf))
        }
        Some(Container::Vhdx) => {
            drop(image);
            Ok(Box::new(crate::image::vhdx::VhdxImage::open(&spec.path).map_err(OpenImageError::Io)?))
        }
        Some(Container::Vmdk) => {
            drop(image);
            Ok(Box::new(crate::image::vmdk::VmdkImage::open(&spec.path).map_err(OpenImageError::Io)?))
        }
        Some(Container::Qcow) => {
            Ok(Box::new(crate::image::qcow2::QcowImage::open(image, &display, &spec.path).map_err(OpenImageError::Io)?))
        }
        Some(container) => Err(OpenImageError::Container(container)),
    }
}

/// Why [`open_image`] gave no bytes.
#[derive(Debug)]
pub enum OpenImageError {
    Io(io::Error),
    /// A container format no decoder reads yet.
    Container(Container),
}

/// A read cache of aligned blocks in front of an image, least recently used out. The `ntfs`
/// crate reads a volume a 1 KiB file record or a 4 KiB index record at a time, and every
/// lookup walks from the root directory again, so the same few blocks ($MFT records, the
/// root index, the config folder's index) are read over and over, from discovery to the last
/// staged-file lookup: with one cached block these reads evicted each other and a 4 MiB
/// volume cost 15 MB of reads. A few dozen small blocks hold every record a scan touches
/// (about 20 blocks for a Windows volume); memory stays bounded at
/// `CACHE_BLOCKS * CACHE_BLOCK`. A long read (a hive's data runs, [`UNCACHED_READ`] or more)
/// goes straight through: it is read once and would only evict the records.
pub struct BlockCache<S> {
    inner: S,
    blocks: Vec<CachedBlock>,
    /// Use counter, for choosing the least recently used block to replace.
    clock: u64,
    /// Index in `blocks` of the block read last: most reads follow the one before.
    last: usize,
}

struct CachedBlock {
    start: u64,
    /// Fewer than `CACHE_BLOCK` bytes at the end of the source, or where it could not give more.
    bytes: Vec<u8>,
    used: u64,
}

/// One page-sized block: an index record is 4 KiB, a file record 1 KiB, so a block holds
/// what a lookup touches and little else.
pub const CACHE_BLOCK: usize = 4 << 10;
/// 1 MiB of blocks per opened image.
pub const CACHE_BLOCKS: usize = 256;
/// Reads this long or longer are not cached: an index record (4 KiB) is, and so is the
/// volume's $UpCase table (128 KiB), read again by each open of the volume (discovery, scan);
/// a hive's data runs (megabytes) are not.
pub const UNCACHED_READ: usize = 256 << 10;

impl<S: BlockSource> BlockCache<S> {
    pub fn new(inner: S) -> BlockCache<S> {
        BlockCache { inner, blocks: Vec::new(), clock: 0, last: 0 }
    }

    /// The index in `blocks` of the block that starts at `start`, read if it is not cached.
    fn block(&mut self, start: u64) -> io::Result<usize> {
        self.clock += 1;
        let found = match self.blocks.get(self.last) {
            Some(block) if block.start == start => Some(self.last),
            _ => self.blocks.iter().position(|b| b.start == start),
        };
        if let Some(index) = found {
            self.blocks[index].used = self.clock;
            self.last = index;
            return Ok(index);
        }
        let wanted = usize::try_from(self.inner.len().saturating_sub(start)).unwrap_or(usize::MAX).min(CACHE_BLOCK);
        let index = if self.blocks.len() < CACHE_BLOCKS {
            self.blocks.push(CachedBlock { start, bytes: Vec::with_capacity(CACHE_BLOCK), used: 0 });
            self.blocks.len() - 1
        } else {
            // Full: reuse the least recently used block's buffer.
            let mut oldest = 0;
            for (index, block) in self.blocks.iter().enumerate() {
                if block.used < self.blocks[oldest].used {
                    oldest = index;
                }
            }
            oldest
        };
        let block = &mut self.blocks[index];
        // Matches no offset until filled, so that neither an error nor a panic of the source
        // (contained further up) leaves zeros or stale bytes under the new start.
        block.start = u64::MAX;
        block.bytes.clear();
        block.bytes.resize(wanted, 0);
        block.used = self.clock;
        let mut filled = 0;
        while filled < wanted {
            match self.inner.read_at(start + filled as u64, &mut block.bytes[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(error) if filled == 0 => {
                    block.bytes.clear();
                    return Err(error);
                }
                // Keep what was read; the rest is asked of the source again, which says why.
                Err(_) => break,
            }
        }
        block.bytes.truncate(filled);
        block.start = start;
        self.last = index;
        Ok(index)
    }

    /// The source behind the cache.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: BlockSource> BlockSource for BlockCache<S> {
    fn len(&self) -> u64 {
        self.inner.len()
    }

    fn warnings(&self) -> Vec<String> {
        self.inner.warnings()
    }

    fn container_facts(&self) -> Option<crate::image::facts::ContainerFacts> {
        self.inner.container_facts()
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if buf.len() >= UNCACHED_READ {
            return self.inner.read_at(offset, buf);
        }
        let mut filled = 0;
        while filled < buf.len() {
            let Some(at) = offset.checked_add(filled as u64) else { break };
            if at >= self.inner.len() {
                break;
            }
            let start = at - at % CACHE_BLOCK as u64;
            let index = self.block(start)?;
            let bytes = &self.blocks[index].bytes;
            // Within a block: `at - start` is below CACHE_BLOCK.
            let within = (at - start) as usize;
            if within >= bytes.len() {
                // Bytes the source did not give when the block was read (a truncated image):
                // let it say why, or give them if it can now.
                filled += self.inner.read_at(at, &mut buf[filled..])?;
                break;
            }
            let count = (buf.len() - filled).min(bytes.len() - within);
            buf[filled..filled + count].copy_from_slice(&bytes[within..within + count]);
            filled += count;
        }
        Ok(filled)
    }
}

/// Counts the bytes read and fails once a budget is spent. The `ntfs` crate follows the
/// structures it finds (index sub-nodes, data runs) without a bound, so a corrupt volume
/// whose index points back at itself would otherwise loop for ever; every operation on a
/// volume is given a budget far above what a sound volume needs.
pub struct Budget<R> {
    inner: R,
    remaining: u64,
}

impl<R> Budget<R> {
    pub fn new(inner: R) -> Budget<R> {
        Budget { inner, remaining: 0 }
    }

    pub fn set(&mut self, bytes: u64) {
        self.remaining = bytes;
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Budget<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 && !buf.is_empty() {
            return Err(io::Error::other(
                "read budget spent: the file system structures lead round in circles (corrupt volume?)",
            ));
        }
        let wanted = buf.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let read = self.inner.read(&mut buf[..wanted])?;
        self.remaining -= read as u64;
        Ok(read)
    }
}

impl<R: Seek> Seek for Budget<R> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        self.inner.seek(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_raw_reads_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("disk.001");
        std::fs::write(&first, b"abc").unwrap();
        std::fs::write(dir.path().join("disk.002"), b"defg").unwrap();
        std::fs::write(dir.path().join("disk.004"), b"not part of the set").unwrap();
        let spec = ImageSpec::for_path(&first);
        assert_eq!(spec.segments.len(), 2);
        assert_eq!(segment_role(&dir.path().join("disk.002")), SegmentRole::InSetOf(first.clone()));
        assert_eq!(segment_role(&dir.path().join("disk.004")), SegmentRole::Unreached(first.clone()));
        assert_eq!(segment_role(&first), SegmentRole::NotSegment);
        let mut image = ImageFile::open(&spec).unwrap();
        assert_eq!(image.len(), 7);
        let mut across = [0u8; 7];
        image.read_exact_at(0, &mut across).unwrap();
        assert_eq!(&across, b"abcdefg");
        let mut buf = [0u8; 5];
        assert_eq!(image.read_at(1, &mut buf).unwrap(), 5);
        assert_eq!(&buf, b"bcdef");
        assert_eq!(image.read_at(5, &mut buf).unwrap(), 2);
    }

    #[test]
    fn slice_past_the_image_end_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.raw");
        std::fs::write(&path, [7u8; 100]).unwrap();
        let image = ImageFile::open(&ImageSpec::for_path(&path)).unwrap();
        let mut slice = Slice::new(Box::new(image), 90, 50, SliceOf::VolumeInImage);
        let mut buf = [0u8; 20];
        assert_eq!(slice.read_at(0, &mut buf).unwrap(), 10);
        assert_eq!(slice.read_at(50, &mut buf).unwrap(), 0, "the end of the volume");
        let error = slice.read_at(10, &mut buf).unwrap_err();
        assert!(error.to_string().contains("truncated"), "{error}");
    }

    #[test]
    fn block_cache_reads_like_the_inner_source() {
        let data: Vec<u8> = (0..(CACHE_BLOCK * CACHE_BLOCKS + 70_000) as u32).map(|i| (i % 251) as u8).collect();
        let mut cache = BlockCache::new(&data[..]);
        let total = data.len() as u64;
        // Within a block, across two, a long read (straight through), the last partial
        // block, past the end; then enough blocks to make the cache evict, and back.
        let mut reads = vec![(0u64, 10usize), (4090, 20), (3, 70_000), (total - 10, 50), (total + 5, 5)];
        reads.extend((0..CACHE_BLOCKS as u64 + 8).map(|i| (i * CACHE_BLOCK as u64 + 7, 100)));
        reads.extend([(7, 100), (0, 10), (total - 4000, 3000)]);
        for (offset, len) in reads {
            let mut buf = vec![0u8; len];
            let read = cache.read_at(offset, &mut buf).unwrap();
            let start = (offset as usize).min(data.len());
            let end = (offset as usize + len).min(data.len());
            assert_eq!(&buf[..read], &data[start..end], "offset {offset}");
            assert!(cache.blocks.len() <= CACHE_BLOCKS);
        }
    }

    /// Counts the reads that reach the source.
    struct Counted<'a> {
        data: &'a [u8],
        reads: usize,
    }

    impl BlockSource for Counted<'_> {
        fn len(&self) -> u64 {
            self.data.len() as u64
        }

        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            self.data.read_at(offset, buf)
        }
    }

    #[test]
    fn block_cache_reads_each_block_once_while_it_fits() {
        let data = vec![5u8; CACHE_BLOCK * 8];
        let mut cache = BlockCache::new(Counted { data: &data, reads: 0 });
        let mut record = [0u8; 1024];
        // A lookup's pattern: the same few records from several blocks, again and again.
        for _ in 0..50 {
            for block in [0u64, 3, 1, 7] {
                cache.read_exact_at(block * CACHE_BLOCK as u64 + 512, &mut record).unwrap();
            }
        }
        assert_eq!(cache.into_inner().reads, 4);
    }

    /// The first `good` bytes, then an error, like an image truncated while it is read.
    struct Failing {
        good: u64,
        len: u64,
    }

    impl BlockSource for Failing {
        fn len(&self) -> u64 {
            self.len
        }

        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            if offset >= self.good {
                return Err(io::Error::other("truncated"));
            }
            let count = buf.len().min((self.good - offset) as usize);
            buf[..count].fill(1);
            Ok(count)
        }
    }

    /// Panics on its first read, then reads `data`.
    struct PanicsOnce<'a> {
        data: &'a [u8],
        panicked: bool,
    }

    impl BlockSource for PanicsOnce<'_> {
        fn len(&self) -> u64 {
            self.data.len() as u64
        }

        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
            if !self.panicked {
                self.panicked = true;
                panic!("reader bug");
            }
            self.data.read_at(offset, buf)
        }
    }

    #[test]
    fn block_cache_keeps_no_block_a_panic_interrupted() {
        let data = vec![9u8; CACHE_BLOCK];
        let mut cache = BlockCache::new(PanicsOnce { data: &data, panicked: false });
        let mut buf = [0u8; 16];
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.read_at(0, &mut buf)));
        assert!(caught.is_err());
        // Read again, not zeros from the block left half made.
        cache.read_exact_at(0, &mut buf).unwrap();
        assert_eq!(buf, [9u8; 16]);
    }

    #[test]
    fn block_cache_passes_on_the_error_of_a_truncated_source() {
        let mut cache = BlockCache::new(Failing { good: 100, len: 10_000 });
        let mut buf = [0u8; 200];
        // The bytes the source gave, then its error for the rest; never zeros for them.
        assert_eq!(cache.read_at(0, &mut buf[..50]).unwrap(), 50);
        assert!(cache.read_at(50, &mut buf).unwrap_err().to_string().contains("truncated"));
        assert!(cache.read_at(5000, &mut buf).unwrap_err().to_string().contains("truncated"));
        assert!(cache.read_at(5000, &mut buf).is_err(), "a failed block is not kept as read");
    }

    #[test]
    fn budget_stops_reading() {
        let mut reader = Budget::new(&[1u8; 100][..]);
        reader.set(10);
        let mut buf = [0u8; 64];
        assert_eq!(reader.read(&mut buf).unwrap(), 10);
        assert!(reader.read(&mut buf).is_err());
    }
}
