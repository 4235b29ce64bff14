//! Adapter between hive loading and the transaction-log replay in `logs` (being written).
//! Until replay lands, dirty hives are read as they are on disk, with a warning.

use std::path::{Path, PathBuf};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    pub warnings: Vec<String>,
}

impl RecoveryReport {
    pub fn summary(&self) -> String {
        self.warnings.join("; ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecoveryError(String);

pub struct LogInput<'a> {
    pub name: String,
    pub bytes: &'a [u8],
}

pub struct Recovered {
    pub bytes: Option<Vec<u8>>,
    pub report: RecoveryReport,
}

pub fn find_logs(hive_path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let Some(dir) = hive_path.parent() else { return Ok(Vec::new()) };
    let Some(name) = hive_path.file_name().map(|n| n.to_string_lossy().to_lowercase()) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir })? {
        let entry = entry?;
        let candidate = entry.file_name().to_string_lossy().to_lowercase();
        if ["log", "log1", "log2"].iter().any(|ext| candidate == format!("{name}.{ext}")) {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

pub fn recover(_primary: &[u8], logs: &[LogInput<'_>]) -> Result<Option<Recovered>, RecoveryError> {
    let names: Vec<&str> = logs.iter().map(|l| l.name.as_str()).collect();
    let warning = format!(
        "dirty hive: transaction-log replay is not available yet ({} log(s) found: {}); recent changes may be missing",
        logs.len(),
        names.join(", ")
    );
    Ok(Some(Recovered { bytes: None, report: RecoveryReport { warnings: vec![warning] } }))
}
