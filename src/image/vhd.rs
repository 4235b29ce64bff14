//! VHD (Virtual PC, Virtual Server, Hyper-V generation 1, Azure's fixed VHD) read in place.
//!
//! Written here rather than taken from the `vhd` crate (0.1.1, SecurityRonin): that crate reads
//! the whole file into memory at open (`read_to_end`, so a 127 GB dynamic disk costs 127 GB),
//! does not verify the dynamic header's checksum, has no fallback to the footer copy at the
//! start of a dynamic disk, and refuses a differencing disk without naming its parent. The
//! format is small (MS-VHD, "Virtual Hard Disk Image Format Specification" 1.0):
//!
//! - every VHD ends with a 512-byte footer (`conectix`, big-endian fields, a checksum that is
//!   the one's complement of the byte sum without the checksum field); a dynamic or
//!   differencing disk has a copy of it at byte 0, used here when the one at the end is damaged
//!   (and the report says so);
//! - a fixed disk (type 2) is its raw bytes followed by the footer: read as raw, the footer's
//!   current size is the disk's size, so the footer is never disk data;
//! - a dynamic disk (type 3) has a dynamic header (`cxsparse`, 1,024 bytes, its own checksum) at
//!   the footer's data offset, and a block allocation table (BAT: one big-endian u32 sector
//!   number per block, `0xFFFFFFFF` = not allocated = zeros). Each allocated block is a sector
//!   bitmap followed by the block's data. The bitmap is skipped, as QEMU does: writers set every
//!   bit of a block they allocate and zero-fill it, so the stored data is what a sector reads;
//! - a differencing disk (type 4) only holds what changed since its parent: it is refused with
//!   the parent's name (the header's UTF-16BE parent name and the Windows relative/absolute
//!   parent locators) and what to do, never read with zeros in place of the parent's data.
//!
//! Lazy and bounded: open reads the two footers and the dynamic header; BAT entries are read
//! 128 at a time (one sector) when a read first touches them, at most [`MAX_BAT_SECTORS`]
//! sectors kept; blocks are read straight from the file. Every offset taken from the file is
//! checked against the file's length before it is read or anything is allocated for it.

use std::collections::HashMap;
use std::io;

use crate::image::bytes::{be_u32, be_u64, read_structure};
use crate::source::BlockSource;

const FOOTER_SIZE: u64 = 512;
const SECTOR: u64 = 512;
const DYNAMIC_HEADER_SIZE: usize = 1024;
const BAT_UNALLOCATED: u32 = 0xFFFF_FFFF;
const ENTRIES_PER_BAT_SECTOR: u64 = SECTOR / 4;
/// BAT sectors kept in memory (64 KiB for 16,384 blocks, i.e. 32 GiB of 2 MiB blocks);
/// past it the cache starts again, so a huge disk costs no more.
const MAX_BAT_SECTORS: usize = 128;
/// Block sizes QEMU and Hyper-V accept: a power of two from one sector; 2 MiB is the default
/// of every writer. The upper bound only keeps a damaged header from meaning nonsense.
const MAX_BLOCK_SIZE: u32 = 256 << 20;
/// A parent locator holds a path; more than this is a damaged locator, not read.
const MAX_LOCATOR_BYTES: u32 = 64 << 10;

/// The three kinds of VHD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskType {
    Fixed,
    Dynamic,
    Differencing,
}

/// The fields of a footer that reading uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    pub disk_type: DiskType,
    /// The disk's size in bytes.
    pub current_size: u64,
    /// Where the dynamic header is (dynamic and differencing disks).
    pub data_offset: u64,
    /// For the report: creator application (`qemu`, `vpc `, `win `), its version and host
    /// OS (`Wi2k`, `Mac `) as stored, the creation time (seconds since 2000-01-01 UTC) and
    /// the unique id.
    pub creator_application: [u8; 4],
    pub creator_version: u32,
    pub creator_host: [u8; 4],
    pub timestamp: u32,
    pub unique_id: [u8; 16],
}

impl Footer {
    /// What the footer says about the disk, for the report.
    pub fn facts(&self, display: &str) -> crate::image::facts::ContainerFacts {
        let four = |bytes: &[u8; 4]| String::from_utf8_lossy(bytes).trim_end_matches([' ', '\0']).to_string();
        let created = time::OffsetDateTime::from_unix_timestamp(946_684_800 + i64::from(self.timestamp))
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
        let id = crate::image::facts::hex(&self.unique_id);
        crate::image::facts::ContainerFacts {
            format: "VHD".to_string(),
            path: display.to_string(),
            segments: 1,
            disk_size: self.current_size,
            disk_identifier: Some(format!(
                "{{{}-{}-{}-{}-{}}}",
                &id[..8],
                &id[8..12],
                &id[12..16],
                &id[16..20],
                &id[20..]
            )),
            disk_type: Some(
                match self.disk_type {
                    DiskType::Fixed => "fixed",
                    DiskType::Dynamic => "dynamic",
                    DiskType::Differencing => "differencing",
                }
                .to_string(),
            ),
            creator: Some(format!(
                "{} {}.{} on {}",
                four(&self.creator_application),
                self.creator_version >> 16,
                self.creator_version & 0xffff,
                four(&self.creator_host)
            )),
            created,
            ..Default::default()
        }
    }
}

/// One's complement of the sum of every byte outside the 4-byte checksum field at `field`.
fn checksum(bytes: &[u8], field: usize) -> u32 {
    let sum = bytes
        .iter()
        .enumerate()
        .filter(|(at, _)| !(field..field + 4).contains(at))
        .fold(0u32, |sum, (_, &b)| sum.wrapping_add(u32::from(b)));
    !sum
}

/// Why a 512-byte block is not a usable footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FooterProblem {
    /// No `conectix` cookie: not a footer at all.
    NoCookie,
    Damaged(String),
}

/// Parses a footer, checksum first.
pub fn parse_footer(bytes: &[u8]) -> Result<Footer, FooterProblem> {
    if bytes.len() < FOOTER_SIZE as usize || !bytes.starts_with(b"conectix") {
        return Err(FooterProblem::NoCookie);
    }
    let bytes = &bytes[..FOOTER_SIZE as usize];
    let (stored, computed) = (be_u32(bytes, 64), checksum(bytes, 64));
    if stored != computed {
        return Err(FooterProblem::Damaged(format!(
            "footer checksum {stored:#010x}, its bytes sum to {computed:#010x}"
        )));
    }
    let version = be_u32(bytes, 12);
    if version >> 16 != 1 {
        return Err(FooterProblem::Damaged(format!("footer file format version {version:#010x}, not 1.x")));
    }
    let disk_type = match be_u32(bytes, 60) {
        2 => DiskType::Fixed,
        3 => DiskType::Dynamic,
        4 => DiskType::Differencing,
        other => return Err(FooterProblem::Damaged(format!("disk type {other} (2 fixed, 3 dynamic, 4 differencing)"))),
    };
    let array = |at: usize| {
        let mut field = [0u8; 4];
        field.copy_from_slice(&bytes[at..at + 4]);
        field
    };
    let mut unique_id = [0u8; 16];
    unique_id.copy_from_slice(&bytes[68..84]);
    Ok(Footer {
        disk_type,
        current_size: be_u64(bytes, 40),
        data_offset: be_u64(bytes, 16),
        creator_application: array(28),
        creator_version: be_u32(bytes, 32),
        creator_host: array(36),
        timestamp: be_u32(bytes, 24),
        unique_id,
    })
}

fn invalid(display: &str, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{display}: damaged or truncated VHD: {what}; `qemu-img check -f vpc` tells more"),
    )
}

/// [`read_structure`], with this format's error.
fn read_file_exact<S: BlockSource>(
    file: &mut S,
    display: &str,
    offset: u64,
    buf: &mut [u8],
    what: &str,
) -> io::Result<()> {
    read_structure(file, display, offset, buf, what, |why| invalid(display, why))
}

/// The footer a VHD is read by: the one at the end, or the copy at byte 0 of a dynamic or
/// differencing disk when the end one is damaged (with a warning saying so). `Ok(None)` when
/// neither end of the file holds a footer: not a VHD.
pub fn find_footer<S: BlockSource>(file: &mut S, display: &str) -> io::Result<Option<(Footer, Vec<String>)>> {
    let len = file.len();
    if len < FOOTER_SIZE {
        return Ok(None);
    }
    let mut end = [0u8; FOOTER_SIZE as usize];
    read_file_exact(file, display, len - FOOTER_SIZE, &mut end, "footer")?;
    let at_end = parse_footer(&end);
    if let Ok(footer) = at_end {
        return Ok(Some((footer, Vec::new())));
    }
    let mut start = [0u8; FOOTER_SIZE as usize];
    read_file_exact(file, display, 0, &mut start, "footer copy")?;
    match (at_end, parse_footer(&start)) {
        (Err(FooterProblem::NoCookie), Err(FooterProblem::NoCookie)) => Ok(None),
        (Err(problem), Ok(copy)) if copy.disk_type != DiskType::Fixed => {
            let why = match problem {
                FooterProblem::NoCookie => "missing (no `conectix` in the last 512 bytes)".to_string(),
                FooterProblem::Damaged(why) => format!("damaged ({why})"),
            };
            Ok(Some((copy, vec![format!("the VHD footer at the end of the file is {why}: read by its copy at byte 0")])))
        }
        (Err(FooterProblem::Damaged(why)), _) => Err(invalid(
            display,
            format!(
                "the footer at the end of the file is damaged ({why}) and there is no sound copy at byte 0; a fixed VHD's \
                 disk is everything before its last 512 bytes (`head -c -512 IMAGE.vhd > IMAGE.raw`, then scan IMAGE.raw)"
            ),
        )),
        (_, Err(FooterProblem::Damaged(why))) => {
            Err(invalid(display, format!("no footer at the end of the file and its copy at byte 0 is damaged ({why})")))
        }
        (_, Ok(copy)) => Err(invalid(
            display,
            format!("no footer at the end of the file, and the copy at byte 0 says {:?}, which has none", copy.disk_type),
        )),
        (Ok(_), _) => Ok(None),
    }
}

/// The dynamic header's fields.
struct DynamicHeader {
    table_offset: u64,
    max_table_entries: u32,
    block_size: u32,
    /// The header, for the parent fields of a differencing disk.
    raw: Vec<u8>,
}

fn read_dynamic_header<S: BlockSource>(file: &mut S, display: &str, footer: &Footer) -> io::Result<DynamicHeader> {
    let mut raw = vec![0u8; DYNAMIC_HEADER_SIZE];
    read_file_exact(file, display, footer.data_offset, &mut raw, "dynamic header")?;
    if !raw.starts_with(b"cxsparse") {
        return Err(invalid(display, format!("no dynamic header (`cxsparse`) at byte {}", footer.data_offset)));
    }
    let (stored, computed) = (be_u32(&raw, 36), checksum(&raw, 36));
    if stored != computed {
        return Err(invalid(
            display,
            format!("dynamic header checksum {stored:#010x}, its bytes sum to {computed:#010x}"),
        ));
    }
    let version = be_u32(&raw, 24);
    if version != 0x0001_0000 {
        return Err(invalid(display, format!("dynamic header version {version:#010x}, not 1.0")));
    }
    let header = DynamicHeader {
        table_offset: be_u64(&raw, 16),
        max_table_entries: be_u32(&raw, 28),
        block_size: be_u32(&raw, 32),
        raw,
    };
    if !header.block_size.is_power_of_two()
        || u64::from(header.block_size) < SECTOR
        || header.block_size > MAX_BLOCK_SIZE
    {
        return Err(invalid(
            display,
            format!("block size {} is not a power of two from 512 to 256 MiB", header.block_size),
        ));
    }
    Ok(header)
}

fn utf16(bytes: &[u8], big_endian: bool) -> String {
    let units = bytes.chunks_exact(2).map(|pair| {
        if big_endian {
            u16::from_be_bytes([pair[0], pair[1]])
        } else {
            u16::from_le_bytes([pair[0], pair[1]])
        }
    });
    // As written: control characters are escaped where the text is shown, as for every
    // string from the evidence.
    char::decode_utf16(units.take_while(|&unit| unit != 0)).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
}

/// What a differencing disk says of its parent: the name in the header, then the paths of the
/// Windows relative (`W2ru`) and absolute (`W2ku`) locators, each read bounded.
fn parent_description<S: BlockSource>(file: &mut S, display: &str, header: &DynamicHeader) -> String {
    let name = utf16(&header.raw[64..576], true);
    let mut parts = vec![if name.is_empty() { "an unnamed parent".to_string() } else { format!("parent \"{name}\"") }];
    for entry in header.raw[576..768].chunks_exact(24) {
        let (code, length, offset) = (&entry[0..4], be_u32(entry, 8), be_u64(entry, 16));
        let kind = match code {
            b"W2ru" => "relative path",
            b"W2ku" => "absolute path",
            _ => continue,
        };
        if length == 0 || length > MAX_LOCATOR_BYTES {
            continue;
        }
        let mut path = vec![0u8; length as usize];
        if read_file_exact(file, display, offset, &mut path, "parent locator").is_ok() {
            let path = utf16(&path, false);
            if !path.is_empty() {
                parts.push(format!("{kind} {path}"));
            }
        }
    }
    parts.join(", ")
}

/// The disk inside a dynamic VHD, or the first `current_size` bytes of a fixed one.
pub struct VhdImage<S> {
    file: S,
    display: String,
    len: u64,
    layout: Layout,
    warnings: Vec<String>,
    footer: Footer,
}

enum Layout {
    Fixed,
    Dynamic {
        table_offset: u64,
        block_size: u64,
        /// Bytes of the sector bitmap before each block's data.
        bitmap_size: u64,
        /// BAT sectors read so far, by their number in the table.
        bat: HashMap<u64, [u32; ENTRIES_PER_BAT_SECTOR as usize]>,
    },
}

impl<S: BlockSource> VhdImage<S> {
    /// Opens a VHD by `footer` (from [`find_footer`]): checks the dynamic header and that the
    /// BAT lies inside the file; a differencing disk is an error naming its parent.
    pub fn open(mut file: S, display: &str, footer: Footer, warnings: Vec<String>) -> io::Result<VhdImage<S>> {
        let file_len = file.len();
        let layout = match footer.disk_type {
            DiskType::Fixed => {
                if footer.current_size > file_len.saturating_sub(FOOTER_SIZE) {
                    return Err(invalid(
                        display,
                        format!(
                            "fixed VHD of {} bytes in a file of {file_len} bytes: the file is truncated",
                            footer.current_size
                        ),
                    ));
                }
                Layout::Fixed
            }
            DiskType::Dynamic | DiskType::Differencing => {
                let header = read_dynamic_header(&mut file, display, &footer)?;
                if footer.disk_type == DiskType::Differencing {
                    let parent = parent_description(&mut file, display, &header);
                    return Err(io::Error::new(
                        io::ErrorKind::Unsupported,
                        format!(
                            "{display}: differencing VHD (a snapshot or child disk) whose {parent} holds every sector \
                             this file does not; it is not read here, since those sectors would read as zeros. Merge the \
                             chain (Hyper-V Merge-VHD, or `qemu-img convert -O raw CHILD.vhd disk.raw` with the parent \
                             where the child names it) and scan the result"
                        ),
                    ));
                }
                let block_size = u64::from(header.block_size);
                let needed = footer.current_size.div_ceil(block_size);
                let entries = u64::from(header.max_table_entries);
                if entries < needed {
                    return Err(invalid(
                        display,
                        format!(
                            "the BAT has {entries} entries but a {}-byte disk of {block_size}-byte blocks needs {needed}",
                            footer.current_size
                        ),
                    ));
                }
                let table_end = entries.checked_mul(4).and_then(|size| header.table_offset.checked_add(size));
                if table_end.is_none_or(|end| end > file_len) {
                    return Err(invalid(
                        display,
                        format!(
                            "the BAT ({entries} entries at byte {}) goes past the end of the file ({file_len} bytes)",
                            header.table_offset
                        ),
                    ));
                }
                // One bit per sector, in whole sectors.
                let bitmap_size = (block_size / SECTOR).div_ceil(8).div_ceil(SECTOR) * SECTOR;
                Layout::Dynamic { table_offset: header.table_offset, block_size, bitmap_size, bat: HashMap::new() }
            }
        };
        Ok(VhdImage { file, display: display.to_string(), len: footer.current_size, layout, warnings, footer })
    }

    /// Where block `block`'s data starts in the file; `None` when it is not allocated.
    fn block_start(&mut self, block: u64) -> io::Result<Option<u64>> {
        let Layout::Dynamic { table_offset, block_size, bitmap_size, bat, .. } = &mut self.layout else {
            return Ok(Some(0));
        };
        let sector = block / ENTRIES_PER_BAT_SECTOR;
        if !bat.contains_key(&sector) {
            if bat.len() >= MAX_BAT_SECTORS {
                bat.clear();
            }
            let at = *table_offset + sector * SECTOR;
            // The last BAT sector may end with the file (the table is checked to fit, not its padding).
            let available = self.file.len().saturating_sub(at).min(SECTOR) as usize;
            let mut bytes = [0xffu8; SECTOR as usize];
            read_file_exact(&mut self.file, &self.display, at, &mut bytes[..available], "BAT")?;
            let mut entries = [BAT_UNALLOCATED; ENTRIES_PER_BAT_SECTOR as usize];
            for (entry, raw) in entries.iter_mut().zip(bytes.chunks_exact(4)) {
                *entry = be_u32(raw, 0);
            }
            bat.insert(sector, entries);
        }
        let entry =
            bat.get(&sector).map_or(BAT_UNALLOCATED, |entries| entries[(block % ENTRIES_PER_BAT_SECTOR) as usize]);
        if entry == BAT_UNALLOCATED {
            return Ok(None);
        }
        let data = u64::from(entry) * SECTOR + *bitmap_size;
        if data.saturating_add(*block_size) > self.file.len() {
            return Err(invalid(
                &self.display,
                format!(
                    "BAT entry {block} points at sector {entry}, past the end of the file ({} bytes)",
                    self.file.len()
                ),
            ));
        }
        Ok(Some(data))
    }
}

impl<S> std::fmt::Debug for VhdImage<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VhdImage").field("image", &self.display).field("len", &self.len).finish()
    }
}

impl<S: BlockSource> BlockSource for VhdImage<S> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let wanted = buf.len().min(usize::try_from(self.len - offset).unwrap_or(usize::MAX));
        let block_size = match &self.layout {
            Layout::Fixed => {
                read_file_exact(&mut self.file, &self.display, offset, &mut buf[..wanted], "disk data")?;
                return Ok(wanted);
            }
            Layout::Dynamic { block_size, .. } => *block_size,
        };
        let mut filled = 0;
        while filled < wanted {
            let position = offset + filled as u64;
            let (block, within) = (position / block_size, position % block_size);
            let count = (wanted - filled).min(usize::try_from(block_size - within).unwrap_or(usize::MAX));
            let target = &mut buf[filled..filled + count];
            match self.block_start(block)? {
                None => target.fill(0),
                Some(start) => read_file_exact(&mut self.file, &self.display, start + within, target, "block")?,
            }
            filled += count;
        }
        Ok(filled)
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    fn container_facts(&self) -> Option<crate::image::facts::ContainerFacts> {
        Some(self.footer.facts(&self.display))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer(disk_type: u32, size: u64, data_offset: u64) -> Vec<u8> {
        let mut f = vec![0u8; 512];
        f[..8].copy_from_slice(b"conectix");
        f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        f[16..24].copy_from_slice(&data_offset.to_be_bytes());
        f[40..48].copy_from_slice(&size.to_be_bytes());
        f[60..64].copy_from_slice(&disk_type.to_be_bytes());
        let sum = checksum(&f, 64);
        f[64..68].copy_from_slice(&sum.to_be_bytes());
        f
    }

    /// A dynamic disk of two 4 KiB blocks: block 0 allocated (bytes 1..), block 1 not.
    fn dynamic() -> Vec<u8> {
        let mut file = footer(3, 8192, 512);
        let mut header = vec![0u8; 1024];
        header[..8].copy_from_slice(b"cxsparse");
        header[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        header[16..24].copy_from_slice(&1536u64.to_be_bytes());
        header[24..28].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        header[28..32].copy_from_slice(&2u32.to_be_bytes());
        header[32..36].copy_from_slice(&4096u32.to_be_bytes());
        let sum = checksum(&header, 36);
        header[36..40].copy_from_slice(&sum.to_be_bytes());
        file.extend_from_slice(&header);
        let mut bat = vec![0xffu8; 512];
        bat[..4].copy_from_slice(&4u32.to_be_bytes());
        file.extend_from_slice(&bat);
        file.extend_from_slice(&[0xffu8; 512]); // sector bitmap of block 0
        file.extend((0..4096u32).map(|i| (i % 251) as u8 + 1));
        file.extend_from_slice(&footer(3, 8192, 512));
        file
    }

    fn open(file: &[u8]) -> io::Result<VhdImage<&[u8]>> {
        let mut source = file;
        let (footer, warnings) = find_footer(&mut source, "t.vhd")?.ok_or(io::ErrorKind::NotFound)?;
        VhdImage::open(file, "t.vhd", footer, warnings)
    }

    #[test]
    fn dynamic_blocks_and_holes() {
        let file = dynamic();
        let mut disk = open(&file).unwrap();
        assert_eq!(disk.len(), 8192);
        let mut buf = vec![0u8; 8192];
        disk.read_exact_at(0, &mut buf).unwrap();
        assert_eq!(buf[0], 1);
        assert_eq!(buf[4095], (4095 % 251) as u8 + 1);
        assert!(buf[4096..].iter().all(|&b| b == 0));
        assert_eq!(disk.read_at(8192, &mut buf).unwrap(), 0);
    }

    #[test]
    fn damaged_end_footer_falls_back_to_the_copy() {
        let mut file = dynamic();
        let end = file.len() - 500;
        file[end] ^= 1;
        let disk = open(&file).unwrap();
        assert!(disk.warnings()[0].contains("read by its copy at byte 0"), "{:?}", disk.warnings());
        // Both damaged: an error.
        file[0x30] ^= 1;
        assert!(open(&file).unwrap_err().to_string().contains("checksum"));
    }

    #[test]
    fn fixed_disk_ends_before_its_footer() {
        let mut file = vec![7u8; 1024];
        file.extend_from_slice(&footer(2, 1024, u64::MAX));
        let mut disk = open(&file).unwrap();
        assert_eq!(disk.len(), 1024);
        let mut buf = [0u8; 600];
        assert_eq!(disk.read_at(800, &mut buf).unwrap(), 224);
        let mut short = vec![7u8; 512];
        short.extend_from_slice(&footer(2, 1024, u64::MAX));
        assert!(open(&short).unwrap_err().to_string().contains("truncated"));
    }

    #[test]
    fn bat_past_the_file_and_bad_header_are_errors() {
        let mut file = dynamic();
        file[1536..1540].copy_from_slice(&100_000u32.to_be_bytes());
        let mut disk = open(&file).unwrap();
        let mut buf = [0u8; 16];
        let error = disk.read_at(0, &mut buf).unwrap_err().to_string();
        assert!(error.starts_with("t.vhd: ") && error.contains("past the end of the file"), "{error}");
        let mut file = dynamic();
        file[512 + 33] ^= 0x10;
        assert!(open(&file).unwrap_err().to_string().contains("dynamic header checksum"));
        assert!(open(&file[..700]).is_err());
    }
}
