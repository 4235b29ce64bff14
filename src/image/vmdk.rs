//! VMDK (VMware) disks read in place: hosted sparse extents (monolithicSparse,
//! twoGbMaxExtentSparse), streamOptimized extents (deflate-compressed grains, OVF/OVA exports,
//! qemu-img's `subformat=streamOptimized`), and descriptor files with FLAT, VMFS, SPARSE and
//! ZERO extents (monolithicFlat, twoGbMaxExtentFlat, vmfs).
//!
//! Written here, not taken from a crate. The one pure-Rust reader, `vmdk-core` 0.8
//! (Apache-2.0, SecurityRonin, like `ewf` and `vhdx-core`), was read before deciding: it
//! allocates the whole grain directory from the header's capacity (up to 16 MiB) before
//! checking it against the file, keeps every grain table it meets in an unbounded map, returns
//! a short read (which looks like the end of the disk) for a grain that lies past the end of a
//! truncated file or inflates to less than a grain, reads a descriptor file whole whatever its
//! size and opens extent files itself with `File::open` (links followed, devices and FIFOs
//! opened), and reads a differencing child's unallocated grains as zeros instead of refusing it.
//! Each of these gives wrong evidence or unbounded cost on a damaged or hostile file; fixing
//! them from outside would mean re-parsing everything it parses. The format is small (VMware's
//! Virtual Disk Format 1.1): a 512-byte header, a grain directory of grain-table sectors, grain
//! tables of 512 grain sectors, grains (optionally each behind a marker and zlib-compressed).
//!
//! Bounds: nothing is allocated from a header value before it is checked against the file's
//! size; the grain directory is not read at open (only checked to lie in the file) but entry by
//! entry with the grain table it names; at most [`TABLE_CACHE`] grain tables and
//! [`GRAIN_CACHE`] inflated grains are kept per extent; a descriptor is at most
//! [`MAX_DESCRIPTOR`] bytes; a compressed grain must lie in the file, name its own LBA in its
//! marker and inflate to exactly its grain. Every error names the file and the offset.
//!
//! Refused with what to do instead: differencing disks (a snapshot or linked clone whose
//! `parentCID` is set: its unallocated grains live in the parent, so zeros would be wrong),
//! ESX's old COWD sparse format, seSparse, raw device maps and NOACCESS extents. The redundant
//! grain directory is never used in place of the primary: neither carries a checksum, so when
//! they disagree nothing says which one is right, and a guess reads another sector's bytes as
//! evidence; a primary that points outside the file is an error instead.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use crate::image::bytes::{le_u32, le_u64};
use crate::source::BlockSource;

const SECTOR: u64 = 512;
/// A descriptor (embedded or a file of its own) is a few hundred bytes; this bound only stops a
/// large file that starts like one from being read whole.
pub const MAX_DESCRIPTOR: u64 = 64 << 10;
const SPARSE_MAGIC: &[u8; 4] = b"KDMV";
const COWD_MAGIC: &[u8; 4] = b"COWD";
pub const DESCRIPTOR_MAGIC: &[u8] = b"# Disk DescriptorFile";
/// `gdOffset` of a streamOptimized header whose grain directory follows the grains: the real
/// header is the footer, 1024 bytes before the end of the file.
const GD_AT_END: u64 = u64::MAX;
const GTES_PER_GT: u64 = 512;
const GT_BYTES: u64 = GTES_PER_GT * 4;
/// Grains are 64 KiB in practice (128 sectors); 1 MiB bounds what one inflated grain costs.
const MAX_GRAIN_SECTORS: u64 = 2048;
/// Grain tables kept per extent (2 KiB each): a scan touches a few dozen.
pub const TABLE_CACHE: usize = 64;
/// Inflated grains kept per compressed extent: NTFS reads the same record's grain repeatedly.
pub const GRAIN_CACHE: usize = 8;
/// A twoGbMaxExtent set of a 2 TB disk has about a thousand extents.
const MAX_EXTENTS: usize = 16_384;

const FLAG_NEWLINE_TEST: u32 = 1;
const FLAG_ZEROED_GTE: u32 = 1 << 2;
const FLAG_COMPRESSED: u32 = 1 << 16;
const COMPRESS_DEFLATE: u16 = 1;

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The fields of a sparse extent header (VMDK 1.1 §"Hosted Sparse Extent Header").
#[derive(Debug, Clone, PartialEq, Eq)]
struct SparseHeader {
    version: u32,
    flags: u32,
    capacity: u64,
    grain_sectors: u64,
    descriptor_offset: u64,
    descriptor_size: u64,
    gd_offset: u64,
    overhead: u64,
}

impl SparseHeader {
    fn parse(bytes: &[u8; 512]) -> Result<SparseHeader, String> {
        if &bytes[..4] != SPARSE_MAGIC {
            return Err("no KDMV signature".to_string());
        }
        let version = le_u32(bytes, 4);
        if !(1..=3).contains(&version) {
            return Err(format!("unknown sparse extent version {version} (1 to 3 are known)"));
        }
        let flags = le_u32(bytes, 8);
        let capacity = le_u64(bytes, 12);
        let grain_sectors = le_u64(bytes, 20);
        let gtes_per_gt = le_u32(bytes, 44);
        let compress_algorithm = u16::from_le_bytes([bytes[77], bytes[78]]);
        if !grain_sectors.is_power_of_two() || grain_sectors > MAX_GRAIN_SECTORS {
            return Err(format!(
                "grain size of {grain_sectors} sectors (a power of two up to {MAX_GRAIN_SECTORS} is expected)"
            ));
        }
        if u64::from(gtes_per_gt) != GTES_PER_GT {
            return Err(format!("{gtes_per_gt} entries per grain table ({GTES_PER_GT} is the only value in use)"));
        }
        if capacity.checked_mul(SECTOR).is_none() {
            return Err(format!("capacity of {capacity} sectors overflows"));
        }
        if flags & FLAG_NEWLINE_TEST != 0 && bytes[73..77] != *b"\n \r\n" {
            return Err("its newline test bytes are altered: the file went through a text-mode transfer".to_string());
        }
        if flags & FLAG_COMPRESSED != 0 && compress_algorithm != COMPRESS_DEFLATE {
            return Err(format!("compressed grains with algorithm {compress_algorithm} (only 1, deflate, exists)"));
        }
        Ok(SparseHeader {
            version,
            flags,
            capacity,
            grain_sectors,
            descriptor_offset: le_u64(bytes, 28),
            descriptor_size: le_u64(bytes, 36),
            gd_offset: le_u64(bytes, 56),
            overhead: le_u64(bytes, 64),
        })
    }

    fn compressed(&self) -> bool {
        self.flags & FLAG_COMPRESSED != 0
    }
}

/// One cached grain table: the grain directory index and the table (`None` when the
/// directory has no table there, i.e. all its grains are unallocated).
type CachedTable = (u64, Option<Vec<u32>>);

/// A hosted sparse or streamOptimized extent file.
struct SparseExtent {
    file: File,
    path: PathBuf,
    file_len: u64,
    header: SparseHeader,
    grain_bytes: u64,
    capacity_bytes: u64,
    /// Byte offset of the grain directory (checked to lie in the file).
    directory: u64,
    /// Most recently used first.
    tables: Vec<CachedTable>,
    /// Inflated grains by grain index, most recently used first.
    grains: Vec<(u64, Vec<u8>)>,
}

impl SparseExtent {
    /// Checks the header (and a streamOptimized footer) against the file; reads no table.
    fn open(file: File, path: &Path, file_len: u64) -> io::Result<SparseExtent> {
        let name = path.display();
        let mut bytes = [0u8; 512];
        if file_len < SECTOR {
            return Err(invalid(format!("{name}: VMDK sparse extent of {file_len} bytes, shorter than its header")));
        }
        file.read_exact_at(&mut bytes, 0).map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))?;
        let mut header = SparseHeader::parse(&bytes)
            .map_err(|why| invalid(format!("{name}: damaged VMDK sparse extent header: {why}")))?;
        if header.gd_offset == GD_AT_END {
            // streamOptimized written in one pass: the footer (a copy of the header with the
            // real directory offset) sits before the end-of-stream marker.
            let at = file_len.checked_sub(1024).filter(|&at| at >= SECTOR).ok_or_else(|| {
                invalid(format!("{name}: streamOptimized VMDK without its footer (the file is truncated)"))
            })?;
            file.read_exact_at(&mut bytes, at).map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))?;
            let footer = SparseHeader::parse(&bytes).map_err(|why| {
                invalid(format!(
                    "{name}: the streamOptimized footer at byte {at} is missing or damaged ({why}): the file is truncated or damaged"
                ))
            })?;
            if footer.gd_offset == GD_AT_END
                || footer.capacity != header.capacity
                || footer.grain_sectors != header.grain_sectors
            {
                return Err(invalid(format!(
                    "{name}: the streamOptimized footer at byte {at} does not match the header (damaged file)"
                )));
            }
            header = footer;
        }
        let grain_bytes = header.grain_sectors * SECTOR;
        let capacity_bytes = header.capacity * SECTOR;
        let grains = header.capacity.div_ceil(header.grain_sectors);
        let directory_bytes = grains.div_ceil(GTES_PER_GT).saturating_mul(4);
        let directory = header.gd_offset.checked_mul(SECTOR).filter(|&at| at >= SECTOR);
        let Some(directory) = directory.filter(|&at| at.saturating_add(directory_bytes) <= file_len) else {
            return Err(invalid(format!(
                "{name}: the grain directory (sector {}, {directory_bytes} bytes for a capacity of {} sectors) lies outside \
                 the file of {file_len} bytes: the file is truncated or its header damaged",
                header.gd_offset, header.capacity
            )));
        };
        Ok(SparseExtent {
            file,
            path: path.to_path_buf(),
            file_len,
            header,
            grain_bytes,
            capacity_bytes,
            directory,
            tables: Vec::new(),
            grains: Vec::new(),
        })
    }

    /// The descriptor embedded in a monolithicSparse or streamOptimized file, if any.
    fn embedded_descriptor(&self) -> io::Result<Option<String>> {
        let (offset, size) = (self.header.descriptor_offset, self.header.descriptor_size);
        if offset == 0 || size == 0 {
            return Ok(None);
        }
        let name = self.path.display();
        let start = offset.checked_mul(SECTOR);
        let len = size.checked_mul(SECTOR).filter(|&len| len <= MAX_DESCRIPTOR);
        let (Some(start), Some(len)) = (start, len) else {
            return Err(invalid(format!(
                "{name}: the embedded descriptor claims {size} sectors at sector {offset}, more than the {MAX_DESCRIPTOR} \
                 bytes a descriptor may have (damaged header)"
            )));
        };
        if start.saturating_add(len) > self.file_len {
            return Err(invalid(format!(
                "{name}: the embedded descriptor (sector {offset}, {size} sectors) lies past the end of the file: truncated \
                 or damaged"
            )));
        }
        let mut text = vec![0u8; len as usize];
        self.file.read_exact_at(&mut text, start).map_err(|e| io::Error::new(e.kind(), format!("{name}: {e}")))?;
        let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
        Ok(Some(String::from_utf8_lossy(&text[..end]).into_owned()))
    }

    fn error(&self, message: String) -> io::Error {
        invalid(format!("{}: {message}", self.path.display()))
    }

    /// The grain table of directory entry `index`, from the cache or the file.
    fn table(&mut self, index: u64) -> io::Result<Option<&[u32]>> {
        if let Some(position) = self.tables.iter().position(|(cached, _)| *cached == index) {
            let entry = self.tables.remove(position);
            self.tables.insert(0, entry);
        } else {
            let mut word = [0u8; 4];
            let at = self.directory + index * 4;
            self.file
                .read_exact_at(&mut word, at)
                .map_err(|e| self.error(format!("grain directory at byte {at}: {e}")))?;
            let sector = u64::from(u32::from_le_bytes(word));
            let table = if sector == 0 {
                None
            } else {
                let start = sector * SECTOR;
                if start.saturating_add(GT_BYTES) > self.file_len {
                    return Err(self.error(format!(
                        "grain directory entry {index} points at a grain table at byte {start}, past the end of the file \
                         ({} bytes): truncated or damaged",
                        self.file_len
                    )));
                }
                let mut bytes = vec![0u8; GT_BYTES as usize];
                self.file
                    .read_exact_at(&mut bytes, start)
                    .map_err(|e| self.error(format!("grain table at byte {start}: {e}")))?;
                Some(bytes.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect())
            };
            self.tables.insert(0, (index, table));
            self.tables.truncate(TABLE_CACHE);
        }
        Ok(self.tables.first().and_then(|(_, table)| table.as_deref()))
    }

    /// Fills `buf` from byte `offset` of the extent; the range stays within one grain.
    fn read_in_grain(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let grain = offset / self.grain_bytes;
        let within = offset % self.grain_bytes;
        let entry = match self.table(grain / GTES_PER_GT)? {
            None => 0,
            Some(table) => table[(grain % GTES_PER_GT) as usize],
        };
        let zeroed = entry == 1 && (self.header.version >= 2 || self.header.flags & FLAG_ZEROED_GTE != 0);
        if entry == 0 || zeroed {
            buf.fill(0);
            return Ok(());
        }
        let sector = u64::from(entry);
        let start = sector * SECTOR;
        if sector < self.header.overhead.max(1) {
            return Err(self.error(format!(
                "grain table entry for grain {grain} points at sector {sector}, inside the header and tables (damaged \
                 grain table)"
            )));
        }
        if !self.header.compressed() {
            let at = start + within;
            if at.saturating_add(buf.len() as u64) > self.file_len {
                return Err(self.error(format!(
                    "grain {grain} at byte {start} lies past the end of the file ({} bytes): truncated or damaged",
                    self.file_len
                )));
            }
            return self
                .file
                .read_exact_at(buf, at)
                .map_err(|e| self.error(format!("grain {grain} at byte {start}: {e}")));
        }
        let within = within as usize;
        if let Some(position) = self.grains.iter().position(|(cached, _)| *cached == grain) {
            let entry = self.grains.remove(position);
            self.grains.insert(0, entry);
        } else {
            let inflated = self.inflate(grain, start)?;
            self.grains.insert(0, (grain, inflated));
            self.grains.truncate(GRAIN_CACHE);
        }
        let data = &self.grains[0].1;
        match data.get(within..within + buf.len()) {
            Some(bytes) => buf.copy_from_slice(bytes),
            None => return Err(self.error(format!("grain {grain} at byte {start} is shorter than the read"))),
        }
        Ok(())
    }

    /// Reads and inflates the compressed grain `grain` whose marker is at byte `start`.
    fn inflate(&self, grain: u64, start: u64) -> io::Result<Vec<u8>> {
        let mut marker = [0u8; 12];
        if start.saturating_add(12) > self.file_len {
            return Err(self.error(format!(
                "compressed grain {grain} at byte {start} lies past the end of the file ({} bytes): truncated or damaged",
                self.file_len
            )));
        }
        self.file
            .read_exact_at(&mut marker, start)
            .map_err(|e| self.error(format!("compressed grain {grain} at byte {start}: {e}")))?;
        let lba = le_u64(&marker, 0);
        let size = u64::from(le_u32(&marker, 8));
        let first_sector = grain * self.header.grain_sectors;
        if lba != first_sector {
            return Err(self.error(format!(
                "compressed grain at byte {start} says it holds sector {lba}, but the grain table gives it grain {grain} \
                 (sector {first_sector}): damaged grain table or marker"
            )));
        }
        // zlib never grows incompressible data by more than a few bytes per 16 KiB block.
        let bound = self.grain_bytes + self.grain_bytes / 8 + 1024;
        if size == 0 || size > bound {
            return Err(self.error(format!(
                "compressed grain {grain} at byte {start} claims {size} compressed bytes (1 to {bound} possible for a \
                 {}-byte grain): damaged marker",
                self.grain_bytes
            )));
        }
        if start + 12 + size > self.file_len {
            return Err(self.error(format!(
                "compressed grain {grain} at byte {start} ({size} bytes) runs past the end of the file ({} bytes): \
                 truncated or damaged",
                self.file_len
            )));
        }
        let mut compressed = vec![0u8; size as usize];
        self.file
            .read_exact_at(&mut compressed, start + 12)
            .map_err(|e| self.error(format!("compressed grain {grain} at byte {start}: {e}")))?;
        let mut inflated = Vec::with_capacity(self.grain_bytes as usize);
        flate2::read::ZlibDecoder::new(&compressed[..])
            .take(self.grain_bytes + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| self.error(format!("compressed grain {grain} at byte {start} does not inflate: {e}")))?;
        // The last grain of a disk whose size is not a multiple of the grain may hold only
        // the rest of the disk.
        let rest = self.capacity_bytes.saturating_sub(grain * self.grain_bytes).min(self.grain_bytes);
        let got = inflated.len() as u64;
        if got != self.grain_bytes && got != rest {
            return Err(self.error(format!(
                "compressed grain {grain} at byte {start} inflates to {got} bytes instead of {}: damaged grain",
                self.grain_bytes
            )));
        }
        inflated.resize(self.grain_bytes as usize, 0);
        Ok(inflated)
    }
}

/// Where the bytes of one extent come from.
enum ExtentData {
    Sparse(Box<SparseExtent>),
    /// Raw bytes from `start` of the file.
    Flat {
        file: File,
        path: PathBuf,
        start: u64,
    },
    Zero,
}

struct Extent {
    /// First byte of the extent in the virtual disk.
    disk_start: u64,
    len: u64,
    data: ExtentData,
}

/// The virtual disk of a VMDK: one sparse file, or a descriptor and its extents.
pub struct VmdkImage {
    display: String,
    extents: Vec<Extent>,
    len: u64,
    /// For the report: createType and CID as the descriptor writes them, and the number of
    /// files read (a separate descriptor and its extent files).
    create_type: Option<String>,
    cid: Option<String>,
    files: usize,
}

/// An extent line of a descriptor: `RW 8192 SPARSE "disk-s001.vmdk"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentLine {
    pub access: String,
    pub sectors: u64,
    pub kind: String,
    pub file: Option<String>,
    /// Start of the extent's data in its file, in sectors (FLAT and VMFS extents).
    pub offset: u64,
}

/// What rebootscan needs of a descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Descriptor {
    pub create_type: Option<String>,
    pub cid: Option<String>,
    pub parent_cid: Option<String>,
    pub parent_hint: Option<String>,
    pub extents: Vec<ExtentLine>,
}

impl Descriptor {
    /// Parses the text of a descriptor; lines it does not know are skipped (the disk
    /// database, comments), extent lines it cannot read are errors.
    pub fn parse(text: &str) -> Result<Descriptor, String> {
        let mut descriptor = Descriptor::default();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let first = line.split_whitespace().next().unwrap_or_default();
            if matches!(first, "RW" | "RDONLY" | "NOACCESS") {
                if descriptor.extents.len() >= MAX_EXTENTS {
                    return Err(format!("more than {MAX_EXTENTS} extents"));
                }
                descriptor.extents.push(parse_extent(line)?);
                continue;
            }
            let Some((key, value)) = line.split_once('=') else { continue };
            let value = value.trim().trim_matches('"').to_string();
            match key.trim() {
                "createType" => descriptor.create_type = Some(value),
                "CID" => descriptor.cid = Some(value),
                "parentCID" => descriptor.parent_cid = Some(value),
                "parentFileNameHint" => descriptor.parent_hint = Some(value),
                _ => {}
            }
        }
        Ok(descriptor)
    }

    /// The parent a differencing disk needs, when this is one.
    pub fn parent(&self) -> Option<&str> {
        let cid = self.parent_cid.as_deref()?;
        if cid.eq_ignore_ascii_case("ffffffff") {
            return None;
        }
        Some(self.parent_hint.as_deref().unwrap_or("(no parentFileNameHint)"))
    }
}

/// The first word of `text` (after leading white space) and the rest after it.
fn next_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    text.split_once(char::is_whitespace).unwrap_or((text, ""))
}

fn parse_extent(line: &str) -> Result<ExtentLine, String> {
    let bad = |why: &str| format!("extent line `{}`: {why}", line.escape_debug());
    let (access, rest) = next_word(line);
    let access = access.to_string();
    let (sectors, rest) = next_word(rest);
    let (kind, rest) = next_word(rest);
    if kind.is_empty() {
        return Err(bad("too short"));
    }
    let sectors: u64 = sectors.parse().map_err(|_| bad("the size is not a number of sectors"))?;
    let kind = kind.to_ascii_uppercase();
    let rest = rest.trim();
    if kind == "ZERO" && rest.is_empty() {
        return Ok(ExtentLine { access, sectors, kind, file: None, offset: 0 });
    }
    let quoted = rest.strip_prefix('"').and_then(|r| r.split_once('"'));
    let Some((file, after)) = quoted else { return Err(bad("no quoted file name")) };
    let after = after.trim();
    let offset = if after.is_empty() { 0 } else { after.parse().map_err(|_| bad("the offset is not a number"))? };
    Ok(ExtentLine { access, sectors, kind, file: Some(file.to_string()), offset })
}

/// The path of extent file `name` of the descriptor at `descriptor`: a relative name in the
/// descriptor's folder or below. Absolute names and `..` are refused, so that a hostile
/// descriptor cannot make the scan read a host file as disk data.
pub fn extent_path(descriptor: &Path, name: &str) -> Result<PathBuf, String> {
    let relative = Path::new(name);
    let plain =
        !name.is_empty() && relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain {
        return Err(format!(
            "extent file \"{}\" is not a name in the descriptor's folder (absolute path or `..`): not read; copy the \
             extents beside the descriptor and edit the name",
            name.escape_debug()
        ));
    }
    Ok(descriptor.parent().unwrap_or(Path::new(".")).join(relative))
}

/// Reads the descriptor file at `path` (bounded), `None` when it is not one.
pub fn read_descriptor_file(path: &Path) -> io::Result<Option<Descriptor>> {
    let (head, len) = crate::input::read_head(path, MAX_DESCRIPTOR + 1)?;
    if !head.starts_with(DESCRIPTOR_MAGIC) {
        return Ok(None);
    }
    if len > MAX_DESCRIPTOR {
        return Err(invalid(format!(
            "{}: starts like a VMDK descriptor but holds {len} bytes, more than the {MAX_DESCRIPTOR} a descriptor may have",
            path.display()
        )));
    }
    let text = String::from_utf8_lossy(&head);
    Descriptor::parse(&text)
        .map(Some)
        .map_err(|why| invalid(format!("{}: damaged VMDK descriptor: {why}", path.display())))
}

/// The extent files of the descriptor at `path` that exist, for the list of a machine's
/// inputs; empty when `path` is not a descriptor.
pub fn extent_files(path: &Path) -> Vec<PathBuf> {
    let Ok(Some(descriptor)) = read_descriptor_file(path) else { return Vec::new() };
    descriptor
        .extents
        .iter()
        .filter_map(|e| e.file.as_deref())
        .filter_map(|name| extent_path(path, name).ok())
        .filter(|p| p.is_file() && p != path)
        .collect()
}

/// What a `.vmdk` file is to the set of files of one disk: extent files (`NAME-s001.vmdk`,
/// `NAME-f001.vmdk`, `NAME-flat.vmdk`, …) are read through their descriptor `NAME.vmdk`, never as
/// a disk of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetRole {
    /// A disk of its own: a descriptor, a sparse file with its embedded descriptor, or a file
    /// not named like an extent.
    Disk,
    /// An extent named by the descriptor beside it.
    ExtentOf(PathBuf),
    /// Named like an extent and not self-describing, but its descriptor is not there.
    Orphan(PathBuf),
}

/// Suffixes VMware and qemu-img give extent files (before `.vmdk`).
fn extent_stem(stem: &str) -> Option<&str> {
    let lower = stem.to_ascii_lowercase();
    for suffix in ["-flat", "-delta", "-sesparse", "-rdm", "-rdmp"] {
        if lower.ends_with(suffix) {
            return stem.get(..stem.len() - suffix.len());
        }
    }
    let bytes = lower.as_bytes();
    let numbered = bytes.len() > 5
        && bytes[bytes.len() - 5] == b'-'
        && matches!(bytes[bytes.len() - 4], b's' | b'f')
        && bytes[bytes.len() - 3..].iter().all(u8::is_ascii_digit);
    numbered.then(|| &stem[..stem.len() - 5])
}

/// Where `path` stands in its disk's set of files (see [`SetRole`]). Reads at most the head of
/// `path` and of the one descriptor its name points to.
pub fn set_role(path: &Path) -> SetRole {
    let Some(extension) = path.extension().and_then(|e| e.to_str()).filter(|e| e.eq_ignore_ascii_case("vmdk")) else {
        return SetRole::Disk;
    };
    let Some(stem) = path.file_stem().and_then(|s| s.to_str()).and_then(extent_stem) else { return SetRole::Disk };
    let descriptor = path.with_file_name(format!("{stem}.{extension}"));
    let own_name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    if let Ok(Some(text)) = read_descriptor_file(&descriptor) {
        let names_it = text.extents.iter().filter_map(|e| e.file.as_deref()).any(|name| {
            Path::new(name).file_name().and_then(|n| n.to_str()).is_some_and(|n| n.eq_ignore_ascii_case(own_name))
        });
        if names_it {
            return SetRole::ExtentOf(descriptor);
        }
    }
    // Self-describing files stand alone whatever their name.
    let self_describing = match crate::input::read_head(path, 512) {
        Ok((head, _)) if head.starts_with(DESCRIPTOR_MAGIC) => true,
        Ok((head, _)) if head.len() == 512 && head.starts_with(SPARSE_MAGIC) => {
            let mut bytes = [0u8; 512];
            bytes.copy_from_slice(&head);
            SparseHeader::parse(&bytes).is_ok_and(|h| h.descriptor_offset != 0 && h.descriptor_size != 0)
        }
        _ => false,
    };
    if self_describing {
        SetRole::Disk
    } else {
        SetRole::Orphan(descriptor)
    }
}

/// Why an orphan extent is not read.
pub fn orphan_reason(descriptor: &Path) -> String {
    format!(
        "a VMDK extent file (one part of a disk) without its descriptor {}: not read alone, since it \
         holds only part of the disk; put the descriptor beside it and scan the descriptor",
        descriptor.display()
    )
}

fn differencing_error(disk: &Path, parent: &str) -> io::Error {
    let parent_path = match extent_path(disk, parent) {
        Ok(path) => path,
        Err(_) => PathBuf::from(parent),
    };
    let present = if parent_path.is_file() { "present" } else { "missing" };
    invalid(format!(
        "{}: a differencing VMDK (snapshot or linked clone): its parent {} ({present}) holds every grain the child did \
         not rewrite, and is not read here; convert the chain with `qemu-img convert -O raw {} disk.raw` with the \
         parent in place and scan disk.raw, or scan the parent for the state before the snapshot",
        disk.display(),
        parent_path.display(),
        disk.display()
    ))
}

fn cowd_error(path: &Path) -> io::Error {
    invalid(format!(
        "{}: ESX COWD sparse VMDK (the old vmfsSparse format) is not read in place: convert it with `qemu-img convert -O \
         raw {} disk.raw` and scan disk.raw",
        path.display(),
        path.display()
    ))
}

impl VmdkImage {
    /// Opens a VMDK: a sparse or streamOptimized file, or a descriptor whose extents are
    /// opened read-only (regular files only) from its folder.
    pub fn open(path: &Path) -> io::Result<VmdkImage> {
        let display = path.display().to_string();
        let (file, meta) =
            crate::input::open_regular(path).map_err(|e| io::Error::new(e.kind(), format!("{display}: {e}")))?;
        let mut head = [0u8; 4];
        let read = file.read_at(&mut head, 0).map_err(|e| io::Error::new(e.kind(), format!("{display}: {e}")))?;
        if read == 4 && &head == SPARSE_MAGIC {
            let extent = SparseExtent::open(file, path, meta.len())?;
            let embedded = extent.embedded_descriptor()?;
            let mut descriptor = Descriptor::default();
            if let Some(text) = embedded {
                descriptor = Descriptor::parse(&text)
                    .map_err(|why| invalid(format!("{display}: damaged embedded VMDK descriptor: {why}")))?;
                if let Some(parent) = descriptor.parent() {
                    return Err(differencing_error(path, parent));
                }
            }
            let len = extent.capacity_bytes;
            return Ok(VmdkImage {
                display,
                extents: vec![Extent { disk_start: 0, len, data: ExtentData::Sparse(Box::new(extent)) }],
                len,
                create_type: descriptor.create_type,
                cid: descriptor.cid,
                files: 1,
            });
        }
        if read == 4 && &head == COWD_MAGIC {
            return Err(cowd_error(path));
        }
        drop(file);
        let descriptor = read_descriptor_file(path)?
            .ok_or_else(|| invalid(format!("{display}: neither a VMDK sparse extent nor a VMDK descriptor")))?;
        Self::from_descriptor(path, &descriptor)
    }

    fn from_descriptor(path: &Path, descriptor: &Descriptor) -> io::Result<VmdkImage> {
        let display = path.display().to_string();
        if let Some(parent) = descriptor.parent() {
            return Err(differencing_error(path, parent));
        }
        if descriptor.extents.is_empty() {
            return Err(invalid(format!("{display}: VMDK descriptor without any extent line (damaged descriptor)")));
        }
        let mut extents = Vec::with_capacity(descriptor.extents.len());
        let mut disk_start = 0u64;
        for line in &descriptor.extents {
            let len = line
                .sectors
                .checked_mul(SECTOR)
                .ok_or_else(|| invalid(format!("{display}: an extent of {} sectors overflows", line.sectors)))?;
            let data = Self::open_extent(path, line, len)?;
            extents.push(Extent { disk_start, len, data });
            disk_start = disk_start
                .checked_add(len)
                .ok_or_else(|| invalid(format!("{display}: the extents add up to more than 2^64 bytes")))?;
        }
        let files = 1 + descriptor.extents.iter().filter(|e| e.file.is_some()).count();
        Ok(VmdkImage {
            display,
            extents,
            len: disk_start,
            create_type: descriptor.create_type.clone(),
            cid: descriptor.cid.clone(),
            files,
        })
    }

    fn open_extent(descriptor: &Path, line: &ExtentLine, len: u64) -> io::Result<ExtentData> {
        let display = descriptor.display();
        if line.access == "NOACCESS" {
            return Err(invalid(format!(
                "{display}: an extent is marked NOACCESS: its data is not available in this disk"
            )));
        }
        match line.kind.as_str() {
            "ZERO" => return Ok(ExtentData::Zero),
            "FLAT" | "VMFS" | "SPARSE" | "VMFSSPARSE" => {}
            "VMFSRDM" | "VMFSRAW" => {
                return Err(invalid(format!(
                    "{display}: a raw device map ({} extent): the data is on a device or LUN, not in a file; image the \
                     device and scan the image",
                    line.kind
                )))
            }
            other => {
                return Err(invalid(format!(
                    "{display}: {} extent not read in place: convert the disk with `qemu-img convert -O raw {display} \
                     disk.raw` and scan disk.raw",
                    other.escape_debug()
                )))
            }
        }
        let name = line.file.as_deref().unwrap_or_default();
        let extent = extent_path(descriptor, name).map_err(|why| invalid(format!("{display}: {why}")))?;
        let (file, meta) = crate::input::open_regular(&extent).map_err(|e| {
            let what = if e.kind() == io::ErrorKind::NotFound {
                "is missing: put every extent file of the disk beside its descriptor".to_string()
            } else {
                format!("cannot be read: {e}")
            };
            io::Error::new(e.kind(), format!("{display}: extent file {} {what}", extent.display()))
        })?;
        let file_len = meta.len();
        if matches!(line.kind.as_str(), "FLAT" | "VMFS") {
            let start = line.offset.saturating_mul(SECTOR);
            if start.saturating_add(len) > file_len {
                return Err(invalid(format!(
                    "{display}: extent file {} holds {file_len} bytes, but the descriptor needs {} from byte {start}: \
                     truncated extent",
                    extent.display(),
                    len
                )));
            }
            return Ok(ExtentData::Flat { file, path: extent, start });
        }
        let mut magic = [0u8; 4];
        let read =
            file.read_at(&mut magic, 0).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", extent.display())))?;
        if read == 4 && &magic == COWD_MAGIC {
            return Err(cowd_error(&extent));
        }
        let sparse = SparseExtent::open(file, &extent, file_len)?;
        if sparse.capacity_bytes < len {
            return Err(invalid(format!(
                "{}: sparse extent of {} sectors, but the descriptor {display} gives it {}",
                extent.display(),
                sparse.header.capacity,
                line.sectors
            )));
        }
        Ok(ExtentData::Sparse(Box::new(sparse)))
    }
}

impl BlockSource for VmdkImage {
    fn len(&self) -> u64 {
        self.len
    }

    fn container_facts(&self) -> Option<crate::image::facts::ContainerFacts> {
        Some(crate::image::facts::ContainerFacts {
            format: "VMDK".to_string(),
            path: self.display.clone(),
            segments: self.files,
            disk_size: self.len,
            disk_type: self.create_type.clone(),
            content_id: self.cid.clone(),
            ..Default::default()
        })
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let wanted = buf.len().min(usize::try_from(self.len - offset).unwrap_or(usize::MAX));
        let mut filled = 0;
        while filled < wanted {
            let position = offset + filled as u64;
            let Some(extent) =
                self.extents.iter_mut().find(|e| position >= e.disk_start && position - e.disk_start < e.len)
            else {
                break;
            };
            let within = position - extent.disk_start;
            let mut count = (wanted - filled).min(usize::try_from(extent.len - within).unwrap_or(usize::MAX));
            let piece = &mut buf[filled..filled + count];
            match &mut extent.data {
                ExtentData::Zero => piece.fill(0),
                ExtentData::Flat { file, path, start } => {
                    file.read_exact_at(piece, *start + within).map_err(|e| {
                        invalid(format!("{}: extent {} at byte {}: {e}", self.display, path.display(), *start + within))
                    })?;
                }
                ExtentData::Sparse(sparse) => {
                    let in_grain = sparse.grain_bytes - within % sparse.grain_bytes;
                    count = count.min(usize::try_from(in_grain).unwrap_or(usize::MAX));
                    sparse.read_in_grain(within, &mut piece[..count])?;
                }
            }
            filled += count;
        }
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_lines() {
        let text = "# Disk DescriptorFile\nversion=1\nCID=7e4ed9c6\nparentCID=ffffffff\ncreateType=\"twoGbMaxExtentSparse\"\n\n\
                    # Extent description\nRW 8192 SPARSE \"disk s001.vmdk\"\nRDONLY  16\tFLAT  \"disk-flat.vmdk\" 34\r\nRW 8 ZERO\n\
                    ddb.adapterType = \"ide\"\n";
        let descriptor = Descriptor::parse(text).unwrap();
        assert_eq!(descriptor.create_type.as_deref(), Some("twoGbMaxExtentSparse"));
        assert_eq!(descriptor.parent(), None);
        assert_eq!(descriptor.extents.len(), 3);
        assert_eq!(descriptor.extents[0].file.as_deref(), Some("disk s001.vmdk"));
        assert_eq!((descriptor.extents[1].kind.as_str(), descriptor.extents[1].offset), ("FLAT", 34));
        assert_eq!(descriptor.extents[2].file, None);
        assert!(Descriptor::parse("RW lots SPARSE \"x\"").is_err());
        assert!(Descriptor::parse("RW 8 SPARSE x.vmdk").is_err());
        let child = Descriptor::parse("parentCID=c876b13b\nparentFileNameHint=\"base.vmdk\"\n").unwrap();
        assert_eq!(child.parent(), Some("base.vmdk"));
    }

    #[test]
    fn extent_names_stay_in_the_folder() {
        let descriptor = Path::new("/case/disk.vmdk");
        assert_eq!(extent_path(descriptor, "disk-s001.vmdk").unwrap(), Path::new("/case/disk-s001.vmdk"));
        assert!(extent_path(descriptor, "/etc/passwd").is_err());
        assert!(extent_path(descriptor, "../other/disk-flat.vmdk").is_err());
        assert!(extent_path(descriptor, "").is_err());
    }

    #[test]
    fn header_checks() {
        let mut header = [0u8; 512];
        header[..4].copy_from_slice(SPARSE_MAGIC);
        header[4] = 1;
        header[12] = 16; // capacity
        header[20] = 128; // grain
        header[44..48].copy_from_slice(&512u32.to_le_bytes());
        assert!(SparseHeader::parse(&header).is_ok());
        let mut bad = header;
        bad[20] = 100;
        assert!(SparseHeader::parse(&bad).unwrap_err().contains("grain size"));
        let mut bad = header;
        bad[45] = 0;
        assert!(SparseHeader::parse(&bad).unwrap_err().contains("entries per grain table"));
        let mut bad = header;
        bad[4] = 4;
        assert!(SparseHeader::parse(&bad).unwrap_err().contains("version"));
        let mut bad = header;
        bad[8] = 1; // newline test without its bytes
        assert!(SparseHeader::parse(&bad).unwrap_err().contains("text-mode"));
    }
}
