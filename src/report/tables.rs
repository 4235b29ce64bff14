//! Run-wide tables built from the machine reports as they stream past (never held in memory):
//! one row per pending file operation, and a timeline of every timestamp the run knows in a
//! form Timesketch imports as it is. Also the duplicate index behind `duplicate_of`.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{json, Map, Value};

use crate::load::filetime::FileTime;
use crate::report::MachineReport;

/// Columns of `--operations-csv`, one row per pending file operation.
pub const OPERATION_COLUMNS: &[&str] = &[
    "machine",
    "computer_name",
    "value",
    "key",
    "strength",
    "index",
    "op",
    "source",
    "target",
    "class",
    "replace_existing",
    "source_path",
    "target_path",
    "current_file",
    "current_version",
    "staged_file",
    "staged_version",
];

/// The operation rows of one machine, in `OPERATION_COLUMNS` order (every PFRO finding,
/// context ones from other control sets included: their `strength` says so).
pub fn operation_rows(report: &MachineReport) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for finding in report.findings.iter().filter(|f| f.rule.rule().check == crate::rules::Check::PendingFileRenames) {
        let Some(renames) = finding.data.pending_renames() else { continue };
        for pending in &renames.operations {
            let operation = &pending.operation;
            let files = pending.on_volume.as_ref();
            rows.push(vec![
                report.machine.clone(),
                report.computer_name.clone().unwrap_or_default(),
                finding.value.clone().unwrap_or_default(),
                finding.key.clone(),
                finding.strength.label().to_string(),
                operation.index.to_string(),
                operation.op.label().to_string(),
                operation.source.clone(),
                operation.target.clone().unwrap_or_default(),
                pending.class.label().to_string(),
                operation.replace_existing.to_string(),
                operation.source_path.clone(),
                operation.target_path.clone().unwrap_or_default(),
                files.map(|f| f.current.status.label().to_string()).unwrap_or_default(),
                files.and_then(|f| f.current.version.clone()).unwrap_or_default(),
                files.map(|f| f.staged.status.label().to_string()).unwrap_or_default(),
                files.and_then(|f| f.staged.version.clone()).unwrap_or_default(),
            ]);
        }
    }
    rows
}

/// One event of the timeline.
#[derive(Debug, Clone)]
pub struct TimelineEvent {
    pub time: FileTime,
    /// Timesketch's `timestamp_desc`: what the time means.
    pub description: &'static str,
    pub message: String,
    /// Extra fields (strings), beside `machine`, `computer_name` and `verdict`.
    pub fields: Vec<(&'static str, String)>,
}

/// Every timestamp one machine's report knows, oldest first: each finding's key last-write,
/// each hive's and transaction log's last-written time, the last shutdown, the install date, and
/// the release of the oldest missing security fix.
pub fn timeline_events(report: &MachineReport) -> Vec<TimelineEvent> {
    let mut events = Vec::new();
    let label = &report.machine;
    for finding in &report.findings {
        let Some(time) = finding.last_write.filter(|t| t.to_datetime().is_some()) else { continue };
        let value = finding.value.as_deref().map(|v| format!(" : {v}")).unwrap_or_default();
        events.push(TimelineEvent {
            time,
            description: "Key Last Written",
            message: format!(
                "{label}: [{}] {} {}\\{}{value} ({})",
                finding.strength.label(),
                finding.rule,
                finding.hive.label(),
                finding.key,
                finding.summary
            ),
            fields: vec![
                ("rule", finding.rule.to_string()),
                ("strength", finding.strength.label().to_string()),
                ("hive", finding.hive.label().to_string()),
                ("file", finding.hive_path.clone()),
                ("key", finding.key.clone()),
                ("value", finding.value.clone().unwrap_or_default()),
            ],
        });
    }
    for hive in &report.hives {
        let kind = hive.kind.map(|k| k.label()).unwrap_or("hive");
        if let Some(time) = hive.last_written.filter(|t| t.to_datetime().is_some()) {
            events.push(TimelineEvent {
                time,
                description: "Hive Last Written",
                message: format!("{label}: {kind} hive last written ({})", hive.path),
                fields: vec![("hive", kind.to_string()), ("file", hive.path.clone())],
            });
        }
        let Some(replay) = &hive.log_replay else { continue };
        for log in replay.report.iter().flat_map(|r| &r.logs) {
            let Some(time) = log.last_written.filter(|t| t.to_datetime().is_some()) else { continue };
            events.push(TimelineEvent {
                time,
                description: "Transaction Log Last Written",
                message: format!(
                    "{label}: {kind} transaction log {} last written; {} entries replayed{}",
                    log.name,
                    log.entries_applied,
                    if replay.applied { "" } else { " (the hive is read without its logs)" }
                ),
                fields: vec![("hive", kind.to_string()), ("file", log.name.clone())],
            });
        }
    }
    if let Some(time) = report.context.last_shutdown.filter(|t| t.to_datetime().is_some()) {
        events.push(TimelineEvent {
            time,
            description: "Last Shutdown",
            message: format!("{label}: last clean shutdown recorded (Control\\Windows\\ShutdownTime)"),
            fields: vec![("hive", "SYSTEM".into())],
        });
    }
    if let Some(time) = report.context.os.install_date.as_deref().and_then(FileTime::parse_rfc3339) {
        events.push(TimelineEvent {
            time,
            description: "Install Date",
            message: format!("{label}: Windows installed (CurrentVersion\\InstallDate)"),
            fields: vec![("hive", "SOFTWARE".into())],
        });
    }
    // Missing security fixes (when the machine was assessed): dated by the release of the
    // oldest fix the machine lacks, the day it started missing security updates.
    if let Some(security) = report.security.as_ref().filter(|s| s.status == crate::security::SecurityStatus::Assessed) {
        let oldest = security.oldest_missing_fix.as_ref();
        let time = oldest
            .and_then(|fix| fix.released)
            .and_then(|date| FileTime::parse_rfc3339(&format!("{date}T00:00:00Z")))
            .filter(|t| t.to_datetime().is_some());
        if let (Some(time), Some(fix)) = (time, oldest) {
            events.push(TimelineEvent {
                time,
                description: "Oldest Missing Security Fix Released",
                message: format!(
                    "{label}: {} released, the oldest security update the machine lacks; {} CVEs missing as of {}, {} known exploited (KEV)",
                    fix.kb,
                    security.missing_cves,
                    security.as_of,
                    security.exploited_missing.len()
                ),
                fields: vec![
                    ("kb", fix.kb.clone()),
                    ("missing_cves", security.missing_cves.to_string()),
                    ("exploited_missing", security.exploited_missing.len().to_string()),
                ],
            });
        }
    }
    events.sort_by_key(|e| e.time);
    events
}

/// `--timeline` formats: Timesketch imports both as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimelineFormat {
    Csv,
    Jsonl,
}

impl TimelineFormat {
    /// JSONL for `.jsonl`/`.json` files, CSV otherwise.
    pub fn for_path(path: &std::path::Path) -> TimelineFormat {
        match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()) {
            Some(ext) if ext == "jsonl" || ext == "json" => TimelineFormat::Jsonl,
            _ => TimelineFormat::Csv,
        }
    }
}

/// Timeline columns: Timesketch's three required ones, its optional `timestamp`
/// (microseconds since 1970), then the fields.
pub const TIMELINE_COLUMNS: &[&str] = &[
    "message",
    "datetime",
    "timestamp_desc",
    "timestamp",
    "machine",
    "computer_name",
    "verdict",
    "source",
    "rule",
    "strength",
    "hive",
    "file",
    "key",
    "value",
    "kb",
    "missing_cves",
    "exploited_missing",
];

/// Streams timeline events, one machine at a time.
pub struct TimelineWriter<W: Write> {
    inner: TimelineInner<W>,
    /// Leave CSV cells that look like formulas as they are (`--csv-raw`).
    csv_raw: bool,
}

enum TimelineInner<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(W),
}

impl<W: Write> TimelineWriter<W> {
    pub fn new(format: TimelineFormat, out: W) -> io::Result<TimelineWriter<W>> {
        let inner = match format {
            TimelineFormat::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(TIMELINE_COLUMNS).map_err(io::Error::other)?;
                TimelineInner::Csv(Box::new(writer))
            }
            TimelineFormat::Jsonl => TimelineInner::Jsonl(out),
        };
        Ok(TimelineWriter { inner, csv_raw: false })
    }

    /// Writes CSV cells as stored, formula-like ones included (`--csv-raw`); by default they
    /// are neutralised as in every other CSV ([`crate::report::escape::csv_cell`]).
    pub fn csv_raw(mut self, raw: bool) -> TimelineWriter<W> {
        self.csv_raw = raw;
        self
    }

    pub fn write(&mut self, report: &MachineReport) -> io::Result<()> {
        for event in timeline_events(report) {
            let Some(datetime) = event.time.to_rfc3339() else { continue };
            let micros = event.time.to_datetime().map(|t| t.unix_timestamp_nanos() / 1000).unwrap_or_default();
            let field = |name: &str| {
                event.fields.iter().find(|(key, _)| *key == name).map(|(_, value)| value.clone()).unwrap_or_default()
            };
            match &mut self.inner {
                TimelineInner::Csv(writer) => {
                    let mut row = vec![
                        event.message.clone(),
                        datetime,
                        event.description.to_string(),
                        micros.to_string(),
                        report.machine.clone(),
                        report.computer_name.clone().unwrap_or_default(),
                        report.verdict.label().to_string(),
                        report.source.clone(),
                    ];
                    row.extend(TIMELINE_COLUMNS[8..].iter().map(|name| field(name)));
                    writer.write_record(crate::report::escape::csv_row(row, self.csv_raw)).map_err(io::Error::other)?;
                }
                TimelineInner::Jsonl(out) => {
                    let mut object = Map::new();
                    object.insert("message".into(), json!(event.message));
                    object.insert("datetime".into(), json!(datetime));
                    object.insert("timestamp_desc".into(), json!(event.description));
                    object.insert("timestamp".into(), json!(micros as i64));
                    object.insert("machine".into(), json!(report.machine));
                    object.insert("computer_name".into(), json!(report.computer_name));
                    object.insert("verdict".into(), json!(report.verdict.label()));
                    object.insert("source".into(), json!(report.source));
                    for (key, value) in &event.fields {
                        object.insert((*key).into(), json!(value));
                    }
                    serde_json::to_writer(&mut *out, &Value::Object(object))?;
                    out.write_all(b"\n")?;
                }
            }
        }
        Ok(())
    }

    pub fn finish(self) -> io::Result<W> {
        let mut out = match self.inner {
            TimelineInner::Csv(writer) => writer.into_inner().map_err(|e| io::Error::other(e.to_string()))?,
            TimelineInner::Jsonl(out) => out,
        };
        out.flush()?;
        Ok(out)
    }
}

/// Remembers each machine's computer name and install date, to mark a later machine of the
/// run with the same pair as `duplicate_of` the first (the same machine collected twice, e.g.
/// by KAPE and by Velociraptor). RegBack snapshots are backups, not duplicates.
#[derive(Debug, Default)]
pub struct DuplicateIndex {
    first: HashMap<(String, String), String>,
}

impl DuplicateIndex {
    /// What identifies a machine across collections: its computer name (compared
    /// case-insensitively, as Windows does) and its install date. `None` for a RegBack
    /// snapshot (a backup, not a duplicate) or when either is unknown.
    pub fn key(report: &MachineReport) -> Option<(String, String)> {
        if report.snapshot.is_some() {
            return None;
        }
        let (Some(name), Some(installed)) = (&report.computer_name, &report.context.os.install_date) else {
            return None;
        };
        Some((name.to_lowercase(), installed.clone()))
    }

    /// Sets `duplicate_of` when an earlier machine of the run had the same key.
    pub fn mark(&mut self, report: &mut MachineReport) {
        if let Some(key) = DuplicateIndex::key(report) {
            report.duplicate_of = self.first_of(key, &report.machine);
        }
    }

    /// The label of the first machine seen with `key`, or `None` (and `label` is remembered)
    /// when this is the first. For callers that hold a machine's key and label but no longer
    /// its report, such as the Python binding's fleet client.
    pub fn first_of(&mut self, key: (String, String), label: &str) -> Option<String> {
        match self.first.get(&key) {
            Some(first) => Some(first.clone()),
            None => {
                self.first.insert(key, label.to_string());
                None
            }
        }
    }
}
