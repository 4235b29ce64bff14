//! The whole scan of one machine whose only hive is the fuzz input: base block, kind
//! detection, control-set resolution, every rule (CBS packages included), the report.
#![no_main]

use std::path::PathBuf;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rebootscan::load::{HiveFile, LoadOptions};
use rebootscan::rules::evaluate::PackageScan;
use rebootscan::rules::RuleOptions;
use rebootscan::scan::assess;

fuzz_target!(|data: &[u8]| {
    let label = PathBuf::from("fuzz/SYSTEM");
    let loaded = HiveFile::from_shared(&label, Arc::new(data.to_vec()), Vec::new(), LoadOptions::default());
    let options = RuleOptions { package_scan: PackageScan::Always, ..RuleOptions::default() };
    let report = assess("fuzz", None, vec![(label, loaded)], &options);
    let _ = serde_json::to_string(&report);
    let _ = rebootscan::report::text::render(&report);
});
