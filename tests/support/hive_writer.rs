//! The project's own deterministic writer of regf (registry hive) files, used to make test
//! fixtures and benchmark hives without Windows or external tools.
//!
//! Describe a hive with [`HiveSpec`] / [`KeySpec`] / [`ValueSpec`], then [`HiveSpec::build`]
//! returns the complete file. The output is a clean hive as Windows would leave it after a
//! completed write (unless the spec asks for a dirty one), readable by nt-hive and hivex.
//! Layout facts follow Suhanov's "Windows registry file format specification".
//!
//! Cells are laid out depth-first (a key's `nk`, then its class name, subkey list and values,
//! then its subkeys), each key once, so building is linear in the size of the hive (about
//! 0.3–0.7 s for 110 MB and 300,000 keys in a release build).
//!
//! hivex, the reference reader of the benchmarks, refuses keys with more than 70,000 subkeys
//! or 110,000 values and values over 8,000,000 bytes; the writer and nt-hive accept more.

use std::cmp::Ordering;

// The type numbers are the library's: one definition for the reader and the writer. (Each user
// of this file needs only some of them.)
#[allow(unused_imports)]
pub use rebootscan::load::reader::{
    REG_BINARY, REG_DWORD, REG_DWORD_BIG_ENDIAN, REG_EXPAND_SZ, REG_FULL_RESOURCE_DESCRIPTOR, REG_LINK, REG_MULTI_SZ,
    REG_NONE, REG_QWORD, REG_RESOURCE_LIST, REG_RESOURCE_REQUIREMENTS_LIST, REG_SZ,
};

/// 2024-01-01T00:00:00Z as a FILETIME: the default time of hives and keys, so that a spec
/// that sets no time still has plausible, non-zero ("set") timestamps.
pub const DEFAULT_LAST_WRITTEN: u64 = 133_485_408_000_000_000;

/// Most data bytes one cell (or one big-data segment) holds; larger values need `db`.
pub const BIG_DATA_SEGMENT_SIZE: usize = cells::DB_SEGMENT_SIZE;

/// Longest embedded file name the base block holds (64 bytes of UTF-16 with a terminator).
pub const MAX_EMBEDDED_FILE_NAME_UNITS: usize = 31;

// Every cell offset and signature is the library's (`rebootscan::load::cells`): the writer
// writes its own bytes, but a layout mistake cannot be made once in the reader and again here.
use rebootscan::load::cells::{
    self, hbin, CELL_HEADER, DB_SEGMENT_COUNT, DB_SEGMENT_LIST, DB_SIGNATURE, KEY_COMP_NAME, KEY_HIVE_ENTRY,
    KEY_NO_DELETE, LEAF_ENTRY_HINT, LF_LH_ENTRY_SIZE, LF_SIGNATURE, LH_SIGNATURE, LIST_COUNT, LIST_ENTRIES,
    LI_RI_ENTRY_SIZE, LI_SIGNATURE, NK_CLASS, NK_CLASS_LENGTH, NK_FLAGS, NK_LAST_WRITTEN, NK_MAX_SUBKEY_CLASS,
    NK_MAX_SUBKEY_NAME, NK_MAX_VALUE_DATA, NK_MAX_VALUE_NAME, NK_NAME, NK_NAME_LENGTH, NK_PARENT, NK_SECURITY,
    NK_SIGNATURE, NK_SUBKEY_COUNT, NK_SUBKEY_LIST, NK_VALUE_COUNT, NK_VALUE_LIST, NK_VOLATILE_SUBKEY_LIST,
    RI_SIGNATURE, SK_BLINK, SK_DESCRIPTOR, SK_DESCRIPTOR_SIZE, SK_FLINK, SK_REFERENCE_COUNT, SK_SIGNATURE,
    VALUE_COMP_NAME, VK_DATA_INLINE as DATA_INLINE, VK_DATA_OFFSET, VK_DATA_SIZE, VK_DATA_TYPE, VK_FLAGS, VK_NAME,
    VK_NAME_LENGTH, VK_SIGNATURE,
};

const BASE_BLOCK_SIZE: usize = cells::HIVE_BINS_START;
const HBIN_SIZE: usize = 4096;
const HBIN_HEADER_SIZE: usize = hbin::HEADER_SIZE;
const NIL: u32 = cells::NIL_OFFSET;
const NK_HEADER_SIZE: usize = NK_NAME;
const VK_HEADER_SIZE: usize = VK_NAME;

/// Self-relative security descriptor shared by every key: revision 1, control
/// SE_SELF_RELATIVE | SE_DACL_PRESENT, no owner, no group, no SACL and a null DACL
/// (everyone has full access). Readers never judge it, but hivex expects every key to have one.
const SECURITY_DESCRIPTOR: [u8; 20] = [1, 0, 0x04, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// One value of a key: name (`""` is the default value), raw type and raw data bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueSpec {
    pub name: String,
    pub data_type: u32,
    pub data: Vec<u8>,
}

/// UTF-16LE bytes of `text`, without terminator.
pub fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// UTF-16LE bytes of `text` followed by a NUL character, as REG_SZ data is stored.
fn utf16le_nul(text: &str) -> Vec<u8> {
    let mut bytes = utf16le(text);
    bytes.extend_from_slice(&[0, 0]);
    bytes
}

impl ValueSpec {
    pub fn raw(name: &str, data_type: u32, data: Vec<u8>) -> Self {
        ValueSpec { name: name.to_string(), data_type, data }
    }

    pub fn sz(name: &str, text: &str) -> Self {
        Self::raw(name, REG_SZ, utf16le_nul(text))
    }

    pub fn expand_sz(name: &str, text: &str) -> Self {
        Self::raw(name, REG_EXPAND_SZ, utf16le_nul(text))
    }

    pub fn dword(name: &str, number: u32) -> Self {
        Self::raw(name, REG_DWORD, number.to_le_bytes().to_vec())
    }

    pub fn dword_be(name: &str, number: u32) -> Self {
        Self::raw(name, REG_DWORD_BIG_ENDIAN, number.to_be_bytes().to_vec())
    }

    pub fn qword(name: &str, number: u64) -> Self {
        Self::raw(name, REG_QWORD, number.to_le_bytes().to_vec())
    }

    pub fn binary(name: &str, data: &[u8]) -> Self {
        Self::raw(name, REG_BINARY, data.to_vec())
    }

    /// Every string followed by a NUL, then one more NUL ending the list. Empty strings
    /// stay in place (PendingFileRenameOperations uses them for "delete"), so `["a", "", "b"]`
    /// is `a\0\0b\0\0` and an empty list is a single NUL.
    pub fn multi_sz(name: &str, strings: &[&str]) -> Self {
        let mut data = Vec::new();
        for text in strings {
            data.extend_from_slice(&utf16le_nul(text));
        }
        data.extend_from_slice(&[0, 0]);
        Self::raw(name, REG_MULTI_SZ, data)
    }
}

/// One key with its values and subkeys. Subkeys may be in any order (the writer sorts them
/// as Windows does) but their names must differ case-insensitively.
#[derive(Clone, Debug, PartialEq)]
pub struct KeySpec {
    pub name: String,
    /// FILETIME stored in the `nk` record.
    pub last_written: u64,
    pub class_name: Option<String>,
    /// Written in this order (value lists are not sorted on disk).
    pub values: Vec<ValueSpec>,
    pub subkeys: Vec<KeySpec>,
}

impl KeySpec {
    pub fn new(name: &str, last_written: u64) -> Self {
        KeySpec { name: name.to_string(), last_written, class_name: None, values: Vec::new(), subkeys: Vec::new() }
    }
}

/// Which subkey-list record the writer uses for leaves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum IndexStyle {
    /// Hash leaf (Windows XP and later).
    Lh,
    /// Fast leaf with 4-character name hints (Windows NT 4 / 2000).
    Lf,
    /// Plain index leaf (Windows NT 3.x, and the leaves under `ri` in old hives).
    Li,
}

/// A whole hive file.
#[derive(Clone, Debug, PartialEq)]
pub struct HiveSpec {
    /// Format version is 1.`minor_version`; `db` big data is written only when it is >= 4.
    pub minor_version: u32,
    /// UTF-16 name in the base block, at most [`MAX_EMBEDDED_FILE_NAME_UNITS`] units.
    pub embedded_file_name: String,
    /// FILETIME in the base block and in the first hbin header.
    pub last_written: u64,
    pub primary_sequence: u32,
    /// A value different from `primary_sequence` makes the hive dirty.
    pub secondary_sequence: u32,
    /// Store a wrong base-block checksum (as after an interrupted write).
    pub break_checksum: bool,
    pub index_style: IndexStyle,
    /// A key with more subkeys than this gets an `ri` index root over several leaves.
    pub max_leaf_entries: usize,
    pub root: KeySpec,
}

impl HiveSpec {
    /// A clean format-1.5 hive holding only a root key called `root_name`.
    pub fn new(root_name: &str) -> Self {
        HiveSpec {
            minor_version: 5,
            embedded_file_name: String::new(),
            last_written: DEFAULT_LAST_WRITTEN,
            primary_sequence: 1,
            secondary_sequence: 1,
            break_checksum: false,
            index_style: IndexStyle::Lh,
            max_leaf_entries: 512,
            root: KeySpec::new(root_name, DEFAULT_LAST_WRITTEN),
        }
    }

    /// The key at `path` (backslash-separated, relative to the root, `""` = the root),
    /// creating missing keys with the hive's `last_written`. Existing names match
    /// case-insensitively. Linear in the number of siblings on the way: to generate huge
    /// hives, push [`KeySpec`]s into `subkeys` directly.
    pub fn key_mut(&mut self, path: &str) -> &mut KeySpec {
        let last_written = self.last_written;
        let mut key = &mut self.root;
        for name in path.split('\\').filter(|name| !name.is_empty()) {
            let index = match key.subkeys.iter().position(|sub| names_equal(&sub.name, name)) {
                Some(index) => index,
                None => {
                    key.subkeys.push(KeySpec::new(name, last_written));
                    key.subkeys.len() - 1
                }
            };
            key = &mut key.subkeys[index];
        }
        key
    }

    /// Sets a value of the key at `path` (created if missing), replacing a value with the
    /// same name (case-insensitive) in place.
    pub fn set_value(&mut self, path: &str, value: ValueSpec) {
        let key = self.key_mut(path);
        match key.values.iter_mut().find(|old| names_equal(&old.name, &value.name)) {
            Some(old) => *old = value,
            None => key.values.push(value),
        }
    }

    /// The complete hive file.
    ///
    /// Panics on specs no hive can hold: sibling keys with the same name, names longer than
    /// their 16-bit length fields, too many subkeys for one `ri`, or an embedded file name
    /// longer than [`MAX_EMBEDDED_FILE_NAME_UNITS`].
    pub fn build(&self) -> Vec<u8> {
        let mut writer = CellWriter::new(self.last_written);
        let root_offset = writer.alloc(nk_data_len(&self.root.name));
        let security_offset = writer.write_security(count_keys(&self.root));
        let mut hive = HiveWriter { spec: self, cells: writer, security_offset };
        hive.write_key(&self.root, root_offset, 0, KEY_HIVE_ENTRY | KEY_NO_DELETE);
        let mut bytes = hive.cells.finish();
        self.write_base_block(&mut bytes, root_offset);
        bytes
    }

    fn write_base_block(&self, bytes: &mut [u8], root_offset: u32) {
        let units: Vec<u16> = self.embedded_file_name.encode_utf16().collect();
        assert!(
            units.len() <= MAX_EMBEDDED_FILE_NAME_UNITS,
            "embedded file name {:?} has {} UTF-16 units; the base block holds at most {}",
            self.embedded_file_name,
            units.len(),
            MAX_EMBEDDED_FILE_NAME_UNITS
        );
        let hive_bins_size = (bytes.len() - BASE_BLOCK_SIZE) as u32;
        let block = &mut bytes[..BASE_BLOCK_SIZE];
        block[0..4].copy_from_slice(b"regf");
        put_u32(block, 4, self.primary_sequence);
        put_u32(block, 8, self.secondary_sequence);
        put_u64(block, 12, self.last_written);
        put_u32(block, 20, 1); // major version
        put_u32(block, 24, self.minor_version);
        put_u32(block, 28, 0); // file type: primary
        put_u32(block, 32, 1); // file format: direct memory load
        put_u32(block, 36, root_offset);
        put_u32(block, 40, hive_bins_size);
        put_u32(block, 44, 1); // clustering factor
        for (index, unit) in units.iter().enumerate() {
            put_u16(block, 48 + 2 * index, *unit);
        }
        let checksum = base_block_checksum(block);
        put_u32(block, 508, if self.break_checksum { !checksum } else { checksum });
    }
}

/// XOR-32 of the first 508 bytes, with 0 and 0xFFFFFFFF remapped as Windows does. Kept
/// separate from the library's own function so that tests do not check it against itself.
fn base_block_checksum(block: &[u8]) -> u32 {
    let sum = block[..508]
        .chunks_exact(4)
        .fold(0u32, |sum, word| sum ^ u32::from_le_bytes([word[0], word[1], word[2], word[3]]));
    match sum {
        0 => 1,
        u32::MAX => u32::MAX - 1,
        other => other,
    }
}

/// Upper-cases one UTF-16 code unit the way registry name comparisons do: simple one-to-one
/// mappings within the Basic Multilingual Plane, everything else unchanged. This matches
/// nt-hive's table (and Windows) for every character real key names use; exotic characters
/// whose Unicode upper case is several characters (e.g. U+1F80) may compare differently.
pub fn upcase_unit(unit: u16) -> u16 {
    if unit < 0x80 {
        return (unit as u8).to_ascii_uppercase() as u16;
    }
    let Some(character) = char::from_u32(unit as u32) else {
        return unit; // a surrogate
    };
    let mut upper = character.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(single), None) if (single as u32) <= 0xFFFF => single as u16,
        _ => unit,
    }
}

/// Registry order of two names: by upper-cased UTF-16 code units, a prefix first.
pub fn compare_names(left: &str, right: &str) -> Ordering {
    left.encode_utf16().map(upcase_unit).cmp(right.encode_utf16().map(upcase_unit))
}

pub fn names_equal(left: &str, right: &str) -> bool {
    compare_names(left, right) == Ordering::Equal
}

/// The `lh` hash of a key name: h = 37 * h + upper-cased UTF-16 unit.
pub fn name_hash(name: &str) -> u32 {
    name.encode_utf16().fold(0u32, |hash, unit| hash.wrapping_mul(37).wrapping_add(upcase_unit(unit) as u32))
}

/// Names Windows stores "compressed" (one byte per character): Latin-1 only.
fn is_latin1(name: &str) -> bool {
    name.chars().all(|character| (character as u32) <= 0xFF)
}

/// On-disk bytes of a key or value name and whether they are the one-byte form.
fn encode_name(name: &str) -> (Vec<u8>, bool) {
    if is_latin1(name) {
        (name.chars().map(|character| character as u8).collect(), true)
    } else {
        (utf16le(name), false)
    }
}

/// Length in bytes of `name` counted as UTF-16, as the `nk` "largest name" fields count it.
fn utf16_len(name: &str) -> u32 {
    2 * name.encode_utf16().count() as u32
}

/// The `lf` hint: the first four characters as bytes (zero-padded), or zero when one of them
/// does not fit in a byte.
fn name_hint(name: &str) -> [u8; 4] {
    let mut hint = [0u8; 4];
    for (slot, unit) in hint.iter_mut().zip(name.encode_utf16()) {
        if unit > 0xFF {
            return [0; 4];
        }
        *slot = unit as u8;
    }
    hint
}

fn nk_data_len(name: &str) -> usize {
    let (bytes, _) = encode_name(name);
    NK_HEADER_SIZE + bytes.len()
}

fn count_keys(key: &KeySpec) -> u32 {
    1 + key.subkeys.iter().map(count_keys).sum::<u32>()
}

fn checked_u16(len: usize, what: impl FnOnce() -> String) -> u16 {
    u16::try_from(len).unwrap_or_else(|_| panic!("{} is {len} bytes, more than a 16-bit length field holds", what()))
}

fn put_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Bump allocator of cells in hive bins, over the growing file image.
struct CellWriter {
    /// The whole file so far, base block (still zero) included.
    bytes: Vec<u8>,
    /// File position where the next cell goes.
    cursor: usize,
    /// File position where the current hive bin ends.
    bin_end: usize,
    last_written: u64,
}

impl CellWriter {
    fn new(last_written: u64) -> Self {
        CellWriter { bytes: vec![0; BASE_BLOCK_SIZE], cursor: BASE_BLOCK_SIZE, bin_end: BASE_BLOCK_SIZE, last_written }
    }

    /// Allocates a cell for `data_len` bytes and returns its offset (relative to the start of
    /// the hive bins, as every reference in a hive is). Cells never cross a bin boundary: a
    /// cell that does not fit closes the bin, and one larger than a standard bin gets a bin
    /// of its own size.
    fn alloc(&mut self, data_len: usize) -> u32 {
        let size = (CELL_HEADER + data_len).next_multiple_of(8);
        if self.cursor + size > self.bin_end {
            self.close_bin();
            self.open_bin(size);
        }
        let at = self.cursor;
        let size_field = i32::try_from(size).expect("cell larger than 2 GiB");
        self.bytes[at..at + CELL_HEADER].copy_from_slice(&(-size_field).to_le_bytes());
        self.cursor += size;
        (at - BASE_BLOCK_SIZE) as u32
    }

    /// The data area of the cell at `offset`, `len` bytes long.
    fn data_mut(&mut self, offset: u32, len: usize) -> &mut [u8] {
        let start = BASE_BLOCK_SIZE + offset as usize + CELL_HEADER;
        &mut self.bytes[start..start + len]
    }

    /// Stores `value` at byte `field` of the data of the cell at `offset`: fills in a
    /// reference once the cell it points to is allocated.
    fn patch_u32(&mut self, offset: u32, field: usize, value: u32) {
        put_u32(&mut self.bytes, BASE_BLOCK_SIZE + offset as usize + CELL_HEADER + field, value);
    }

    /// Allocates a cell and fills it with `data`.
    fn write_cell(&mut self, data: &[u8]) -> u32 {
        let offset = self.alloc(data.len());
        self.data_mut(offset, data.len()).copy_from_slice(data);
        offset
    }

    fn open_bin(&mut self, first_cell_size: usize) {
        let start = self.bytes.len();
        let size = (HBIN_HEADER_SIZE + first_cell_size).next_multiple_of(HBIN_SIZE);
        self.bytes.resize(start + size, 0);
        let header = &mut self.bytes[start..start + HBIN_HEADER_SIZE];
        header[0..4].copy_from_slice(hbin::SIGNATURE);
        put_u32(header, hbin::OFFSET, (start - BASE_BLOCK_SIZE) as u32);
        put_u32(header, hbin::SIZE, size as u32);
        // Only the first bin's timestamp has a meaning: a backup of the base block's.
        if start == BASE_BLOCK_SIZE {
            put_u64(header, hbin::TIMESTAMP, self.last_written);
        }
        self.cursor = start + HBIN_HEADER_SIZE;
        self.bin_end = start + size;
    }

    /// Marks the rest of the current bin as one free cell (positive size).
    fn close_bin(&mut self) {
        let rest = self.bin_end - self.cursor;
        if rest > 0 {
            let at = self.cursor;
            put_u32(&mut self.bytes, at, rest as u32);
            self.cursor = self.bin_end;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.close_bin();
        self.bytes
    }

    /// The single `sk` cell, a list of one: its links point to itself.
    fn write_security(&mut self, reference_count: u32) -> u32 {
        let len = SK_DESCRIPTOR + SECURITY_DESCRIPTOR.len();
        let offset = self.alloc(len);
        let cell = self.data_mut(offset, len);
        cell[0..2].copy_from_slice(SK_SIGNATURE);
        put_u32(cell, SK_FLINK, offset);
        put_u32(cell, SK_BLINK, offset);
        put_u32(cell, SK_REFERENCE_COUNT, reference_count);
        put_u32(cell, SK_DESCRIPTOR_SIZE, SECURITY_DESCRIPTOR.len() as u32);
        cell[SK_DESCRIPTOR..].copy_from_slice(&SECURITY_DESCRIPTOR);
        offset
    }
}

struct HiveWriter<'a> {
    spec: &'a HiveSpec,
    cells: CellWriter,
    security_offset: u32,
}

impl HiveWriter<'_> {
    /// Writes `key` into the already allocated `nk` cell at `nk_offset`, then everything it
    /// points to, then its subkeys (recursively).
    fn write_key(&mut self, key: &KeySpec, nk_offset: u32, parent_offset: u32, extra_flags: u16) {
        let mut order: Vec<&KeySpec> = key.subkeys.iter().collect();
        order.sort_by(|left, right| compare_names(&left.name, &right.name));
        if let Some(pair) = order.windows(2).find(|pair| names_equal(&pair[0].name, &pair[1].name)) {
            panic!("key {:?} has two subkeys named {:?} and {:?}", key.name, pair[0].name, pair[1].name);
        }

        let (name, compressed) = encode_name(&key.name);
        let name_len = checked_u16(name.len(), || format!("key name {:?}", key.name));
        let class = key.class_name.as_deref().map(utf16le);
        let class_len = checked_u16(class.as_ref().map_or(0, Vec::len), || format!("class name of key {:?}", key.name));
        let class_offset = class.as_ref().map_or(NIL, |class| self.cells.write_cell(class));
        let (subkey_list_offset, slots) = self.write_subkey_list(&order);
        let values_offset = self.write_values(&key.values);

        let flags = extra_flags | if compressed { KEY_COMP_NAME } else { 0 };
        let max_subkey_name = key.subkeys.iter().map(|sub| utf16_len(&sub.name)).max().unwrap_or(0);
        let max_subkey_class =
            key.subkeys.iter().filter_map(|sub| sub.class_name.as_deref()).map(utf16_len).max().unwrap_or(0);
        let max_value_name = key.values.iter().map(|value| utf16_len(&value.name)).max().unwrap_or(0);
        let max_value_data = key.values.iter().map(|value| value.data.len() as u32).max().unwrap_or(0);
        let nk = self.cells.data_mut(nk_offset, NK_HEADER_SIZE + name.len());
        nk[0..2].copy_from_slice(NK_SIGNATURE);
        put_u16(nk, NK_FLAGS, flags);
        put_u64(nk, NK_LAST_WRITTEN, key.last_written);
        put_u32(nk, NK_PARENT, parent_offset);
        put_u32(nk, NK_SUBKEY_COUNT, key.subkeys.len() as u32);
        put_u32(nk, NK_SUBKEY_LIST, subkey_list_offset);
        put_u32(nk, NK_VOLATILE_SUBKEY_LIST, NIL); // volatile subkeys are never on disk
        put_u32(nk, NK_VALUE_COUNT, key.values.len() as u32);
        put_u32(nk, NK_VALUE_LIST, values_offset);
        put_u32(nk, NK_SECURITY, self.security_offset);
        put_u32(nk, NK_CLASS, class_offset);
        put_u32(nk, NK_MAX_SUBKEY_NAME, max_subkey_name);
        put_u32(nk, NK_MAX_SUBKEY_CLASS, max_subkey_class);
        put_u32(nk, NK_MAX_VALUE_NAME, max_value_name);
        put_u32(nk, NK_MAX_VALUE_DATA, max_value_data);
        put_u16(nk, NK_NAME_LENGTH, name_len);
        put_u16(nk, NK_CLASS_LENGTH, class_len);
        nk[NK_HEADER_SIZE..].copy_from_slice(&name);

        for (subkey, (leaf_offset, field)) in order.into_iter().zip(slots) {
            let child_offset = self.cells.alloc(nk_data_len(&subkey.name));
            self.cells.patch_u32(leaf_offset, field, child_offset);
            self.write_key(subkey, child_offset, nk_offset, 0);
        }
    }

    /// Writes the subkey list of sorted `subkeys` (one leaf, or an `ri` over several) with
    /// hashes or hints filled in, and returns its offset plus, for each subkey, where its
    /// `nk` offset goes (leaf cell, byte) once that is allocated.
    fn write_subkey_list(&mut self, subkeys: &[&KeySpec]) -> (u32, Vec<(u32, usize)>) {
        if subkeys.is_empty() {
            return (NIL, Vec::new());
        }
        let max_leaf = self.spec.max_leaf_entries;
        assert!((1..=u16::MAX as usize).contains(&max_leaf), "max_leaf_entries must be 1..=65535, not {max_leaf}");
        let mut slots = Vec::with_capacity(subkeys.len());
        if subkeys.len() <= max_leaf {
            let offset = self.write_leaf(subkeys, &mut slots);
            return (offset, slots);
        }
        let leaf_count = subkeys.len().div_ceil(max_leaf);
        assert!(
            leaf_count <= u16::MAX as usize,
            "{} subkeys need {leaf_count} leaves, more than one `ri` holds; raise max_leaf_entries",
            subkeys.len()
        );
        let root_offset = self.cells.alloc(LIST_ENTRIES + LI_RI_ENTRY_SIZE * leaf_count);
        let root = self.cells.data_mut(root_offset, LIST_ENTRIES);
        root[0..2].copy_from_slice(RI_SIGNATURE);
        put_u16(root, LIST_COUNT, leaf_count as u16);
        for (index, chunk) in subkeys.chunks(max_leaf).enumerate() {
            let leaf_offset = self.write_leaf(chunk, &mut slots);
            self.cells.patch_u32(root_offset, LIST_ENTRIES + LI_RI_ENTRY_SIZE * index, leaf_offset);
        }
        (root_offset, slots)
    }

    fn write_leaf(&mut self, subkeys: &[&KeySpec], slots: &mut Vec<(u32, usize)>) -> u32 {
        let (signature, entry_size): (&[u8; 2], usize) = match self.spec.index_style {
            IndexStyle::Lh => (LH_SIGNATURE, LF_LH_ENTRY_SIZE),
            IndexStyle::Lf => (LF_SIGNATURE, LF_LH_ENTRY_SIZE),
            IndexStyle::Li => (LI_SIGNATURE, LI_RI_ENTRY_SIZE),
        };
        let len = LIST_ENTRIES + entry_size * subkeys.len();
        let offset = self.cells.alloc(len);
        let leaf = self.cells.data_mut(offset, len);
        leaf[0..2].copy_from_slice(signature);
        put_u16(leaf, LIST_COUNT, subkeys.len() as u16);
        for (index, subkey) in subkeys.iter().enumerate() {
            let entry = LIST_ENTRIES + entry_size * index;
            slots.push((offset, entry));
            let hint = entry + LEAF_ENTRY_HINT;
            match self.spec.index_style {
                IndexStyle::Lh => put_u32(leaf, hint, name_hash(&subkey.name)),
                IndexStyle::Lf => leaf[hint..hint + 4].copy_from_slice(&name_hint(&subkey.name)),
                IndexStyle::Li => {}
            }
        }
        offset
    }

    /// Writes the value list and every value; returns the list's offset.
    fn write_values(&mut self, values: &[ValueSpec]) -> u32 {
        if values.is_empty() {
            return NIL;
        }
        let list_offset = self.cells.alloc(4 * values.len());
        for (index, value) in values.iter().enumerate() {
            let vk_offset = self.write_value(value);
            self.cells.patch_u32(list_offset, 4 * index, vk_offset);
        }
        list_offset
    }

    fn write_value(&mut self, value: &ValueSpec) -> u32 {
        let (name, compressed) = encode_name(&value.name);
        let name_len = checked_u16(name.len(), || format!("value name {:?}", value.name));
        let data_len = u32::try_from(value.data.len()).ok().filter(|len| len & DATA_INLINE == 0);
        let data_len = data_len.unwrap_or_else(|| panic!("value {:?} has more than 2 GiB of data", value.name));
        let vk_offset = self.cells.alloc(VK_HEADER_SIZE + name.len());
        // Up to 4 bytes (0 included, with offset 0, as Windows does) live in the offset field.
        let (size_field, data_field) = if value.data.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..value.data.len()].copy_from_slice(&value.data);
            (data_len | DATA_INLINE, u32::from_le_bytes(inline))
        } else {
            (data_len, self.write_data(&value.data))
        };
        let vk = self.cells.data_mut(vk_offset, VK_HEADER_SIZE + name.len());
        vk[0..2].copy_from_slice(VK_SIGNATURE);
        put_u16(vk, VK_NAME_LENGTH, name_len);
        put_u32(vk, VK_DATA_SIZE, size_field);
        put_u32(vk, VK_DATA_OFFSET, data_field);
        put_u32(vk, VK_DATA_TYPE, value.data_type);
        put_u16(vk, VK_FLAGS, if compressed { VALUE_COMP_NAME } else { 0 });
        vk[VK_HEADER_SIZE..].copy_from_slice(&name);
        vk_offset
    }

    /// One data cell, or (format 1.4 and later) a `db` record over a list of full segments.
    fn write_data(&mut self, data: &[u8]) -> u32 {
        if data.len() <= BIG_DATA_SEGMENT_SIZE || self.spec.minor_version < 4 {
            return self.cells.write_cell(data);
        }
        let segment_count = data.len().div_ceil(BIG_DATA_SEGMENT_SIZE);
        let segment_count =
            u16::try_from(segment_count).unwrap_or_else(|_| panic!("{} data bytes need too many segments", data.len()));
        let record_offset = self.cells.alloc(DB_SEGMENT_LIST + 4);
        let list_offset = self.cells.alloc(4 * segment_count as usize);
        let record = self.cells.data_mut(record_offset, DB_SEGMENT_LIST + 4);
        record[0..2].copy_from_slice(DB_SIGNATURE);
        put_u16(record, DB_SEGMENT_COUNT, segment_count);
        put_u32(record, DB_SEGMENT_LIST, list_offset);
        for (index, segment) in data.chunks(BIG_DATA_SEGMENT_SIZE).enumerate() {
            let segment_offset = self.cells.write_cell(segment);
            self.cells.patch_u32(list_offset, 4 * index, segment_offset);
        }
        record_offset
    }
}
