//! Broken evidence never makes rebootscan panic: every fixture hive and every corpus hive,
//! truncated at every 4 KiB boundary, with every single byte of its first 64 KiB flipped, with
//! bits flipped at random (fixed seed) anywhere, and spliced with another hive, is scanned
//! in-process with the full rule set. Each run must end in a report (findings or typed
//! errors).

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use rebootscan::load::{HiveFile, LoadOptions};
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
fn scan_variant(label: &Path, bytes: &Arc<Vec<u8>>) {
    let options = RuleOptions { package_scan: PackageScan::Always, ..RuleOptions::default() };
    let result = std::panic::catch_unwind(|| {
        let loaded = HiveFile::from_shared(label, bytes.clone(), Vec::new(), LoadOptions::default());
        let report = assess("variant", None, vec![(label.to_path_buf(), loaded)], &options);
        // Touch every part of the report, as the CLI does when it prints it.
        serde_json::to_string(&report).expect("report serialises");
        rebootscan::report::text::render(&report);
    });
    assert!(result.is_ok(), "panic while scanning {}", label.display());
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

/// The fixture hives, plus the corpus hives when the corpus is present.
fn all_hives(test: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut hives = fixture_hives();
    if let Some(corpus) = support::corpus::corpus_dir(test) {
        for name in CORPUS_HIVES {
            let path = corpus.join(name);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            hives.push((path, bytes));
        }
    }
    hives
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
    let hives = all_hives("truncation_at_every_4k_boundary_never_panics");
    let mut variants = 0;
    let mut expected_variants = 0;
    for (path, bytes) in hives {
        expected_variants += bytes.len().div_ceil(4096);
        let label = PathBuf::from(format!("{}@truncated", path.display()));
        let mut shared = Arc::new(bytes);
        // Longest first, cutting the same buffer shorter each time: no copy per variant.
        let ends: Vec<usize> = (0..shared.len()).step_by(4096).rev().collect();
        for end in ends {
            Arc::get_mut(&mut shared).expect("no other owner").truncate(end);
            scan_variant(&label, &shared);
            variants += 1;
        }
    }
    assert_eq!(variants, expected_variants);
}

#[test]
fn every_flipped_byte_of_the_first_64k_never_panics() {
    let hives = all_hives("every_flipped_byte_of_the_first_64k_never_panics");
    hives.into_par_iter().for_each(|(path, bytes)| {
        let label = PathBuf::from(format!("{}@flipped", path.display()));
        let mut shared = Arc::new(bytes);
        for offset in 0..shared.len().min(64 * 1024) {
            // The previous variant's HiveFile is gone, so the buffer is ours again: flip in
            // place instead of copying megabytes per variant.
            Arc::get_mut(&mut shared).expect("no other owner")[offset] ^= 0xFF;
            scan_variant(&label, &shared);
            Arc::get_mut(&mut shared).expect("no other owner")[offset] ^= 0xFF;
        }
    });
}

#[test]
fn random_bit_flips_anywhere_never_panic() {
    let hives = all_hives("random_bit_flips_anywhere_never_panic");
    hives.into_par_iter().enumerate().for_each(|(index, (path, bytes))| {
        let label = PathBuf::from(format!("{}@random-flips", path.display()));
        let mut random = Lcg(0x5EED_0000 + index as u64);
        let mut shared = Arc::new(bytes);
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
    let hives = all_hives("spliced_hives_never_panic");
    let mut random = Lcg(0x5911CE);
    for pair in hives.windows(2) {
        let ((first_path, first), (second_path, second)) = (&pair[0], &pair[1]);
        let label = PathBuf::from(format!("{}+{}@spliced", first_path.display(), second_path.display()));
        for _ in 0..10 {
            // The head of one hive (its base block and first cells) over the tail of another.
            let cut = random.below(first.len().min(second.len()));
            let mut spliced = first[..cut].to_vec();
            spliced.extend_from_slice(&second[cut..]);
            scan_variant(&label, &Arc::new(spliced));
        }
    }
}
