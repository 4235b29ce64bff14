//! Reading an image file: read-only handles over one raw file or a split raw set
//! (`disk.001`, `disk.002`, …), a window onto one partition, and a read budget that stops a
//! damaged file system from sending the NTFS reader round in circles. The image and the
//! partition are [`BlockSource`]s; [`open_image`] is where a container format plugs in.

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

/// True for the second and later segments of a split set (`x.002` when `x.001` exists):
/// they are read as part of the first one.
pub fn is_later_segment(path: &Path) -> bool {
    match segment_number(path) {
        Some((number, width)) if number >= 2 => path.with_extension(format!("{:0width$}", 1)).is_file(),
        _ => false,
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
            segment.file.seek(SeekFrom::Start(within))?;
            let read = segment
                .file
                .read(&mut buf[filled..filled + wanted])
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
pub fn open_image(spec: &ImageSpec) -> Result<Box<dyn BlockSource>, OpenImageError> {
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

fn resolve_seek(current: u64, len: u64, target: SeekFrom) -> io::Result<u64> {
    let new = match target {
        SeekFrom::Start(offset) => Some(offset),
        SeekFrom::End(delta) => len.checked_add_signed(delta),
        SeekFrom::Current(delta) => current.checked_add_signed(delta),
    };
    new.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start or past 2^64"))
}

/// A read cache of one aligned block that, unlike `BufReader`, survives seeks: the `ntfs`
/// crate seeks before nearly every read of a 1 KiB file record or 4 KiB index record, which
/// would make `BufReader` discard and refill its buffer each time. Reads of a block or more
/// (hive data runs) go straight through.
pub struct BlockCache<R> {
    inner: R,
    block: Vec<u8>,
    /// Offset of the cached block; `None` while the cache is empty.
    block_start: Option<u64>,
    block_len: usize,
    position: u64,
}

const CACHE_BLOCK: usize = 64 << 10;

impl<R: Read + Seek> BlockCache<R> {
    pub fn new(inner: R) -> BlockCache<R> {
        BlockCache { inner, block: vec![0u8; CACHE_BLOCK], block_start: None, block_len: 0, position: 0 }
    }

    fn fill(&mut self, start: u64) -> io::Result<()> {
        self.block_start = None;
        self.inner.seek(SeekFrom::Start(start))?;
        let mut filled = 0;
        while filled < CACHE_BLOCK {
            match self.inner.read(&mut self.block[filled..]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                // The end of a truncated image: keep what was read, report it when it is needed.
                Err(error) if filled == 0 => return Err(error),
                Err(_) => break,
            }
        }
        self.block_start = Some(start);
        self.block_len = filled;
        Ok(())
    }
}

impl<R: Read + Seek> Read for BlockCache<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if buf.len() >= CACHE_BLOCK {
            self.inner.seek(SeekFrom::Start(self.position))?;
            let read = self.inner.read(buf)?;
            self.position += read as u64;
            return Ok(read);
        }
        let block_start = self.position - self.position % CACHE_BLOCK as u64;
        if self.block_start != Some(block_start) {
            self.fill(block_start)?;
        }
        let within = (self.position - block_start) as usize;
        if within >= self.block_len {
            // Past what the block holds: let the inner reader say why (end of volume, truncation).
            self.inner.seek(SeekFrom::Start(self.position))?;
            let read = self.inner.read(buf)?;
            self.position += read as u64;
            return Ok(read);
        }
        let count = buf.len().min(self.block_len - within);
        buf[..count].copy_from_slice(&self.block[within..within + count]);
        self.position += count as u64;
        Ok(count)
    }
}

impl<R: Read + Seek> Seek for BlockCache<R> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let end = match target {
            SeekFrom::End(_) => Some(self.inner.seek(SeekFrom::End(0))?),
            _ => None,
        };
        self.position = resolve_seek(self.position, end.unwrap_or(0), target)?;
        Ok(self.position)
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
        assert!(is_later_segment(&dir.path().join("disk.002")));
        assert!(!is_later_segment(&first));
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
    fn block_cache_reads_like_the_inner_reader() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut cache = BlockCache::new(io::Cursor::new(data.clone()));
        for (offset, len) in [(0u64, 10usize), (65_530, 20), (3, 70_000), (199_990, 50), (250_000, 5)] {
            cache.seek(SeekFrom::Start(offset)).unwrap();
            let mut buf = vec![0u8; len];
            let mut filled = 0;
            while filled < len {
                let read = cache.read(&mut buf[filled..]).unwrap();
                if read == 0 {
                    break;
                }
                filled += read;
            }
            let start = (offset as usize).min(data.len());
            let end = (offset as usize + len).min(data.len());
            assert_eq!(&buf[..filled], &data[start..end], "offset {offset}");
        }
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
