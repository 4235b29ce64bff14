//! Where the real-hive conformance corpus lives (`../shared/corpus`, never copied into this
//! repository). `REBOOTSCAN_CORPUS` overrides the location; `.ci/run` sets it.
//!
//! On a clone without the corpus, corpus tests print that they were skipped and pass; under
//! `CI=true` a missing corpus fails them, so CI can never go green without running them.

use std::path::{Path, PathBuf};

/// The corpus folder, or `None` (after printing why) when it is absent outside CI.
pub fn corpus_dir(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("REBOOTSCAN_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    if dir.join("expected.json").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!("{test}: the real-hive corpus is missing at {} and CI=true: set REBOOTSCAN_CORPUS", dir.display());
    }
    super::skipped(test, &format!("no real-hive corpus at {} (set REBOOTSCAN_CORPUS)", dir.display()));
    None
}

/// The parsed `expected.json` of the corpus.
pub fn expected(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("expected.json")).expect("read expected.json");
    serde_json::from_str(&text).expect("parse expected.json")
}
