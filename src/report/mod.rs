//! Report: plain data describing each machine (serde), and its views — text, JSON (and JSON
//! lines), CSV, the timeline and the HTML page.

pub mod csv;
pub mod escape;
pub mod html;
pub mod tables;
pub mod text;
pub mod writer;

use std::path::Path;

use serde::Serialize;

use crate::context::cbs::PendingPackage;
use crate::context::MachineContext;
use crate::image::facts::ContainerFacts;
use crate::load::control_set::ControlSetChoice;
use crate::load::filetime::FileTime;
use crate::load::kind::HiveKind;
use crate::load::open::LogReplay;
use crate::load::HiveFile;
use crate::patch::PatchAssessment;
use crate::rules::cbs::FoundBy;
use crate::rules::{Finding, NotEvaluated};
use crate::security::SecurityAssessment;
use crate::verdict::Verdict;

/// A problem with one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileError {
    pub file: String,
    pub message: String,
}

impl FileError {
    pub fn new(path: &Path, message: impl Into<String>) -> FileError {
        FileError { file: path.display().to_string(), message: message.into() }
    }
}

/// One hive file of a machine as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HiveReport {
    /// Detected from content (`SYSTEM`, `SOFTWARE`, …); for an unreadable file, the kind its
    /// name suggests, if any.
    pub kind: Option<HiveKind>,
    pub path: String,
    pub loaded: bool,
    pub dirty: Option<bool>,
    pub format_version: Option<String>,
    pub differencing: bool,
    pub last_written: Option<FileTime>,
    pub sequence_numbers: Option<[u32; 2]>,
    pub log_replay: Option<LogReplay>,
    pub warnings: Vec<String>,
}

impl HiveReport {
    pub fn from_hive(hive: &HiveFile) -> HiveReport {
        let block = &hive.base_block;
        let mut warnings = hive.warnings.clone();
        if hive.is_stale() && !warnings.iter().any(|w| w.contains("may be missing")) {
            warnings.push("dirty hive and no transaction log was applied: recent changes may be missing".into());
        }
        HiveReport {
            kind: Some(hive.kind()),
            path: hive.path.display().to_string(),
            loaded: true,
            dirty: Some(block.is_dirty()),
            format_version: Some(block.format_version()),
            differencing: block.is_differencing(),
            last_written: Some(block.last_written),
            sequence_numbers: Some([block.primary_sequence, block.secondary_sequence]),
            log_replay: hive.log_replay.clone(),
            warnings,
        }
    }

    pub fn unreadable(path: &Path, name_kind: Option<HiveKind>) -> HiveReport {
        HiveReport {
            kind: name_kind,
            path: path.display().to_string(),
            loaded: false,
            dirty: None,
            format_version: None,
            differencing: false,
            last_written: None,
            sequence_numbers: None,
            log_replay: None,
            warnings: Vec::new(),
        }
    }
}

/// An input file with its size and (with `--hash`) SHA-256.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    pub path: String,
    pub role: String,
    pub size: Option<u64>,
    pub sha256: Option<String>,
}

/// Which updates wait for the reboot.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PendingUpdates {
    /// CBS packages in Install Pending, Uninstall Pending or Partially Installed.
    pub packages: Vec<PendingPackage>,
    /// Update GUIDs under WindowsUpdate `Auto Update\RebootRequired` (memory hives only).
    pub reboot_required_updates: Vec<String>,
    /// How `packages` were found: `PackagesPending`, `RebootPending`,
    /// `PackagesPending+RebootPending` (CBS's records, each package checked) or `full walk`;
    /// `null` when they were not looked for (`--packages auto` with no servicing indicator,
    /// `--packages never`, no SOFTWARE or no `Packages` key).
    pub found_by: Option<FoundBy>,
    /// Why that way, in words (what the records named, or why every package was read).
    pub found_by_detail: Option<String>,
    /// Package keys whose state was read, and how many `Packages` holds.
    pub packages_read: Option<usize>,
    pub packages_total: Option<usize>,
}

/// Everything reported about one machine. The JSON form of this struct is the stable output
/// contract documented in the README.
#[derive(Debug, Clone, Serialize)]
pub struct MachineReport {
    pub machine: String,
    /// The folder holding the machine's hive files (for a disk image, the image path and the
    /// folder on the volume): tells apart two machines with the same label from two cases.
    pub source: String,
    /// The disk container the machine was read from (E01, VHDX, VMDK, VHD) and what it says
    /// about itself: case metadata, stored hashes, a replayed log; `None` otherwise.
    pub container: Option<ContainerFacts>,
    pub snapshot: Option<String>,
    pub computer_name: Option<String>,
    /// An earlier machine of the same run with the same computer name and install date (the
    /// same machine collected twice), by label; set by the run, not by the scan of one machine.
    pub duplicate_of: Option<String>,
    pub verdict: Verdict,
    pub verdict_reason: Option<String>,
    /// The time the evidence describes: the newest of the hives' last-written times and the
    /// last shutdown.
    pub evidence_time: Option<FileTime>,
    /// The oldest key last-write among the findings that decide the verdict: the reboot has
    /// been waiting at least since then.
    pub pending_since: Option<FileTime>,
    /// Whole days from `pending_since` to `evidence_time`.
    pub pending_days: Option<i64>,
    pub control_set: Option<String>,
    pub control_set_source: Option<String>,
    pub control_sets: Option<ControlSetChoice>,
    pub context: MachineContext,
    /// Patch level: cumulative update, how far behind, end of servicing (needs SOFTWARE).
    pub patch: Option<PatchAssessment>,
    /// Missing security fixes: the CVEs fixed by updates the machine lacks, KEV-listed ones
    /// apart (needs SOFTWARE; see [`crate::security`]).
    pub security: Option<SecurityAssessment>,
    pub hives: Vec<HiveReport>,
    pub findings: Vec<Finding>,
    pub pending_updates: PendingUpdates,
    pub not_evaluated: Vec<NotEvaluated>,
    pub errors: Vec<FileError>,
    pub inputs: Vec<InputFile>,
}

impl MachineReport {
    /// Sets `pending_since` and `pending_days` from the findings that decide the verdict.
    pub fn date_pending(&mut self) {
        self.pending_since = self
            .findings
            .iter()
            .filter(|f| f.strength.decides())
            .filter_map(|f| f.last_write)
            .filter(|t| t.to_datetime().is_some())
            .min();
        self.pending_days = match (self.evidence_time, self.pending_since) {
            (Some(now), Some(since)) => Some(now.days_since(since).max(0)),
            _ => None,
        };
    }

    /// Gives every pending package its KB when any source knows it: the package name
    /// (`Package_for_KB5034441~…`), a finding that names the package with its KB (the pending
    /// cumulative update rule), or, for a RollupFix package, the patch table's release for its
    /// servicing build and UBR. The package name stays as stored.
    pub fn name_package_kbs(&mut self) {
        let line = self.patch.as_ref().and_then(|p| p.product_line);
        let current_build = self.context.os.current_build;
        for package in &mut self.pending_updates.packages {
            if package.kb.is_some() {
                continue;
            }
            let name = package.package.as_str();
            package.kb = crate::context::cbs::kb_from_package_name(name)
                .or_else(|| {
                    self.findings.iter().find_map(|f| match &f.data {
                        crate::rules::data::FindingData::CumulativeUpdatePending(update) => {
                            update.package.eq_ignore_ascii_case(name).then(|| update.kb.clone()).flatten()
                        }
                        _ => None,
                    })
                })
                .or_else(|| {
                    let (servicing_build, ubr) = crate::patch::parse_rollup_name(name)?;
                    crate::patch::find_by_servicing_build(line, servicing_build, ubr, current_build)
                        .map(|(_, release)| release.kb_name())
                });
        }
    }

    /// The finding that weighs most (strongest, then catalogue order).
    /// The rules not evaluated because they live in volatile keys, which no hive saved from
    /// disk holds: the reports put them on one line.
    pub fn volatile_rules(&self) -> Vec<&'static str> {
        self.not_evaluated
            .iter()
            .filter(|n| n.reason == crate::rules::NotEvaluatedReason::Volatile)
            .map(|n| n.rule.as_str())
            .collect()
    }

    pub fn strongest_finding(&self) -> Option<&Finding> {
        self.findings.iter().rev().max_by_key(|f| f.strength)
    }

    /// Every given input was read and every lookup succeeded.
    pub fn fully_analysed(&self) -> bool {
        self.errors.is_empty()
    }
}
