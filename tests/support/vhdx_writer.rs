//! A small VHDX writer for the VHDX reader's tests (tests/containers.rs), from MS-VHDX: the
//! file type identifier, two headers, two region tables, a metadata region with the items a
//! reader needs, a BAT whose entries the test gives, and payload written where the test says.
//! Its CRC-32C is computed bit by bit here, independent of the reader's checksum code. The
//! file is written sparse (only the structures and the payload given), so a disk of 256 MiB
//! blocks costs a few MiB of writes.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

pub const MIB: u64 = 1 << 20;

/// GUIDs as stored (first three fields little-endian).
pub const fn guid(first: u32, second: u16, third: u16, rest: [u8; 8]) -> [u8; 16] {
    let (a, b, c) = (first.to_le_bytes(), second.to_le_bytes(), third.to_le_bytes());
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6],
        rest[7],
    ]
}

pub const BAT_REGION: [u8; 16] = guid(0x2dc2_7766, 0xf623, 0x4200, [0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08]);
pub const METADATA_REGION: [u8; 16] =
    guid(0x8b7c_a206, 0x4790, 0x4b9a, [0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e]);
pub const FILE_PARAMETERS: [u8; 16] =
    guid(0xcaa1_6737, 0xfa36, 0x4d43, [0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b]);
pub const VIRTUAL_DISK_SIZE: [u8; 16] =
    guid(0x2fa5_4224, 0xcd1b, 0x4876, [0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8]);
pub const PAGE_83_DATA: [u8; 16] = guid(0xbeca_12ab, 0xb2e6, 0x4523, [0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46]);
pub const LOGICAL_SECTOR_SIZE: [u8; 16] =
    guid(0x8141_bf1d, 0xa96f, 0x4709, [0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f]);
pub const PHYSICAL_SECTOR_SIZE: [u8; 16] =
    guid(0xcda3_48c7, 0x445d, 0x4471, [0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56]);
pub const PARENT_LOCATOR: [u8; 16] =
    guid(0xa8d3_5f2d, 0xb30b, 0x454d, [0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c]);

/// BAT entry states.
pub const NOT_PRESENT: u64 = 0;
pub const ZERO: u64 = 2;
pub const FULLY_PRESENT: u64 = 6;
pub const PARTIALLY_PRESENT: u64 = 7;

/// A BAT entry: `state`, and the block at `mib` MiB of the file.
pub fn bat_entry(state: u64, mib: u64) -> u64 {
    state | (mib << 20)
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit.
pub fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82f6_3b78 } else { crc >> 1 };
        }
    }
    !crc
}

/// Writes the CRC-32C of `bytes` (its field at 4..8 taken as zero) into that field.
pub fn seal(bytes: &mut [u8]) {
    bytes[4..8].fill(0);
    let sum = crc32c(bytes);
    bytes[4..8].copy_from_slice(&sum.to_le_bytes());
}

/// The offset and length of region `id` in the region table at `table` of `image`.
pub fn region(image: &[u8], table: usize, id: [u8; 16]) -> (usize, usize) {
    let u32_at = |at: usize| u32::from_le_bytes(image[at..at + 4].try_into().unwrap()) as usize;
    (0..u32_at(table + 8))
        .map(|n| table + 16 + 32 * n)
        .find(|&e| image[e..e + 16] == id)
        .map(|e| (u64::from_le_bytes(image[e + 16..e + 24].try_into().unwrap()) as usize, u32_at(e + 24)))
        .unwrap()
}

/// What to write.
pub struct Disk {
    pub block_size: u32,
    pub logical_sector_size: u32,
    pub disk_size: u64,
    /// The BAT, entry by entry (payload and sector bitmap entries interleaved as the test
    /// means them); the region is rounded up to whole MiB.
    pub bat: Vec<u64>,
    /// Bytes written at these file offsets (payload).
    pub payload: Vec<(u64, Vec<u8>)>,
    /// Metadata items besides the five a reader needs: id and the entry's flags.
    pub extra_items: Vec<([u8; 16], u32)>,
    /// Regions besides the BAT and the metadata: id and whether required.
    pub extra_regions: Vec<([u8; 16], bool)>,
    /// The file's length (sparse up to it).
    pub file_len: u64,
    /// Where the BAT region is (MiB).
    pub bat_mib: u64,
}

impl Disk {
    /// A dynamic disk of `block_size` blocks with 512-byte sectors, the metadata at 1 MiB, the
    /// BAT at 2 MiB, nothing present.
    pub fn dynamic(block_size: u32, disk_size: u64) -> Disk {
        let blocks = disk_size.div_ceil(u64::from(block_size));
        let chunk_ratio = (1u64 << 23) * 512 / u64::from(block_size);
        let entries = blocks + (blocks - 1) / chunk_ratio;
        Disk {
            block_size,
            logical_sector_size: 512,
            disk_size,
            bat: vec![0; entries as usize],
            payload: Vec::new(),
            extra_items: Vec::new(),
            extra_regions: Vec::new(),
            file_len: 3 * MIB,
            bat_mib: 2,
        }
    }

    pub fn write(&self, path: &Path) {
        let mut file = std::fs::File::create(path).unwrap();
        file.set_len(self.file_len).unwrap();
        let mut put = |at: u64, bytes: &[u8]| {
            file.seek(SeekFrom::Start(at)).unwrap();
            file.write_all(bytes).unwrap();
        };
        let mut identifier = b"vhdxfile".to_vec();
        identifier.extend("rebootscan tests".encode_utf16().flat_map(u16::to_le_bytes));
        put(0, &identifier);
        for (at, sequence) in [(0x1_0000u64, 1u64), (0x2_0000, 2)] {
            let mut header = vec![0u8; 4096];
            header[..4].copy_from_slice(b"head");
            header[8..16].copy_from_slice(&sequence.to_le_bytes());
            header[16..32].fill(0x11); // FileWriteGuid
            header[32..48].fill(0x22); // DataWriteGuid
            header[66..68].copy_from_slice(&1u16.to_le_bytes()); // Version
            header[68..72].copy_from_slice(&(MIB as u32).to_le_bytes()); // LogLength
            header[72..80].copy_from_slice(&MIB.to_le_bytes()); // LogOffset (unused: clean)
            seal(&mut header);
            put(at, &header);
        }
        let bat_len = ((self.bat.len() as u64 * 8).div_ceil(MIB) * MIB).max(MIB);
        let mut regions = vec![0u8; 0x1_0000];
        regions[..4].copy_from_slice(b"regi");
        let mut entries = vec![(BAT_REGION, self.bat_mib * MIB, bat_len, true), (METADATA_REGION, MIB, MIB, true)];
        entries.extend(self.extra_regions.iter().map(|&(id, required)| (id, 4 * MIB, MIB, required)));
        regions[8..12].copy_from_slice(&(entries.len() as u32).to_le_bytes());
        for (n, (id, offset, len, required)) in entries.iter().enumerate() {
            let e = 16 + 32 * n;
            regions[e..e + 16].copy_from_slice(id);
            regions[e + 16..e + 24].copy_from_slice(&offset.to_le_bytes());
            regions[e + 24..e + 28].copy_from_slice(&(*len as u32).to_le_bytes());
            regions[e + 28..e + 32].copy_from_slice(&u32::from(*required).to_le_bytes());
        }
        seal(&mut regions);
        put(0x3_0000, &regions);
        put(0x4_0000, &regions);
        let mut metadata = vec![0u8; 0x1_0000 + 4096];
        metadata[..8].copy_from_slice(b"metadata");
        let mut disk_id = [0u8; 16];
        disk_id.copy_from_slice(&guid(0x0bad_c0de, 0x1234, 0x4567, [0x89, 0xab, 0xcd, 0xef, 1, 2, 3, 4]));
        let mut items: Vec<([u8; 16], u32, Vec<u8>)> = vec![
            (FILE_PARAMETERS, 4, [self.block_size.to_le_bytes(), 0u32.to_le_bytes()].concat()),
            (VIRTUAL_DISK_SIZE, 6, self.disk_size.to_le_bytes().to_vec()),
            (PAGE_83_DATA, 6, disk_id.to_vec()),
            (LOGICAL_SECTOR_SIZE, 6, self.logical_sector_size.to_le_bytes().to_vec()),
            (PHYSICAL_SECTOR_SIZE, 6, 4096u32.to_le_bytes().to_vec()),
        ];
        items.extend(self.extra_items.iter().map(|&(id, flags)| (id, flags, vec![0u8; 8])));
        metadata[10..12].copy_from_slice(&(items.len() as u16).to_le_bytes());
        let mut at = 0x1_0000usize;
        for (n, (id, flags, bytes)) in items.iter().enumerate() {
            let e = 32 + 32 * n;
            metadata[e..e + 16].copy_from_slice(id);
            metadata[e + 16..e + 20].copy_from_slice(&(at as u32).to_le_bytes());
            metadata[e + 20..e + 24].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
            metadata[e + 24..e + 28].copy_from_slice(&flags.to_le_bytes());
            metadata[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        }
        put(MIB, &metadata);
        let bat: Vec<u8> = self.bat.iter().flat_map(|e| e.to_le_bytes()).collect();
        put(self.bat_mib * MIB, &bat);
        for (offset, bytes) in &self.payload {
            put(*offset, bytes);
        }
    }
}
