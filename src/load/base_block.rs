//! The 4096-byte base block ("regf" header) at the start of every hive and transaction log.
//!
//! nt-hive only validates this block as a whole (and rejects the dirty hives that real evidence
//! is full of), so we read and judge every field ourselves and then hand the bytes to nt-hive
//! with `Hive::without_validation`. Layout: Suhanov, "Windows registry file format
//! specification", section "Base block".

use serde::Serialize;

use crate::load::filetime::FileTime;

/// Size of the base block in a primary hive file; hive bins start right after it.
pub const BASE_BLOCK_SIZE: usize = 4096;
/// Size of the partial base block copied at the start of a transaction log.
pub const LOG_BASE_BLOCK_SIZE: usize = 512;
/// Hive bins are allocated in multiples of this.
pub const HBIN_ALIGNMENT: u32 = 4096;

pub const SIGNATURE: &[u8; 4] = b"regf";

pub mod offsets {
    pub const PRIMARY_SEQUENCE: usize = 4;
    pub const SECONDARY_SEQUENCE: usize = 8;
    pub const LAST_WRITTEN: usize = 12;
    pub const MAJOR_VERSION: usize = 20;
    pub const MINOR_VERSION: usize = 24;
    pub const FILE_TYPE: usize = 28;
    pub const FILE_FORMAT: usize = 32;
    pub const ROOT_CELL: usize = 36;
    pub const HIVE_BINS_SIZE: usize = 40;
    pub const CLUSTERING_FACTOR: usize = 44;
    pub const FILE_NAME: usize = 48;
    pub const FILE_NAME_LEN: usize = 64;
    pub const FLAGS: usize = 144;
    pub const CHECKSUM: usize = 508;
}

/// What the `file type` field says the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    /// A primary hive file.
    Primary,
    /// An old-format ("DIRT" bitmap) transaction log (Windows NT 4 to 8).
    OldLog,
    /// An old-format log as written by Windows NT 3.x–2000.
    OldLogNt,
    /// A new-format ("HvLE" entries) transaction log (Windows 8.1 and later).
    NewLog,
    /// A value this tool does not know.
    Unknown(u32),
}

impl FileType {
    fn from_raw(raw: u32) -> FileType {
        match raw {
            0 => FileType::Primary,
            1 => FileType::OldLog,
            2 => FileType::OldLogNt,
            6 => FileType::NewLog,
            other => FileType::Unknown(other),
        }
    }

    pub fn describe(self) -> String {
        match self {
            FileType::Primary => "primary hive".into(),
            FileType::OldLog | FileType::OldLogNt => "old-format transaction log".into(),
            FileType::NewLog => "new-format transaction log".into(),
            FileType::Unknown(raw) => format!("unknown file type {raw}"),
        }
    }
}

/// The fields of a base block, read without judging them. See [`BaseBlock::problems`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseBlock {
    pub primary_sequence: u32,
    pub secondary_sequence: u32,
    pub last_written: FileTime,
    pub major_version: u32,
    pub minor_version: u32,
    pub file_type: FileType,
    pub file_format: u32,
    pub root_cell_offset: u32,
    pub hive_bins_size: u32,
    pub clustering_factor: u32,
    /// The UTF-16 file name Windows embeds (often only its last 31 characters).
    pub embedded_file_name: String,
    pub flags: u32,
    pub stored_checksum: u32,
    pub computed_checksum: u32,
}

/// Why a file cannot be a hive at all, before any field is judged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseBlockError {
    #[error("the file is empty (0 bytes): the copy failed or the file was never written; collect the hive again")]
    Empty,
    #[error("not a registry hive: it starts with {found} instead of the \"regf\" signature; give the hive files from Windows\\System32\\config (SYSTEM, SOFTWARE, COMPONENTS)")]
    NotAHive { found: String },
    #[error("truncated: only {len} bytes, shorter than the {needed}-byte base block; the copy is incomplete, collect the hive again")]
    TooShort { len: usize, needed: usize },
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    // Callers guarantee `bytes.len() >= 512`, and every offset used here is below 512.
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

/// XOR-32 of the first 508 bytes, with the two reserved results remapped as Windows does.
pub fn checksum(bytes: &[u8]) -> u32 {
    let mut sum = 0u32;
    for chunk in bytes[..offsets::CHECKSUM].chunks_exact(4) {
        sum ^= u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    match sum {
        0 => 1,
        u32::MAX => u32::MAX - 1,
        other => other,
    }
}

/// Rewrites the checksum field after the block was changed (used on private copies only).
pub fn store_checksum(bytes: &mut [u8]) {
    let sum = checksum(bytes);
    bytes[offsets::CHECKSUM..offsets::CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
}

fn describe_signature(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(4)];
    if head.starts_with(b"MZ") {
        return "\"MZ\" (a Windows executable)".into();
    }
    if head.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("\"{}\"", String::from_utf8_lossy(head))
    } else {
        let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

impl BaseBlock {
    /// Reads the fields of the base block at the start of `bytes` (a primary hive needs
    /// 4096 bytes; a log's partial copy has 512).
    pub fn parse(bytes: &[u8]) -> Result<BaseBlock, BaseBlockError> {
        if bytes.is_empty() {
            return Err(BaseBlockError::Empty);
        }
        if bytes.len() < 4 || &bytes[..4] != SIGNATURE {
            return Err(BaseBlockError::NotAHive { found: describe_signature(bytes) });
        }
        if bytes.len() < LOG_BASE_BLOCK_SIZE {
            return Err(BaseBlockError::TooShort { len: bytes.len(), needed: LOG_BASE_BLOCK_SIZE });
        }
        let name_bytes = &bytes[offsets::FILE_NAME..offsets::FILE_NAME + offsets::FILE_NAME_LEN];
        let units: Vec<u16> =
            name_bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|&u| u != 0).collect();
        Ok(BaseBlock {
            primary_sequence: u32_at(bytes, offsets::PRIMARY_SEQUENCE),
            secondary_sequence: u32_at(bytes, offsets::SECONDARY_SEQUENCE),
            last_written: FileTime::from_u64(
                u32_at(bytes, offsets::LAST_WRITTEN) as u64 | (u32_at(bytes, offsets::LAST_WRITTEN + 4) as u64) << 32,
            ),
            major_version: u32_at(bytes, offsets::MAJOR_VERSION),
            minor_version: u32_at(bytes, offsets::MINOR_VERSION),
            file_type: FileType::from_raw(u32_at(bytes, offsets::FILE_TYPE)),
            file_format: u32_at(bytes, offsets::FILE_FORMAT),
            root_cell_offset: u32_at(bytes, offsets::ROOT_CELL),
            hive_bins_size: u32_at(bytes, offsets::HIVE_BINS_SIZE),
            clustering_factor: u32_at(bytes, offsets::CLUSTERING_FACTOR),
            embedded_file_name: String::from_utf16_lossy(&units),
            flags: u32_at(bytes, offsets::FLAGS),
            stored_checksum: u32_at(bytes, offsets::CHECKSUM),
            computed_checksum: checksum(bytes),
        })
    }

    pub fn checksum_ok(&self) -> bool {
        self.stored_checksum == self.computed_checksum
    }

    pub fn sequences_match(&self) -> bool {
        self.primary_sequence == self.secondary_sequence
    }

    /// Dirty in the sense Windows uses when it loads a hive: the last write did not complete,
    /// so the transaction logs may hold changes the primary file lacks.
    pub fn is_dirty(&self) -> bool {
        !self.checksum_ok() || !self.sequences_match()
    }

    pub fn format_version(&self) -> String {
        format!("{}.{}", self.major_version, self.minor_version)
    }

    /// Format 1.6 is the "differencing" (layered) hive used by Windows containers: a partial
    /// view that only makes sense on top of a base hive.
    pub fn is_differencing(&self) -> bool {
        self.major_version == 1 && self.minor_version == 6
    }

    /// Everything about the block that is wrong or unusual for a primary hive of
    /// `file_len` bytes, in plain words. Fatal problems are marked so.
    pub fn problems(&self, file_len: u64) -> Vec<BaseBlockProblem> {
        let mut problems = Vec::new();
        if !self.checksum_ok() {
            problems
                .push(BaseBlockProblem::BadChecksum { stored: self.stored_checksum, computed: self.computed_checksum });
        }
        if !self.sequences_match() {
            problems.push(BaseBlockProblem::SequenceMismatch {
                primary: self.primary_sequence,
                secondary: self.secondary_sequence,
            });
        }
        if self.major_version != 1 || !(2..=6).contains(&self.minor_version) {
            problems.push(BaseBlockProblem::UnknownVersion { major: self.major_version, minor: self.minor_version });
        }
        if self.file_type != FileType::Primary {
            problems.push(BaseBlockProblem::NotPrimary { file_type: self.file_type });
        }
        if self.file_format != 1 {
            problems.push(BaseBlockProblem::UnknownFileFormat { format: self.file_format });
        }
        if !self.hive_bins_size.is_multiple_of(HBIN_ALIGNMENT) || self.hive_bins_size == 0 {
            problems.push(BaseBlockProblem::OddHiveBinsSize { size: self.hive_bins_size });
        }
        let needed = BASE_BLOCK_SIZE as u64 + self.hive_bins_size as u64;
        if needed > file_len {
            problems.push(BaseBlockProblem::Truncated { declared: needed, actual: file_len });
        }
        if self.root_cell_offset == u32::MAX || self.root_cell_offset as u64 + 4 > self.hive_bins_size.max(1) as u64 {
            problems.push(BaseBlockProblem::RootOutsideHiveBins {
                root: self.root_cell_offset,
                hive_bins_size: self.hive_bins_size,
            });
        }
        problems
    }
}

/// One thing wrong with a base block. Whether it is fatal depends on whether logs can
/// repair it; [`BaseBlockProblem::blocks_reading`] says whether the primary alone is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseBlockProblem {
    #[error(
        "bad base-block checksum (stored {stored:#010x}, computed {computed:#010x}): the last write did not complete"
    )]
    BadChecksum { stored: u32, computed: u32 },
    #[error("sequence numbers differ ({primary} != {secondary}): the hive is dirty, recent changes may be in its .LOG1/.LOG2 files")]
    SequenceMismatch { primary: u32, secondary: u32 },
    #[error("unknown format version {major}.{minor} (known: 1.2 to 1.6): not a Windows NT registry hive, or its header is damaged")]
    UnknownVersion { major: u32, minor: u32 },
    #[error("the base block says this is a {}, not a primary hive", file_type.describe())]
    NotPrimary { file_type: FileType },
    #[error("unknown file format {format} (expected 1, memory-backed hive)")]
    UnknownFileFormat { format: u32 },
    #[error("hive-bins size {size} is not a positive multiple of 4096")]
    OddHiveBinsSize { size: u32 },
    #[error("truncated: the base block declares {declared} bytes but the file has {actual}; the copy is incomplete, collect the hive again")]
    Truncated { declared: u64, actual: u64 },
    #[error("root key offset {root:#x} lies outside the {hive_bins_size}-byte hive-bins area")]
    RootOutsideHiveBins { root: u32, hive_bins_size: u32 },
}

impl BaseBlockProblem {
    /// True for problems that make the primary file unreadable on its own (a log may still
    /// repair them).
    pub fn blocks_reading(&self) -> bool {
        matches!(
            self,
            BaseBlockProblem::UnknownVersion { .. }
                | BaseBlockProblem::NotPrimary { .. }
                | BaseBlockProblem::RootOutsideHiveBins { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal_block() -> Vec<u8> {
        let mut b = vec![0u8; BASE_BLOCK_SIZE];
        b[..4].copy_from_slice(SIGNATURE);
        b[4..8].copy_from_slice(&7u32.to_le_bytes());
        b[8..12].copy_from_slice(&7u32.to_le_bytes());
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[24..28].copy_from_slice(&5u32.to_le_bytes());
        b[32..36].copy_from_slice(&1u32.to_le_bytes());
        b[36..40].copy_from_slice(&0x20u32.to_le_bytes());
        b[40..44].copy_from_slice(&4096u32.to_le_bytes());
        b[44..48].copy_from_slice(&1u32.to_le_bytes());
        store_checksum(&mut b);
        b
    }

    #[test]
    fn clean_block_has_no_problems() {
        let block = BaseBlock::parse(&minimal_block()).unwrap();
        assert!(!block.is_dirty());
        assert_eq!(block.format_version(), "1.5");
        assert!(block.problems(8192).is_empty());
    }

    #[test]
    fn sequence_mismatch_is_dirty() {
        let mut b = minimal_block();
        b[4..8].copy_from_slice(&8u32.to_le_bytes());
        store_checksum(&mut b);
        let block = BaseBlock::parse(&b).unwrap();
        assert!(block.is_dirty());
        assert!(block.checksum_ok());
        assert!(matches!(block.problems(8192)[0], BaseBlockProblem::SequenceMismatch { primary: 8, secondary: 7 }));
    }

    #[test]
    fn flipped_byte_breaks_checksum() {
        let mut b = minimal_block();
        b[100] ^= 0x40;
        let block = BaseBlock::parse(&b).unwrap();
        assert!(!block.checksum_ok());
        assert!(block.is_dirty());
    }

    #[test]
    fn truncated_file_is_reported() {
        let block = BaseBlock::parse(&minimal_block()).unwrap();
        let problems = block.problems(4096);
        assert!(problems.contains(&BaseBlockProblem::Truncated { declared: 8192, actual: 4096 }));
    }

    #[test]
    fn checksum_remaps_reserved_values() {
        let b = vec![0u8; 512];
        assert_eq!(checksum(&b), 1);
    }

    #[test]
    fn non_hives_are_named() {
        assert_eq!(BaseBlock::parse(b""), Err(BaseBlockError::Empty));
        let pe = BaseBlock::parse(b"MZ\x90\x00rest").unwrap_err();
        assert!(pe.to_string().contains("executable"), "{pe}");
        let text = BaseBlock::parse(b"hello world").unwrap_err();
        assert!(text.to_string().contains("\"hell\""), "{text}");
    }
}
