//! Broken evidence never makes rebootscan panic: every corpus hive truncated at every 4 KiB
//! boundary, and with every single byte of its first 64 KiB flipped, is scanned in-process
//! with the full rule set. Each run must end in a report (findings or typed errors).

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
    let options = RuleOptions { skip: Vec::new(), package_scan: PackageScan::Always };
    let result = std::panic::catch_unwind(|| {
        let loaded = HiveFile::from_shared(label, bytes.clone(), Vec::new(), LoadOptions::default());
        let report = assess("variant", None, vec![(label.to_path_buf(), loaded)], &options);
        // Touch every part of the report, as the CLI does when it prints it.
        serde_json::to_string(&report).expect("report serialises");
        rebootscan::report::text::render(&report);
    });
    assert!(result.is_ok(), "panic while scanning {}", label.display());
}

fn corpus_hives(test: &str) -> Option<Vec<(PathBuf, Vec<u8>)>> {
    let corpus = support::corpus::corpus_dir(test)?;
    Some(
        CORPUS_HIVES
            .iter()
            .map(|name| {
                let path = corpus.join(name);
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                (path, bytes)
            })
            .collect(),
    )
}

#[test]
fn truncation_at_every_4k_boundary_never_panics() {
    let Some(hives) = corpus_hives("truncation_at_every_4k_boundary_never_panics") else { return };
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
    let Some(hives) = corpus_hives("every_flipped_byte_of_the_first_64k_never_panics") else { return };
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
