//! VHDX (Hyper-V, Azure, KAPE's `--vhdx` container) read in place: fixed and dynamic disks,
//! 512-byte and 4 KiB logical sectors, and a dirty file's log replayed into memory (see
//! [`log`]). Differencing disks are refused naming their parent.
//!
//! Written here, not taken from a crate. `vhdx-core` 0.4 was used first: its replay is wrong
//! (see [`log`]), and its open reads about 6.6 MiB whatever the disk (measured with strace on
//! the 4 MiB fixture disk: the first 2.3 MiB twice, then the whole metadata region and the
//! whole BAT region), so one open of the fixture read 7.3 MB where its raw volume is read with
//! 247 KB, and cold VHDX cost about 3x raw. The format is small (MS-VHDX): a file type
//! identifier, two headers, two region tables (here: where the BAT and the metadata are),
//! a metadata table of small items, and the BAT, one 64-bit entry per payload block.
//!
//! What is read, and the bounds: the identifier (520 bytes), both headers (4 KiB each, the
//! valid one with the higher sequence number is active), the first valid region table (64 KiB,
//! its CRC-32C covers all of it; the second copy only when the first is damaged), the metadata
//! table (32 bytes per entry, at most 2,047) and the five small items that say how to read
//! the disk. The BAT is read one 4 KiB page at a time as lookups touch it, [`BAT_CACHE`] pages
//! kept, and payload blocks only where a read falls. Every offset from the file (regions,
//! items, BAT pages, blocks) is checked against the file's length and the format's alignment
//! before it is read; a block past the end of the file is an error naming the byte, never
//! zeros. Unknown regions and metadata items marked required are refused (they may change
//! how the disk reads), as are differencing disks (the parent holds what the child did not
//! write; the error names it from the Parent Locator).
//!
//! A dirty file's log is replayed here into memory only (the file is never written), and the
//! reader then reads the file as replayed: headers, region tables, metadata and BAT included.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::image::bytes::{array, le_u16, le_u32, le_u64};
use crate::image::facts::{guid_text, ContainerFacts, ContainerLogReplay};
use crate::source::BlockSource;

/// The file type identifier: signature and creator string (UTF-16LE, 512 bytes).
const IDENTIFIER_LEN: usize = 8 + 512;
/// The two region table copies (MS-VHDX §2.2.3), 64 KiB each.
const REGION_TABLES: [u64; 2] = [0x3_0000, 0x4_0000];
const REGION_TABLE_LEN: usize = 0x1_0000;
const MAX_TABLE_ENTRIES: usize = 2047;
/// Regions, and payload blocks, lie on 1 MiB boundaries (BAT entries count MiB).
const MIB: u64 = 1 << 20;
/// Metadata items lie after the 64 KiB table and are at most 1 MiB each.
const METADATA_TABLE_LEN: u64 = 0x1_0000;
const MAX_ITEM_LEN: u32 = 1 << 20;
/// The Parent Locator is read only to name the parent; hostile sizes stop here.
const MAX_PARENT_LOCATOR: u32 = 0x1_0000;
const MIN_BLOCK_SIZE: u32 = 1 << 20;
const MAX_BLOCK_SIZE: u32 = 256 << 20;
const MAX_DISK_SIZE: u64 = 64 << 40;
/// Sectors described by one sector bitmap block (1 MiB of bits): the chunk ratio is this
/// many sectors' bytes over the block size.
const SECTORS_PER_BITMAP_BLOCK: u64 = 1 << 23;
/// BAT pages (4 KiB, 512 entries each) are read on demand; this many kept (256 KiB in all).
const BAT_PAGE: u64 = 4096;
pub const BAT_CACHE: usize = 64;

/// GUIDs as stored (the first three fields little-endian), from MS-VHDX §2.3.1 and §2.6.2.
const BAT_REGION: [u8; 16] = guid(0x2dc2_7766, 0xf623, 0x4200, [0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08]);
const METADATA_REGION: [u8; 16] = guid(0x8b7c_a206, 0x4790, 0x4b9a, [0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e]);
const FILE_PARAMETERS: [u8; 16] = guid(0xcaa1_6737, 0xfa36, 0x4d43, [0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b]);
const VIRTUAL_DISK_SIZE: [u8; 16] = guid(0x2fa5_4224, 0xcd1b, 0x4876, [0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8]);
/// Page 83 Data: the Virtual Disk ID (a GUID, what SCSI page 0x83 reports for the disk).
const VIRTUAL_DISK_ID: [u8; 16] = guid(0xbeca_12ab, 0xb2e6, 0x4523, [0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46]);
const LOGICAL_SECTOR_SIZE: [u8; 16] =
    guid(0x8141_bf1d, 0xa96f, 0x4709, [0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f]);
const PHYSICAL_SECTOR_SIZE: [u8; 16] =
    guid(0xcda3_48c7, 0x445d, 0x4471, [0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56]);
const PARENT_LOCATOR: [u8; 16] = guid(0xa8d3_5f2d, 0xb30b, 0x454d, [0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c]);
const KNOWN_ITEMS: [[u8; 16]; 6] =
    [FILE_PARAMETERS, VIRTUAL_DISK_SIZE, VIRTUAL_DISK_ID, LOGICAL_SECTOR_SIZE, PHYSICAL_SECTOR_SIZE, PARENT_LOCATOR];

const fn guid(first: u32, second: u16, third: u16, rest: [u8; 8]) -> [u8; 16] {
    let (a, b, c) = (first.to_le_bytes(), second.to_le_bytes(), third.to_le_bytes());
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6],
        rest[7],
    ]
}

/// BAT entry states (MS-VHDX §2.5.1), the low 3 bits.
const PAYLOAD_NOT_PRESENT: u64 = 0;
const PAYLOAD_UNDEFINED: u64 = 1;
const PAYLOAD_ZERO: u64 = 2;
const PAYLOAD_UNMAPPED: u64 = 3;
const PAYLOAD_FULLY_PRESENT: u64 = 6;
const PAYLOAD_PARTIALLY_PRESENT: u64 = 7;

/// CRC-32C of `bytes` with its checksum field (4..8) taken as zero (headers, region tables,
/// log entries).
fn checksum(bytes: &[u8]) -> u32 {
    const CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
    let mut digest = CASTAGNOLI.digest();
    digest.update(&bytes[..4]);
    digest.update(&[0u8; 4]);
    digest.update(&bytes[8..]);
    digest.finalize()
}

/// UTF-16LE as text (lossy: these are labels for the report, not paths to open).
fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

fn damaged(display: &str, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{display}: damaged or truncated VHDX: {what}; `qemu-img check` on a copy tells more"),
    )
}

/// The bytes the reader reads: the file itself, or the file with its log replayed over it.
enum Backing {
    File { file: File, len: u64 },
    Replayed(log::Replayed),
}

impl Backing {
    fn len(&self) -> u64 {
        match self {
            Backing::File { len, .. } => *len,
            Backing::Replayed(replayed) => replayed.len(),
        }
    }

    /// Fills `buf` from byte `offset`, or says which structure (`what`) goes past the end.
    fn read_exact_at(&self, display: &str, offset: u64, buf: &mut [u8], what: &str) -> io::Result<()> {
        let len = self.len();
        if offset.checked_add(buf.len() as u64).is_none_or(|end| end > len) {
            return Err(damaged(
                display,
                format!(
                    "the {what} at byte {offset} ({} bytes) goes past the end of the file ({len} bytes)",
                    buf.len()
                ),
            ));
        }
        let read = match self {
            Backing::File { file, .. } => log::pread(file, offset, buf),
            Backing::Replayed(replayed) => replayed.read_at(offset, buf),
        }
        .map_err(|e| io::Error::new(e.kind(), format!("{display}: the {what} at byte {offset}: {e}")))?;
        if read < buf.len() {
            return Err(damaged(
                display,
                format!("the file ended at byte {} while the {what} was read", offset + read as u64),
            ));
        }
        Ok(())
    }
}

/// A region table entry (MS-VHDX §2.2.3.1): where a region is.
#[derive(Clone, Copy)]
struct Region {
    offset: u64,
    len: u64,
}

/// The region table copy at `at`, when its signature, CRC-32C and entry count are good.
fn region_table(backing: &Backing, display: &str, at: u64) -> io::Result<Option<Vec<u8>>> {
    let mut table = vec![0u8; REGION_TABLE_LEN];
    backing.read_exact_at(display, at, &mut table, "region table")?;
    let valid = &table[..4] == b"regi"
        && checksum(&table) == le_u32(&table, 4)
        && le_u32(&table, 8) as usize <= MAX_TABLE_ENTRIES;
    Ok(valid.then_some(table))
}

/// The BAT and metadata regions of the first valid region table copy; an unknown region
/// marked required is refused.
fn regions(backing: &Backing, display: &str) -> io::Result<(Region, Region)> {
    let mut table = None;
    for at in REGION_TABLES {
        if let Some(valid) = region_table(backing, display, at)? {
            table = Some((at, valid));
            break;
        }
    }
    let Some((table_at, table)) = table else {
        return Err(damaged(
            display,
            "neither region table (at byte 196608 and 262144) has a valid signature, CRC-32C and entry count",
        ));
    };
    let (mut bat, mut metadata) = (None, None);
    for n in 0..le_u32(&table, 8) as usize {
        let entry = &table[16 + 32 * n..48 + 32 * n];
        let entry_at = table_at + 16 + 32 * n as u64;
        let id = array::<16>(entry, 0);
        let region = Region { offset: le_u64(entry, 16), len: u64::from(le_u32(entry, 24)) };
        let required = le_u32(entry, 28) & 1 != 0;
        let slot = match id {
            BAT_REGION => &mut bat,
            METADATA_REGION => &mut metadata,
            _ if required => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "{display}: the VHDX has a region this reader does not know ({}, region table entry at byte \
                         {entry_at}) marked required: it may change how the disk reads, so the disk is not read; \
                         convert it with `qemu-img convert -O raw {display} disk.raw` or in Hyper-V and scan the result",
                        guid_text(&id)
                    ),
                ))
            }
            _ => continue,
        };
        let what = if id == BAT_REGION { "BAT" } else { "metadata" };
        if slot.is_some() {
            return Err(damaged(display, format!("the region table names the {what} region twice")));
        }
        if region.offset < MIB
            || !region.offset.is_multiple_of(MIB)
            || region.len == 0
            || !region.len.is_multiple_of(MIB)
        {
            return Err(damaged(
                display,
                format!(
                    "the {what} region ({} bytes at byte {}, entry at byte {entry_at}) is not on 1 MiB boundaries \
                     after the header section",
                    region.len, region.offset
                ),
            ));
        }
        if region.offset.saturating_add(region.len) > backing.len() {
            return Err(damaged(
                display,
                format!(
                    "the {what} region ({} bytes at byte {}) goes past the end of the file ({} bytes)",
                    region.len,
                    region.offset,
                    backing.len()
                ),
            ));
        }
        *slot = Some(region);
    }
    match (bat, metadata) {
        (Some(bat), Some(metadata)) => Ok((bat, metadata)),
        (None, _) => Err(damaged(display, "the region table has no BAT region")),
        (_, None) => Err(damaged(display, "the region table has no metadata region")),
    }
}

/// A metadata table entry (MS-VHDX §2.6.1.2): where an item is in the metadata region.
#[derive(Clone, Copy)]
struct Item {
    offset: u32,
    len: u32,
}

/// The known items of the metadata table; unknown items marked required are refused.
fn metadata_items(backing: &Backing, display: &str, metadata: Region) -> io::Result<Vec<([u8; 16], Item)>> {
    let mut header = [0u8; 32];
    backing.read_exact_at(display, metadata.offset, &mut header, "metadata table")?;
    if &header[..8] != b"metadata" {
        return Err(damaged(display, format!("no metadata table signature at byte {}", metadata.offset)));
    }
    let count = le_u16(&header, 10) as usize;
    if count > MAX_TABLE_ENTRIES {
        return Err(damaged(display, format!("the metadata table has {count} entries (at most 2047)")));
    }
    let mut entries = vec![0u8; 32 * count];
    backing.read_exact_at(display, metadata.offset + 32, &mut entries, "metadata table")?;
    let mut items = Vec::new();
    for (n, entry) in entries.chunks_exact(32).enumerate() {
        let entry_at = metadata.offset + 32 + 32 * n as u64;
        let id = array::<16>(entry, 0);
        let item = Item { offset: le_u32(entry, 16), len: le_u32(entry, 20) };
        let flags = le_u32(entry, 24);
        let (is_user, required) = (flags & 1 != 0, flags & 4 != 0);
        if is_user || !KNOWN_ITEMS.contains(&id) {
            if required {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!(
                        "{display}: the VHDX has a metadata item this reader does not know ({}, metadata table entry \
                         at byte {entry_at}) marked required: it may change how the disk reads, so the disk is not \
                         read; convert it with `qemu-img convert -O raw {display} disk.raw` or in Hyper-V and scan \
                         the result",
                        guid_text(&id)
                    ),
                ));
            }
            continue;
        }
        let placed = if item.len == 0 {
            item.offset == 0
        } else {
            item.len <= MAX_ITEM_LEN
                && u64::from(item.offset) >= METADATA_TABLE_LEN
                && u64::from(item.offset) + u64::from(item.len) <= metadata.len
        };
        if !placed {
            return Err(damaged(
                display,
                format!(
                    "the metadata item {} ({} bytes at region offset {}, entry at byte {entry_at}) lies outside the \
                     metadata region's items",
                    guid_text(&id),
                    item.len,
                    item.offset
                ),
            ));
        }
        if items.iter().any(|(known, _)| *known == id) {
            return Err(damaged(display, format!("the metadata table names the item {} twice", guid_text(&id))));
        }
        items.push((id, item));
    }
    Ok(items)
}

/// The first `len` bytes of the item `id`, or `None` when the table has no such item; an
/// item shorter than `len` is damage.
fn item_bytes(
    backing: &Backing,
    display: &str,
    metadata: Region,
    items: &[([u8; 16], Item)],
    id: [u8; 16],
    len: u32,
    name: &str,
) -> io::Result<Option<Vec<u8>>> {
    let Some((_, item)) = items.iter().find(|(known, _)| *known == id) else { return Ok(None) };
    if item.len < len {
        return Err(damaged(display, format!("the {name} metadata item is {} bytes, it needs {len}", item.len)));
    }
    let mut bytes = vec![0u8; len as usize];
    backing.read_exact_at(display, metadata.offset + u64::from(item.offset), &mut bytes, name)?;
    Ok(Some(bytes))
}

/// The parent paths of a differencing VHDX from its Parent Locator metadata item (MS-VHDX
/// §2.6.2.6), e.g. `relative_path ".\parent.vhdx", absolute_win32_path "C:\…"`: keys and
/// values UTF-16LE, shown as written (the report escapes control characters where it prints).
fn parent_locator(backing: &Backing, display: &str, metadata: Region, items: &[([u8; 16], Item)]) -> Option<String> {
    let (_, item) = items.iter().find(|(known, _)| *known == PARENT_LOCATOR)?;
    let len = item.len.min(MAX_PARENT_LOCATOR);
    let item = item_bytes(backing, display, metadata, items, PARENT_LOCATOR, len, "Parent Locator").ok()??;
    let pairs = le_u16(item.get(..20)?, 18) as usize;
    let text = |at: u32, len: u16| -> Option<String> {
        Some(utf16(item.get(at as usize..(at as usize).checked_add(len as usize)?)?))
    };
    let mut found = Vec::new();
    for n in 0..pairs.min(64) {
        let at = 20 + 12 * n;
        let entry = item.get(at..at + 12)?;
        let key = text(le_u32(entry, 0), le_u16(entry, 8))?;
        let value = text(le_u32(entry, 4), le_u16(entry, 10))?;
        if key != "parent_linkage" && key != "parent_linkage2" {
            found.push(format!("{key} \"{value}\""));
        }
    }
    (!found.is_empty()).then(|| found.join(", "))
}

/// The virtual disk inside a VHDX file.
pub struct VhdxImage {
    backing: Backing,
    display: String,
    /// Virtual disk size.
    len: u64,
    block_size: u64,
    /// Payload blocks per chunk: after each chunk's entries, the BAT holds one sector bitmap
    /// entry.
    chunk_ratio: u64,
    bat: Region,
    /// BAT pages by their byte in the file, most recently used first.
    pages: Vec<(u64, Vec<u64>)>,
    facts: ContainerFacts,
}

impl VhdxImage {
    /// Opens a VHDX: checks its identifier, headers, region table and metadata, replays a
    /// dirty log into memory, refuses what is not read here (see the module documentation);
    /// reads no BAT page.
    pub fn open(path: &Path) -> io::Result<VhdxImage> {
        let display = path.display().to_string();
        let (file, meta) =
            crate::input::open_regular(path).map_err(|e| io::Error::new(e.kind(), format!("{display}: {e}")))?;
        let file_len = meta.len();
        let mut facts =
            ContainerFacts { format: "VHDX".to_string(), path: display.clone(), segments: 1, ..Default::default() };
        let mut identifier = vec![0u8; IDENTIFIER_LEN];
        let read =
            log::pread(&file, 0, &mut identifier).map_err(|e| io::Error::new(e.kind(), format!("{display}: {e}")))?;
        if read < IDENTIFIER_LEN || !identifier.starts_with(b"vhdxfile") {
            return Err(damaged(
                &display,
                format!("no `vhdxfile` identifier at byte 0 (the file is {file_len} bytes)"),
            ));
        }
        let creator = utf16(&identifier[8..]);
        let creator = creator.trim_end_matches('\0').trim();
        facts.creator = (!creator.is_empty()).then(|| creator.to_string());
        let header =
            log::active_header(&file).map_err(|e| io::Error::new(e.kind(), format!("{display}: {e}")))?.ok_or_else(
                || damaged(&display, "neither header (at byte 65536 and 131072) has a valid signature and CRC-32C"),
            )?;
        if header.version() != 1 {
            return Err(damaged(&display, format!("its header names version {} (1 exists)", header.version())));
        }
        let mut replay = None;
        let backing = if header.is_dirty() {
            let replayed = log::replay(file, file_len, &header).map_err(|error| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{display}: a dirty VHDX (its log must be replayed before its disk can be read) and {error}: \
                         the disk is not read rather than read wrongly; the file is unchanged. Replay the log on a \
                         copy (`qemu-img check -r all COPY.vhdx`, or attach the copy once in Windows) and scan the copy"
                    ),
                )
            })?;
            replay = Some((replayed.guid, replayed.entries, replayed.sequence));
            Backing::Replayed(replayed)
        } else {
            Backing::File { file, len: file_len }
        };
        // From here on the file is read as replayed: the log may have changed any of it.
        let (bat, metadata) = regions(&backing, &display)?;
        let items = metadata_items(&backing, &display, metadata)?;
        let item = |id, len, name| item_bytes(&backing, &display, metadata, &items, id, len, name);
        let missing = |name: &str| damaged(&display, format!("the metadata table has no {name} item"));
        let parameters = item(FILE_PARAMETERS, 8, "File Parameters")?.ok_or_else(|| missing("File Parameters"))?;
        let (block_size, flags) = (le_u32(&parameters, 0), le_u32(&parameters, 4));
        let (leave_allocated, has_parent) = (flags & 1 != 0, flags & 2 != 0);
        facts.disk_type = Some(
            if has_parent {
                "differencing"
            } else if leave_allocated {
                "fixed"
            } else {
                "dynamic"
            }
            .to_string(),
        );
        if let Some(id) = item(VIRTUAL_DISK_ID, 16, "Page 83 Data")? {
            facts.disk_identifier = Some(guid_text(&array::<16>(&id, 0)));
        }
        if has_parent {
            let parent = parent_locator(&backing, &display, metadata, &items).map_or_else(
                || "its parent locator names no path".to_string(),
                |paths| format!("its parent is {paths}"),
            );
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{display}: a differencing VHDX (.avhdx snapshot or child disk) and {parent}: the parent holds the \
                     rest of the data and is not read here; merge the chain first (Hyper-V Merge-VHD, or `qemu-img \
                     convert -O raw CHILD.vhdx disk.raw` with the parent in place) and scan the result"
                ),
            ));
        }
        let disk_size =
            le_u64(&item(VIRTUAL_DISK_SIZE, 8, "Virtual Disk Size")?.ok_or_else(|| missing("Virtual Disk Size"))?, 0);
        let logical = le_u32(
            &item(LOGICAL_SECTOR_SIZE, 4, "Logical Sector Size")?.ok_or_else(|| missing("Logical Sector Size"))?,
            0,
        );
        let physical = item(PHYSICAL_SECTOR_SIZE, 4, "Physical Sector Size")?.map(|b| le_u32(&b, 0));
        if !block_size.is_power_of_two() || !(MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size) {
            return Err(damaged(&display, format!("block size {block_size} (a power of two from 1 MiB to 256 MiB)")));
        }
        if logical != 512 && logical != 4096 {
            return Err(damaged(&display, format!("logical sector size {logical} (512 or 4096)")));
        }
        if physical.is_some_and(|p| p != 512 && p != 4096) {
            return Err(damaged(&display, format!("physical sector size {} (512 or 4096)", physical.unwrap_or(0))));
        }
        if disk_size == 0 || disk_size > MAX_DISK_SIZE || !disk_size.is_multiple_of(u64::from(logical)) {
            return Err(damaged(
                &display,
                format!("virtual disk size {disk_size} (a whole number of {logical}-byte sectors, at most 64 TiB)"),
            ));
        }
        let block_size = u64::from(block_size);
        let chunk_ratio = SECTORS_PER_BITMAP_BLOCK * u64::from(logical) / block_size;
        // Non-differencing: the payload entries with a sector bitmap entry after each full
        // chunk but the last (MS-VHDX §2.5).
        let blocks = disk_size.div_ceil(block_size);
        let entries = blocks + (blocks - 1) / chunk_ratio;
        if entries * 8 > bat.len {
            return Err(damaged(
                &display,
                format!(
                    "the BAT region ({} bytes) is too small for the {entries} entries of a {disk_size}-byte disk of \
                     {block_size}-byte blocks",
                    bat.len
                ),
            ));
        }
        facts.disk_size = disk_size;
        facts.logical_sector_size = Some(logical);
        if let (Some((log_guid, entries, sequence)), Backing::Replayed(replayed)) = (replay, &backing) {
            let (sectors_written, bat_sectors_written, ranges_zeroed) = replayed.applied(Some((bat.offset, bat.len)));
            let replay = ContainerLogReplay {
                log_guid: guid_text(&log_guid),
                sequence_number: sequence,
                entries,
                sectors_written,
                bat_sectors_written,
                ranges_zeroed,
            };
            facts.notes.push(replay.describe());
            facts.log_replay = Some(replay);
        }
        Ok(VhdxImage { backing, display, len: disk_size, block_size, chunk_ratio, bat, pages: Vec::new(), facts })
    }

    /// BAT entry `index`, read a page at a time and cached.
    fn bat_entry(&mut self, index: u64) -> io::Result<u64> {
        let within = index * 8;
        if within + 8 > self.bat.len {
            return Err(damaged(&self.display, format!("BAT entry {index} lies beyond the BAT region")));
        }
        let page_start = self.bat.offset + within / BAT_PAGE * BAT_PAGE;
        if let Some(position) = self.pages.iter().position(|(start, _)| *start == page_start) {
            let page = self.pages.remove(position);
            self.pages.insert(0, page);
        } else {
            let page_len = BAT_PAGE.min(self.bat.offset + self.bat.len - page_start);
            let mut bytes = vec![0u8; page_len as usize];
            self.backing.read_exact_at(&self.display, page_start, &mut bytes, "BAT page")?;
            let entries = bytes.chunks_exact(8).map(|word| le_u64(word, 0)).collect();
            self.pages.insert(0, (page_start, entries));
            self.pages.truncate(BAT_CACHE);
        }
        let slot = ((self.bat.offset + within - page_start) / 8) as usize;
        self.pages
            .first()
            .and_then(|(_, entries)| entries.get(slot).copied())
            .ok_or_else(|| damaged(&self.display, format!("BAT entry {index} is missing")))
    }

    /// Where payload block `block` is in the file, or `None` when it reads as zeros.
    fn block_offset(&mut self, block: u64) -> io::Result<Option<u64>> {
        // After every chunk_ratio payload entries comes a sector bitmap entry, which only a
        // differencing disk uses.
        let index = block + block / self.chunk_ratio;
        let entry = self.bat_entry(index)?;
        let entry_at = self.bat.offset + index * 8;
        match entry & 7 {
            PAYLOAD_NOT_PRESENT | PAYLOAD_UNDEFINED | PAYLOAD_ZERO | PAYLOAD_UNMAPPED => Ok(None),
            PAYLOAD_FULLY_PRESENT => {
                let offset = (entry >> 20) * MIB;
                if offset < MIB {
                    return Err(damaged(
                        &self.display,
                        format!("the BAT entry at byte {entry_at} places block {block} in the header section"),
                    ));
                }
                Ok(Some(offset))
            }
            PAYLOAD_PARTIALLY_PRESENT => Err(damaged(
                &self.display,
                format!(
                    "the BAT entry at byte {entry_at} says block {block} is partly in a parent, but the disk has none"
                ),
            )),
            state => Err(damaged(
                &self.display,
                format!("the BAT entry at byte {entry_at} has state {state}, which no payload block has"),
            )),
        }
    }
}

impl BlockSource for VhdxImage {
    fn len(&self) -> u64 {
        self.len
    }

    fn container_facts(&self) -> Option<ContainerFacts> {
        Some(self.facts.clone())
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let wanted = buf.len().min(usize::try_from(self.len - offset).unwrap_or(usize::MAX));
        let mut filled = 0;
        while filled < wanted {
            let position = offset + filled as u64;
            let (block, within) = (position / self.block_size, position % self.block_size);
            let piece = (wanted - filled).min(usize::try_from(self.block_size - within).unwrap_or(usize::MAX));
            let target = &mut buf[filled..filled + piece];
            match self.block_offset(block)? {
                None => target.fill(0),
                Some(start) => {
                    let at = start + within;
                    if at.saturating_add(piece as u64) > self.backing.len() {
                        return Err(damaged(
                            &self.display,
                            format!(
                                "block {block} is stored at byte {start}, past the end of the file ({} bytes)",
                                self.backing.len()
                            ),
                        ));
                    }
                    self.backing.read_exact_at(&self.display, at, target, "payload block")?;
                }
            }
            filled += piece;
        }
        Ok(filled)
    }
}

/// The VHDX log (MS-VHDX §2.3) replayed by hand, into memory only.
///
/// Why not vhdx-core's replay: version 0.4.1 reads a data descriptor's file offset from its
/// SequenceNumber field, takes the data sectors right after the descriptors instead of at the
/// next 4 KiB sector, writes the data sector's own signature and sequence halves instead of
/// the descriptor's leading and trailing bytes, skips a damaged entry without a word and
/// replays every entry of the log GUID rather than the active sequence: on a log written by
/// Hyper-V or qemu it writes the wrong bytes to the wrong place and the blocks whose BAT
/// update sits in the log read as zeros. So the replay is done here (bounded: the log is read
/// once, at most [`MAX_LOG`] bytes), and the reader reads a view of the file with the
/// replayed sectors laid over it and a header whose LogGuid is zero. The file is never written.
mod log {
    use std::fs::File;
    use std::io;

    use super::checksum;

    const SECTOR: usize = 4096;
    const HEADER_OFFSETS: [u64; 2] = [0x1_0000, 0x2_0000];
    /// Hyper-V and qemu make 1 MiB logs; the bound only stops a hostile LogLength.
    pub const MAX_LOG: u32 = 32 << 20;

    /// A dirty file's log could not be replayed with certainty.
    #[derive(Debug, thiserror::Error)]
    pub enum LogError {
        #[error("its header names log version {0}, which this reader does not know")]
        Version(u16),
        #[error("its log ({length} bytes at byte {offset}) lies outside the file or is not a whole number of 1 MiB")]
        Placement { offset: u64, length: u32 },
        #[error("its log is {0} bytes, more than the {MAX_LOG} this reader accepts")]
        TooLarge(u32),
        #[error("the log entry at log offset {at} is damaged ({why})")]
        DamagedEntry { at: usize, why: &'static str },
        #[error("its log holds no complete sequence of entries for its LogGuid")]
        NoSequence,
        #[error("the file is {len} bytes, shorter than the {flushed} its log says were flushed (truncated)")]
        Truncated { len: u64, flushed: u64 },
        #[error("{0}")]
        Io(#[from] io::Error),
    }

    /// The active header (the valid one with the higher sequence number, the first on a tie).
    pub struct Header {
        offset: u64,
        sequence: u64,
        bytes: Vec<u8>,
    }

    impl Header {
        fn log_guid(&self) -> [u8; 16] {
            let mut guid = [0u8; 16];
            guid.copy_from_slice(&self.bytes[48..64]);
            guid
        }
        pub fn is_dirty(&self) -> bool {
            self.log_guid() != [0u8; 16]
        }
        pub fn version(&self) -> u16 {
            le_u16(&self.bytes, 66)
        }
    }

    fn le_u16(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([bytes[at], bytes[at + 1]])
    }
    fn le_u32(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
    }
    fn le_u64(bytes: &[u8], at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(b)
    }

    /// Fills as much of `buf` as the file holds from byte `offset`; the count read.
    pub(super) fn pread(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(unix)]
        use std::os::unix::fs::FileExt;
        #[cfg(windows)]
        use std::os::windows::fs::FileExt;
        let mut filled = 0;
        while filled < buf.len() {
            #[cfg(unix)]
            let result = file.read_at(&mut buf[filled..], offset + filled as u64);
            #[cfg(windows)]
            let result = file.seek_read(&mut buf[filled..], offset + filled as u64);
            match result {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }

    /// The active header, or `None` when neither copy is valid.
    pub fn active_header(file: &File) -> io::Result<Option<Header>> {
        let mut best: Option<Header> = None;
        for offset in HEADER_OFFSETS {
            let mut bytes = vec![0u8; SECTOR];
            if pread(file, offset, &mut bytes)? < SECTOR || &bytes[..4] != b"head" {
                continue;
            }
            if checksum(&bytes) != le_u32(&bytes, 4) {
                continue;
            }
            let sequence = le_u64(&bytes, 8);
            if best.as_ref().is_none_or(|b| sequence > b.sequence) {
                best = Some(Header { offset, sequence, bytes });
            }
        }
        Ok(best)
    }

    /// One write of the replay, at a file offset.
    enum Write {
        Data { offset: u64, bytes: Vec<u8> },
        Zero { offset: u64, len: u64 },
    }

    struct Entry {
        at: usize,
        len: usize,
        tail: usize,
        sequence: u64,
        flushed: u64,
        last: u64,
        writes: Vec<Write>,
    }

    /// The entry starting at `at`, copied out of the ring (it may wrap round its end).
    fn ring(log: &[u8], at: usize, len: usize) -> Vec<u8> {
        let first = len.min(log.len() - at);
        let mut bytes = log[at..at + first].to_vec();
        bytes.extend_from_slice(&log[..len - first]);
        bytes
    }

    /// Validates the entry at `at` of the current log against every rule of §2.3.1.
    fn parse_entry(log: &[u8], at: usize) -> Result<Entry, &'static str> {
        let len = le_u32(log, at + 8) as usize;
        if len < SECTOR || !len.is_multiple_of(SECTOR) || len > log.len() {
            return Err("its length is not a whole number of 4 KiB sectors within the log");
        }
        let entry = ring(log, at, len);
        if checksum(&entry) != le_u32(&entry, 4) {
            return Err("its CRC-32C does not match");
        }
        let tail = le_u32(&entry, 12) as usize;
        let sequence = le_u64(&entry, 16);
        let count = le_u32(&entry, 24) as usize;
        if sequence == 0 || !tail.is_multiple_of(SECTOR) || tail >= log.len() {
            return Err("its sequence number or tail is invalid");
        }
        // The 64-byte header takes the room of two 32-byte descriptors in the first sector.
        let descriptor_sectors = count.saturating_add(2).div_ceil(128);
        if descriptor_sectors.saturating_mul(SECTOR) > len {
            return Err("its descriptors do not fit in it");
        }
        let mut writes = Vec::new();
        let mut data_sector = descriptor_sectors;
        for n in 0..count {
            let d = &entry[64 + 32 * n..96 + 32 * n];
            if le_u64(d, 24) != sequence {
                return Err("a descriptor's sequence number differs from the entry's");
            }
            let offset = le_u64(d, 16);
            match &d[..4] {
                b"zero" => {
                    let zero_len = le_u64(d, 8);
                    if !offset.is_multiple_of(SECTOR as u64) || !zero_len.is_multiple_of(SECTOR as u64) {
                        return Err("a zero descriptor is not 4 KiB aligned");
                    }
                    writes.push(Write::Zero { offset, len: zero_len });
                }
                b"desc" => {
                    let start = data_sector * SECTOR;
                    let Some(sector) = entry.get(start..start + SECTOR) else {
                        return Err("a data descriptor has no data sector");
                    };
                    if !offset.is_multiple_of(SECTOR as u64)
                        || &sector[..4] != b"data"
                        || le_u32(sector, 4) != (sequence >> 32) as u32
                        || le_u32(sector, 4092) != sequence as u32
                    {
                        return Err("a data sector does not match its descriptor");
                    }
                    // Bytes 0..8 and 4092..4096 of the update travel in the descriptor.
                    let mut bytes = Vec::with_capacity(SECTOR);
                    bytes.extend_from_slice(&d[8..16]);
                    bytes.extend_from_slice(&sector[8..4092]);
                    bytes.extend_from_slice(&d[4..8]);
                    writes.push(Write::Data { offset, bytes });
                    data_sector += 1;
                }
                _ => return Err("a descriptor has an unknown signature"),
            }
        }
        Ok(Entry { at, len, tail, sequence, flushed: le_u64(&entry, 48), last: le_u64(&entry, 56), writes })
    }

    /// The file as it is after replaying the active log sequence: the file's bytes with the
    /// replayed sectors laid over them in replay order, and the active header with its
    /// LogGuid cleared (the header as it is once the log is applied).
    pub struct Replayed {
        file: File,
        file_len: u64,
        len: u64,
        /// The log's writes in replay order, then the cleared header (not from the log).
        writes: Vec<Write>,
        /// For the report: the header's LogGuid, the entries applied and the newest one's
        /// sequence number.
        pub guid: [u8; 16],
        pub entries: usize,
        pub sequence: u64,
    }

    pub fn replay(file: File, file_len: u64, header: &Header) -> Result<Replayed, LogError> {
        let bytes = &header.bytes;
        let version = le_u16(bytes, 64);
        if version != 0 {
            return Err(LogError::Version(version));
        }
        let (length, offset) = (le_u32(bytes, 68), le_u64(bytes, 72));
        if length > MAX_LOG {
            return Err(LogError::TooLarge(length));
        }
        if length == 0
            || length % (1 << 20) != 0
            || offset.checked_add(u64::from(length)).is_none_or(|end| end > file_len)
        {
            return Err(LogError::Placement { offset, length });
        }
        let mut log = vec![0u8; length as usize];
        if pread(&file, offset, &mut log)? < log.len() {
            return Err(LogError::Placement { offset, length });
        }
        let guid = header.log_guid();
        let mut entries = Vec::new();
        for at in (0..log.len()).step_by(SECTOR) {
            // Entries of other LogGuids are stale (§2.2.2: only entries with the header's are
            // valid); an entry of this one that fails a check is a torn or damaged write, and
            // then the log cannot say with certainty what the metadata is.
            if &log[at..at + 4] != b"loge" || log[at + 32..at + 48] != guid {
                continue;
            }
            entries.push(parse_entry(&log, at).map_err(|why| LogError::DamagedEntry { at, why })?);
        }
        let active = active_sequence(&entries, log.len()).ok_or(LogError::NoSequence)?;
        let head = &entries[*active.last().ok_or(LogError::NoSequence)?];
        if file_len < head.flushed {
            return Err(LogError::Truncated { len: file_len, flushed: head.flushed });
        }
        let mut writes = Vec::new();
        let mut len = file_len.max(head.last);
        let (entries_applied, sequence) = (active.len(), head.sequence);
        for index in active {
            for write in std::mem::take(&mut entries[index].writes) {
                let end = match &write {
                    Write::Data { offset, bytes } => offset.saturating_add(bytes.len() as u64),
                    Write::Zero { offset, len } => offset.saturating_add(*len),
                };
                len = len.max(end);
                writes.push(write);
            }
        }
        let mut clean = header.bytes.clone();
        clean[48..64].fill(0);
        let sum = checksum(&clean);
        clean[4..8].copy_from_slice(&sum.to_le_bytes());
        writes.push(Write::Data { offset: header.offset, bytes: clean });
        Ok(Replayed { file, file_len, len, writes, guid, entries: entries_applied, sequence })
    }

    /// §2.3.3: the newest sequence of entries, each one greater than the one before and at
    /// the ring offset where the one before ends, whose head's tail lies within it; its
    /// entries in replay order (tail first).
    fn active_sequence(entries: &[Entry], log_len: usize) -> Option<Vec<usize>> {
        let by_offset: std::collections::HashMap<usize, usize> =
            entries.iter().enumerate().map(|(index, e)| (e.at, index)).collect();
        let next = |index: usize| {
            let entry = &entries[index];
            by_offset
                .get(&((entry.at + entry.len) % log_len))
                .copied()
                .filter(|&n| entries[n].sequence == entry.sequence.wrapping_add(1))
        };
        let has_predecessor: std::collections::HashSet<usize> = (0..entries.len()).filter_map(next).collect();
        let mut best: Option<(u64, Vec<usize>)> = None;
        for start in (0..entries.len()).filter(|i| !has_predecessor.contains(i)) {
            let mut chain = vec![start];
            while let Some(n) = next(*chain.last()?) {
                if chain.len() >= entries.len() {
                    break;
                }
                chain.push(n);
            }
            let head = &entries[*chain.last()?];
            let Some(tail) = chain.iter().position(|&i| entries[i].at == head.tail) else {
                continue;
            };
            if best.as_ref().is_none_or(|(sequence, _)| head.sequence > *sequence) {
                best = Some((head.sequence, chain.split_off(tail)));
            }
        }
        best.map(|(_, chain)| chain)
    }

    impl Replayed {
        pub fn len(&self) -> u64 {
            self.len
        }

        /// Fills as much of `buf` as the replayed file holds from byte `position`: the file's
        /// bytes (zeros past its end, where the log extends it, §2.3.3) with the log's writes
        /// laid over them in replay order.
        pub fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<usize> {
            let wanted = buf.len().min(usize::try_from(self.len.saturating_sub(position)).unwrap_or(usize::MAX));
            let buf = &mut buf[..wanted];
            let from_file = usize::try_from(self.file_len.saturating_sub(position)).unwrap_or(usize::MAX).min(wanted);
            if pread(&self.file, position, &mut buf[..from_file])? < from_file {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file is shorter than when it was opened",
                ));
            }
            buf[from_file..].fill(0);
            let (start, end) = (position, position + wanted as u64);
            for write in &self.writes {
                let (offset, len) = match write {
                    Write::Data { offset, bytes } => (*offset, bytes.len() as u64),
                    Write::Zero { offset, len } => (*offset, *len),
                };
                let (from, to) = (offset.max(start), offset.saturating_add(len).min(end));
                if from >= to {
                    continue;
                }
                let target = &mut buf[(from - start) as usize..(to - start) as usize];
                match write {
                    Write::Data { bytes, .. } => {
                        target.copy_from_slice(&bytes[(from - offset) as usize..(to - offset) as usize])
                    }
                    Write::Zero { .. } => target.fill(0),
                }
            }
            Ok(wanted)
        }

        /// The 4 KiB sectors the log wrote, those of them inside `bat` (the BAT region's
        /// offset and length), and the ranges it zeroed; the cleared header is not counted.
        pub fn applied(&self, bat: Option<(u64, u64)>) -> (usize, usize, usize) {
            let from_log = &self.writes[..self.writes.len().saturating_sub(1)];
            let (mut sectors, mut in_bat, mut zeroed) = (0, 0, 0);
            for write in from_log {
                match write {
                    Write::Data { offset, .. } => {
                        sectors += 1;
                        if bat.is_some_and(|(start, len)| *offset >= start && *offset - start < len) {
                            in_bat += 1;
                        }
                    }
                    Write::Zero { .. } => zeroed += 1,
                }
            }
            (sectors, in_bat, zeroed)
        }
    }
}
