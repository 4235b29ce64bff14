//! Partition tables: MBR (with extended/logical partitions) and GPT (512- and 4096-byte
//! sectors, primary header with the backup as fallback), or no table at all (an image of one
//! volume).
//!
//! Parsed here rather than with `gpt`/`mbrman`: `gpt` 4.1 asserts on an unusual entry size
//! (a panic on hostile input) and `mbrman` 0.6 adds partition offsets without overflow
//! checks. Both formats are a few fixed-size records, read here with every offset checked.

use serde::{Deserialize, Serialize};

use crate::source::BlockSource;

/// What an image holds at its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// No partition table: the image is one volume (its boot sector is at byte 0).
    BareVolume,
    Table(PartitionTable),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    Mbr,
    Gpt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionTable {
    pub scheme: Scheme,
    pub sector_size: u64,
    pub partitions: Vec<Partition>,
    /// Problems that did not stop reading (backup GPT used, EBR chain cut short, …).
    pub warnings: Vec<String>,
}

/// One partition, by byte range in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// As Linux numbers them: MBR slots 1–4 then logical partitions from 5; GPT entries from 1.
    pub number: u32,
    pub start: u64,
    pub length: u64,
    /// Partition type: MBR type byte or GPT type GUID, with its usual name.
    pub type_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("only {len} bytes long: too short for a disk image (a partition table needs 512 bytes)")]
    TooShort { len: u64 },
    #[error("not a disk image: no MBR or GPT partition table and no NTFS boot sector at the start")]
    NoTable,
    #[error("GPT partition table damaged: {0}")]
    GptDamaged(String),
    #[error("cannot read the partition table: {0}")]
    Io(String),
}

const MBR_SECTOR: u64 = 512;
const MBR_ENTRIES: usize = 446;
const MBR_SIGNATURE: usize = 510;
const GPT_PROTECTIVE: u8 = 0xee;
const EXTENDED_TYPES: [u8; 3] = [0x05, 0x0f, 0x85];
/// Far more logical partitions than any partitioning tool makes; stops a looping EBR chain.
const MAX_LOGICAL: usize = 256;
/// The GPT entry array is 16 KiB in practice; 4 MiB bounds what a damaged header can ask for.
const MAX_GPT_ARRAY: u64 = 4 << 20;

/// True when the boot sector at the start of `head` belongs to a volume, not a disk.
pub fn is_volume_boot_sector(head: &[u8]) -> bool {
    matches!(head.get(3..11), Some(b"NTFS    ") | Some(b"-FVE-FS-"))
}

fn read_exact_at(image: &mut dyn BlockSource, offset: u64, len: usize) -> Result<Vec<u8>, PartitionError> {
    let mut buf = vec![0u8; len];
    let read = image.read_at(offset, &mut buf).map_err(|e| PartitionError::Io(e.to_string()))?;
    if read < len {
        return Err(PartitionError::Io(format!(
            "the image ends at byte {} inside the partition table (bytes {offset}–{}): the image is truncated",
            image.len(),
            offset.saturating_add(len as u64)
        )));
    }
    Ok(buf)
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    bytes.get(offset..offset + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).unwrap_or(0)
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    bytes.get(offset..offset + 8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0)
}

/// Reads the partition layout of an image.
pub fn read_layout(image: &mut dyn BlockSource) -> Result<Layout, PartitionError> {
    if image.len() < MBR_SECTOR {
        return Err(PartitionError::TooShort { len: image.len() });
    }
    let sector0 = read_exact_at(image, 0, MBR_SECTOR as usize)?;
    if is_volume_boot_sector(&sector0) {
        return Ok(Layout::BareVolume);
    }
    let has_signature = sector0[MBR_SIGNATURE] == 0x55 && sector0[MBR_SIGNATURE + 1] == 0xaa;
    let entries: Vec<MbrEntry> = (0..4).map(|i| MbrEntry::parse(&sector0[MBR_ENTRIES + 16 * i..])).collect();
    let protective = entries.iter().any(|e| e.kind == GPT_PROTECTIVE);
    // A GPT disk without a protective MBR is unusual but readable; look for the header anyway.
    if protective || !has_signature {
        match read_gpt(image) {
            Ok(Some(table)) => return Ok(Layout::Table(table)),
            Ok(None) if protective => {
                return Err(PartitionError::GptDamaged(
                    "the protective MBR announces a GPT, but no \"EFI PART\" header is at sector 1".into(),
                ))
            }
            Ok(None) => return Err(PartitionError::NoTable),
            Err(error) => return Err(error),
        }
    }
    let valid = entries.iter().all(|e| e.status == 0 || e.status == 0x80);
    if !valid || entries.iter().all(|e| e.kind == 0) {
        return Err(PartitionError::NoTable);
    }
    Ok(Layout::Table(read_mbr(image, &entries)))
}

#[derive(Debug, Clone, Copy)]
struct MbrEntry {
    status: u8,
    kind: u8,
    first_lba: u32,
    sectors: u32,
}

impl MbrEntry {
    fn parse(bytes: &[u8]) -> MbrEntry {
        MbrEntry {
            status: bytes.first().copied().unwrap_or(0),
            kind: bytes.get(4).copied().unwrap_or(0),
            first_lba: u32_at(bytes, 8),
            sectors: u32_at(bytes, 12),
        }
    }

    fn used(&self) -> bool {
        self.kind != 0 && self.sectors != 0
    }
}

fn mbr_type_name(kind: u8) -> String {
    let name = match kind {
        0x07 => "NTFS/exFAT/HPFS",
        0x0b | 0x0c => "FAT32",
        0x01 | 0x04 | 0x06 | 0x0e => "FAT",
        0x27 => "Windows recovery",
        0x42 => "Windows dynamic disk (LDM)",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x8e => "Linux LVM",
        0xef => "EFI system",
        _ => "other",
    };
    format!("MBR type 0x{kind:02x} ({name})")
}

fn read_mbr(image: &mut dyn BlockSource, entries: &[MbrEntry]) -> PartitionTable {
    let mut table =
        PartitionTable { scheme: Scheme::Mbr, sector_size: MBR_SECTOR, partitions: Vec::new(), warnings: Vec::new() };
    let mut extended = None;
    for (slot, entry) in entries.iter().enumerate() {
        if !entry.used() {
            continue;
        }
        if EXTENDED_TYPES.contains(&entry.kind) {
            extended = Some(*entry);
            continue;
        }
        table.partitions.push(Partition {
            number: slot as u32 + 1,
            start: u64::from(entry.first_lba) * MBR_SECTOR,
            length: u64::from(entry.sectors) * MBR_SECTOR,
            type_name: mbr_type_name(entry.kind),
        });
    }
    if let Some(extended) = extended {
        read_logical(image, extended, &mut table);
    }
    table
}

/// Walks the EBR chain of an extended partition. Each EBR holds one logical partition
/// (relative to the EBR) and a link to the next EBR (relative to the extended partition).
fn read_logical(image: &mut dyn BlockSource, extended: MbrEntry, table: &mut PartitionTable) {
    let base = u64::from(extended.first_lba);
    let mut relative = 0u64;
    for number in 5..5 + MAX_LOGICAL as u32 {
        let ebr_lba = base + relative;
        let sector = match read_exact_at(image, ebr_lba * MBR_SECTOR, MBR_SECTOR as usize) {
            Ok(sector) => sector,
            Err(error) => {
                table.warnings.push(format!("logical partitions: EBR at sector {ebr_lba} unreadable: {error}"));
                return;
            }
        };
        if sector[MBR_SIGNATURE] != 0x55 || sector[MBR_SIGNATURE + 1] != 0xaa {
            if relative != 0 {
                table.warnings.push(format!("logical partitions: no EBR signature at sector {ebr_lba}"));
            }
            return;
        }
        let logical = MbrEntry::parse(&sector[MBR_ENTRIES..]);
        let next = MbrEntry::parse(&sector[MBR_ENTRIES + 16..]);
        if logical.used() {
            table.partitions.push(Partition {
                number,
                start: (ebr_lba + u64::from(logical.first_lba)) * MBR_SECTOR,
                length: u64::from(logical.sectors) * MBR_SECTOR,
                type_name: mbr_type_name(logical.kind),
            });
        }
        let next_relative = u64::from(next.first_lba);
        if !next.used() || next_relative == 0 {
            return;
        }
        // Links must move forward, which also rules out a chain that loops.
        if next_relative <= relative {
            table.warnings.push(format!("logical partitions: EBR chain points backwards at sector {ebr_lba}"));
            return;
        }
        relative = next_relative;
    }
    table.warnings.push(format!("logical partitions: more than {MAX_LOGICAL}; the rest is not read"));
}

/// CRC-32 (IEEE, reflected), as GPT uses for its header and entry array.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A GUID in its usual text form (the first three fields are stored little-endian).
pub fn guid_text(bytes: &[u8; 16]) -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{}",
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        u16::from_le_bytes([bytes[4], bytes[5]]),
        u16::from_le_bytes([bytes[6], bytes[7]]),
        bytes[8],
        bytes[9],
        bytes[10..].iter().map(|b| format!("{b:02X}")).collect::<String>()
    )
}

fn gpt_type_name(guid: &[u8; 16]) -> String {
    let text = guid_text(guid);
    let name = match text.as_str() {
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" => "basic data",
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" => "EFI system",
        "E3C9E316-0B5C-4DB8-817D-F92DF00215AE" => "Microsoft reserved",
        "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC" => "Windows recovery",
        "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3" => "Windows LDM metadata",
        "AF9B60A0-1431-4F62-BC68-3311714A69AD" => "Windows LDM data",
        "E75CAF8F-F680-4CEE-AFA3-B001E56EFC2D" => "Windows Storage Spaces",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4" => "Linux file system",
        _ => "other",
    };
    format!("GPT {text} ({name})")
}

#[derive(Debug)]
struct GptHeader {
    my_lba: u64,
    alternate_lba: u64,
    entries_lba: u64,
    entry_count: u64,
    entry_size: u64,
    entries_crc: u32,
}

/// Parses and checks the header in `sector`; `Err` says what is wrong with it.
fn parse_gpt_header(sector: &[u8]) -> Result<Option<GptHeader>, String> {
    if sector.get(..8) != Some(b"EFI PART") {
        return Ok(None);
    }
    let header_size = u32_at(sector, 12) as usize;
    if header_size < 92 || header_size > sector.len() {
        return Err(format!("header size {header_size} is not between 92 and the sector size"));
    }
    let mut copy = sector[..header_size].to_vec();
    copy[16..20].fill(0);
    let stored = u32_at(sector, 16);
    let computed = crc32(&copy);
    if stored != computed {
        return Err(format!("header checksum mismatch (stored {stored:08x}, computed {computed:08x})"));
    }
    let header = GptHeader {
        my_lba: u64_at(sector, 24),
        alternate_lba: u64_at(sector, 32),
        entries_lba: u64_at(sector, 72),
        entry_count: u64::from(u32_at(sector, 80)),
        entry_size: u64::from(u32_at(sector, 84)),
        entries_crc: u32_at(sector, 88),
    };
    if header.entry_size < 128 || !header.entry_size.is_multiple_of(8) {
        return Err(format!("partition entry size {} is not a multiple of 8 of at least 128", header.entry_size));
    }
    if header.entry_count * header.entry_size > MAX_GPT_ARRAY {
        return Err(format!(
            "{} entries of {} bytes: implausibly large entry array",
            header.entry_count, header.entry_size
        ));
    }
    Ok(Some(header))
}

fn read_gpt_entries(
    image: &mut dyn BlockSource,
    header: &GptHeader,
    sector_size: u64,
) -> Result<Vec<Partition>, String> {
    let array_len = header.entry_count * header.entry_size;
    let offset = header.entries_lba.checked_mul(sector_size).ok_or("entry array offset overflows")?;
    let array = read_exact_at(image, offset, array_len as usize).map_err(|e| e.to_string())?;
    let computed = crc32(&array);
    if computed != header.entries_crc {
        return Err(format!(
            "entry array checksum mismatch (stored {:08x}, computed {computed:08x})",
            header.entries_crc
        ));
    }
    let mut partitions = Vec::new();
    for (index, entry) in array.chunks_exact(header.entry_size as usize).enumerate() {
        let mut type_guid = [0u8; 16];
        type_guid.copy_from_slice(&entry[..16]);
        if type_guid == [0u8; 16] {
            continue;
        }
        let first = u64_at(entry, 32);
        let last = u64_at(entry, 40);
        let (Some(start), Some(end)) =
            (first.checked_mul(sector_size), last.checked_add(1).and_then(|l| l.checked_mul(sector_size)))
        else {
            return Err(format!("entry {}: sector numbers overflow", index + 1));
        };
        if end <= start {
            return Err(format!("entry {}: last sector {last} before first sector {first}", index + 1));
        }
        partitions.push(Partition {
            number: index as u32 + 1,
            start,
            length: end - start,
            type_name: gpt_type_name(&type_guid),
        });
    }
    Ok(partitions)
}

/// Finds a GPT with 512- or 4096-byte sectors. `Ok(None)`: no GPT header at all.
fn read_gpt(image: &mut dyn BlockSource) -> Result<Option<PartitionTable>, PartitionError> {
    for sector_size in [512u64, 4096] {
        if image.len() < sector_size * 2 {
            continue;
        }
        let sector = read_exact_at(image, sector_size, sector_size as usize)?;
        let primary = match parse_gpt_header(&sector) {
            Ok(None) => continue,
            Ok(Some(header)) if header.my_lba != 1 => {
                Err(format!("primary header says it is at sector {}", header.my_lba))
            }
            Ok(Some(header)) => read_gpt_entries(image, &header, sector_size).map(|p| (p, header.alternate_lba)),
            Err(problem) => Err(problem),
        };
        let problem = match primary {
            Ok((partitions, _)) => {
                return Ok(Some(PartitionTable { scheme: Scheme::Gpt, sector_size, partitions, warnings: Vec::new() }))
            }
            Err(problem) => problem,
        };
        // The backup header sits in the last sector of the disk.
        let last_lba = image.len() / sector_size - 1;
        let backup = read_exact_at(image, last_lba * sector_size, sector_size as usize)
            .map_err(|e| e.to_string())
            .and_then(|sector| parse_gpt_header(&sector))
            .and_then(|header| header.ok_or_else(|| "no backup header in the last sector".to_string()))
            .and_then(|header| read_gpt_entries(image, &header, sector_size));
        return match backup {
            Ok(partitions) => Ok(Some(PartitionTable {
                scheme: Scheme::Gpt,
                sector_size,
                partitions,
                warnings: vec![format!(
                    "primary GPT damaged ({problem}); the backup GPT at the end of the disk was used"
                )],
            })),
            Err(backup_problem) => {
                Err(PartitionError::GptDamaged(format!("primary: {problem}; backup: {backup_problem}")))
            }
        };
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn guid_text_mixed_endian() {
        let bytes = [0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26, 0x99, 0xc7];
        assert_eq!(guid_text(&bytes), "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");
    }

    fn image_of(bytes: &[u8]) -> (tempfile::TempDir, crate::image::source::ImageFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.raw");
        std::fs::write(&path, bytes).unwrap();
        let image = crate::image::source::ImageFile::open(&crate::image::source::ImageSpec::for_path(&path)).unwrap();
        (dir, image)
    }

    fn entry(sector: &mut [u8], slot: usize, kind: u8, first_lba: u32, sectors: u32) {
        let at = MBR_ENTRIES + 16 * slot;
        sector[at + 4] = kind;
        sector[at + 8..at + 12].copy_from_slice(&first_lba.to_le_bytes());
        sector[at + 12..at + 16].copy_from_slice(&sectors.to_le_bytes());
        sector[510] = 0x55;
        sector[511] = 0xaa;
    }

    #[test]
    fn ebr_chain_pointing_backwards_stops_with_a_warning() {
        let mut disk = vec![0u8; 512 * 200];
        entry(&mut disk[..512], 0, 0x05, 1, 150);
        // EBR at sector 1: a logical partition, then the next EBR 2 sectors into the extended one.
        entry(&mut disk[512..1024], 0, 0x07, 10, 5);
        entry(&mut disk[512..1024], 1, 0x05, 2, 20);
        // EBR at sector 3: links to relative sector 2 again, i.e. to itself.
        entry(&mut disk[1536..2048], 0, 0x07, 20, 5);
        entry(&mut disk[1536..2048], 1, 0x05, 2, 20);
        let (_dir, mut image) = image_of(&disk);
        let Layout::Table(table) = read_layout(&mut image).unwrap() else { panic!("a table") };
        let numbers: Vec<(u32, u64)> = table.partitions.iter().map(|p| (p.number, p.start / 512)).collect();
        assert_eq!(numbers, [(5, 11), (6, 23)]);
        assert!(table.warnings[0].contains("points backwards"), "{:?}", table.warnings);
    }

    #[test]
    fn not_an_image() {
        let (_dir, mut image) = image_of(&[0u8; 4096]);
        assert_eq!(read_layout(&mut image), Err(PartitionError::NoTable));
        let (_dir, mut image) = image_of(&[0u8; 100]);
        assert_eq!(read_layout(&mut image), Err(PartitionError::TooShort { len: 100 }));
    }

    #[test]
    fn gpt_header_checks() {
        assert!(matches!(parse_gpt_header(&[0u8; 512]), Ok(None)));
        let mut sector = vec![0u8; 512];
        sector[..8].copy_from_slice(b"EFI PART");
        sector[12..16].copy_from_slice(&92u32.to_le_bytes());
        assert!(parse_gpt_header(&sector).unwrap_err().contains("checksum"));
        sector[12..16].copy_from_slice(&4000u32.to_le_bytes());
        assert!(parse_gpt_header(&sector).unwrap_err().contains("header size"));
    }
}
