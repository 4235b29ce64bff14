//! Safe, read-only navigation of one hive's keys and values on top of nt-hive.
//!
//! Adds what nt-hive lacks for evidence work: key last-write times, raw value types (including
//! device-property types nt-hive refuses), data reads that cannot hit nt-hive's nil-offset
//! assertion, bounds on counts and sizes, and errors that say which key was being read.

use std::fmt;

use nt_hive::{Hive, KeyNode, KeyValue, NtHiveNameString};

use crate::load::cells;
use crate::load::filetime::FileTime;
use crate::load::guard::contain;
use crate::load::multi_sz;

/// Largest value data we agree to copy out of a hive. Real values are far smaller (the
/// largest PendingFileRenameOperations seen in the wild is a few hundred KiB); a bigger
/// claim is corruption or an attack on memory.
pub const MAX_VALUE_DATA: u32 = 64 * 1024 * 1024;
/// Most subkeys or values we enumerate under one key.
pub const MAX_CHILDREN: usize = 1_000_000;

const KEY_NODE_NAME_OFFSET: usize = cells::NK_NAME;
const KEY_VALUE_NAME_OFFSET: usize = cells::VK_NAME;
const DATA_INLINE_FLAG: u32 = cells::VK_DATA_INLINE;

/// A failure while reading one key or value: which key, and what was wrong, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem} (while reading {key})")]
pub struct ReadError {
    /// Hive-relative path of the key being read (`\` for the root).
    pub key: String,
    pub problem: String,
}

impl ReadError {
    fn new(key: &str, problem: impl Into<String>) -> ReadError {
        // nt-hive's messages carry Debug byte lists: rewritten as words.
        let problem = crate::messages::plain(&problem.into());
        ReadError { key: if key.is_empty() { "\\".into() } else { key.into() }, problem }
    }

    fn from_nt_hive(key: &str, error: nt_hive::NtHiveError) -> ReadError {
        ReadError::new(key, format!("corrupt cell: {}", crate::messages::plain(&error.to_string())))
    }

    fn from_panic(key: &str, message: String) -> ReadError {
        let problem = if message.contains("u32::MAX") {
            "corrupt cell: a nil (0xFFFFFFFF) offset where a cell was expected".to_string()
        } else {
            format!("corrupt cell: the hive parser stopped ({message})")
        };
        ReadError::new(key, problem)
    }
}

/// Calls into nt-hive with panic containment and error mapping for `key`.
fn guarded<T>(key: &str, f: impl FnOnce() -> Result<T, nt_hive::NtHiveError>) -> Result<T, ReadError> {
    match contain(f) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(ReadError::from_nt_hive(key, error)),
        Err(message) => Err(ReadError::from_panic(key, message)),
    }
}

fn name_to_string(name: &NtHiveNameString<'_>) -> String {
    name.to_string_lossy()
}

fn join_path(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}\\{child}")
    }
}

/// A hive opened for reading. Cheap to create (nt-hive reads only the header).
pub struct HiveReader<'a> {
    hive: Hive<&'a [u8]>,
    bytes: &'a [u8],
}

impl<'a> HiveReader<'a> {
    /// Wraps the complete hive file bytes. The base block must already have been judged
    /// (see `base_block`): nt-hive's own validation is skipped on purpose, because it rejects
    /// every dirty hive.
    pub fn new(bytes: &'a [u8]) -> Result<HiveReader<'a>, ReadError> {
        let hive = guarded("", || Hive::without_validation(bytes))?;
        Ok(HiveReader { hive, bytes })
    }

    pub fn root(&self) -> Result<Key<'_>, ReadError> {
        let node = guarded("", || self.hive.root_key_node())?;
        Ok(Key { node, bytes: self.bytes, path: String::new() })
    }

    /// Shortcut: the key at a `\`-separated path below the root (case-insensitive).
    pub fn key(&self, path: &str) -> Result<Option<Key<'_>>, ReadError> {
        self.root()?.subpath(path)
    }
}

/// One key of a hive.
#[derive(Clone)]
pub struct Key<'h> {
    node: KeyNode<'h, &'h [u8]>,
    bytes: &'h [u8],
    path: String,
}

impl fmt::Debug for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key").field("path", &self.path).finish()
    }
}

impl<'h> Key<'h> {
    /// Hive-relative path (`""` for the root), built from the names used to reach the key.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn name(&self) -> Result<String, ReadError> {
        guarded(&self.path, || self.node.name().map(|n| name_to_string(&n)))
    }

    /// Absolute file offset of this key's `nk` record, found through its name bytes (nt-hive
    /// borrows names straight from the hive buffer but has no accessor for the offset).
    fn node_offset(&self) -> Option<usize> {
        let name = contain(|| self.node.name().ok()).ok().flatten()?;
        let name_bytes: &[u8] = match name {
            NtHiveNameString::Latin1(b) | NtHiveNameString::Utf16LE(b) => b,
        };
        let at = (name_bytes.as_ptr() as usize).checked_sub(self.bytes.as_ptr() as usize)?;
        let nk = at.checked_sub(KEY_NODE_NAME_OFFSET)?;
        (self.bytes.get(nk..nk + 2)? == cells::NK_SIGNATURE).then_some(nk)
    }

    /// The key's last-written time, which nt-hive 0.3 does not expose.
    pub fn last_write(&self) -> Option<FileTime> {
        let at = self.node_offset()? + cells::NK_LAST_WRITTEN;
        let raw: [u8; 8] = self.bytes.get(at..at + 8)?.try_into().ok()?;
        Some(FileTime::from_u64(u64::from_le_bytes(raw)))
    }

    /// How many volatile subkeys the key node records. Volatile keys live in a separate list
    /// that nt-hive does not read; on a hive saved from disk the count is 0.
    pub fn volatile_subkey_count(&self) -> Option<u32> {
        let nk = self.node_offset()?;
        read_u32(self.bytes, nk + cells::NK_VOLATILE_SUBKEY_COUNT)
    }

    /// Key flags; [`cells::KEY_VOLATILE`] marks a volatile key, seen only in hives rebuilt
    /// from memory.
    pub fn flags(&self) -> Option<u16> {
        read_u16(self.bytes, self.node_offset()? + cells::NK_FLAGS)
    }

    /// Hive-bins offset of this key's cell (what parent fields and subkey lists point at).
    fn cell(&self) -> Result<u32, ReadError> {
        self.node_offset()
            .and_then(|nk| nk.checked_sub(HIVE_BINS_START + CELL_HEADER))
            .and_then(|cell| u32::try_from(cell).ok())
            .ok_or_else(|| ReadError::new(&self.path, "corrupt key node: its record could not be located"))
    }

    /// The subkey called `name` (case-insensitive).
    ///
    /// nt-hive finds the key; this checks what it reached, because a corrupt list must never
    /// read as "no such key": the list's signature and counts fit their cells and match the key
    /// node, the key found records this key as its parent and carries the name looked up, and
    /// when nothing is found, the entries a binary search probes (where the name would sit)
    /// are checked too (allocated key nodes, parent, name hash or hint), and none of them may
    /// carry the name. Any mismatch is a [`ReadError`] naming this key and the defect.
    pub fn subkey(&self, name: &str) -> Result<Option<Key<'h>>, ReadError> {
        // The list is checked first, so that its defects are named in these terms rather
        // than in nt-hive's.
        let index = SubkeyIndex::open(self)?;
        let found = guarded(&self.path, || self.node.subkey(name).transpose())?;
        let Some(node) = found else {
            if let Some(listed) = index.find(name)? {
                return Err(index.defect(format!(
                    "\"{listed}\" is listed but the lookup by name missed it (entries out of order)"
                )));
            }
            return Ok(None);
        };
        let key = Key { node, bytes: self.bytes, path: join_path(&self.path, name) };
        let cell = key.cell()?;
        let child = index.child(&LeafEntry { node: cell, hint: None })?;
        if child.name.to_uppercase() != name.to_uppercase() {
            return Err(index.defect(format!("looking up \"{name}\" reached key \"{}\" (cell {cell:#x})", child.name)));
        }
        Ok(Some(key))
    }

    /// The key at a `\`-separated path below this one, case-insensitive. Reports the actual
    /// stored spelling of each component in the returned key's path. Every step is checked as
    /// [`Key::subkey`] describes.
    pub fn subpath(&self, path: &str) -> Result<Option<Key<'h>>, ReadError> {
        let mut current = self.clone();
        for component in path.split('\\').filter(|c| !c.is_empty()) {
            match current.subkey(component)? {
                Some(next) => {
                    let stored = next.name()?;
                    current = Key { path: join_path(&current.path, &stored), ..next };
                }
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }

    /// All subkeys, in stored order. Errors if any entry is corrupt.
    pub fn subkeys(&self) -> Result<Vec<Key<'h>>, ReadError> {
        let mut keys = Vec::new();
        self.for_each_subkey(|key| {
            keys.push(key);
            Ok(())
        })?;
        Ok(keys)
    }

    /// The stored names of all subkeys, in stored order. Errors if any entry is corrupt (a
    /// name that cannot be read is not skipped: it could be the one a caller looks for).
    pub fn subkey_names(&self) -> Result<Vec<String>, ReadError> {
        let mut names = Vec::new();
        self.for_each_subkey(|key| {
            names.push(key.name()?);
            Ok(())
        })?;
        Ok(names)
    }

    /// Calls `visit` with each subkey in stored order, one at a time: walking CBS `Packages`
    /// (~30,000 keys) this way holds one key's name and path at a time instead of all of them.
    pub fn for_each_subkey(&self, mut visit: impl FnMut(Key<'h>) -> Result<(), ReadError>) -> Result<(), ReadError> {
        let path = &self.path;
        let index = SubkeyIndex::open(self)?;
        let mut entries = Vec::new();
        for &leaf in &index.leaves {
            let (kind, leaf_entries) = index.leaf(leaf)?;
            entries.extend(leaf_entries.into_iter().map(|entry| (kind, entry)));
            if entries.len() > MAX_CHILDREN {
                return Err(ReadError::new(
                    path,
                    format!("more than {MAX_CHILDREN} subkeys (corrupt or hostile hive)"),
                ));
            }
        }
        if entries.len() != index.recorded_count as usize {
            return Err(index.defect(format!(
                "the key node records {} subkeys, but its list holds {}",
                index.recorded_count,
                entries.len()
            )));
        }
        let nodes = guarded(path, || {
            let mut nodes = Vec::with_capacity(entries.len());
            if let Some(iter) = self.node.subkeys() {
                for node in iter?.take(entries.len()) {
                    nodes.push(node?);
                }
            }
            Ok(nodes)
        })?;
        if nodes.len() != entries.len() {
            return Err(index.defect(format!(
                "{} entries listed, but only {} could be opened",
                entries.len(),
                nodes.len()
            )));
        }
        for (node, (kind, entry)) in nodes.into_iter().zip(&entries) {
            let name = guarded(path, || node.name().map(|n| name_to_string(&n)))?;
            let key = Key { node, bytes: self.bytes, path: join_path(path, &name) };
            // A list entry pointing at a key elsewhere (or back up the tree) would otherwise
            // make the walk report another key's subkeys as this one's, or loop; a name that
            // no longer matches its hash would hide the key from lookups by name.
            if key.cell()? != entry.node {
                return Err(index.defect(format!("entry \"{name}\" does not lead to cell {:#x}", entry.node)));
            }
            index.child_in(*kind, entry)?;
            visit(key)?;
        }
        Ok(())
    }

    /// Subkeys whose names start with `prefix` (case-insensitive), in stored order.
    ///
    /// Windows keeps subkey lists sorted by upper-cased name, so the matches are one contiguous
    /// run: this binary-searches the index root's leaves (reading only the probed leaves and
    /// their last key nodes), then the one leaf where the run starts, instead of reading every
    /// subkey's node as [`Key::subkeys`] does (CBS `Packages`: ~30,000 keys, ~5 MB, for a
    /// handful of `Package_for_RollupFix~` keys). The matches are then opened through nt-hive's
    /// own lookup by name. Like nt-hive's `subkey()`, it trusts the order.
    pub fn subkeys_with_prefix(&self, prefix: &str) -> Result<Vec<Key<'h>>, ReadError> {
        let index = SubkeyIndex::open(self)?;
        let wanted: Vec<u16> = prefix.encode_utf16().map(upcase_unit).collect();
        let mut keys = Vec::new();
        let mut examined = 0usize;
        let Some(start) = index.lower_bound(&wanted)? else { return Ok(keys) };
        for (position, leaf) in index.leaves.iter().enumerate().skip(start.leaf) {
            let (kind, entries) = index.leaf(*leaf)?;
            let first = if position == start.leaf { start.entry } else { 0 };
            for entry in entries.get(first..).unwrap_or_default() {
                examined += 1;
                if examined > MAX_CHILDREN {
                    return Err(index.defect("more entries than the limit".into()));
                }
                let child = index.child_in(kind, entry)?;
                if !child.upcased.starts_with(&wanted) {
                    return Ok(keys);
                }
                match self.subkey(&child.name)? {
                    Some(key) => keys.push(key),
                    None => {
                        return Err(index.defect(format!("\"{}\" is listed but cannot be opened by name", child.name)))
                    }
                }
            }
        }
        Ok(keys)
    }

    /// How many subkeys the key node counts, without reading the list.
    pub fn subkey_count(&self) -> Option<usize> {
        let nk = self.node_offset()?;
        read_u32(self.bytes, nk + NK_SUBKEY_COUNT).map(|count| count as usize)
    }

    /// Calls `visit` with every subkey, in stored order, and what its value `value_name` holds
    /// when that is a DWORD; returns how many subkeys were visited.
    ///
    /// Written for CBS `Packages` (~30,000 keys): it reads each subkey's key node, value list
    /// and value records straight from the cells and compares the name bytes in place, so it
    /// allocates nothing per subkey, where [`Key::for_each_subkey`] plus [`Key::value`] build
    /// a path, a name and a value record for each. Only the subkeys the caller cares about are
    /// then opened ([`SubkeyDword::name`], [`Key::subkey`]). A corrupt list, key node or value
    /// list is an error, never a missing subkey or value.
    ///
    /// `pages` hears, for each batch of [`WALK_BATCH`] subkeys, which bytes the batch's key
    /// nodes span (to read them ahead) and, once the batch is done, that its pages may go.
    pub fn for_each_subkey_dword(
        &self,
        value_name: &str,
        pages: &mut dyn FnMut(PageHint),
        mut visit: impl FnMut(SubkeyDword<'h>) -> Result<(), ReadError>,
    ) -> Result<usize, ReadError> {
        let corrupt = |what: &str| ReadError::new(&self.path, format!("corrupt subkey list: {what}"));
        let nk = self.node_offset().ok_or_else(|| corrupt("key node not found"))?;
        let count = read_u32(self.bytes, nk + NK_SUBKEY_COUNT).ok_or_else(|| corrupt("key node cut short"))? as usize;
        if count == 0 {
            return Ok(0);
        }
        let list = read_u32(self.bytes, nk + NK_SUBKEY_LIST).ok_or_else(|| corrupt("key node cut short"))?;
        let signature = |offset: u32| cell_data(self.bytes, offset).and_then(|c| c.get(..2));
        let leaves = if signature(list) == Some(cells::RI_SIGNATURE) {
            list_offsets(self.bytes, list, cells::LI_RI_ENTRY_SIZE).ok_or_else(|| corrupt("index root"))?
        } else {
            vec![list]
        };
        let wanted: Vec<u16> = value_name.encode_utf16().map(upcase_unit).collect();
        // The key nodes first (4 bytes each, one allocation for the walk), so that the loop
        // below can look ahead.
        let mut nodes: Vec<u32> = Vec::new();
        for leaf in leaves {
            let stride = match signature(leaf) {
                Some(leaf) if leaf != cells::RI_SIGNATURE => cells::list_entry_size(leaf),
                _ => None,
            }
            .ok_or_else(|| corrupt("unknown leaf signature"))?;
            let cell = cell_data(self.bytes, leaf).ok_or_else(|| corrupt("leaf"))?;
            let entries = read_u16(cell, cells::LIST_COUNT).map_or(0, usize::from);
            for index in 0..entries {
                let node =
                    read_u32(cell, cells::LIST_ENTRIES + index * stride).ok_or_else(|| corrupt("leaf cut short"))?;
                if nodes.len() >= count.min(MAX_CHILDREN) {
                    return Err(corrupt(&format!("more entries than the {count} subkeys the key node counts")));
                }
                nodes.push(node);
            }
        }
        if nodes.len() != count {
            return Err(corrupt(&format!("the key node counts {count} subkeys, its list holds {}", nodes.len())));
        }
        // Each subkey costs a chain of three dependent reads (key node → value list → value
        // record) in cells ~1 KB apart, each a cache miss on a 30,000-key store: without help
        // the walk waits on memory for most of its time. So the cells of the subkeys ahead are
        // prefetched in stages, each from what an earlier stage brought into the cache: key
        // nodes `NODE_AHEAD` subkeys ahead, their value lists `LIST_AHEAD` ahead, and the value
        // record at the position the looked-for value held in the previous subkey (values are
        // written in the same order in every key of a store) `VALUE_AHEAD` ahead. A prefetch
        // only warms the cache; what is read is read below, checked as before.
        const NODE_AHEAD: usize = 24;
        const LIST_AHEAD: usize = 12;
        const VALUE_AHEAD: usize = 6;
        let mut slot_hint = 0usize;
        for (position, &node) in nodes.iter().enumerate() {
            if position % WALK_BATCH == 0 {
                if position > 0 {
                    pages(PageHint::Done);
                }
                if let Some(span) = batch_span(nodes.get(position..).unwrap_or_default()) {
                    pages(PageHint::WillRead(span));
                }
            }
            if let Some(&ahead) = nodes.get(position + NODE_AHEAD) {
                prefetch_cell(self.bytes, ahead);
            }
            if let Some(&ahead) = nodes.get(position + LIST_AHEAD) {
                if let Some(list) = cell_data(self.bytes, ahead).and_then(|cell| read_u32(cell, NK_VALUE_LIST)) {
                    prefetch_cell(self.bytes, list);
                }
            }
            if let Some(&ahead) = nodes.get(position + VALUE_AHEAD) {
                let value = cell_data(self.bytes, ahead)
                    .and_then(|cell| read_u32(cell, NK_VALUE_LIST))
                    .and_then(|list| cell_data(self.bytes, list))
                    .and_then(|list| read_u32(list, 4 * slot_hint));
                if let Some(value) = value {
                    prefetch_cell(self.bytes, value);
                }
            }
            let (value, slot) = subkey_dword(self.bytes, node, value_name, &wanted).map_err(|problem| {
                // Only to name the key in the message: an unreadable name shows as empty.
                let name = String::from_utf16_lossy(&nk_raw_name_units(self.bytes, node).unwrap_or_default());
                ReadError::new(&join_path(&self.path, &name), problem)
            })?;
            if let Some(slot) = slot {
                slot_hint = slot;
            }
            visit(SubkeyDword { bytes: self.bytes, node, value })?;
        }
        pages(PageHint::Done);
        Ok(nodes.len())
    }

    /// All values, in stored order. Errors if any entry is corrupt.
    pub fn values(&self) -> Result<Vec<Value<'h>>, ReadError> {
        let path = &self.path;
        let values = guarded(path, || {
            let mut values = Vec::new();
            if let Some(iter) = self.node.values() {
                // The count comes from the key node and bounds the list read; refuse absurd
                // counts before touching a cell.
                let iter = iter?;
                if iter.len() > MAX_CHILDREN {
                    return Ok(Err(iter.len()));
                }
                for value in iter {
                    values.push(value?);
                }
            }
            Ok(Ok(values))
        })?
        .map_err(|count| {
            ReadError::new(
                path,
                format!("{count} values, more than the {MAX_CHILDREN} limit (corrupt or hostile hive)"),
            )
        })?;
        values.into_iter().map(|raw| Value::new(raw, self.bytes, path)).collect()
    }

    /// The value called `name` (case-insensitive; `""` is the default value).
    ///
    /// Unlike nt-hive's `value()`, a corrupt entry elsewhere in the list does not hide a valid
    /// match; it only matters when no entry matches (then we cannot prove absence).
    pub fn value(&self, name: &str) -> Result<Option<Value<'h>>, ReadError> {
        let path = &self.path;
        let wanted = name_order_key(name);
        let outcome = guarded(path, || {
            let mut first_error = None;
            let mut near_miss = None;
            if let Some(iter) = self.node.values() {
                for value in iter?.take(MAX_CHILDREN) {
                    let value = match value {
                        Ok(v) => v,
                        Err(e) => {
                            first_error.get_or_insert(e);
                            continue;
                        }
                    };
                    match value.name() {
                        Ok(n) if n == *name => return Ok((Some(value), None, None)),
                        Ok(n) => {
                            if near_miss.is_none()
                                && one_character_apart(&name_order_key(&n.to_string_lossy()), &wanted)
                            {
                                near_miss = Some(n.to_string_lossy());
                            }
                        }
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
            }
            Ok((None, first_error, near_miss))
        })?;
        match outcome {
            (Some(raw), _, _) => Value::new(raw, self.bytes, path).map(Some),
            (None, None, None) => Ok(None),
            (None, Some(error), _) => Err(ReadError::new(
                path,
                format!(
                    "cannot tell whether value \"{name}\" exists: corrupt value entry: {}",
                    crate::messages::plain(&error.to_string())
                ),
            )),
            // Value lists carry no hash and no order, so a value whose name was damaged is
            // simply another value. The one trace left: a name one character from the name
            // looked up, where none is expected.
            (None, None, Some(other)) => Err(ReadError::new(
                path,
                format!(
                    "cannot tell whether value \"{name}\" exists: the key holds \"{other}\" instead, one character from it (a damaged value name?)"
                ),
            )),
        }
    }
}

/// Two upper-cased names of the same length that differ in exactly one unit, other than one
/// digit for another (numbered siblings such as `Value1` and `Value2` are normal).
fn one_character_apart(left: &[u16], right: &[u16]) -> bool {
    left.len() == right.len() && units_one_apart(left.iter().copied(), right)
}

/// [`one_character_apart`] for units that come one by one (a stored name decoded in place),
/// `left` as long as `right`.
fn units_one_apart(left: impl Iterator<Item = u16>, right: &[u16]) -> bool {
    let mut differences = left.zip(right.iter().copied()).filter(|(a, b)| a != b);
    let is_digit = |unit: u16| (u16::from(b'0')..=u16::from(b'9')).contains(&unit);
    match (differences.next(), differences.next()) {
        (Some((a, b)), None) => !(is_digit(a) && is_digit(b)),
        _ => false,
    }
}

// The cell layout (offsets into a cell's data, signatures) is `cells`, shared with the test
// suite's regf writer.
use crate::load::cells::{
    CELL_HEADER, HIVE_BINS_START, NK_NAME_LENGTH, NK_PARENT, NK_SUBKEY_COUNT, NK_SUBKEY_LIST, NK_VALUE_LIST,
};
const NK_COMPRESSED_NAME: u16 = cells::KEY_COMP_NAME;

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

/// Subkeys [`Key::for_each_subkey_dword`] walks between two [`PageHint`]s (~5 MB of a
/// generated CBS store).
pub const WALK_BATCH: usize = 4096;

/// Most bytes per subkey a batch's span may cover to be announced: a store laid out the way
/// Windows and our writer lay it out holds a package (key node, values, data, `Owners`) in
/// ~1.3 KB; a batch scattered wider is not read ahead (it would read unrelated pages).
const SPAN_PER_SUBKEY: usize = 8 * 1024;

/// What a long walk tells the owner of the hive's pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageHint {
    /// The next batch reads cells in this byte range of the file (key nodes, and the values
    /// and lists that sit next to them).
    WillRead(std::ops::Range<usize>),
    /// The pages read so far are no longer needed.
    Done,
}

/// The file bytes from the first to a page past the last key node of the next batch, when
/// dense enough to be worth reading ahead.
fn batch_span(nodes: &[u32]) -> Option<std::ops::Range<usize>> {
    let batch = nodes.get(..WALK_BATCH.min(nodes.len()))?;
    let first = *batch.iter().min()? as usize + HIVE_BINS_START;
    let last = *batch.iter().max()? as usize + HIVE_BINS_START + PAGE;
    (last - first <= batch.len().saturating_mul(SPAN_PER_SUBKEY)).then_some(first..last)
}

const PAGE: usize = 4096;

/// Asks the processor to bring the start of the cell at hive-bins offset `offset` into the
/// cache. A hint only: nothing is read, an offset outside the hive is ignored.
#[inline(always)]
fn prefetch_cell(bytes: &[u8], offset: u32) {
    #[cfg(target_arch = "x86_64")]
    if let Some(byte) = HIVE_BINS_START.checked_add(offset as usize).and_then(|at| bytes.get(at)) {
        // SAFETY: SSE is part of x86_64 itself, and a prefetch never faults, reads nothing
        // into the program and changes no memory (an address whose page is not mapped is
        // dropped by the processor); the address is inside `bytes` anyway.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(byte as *const u8 as *const i8)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bytes, offset);
}

/// The data of the allocated cell at hive-bins offset `offset`.
fn cell_data(bytes: &[u8], offset: u32) -> Option<&[u8]> {
    let start = HIVE_BINS_START.checked_add(offset as usize)?;
    let size = read_u32(bytes, start)? as i32;
    let length = usize::try_from(size.checked_neg()?).ok()?;
    bytes.get(start.checked_add(CELL_HEADER)?..start.checked_add(length)?)
}

/// The cell offsets a subkey list (`li`/`ri`: 4-byte entries; `lf`/`lh`: 8-byte) points to.
fn list_offsets(bytes: &[u8], list: u32, stride: usize) -> Option<Vec<u32>> {
    let cell = cell_data(bytes, list)?;
    let count = usize::from(read_u16(cell, cells::LIST_COUNT)?);
    (0..count).map(|i| read_u32(cell, cells::LIST_ENTRIES + i * stride)).collect()
}

/// The signatures a subkey list leaf may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LeafKind {
    /// `li`: offsets only.
    Li,
    /// `lf`: offset and the name's first four characters.
    Lf,
    /// `lh`: offset and a hash of the upper-cased name.
    Lh,
}

/// One entry of a leaf: the key node's cell and, for `lf`/`lh`, its name hint or hash.
struct LeafEntry {
    node: u32,
    hint: Option<u32>,
}

/// A key node reached through a list, with its name.
struct ChildNode {
    name: String,
    /// The name's UTF-16 units as stored.
    units: Vec<u16>,
    upcased: Vec<u16>,
}

/// Where a name sits in a sorted subkey list.
struct ListPosition {
    leaf: usize,
    entry: usize,
}

/// A key's subkey list, with the checks a lookup needs: its signature and counts fit its
/// cells and agree with the key node, and every key node it leads to names this key as its
/// parent and carries the name its entry promises.
struct SubkeyIndex<'k> {
    bytes: &'k [u8],
    path: &'k str,
    /// This key's cell.
    own: u32,
    /// The stable subkey count the key node records.
    recorded_count: u32,
    /// The leaves, in order (one for an `li`/`lf`/`lh` list, an index root's items otherwise).
    leaves: Vec<u32>,
}

impl<'k> SubkeyIndex<'k> {
    fn open(key: &'k Key<'_>) -> Result<SubkeyIndex<'k>, ReadError> {
        let own = key.cell()?;
        let mut index = SubkeyIndex { bytes: key.bytes, path: &key.path, own, recorded_count: 0, leaves: Vec::new() };
        let node =
            cell_data(key.bytes, own).ok_or_else(|| index.defect("its key node is not an allocated cell".into()))?;
        let (Some(count), Some(list)) = (read_u32(node, NK_SUBKEY_COUNT), read_u32(node, NK_SUBKEY_LIST)) else {
            return Err(index.defect("its key node is cut short".into()));
        };
        index.recorded_count = count;
        if count == 0 {
            return Ok(index);
        }
        let cell = cell_data(key.bytes, list)
            .ok_or_else(|| index.defect(format!("the list at {list:#x} is not an allocated cell")))?;
        if cell.get(..2) == Some(cells::RI_SIGNATURE) {
            index.leaves =
                index.entries(list, cell, cells::LI_RI_ENTRY_SIZE)?.into_iter().map(|entry| entry.node).collect();
        } else {
            let (_, entries) = index.leaf(list)?;
            if entries.len() != count as usize {
                return Err(index.defect(format!(
                    "the key node records {count} subkeys, but its list at {list:#x} holds {}",
                    entries.len()
                )));
            }
            index.leaves = vec![list];
        }
        Ok(index)
    }

    fn defect(&self, problem: String) -> ReadError {
        ReadError::new(self.path, format!("corrupt subkey list: {problem}"))
    }

    /// The entries of a list cell, `stride` bytes each after the 4-byte header; the count must
    /// fit the cell.
    fn entries(&self, offset: u32, cell: &[u8], stride: usize) -> Result<Vec<LeafEntry>, ReadError> {
        let count = read_u16(cell, cells::LIST_COUNT)
            .ok_or_else(|| self.defect(format!("the list at {offset:#x} is cut short")))?;
        let needed = usize::from(count).saturating_mul(stride).saturating_add(cells::LIST_ENTRIES);
        if needed > cell.len() {
            return Err(self.defect(format!(
                "the list at {offset:#x} claims {count} entries ({needed} bytes) in a cell of {} bytes",
                cell.len()
            )));
        }
        if count == 0 {
            return Err(self.defect(format!("the list at {offset:#x} is empty although the key records subkeys")));
        }
        let word = |bytes: &[u8]| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        Ok(cell[cells::LIST_ENTRIES..needed]
            .chunks_exact(stride)
            .map(|entry| LeafEntry {
                node: word(entry),
                hint: (stride == cells::LF_LH_ENTRY_SIZE).then(|| word(&entry[cells::LEAF_ENTRY_HINT..])),
            })
            .collect())
    }

    /// One leaf: its kind and entries.
    fn leaf(&self, offset: u32) -> Result<(LeafKind, Vec<LeafEntry>), ReadError> {
        let cell = cell_data(self.bytes, offset)
            .ok_or_else(|| self.defect(format!("the leaf at {offset:#x} is not an allocated cell")))?;
        let (kind, stride) = match cell.get(..2) {
            Some(s) if s == cells::LI_SIGNATURE => (LeafKind::Li, cells::LI_RI_ENTRY_SIZE),
            Some(s) if s == cells::LF_SIGNATURE => (LeafKind::Lf, cells::LF_LH_ENTRY_SIZE),
            Some(s) if s == cells::LH_SIGNATURE => (LeafKind::Lh, cells::LF_LH_ENTRY_SIZE),
            other => {
                let shown = other.map(|s| String::from_utf8_lossy(s).into_owned()).unwrap_or_default();
                return Err(self.defect(format!("the leaf at {offset:#x} has signature {shown:?}, not li, lf or lh")));
            }
        };
        Ok((kind, self.entries(offset, cell, stride)?))
    }

    /// The key node an entry leads to, checked against this key (parent) and, for `lf`/`lh`,
    /// against the entry's hint.
    fn child_in(&self, kind: LeafKind, entry: &LeafEntry) -> Result<ChildNode, ReadError> {
        let child = self.child(entry)?;
        let stored = entry.hint.unwrap_or(0);
        match kind {
            // The hash is computed by Windows from the name upper-cased unit by unit with its
            // own table. For ASCII names that table is not in doubt; for other names this
            // reader's upper-casing may differ from Windows' for a few characters, so the
            // hash is accepted when it matches either the fully or the ASCII-only upper-cased
            // name. A damaged name (a flipped byte, a flipped compressed-name flag) matches
            // neither: its hash was computed from the name before the damage.
            LeafKind::Lh => {
                let expected = lh_hash(&child.upcased);
                let ascii_only = lh_hash(&child.units.iter().map(|&u| upcase_ascii_unit(u)).collect::<Vec<_>>());
                if stored != expected && stored != ascii_only {
                    return Err(self.defect(format!(
                        "the entry for \"{}\" (cell {:#x}) carries name hash {stored:#010x}, but the name hashes to {expected:#010x} (a damaged name or entry)",
                        child.name, entry.node
                    )));
                }
            }
            // The hint is the name's first four characters as bytes. Checked where they fit a
            // byte (Latin-1); how Windows writes the hint of other names is not documented, so
            // a zero hint is accepted when a character of the name is not ASCII, and case is
            // ignored (fully upper-cased, or ASCII only).
            LeafKind::Lf if child.units.iter().take(4).all(|&u| u <= 0xFF) => {
                let hint_of = |units: &[u16]| -> [u8; 4] {
                    let mut hint = [0u8; 4];
                    for (slot, &unit) in hint.iter_mut().zip(units) {
                        *slot = unit as u8;
                    }
                    hint
                };
                let stored_bytes = stored.to_le_bytes();
                let expected = hint_of(&child.units);
                let upcased_stored: Vec<u16> = stored_bytes.iter().map(|&b| upcase_unit(u16::from(b))).collect();
                let matches = stored_bytes.eq_ignore_ascii_case(&expected)
                    || hint_of(&upcased_stored) == hint_of(&child.upcased)
                    || (stored == 0 && child.units.iter().any(|&u| u >= 0x80));
                if !matches {
                    return Err(self.defect(format!(
                        "the entry for \"{}\" (cell {:#x}) carries name hint {:?}, which does not start the name (a damaged name or entry)",
                        child.name,
                        entry.node,
                        String::from_utf8_lossy(&stored_bytes)
                    )));
                }
            }
            LeafKind::Lf | LeafKind::Li => {}
        }
        Ok(child)
    }

    /// The key node at `entry.node`: allocated, signed `nk`, naming this key as its parent.
    fn child(&self, entry: &LeafEntry) -> Result<ChildNode, ReadError> {
        let at = entry.node;
        let cell = cell_data(self.bytes, at)
            .ok_or_else(|| self.defect(format!("an entry points at {at:#x}, which is not an allocated cell")))?;
        if cell.get(..2) != Some(cells::NK_SIGNATURE) {
            return Err(self.defect(format!("an entry points at cell {at:#x}, which is not a key node")));
        }
        let units = nk_raw_name_units(self.bytes, at)
            .ok_or_else(|| self.defect(format!("the key node at cell {at:#x} has its name cut short")))?;
        let name = String::from_utf16_lossy(&units);
        let parent = read_u32(cell, NK_PARENT).unwrap_or(u32::MAX);
        if parent != self.own {
            return Err(self.defect(format!(
                "the entry for \"{name}\" (cell {at:#x}) leads to a key whose parent is cell {parent:#x}, not this key (cell {:#x})",
                self.own
            )));
        }
        Ok(ChildNode { name, upcased: units.iter().copied().map(upcase_unit).collect(), units })
    }

    /// The first position whose name is not below `wanted` (upper-cased units), found by
    /// binary search over the leaves (by their last names) and then inside one leaf. Only the
    /// probed leaves and key nodes are read, and each is checked. `None` when the key has no
    /// subkeys.
    fn lower_bound(&self, wanted: &[u16]) -> Result<Option<ListPosition>, ReadError> {
        if self.recorded_count == 0 || self.leaves.is_empty() {
            return Ok(None);
        }
        let (mut low, mut high) = (0, self.leaves.len());
        while low < high {
            let middle = low + (high - low) / 2;
            let (kind, entries) = self.leaf(self.leaves[middle])?;
            let below = match entries.last() {
                Some(last) => self.child_in(kind, last)?.upcased.as_slice() < wanted,
                None => true,
            };
            if below {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        let Some(&leaf) = self.leaves.get(low) else {
            return Ok(Some(ListPosition { leaf: low, entry: 0 }));
        };
        let (kind, entries) = self.leaf(leaf)?;
        let (mut first, mut last) = (0, entries.len());
        while first < last {
            let middle = first + (last - first) / 2;
            if self.child_in(kind, &entries[middle])?.upcased.as_slice() < wanted {
                first = middle + 1;
            } else {
                last = middle;
            }
        }
        Ok(Some(ListPosition { leaf: low, entry: first }))
    }

    /// The entry at `position` of the list (`None` past the end of its leaf or of the list).
    fn entry_at(&self, leaf: usize, entry: usize) -> Result<Option<(LeafKind, LeafEntry)>, ReadError> {
        let Some(&offset) = self.leaves.get(leaf) else { return Ok(None) };
        let (kind, mut entries) = self.leaf(offset)?;
        Ok((entry < entries.len()).then(|| (kind, entries.swap_remove(entry))))
    }

    /// The position of the entry before (`leaf`, `entry`), crossing into the previous leaf;
    /// `entry` may be one past its leaf's end, and `leaf` one past the last leaf.
    fn before(&self, leaf: usize, entry: usize) -> Result<Option<(usize, usize)>, ReadError> {
        if entry > 0 && leaf < self.leaves.len() {
            return Ok(Some((leaf, entry - 1)));
        }
        let Some(previous) = leaf.checked_sub(1) else { return Ok(None) };
        let Some(&offset) = self.leaves.get(previous) else { return Ok(None) };
        let (_, entries) = self.leaf(offset)?;
        Ok(entries.len().checked_sub(1).map(|last| (previous, last)))
    }

    /// The position of the entry after (`leaf`, `entry`), crossing into the next leaf.
    fn after(&self, leaf: usize, entry: usize) -> Result<Option<(usize, usize)>, ReadError> {
        let Some(&offset) = self.leaves.get(leaf) else { return Ok(None) };
        let (_, entries) = self.leaf(offset)?;
        if entry + 1 < entries.len() {
            return Ok(Some((leaf, entry + 1)));
        }
        Ok((leaf + 1 < self.leaves.len()).then_some((leaf + 1, 0)))
    }

    /// The checked key node at a position, if there is an entry there.
    fn child_at(
        &self,
        position: Option<(usize, usize)>,
    ) -> Result<Option<(LeafKind, LeafEntry, ChildNode)>, ReadError> {
        let Some((leaf, entry)) = position else { return Ok(None) };
        let Some((kind, entry)) = self.entry_at(leaf, entry)? else { return Ok(None) };
        let child = self.child_in(kind, &entry)?;
        Ok(Some((kind, entry, child)))
    }

    /// The stored name of the subkey called `name`, found (and checked) by binary search.
    ///
    /// When the name is not there, absence is proven as far as the format allows. Windows
    /// keeps every leaf sorted by upper-cased name, so the key looked up, had it been in the
    /// list, sits at the binary search's position or just before it, even when its own name
    /// has been damaged since (one entry out of place does not move a binary search more than
    /// one step). Both entries are checked: their key nodes as every probed entry is (parent,
    /// name against its hash or hint); an `lh` entry carrying the hash of the name looked up
    /// but leading to another name is a damaged name; and each must stay in order with its
    /// own neighbour on the far side (a damaged name that falls out of order). What cannot be
    /// detected: in an `lf` list, a damaged name past its first four characters (the hint
    /// covers only those) that stays in order; in an `li` list (no hashes), any damaged name
    /// that stays in order. Such a hive is well formed and simply names another key.
    fn find(&self, name: &str) -> Result<Option<String>, ReadError> {
        let wanted: Vec<u16> = name.encode_utf16().map(upcase_unit).collect();
        let Some(position) = self.lower_bound(&wanted)? else { return Ok(None) };
        let at = (position.leaf, position.entry);
        let before = self.before(at.0, at.1)?;
        let found_after = self.child_at(Some(at))?;
        let found_before = self.child_at(before)?;
        for (kind, entry, child) in found_after.iter().chain(&found_before) {
            if child.upcased == wanted {
                return Ok(Some(child.name.clone()));
            }
            if *kind == LeafKind::Lh && entry.hint == Some(lh_hash(&wanted)) {
                return Err(self.defect(format!(
                    "the entry at cell {:#x} carries the name hash of \"{name}\" but leads to key \"{}\" (a damaged name or entry)",
                    entry.node, child.name
                )));
            }
        }
        // The far neighbours: the entry after the position and the one before its predecessor.
        let ordered = |low: &ChildNode, high: &ChildNode| -> Result<(), ReadError> {
            let ascii = low.units.iter().chain(&high.units).all(|&u| u < 0x80);
            if ascii && low.upcased >= high.upcased {
                return Err(self.defect(format!(
                    "\"{}\" is listed before \"{}\", out of the order Windows keeps (a damaged name near where \"{name}\" would be)",
                    low.name, high.name
                )));
            }
            Ok(())
        };
        if let Some((_, _, child)) = &found_after {
            if let Some((_, _, next)) = self.child_at(self.after(at.0, at.1)?)? {
                ordered(child, &next)?;
            }
        }
        if let (Some((leaf, entry)), Some((_, _, child))) = (before, &found_before) {
            if let Some((_, _, previous)) = self.child_at(self.before(leaf, entry)?)? {
                ordered(&previous, child)?;
            }
        }
        Ok(None)
    }
}

/// The `lh` hash of an upper-cased name: each UTF-16 unit added to 37 times the hash so far.
fn lh_hash(upcased: &[u16]) -> u32 {
    upcased.iter().fold(0u32, |hash, &unit| hash.wrapping_mul(37).wrapping_add(u32::from(unit)))
}

/// Upper-casing of ASCII letters only.
fn upcase_ascii_unit(unit: u16) -> u16 {
    if unit < 0x80 {
        (unit as u8).to_ascii_uppercase() as u16
    } else {
        unit
    }
}

/// A key node's name as UTF-16 units, as stored (Latin-1 names widened).
fn nk_raw_name_units(bytes: &[u8], offset: u32) -> Option<Vec<u16>> {
    let cell = cell_data(bytes, offset)?;
    if cell.get(..2)? != cells::NK_SIGNATURE {
        return None;
    }
    let flags = read_u16(cell, cells::NK_FLAGS)?;
    let length = usize::from(read_u16(cell, NK_NAME_LENGTH)?);
    let raw = cell.get(KEY_NODE_NAME_OFFSET..KEY_NODE_NAME_OFFSET.checked_add(length)?)?;
    Some(if flags & NK_COMPRESSED_NAME != 0 {
        raw.iter().map(|&b| u16::from(b)).collect()
    } else {
        raw.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect()
    })
}

/// Simple one-to-one upper-casing of one UTF-16 unit (what registry name order uses).
fn upcase_unit(unit: u16) -> u16 {
    if unit < 0x80 {
        return (unit as u8).to_ascii_uppercase() as u16;
    }
    let Some(character) = char::from_u32(unit as u32) else { return unit };
    let mut upper = character.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(single), None) if (single as u32) <= 0xFFFF => single as u16,
        _ => unit,
    }
}

/// The key `name` sorts by in subkey lists: its UTF-16 units upper-cased one by one, the
/// order Windows keeps (and a full walk returns) subkeys in. Equal keys: the same name.
pub fn name_order_key(name: &str) -> Vec<u16> {
    name.encode_utf16().map(upcase_unit).collect()
}

/// A subkey met by [`Key::for_each_subkey_dword`], read straight from its key node.
#[derive(Debug, Clone, Copy)]
pub struct SubkeyDword<'h> {
    bytes: &'h [u8],
    /// Hive-bins offset of the subkey's `nk` cell.
    node: u32,
    /// What the looked-for value holds.
    pub value: DwordCell,
}

impl SubkeyDword<'_> {
    /// The subkey's name as stored (open it with [`Key::subkey`]). A name that does not fit its
    /// key node is an error naming `parent` (the key whose subkeys are walked), never an empty
    /// name that a lookup would then miss.
    pub fn name(&self, parent: &str) -> Result<String, ReadError> {
        nk_raw_name_units(self.bytes, self.node).map(|units| String::from_utf16_lossy(&units)).ok_or_else(|| {
            ReadError::new(parent, format!("corrupt key node at cell {:#x}: its name does not fit its cell", self.node))
        })
    }
}

/// A value as [`Key::for_each_subkey_dword`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DwordCell {
    /// The key has no value of that name.
    Absent,
    /// A 4-byte REG_DWORD stored in the value record itself (how Windows stores every DWORD).
    Inline(u32),
    /// The value exists in another form (another type or size, data in a cell of its own):
    /// read it through [`Key::value`] to decode it like any other value.
    Other,
}

/// The value called `wanted` (upper-cased UTF-16) of the key node at `node`, read from the
/// cells without copying anything. Mirrors [`Key::value`]: a corrupt entry elsewhere in the
/// list does not hide a valid match, but without a match it means absence cannot be proven.
/// Also returns the position of the value in the key's value list, when found.
fn subkey_dword(
    bytes: &[u8],
    node: u32,
    value_name: &str,
    wanted: &[u16],
) -> Result<(DwordCell, Option<usize>), String> {
    let cell = cell_data(bytes, node).ok_or("corrupt cell: key node outside the hive")?;
    if cell.get(..2) != Some(cells::NK_SIGNATURE) {
        return Err("corrupt cell: a subkey list entry that is not a key node".into());
    }
    let count = read_u32(cell, cells::NK_VALUE_COUNT).ok_or("corrupt cell: key node cut short")? as usize;
    if count == 0 {
        return Ok((DwordCell::Absent, None));
    }
    if count > MAX_CHILDREN {
        return Err(format!("{count} values, more than the {MAX_CHILDREN} limit (corrupt or hostile hive)"));
    }
    let list_offset = read_u32(cell, cells::NK_VALUE_LIST).ok_or("corrupt cell: key node cut short")?;
    let list = cell_data(bytes, list_offset).ok_or("corrupt cell: value list outside the hive")?;
    let mut unreadable = false;
    // A name one character from the wanted one (see [`Key::value`]): decoded only then, so
    // that a sound store still costs no allocation per subkey.
    let mut near_miss: Option<String> = None;
    for index in 0..count {
        let Some(vk) = read_u32(list, 4 * index).and_then(|offset| cell_data(bytes, offset)) else {
            unreadable = true;
            continue;
        };
        let (Some(true), Some(length), Some(flags)) = (
            vk.get(..2).map(|s| s == cells::VK_SIGNATURE),
            read_u16(vk, cells::VK_NAME_LENGTH),
            read_u16(vk, cells::VK_FLAGS),
        ) else {
            unreadable = true;
            continue;
        };
        let length = usize::from(length);
        let Some(name) = vk.get(KEY_VALUE_NAME_OFFSET..KEY_VALUE_NAME_OFFSET + length) else {
            unreadable = true;
            continue;
        };
        let latin1 = flags & cells::VALUE_COMP_NAME != 0;
        let same_length = if latin1 { name.len() == wanted.len() } else { name.len() == 2 * wanted.len() };
        if !same_length {
            continue;
        }
        // The stored name's units upcased, decoded in place (no allocation).
        let unit = |at: usize| {
            upcase_unit(if latin1 { u16::from(name[at]) } else { u16::from_le_bytes([name[2 * at], name[2 * at + 1]]) })
        };
        let units = || (0..wanted.len()).map(unit);
        if !units().eq(wanted.iter().copied()) {
            if near_miss.is_none() && units_one_apart(units(), wanted) {
                near_miss = Some(if latin1 {
                    name.iter().map(|&b| char::from(b)).collect()
                } else {
                    let stored: Vec<u16> = name.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect();
                    String::from_utf16_lossy(&stored)
                });
            }
            continue;
        }
        let (Some(size), Some(data), Some(data_type)) =
            (read_u32(vk, cells::VK_DATA_SIZE), read_u32(vk, cells::VK_DATA_OFFSET), read_u32(vk, cells::VK_DATA_TYPE))
        else {
            unreadable = true;
            continue;
        };
        let value = if data_type == REG_DWORD && size == DATA_INLINE_FLAG | 4 {
            DwordCell::Inline(data)
        } else {
            DwordCell::Other
        };
        return Ok((value, Some(index)));
    }
    match (unreadable, near_miss) {
        (true, _) => Err("cannot tell whether the value exists: corrupt value entry".into()),
        (false, Some(other)) => Err(format!(
            "cannot tell whether value \"{value_name}\" exists: the key holds \"{other}\" instead, one character from it (a damaged value name?)"
        )),
        (false, None) => Ok((DwordCell::Absent, None)),
    }
}

/// One value of a key.
#[derive(Clone)]
pub struct Value<'h> {
    raw: KeyValue<'h, &'h [u8]>,
    key_path: String,
    name: String,
    data_type: u32,
    data_size: u32,
    stored_inline: bool,
    data_offset: u32,
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value")
            .field("key", &self.key_path)
            .field("name", &self.name)
            .field("type", &self.data_type)
            .finish()
    }
}

impl<'h> Value<'h> {
    fn new(raw: KeyValue<'h, &'h [u8]>, bytes: &'h [u8], key_path: &str) -> Result<Value<'h>, ReadError> {
        let name_string = guarded(key_path, || raw.name())?;
        let name_bytes: &[u8] = match name_string {
            NtHiveNameString::Latin1(b) | NtHiveNameString::Utf16LE(b) => b,
        };
        let name = name_to_string(&name_string);
        // The vk header is 20 bytes before the name; nt-hive does not expose the raw type or
        // data offset we need to guard reads and to keep device-property types.
        let vk = (name_bytes.as_ptr() as usize)
            .checked_sub(bytes.as_ptr() as usize)
            .and_then(|at| at.checked_sub(KEY_VALUE_NAME_OFFSET))
            .filter(|&vk| bytes.get(vk..vk + 2) == Some(cells::VK_SIGNATURE))
            .ok_or_else(|| ReadError::new(key_path, format!("corrupt value \"{name}\": value record not found")))?;
        let field = |offset: usize| -> Option<u32> {
            let raw: [u8; 4] = bytes.get(vk + offset..vk + offset + 4)?.try_into().ok()?;
            Some(u32::from_le_bytes(raw))
        };
        let (Some(raw_size), Some(data_offset), Some(data_type)) =
            (field(cells::VK_DATA_SIZE), field(cells::VK_DATA_OFFSET), field(cells::VK_DATA_TYPE))
        else {
            return Err(ReadError::new(key_path, format!("corrupt value \"{name}\": record cut short")));
        };
        Ok(Value {
            raw,
            key_path: key_path.to_string(),
            name,
            data_type,
            data_size: raw_size & !DATA_INLINE_FLAG,
            stored_inline: raw_size & DATA_INLINE_FLAG != 0,
            data_offset,
        })
    }

    /// The name as stored (`""` for the default value).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw registry type number (REG_SZ = 1 …; device-property types are 0xFFFF00xx).
    pub fn data_type(&self) -> u32 {
        self.data_type
    }

    pub fn data_size(&self) -> u32 {
        self.data_size
    }

    /// The raw data bytes, with the guards nt-hive lacks.
    pub fn data(&self) -> Result<Vec<u8>, ReadError> {
        if self.data_size == 0 {
            // Tombstone values store size 0 with a nil offset, which nt-hive asserts on.
            return Ok(Vec::new());
        }
        if !self.stored_inline && self.data_offset == u32::MAX {
            return Err(
                self.error(format!("corrupt cell: {} bytes of data at a nil (0xFFFFFFFF) offset", self.data_size))
            );
        }
        if self.data_size > MAX_VALUE_DATA {
            return Err(self.error(format!(
                "data size {} exceeds the {} MiB limit (corrupt or hostile hive)",
                self.data_size,
                MAX_VALUE_DATA / (1024 * 1024)
            )));
        }
        let bytes = guarded(&self.key_path, || self.raw.data().and_then(|d| d.into_vec()))
            .map_err(|e| self.error(e.problem))?;
        Ok(bytes)
    }

    /// The data decoded by type. Types this tool does not interpret come back as raw bytes.
    pub fn typed(&self) -> Result<ValueData, ReadError> {
        let bytes = self.data()?;
        Ok(ValueData::decode(self.data_type, bytes))
    }

    fn error(&self, problem: String) -> ReadError {
        ReadError::new(&self.key_path, format!("value \"{}\": {problem}", self.name))
    }
}

pub const REG_NONE: u32 = 0;
pub const REG_SZ: u32 = 1;
pub const REG_EXPAND_SZ: u32 = 2;
pub const REG_BINARY: u32 = 3;
pub const REG_DWORD: u32 = 4;
pub const REG_DWORD_BIG_ENDIAN: u32 = 5;
pub const REG_LINK: u32 = 6;
pub const REG_MULTI_SZ: u32 = 7;
pub const REG_RESOURCE_LIST: u32 = 8;
pub const REG_FULL_RESOURCE_DESCRIPTOR: u32 = 9;
pub const REG_RESOURCE_REQUIREMENTS_LIST: u32 = 10;
pub const REG_QWORD: u32 = 11;

/// Human name of a registry type number.
pub fn type_name(data_type: u32) -> String {
    match data_type {
        REG_NONE => "REG_NONE".into(),
        REG_SZ => "REG_SZ".into(),
        REG_EXPAND_SZ => "REG_EXPAND_SZ".into(),
        REG_BINARY => "REG_BINARY".into(),
        REG_DWORD => "REG_DWORD".into(),
        REG_DWORD_BIG_ENDIAN => "REG_DWORD_BIG_ENDIAN".into(),
        REG_LINK => "REG_LINK".into(),
        REG_MULTI_SZ => "REG_MULTI_SZ".into(),
        REG_RESOURCE_LIST => "REG_RESOURCE_LIST".into(),
        REG_FULL_RESOURCE_DESCRIPTOR => "REG_FULL_RESOURCE_DESCRIPTOR".into(),
        REG_RESOURCE_REQUIREMENTS_LIST => "REG_RESOURCE_REQUIREMENTS_LIST".into(),
        REG_QWORD => "REG_QWORD".into(),
        t if t & 0xFFFF_0000 == 0xFFFF_0000 => format!("DEVPROP type {:#x}", t & 0xFFFF),
        t => format!("type {t:#x}"),
    }
}

/// Value data decoded according to its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueData {
    String(String),
    ExpandString(String),
    Dword(u32),
    Qword(u64),
    Binary(Vec<u8>),
    /// Every string, empty ones included (nt-hive's iterator stops at the first empty one).
    MultiString(Vec<String>),
    /// Any other type, or data whose size does not fit its type: kept as raw bytes.
    Raw {
        data_type: u32,
        bytes: Vec<u8>,
    },
}

impl ValueData {
    pub fn decode(data_type: u32, bytes: Vec<u8>) -> ValueData {
        match data_type {
            REG_SZ => ValueData::String(multi_sz::utf16_until_nul(&bytes)),
            REG_EXPAND_SZ => ValueData::ExpandString(multi_sz::utf16_until_nul(&bytes)),
            REG_DWORD if bytes.len() == 4 => {
                ValueData::Dword(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            }
            REG_DWORD_BIG_ENDIAN if bytes.len() == 4 => {
                ValueData::Dword(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
            }
            REG_QWORD if bytes.len() == 8 => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&bytes);
                ValueData::Qword(u64::from_le_bytes(raw))
            }
            REG_BINARY => ValueData::Binary(bytes),
            REG_MULTI_SZ => ValueData::MultiString(multi_sz::split_strings(&bytes).strings),
            _ => ValueData::Raw { data_type, bytes },
        }
    }

    /// A number, if the data is one (DWORD or QWORD, or a 4/8-byte binary as some writers use).
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            ValueData::Dword(v) => Some(*v as u64),
            ValueData::Qword(v) => Some(*v),
            ValueData::Binary(b) | ValueData::Raw { bytes: b, .. } if b.len() == 4 => {
                Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64)
            }
            ValueData::Binary(b) | ValueData::Raw { bytes: b, .. } if b.len() == 8 => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(b);
                Some(u64::from_le_bytes(raw))
            }
            ValueData::String(s) | ValueData::ExpandString(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A single string, if the data is textual.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ValueData::String(s) | ValueData::ExpandString(s) => Some(s),
            _ => None,
        }
    }

    /// True when the data carries nothing: zero, empty text, or a list of empty strings.
    pub fn is_empty_or_zero(&self) -> bool {
        match self {
            ValueData::String(s) | ValueData::ExpandString(s) => s.is_empty(),
            ValueData::Dword(v) => *v == 0,
            ValueData::Qword(v) => *v == 0,
            ValueData::Binary(b) => b.iter().all(|&x| x == 0),
            ValueData::MultiString(list) => list.iter().all(|s| s.is_empty()),
            ValueData::Raw { bytes, .. } => bytes.iter().all(|&x| x == 0),
        }
    }

    /// Short human rendering for reports.
    pub fn display(&self) -> String {
        match self {
            ValueData::String(s) | ValueData::ExpandString(s) => s.clone(),
            ValueData::Dword(v) => format!("{v} ({v:#x})"),
            ValueData::Qword(v) => format!("{v} ({v:#x})"),
            ValueData::MultiString(list) => {
                let quoted: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
                format!("[{}]", quoted.join(", "))
            }
            ValueData::Binary(b) | ValueData::Raw { bytes: b, .. } => hex_preview(b, 32),
        }
    }
}

/// First `limit` bytes as hex, with the total length when cut.
pub fn hex_preview(bytes: &[u8], limit: usize) -> String {
    let shown: Vec<String> = bytes.iter().take(limit).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > limit {
        format!("{} … ({} bytes)", shown.join(" "), bytes.len())
    } else {
        shown.join(" ")
    }
}
