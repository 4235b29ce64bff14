//! Helpers of the container tests (tests/containers.rs, tests/vmdk.rs, tests/vhd_qcow2.rs):
//! the committed gzipped fixtures, and the part of a machine report that must be the same
//! whatever container holds the machine.

use std::io::Read;
use std::path::{Path, PathBuf};

use rebootscan::discover::{discover, Discovery};
use rebootscan::report::MachineReport;
use rebootscan::scan::{scan_machine, ScanOptions};

pub fn gunzip(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut bytes).unwrap();
    bytes
}

pub fn fixture(folder: &str, name: &str) -> Vec<u8> {
    gunzip(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(folder).join(format!("{name}.gz")))
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// What must be the same whatever the container: verdict, findings, errors (without the
/// path prefix, which names the container).
pub fn outcome(report: &MachineReport) -> serde_json::Value {
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| serde_json::json!({"rule": f.rule, "data": f.data, "key": f.key, "value": f.value, "last_write": f.last_write, "summary": f.summary}))
        .collect();
    let errors: Vec<String> =
        report.errors.iter().map(|e| e.message.rsplit(": ").next().unwrap_or_default().to_string()).collect();
    serde_json::json!({
        "verdict": report.verdict,
        "reason": report.verdict_reason,
        "computer": report.computer_name,
        "build": report.context.os.build_string(),
        "findings": findings,
        "errors": errors,
    })
}

pub fn scan_one(path: &Path) -> (Discovery, Vec<MachineReport>) {
    let discovery = discover(&[path.to_path_buf()]);
    let reports = discovery.machines.iter().map(|m| scan_machine(m, &ScanOptions::default())).collect();
    (discovery, reports)
}
