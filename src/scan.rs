//! Scanning one machine end to end: load its hives, run the rules, decide the verdict. One
//! broken hive never loses the rest of the machine, and one broken machine never stops a run.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::discover::MachineSpec;
use crate::load::kind::HiveKind;
use crate::load::{HiveFile, LoadError, LoadOptions};
use crate::report::{FileError, HiveReport, InputFile, MachineReport, PendingUpdates};
use crate::rules::{self, HiveSlot, MachineHives, RuleOptions};
use crate::verdict;

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub load: LoadOptions,
    pub rules: RuleOptions,
    /// Report the SHA-256 of every input file (reads every byte of every hive and log).
    pub hash: bool,
}

/// SHA-256 of a file, streamed (never the whole file in memory).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn input_file(path: &Path, role: &str, options: &ScanOptions, errors: &mut Vec<FileError>) -> InputFile {
    let size = std::fs::metadata(path).map(|m| m.len()).ok();
    let sha256 = if options.hash {
        match sha256_file(path) {
            Ok(hash) => Some(hash),
            Err(error) => {
                errors.push(FileError::new(path, format!("cannot hash the file: {error}")));
                None
            }
        }
    } else {
        None
    };
    InputFile { path: path.display().to_string(), role: role.to_string(), size, sha256 }
}

/// Scans one machine. Never panics on bad input and never fails: problems become `errors`.
pub fn scan_machine(spec: &MachineSpec, options: &ScanOptions) -> MachineReport {
    if let Some(volume) = &spec.image {
        return scan_image_volume(spec, volume, options);
    }
    let mut errors = Vec::new();
    let mut inputs = Vec::new();
    let mut loaded = Vec::new();
    for path in &spec.hives {
        inputs.push(input_file(path, "hive", options, &mut errors));
        let result = HiveFile::open(path, options.load);
        if let Ok(hive) = &result {
            for log in hive.log_replay.iter().flat_map(|r| &r.logs_found) {
                inputs.push(input_file(log, "transaction log", options, &mut errors));
            }
        }
        loaded.push((path.clone(), result));
    }
    let mut report = assess(&spec.label, spec.snapshot.clone(), loaded, &options.rules);
    report.inputs = inputs;
    errors.append(&mut report.errors);
    report.errors = errors;
    report
}

/// A Windows volume in a disk image: the hives and logs come out of NTFS into the same
/// `assess` as hive files; then the files behind pending renames are looked up on the volume.
fn scan_image_volume(spec: &MachineSpec, volume: &crate::image::ImageVolume, options: &ScanOptions) -> MachineReport {
    let mut opened = crate::image::open_volume(volume, options.load, options.hash);
    let loaded = std::mem::take(&mut opened.loaded);
    let mut report = assess(&spec.label, spec.snapshot.clone(), loaded, &options.rules);
    opened.annotate(&mut report.findings);
    report.inputs = std::mem::take(&mut opened.inputs);
    let mut errors = std::mem::take(&mut opened.errors);
    errors.append(&mut report.errors);
    report.errors = errors;
    report
}

/// Runs the rules and the verdict over hives that were already loaded (or failed to load).
pub fn assess(
    label: &str,
    snapshot: Option<String>,
    loaded: Vec<(PathBuf, Result<HiveFile, LoadError>)>,
    rule_options: &RuleOptions,
) -> MachineReport {
    let mut errors = Vec::new();
    let mut hive_reports = Vec::new();
    let mut hives_read: Vec<HiveFile> = Vec::new();
    let mut unreadable_kinds: Vec<HiveKind> = Vec::new();
    for (path, result) in loaded {
        match result {
            Ok(hive) => hives_read.push(hive),
            Err(error) => {
                let name_kind = path.file_name().and_then(|n| HiveKind::from_file_name(&n.to_string_lossy()));
                if let Some(kind) = name_kind {
                    unreadable_kinds.push(kind);
                }
                hive_reports.push(HiveReport::unreadable(&path, name_kind));
                errors.push(FileError::new(&path, error_without_path(&error.to_string(), &path)));
            }
        }
    }

    let mut used: Vec<&HiveFile> = Vec::new();
    for hive in &hives_read {
        let mut report = HiveReport::from_hive(hive);
        let kind = hive.kind();
        let name_kind = hive.path.file_name().and_then(|n| HiveKind::from_file_name(&n.to_string_lossy()));
        if let Some(named) = name_kind.filter(|&named| named != kind) {
            report.warnings.push(format!(
                "wrong hive kind: named like a {} hive, but its content is a {} hive ({}); give this machine's {} from Windows\\System32\\config",
                named.label(),
                kind.label(),
                hive.kind.evidence,
                named.label()
            ));
        }
        match kind {
            HiveKind::System | HiveKind::Software | HiveKind::Components => {
                if let Some(first) = used.iter().find(|h| h.kind() == kind) {
                    report.warnings.push(format!(
                        "a second {} hive for this machine: not used, {} is",
                        kind.label(),
                        first.path.display()
                    ));
                } else {
                    used.push(hive);
                }
            }
            other => report.warnings.push(format!(
                "{} hive: no pending-reboot indicator lives here, so it is not evaluated",
                other.label()
            )),
        }
        hive_reports.push(report);
    }

    let slot = |kind: HiveKind| match used.iter().find(|h| h.kind() == kind) {
        Some(hive) => HiveSlot::Loaded(hive),
        None if unreadable_kinds.contains(&kind) => HiveSlot::Unreadable,
        None => HiveSlot::Missing,
    };
    let hives = MachineHives {
        system: slot(HiveKind::System),
        software: slot(HiveKind::Software),
        components: slot(HiveKind::Components),
    };
    let evidence = rules::evaluate(&hives, rule_options);
    let (verdict, verdict_reason) = verdict::decide(&hives, &evidence);
    errors.extend(
        evidence.errors.iter().map(|(file, message)| FileError { file: file.clone(), message: message.clone() }),
    );

    MachineReport {
        machine: label.to_string(),
        snapshot,
        computer_name: evidence.context.computer_name.clone(),
        verdict,
        verdict_reason,
        control_set: evidence.control_set.as_ref().and_then(|c| c.name.clone()),
        control_set_source: evidence.control_set.as_ref().and_then(|c| c.source.clone()),
        control_sets: evidence.control_set.clone(),
        context: evidence.context,
        patch: evidence.patch,
        hives: hive_reports,
        findings: evidence.findings,
        pending_updates: PendingUpdates {
            packages: evidence.pending_packages,
            reboot_required_updates: evidence.reboot_required_updates,
        },
        not_evaluated: evidence.not_evaluated,
        errors,
        inputs: Vec::new(),
    }
}

/// Load errors already start with the file's path; the report names the file separately.
fn error_without_path(message: &str, path: &Path) -> String {
    let prefix = format!("{}: ", path.display());
    message.strip_prefix(&prefix).unwrap_or(message).to_string()
}
