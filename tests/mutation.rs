//! Broken evidence never makes rebootscan panic: every fixture hive and every corpus hive,
//! truncated at every 4 KiB boundary, with bytes of its first 64 KiB flipped, with bits flipped
//! at random (fixed seed) anywhere, and spliced with another hive, is scanned in-process with
//! the full rule set. Each run must end in a report (findings or typed errors).
//!
//! The byte flips are chosen, not exhaustive: every byte of the base block's fields and of
//! every 4 KiB page a scan reads is flipped; of the pages a scan never reads (found by a probe:
//! the page inverted or zeroed leaves the report unchanged) a stratified sample. Flipping a byte
//! nobody reads gives the clean report again, so the sample loses no coverage and the test
//! costs a fraction of flipping all 64 Ki bytes of every hive.
//!
//! The hives are read once per test binary ([`sources`]); to add a family of mutants, write a
//! test that derives variants from them and hands each to [`scan_variant`], which returns the
//! report for further checks.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use rebootscan::load::kind::HiveKind;
use rebootscan::load::{HiveFile, LoadOptions};
use rebootscan::report::MachineReport;
use rebootscan::rules::evaluate::PackageScan;
use rebootscan::rules::RuleOptions;
use rebootscan::scan::assess;
use rebootscan::verdict::Verdict;

const CORPUS_HIVES: &[&str] = &[
    "win10-1903/SYSTEM",
    "win7/SYSTEM",
    "winxp/SYSTEM",
    "software-delta/SOFTWARE",
    "yarp/ManySubkeysHive",
    "yarp/BigDataHive",
];

/// Scans one in-memory variant; a panic anywhere fails the test with the variant's name.
fn scan_variant(label: &Path, bytes: &Arc<Vec<u8>>) -> MachineReport {
    let options = RuleOptions { package_scan: PackageScan::Always, ..RuleOptions::default() };
    let result = std::panic::catch_unwind(|| {
        let loaded = HiveFile::from_shared(label, bytes.clone(), Vec::new(), LoadOptions::default());
        let report = assess("variant", None, vec![(label.to_path_buf(), loaded)], &options);
        // Touch every part of the report, as the CLI does when it prints it.
        serde_json::to_string(&report).expect("report serialises");
        rebootscan::report::text::render(&report);
        report
    });
    result.unwrap_or_else(|_| panic!("panic while scanning {}", label.display()))
}

/// The report of a variant as JSON: what two variants are compared by.
fn report_json(label: &Path, bytes: &Arc<Vec<u8>>) -> String {
    serde_json::to_string(&scan_variant(label, bytes)).expect("report serialises")
}

/// Every committed fixture hive (the file beside each `*.hive.txt` source).
fn fixture_hives() -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut hives = Vec::new();
    let mut pending = vec![root];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("fixtures folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if let Some(hive) = path.to_str().and_then(|p| p.strip_suffix(".hive.txt")) {
                let hive = PathBuf::from(hive);
                let bytes = std::fs::read(&hive).unwrap_or_else(|e| panic!("{}: {e}", hive.display()));
                hives.push((hive, bytes));
            }
        }
    }
    hives.sort();
    assert!(hives.len() >= 10, "fixture hives: {}", hives.len());
    hives
}

/// A hive the mutants are made from.
struct Source {
    path: PathBuf,
    bytes: Vec<u8>,
}

/// The fixture hives, plus the corpus hives when the corpus is present: read once per test
/// binary and shared by every test.
fn sources() -> &'static [Source] {
    static SOURCES: OnceLock<Vec<Source>> = OnceLock::new();
    SOURCES.get_or_init(|| {
        let mut hives = fixture_hives();
        if let Some(corpus) = support::corpus::corpus_dir("mutation tests (corpus hives)") {
            for name in CORPUS_HIVES {
                let path = corpus.join(name);
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                hives.push((path, bytes));
            }
        }
        hives.into_iter().map(|(path, bytes)| Source { path, bytes }).collect()
    })
}

/// The bytes of a source as an `Arc` of their own, to be changed in place between variants.
fn private_copy(source: &Source) -> Arc<Vec<u8>> {
    Arc::new(source.bytes.clone())
}

/// A small deterministic generator (64-bit LCG): the same variants on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

#[test]
fn truncation_at_every_4k_boundary_never_panics() {
    let variants: usize = sources()
        .par_iter()
        .map(|source| {
            let label = PathBuf::from(format!("{}@truncated", source.path.display()));
            let mut shared = private_copy(source);
            // Longest first, cutting the same buffer shorter each time: no copy per variant.
            let ends: Vec<usize> = (0..shared.len()).step_by(4096).rev().collect();
            // The hive bins end here; a cut before that loses cells and must say so.
            let bins_end = 4096 + u32::from_le_bytes(source.bytes[40..44].try_into().unwrap()) as usize;
            for &end in &ends {
                Arc::get_mut(&mut shared).expect("no other owner").truncate(end);
                let report = scan_variant(&label, &shared);
                assert!(
                    end >= bins_end || !report.errors.is_empty(),
                    "{} cut to {end} bytes (hive bins end at {bins_end}) gives no error",
                    source.path.display()
                );
            }
            ends.len()
        })
        .sum();
    assert_eq!(variants, sources().iter().map(|s| s.bytes.len().div_ceil(4096)).sum::<usize>());
}

/// Size of the regions the byte-flip test classifies.
const PAGE: usize = 4096;
/// The base block's fields and checksum live in its first 512 bytes (the rest is reserved).
const BASE_BLOCK_FIELDS: usize = 512;
/// In a region no scan reads, one byte in this many is flipped (a prime, so that the sample
/// falls on every offset within cells and within 8-byte fields across the pages).
const UNREAD_STRIDE: usize = 61;

/// The byte ranges of the first 64 KiB of a hive the flip test treats alike: the base block's
/// fields, its reserved rest, then each 4 KiB page.
fn flip_regions(len: usize) -> Vec<std::ops::Range<usize>> {
    let end = len.min(64 * 1024);
    let mut regions = Vec::new();
    regions.push(0..BASE_BLOCK_FIELDS.min(end));
    if end > BASE_BLOCK_FIELDS {
        regions.push(BASE_BLOCK_FIELDS..PAGE.min(end));
    }
    regions.extend((PAGE..end).step_by(PAGE).map(|start| start..(start + PAGE).min(end)));
    regions
}

/// Whether a scan reads `region` of `source`: the clean report changes when the region is
/// inverted or zeroed. (A read page almost surely changes the report under one of them;
/// both leaving it unchanged means nothing there is read.)
fn region_is_read(source: &Source, region: &std::ops::Range<usize>, clean: &str, label: &Path) -> bool {
    let mut inverted = source.bytes.clone();
    inverted[region.clone()].iter_mut().for_each(|b| *b = !*b);
    let mut zeroed = source.bytes.clone();
    zeroed[region.clone()].fill(0);
    report_json(label, &Arc::new(inverted)) != clean || report_json(label, &Arc::new(zeroed)) != clean
}

#[test]
fn every_flipped_byte_of_the_first_64k_never_panics() {
    let counts: Vec<(usize, usize)> = sources()
        .par_iter()
        .map(|source| {
            let label = PathBuf::from(format!("{}@flipped", source.path.display()));
            let clean = report_json(&label, &Arc::new(source.bytes.clone()));
            let regions = flip_regions(source.bytes.len());
            let read: Vec<bool> = regions
                .iter()
                .enumerate()
                .map(|(index, region)| index == 0 || region_is_read(source, region, &clean, &label))
                .collect();
            // The root key is in the first hive bin: a probe that finds no page read is broken.
            assert!(
                source.bytes.len() <= PAGE || read.iter().skip(2).any(|&r| r),
                "{}: the probe found no page the scan reads",
                source.path.display()
            );
            let mut shared = private_copy(source);
            let mut flipped = 0;
            for (index, (region, &is_read)) in regions.iter().zip(&read).enumerate() {
                let offsets: Vec<usize> = if is_read {
                    region.clone().collect()
                } else {
                    (region.start + index % UNREAD_STRIDE..region.end).step_by(UNREAD_STRIDE).collect()
                };
                for offset in offsets {
                    // The previous variant's HiveFile is gone, so the buffer is ours again: flip
                    // in place instead of copying megabytes per variant.
                    Arc::get_mut(&mut shared).expect("no other owner")[offset] ^= 0xFF;
                    scan_variant(&label, &shared);
                    Arc::get_mut(&mut shared).expect("no other owner")[offset] ^= 0xFF;
                    flipped += 1;
                }
            }
            let read_bytes: usize = regions.iter().zip(&read).filter(|(_, &r)| r).map(|(r, _)| r.len()).sum();
            (flipped, read_bytes)
        })
        .collect();
    // Every byte of every region a scan reads was flipped, plus the samples elsewhere.
    for (source, (flipped, read_bytes)) in sources().iter().zip(&counts) {
        assert!(flipped >= read_bytes, "{}: {flipped} flips, {read_bytes} bytes read", source.path.display());
    }
    let support_bytes: usize = counts.iter().map(|(_, read)| read).sum();
    let total: usize = counts.iter().map(|(flipped, _)| flipped).sum();
    let first_64k: usize = sources().iter().map(|s| s.bytes.len().min(64 * 1024)).sum();
    support::note(&format!(
        "every_flipped_byte_of_the_first_64k_never_panics: {total} variants ({support_bytes} bytes in regions a scan reads, all flipped; {} of {first_64k} bytes elsewhere sampled)",
        total - support_bytes
    ));
}

#[test]
fn random_bit_flips_anywhere_never_panic() {
    sources().par_iter().enumerate().for_each(|(index, source)| {
        let label = PathBuf::from(format!("{}@random-flips", source.path.display()));
        let mut random = Lcg(0x5EED_0000 + index as u64);
        let mut shared = private_copy(source);
        for _ in 0..300 {
            let flips: Vec<(usize, u8)> =
                (0..1 + random.below(8)).map(|_| (random.below(shared.len()), 1u8 << random.below(8))).collect();
            for &(offset, bit) in &flips {
                Arc::get_mut(&mut shared).expect("no other owner")[offset] ^= bit;
            }
            scan_variant(&label, &shared);
            for &(offset, bit) in flips.iter().rev() {
                Arc::get_mut(&mut shared).expect("no other owner")[offset] ^= bit;
            }
        }
    });
}

#[test]
fn spliced_hives_never_panic() {
    let hives = sources();
    let mut random = Lcg(0x5911CE);
    for pair in hives.windows(2) {
        let (first, second) = (&pair[0], &pair[1]);
        let label = PathBuf::from(format!("{}+{}@spliced", first.path.display(), second.path.display()));
        for _ in 0..10 {
            // The head of one hive (its base block and first cells) over the tail of another.
            let cut = random.below(first.bytes.len().min(second.bytes.len()));
            let mut spliced = first.bytes[..cut].to_vec();
            spliced.extend_from_slice(&second.bytes[cut..]);
            scan_variant(&label, &Arc::new(spliced));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Corrupted pending machines: damage on a lookup path must never read as "not pending".
// ---------------------------------------------------------------------------------------------

/// Reading of the cells a lookup touches, written here from the format description (not with
/// the reader under test), to aim the mutants.
mod cells {
    pub const BINS: usize = 4096;

    pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    pub fn u16_at(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap())
    }

    /// File offset of a cell's data and its length (from the size field before it).
    pub fn cell(bytes: &[u8], offset: u32) -> (usize, usize) {
        let start = BINS + offset as usize;
        let size = u32_at(bytes, start) as i32;
        assert!(size < 0, "cell {offset:#x} is allocated");
        (start + 4, (-size) as usize - 4)
    }

    pub fn root(bytes: &[u8]) -> u32 {
        u32_at(bytes, 36)
    }

    pub fn nk_name(bytes: &[u8], nk: u32) -> String {
        let (at, _) = cell(bytes, nk);
        assert_eq!(&bytes[at..at + 2], b"nk");
        let length = u16_at(bytes, at + 72) as usize;
        let raw = &bytes[at + 76..at + 76 + length];
        if u16_at(bytes, at + 2) & 0x20 != 0 {
            raw.iter().map(|&b| b as char).collect()
        } else {
            String::from_utf16_lossy(&raw.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect::<Vec<_>>())
        }
    }

    pub fn nk_name_length(bytes: &[u8], nk: u32) -> usize {
        let (at, _) = cell(bytes, nk);
        u16_at(bytes, at + 72) as usize
    }

    /// The list cells of a key (the index root, if any, then its leaves) and the entries
    /// as (key node, file offset of the entry).
    pub fn subkey_lists(bytes: &[u8], nk: u32) -> (Vec<u32>, Vec<(u32, usize)>) {
        let (at, _) = cell(bytes, nk);
        if u32_at(bytes, at + 20) == 0 {
            return (Vec::new(), Vec::new());
        }
        let list = u32_at(bytes, at + 28);
        let (list_at, _) = cell(bytes, list);
        let mut lists = vec![list];
        let leaves: Vec<u32> = if &bytes[list_at..list_at + 2] == b"ri" {
            let count = u16_at(bytes, list_at + 2) as usize;
            let leaves: Vec<u32> = (0..count).map(|i| u32_at(bytes, list_at + 4 + 4 * i)).collect();
            lists.extend(&leaves);
            leaves
        } else {
            vec![list]
        };
        let mut entries = Vec::new();
        for leaf in leaves {
            let (leaf_at, _) = cell(bytes, leaf);
            let stride = if &bytes[leaf_at..leaf_at + 2] == b"li" { 4 } else { 8 };
            let count = u16_at(bytes, leaf_at + 2) as usize;
            for i in 0..count {
                let entry = leaf_at + 4 + stride * i;
                entries.push((u32_at(bytes, entry), entry));
            }
        }
        (lists, entries)
    }

    pub fn child(bytes: &[u8], nk: u32, name: &str) -> Option<u32> {
        let (_, entries) = subkey_lists(bytes, nk);
        entries.into_iter().map(|(node, _)| node).find(|&node| nk_name(bytes, node).eq_ignore_ascii_case(name))
    }

    /// The vk cell of the value called `name`.
    pub fn value(bytes: &[u8], nk: u32, name: &str) -> Option<u32> {
        let (at, _) = cell(bytes, nk);
        let count = u32_at(bytes, at + 36) as usize;
        if count == 0 {
            return None;
        }
        let (list_at, _) = cell(bytes, u32_at(bytes, at + 40));
        (0..count).map(|i| u32_at(bytes, list_at + 4 * i)).find(|&vk| {
            let (vk_at, _) = cell(bytes, vk);
            let length = u16_at(bytes, vk_at + 2) as usize;
            bytes[vk_at + 20..vk_at + 20 + length].eq_ignore_ascii_case(name.as_bytes())
        })
    }
}

/// One way to damage a hive.
enum Mutant {
    Truncate(usize),
    Xor {
        at: usize,
        mask: u8,
    },
    /// Overwrite a subkey list entry (the 4-byte cell offset at `at`) with another key's cell.
    Redirect {
        at: usize,
        to: u32,
    },
}

impl Mutant {
    fn describe(&self) -> String {
        match self {
            Mutant::Truncate(end) => format!("truncated to {end} bytes"),
            Mutant::Xor { at, mask } => format!("byte {at:#x} xor {mask:#04x}"),
            Mutant::Redirect { at, to } => format!("list entry at {at:#x} redirected to cell {to:#x}"),
        }
    }

    /// The damaged copy of `bytes`: changed in place when `bytes` is not shared (and put back by
    /// [`Mutant::undo`]), so that a 15 MB hive is not copied per mutant; truncations copy.
    fn apply(&self, bytes: &mut Arc<Vec<u8>>) -> Option<Vec<u8>> {
        match *self {
            Mutant::Truncate(end) => {
                let kept = Arc::new(bytes[..end].to_vec());
                let original = std::mem::replace(bytes, kept);
                Some(Arc::try_unwrap(original).unwrap_or_else(|shared| shared.as_ref().clone()))
            }
            Mutant::Xor { at, mask } => {
                Arc::get_mut(bytes).expect("buffer not shared")[at] ^= mask;
                None
            }
            Mutant::Redirect { at, to } => {
                let buffer = Arc::get_mut(bytes).expect("buffer not shared");
                let old = buffer[at..at + 4].to_vec();
                buffer[at..at + 4].copy_from_slice(&to.to_le_bytes());
                Some(old)
            }
        }
    }

    fn undo(&self, bytes: &mut Arc<Vec<u8>>, saved: Option<Vec<u8>>) {
        match (self, saved) {
            (Mutant::Truncate(_), Some(original)) => *bytes = Arc::new(original),
            (Mutant::Xor { at, mask }, _) => Arc::get_mut(bytes).expect("buffer not shared")[*at] ^= mask,
            (Mutant::Redirect { at, .. }, Some(old)) => {
                Arc::get_mut(bytes).expect("buffer not shared")[*at..*at + 4].copy_from_slice(&old)
            }
            _ => unreachable!("undo matches apply"),
        }
    }
}

/// Mutants aimed at what resolving `key_path` (and reading `value`) touches, each with the
/// structure and field it damages: the base block's root and size fields, each key node on the
/// way (cell size, signature, flags, parent, subkey count and list, name length and name), each
/// subkey list of each key on the way (every byte: cell size, signature, count, entries, hashes),
/// the value's record (cell size, signature, data size, data offset, type, name); list entries
/// redirected to the root, to the parent itself and to the grandparent (cycles); truncations at
/// every 4 KiB boundary.
///
/// What a correct hive guarantees about each of these, and so what makes their damage
/// detectable: a cell's size is negative (allocated) and fits its bin; signatures are fixed; a
/// list's count fits its cell and equals the key node's subkey count; every key node reached
/// names the key it was reached from as its parent; a key node's name fits its cell, and in
/// `lf`/`lh` lists equals the entry's hint or hash; a value's name fits its record; its data
/// size fits its type and its data cell; the key found carries the name looked up. A value's
/// name has no such guarantee (value lists carry no hash and no order); a damaged byte there
/// is still caught, as a name one character from the name looked up where none is expected.
///
/// Left out on purpose, because a correct hive carries no redundancy that could reveal the
/// change (a flip there leaves a well-formed hive that simply says something else, which a
/// reader has no way to tell from the truth): a key's last-write time, security and class
/// fields, volatile counts and the key node's own spare fields (nothing on the lookup reads
/// them); a value's name length and flags (a shorter or longer name, or one read as UTF-16
/// instead of Latin-1, is simply another value's name: unlike a changed character, nothing
/// ties it to the name looked up), its data (a DWORD 1 flipped to 0 is another valid value, and the rule's
/// verdict may change with it); the value count and value list offset of the key holding the
/// value (a smaller count simply lists fewer values, with nothing to compare it against);
/// padding and slack after a record's name inside its cell.
fn lookup_path_mutants(bytes: &[u8], paths: &[(String, Option<String>)]) -> Vec<(Mutant, String)> {
    use cells::*;
    // (start, end, structure and field)
    let mut ranges: Vec<(usize, usize, String)> =
        vec![(36, 40, "base block: root cell offset".into()), (40, 44, "base block: hive bins size".into())];
    let mut redirects = Vec::new();
    for (key_path, value) in paths {
        let mut chain = vec![(root(bytes), String::from("\\"))];
        for component in key_path.split('\\').filter(|c| !c.is_empty()) {
            let (parent, parent_path) = chain.last().unwrap().clone();
            let Some(next) = child(bytes, parent, component) else { break };
            let path = if parent_path == "\\" { component.to_string() } else { format!("{parent_path}\\{component}") };
            chain.push((next, path));
        }
        for (depth, (nk, path)) in chain.iter().enumerate() {
            let nk = *nk;
            let (at, _) = cell(bytes, nk);
            let name_length = nk_name_length(bytes, nk);
            for (start, end, field) in [
                (at - 4, at, "cell size"),
                (at, at + 2, "signature"),
                (at + 2, at + 4, "flags"),
                (at + 16, at + 20, "parent"),
                (at + 20, at + 24, "subkey count"),
                (at + 28, at + 32, "subkey list offset"),
                (at + 72, at + 74, "name length"),
                (at + 74, at + 76, "class name length"),
                (at + 76, at + 76 + name_length, "name"),
            ] {
                ranges.push((start, end, format!("nk {path}: {field}")));
            }
            if depth + 1 < chain.len() {
                let (lists, entries) = subkey_lists(bytes, nk);
                for list in lists {
                    let (list_at, len) = cell(bytes, list);
                    let kind = String::from_utf8_lossy(&bytes[list_at..list_at + 2]).into_owned();
                    let stride = if kind == "ri" || kind == "li" { 4 } else { 8 };
                    ranges.push((list_at - 4, list_at, format!("{kind} list of {path}: cell size")));
                    ranges.push((list_at, list_at + 2, format!("{kind} list of {path}: signature")));
                    ranges.push((list_at + 2, list_at + 4, format!("{kind} list of {path}: count")));
                    let count = u16_at(bytes, list_at + 2) as usize;
                    for i in 0..count {
                        let entry = list_at + 4 + stride * i;
                        ranges.push((entry, entry + 4, format!("{kind} list of {path}: entry {i} offset")));
                        if stride == 8 {
                            ranges.push((entry + 4, entry + 8, format!("{kind} list of {path}: entry {i} hash")));
                        }
                    }
                    let used = 4 + stride * count;
                    if used < len.min(4096) {
                        ranges.push((list_at + used, list_at + len.min(4096), format!("{kind} list of {path}: slack")));
                    }
                }
                for (_, entry) in entries {
                    redirects.push((
                        Mutant::Redirect { at: entry, to: root(bytes) },
                        format!("list of {path}: entry to the root"),
                    ));
                    redirects.push((
                        Mutant::Redirect { at: entry, to: nk },
                        format!("list of {path}: entry to the key itself"),
                    ));
                    if depth > 0 {
                        redirects.push((
                            Mutant::Redirect { at: entry, to: chain[depth - 1].0 },
                            format!("list of {path}: entry to the grandparent"),
                        ));
                    }
                }
            }
        }
        let (last, path) = chain.last().unwrap().clone();
        if let Some(name) = value.as_deref() {
            if let Some(vk) = cells::value(bytes, last, name) {
                let (at, _) = cell(bytes, vk);
                for (start, end, field) in [
                    (at - 4, at, "cell size"),
                    (at, at + 2, "signature"),
                    (at + 4, at + 8, "data size"),
                    (at + 8, at + 12, "data offset"),
                    (at + 12, at + 16, "type"),
                    (at + 20, at + 20 + u16_at(bytes, at + 2) as usize, "name"),
                ] {
                    ranges.push((start, end, format!("vk {path}\\{name}: {field}")));
                }
            }
        }
    }
    ranges.sort();
    ranges.dedup();
    let mut offsets: Vec<(usize, String)> =
        ranges.iter().flat_map(|(start, end, what)| (*start..*end).map(move |at| (at, what.clone()))).collect();
    offsets.sort();
    offsets.dedup_by_key(|(at, _)| *at);
    let mut mutants: Vec<(Mutant, String)> = Vec::new();
    for (at, what) in offsets {
        mutants.push((Mutant::Xor { at, mask: 1 << (at % 8) }, what.clone()));
        mutants.push((Mutant::Xor { at, mask: 0x80 >> (at % 8) }, what.clone()));
        mutants.push((Mutant::Xor { at, mask: 0xFF }, what));
    }
    mutants.extend(redirects);
    // Every 4 KiB boundary of a small hive; of a big one, the boundaries around the damaged
    // cells' pages and 32 spread over the file (the base block's size check refuses any cut
    // alike, so more would cost time and find nothing new).
    let mut cuts: Vec<usize> = if bytes.len() <= 64 * 4096 {
        (0..bytes.len()).step_by(4096).collect()
    } else {
        let pages = ranges.iter().flat_map(|&(start, _, _)| [start / 4096 * 4096, start / 4096 * 4096 + 4096]);
        let spread = (0..32).map(|i| bytes.len() / 32 * i / 4096 * 4096);
        [0, 512, 4096].into_iter().chain(pages).chain(spread).filter(|&end| end < bytes.len()).collect()
    };
    cuts.sort();
    cuts.dedup();
    mutants.extend(cuts.into_iter().map(|end| (Mutant::Truncate(end), "truncation".to_string())));
    mutants
}

/// A machine's name and its hives (path, bytes).
type Machine = (String, Vec<(PathBuf, Vec<u8>)>);

/// The pending machines: every fixture machine folder (and the writer's self-test SYSTEM)
/// whose undamaged scan is pending, and every corpus hive `expected.json` marks pending, with
/// the healthy SOFTWARE of a clean server beside those that have none (so that `unknown` can
/// only come from the damage, never from a missing hive). The known pending fixtures must all
/// be among them, so that the set cannot shrink unnoticed.
fn pending_machines(test: &str) -> Vec<Machine> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let healthy_software = fixtures.join("machines/server2019-clean/SOFTWARE");
    let read = |path: &Path| std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let with_software = |system: PathBuf| -> Vec<(PathBuf, Vec<u8>)> {
        let beside = system.with_file_name("SOFTWARE");
        let software = if beside.is_file() { beside } else { healthy_software.clone() };
        vec![(system.clone(), read(&system)), (software.clone(), read(&software))]
    };
    let mut candidates: Vec<Machine> = Vec::new();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(fixtures.join("machines"))
        .expect("fixture machines")
        .map(|entry| entry.expect("entry").path())
        .filter(|folder| folder.join("SYSTEM").is_file())
        .collect();
    folders.sort();
    for folder in folders {
        let name = folder.file_name().expect("folder name").to_string_lossy().into_owned();
        candidates.push((name, with_software(folder.join("SYSTEM"))));
    }
    candidates.push(("writer-selftest".to_string(), with_software(fixtures.join("writer-selftest/SYSTEM"))));
    if let Some(corpus) = support::corpus::corpus_dir(test) {
        let expected: serde_json::Value =
            serde_json::from_slice(&read(&corpus.join("expected.json"))).expect("corpus expected.json");
        let mut pending: Vec<&String> = expected
            .as_object()
            .expect("expected.json is an object")
            .iter()
            .filter(|(_, facts)| facts["pending"] == serde_json::Value::Bool(true) && facts["hive_type"] == "SYSTEM")
            .map(|(name, _)| name)
            .collect();
        pending.sort();
        assert!(!pending.is_empty(), "the corpus has a pending SYSTEM hive");
        for name in pending {
            candidates.push((format!("corpus {name}"), with_software(corpus.join(name))));
        }
    }
    let machines: Vec<Machine> = candidates
        .into_iter()
        .filter(|(_, hives)| {
            let shared: Vec<(PathBuf, Arc<Vec<u8>>)> =
                hives.iter().map(|(path, bytes)| (path.clone(), Arc::new(bytes.clone()))).collect();
            assess_machine(&shared).verdict == Verdict::Pending
        })
        .collect();
    for known in [
        "cs010-pfro-in-current-set",
        "system-only-dns-rename",
        "win10-pending-driver-update",
        "win11-cbs-reboot-pending",
        "win11-sysprep-generalized",
    ] {
        assert!(machines.iter().any(|(name, _)| name == known), "{known} is a pending fixture machine");
    }
    machines
}

fn assess_machine(hives: &[(PathBuf, Arc<Vec<u8>>)]) -> rebootscan::report::MachineReport {
    let loaded = hives
        .iter()
        .map(|(path, bytes)| {
            (path.clone(), HiveFile::from_shared(path, bytes.clone(), Vec::new(), LoadOptions::default()))
        })
        .collect();
    assess("mutant", None, loaded, &RuleOptions::default())
}

/// The invariant: every mutant of every pending machine is `pending`, or `unknown` with an
/// error in the report (which names the hive file, the key and the defect). The full set runs
/// by default: about 10,000 mutants, each a full in-process scan of the machine, take about
/// two seconds of CPU in the release profile.
#[test]
fn damage_on_a_lookup_path_never_makes_a_pending_machine_not_pending() {
    let machines = pending_machines("damage_on_a_lookup_path_never_makes_a_pending_machine_not_pending");
    let mut jobs = Vec::new();
    for (machine, (name, hives)) in machines.iter().enumerate() {
        let shared: Vec<(PathBuf, Arc<Vec<u8>>)> =
            hives.iter().map(|(path, bytes)| (path.clone(), Arc::new(bytes.clone()))).collect();
        let report = assess_machine(&shared);
        assert_eq!(report.verdict, Verdict::Pending, "{name} is a pending machine");
        assert!(report.errors.is_empty(), "{name}: {:?}", report.errors);
        for (hive, (path, bytes)) in hives.iter().enumerate() {
            // The keys and values behind the machine's decisive findings, and Select.
            let mut paths: Vec<(String, Option<String>)> = report
                .findings
                .iter()
                .filter(|f| f.strength.decides() && Path::new(&f.hive_path) == path)
                .map(|f| (f.key.clone(), f.value.clone()))
                .collect();
            if report.hives.iter().any(|h| Path::new(&h.path) == path && h.kind == Some(HiveKind::System)) {
                paths.push(("Select".to_string(), Some("Current".to_string())));
            }
            if paths.is_empty() {
                continue;
            }
            for (mutant, what) in lookup_path_mutants(bytes, &paths) {
                jobs.push((machine, hive, mutant, what));
            }
        }
    }
    assert!(jobs.len() > 1000, "{} mutants", jobs.len());
    let failures: Vec<String> = jobs
        .par_iter()
        .map_init(
            // One private copy of every hive per worker, damaged and repaired in place.
            || -> Vec<Vec<(PathBuf, Arc<Vec<u8>>)>> {
                machines
                    .iter()
                    .map(|(_, hives)| {
                        hives.iter().map(|(path, bytes)| (path.clone(), Arc::new(bytes.clone()))).collect()
                    })
                    .collect()
            },
            |copies, (machine, hive, mutant, what)| {
                let hives = &mut copies[*machine];
                let saved = mutant.apply(&mut hives[*hive].1);
                let report = assess_machine(hives);
                mutant.undo(&mut hives[*hive].1, saved);
                let holds = match report.verdict {
                    Verdict::Pending => true,
                    Verdict::Unknown => !report.errors.is_empty(),
                    Verdict::NotPending => false,
                };
                (!holds).then(|| {
                    format!(
                        "{} / {}: {} ({what}): {} ({:?}; errors {:?})",
                        machines[*machine].0,
                        hives[*hive].0.display(),
                        mutant.describe(),
                        report.verdict.label(),
                        report.verdict_reason,
                        report.errors
                    )
                })
            },
        )
        .flatten()
        .collect();
    support::note(&format!(
        "damage_on_a_lookup_path_never_makes_a_pending_machine_not_pending: {} mutants of {} pending machines",
        jobs.len(),
        machines.len()
    ));
    assert!(
        failures.is_empty(),
        "{} of {} mutants broke the invariant:\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n")
    );
}
