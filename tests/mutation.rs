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

use rebootscan::load::{HiveFile, LoadOptions};
use rebootscan::report::MachineReport;
use rebootscan::rules::evaluate::PackageScan;
use rebootscan::rules::RuleOptions;
use rebootscan::scan::assess;

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
            for &end in &ends {
                Arc::get_mut(&mut shared).expect("no other owner").truncate(end);
                scan_variant(&label, &shared);
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
