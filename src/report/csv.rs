//! CSV views: one row per machine, and one row per finding. Columns are documented in the
//! README; quoting is the csv crate's, so every row has the header's width.

use std::io::Write;

use crate::report::MachineReport;
use crate::rules::pfro::OperationClass;

pub const MACHINE_COLUMNS: &[&str] = &[
    "machine",
    "source",
    "snapshot",
    "computer_name",
    "duplicate_of",
    "verdict",
    "verdict_reason",
    "strongest_rule",
    "strongest_strength",
    "evidence_time",
    "pending_since",
    "pending_days",
    "rules_fired",
    "pfro_operations",
    "pfro_deletes",
    "pfro_windows_system",
    "pfro_program_files",
    "pfro_user_profile",
    "pfro_temp_cleanup",
    "pfro_other",
    "pending_packages",
    "control_set",
    "hives",
    "dirty_hives",
    "log_status",
    "os_build",
    "patch_kb",
    "patch_date",
    "monthly_updates_behind",
    "days_behind",
    "servicing_status",
    "pending_cumulative_update",
    "missing_cves",
    "missing_critical",
    "exploited_missing",
    "oldest_missing_fix",
    "windows_setup",
    "last_shutdown",
    "not_evaluated",
    "errors",
    "container",
    "case_number",
    "evidence_number",
    "stored_md5",
    "stored_sha1",
];

pub const FINDING_COLUMNS: &[&str] =
    &["machine", "computer_name", "rule", "strength", "hive", "hive_path", "key", "value", "last_write", "summary"];

fn pfro_count(report: &MachineReport, class: Option<OperationClass>) -> usize {
    report
        .findings
        .iter()
        .filter(|f| {
            f.rule.rule().check == crate::rules::Check::PendingFileRenames
                && f.strength != crate::rules::Strength::Context
        })
        .map(|f| match class {
            None => f.data.pending_renames().map_or(0, |r| r.operations.len()),
            Some(class) => f.data.pending_renames().and_then(|r| r.counts.get(class.label()).copied()).unwrap_or(0),
        })
        .sum()
}

/// The PFRO operations that delete a file (empty target), over the values that count.
fn pfro_deletes(report: &MachineReport) -> usize {
    report
        .findings
        .iter()
        .filter(|f| {
            (f.rule.rule().check == crate::rules::Check::PendingFileRenames)
                && f.strength != crate::rules::Strength::Context
        })
        .filter_map(|f| f.data.pending_renames())
        .flat_map(|r| &r.operations)
        .filter(|o| o.operation.op == crate::load::pending_renames::OperationKind::Delete)
        .count()
}

fn log_status(report: &MachineReport) -> String {
    let mut parts = Vec::new();
    for hive in report.hives.iter().filter(|h| h.dirty == Some(true)) {
        let kind = hive.kind.map(|k| k.label()).unwrap_or("?");
        let state = match &hive.log_replay {
            Some(replay) if replay.applied => "recovered from logs",
            Some(replay) if replay.logs_found.is_empty() => "dirty, no logs",
            Some(_) => "dirty, logs not applied",
            None => "dirty",
        };
        let missing = match &hive.log_replay {
            Some(replay) if !replay.log_set.complete && !replay.log_set.found.is_empty() => {
                format!(" ({} missing)", replay.log_set.missing.join(", "))
            }
            _ => String::new(),
        };
        parts.push(format!("{kind}: {state}{missing}"));
    }
    parts.join("; ")
}

/// `generalized_image: specialize_and_oobe`, `upgrade`, …; empty when setup is complete.
fn windows_setup(report: &MachineReport) -> String {
    let setup = &report.context.windows_setup;
    let Some(stage) = setup.stage else { return String::new() };
    let stage = serde_json::to_value(stage).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    if setup.generalized {
        format!("generalized_image: {stage}")
    } else {
        stage
    }
}

/// The machine row, in `MACHINE_COLUMNS` order.
pub fn machine_row(report: &MachineReport) -> Vec<String> {
    let strongest = report.strongest_finding();
    let patch = report.patch.as_ref();
    // Empty when not assessed (no SOFTWARE, product or patch level unknown), never a false 0.
    let security = report.security.as_ref().filter(|s| s.status == crate::security::SecurityStatus::Assessed);
    let mut fired: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    fired.dedup();
    let time = |t: Option<crate::load::filetime::FileTime>| t.and_then(|t| t.to_rfc3339()).unwrap_or_default();
    let container = report.container.as_ref();
    let acquisition = container.and_then(|c| c.acquisition.as_ref());
    let hashes = container.and_then(|c| c.stored_hashes.as_ref());
    vec![
        report.machine.clone(),
        report.source.clone(),
        report.snapshot.clone().unwrap_or_default(),
        report.computer_name.clone().unwrap_or_default(),
        report.duplicate_of.clone().unwrap_or_default(),
        report.verdict.label().to_string(),
        report.verdict_reason.clone().unwrap_or_default(),
        strongest.map(|f| f.rule.to_string()).unwrap_or_default(),
        strongest.map(|f| f.strength.label().to_string()).unwrap_or_default(),
        time(report.evidence_time),
        time(report.pending_since),
        report.pending_days.map(|d| d.to_string()).unwrap_or_default(),
        fired.join(" "),
        pfro_count(report, None).to_string(),
        pfro_deletes(report).to_string(),
        pfro_count(report, Some(OperationClass::WindowsSystem)).to_string(),
        pfro_count(report, Some(OperationClass::ProgramFiles)).to_string(),
        pfro_count(report, Some(OperationClass::UserProfile)).to_string(),
        pfro_count(report, Some(OperationClass::TempCleanup)).to_string(),
        pfro_count(report, Some(OperationClass::Other)).to_string(),
        report.pending_updates.packages.iter().map(|p| p.label()).collect::<Vec<_>>().join("; "),
        report.control_set.clone().unwrap_or_default(),
        report.hives.iter().filter_map(|h| h.kind.map(|k| k.label())).collect::<Vec<_>>().join(" "),
        report
            .hives
            .iter()
            .filter(|h| h.dirty == Some(true))
            .filter_map(|h| h.kind.map(|k| k.label()))
            .collect::<Vec<_>>()
            .join(" "),
        log_status(report),
        report.context.os.build_string().unwrap_or_default(),
        patch.and_then(|p| p.kb()).unwrap_or_default().to_string(),
        patch.and_then(|p| p.released()).map(|d| d.to_string()).unwrap_or_default(),
        patch.and_then(|p| p.monthly_updates_behind).map(|n| n.to_string()).unwrap_or_default(),
        patch.and_then(|p| p.days_behind).map(|n| n.to_string()).unwrap_or_default(),
        patch.map(|p| p.servicing_label()).unwrap_or_default(),
        patch
            .and_then(|p| p.pending_rollup.as_ref())
            .map(|r| r.update.as_ref().map(|u| u.kb.clone()).unwrap_or_else(|| r.package_build.clone()))
            .unwrap_or_default(),
        security.map(|s| s.missing_cves.to_string()).unwrap_or_default(),
        security.map(|s| s.by_severity.critical.to_string()).unwrap_or_default(),
        security.map(|s| s.exploited_missing.join(" ")).unwrap_or_default(),
        security.map(|s| s.oldest_missing_fix_label()).unwrap_or_default(),
        windows_setup(report),
        report.context.last_shutdown.and_then(|t| t.to_rfc3339()).unwrap_or_default(),
        // Volatile rules are "not observable" in every hive saved from disk: the README says
        // so once instead of every row repeating it. Machine-specific reasons stay.
        report
            .not_evaluated
            .iter()
            .filter(|n| n.reason != crate::rules::NotEvaluatedReason::Volatile)
            .map(|n| format!("{}:{}", n.rule, n.reason.label()))
            .collect::<Vec<_>>()
            .join(" "),
        report.errors.iter().map(|e| format!("{}: {}", e.file, e.message)).collect::<Vec<_>>().join(" | "),
        container.map(|c| c.format.clone()).unwrap_or_default(),
        acquisition.and_then(|a| a.case_number.clone()).unwrap_or_default(),
        acquisition.and_then(|a| a.evidence_number.clone()).unwrap_or_default(),
        hashes.and_then(|h| h.md5.clone()).unwrap_or_default(),
        hashes.and_then(|h| h.sha1.clone()).unwrap_or_default(),
    ]
}

/// One row per finding, in `FINDING_COLUMNS` order.
pub fn finding_rows(report: &MachineReport) -> Vec<Vec<String>> {
    report
        .findings
        .iter()
        .map(|f| {
            vec![
                report.machine.clone(),
                report.computer_name.clone().unwrap_or_default(),
                f.rule.to_string(),
                f.strength.label().to_string(),
                f.hive.label().to_string(),
                f.hive_path.clone(),
                f.key.clone(),
                f.value.clone().unwrap_or_default(),
                f.last_write.and_then(|t| t.to_rfc3339()).unwrap_or_default(),
                f.summary.clone(),
            ]
        })
        .collect()
}

/// A CSV writer over any output, header first.
pub fn writer<W: Write>(out: W, columns: &[&str]) -> csv::Result<csv::Writer<W>> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(columns)?;
    Ok(writer)
}
