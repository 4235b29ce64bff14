//! The project's own partition-table writer for test disk images: GPT (protective MBR, primary
//! header and entry array at the front, backup entry array and header at the end, UEFI 2.10
//! §5.2–5.3) and MBR with an extended partition holding a chain of EBRs.
//!
//! Written here rather than taken from the `gpt` / `mbrman` crates or Debian's sgdisk/sfdisk:
//! `cargo test --release` must pass with only the Rust toolchain, the layouts the tests need
//! are a few fields each, and the tests need to place EBRs and damage tables exactly where they
//! want, which the crates' validating APIs are built to prevent. The CRC-32 comes from the
//! `crc32fast` crate, not from the reader under test, so a checksum bug in one cannot hide a
//! bug in the other.
//!
//! Checked once against the tools it replaces: the images of `tests/image.rs`, written with
//! the same GUIDs by sgdisk 1.0.9 and sfdisk 2.38.1, are byte for byte identical in the
//! protective MBR, both GPT headers and entry arrays, the MBR and both EBRs (CHS fields
//! included); `sgdisk -v` and `sfdisk -V` find no problems in the images written here.

/// Sector size of the images written here.
pub const SECTOR: u64 = 512;

/// GPT partition type GUIDs, in their usual text form.
pub const EFI_SYSTEM: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const BASIC_DATA: &str = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";

/// MBR partition types.
pub const MBR_NTFS: u8 = 0x07;
pub const MBR_EXTENDED: u8 = 0x05;
const MBR_GPT_PROTECTIVE: u8 = 0xee;

/// Entries in a GPT entry array, and the size of one (what sgdisk and Windows write).
const GPT_ENTRIES: u64 = 128;
const GPT_ENTRY_SIZE: u64 = 128;
/// Sectors of one entry array: 128 × 128 bytes.
const GPT_ARRAY_SECTORS: u64 = GPT_ENTRIES * GPT_ENTRY_SIZE / SECTOR;

/// One GPT partition, sectors inclusive as the format stores them.
pub struct GptPartition {
    pub type_guid: &'static str,
    pub first_lba: u64,
    pub last_lba: u64,
    pub name: &'static str,
}

/// The 16 bytes of a GUID written as text: the first three fields are little-endian.
pub fn guid_bytes(text: &str) -> [u8; 16] {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    assert_eq!(hex.len(), 32, "GUID {text}");
    let mut bytes = [0u8; 16];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * index..2 * index + 2], 16).expect("hex GUID");
    }
    bytes[0..4].reverse();
    bytes[4..6].reverse();
    bytes[6..8].reverse();
    bytes
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

fn sector_mut(disk: &mut [u8], lba: u64) -> &mut [u8] {
    let start = (lba * SECTOR) as usize;
    &mut disk[start..start + SECTOR as usize]
}

/// Cylinder/head/sector address of `lba` for the MBR's legacy fields (255 heads, 63 sectors
/// per track; beyond cylinder 1023 the maximum, as partitioning tools write it).
fn chs(lba: u64) -> [u8; 3] {
    let cylinder = lba / (255 * 63);
    if cylinder > 1023 {
        return [0xfe, 0xff, 0xff];
    }
    let head = (lba / 63) % 255;
    let sector = lba % 63 + 1;
    [head as u8, (sector as u8) | (((cylinder >> 8) as u8) << 6), cylinder as u8]
}

/// One 16-byte MBR/EBR entry at slot `slot` of `sector`. `first_lba` is as stored (relative
/// for EBR entries); `absolute_lba` feeds the CHS fields.
fn mbr_entry(sector: &mut [u8], slot: usize, kind: u8, first_lba: u64, sectors: u64, absolute_lba: u64) {
    let at = 446 + 16 * slot;
    let entry = &mut sector[at..at + 16];
    entry[0] = 0; // not bootable
    entry[1..4].copy_from_slice(&chs(absolute_lba));
    entry[4] = kind;
    entry[5..8].copy_from_slice(&chs(absolute_lba + sectors.max(1) - 1));
    put_u32(entry, 8, u32::try_from(first_lba).expect("MBR sector number fits 32 bits"));
    put_u32(entry, 12, u32::try_from(sectors).expect("MBR sector count fits 32 bits"));
}

fn boot_signature(sector: &mut [u8]) {
    sector[510] = 0x55;
    sector[511] = 0xaa;
}

/// A blank disk of `sectors` sectors with a GPT holding `partitions` (entry `i` is
/// partition `i + 1`): protective MBR, primary header at sector 1 and its array at 2–33,
/// backup array in the 32 sectors before the last, backup header in the last sector.
pub fn gpt_disk(sectors: u64, partitions: &[GptPartition]) -> Vec<u8> {
    let mut disk = vec![0u8; (sectors * SECTOR) as usize];
    let last_lba = sectors - 1;
    let first_usable = 2 + GPT_ARRAY_SECTORS;
    let last_usable = last_lba - 1 - GPT_ARRAY_SECTORS;

    let protective = sector_mut(&mut disk, 0);
    mbr_entry(protective, 0, MBR_GPT_PROTECTIVE, 1, (sectors - 1).min(u64::from(u32::MAX)), 1);
    boot_signature(protective);

    let mut array = vec![0u8; (GPT_ENTRIES * GPT_ENTRY_SIZE) as usize];
    for (index, partition) in partitions.iter().enumerate() {
        assert!(
            first_usable <= partition.first_lba
                && partition.first_lba <= partition.last_lba
                && partition.last_lba <= last_usable,
            "partition {} outside the usable sectors {first_usable}..={last_usable}",
            index + 1
        );
        let entry = &mut array[index * GPT_ENTRY_SIZE as usize..(index + 1) * GPT_ENTRY_SIZE as usize];
        entry[0..16].copy_from_slice(&guid_bytes(partition.type_guid));
        // A unique partition GUID that differs per entry, fixed so the images are reproducible.
        entry[16..32].copy_from_slice(&guid_bytes(&format!("5EB007CA-0000-4000-8000-{:012X}", index + 1)));
        put_u64(entry, 32, partition.first_lba);
        put_u64(entry, 40, partition.last_lba);
        for (unit, code) in partition.name.encode_utf16().take(36).enumerate() {
            entry[56 + 2 * unit..58 + 2 * unit].copy_from_slice(&code.to_le_bytes());
        }
    }
    let array_crc = crc32fast::hash(&array);

    let backup_array_lba = last_lba - GPT_ARRAY_SECTORS;
    for (my_lba, alternate_lba, array_lba) in [(1, last_lba, 2), (last_lba, 1, backup_array_lba)] {
        let start = (array_lba * SECTOR) as usize;
        disk[start..start + array.len()].copy_from_slice(&array);
        let header = sector_mut(&mut disk, my_lba);
        header[0..8].copy_from_slice(b"EFI PART");
        put_u32(header, 8, 0x0001_0000); // revision 1.0
        put_u32(header, 12, 92); // header size
        put_u64(header, 24, my_lba);
        put_u64(header, 32, alternate_lba);
        put_u64(header, 40, first_usable);
        put_u64(header, 48, last_usable);
        header[56..72].copy_from_slice(&guid_bytes("5EB007CA-D15C-4000-8000-000000000001"));
        put_u64(header, 72, array_lba);
        put_u32(header, 80, GPT_ENTRIES as u32);
        put_u32(header, 84, GPT_ENTRY_SIZE as u32);
        put_u32(header, 88, array_crc);
        let header_crc = crc32fast::hash(&header[..92]);
        put_u32(header, 16, header_crc);
    }
    disk
}

/// A primary MBR partition (slot `i` of the list is partition `i + 1`).
pub struct MbrPartition {
    pub kind: u8,
    pub first_lba: u64,
    pub sectors: u64,
}

/// A logical partition and the EBR that describes it (absolute sector numbers).
pub struct LogicalPartition {
    pub ebr_lba: u64,
    pub kind: u8,
    pub first_lba: u64,
    pub sectors: u64,
}

/// A blank disk of `sectors` sectors with an MBR holding `primaries`. If one of them is an
/// extended partition (type 0x05), `logical` are chained inside it, numbered 5, 6, …: each
/// EBR's first entry is its logical partition relative to the EBR, its second the next EBR
/// relative to the start of the extended partition, as Windows and sfdisk write them.
pub fn mbr_disk(sectors: u64, primaries: &[MbrPartition], logical: &[LogicalPartition]) -> Vec<u8> {
    assert!(primaries.len() <= 4, "an MBR has four slots");
    let mut disk = vec![0u8; (sectors * SECTOR) as usize];
    let mbr = sector_mut(&mut disk, 0);
    put_u32(mbr, 440, 0x5eb0_07ca); // disk signature
    for (slot, partition) in primaries.iter().enumerate() {
        assert!(partition.first_lba + partition.sectors <= sectors, "partition {} beyond the disk", slot + 1);
        mbr_entry(mbr, slot, partition.kind, partition.first_lba, partition.sectors, partition.first_lba);
    }
    boot_signature(mbr);

    let extended = primaries.iter().find(|p| p.kind == MBR_EXTENDED);
    assert!(logical.is_empty() || extended.is_some(), "logical partitions need an extended partition");
    let Some(extended) = extended else { return disk };
    let extended_end = extended.first_lba + extended.sectors;
    for (index, partition) in logical.iter().enumerate() {
        assert!(
            extended.first_lba <= partition.ebr_lba
                && partition.ebr_lba < partition.first_lba
                && partition.first_lba + partition.sectors <= extended_end,
            "logical partition {} must follow its EBR inside the extended partition",
            index + 5
        );
        let ebr = sector_mut(&mut disk, partition.ebr_lba);
        mbr_entry(
            ebr,
            0,
            partition.kind,
            partition.first_lba - partition.ebr_lba,
            partition.sectors,
            partition.first_lba,
        );
        if let Some(next) = logical.get(index + 1) {
            // The link covers the next EBR through the end of its logical partition.
            let span = next.first_lba + next.sectors - next.ebr_lba;
            mbr_entry(ebr, 1, MBR_EXTENDED, next.ebr_lba - extended.first_lba, span, next.ebr_lba);
        }
        boot_signature(ebr);
    }
    disk
}

/// Copies `bytes` (a volume) into `disk` at sector `start_lba`.
pub fn place(disk: &mut [u8], start_lba: u64, bytes: &[u8]) {
    let start = (start_lba * SECTOR) as usize;
    disk[start..start + bytes.len()].copy_from_slice(bytes);
}
