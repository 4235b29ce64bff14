//! The layout of a hive's cells: every offset and signature the reader checks, in one place.
//!
//! Offsets are byte positions inside a cell's data, i.e. after its 4-byte size field, as
//! "Windows registry file format specification" (Maxim Suhanov, msuhanov/regf) gives them.
//! The test suite's regf writer (`tests/support/hive_writer.rs`) writes its own bytes but
//! takes every position and signature from here, so that a layout mistake cannot hide by
//! being made twice; its output is cross-checked by independent readers (nt-hive, hivex).

/// The base block; the hive bins start right after it, and every cell offset in a hive is
/// relative to that point.
pub const HIVE_BINS_START: usize = 4096;

/// "No cell" in an offset field.
pub const NIL_OFFSET: u32 = u32::MAX;

/// Size of a cell's size field (negative when allocated, positive when free).
pub const CELL_HEADER: usize = 4;

/// Hive bin header (at the start of each bin, not inside a cell).
pub mod hbin {
    pub const SIGNATURE: &[u8; 4] = b"hbin";
    /// The bin's offset from [`HIVE_BINS_START`](super::HIVE_BINS_START) (u32).
    pub const OFFSET: usize = 4;
    /// The bin's size (u32), a multiple of 4096.
    pub const SIZE: usize = 8;
    /// FILETIME (u64); meaningful in the first bin only (a copy of the base block's).
    pub const TIMESTAMP: usize = 20;
    pub const HEADER_SIZE: usize = 32;
}

/// `nk`: a key node.
pub const NK_SIGNATURE: &[u8; 2] = b"nk";
/// Flags (u16), see `KEY_*`.
pub const NK_FLAGS: usize = 2;
/// Last written, FILETIME (u64).
pub const NK_LAST_WRITTEN: usize = 4;
/// Offset of the parent key node (u32).
pub const NK_PARENT: usize = 16;
/// Number of subkeys on disk (u32).
pub const NK_SUBKEY_COUNT: usize = 20;
/// Number of volatile subkeys (u32): non-zero only in hives saved from memory.
pub const NK_VOLATILE_SUBKEY_COUNT: usize = 24;
/// Offset of the subkey list (u32): an `lf`, `lh`, `li` or `ri` cell.
pub const NK_SUBKEY_LIST: usize = 28;
/// Offset of the volatile subkey list (u32); never valid on disk.
pub const NK_VOLATILE_SUBKEY_LIST: usize = 32;
/// Number of values (u32).
pub const NK_VALUE_COUNT: usize = 36;
/// Offset of the value list (u32): a cell of `vk` offsets.
pub const NK_VALUE_LIST: usize = 40;
/// Offset of the `sk` cell (u32).
pub const NK_SECURITY: usize = 44;
/// Offset of the class name cell (u32).
pub const NK_CLASS: usize = 48;
/// Largest subkey name, in UTF-16 units (u32).
pub const NK_MAX_SUBKEY_NAME: usize = 52;
/// Largest subkey class name (u32).
pub const NK_MAX_SUBKEY_CLASS: usize = 56;
/// Largest value name (u32).
pub const NK_MAX_VALUE_NAME: usize = 60;
/// Largest value data (u32).
pub const NK_MAX_VALUE_DATA: usize = 64;
/// Length of the name in bytes (u16).
pub const NK_NAME_LENGTH: usize = 72;
/// Length of the class name in bytes (u16).
pub const NK_CLASS_LENGTH: usize = 74;
/// The name: Latin-1 with [`KEY_COMP_NAME`], UTF-16LE without.
pub const NK_NAME: usize = 76;

/// Key flag: a volatile key (only in hives saved from memory).
pub const KEY_VOLATILE: u16 = 0x0001;
/// Key flag: the root key of a hive.
pub const KEY_HIVE_ENTRY: u16 = 0x0004;
/// Key flag: the key cannot be deleted (set on roots).
pub const KEY_NO_DELETE: u16 = 0x0008;
/// Key flag: the name is stored in Latin-1, one byte per character.
pub const KEY_COMP_NAME: u16 = 0x0020;

/// `vk`: a key value.
pub const VK_SIGNATURE: &[u8; 2] = b"vk";
/// Length of the name in bytes (u16); 0 for the default value.
pub const VK_NAME_LENGTH: usize = 2;
/// Data size (u32); with [`VK_DATA_INLINE`] set, up to 4 bytes live in the offset field.
pub const VK_DATA_SIZE: usize = 4;
/// Offset of the data cell or `db` record (u32), or the data itself when inline.
pub const VK_DATA_OFFSET: usize = 8;
/// Registry type (u32): REG_SZ = 1, …
pub const VK_DATA_TYPE: usize = 12;
/// Flags (u16), see [`VALUE_COMP_NAME`].
pub const VK_FLAGS: usize = 16;
/// The name.
pub const VK_NAME: usize = 20;
/// High bit of the data size: the data is stored in the offset field.
pub const VK_DATA_INLINE: u32 = 0x8000_0000;
/// Value flag: the name is stored in Latin-1.
pub const VALUE_COMP_NAME: u16 = 0x0001;

/// Subkey lists: `lf` (entries with a 4-byte name hint), `lh` (with a name hash), `li`
/// (offsets only), `ri` (an index root: offsets of leaves).
pub const LF_SIGNATURE: &[u8; 2] = b"lf";
pub const LH_SIGNATURE: &[u8; 2] = b"lh";
pub const LI_SIGNATURE: &[u8; 2] = b"li";
pub const RI_SIGNATURE: &[u8; 2] = b"ri";
/// Number of entries (u16), for every kind of list.
pub const LIST_COUNT: usize = 2;
/// The first entry.
pub const LIST_ENTRIES: usize = 4;
/// Entry size of `lf` and `lh`: key node offset, then hint or hash.
pub const LF_LH_ENTRY_SIZE: usize = 8;
/// Entry size of `li` and `ri`: an offset.
pub const LI_RI_ENTRY_SIZE: usize = 4;
/// Position of the hint (`lf`) or hash (`lh`) inside an entry.
pub const LEAF_ENTRY_HINT: usize = 4;

/// `db`: big data (format 1.4 and later), data larger than one segment.
pub const DB_SIGNATURE: &[u8; 2] = b"db";
/// Number of segments (u16).
pub const DB_SEGMENT_COUNT: usize = 2;
/// Offset of the segment list (u32): a cell of segment offsets.
pub const DB_SEGMENT_LIST: usize = 4;
/// Data bytes in each full segment.
pub const DB_SEGMENT_SIZE: usize = 16_344;

/// `sk`: a security descriptor, in a doubly linked list of them.
pub const SK_SIGNATURE: &[u8; 2] = b"sk";
pub const SK_FLINK: usize = 4;
pub const SK_BLINK: usize = 8;
/// How many keys use it (u32).
pub const SK_REFERENCE_COUNT: usize = 12;
/// Size of the descriptor (u32).
pub const SK_DESCRIPTOR_SIZE: usize = 16;
/// The descriptor (self-relative SECURITY_DESCRIPTOR).
pub const SK_DESCRIPTOR: usize = 20;

/// The entry size of a subkey list by its signature; `None` for anything else.
pub fn list_entry_size(signature: &[u8]) -> Option<usize> {
    match signature {
        s if s == LF_SIGNATURE || s == LH_SIGNATURE => Some(LF_LH_ENTRY_SIZE),
        s if s == LI_SIGNATURE || s == RI_SIGNATURE => Some(LI_RI_ENTRY_SIZE),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed fields follow one another without gaps or overlaps, as the specification
    /// lists them (a u32 after a u32, the name right after the two u16 lengths).
    #[test]
    fn fixed_fields_follow_the_specification() {
        assert_eq!(NK_LAST_WRITTEN + 8 + 4, NK_PARENT, "access bits between");
        let nk_u32 = [
            NK_PARENT,
            NK_SUBKEY_COUNT,
            NK_VOLATILE_SUBKEY_COUNT,
            NK_SUBKEY_LIST,
            NK_VOLATILE_SUBKEY_LIST,
            NK_VALUE_COUNT,
            NK_VALUE_LIST,
            NK_SECURITY,
            NK_CLASS,
            NK_MAX_SUBKEY_NAME,
            NK_MAX_SUBKEY_CLASS,
            NK_MAX_VALUE_NAME,
            NK_MAX_VALUE_DATA,
        ];
        assert!(nk_u32.windows(2).all(|pair| pair[1] == pair[0] + 4));
        assert_eq!(NK_MAX_VALUE_DATA + 4 + 4, NK_NAME_LENGTH, "work var between");
        assert_eq!(NK_CLASS_LENGTH + 2, NK_NAME);
        assert_eq!(
            [VK_NAME_LENGTH + 2, VK_DATA_SIZE + 4, VK_DATA_OFFSET + 4],
            [VK_DATA_SIZE, VK_DATA_OFFSET, VK_DATA_TYPE]
        );
        assert_eq!(VK_FLAGS + 2 + 2, VK_NAME, "spare between");
        assert_eq!(SK_DESCRIPTOR_SIZE + 4, SK_DESCRIPTOR);
        assert_eq!(list_entry_size(b"lh"), Some(8));
        assert_eq!(list_entry_size(b"ri"), Some(4));
        assert_eq!(list_entry_size(b"nk"), None);
    }
}
