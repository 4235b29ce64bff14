//! `rebootscan inspect`: everything the hive layer knows about one file, without judging
//! reboots. Useful to check evidence before trusting a scan.

use std::path::Path;

use serde::Serialize;

use crate::load::base_block::{BaseBlock, FileType};
use crate::load::control_set::{self, ControlSetChoice};
use crate::load::filetime::FileTime;
use crate::load::kind::KindDetection;
use crate::load::open::LogReplay;
use crate::load::{HiveFile, LoadOptions};

#[derive(Debug, Clone, Serialize)]
pub struct BaseBlockFacts {
    pub signature_ok: bool,
    pub format_version: String,
    pub differencing: bool,
    pub file_type: FileType,
    pub primary_sequence: u32,
    pub secondary_sequence: u32,
    pub checksum_ok: bool,
    pub dirty: bool,
    pub last_written: FileTime,
    pub hive_bins_size: u32,
    pub root_cell_offset: u32,
    pub embedded_file_name: String,
    pub problems: Vec<String>,
}

impl BaseBlockFacts {
    pub fn new(block: &BaseBlock, file_size: u64) -> BaseBlockFacts {
        BaseBlockFacts {
            signature_ok: true,
            format_version: block.format_version(),
            differencing: block.is_differencing(),
            file_type: block.file_type,
            primary_sequence: block.primary_sequence,
            secondary_sequence: block.secondary_sequence,
            checksum_ok: block.checksum_ok(),
            dirty: block.is_dirty(),
            last_written: block.last_written,
            hive_bins_size: block.hive_bins_size,
            root_cell_offset: block.root_cell_offset,
            embedded_file_name: block.embedded_file_name.clone(),
            problems: block.problems(file_size).iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// What `inspect` reports for one file.
#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub path: String,
    pub file_size: Option<u64>,
    pub base_block: Option<BaseBlockFacts>,
    pub kind: Option<KindDetection>,
    pub control_sets: Option<ControlSetChoice>,
    pub log_replay: Option<LogReplay>,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
}

pub fn inspect(path: &Path, options: LoadOptions) -> Inspection {
    let mut inspection = Inspection {
        path: path.display().to_string(),
        file_size: None,
        base_block: None,
        kind: None,
        control_sets: None,
        log_replay: None,
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    // Base-block facts are shown even when the hive cannot be loaded: they explain why.
    if let Ok(head) = read_head(path) {
        if let Ok(block) = BaseBlock::parse(&head.0) {
            inspection.base_block = Some(BaseBlockFacts::new(&block, head.1));
        }
        inspection.file_size = Some(head.1);
    }
    let hive = match HiveFile::open(path, options) {
        Ok(hive) => hive,
        Err(error) => {
            inspection.errors.push(error.to_string());
            return inspection;
        }
    };
    inspection.kind = Some(hive.kind.clone());
    inspection.log_replay = hive.log_replay.clone();
    inspection.warnings = hive.warnings.clone();
    if hive.kind() == crate::load::kind::HiveKind::System {
        match hive.reader().and_then(|reader| control_set::resolve(&reader.root()?)) {
            Ok(choice) => inspection.control_sets = Some(choice),
            Err(error) => inspection.errors.push(format!("{}: {error}", path.display())),
        }
    }
    inspection
}

/// The first 4096 bytes (or fewer) and the file size, read without mapping the file (regular
/// files only: a FIFO is refused at once, never waited on).
fn read_head(path: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    crate::input::read_head(path, 4096)
}

/// The text form of an inspection.
pub fn render(inspection: &Inspection) -> String {
    // Line by line through the escaper: names and paths come from evidence.
    let mut out = crate::report::escape::EscapedLines::default();
    let _ = writeln!(out, "== {}", inspection.path);
    if let Some(size) = inspection.file_size {
        let _ = writeln!(out, "size: {size} bytes");
    }
    if let Some(block) = &inspection.base_block {
        let delta = if block.differencing { " (differencing / delta hive)" } else { "" };
        let _ = writeln!(out, "format: {}{delta}, {}", block.format_version, block.file_type.describe());
        let state = if block.dirty { "DIRTY" } else { "clean" };
        let _ = writeln!(
            out,
            "state: {state} (sequence numbers {}/{}, checksum {})",
            block.primary_sequence,
            block.secondary_sequence,
            if block.checksum_ok { "ok" } else { "BAD" }
        );
        let _ = writeln!(out, "last written: {}", block.last_written);
        let _ = writeln!(out, "hive bins: {} bytes, root key at {:#x}", block.hive_bins_size, block.root_cell_offset);
        let _ = writeln!(out, "embedded file name: \"{}\"", block.embedded_file_name);
        for problem in &block.problems {
            let _ = writeln!(out, "problem: {problem}");
        }
    }
    if let Some(kind) = &inspection.kind {
        let _ = writeln!(out, "kind: {} (found {})", kind.kind.label(), kind.evidence);
    }
    if let Some(sets) = &inspection.control_sets {
        let select: Vec<String> = sets.select.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "Select: {}", if select.is_empty() { "(none)".into() } else { select.join(", ") });
        let _ = writeln!(out, "control sets: {}", sets.available.join(", "));
        match (&sets.name, &sets.source) {
            (Some(name), Some(source)) => {
                let _ = writeln!(out, "current control set: {name} (from {source})");
            }
            _ => {
                let _ = writeln!(out, "current control set: none could be chosen");
            }
        }
        if let Some(default) = sets.default_if_different() {
            let _ = writeln!(out, "next boot uses: {default} (Select\\Default differs)");
        }
        for note in &sets.notes {
            let _ = writeln!(out, "control set note: {note}");
        }
    }
    if let Some(replay) = &inspection.log_replay {
        let logs: Vec<String> = replay.logs_found.iter().map(|p| p.display().to_string()).collect();
        let _ = writeln!(out, "logs found: {}", if logs.is_empty() { "none".into() } else { logs.join(", ") });
        let _ = writeln!(out, "log set: {}", replay.log_set.describe());
        if let Some(report) = &replay.report {
            let _ = writeln!(out, "log replay: {}", report.summary());
        }
    }
    for warning in &inspection.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    for error in &inspection.errors {
        let _ = writeln!(out, "error: {error}");
    }
    out.into_string()
}
