//! The human report: verdict first, then the evidence, then what could not be checked.

use std::fmt::Write as _;

use crate::image::facts::ContainerFacts;
use crate::report::escape::{self, EscapedLines};
use crate::report::MachineReport;
use crate::rules::data::{FileStatus, PendingOperation};
use crate::rules::NotEvaluatedReason;
use crate::verdict::Verdict;

/// Operations of a PendingFileRenameOperations finding listed in text; JSON has them all.
const OPERATIONS_SHOWN: usize = 12;

fn operation_line(pending: &PendingOperation) -> String {
    let operation = &pending.operation;
    let op = operation.op.label();
    let source = &operation.source_path;
    let class = pending.class.label();
    match &operation.target_path {
        Some(target) => {
            let replace = if operation.replace_existing { " (replace existing)" } else { "" };
            format!("{op} {source} -> {target}{replace}  [{class}]")
        }
        None => format!("{op} {source}  [{class}]"),
    }
}

/// For machines read from a disk image: what the rename does to the file's version, e.g.
/// `System32\clbcatq.dll: 2001.12.4414.42 now, 2001.12.4414.46 after reboot`.
fn staged_line(pending: &PendingOperation) -> Option<String> {
    let files = pending.on_volume.as_ref()?;
    let (staged, current) = (&files.staged, &files.current);
    // Named as the Windows Update write-up does (`system32\clbcatq.dll`): the full path is on
    // the line above.
    let full = pending.operation.target_path.as_deref().unwrap_or("?");
    let target = full.get(3..).filter(|_| full.get(1..3) == Some(":\\")).map_or(full, |rest| {
        rest.get(..8).filter(|w| w.eq_ignore_ascii_case("windows\\")).and_then(|_| rest.get(8..)).unwrap_or(rest)
    });
    if staged.status == FileStatus::NotChecked {
        return Some(format!("{target}: not looked up ({})", staged.detail.as_deref().unwrap_or("?")));
    }
    let now = match (&current.version, current.status, &current.detail) {
        (Some(version), _, _) => version.as_str(),
        (None, FileStatus::Missing, _) => "no file",
        (None, _, Some(detail)) => detail.as_str(),
        (None, status, None) => status.label(),
    };
    match (staged.status, &staged.version, &staged.detail) {
        (FileStatus::Missing, _, _) => Some(format!(
            "{target}: {now} now; the staged file is missing (already moved or cleaned up, or a stale entry)"
        )),
        (_, Some(after), _) => Some(format!("{target}: {now} now, {after} after reboot")),
        (status, None, detail) => {
            Some(format!("{target}: {now} now; staged file: {}", detail.as_deref().unwrap_or(status.label())))
        }
    }
}

/// How text is decorated: ANSI colour only for a terminal without `NO_COLOR`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    /// The verdict word, upper case, coloured by verdict when colour is on.
    pub fn verdict(self, verdict: Verdict) -> String {
        let word = verdict.label().to_uppercase();
        if !self.colour {
            return word;
        }
        let code = match verdict {
            Verdict::Pending => "1;31",
            Verdict::Unknown => "1;33",
            Verdict::NotPending => "32",
        };
        format!("\x1b[{code}m{word}\x1b[0m")
    }
}

/// Renders one machine.
/// Every line goes through [`EscapedLines`]: a control character that came from evidence
/// (a computer name holding `ESC[2J`, a path with a newline) is written visibly.
pub fn render(report: &MachineReport) -> String {
    render_styled(report, Style::default())
}

/// Renders one machine: verdict first, then the evidence, then what could not be checked.
pub fn render_styled(report: &MachineReport, style: Style) -> String {
    let mut out = EscapedLines::default();
    let name = report.computer_name.as_deref().map(|n| format!("  ({n})")).unwrap_or_default();
    let _ = writeln!(out, "== {}{}", report.machine, name);
    // The verdict word is the program's own (its colour codes must reach the terminal); the
    // rest of the line can hold evidence (a reason names hive files) and is escaped.
    out.push_trusted("verdict: ");
    out.push_trusted(&style.verdict(report.verdict));
    match (report.strongest_finding(), &report.verdict_reason) {
        (Some(f), _) if f.strength.decides() => {
            let _ = writeln!(out, " — strongest evidence: {} ({})", f.rule, f.strength.label());
        }
        (_, Some(reason)) => {
            let _ = writeln!(out, " — {reason}");
        }
        _ => {
            let _ = writeln!(out);
        }
    }
    if let Some(next_boot) = &report.context.windows_setup.next_boot {
        let _ = writeln!(out, "windows setup: {next_boot}");
    }
    if let Some(set) = &report.control_set {
        let source = report.control_set_source.as_deref().unwrap_or("?");
        let _ = writeln!(out, "control set: {set} (from {source})");
    }
    let os = &report.context.os;
    let mut os_parts = Vec::new();
    if let Some(product) = &os.product_name {
        os_parts.push(product.clone());
    }
    if let Some(build) = os.build_string() {
        os_parts.push(format!("build {build}"));
    }
    if let Some(version) = os.display_version.as_ref().or(os.release_id.as_ref()) {
        os_parts.push(format!("version {version}"));
    }
    if !os_parts.is_empty() {
        let _ = writeln!(out, "os: {}", os_parts.join(", "));
    }
    if let Some(patch) = &report.patch {
        let _ = writeln!(out, "patch: {}", patch.summary());
    }
    if let Some(security) = &report.security {
        let _ = writeln!(out, "security: {}", security.summary());
    }
    let context = &report.context;
    let mut names = Vec::new();
    if let Some(dns) = &context.dns_host_name {
        names.push(format!("DNS host name {dns}"));
    }
    if let Some(nv) = &context.nv_host_name {
        names.push(format!("next-boot DNS name {nv}"));
    }
    if let Some(shutdown) = context.last_shutdown {
        names.push(format!("last shutdown {shutdown}"));
    }
    if let Some(installed) = &os.install_date {
        names.push(format!("installed {installed}"));
    }
    if !names.is_empty() {
        let _ = writeln!(out, "context: {}", names.join("; "));
    }

    if let Some(container) = &report.container {
        container_block(&mut out, container);
    }

    let _ = writeln!(out, "hives:");
    let mut warnings_shown: Vec<String> = Vec::new();
    for hive in &report.hives {
        let kind = hive.kind.map(|k| k.label()).unwrap_or("?");
        let mut facts = Vec::new();
        if let Some(version) = &hive.format_version {
            facts.push(format!("format {version}"));
        }
        match (hive.dirty, hive.sequence_numbers) {
            (Some(true), Some([a, b])) => facts.push(format!("dirty (seq {a}/{b})")),
            (Some(false), _) => facts.push("clean".into()),
            _ => {}
        }
        if let Some(replay) = &hive.log_replay {
            if replay.applied {
                facts.push("recovered from its transaction logs".into());
            } else if replay.logs_found.is_empty() {
                facts.push("no transaction logs beside it".into());
            }
        }
        if !hive.loaded {
            facts.push("NOT READ".into());
        }
        let _ = writeln!(out, "  {kind:<10} {}  [{}]", hive.path, facts.join(", "));
        if let Some(replay) = &hive.log_replay {
            let _ = writeln!(out, "             log set: {}", replay.log_set.describe());
        }
        // A dirty hive without logs is said once: the facts above already say "no
        // transaction logs beside it", so the replay summary is shown only when logs exist.
        let replay = hive.log_replay.as_ref().filter(|r| !r.logs_found.is_empty());
        if let Some(summary) = replay.and_then(|r| r.report.as_ref()).map(|r| r.summary()) {
            let _ = writeln!(out, "             logs: {summary}");
        }
        for warning in &hive.warnings {
            if warnings_shown.iter().any(|w| w == warning) {
                continue;
            }
            warnings_shown.push(warning.clone());
            let _ = writeln!(out, "             warning: {warning}");
        }
    }

    if report.findings.is_empty() {
        let _ = writeln!(out, "findings: none");
    } else {
        let _ = writeln!(out, "findings:");
    }
    for finding in &report.findings {
        let value = finding.value.as_deref().map(|v| format!(" : {v}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "  [{}] {}  {} {}{}",
            finding.strength.label(),
            finding.rule,
            finding.hive.label(),
            finding.key,
            value
        );
        let written = finding.last_write.map(|t| format!("key last written {t}; ")).unwrap_or_default();
        let _ = writeln!(out, "      {written}{}", finding.summary);
        if let Some(renames) = finding.data.pending_renames() {
            let operations = &renames.operations;
            for operation in operations.iter().take(OPERATIONS_SHOWN) {
                let _ = writeln!(out, "        {}", operation_line(operation));
                if let Some(line) = staged_line(operation) {
                    let _ = writeln!(out, "          {line}");
                }
            }
            if operations.len() > OPERATIONS_SHOWN {
                let _ =
                    writeln!(out, "        … {} more (all are in --format json)", operations.len() - OPERATIONS_SHOWN);
            }
            for problem in &renames.malformed {
                let _ = writeln!(out, "        malformed: {problem}");
            }
        }
        for note in &finding.notes {
            let _ = writeln!(out, "      note: {note}");
        }
    }

    let updates = &report.pending_updates;
    if !updates.packages.is_empty() || !updates.reboot_required_updates.is_empty() {
        let _ = writeln!(out, "updates waiting for the reboot:");
        if let (Some(found_by), Some(detail)) = (updates.found_by, &updates.found_by_detail) {
            let _ = writeln!(out, "  packages found by {}: {}", found_by.label(), detail);
        }
        for package in &updates.packages {
            let _ = writeln!(out, "  {}  [{}]", package.label(), package.state_name);
        }
        for guid in &updates.reboot_required_updates {
            let _ = writeln!(out, "  Windows Update {guid}");
        }
    } else if let (Some(found_by), Some(detail)) = (updates.found_by, &updates.found_by_detail) {
        let _ = writeln!(out, "updates waiting for the reboot: no CBS package ({}: {})", found_by.label(), detail);
    }

    if !report.not_evaluated.is_empty() {
        let _ = writeln!(out, "not evaluated:");
        // The volatile rules cannot be seen in any hive saved from disk: one line for all.
        let volatile = report.volatile_rules();
        if !volatile.is_empty() {
            let _ = writeln!(out, "  not observable in a hive saved from disk (volatile): {}", volatile.join(", "));
        }
        // Rules sharing a reason (21 SOFTWARE rules without a SOFTWARE hive) take one line.
        let mut groups: Vec<(&str, &str, Vec<&str>)> = Vec::new();
        for item in report.not_evaluated.iter().filter(|n| n.reason != NotEvaluatedReason::Volatile) {
            match groups.iter_mut().find(|(reason, detail, _)| *reason == item.reason.label() && *detail == item.detail)
            {
                Some((_, _, rules)) => rules.push(item.rule.as_str()),
                None => groups.push((item.reason.label(), &item.detail, vec![item.rule.as_str()])),
            }
        }
        for (reason, detail, rules) in groups {
            let _ = writeln!(out, "  {} ({reason}): {detail}", rules.join(", "));
        }
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "errors:");
        for error in &report.errors {
            let _ = writeln!(out, "  {}: {}", error.file, error.message);
        }
    }
    for input in report.inputs.iter().filter(|i| i.sha256.is_some()) {
        let _ = writeln!(out, "sha256 {}  {}", input.sha256.as_deref().unwrap_or(""), input.path);
    }
    out.into_string()
}

/// What the container says about itself: a few lines, every value escaped like the rest.
fn container_block(out: &mut EscapedLines, container: &ContainerFacts) {
    for (n, (label, value)) in container.lines().into_iter().enumerate() {
        let indent = if n == 0 { "" } else { "  " };
        let _ = writeln!(out, "{indent}{label}: {value}");
    }
}

/// One machine's line of the closing summary table.
#[derive(Debug, Clone)]
pub struct SummaryRow {
    pub machine: String,
    pub verdict: Verdict,
    pub strongest: String,
    pub pending_since: String,
    pub patch: String,
    pub duplicate_of: Option<String>,
}

impl SummaryRow {
    pub fn new(report: &MachineReport) -> SummaryRow {
        let strongest = report
            .strongest_finding()
            .filter(|f| f.strength.decides())
            .map(|f| format!("{} ({})", f.rule, f.strength.label()))
            .unwrap_or_else(|| "-".into());
        let pending_since = match (report.pending_since.and_then(|t| t.to_rfc3339()), report.pending_days) {
            (Some(since), Some(days)) => format!("{} ({days} d)", since.get(..10).unwrap_or(&since)),
            (Some(since), None) => since.get(..10).unwrap_or(&since).to_string(),
            _ => "-".into(),
        };
        let patch = match &report.patch {
            Some(p) => {
                let kb = p.kb().unwrap_or(p.status.label());
                match p.monthly_updates_behind {
                    Some(0) => format!("{kb}, current"),
                    Some(n) => format!("{kb}, {n} behind"),
                    None => kb.to_string(),
                }
            }
            None => "-".into(),
        };
        SummaryRow {
            machine: report.machine.clone(),
            verdict: report.verdict,
            strongest,
            pending_since,
            patch,
            duplicate_of: report.duplicate_of.clone(),
        }
    }
}

/// The summary at the end of a run of several machines: one line per machine (pending ones
/// first, longest waiting first), counts by verdict, and what no hive from disk can show.
pub fn render_summary(rows: &[SummaryRow], style: Style) -> String {
    let mut sorted: Vec<&SummaryRow> = rows.iter().collect();
    let rank = |v: Verdict| match v {
        Verdict::Pending => 0,
        Verdict::Unknown => 1,
        Verdict::NotPending => 2,
    };
    sorted.sort_by(|a, b| rank(a.verdict).cmp(&rank(b.verdict)).then(a.pending_since.cmp(&b.pending_since)));
    let headers = ["machine", "verdict", "strongest evidence", "pending since", "patch level"];
    let cells = |row: &SummaryRow| {
        // Machine labels are folder names from the evidence: escaped like every other line.
        let machine = match &row.duplicate_of {
            Some(first) => format!("{} (= {})", escape::text(&row.machine), escape::text(first)),
            None => escape::text(&row.machine).into_owned(),
        };
        [
            machine,
            row.verdict.label().to_uppercase(),
            row.strongest.clone(),
            row.pending_since.clone(),
            row.patch.clone(),
        ]
    };
    let mut widths = headers.map(|h| h.chars().count());
    for row in &sorted {
        for (width, cell) in widths.iter_mut().zip(cells(row)) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    let _ = writeln!(
        out,
        "== summary: {} machines: {} pending, {} unknown, {} not pending",
        rows.len(),
        count(Verdict::Pending),
        count(Verdict::Unknown),
        count(Verdict::NotPending)
    );
    let line = |cells: [String; 5], verdict: Option<Verdict>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            let pad = width.saturating_sub(cell.chars().count());
            let shown = match (i, verdict) {
                (1, Some(v)) => style.verdict(v),
                _ => cell.clone(),
            };
            text.push_str(&shown);
            if i + 1 < cells.len() {
                text.push_str(&" ".repeat(pad + 2));
            }
        }
        text
    };
    let _ = writeln!(out, "{}", line(headers.map(String::from), None));
    for row in sorted {
        let _ = writeln!(out, "{}", line(cells(row), Some(row.verdict)));
    }
    let volatile: Vec<&str> = crate::rules::RULES
        .iter()
        .filter(|r| r.volatility == crate::rules::Volatility::Volatile)
        .map(|r| r.id.as_str())
        .collect();
    let _ = writeln!(
        out,
        "note: {} live in volatile keys: not observable in any hive saved from disk (listed per machine in JSON)",
        volatile.join(", ")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_asked() {
        assert_eq!(Style { colour: false }.verdict(Verdict::Pending), "PENDING");
        assert_eq!(Style { colour: true }.verdict(Verdict::Pending), "\x1b[1;31mPENDING\x1b[0m");
        assert_eq!(Style { colour: true }.verdict(Verdict::NotPending), "\x1b[32mNOT_PENDING\x1b[0m");
    }
}
