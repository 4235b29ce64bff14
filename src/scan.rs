//! Scanning one machine end to end: load its hives, run the rules, decide the verdict. One
//! broken hive never loses the rest of the machine, and one broken machine never stops a run.

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::discover::{Discovery, MachineSpec};
use crate::load::kind::HiveKind;
use crate::load::{HiveFile, LoadError, LoadOptions};
use crate::report::{FileError, HiveReport, InputFile, MachineReport, PendingUpdates};
use crate::rules::{self, HiveSlot, MachineHives, RuleOptions, UnknownRule};
use crate::security;
use crate::verdict::{self, Verdict};

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub load: LoadOptions,
    pub rules: RuleOptions,
    /// Report the SHA-256 of every input file (reads every byte of every hive and log).
    pub hash: bool,
    /// Worker threads for [`scan_all`]; `None` uses rayon's global pool (one per core).
    pub jobs: Option<usize>,
}

/// Machines scanned in parallel per batch by [`scan_all`]: reports are handed over in
/// discovery order, so the same input gives a byte-identical report, and memory is bounded by
/// the batch, not by the number of machines.
pub const BATCH: usize = 64;

/// Counts over a whole scan, for a closing summary and an exit status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanSummary {
    pub machines: usize,
    pub pending: usize,
    pub unknown: usize,
    /// Machines with at least one error (an input not read, a lookup that failed).
    pub with_errors: usize,
}

impl ScanSummary {
    fn count(&mut self, machine: &MachineReport) {
        self.machines += 1;
        match machine.verdict {
            Verdict::Pending => self.pending += 1,
            Verdict::Unknown => self.unknown += 1,
            Verdict::NotPending => {}
        }
        if !machine.fully_analysed() {
            self.with_errors += 1;
        }
    }
}

/// Why [`scan_all`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError<E> {
    /// A rule to skip names no rule; nothing was scanned.
    #[error("skip rule {0}")]
    UnknownRule(#[from] UnknownRule),
    /// The worker threads asked for could not be started; nothing was scanned.
    #[error("cannot start {jobs} worker threads: {reason}")]
    Threads { jobs: usize, reason: String },
    /// The sink refused a report (an output that cannot be written); the scan stopped there.
    #[error("{0}")]
    Sink(E),
}

/// Scans every machine of `discovery`, in parallel batches of [`BATCH`], and hands each
/// report to `sink` in discovery order. Stops at the first error of the sink.
pub fn scan_all<E>(
    discovery: &Discovery,
    options: &ScanOptions,
    sink: impl FnMut(MachineReport) -> Result<(), E>,
) -> Result<ScanSummary, ScanError<E>> {
    scan_all_with_progress(discovery, options, &|| {}, sink)
}

/// [`scan_all`], calling `progress` (from worker threads) as each machine is done, before
/// its batch reaches the sink.
pub fn scan_all_with_progress<E>(
    discovery: &Discovery,
    options: &ScanOptions,
    progress: &(dyn Fn() + Sync),
    mut sink: impl FnMut(MachineReport) -> Result<(), E>,
) -> Result<ScanSummary, ScanError<E>> {
    rules::validate_ids(&options.rules.skip)?;
    // A pool of the run's own rather than rayon's global one: a library caller (the Python
    // binding) may scan several times with different thread counts.
    let pool = match options.jobs {
        Some(jobs) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(jobs.max(1))
                .build()
                .map_err(|e| ScanError::Threads { jobs, reason: e.to_string() })?,
        ),
        None => None,
    };
    let scan_batch = |batch: &[MachineSpec]| -> Vec<MachineReport> {
        batch
            .par_iter()
            .map(|spec| {
                let report = scan_machine(spec, options);
                progress();
                report
            })
            .collect()
    };
    let mut summary = ScanSummary::default();
    for batch in discovery.machines.chunks(BATCH) {
        let reports = match &pool {
            Some(pool) => pool.install(|| scan_batch(batch)),
            None => scan_batch(batch),
        };
        for machine in reports {
            summary.count(&machine);
            sink(machine).map_err(ScanError::Sink)?;
        }
    }
    Ok(summary)
}

/// SHA-256 of a regular file, streamed (never the whole file in memory). Reads exactly the
/// size `fstat` gave when it was opened: a file that grows is not followed, one that shrinks
/// is an error.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let (file, meta) = crate::input::open_regular(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut reader = (&file).take(meta.len());
    let mut total = 0u64;
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        total += read as u64;
        hasher.update(&buffer[..read]);
    }
    if total != meta.len() {
        return Err(crate::input::changed_while_read(meta.len(), total));
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn input_file(path: &Path, role: &str, options: &ScanOptions, errors: &mut Vec<FileError>) -> InputFile {
    // The inventory of what was read, not evidence: the file was opened and read already (its
    // errors are the hive's), and an unknown size shows as none.
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
    contain_machine(spec, options, || scan_machine_unguarded(spec, options))
}

/// Runs one machine's scan: a panic inside (a bug in rebootscan, never a property of the
/// evidence, which is handled as errors) becomes that machine's report, verdict `unknown`
/// with the failure as its error, and the run goes on. Does not depend on the process's
/// panic hook (see [`crate::load::guard`]); public so that a host that drives the scan of a
/// machine its own way gets the same boundary.
pub fn contain_machine(
    spec: &MachineSpec,
    options: &ScanOptions,
    scan: impl FnOnce() -> MachineReport,
) -> MachineReport {
    match crate::load::guard::contain_reporting_location(scan) {
        Ok(report) => report,
        Err(panic) => failed_machine(spec, options, &panic),
    }
}

/// The report of a machine whose scan stopped at an internal failure: nothing it found is
/// kept (it may be half-done), every rule is listed as not evaluated, the verdict is unknown.
fn failed_machine(
    spec: &MachineSpec,
    options: &ScanOptions,
    panic: &crate::load::guard::ContainedPanic,
) -> MachineReport {
    let at = panic.location.as_ref().map(|l| format!(" at {l}")).unwrap_or_default();
    let message = format!(
        "internal failure while scanning this machine ({}{at}): a bug in rebootscan, not a property of the evidence; please report it with the hives",
        panic.message
    );
    let mut report = assess(&spec.label, spec.snapshot.clone(), Vec::new(), &options.rules);
    report.source = source_of(spec);
    report.verdict = Verdict::Unknown;
    report.verdict_reason = Some("the scan of this machine stopped at an internal failure (see errors)".into());
    for not_evaluated in &mut report.not_evaluated {
        not_evaluated.reason = crate::rules::NotEvaluatedReason::HiveUnreadable;
        not_evaluated.detail = "the scan of this machine stopped at an internal failure (see errors)".into();
    }
    let file = spec.hives.first().map_or_else(|| spec.label.clone(), |h| h.display().to_string());
    report.errors = vec![FileError { file, message }];
    report.inputs = spec
        .hives
        .iter()
        .map(|path| InputFile {
            path: path.display().to_string(),
            role: "hive".into(),
            size: spec.image.is_none().then(|| std::fs::metadata(path).ok().map(|m| m.len())).flatten(),
            sha256: None,
        })
        .collect();
    report
}

fn scan_machine_unguarded(spec: &MachineSpec, options: &ScanOptions) -> MachineReport {
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
    report.source = source_of(spec);
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
    report.source = source_of(spec);
    report.container = opened.container.take();
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
    for (file, warning) in &evidence.warnings {
        if let Some(report) = hive_reports.iter_mut().find(|report| &report.path == file) {
            report.warnings.push(warning.clone());
        }
    }
    // Measured at the evidence time unless the caller gave a date: the machine as collected.
    let security = evidence
        .patch
        .as_ref()
        .map(|patch| security::assess(&evidence.context, Some(patch), rule_options.as_of, evidence.evidence_time));
    let (mut verdict, mut verdict_reason) = verdict::decide(&hives, &evidence);
    // A file that changed under us (truncated by another process: vanished pages read as
    // zeros) makes this machine's result unreliable: an error, and the verdict is unknown.
    let mut changed: Vec<FileError> = hives_read
        .iter()
        .filter_map(|hive| hive.changed_while_read().map(|problem| FileError::new(&hive.path, problem)))
        .collect();
    if let Some(first) = changed.first() {
        verdict = crate::verdict::Verdict::Unknown;
        verdict_reason = Some(format!("{} changed while being read; scan a stable copy", first.file));
    }
    errors.append(&mut changed);
    errors.extend(
        evidence.errors.iter().map(|(file, message)| FileError { file: file.clone(), message: message.clone() }),
    );

    let mut report = MachineReport {
        machine: label.to_string(),
        source: String::new(),
        container: None,
        snapshot,
        computer_name: evidence.context.computer_name.clone(),
        duplicate_of: None,
        verdict,
        verdict_reason,
        evidence_time: evidence.evidence_time,
        pending_since: None,
        pending_days: None,
        control_set: evidence.control_set.as_ref().and_then(|c| c.name.clone()),
        control_set_source: evidence.control_set.as_ref().and_then(|c| c.source.clone()),
        control_sets: evidence.control_set.clone(),
        context: evidence.context,
        patch: evidence.patch,
        security,
        hives: hive_reports,
        findings: evidence.findings,
        pending_updates: PendingUpdates {
            packages: evidence.pending_packages,
            reboot_required_updates: evidence.reboot_required_updates,
            found_by: evidence.package_search.as_ref().map(|s| s.found_by),
            found_by_detail: evidence.package_search.as_ref().map(|s| s.detail.clone()),
            packages_read: evidence.package_search.as_ref().map(|s| s.packages_read),
            packages_total: evidence.package_search.as_ref().map(|s| s.packages_total),
        },
        not_evaluated: evidence.not_evaluated,
        errors,
        inputs: Vec::new(),
    };
    report.date_pending();
    report.name_package_kbs();
    report
}

/// The folder holding a machine's hive files.
fn source_of(spec: &MachineSpec) -> String {
    match spec.hives.first() {
        Some(hive) => hive.parent().unwrap_or(hive).display().to_string(),
        None => spec.label.clone(),
    }
}

/// Load errors already start with the file's path; the report names the file separately.
fn error_without_path(message: &str, path: &Path) -> String {
    let prefix = format!("{}: ", path.display());
    message.strip_prefix(&prefix).unwrap_or(message).to_string()
}
