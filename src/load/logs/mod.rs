//! Transaction-log replay: bring a dirty hive up to date from its `.LOG`/`.LOG1`/`.LOG2`
//! files, in memory, before nt-hive reads it.
//!
//! Since Windows 8.1 a registry flush is complete once the data is in a log; the primary file
//! may be written up to an hour later. A hive copied off a running or crashed machine is
//! therefore often "dirty" (bad base-block checksum, or primary and secondary sequence numbers
//! that differ), and the most recent changes — typically exactly the reboot-pending markers —
//! exist only in the logs.
//!
//! Why this is written by hand: nt-hive has no log support at all, and notatin (the only Rust
//! crate that replays logs) handles only the new "HvLE" format, not the old "DIRT" format of
//! Windows NT to 8, orders logs without sequence wrap-around, and reads whole files. The
//! algorithm follows Suhanov's "Windows registry file format specification" (sections
//! "Format of transaction log files", "Dirty state of a hive", "Multiple transaction log
//! files") with the choices our reference validated against Windows' own recovery:
//! wrap-aware sequence comparison, a log is eligible when it starts at or after the primary's
//! secondary sequence number, the second log is chained only when it continues the first, and
//! replay stops at the first bad entry.
//!
//! Nothing here touches a file: [`recover`] takes bytes and returns a private copy, so the
//! evidence is never modified. Every size read from a log is bounded before it is used (see
//! [`RecoveryReport::hive_bins_limit`]); damaged logs degrade the report, they never panic.

mod new_format;
mod old_format;

pub mod marvin32;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::load::base_block::{
    self, offsets, BaseBlock, FileType, BASE_BLOCK_SIZE, HBIN_ALIGNMENT, LOG_BASE_BLOCK_SIZE,
};
use crate::load::filetime::FileTime;

/// Hard ceiling for a recovered hive's hive-bins area, whatever the logs claim.
const MAX_HIVE_BINS_SIZE: u64 = 2 * 1024 * 1024 * 1024;
/// Where the first hive bin's header keeps its copy of the last-written timestamp.
const FIRST_BIN_TIMESTAMP: usize = BASE_BLOCK_SIZE + 20;
/// Flag bit 0 of the base block (hive locked by KTM); new-format entries carry its value.
const FLAG_KTM_LOCKED: u32 = 1;

/// One candidate log file found beside a hive. The caller reads it; zero-byte logs are normal.
pub struct LogInput<'a> {
    /// File name for reports, e.g. `SYSTEM.LOG1`.
    pub name: String,
    pub bytes: &'a [u8],
}

/// The result of [`recover`] for a dirty hive.
#[derive(Clone)]
pub struct Recovered {
    /// The recovered hive (fixed-up base block followed by hive bins), or `None` when no log
    /// could be used: then read the stale primary, and show the report's warnings.
    pub bytes: Option<Vec<u8>>,
    pub report: RecoveryReport,
}

impl fmt::Debug for Recovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recovered")
            .field("bytes", &self.bytes.as_ref().map(|bytes| bytes.len()))
            .field("report", &self.report)
            .finish()
    }
}

/// Why no usable hive can come out of the primary and its logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryError {
    #[error("the primary file is only {len} bytes, too short to hold a base block")]
    PrimaryTooShort { len: usize },
    #[error(
        "the primary file does not start with a registry base block and no transaction log \
         supplies a valid copy of one"
    )]
    NoUsableBaseBlock,
}

/// What kind of file a log turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// "HvLE" log entries (Windows 8.1 and later).
    New,
    /// "DIRT" bitmap and dirty pages (Windows NT to 8).
    Old,
    /// Zero bytes (an unused log).
    Empty,
    /// Not a transaction log at all.
    Invalid,
}

/// What happened to one log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LogStatus {
    /// Everything in the log that continues the hive's history was applied.
    Applied,
    /// Replay stopped at a damaged or inconsistent entry; the entries before it were applied.
    PartiallyApplied { stopped: StopReason },
    /// Nothing from this log was used.
    Skipped { reason: SkipReason },
}

/// Why a log was not used at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SkipReason {
    #[error("empty (0 bytes), as unused logs normally are")]
    Empty,
    #[error("not a transaction log: {problem}")]
    NotALog { problem: String },
    #[error("its base block is damaged (checksum stored {stored:#010x}, computed {computed:#010x})")]
    BadChecksum { stored: u32, computed: u32 },
    #[error(
        "its base block's sequence numbers differ ({primary} != {secondary}): the log itself \
         was not completely written"
    )]
    SequenceMismatch { primary: u32, secondary: u32 },
    #[error(
        "stale: it starts at sequence number {log_sequence}, before the primary's \
         {primary_secondary}, so its changes are already in the primary"
    )]
    Stale { log_sequence: u32, primary_secondary: u32 },
    #[error(
        "it starts at sequence number {found} but {expected} was needed next: it does not \
         continue the replay"
    )]
    SequenceGap { expected: u32, found: u32 },
    #[error("superseded by {by}, which was used instead")]
    Superseded { by: String },
    #[error("new-format logs are present and take precedence over this old-format log")]
    OtherFormatUsed,
    #[error(
        "its last-written time {log} differs from the primary's {primary}: it belongs to \
         another write"
    )]
    TimestampMismatch { log: FileTime, primary: FileTime },
    #[error(
        "its last-written time {log} is older than the first hive bin's {first_bin}: it \
         belongs to an earlier write"
    )]
    OlderThanHive { log: FileTime, first_bin: FileTime },
    #[error("it holds no log entry that continues the hive's history")]
    NoEntries,
    #[error("its hive-bins size {size} is not a positive multiple of 4096")]
    BadHiveBinsSize { size: u32 },
    #[error(
        "it claims a hive of {claimed} bytes, larger than the {limit}-byte bound (primary plus \
         all logs offered, at most 2 GiB)"
    )]
    HiveTooLarge { claimed: u64, limit: u64 },
    #[error("no \"DIRT\" dirty-page bitmap at offset 512")]
    NoDirtyVector,
    #[error(
        "truncated: its dirty-page bitmap and {pages} dirty pages need {needed} bytes, the \
         file has {size}"
    )]
    Truncated { pages: u64, needed: u64, size: u64 },
}

/// Why replay of a new-format log stopped before its end. Entries are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StopReason {
    #[error(
        "entry {entry} at offset {offset:#x} is truncated: it claims {size} bytes, only \
         {available} remain in the file"
    )]
    TruncatedEntry { entry: u32, offset: u64, size: u32, available: u64 },
    #[error(
        "entry {entry} at offset {offset:#x} has an invalid size of {size} bytes (not a \
         positive multiple of 512)"
    )]
    BadEntrySize { entry: u32, offset: u64, size: u32 },
    #[error(
        "bad hash at entry {entry} (header, Hash-2): the entry is damaged or was never \
         completely written"
    )]
    BadHeaderHash { entry: u32 },
    #[error(
        "bad hash at entry {entry} (page data, Hash-1): the entry is damaged or was never \
         completely written"
    )]
    BadDataHash { entry: u32 },
    #[error("sequence gap at entry {entry}: it has sequence number {found}, {expected} was expected")]
    SequenceGap { entry: u32, expected: u32, found: u32 },
    #[error("entry {entry} has an invalid hive-bins size of {size} bytes (not a positive multiple of 4096)")]
    BadHiveBinsSize { entry: u32, size: u32 },
    #[error(
        "entry {entry} claims a hive of {claimed} bytes, larger than the {limit}-byte bound \
         (primary plus all logs offered, at most 2 GiB)"
    )]
    HiveTooLarge { entry: u32, claimed: u64, limit: u64 },
    #[error("entry {entry} lists {count} dirty pages, which do not fit in its {size} bytes")]
    BadPageCount { entry: u32, count: u32, size: u32 },
    #[error(
        "entry {entry}: dirty page {page} ({size} bytes at hive-bins offset {offset:#x}) lies \
         outside the entry's {hive_bins_size}-byte hive"
    )]
    PageOutOfRange { entry: u32, page: u32, offset: u32, size: u32, hive_bins_size: u32 },
    #[error("entry {entry}: its dirty pages need {needed} bytes of data, the entry holds {available}")]
    PageDataOverrun { entry: u32, needed: u64, available: u64 },
}

/// What happened to one log offered to [`recover`].
#[derive(Debug, Clone, Serialize)]
pub struct LogReport {
    pub name: String,
    pub size: u64,
    pub format: LogFormat,
    /// Primary and secondary sequence numbers of the log's own base block.
    pub sequence_numbers: Option<[u32; 2]>,
    /// Last-written time in the log's own base block.
    pub last_written: Option<FileTime>,
    /// Serialised inline: `"status": "skipped", "reason": {"kind": "stale", …}`.
    #[serde(flatten)]
    pub status: LogStatus,
    /// New format: log entries applied.
    pub entries_applied: u32,
    /// Dirty pages written into the hive (new format: page references; old format: 512-byte
    /// pages).
    pub pages_applied: u32,
    /// New format: sequence numbers of the first and the last entry applied.
    pub sequences_applied: Option<[u32; 2]>,
}

impl LogReport {
    fn new(input: &LogInput<'_>, format: LogFormat, base_block: Option<&BaseBlock>) -> LogReport {
        LogReport {
            name: input.name.clone(),
            size: input.bytes.len() as u64,
            format,
            sequence_numbers: base_block.map(|b| [b.primary_sequence, b.secondary_sequence]),
            last_written: base_block.map(|b| b.last_written),
            status: LogStatus::Skipped { reason: SkipReason::NoEntries },
            entries_applied: 0,
            pages_applied: 0,
            sequences_applied: None,
        }
    }

    fn skip(&mut self, reason: SkipReason) {
        self.status = LogStatus::Skipped { reason };
    }

    fn was_used(&self) -> bool {
        !matches!(self.status, LogStatus::Skipped { .. })
    }

    /// One line, e.g. `SYSTEM.LOG2: applied 3 entries (seq 3 to 5)`.
    pub fn describe(&self) -> String {
        let applied = match (self.format, self.sequences_applied) {
            (LogFormat::New, Some([first, last])) => {
                format!("{} (seq {first} to {last})", plural(self.entries_applied, "entry"))
            }
            (LogFormat::New, None) => "no entries".to_string(),
            _ => plural(self.pages_applied, "page"),
        };
        match &self.status {
            LogStatus::Applied => format!("{}: applied {applied}", self.name),
            LogStatus::PartiallyApplied { stopped } => {
                format!("{}: applied {applied}, then stopped: {stopped}", self.name)
            }
            LogStatus::Skipped { reason } => format!("{}: not used: {reason}", self.name),
        }
    }
}

/// Everything [`recover`] did for one dirty hive, for the report and the JSON output.
#[derive(Debug, Clone, Serialize)]
pub struct RecoveryReport {
    /// Sequence numbers of the primary's base block (they differ in a dirty hive).
    pub primary_sequence: u32,
    pub secondary_sequence: u32,
    /// False when the primary's base block has a bad checksum (or no "regf" signature).
    pub base_block_valid: bool,
    /// One entry per log offered, in the order offered.
    pub logs: Vec<LogReport>,
    /// The log format that was replayed, if any.
    pub format_used: Option<LogFormat>,
    /// True when the recovered bytes differ from the primary (something was applied).
    pub applied: bool,
    /// Name of the log whose base-block copy replaced the primary's invalid base block.
    pub base_block_from_log: Option<String>,
    pub entries_applied: u32,
    pub pages_applied: u32,
    /// Sequence number written into the recovered base block.
    pub sequence_reached: Option<u32>,
    pub hive_bins_size_before: u32,
    pub hive_bins_size_after: u32,
    /// Largest hive-bins size a log may claim: the primary file plus every log offered,
    /// rounded up to 4096, at most 2 GiB. Larger claims are hostile or corrupt.
    pub hive_bins_limit: u64,
    /// Plain-English caveats, e.g. that recent changes may be missing.
    pub warnings: Vec<String>,
}

impl RecoveryReport {
    /// Why the hive counts as dirty, e.g. `seq 4317/4316` or `bad base-block checksum`.
    pub fn dirty_reason(&self) -> String {
        let sequences = format!("seq {}/{}", self.primary_sequence, self.secondary_sequence);
        match (self.base_block_valid, self.primary_sequence == self.secondary_sequence) {
            (true, _) => sequences,
            (false, true) => "bad base-block checksum".to_string(),
            (false, false) => format!("bad base-block checksum, {sequences}"),
        }
    }

    /// One line, e.g. `dirty (seq 3/2); replayed 4 entries from X.LOG1, X.LOG2; now at seq 5`.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!("dirty ({})", self.dirty_reason())];
        if !self.applied {
            parts.push(if self.logs.is_empty() {
                "no transaction log: reading the stale primary".to_string()
            } else {
                format!("no usable transaction log among {}: reading the stale primary", self.logs.len())
            });
            return parts.join("; ");
        }
        if let Some(name) = &self.base_block_from_log {
            parts.push(format!("base block taken from {name}"));
        }
        let used: Vec<&str> = self
            .logs
            .iter()
            .filter(|log| log.was_used() && (log.entries_applied > 0 || log.pages_applied > 0))
            .map(|log| log.name.as_str())
            .collect();
        let replayed = match self.format_used {
            Some(LogFormat::New) => plural(self.entries_applied, "entry"),
            _ => plural(self.pages_applied, "page"),
        };
        if !used.is_empty() {
            parts.push(format!("replayed {replayed} from {}", used.join(", ")));
        }
        if let Some(sequence) = self.sequence_reached {
            parts.push(format!("now at seq {sequence}"));
        }
        if self.hive_bins_size_after != self.hive_bins_size_before {
            parts.push(format!("hive bins {} -> {} bytes", self.hive_bins_size_before, self.hive_bins_size_after));
        }
        parts.join("; ")
    }
}

fn plural(count: u32, noun: &str) -> String {
    match (count, noun) {
        (1, _) => format!("1 {noun}"),
        (_, "entry") => format!("{count} entries"),
        _ => format!("{count} {noun}s"),
    }
}

/// Replays the transaction logs of a dirty hive into a private copy.
///
/// Returns `Ok(None)` when the primary is not dirty (checksum fine, sequence numbers equal):
/// Windows ignores the logs then, and so do we — the caller reads the primary as it is,
/// without any copy. For a dirty hive the [`Recovered`] report says what was applied or why
/// nothing was; its `bytes` are `Some` only when something was applied. The inputs are never
/// modified.
pub fn recover(primary: &[u8], logs: &[LogInput<'_>]) -> Result<Option<Recovered>, RecoveryError> {
    let state = PrimaryState::read(primary)?;
    if !state.is_dirty() {
        return Ok(None);
    }
    let hive_bins_limit = hive_bins_limit(primary.len(), logs);
    let mut reports = Vec::with_capacity(logs.len());
    let mut new_logs = Vec::new();
    let mut old_logs = Vec::new();
    for (index, input) in logs.iter().enumerate() {
        let (report, candidate) = examine_log(index, input);
        reports.push(report);
        match candidate {
            Some(Candidate { format: LogFormat::New, log }) => new_logs.push(log),
            Some(Candidate { log, .. }) => old_logs.push(log),
            None => {}
        }
    }
    // Deterministic tie-breaks whatever order the caller found the files in.
    let by_name = |a: &LogFile<'_>, b: &LogFile<'_>| a.name.cmp(b.name).then(a.index.cmp(&b.index));
    new_logs.sort_by(by_name);
    old_logs.sort_by(by_name);

    let mut target = Target::new(primary, hive_bins_limit);
    let replayed = if !new_logs.is_empty() {
        for log in &old_logs {
            reports[log.index].skip(SkipReason::OtherFormatUsed);
        }
        new_format::recover(&state, &new_logs, &mut target, &mut reports)
    } else {
        old_format::recover(&state, &old_logs, &mut target, &mut reports)
    };

    let mut report = RecoveryReport {
        primary_sequence: state.primary_sequence,
        secondary_sequence: state.secondary_sequence,
        base_block_valid: state.base_block_valid,
        format_used: None,
        applied: false,
        base_block_from_log: None,
        entries_applied: reports.iter().map(|log| log.entries_applied).sum(),
        pages_applied: reports.iter().map(|log| log.pages_applied).sum(),
        sequence_reached: None,
        hive_bins_size_before: state.hive_bins_size,
        hive_bins_size_after: state.hive_bins_size,
        hive_bins_limit,
        warnings: Vec::new(),
        logs: Vec::new(),
    };
    let mut caveats = Vec::new();
    let bytes = match replayed {
        Some(replayed) => {
            caveats.extend(replayed.caveat.clone());
            report.applied = true;
            report.format_used = Some(replayed.format);
            report.base_block_from_log = replayed.base_block_from.map(|index| reports[index].name.clone());
            report.sequence_reached = Some(replayed.sequence);
            report.hive_bins_size_after = replayed.hive_bins_size;
            target.finish(&replayed)
        }
        None => None,
    };
    if bytes.is_none() && !state.has_signature {
        return Err(RecoveryError::NoUsableBaseBlock);
    }
    report.logs = reports;
    report.warnings = warnings(&report);
    report.warnings.extend(caveats);
    Ok(Some(Recovered { bytes, report }))
}

fn warnings(report: &RecoveryReport) -> Vec<String> {
    let mut warnings = Vec::new();
    if !report.applied {
        let why = if report.logs.is_empty() {
            "no transaction log was found beside it".to_string()
        } else {
            let reasons: Vec<String> = report.logs.iter().map(LogReport::describe).collect();
            format!("no usable transaction log ({})", reasons.join("; "))
        };
        warnings.push(format!(
            "dirty hive ({}) and {why}: the primary is read as it is, recent changes may be missing",
            report.dirty_reason()
        ));
        if !report.base_block_valid {
            warnings.push(
                "the primary's base block has a bad checksum and no log could replace it: its \
                 fields (root offset, hive-bins size) may be wrong"
                    .to_string(),
            );
        }
    }
    // (When nothing was applied, the warning above already says why each log was not used.)
    for log in report.logs.iter().filter(|_| report.applied) {
        if let LogStatus::PartiallyApplied { .. } = log.status {
            warnings.push(format!(
                "{}; changes logged after that point are missing (a log torn by a crash or an \
                 incomplete copy looks like this)",
                log.describe()
            ));
        }
    }
    warnings
}

/// The largest hive-bins size any log may claim. A log can grow a hive, but every new byte
/// of hive bins has to be carried by the log itself, so the primary's length plus all logs is
/// a safe upper bound that keeps hostile size fields from forcing huge allocations.
fn hive_bins_limit(primary_len: usize, logs: &[LogInput<'_>]) -> u64 {
    let total = logs.iter().fold(primary_len.saturating_sub(BASE_BLOCK_SIZE) as u64, |sum, log| {
        sum.saturating_add(log.bytes.len() as u64)
    });
    let alignment = u64::from(HBIN_ALIGNMENT);
    let rounded = total.div_ceil(alignment).saturating_mul(alignment);
    rounded.min(MAX_HIVE_BINS_SIZE)
}

/// What the primary's base block says, read without trusting it.
struct PrimaryState {
    has_signature: bool,
    /// Signature and checksum both correct.
    base_block_valid: bool,
    primary_sequence: u32,
    secondary_sequence: u32,
    last_written: FileTime,
    hive_bins_size: u32,
    /// The backup copy of the last-written time in the first hive bin's header, when there is
    /// a readable first hive bin.
    first_bin_timestamp: Option<FileTime>,
}

impl PrimaryState {
    fn read(primary: &[u8]) -> Result<PrimaryState, RecoveryError> {
        if primary.len() < LOG_BASE_BLOCK_SIZE {
            return Err(RecoveryError::PrimaryTooShort { len: primary.len() });
        }
        let has_signature = primary.starts_with(base_block::SIGNATURE);
        let checksum_ok = read_u32(primary, offsets::CHECKSUM) == Some(base_block::checksum(primary));
        let first_bin_timestamp = match primary.get(BASE_BLOCK_SIZE..BASE_BLOCK_SIZE + 4) {
            Some(b"hbin") => read_u64(primary, FIRST_BIN_TIMESTAMP).map(FileTime::from_u64),
            _ => None,
        };
        let field = |offset| read_u32(primary, offset).unwrap_or(0);
        Ok(PrimaryState {
            has_signature,
            base_block_valid: has_signature && checksum_ok,
            primary_sequence: field(offsets::PRIMARY_SEQUENCE),
            secondary_sequence: field(offsets::SECONDARY_SEQUENCE),
            last_written: FileTime::from_u64(read_u64(primary, offsets::LAST_WRITTEN).unwrap_or(0)),
            hive_bins_size: field(offsets::HIVE_BINS_SIZE),
            first_bin_timestamp,
        })
    }

    fn is_dirty(&self) -> bool {
        !self.base_block_valid || self.primary_sequence != self.secondary_sequence
    }
}

/// A log whose own base block is valid, ready for one of the two replay algorithms.
struct LogFile<'a> {
    /// Position in the caller's list, which is also the index of its report.
    index: usize,
    name: &'a str,
    bytes: &'a [u8],
    /// The log's base-block sequence number (primary and secondary are equal in a valid one).
    sequence: u32,
    last_written: FileTime,
    hive_bins_size: u32,
    flags: u32,
}

struct Candidate<'a> {
    format: LogFormat,
    log: LogFile<'a>,
}

/// Reads a log's base block and decides whether the log can take part in recovery.
fn examine_log<'a>(index: usize, input: &'a LogInput<'a>) -> (LogReport, Option<Candidate<'a>>) {
    let header = match BaseBlock::parse(input.bytes) {
        Ok(header) => header,
        Err(base_block::BaseBlockError::Empty) => {
            let mut report = LogReport::new(input, LogFormat::Empty, None);
            report.skip(SkipReason::Empty);
            return (report, None);
        }
        Err(problem) => {
            let mut report = LogReport::new(input, LogFormat::Invalid, None);
            report.skip(SkipReason::NotALog { problem: problem.to_string() });
            return (report, None);
        }
    };
    let format = match header.file_type {
        FileType::NewLog => LogFormat::New,
        FileType::OldLog | FileType::OldLogNt => LogFormat::Old,
        FileType::Primary | FileType::Unknown(_) => LogFormat::Invalid,
    };
    let mut report = LogReport::new(input, format, Some(&header));
    if format == LogFormat::Invalid {
        report.skip(SkipReason::NotALog {
            problem: format!("its base block says it is a {}", header.file_type.describe()),
        });
        return (report, None);
    }
    if !header.checksum_ok() {
        report.skip(SkipReason::BadChecksum { stored: header.stored_checksum, computed: header.computed_checksum });
        return (report, None);
    }
    if !header.sequences_match() {
        report.skip(SkipReason::SequenceMismatch {
            primary: header.primary_sequence,
            secondary: header.secondary_sequence,
        });
        return (report, None);
    }
    let log = LogFile {
        index,
        name: &input.name,
        bytes: input.bytes,
        sequence: header.primary_sequence,
        last_written: header.last_written,
        hive_bins_size: header.hive_bins_size,
        flags: header.flags,
    };
    (report, Some(Candidate { format, log }))
}

/// What a replay algorithm achieved; `None` from it means nothing was applied.
struct Replayed {
    format: LogFormat,
    /// Report index of the log whose base block replaced the primary's.
    base_block_from: Option<usize>,
    /// Sequence number the recovered base block gets.
    sequence: u32,
    hive_bins_size: u32,
    /// New format: flag bit 0 of the last entry applied (old logs carry no flags).
    ktm_locked: Option<bool>,
    /// A doubt about the replay worth a warning.
    caveat: Option<String>,
}

/// The private copy of the primary that logs are applied to, created on first write so that
/// a dirty hive without usable logs costs no copy.
struct Target<'p> {
    primary: &'p [u8],
    copy: Option<Vec<u8>>,
    hive_bins_limit: u64,
}

/// A hive-bins size beyond [`Target::hive_bins_limit`].
struct TooLarge {
    limit: u64,
}

impl<'p> Target<'p> {
    fn new(primary: &'p [u8], hive_bins_limit: u64) -> Target<'p> {
        Target { primary, copy: None, hive_bins_limit }
    }

    fn copy(&mut self) -> &mut Vec<u8> {
        self.copy.get_or_insert_with(|| self.primary.to_vec())
    }

    /// Checks a claimed hive-bins size against the bound, before anything is allocated.
    fn check_size(&self, hive_bins_size: u32) -> Result<(), TooLarge> {
        if u64::from(hive_bins_size) > self.hive_bins_limit {
            return Err(TooLarge { limit: self.hive_bins_limit });
        }
        Ok(())
    }

    /// Makes the copy long enough for `hive_bins_size` bytes of hive bins (zero-filled).
    fn grow_to(&mut self, hive_bins_size: u32) -> Result<(), TooLarge> {
        self.check_size(hive_bins_size)?;
        let too_large = TooLarge { limit: self.hive_bins_limit };
        let needed =
            usize::try_from(hive_bins_size).ok().and_then(|size| size.checked_add(BASE_BLOCK_SIZE)).ok_or(too_large)?;
        let copy = self.copy();
        if copy.len() < needed {
            copy.resize(needed, 0);
        }
        Ok(())
    }

    /// Replaces the first 512 bytes of the base block with a log's copy.
    fn write_base_block(&mut self, log: &[u8]) {
        if let (Some(source), Some(destination)) =
            (log.get(..LOG_BASE_BLOCK_SIZE), self.copy().get_mut(..LOG_BASE_BLOCK_SIZE))
        {
            destination.copy_from_slice(source);
        }
    }

    /// Writes `data` at `offset` into the hive bins. Callers grow the copy first; a write
    /// beyond it returns false instead of panicking.
    fn write_hive_bins(&mut self, offset: u64, data: &[u8]) -> bool {
        let range = usize::try_from(offset)
            .ok()
            .and_then(|offset| offset.checked_add(BASE_BLOCK_SIZE))
            .and_then(|start| Some(start..start.checked_add(data.len())?));
        match range.and_then(|range| self.copy().get_mut(range)) {
            Some(destination) => {
                destination.copy_from_slice(data);
                true
            }
            None => false,
        }
    }

    /// Fixes the base block so that it describes the recovered state and passes nt-hive's
    /// validation, and hands out the bytes.
    fn finish(mut self, replayed: &Replayed) -> Option<Vec<u8>> {
        self.grow_to(replayed.hive_bins_size).ok()?;
        let copy = self.copy.as_mut()?;
        let block = copy.get_mut(..BASE_BLOCK_SIZE)?;
        write_u32(block, offsets::PRIMARY_SEQUENCE, replayed.sequence);
        write_u32(block, offsets::SECONDARY_SEQUENCE, replayed.sequence);
        write_u32(block, offsets::FILE_TYPE, 0);
        write_u32(block, offsets::HIVE_BINS_SIZE, replayed.hive_bins_size);
        if let Some(locked) = replayed.ktm_locked {
            let flags = read_u32(block, offsets::FLAGS).unwrap_or(0) & !FLAG_KTM_LOCKED;
            write_u32(block, offsets::FLAGS, flags | u32::from(locked));
        }
        base_block::store_checksum(block);
        self.copy
    }
}

fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    let word = bytes.get(offset..offset.checked_add(8)?)?;
    Some(u64::from_le_bytes(word.try_into().ok()?))
}

fn write_u32(bytes: &mut [u8], offset: usize, value: u32) {
    if let Some(word) = offset.checked_add(4).and_then(|end| bytes.get_mut(offset..end)) {
        word.copy_from_slice(&value.to_le_bytes());
    }
}

/// `a` is at or after `b` in sequence-number order, allowing for wrap-around at 2^32: the
/// distance forward from `b` to `a` is less than half the number space.
fn sequence_at_or_after(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) <= i32::MAX as u32
}

/// The transaction logs beside a hive: `<name>.LOG`, `<name>.LOG1` and `<name>.LOG2`, where
/// `<name>` is the hive's file name or, for a copy such as `SYSTEM.hiv`, its stem. Matching
/// ignores case (copies made by case-preserving tools keep `SYSTEM` beside `system.log1`).
/// Sorted by name, case-insensitively, so that `.LOG` < `.LOG1` < `.LOG2`.
///
/// Like discovery, only regular files are taken: a symbolic link (which could lead to a file
/// outside the evidence) or any other kind of file named like a log is refused with a warning.
pub fn find_logs(hive_path: &Path) -> std::io::Result<LogsBeside> {
    let mut beside = LogsBeside::default();
    let Some(file_name) = hive_path.file_name() else {
        return Ok(beside);
    };
    let file_name = file_name.to_string_lossy().to_lowercase();
    let mut bases = vec![file_name.clone()];
    if let Some((stem, _extension)) = file_name.rsplit_once('.') {
        if !stem.is_empty() {
            bases.push(stem.to_string());
        }
    }
    let directory = match hive_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    for entry in std::fs::read_dir(directory)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        let is_log = bases.iter().any(|base| {
            name.strip_prefix(base.as_str()).is_some_and(|suffix| matches!(suffix, ".log" | ".log1" | ".log2"))
        });
        if !is_log || name == file_name {
            continue;
        }
        // `file_type` does not follow links (unlike `Path::is_file`).
        let file_type = entry.file_type()?;
        if file_type.is_file() {
            beside.found.push(entry.path());
        } else {
            let what = if file_type.is_symlink() {
                "a symbolic link (not followed, so evidence outside the tree is never read)"
            } else {
                "not a regular file"
            };
            beside.refused.push(format!("transaction log {} not read: {what}", entry.path().display()));
        }
    }
    beside.found.sort_by_cached_key(|path| {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        (name.to_lowercase(), name)
    });
    beside.refused.sort();
    Ok(beside)
}

/// The transaction logs beside a hive: the regular files taken, and warnings for the files
/// named like logs that were refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogsBeside {
    pub found: Vec<PathBuf>,
    pub refused: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_comparison_wraps() {
        assert!(sequence_at_or_after(5, 5));
        assert!(sequence_at_or_after(6, 5));
        assert!(!sequence_at_or_after(4, 5));
        assert!(sequence_at_or_after(2, u32::MAX - 1));
        assert!(!sequence_at_or_after(u32::MAX - 1, 2));
    }

    #[test]
    fn limit_is_primary_plus_logs_rounded_up() {
        let log = [0u8; 100];
        let logs = [LogInput { name: "a.LOG1".into(), bytes: &log }];
        assert_eq!(hive_bins_limit(4096 + 8192, &logs), 12288);
        assert_eq!(hive_bins_limit(100, &[]), 0);
    }

    #[test]
    fn short_primary_is_an_error() {
        assert_eq!(recover(&[0u8; 100], &[]).unwrap_err(), RecoveryError::PrimaryTooShort { len: 100 });
    }

    #[test]
    fn find_logs_matches_any_case_and_stems() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["SYSTEM", "system.log1", "SYSTEM.LOG2", "SYSTEM.LOG", "SYSTEM.sav", "SOFTWARE.LOG1"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let names = |paths: Vec<PathBuf>| -> Vec<String> {
            paths.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
        };
        let found = names(find_logs(&dir.path().join("SYSTEM")).unwrap().found);
        assert_eq!(found, ["SYSTEM.LOG", "system.log1", "SYSTEM.LOG2"]);
        std::fs::write(dir.path().join("copy.hiv"), b"").unwrap();
        std::fs::write(dir.path().join("COPY.LOG1"), b"").unwrap();
        std::fs::write(dir.path().join("copy.hiv.LOG2"), b"").unwrap();
        let found = names(find_logs(&dir.path().join("copy.hiv")).unwrap().found);
        assert_eq!(found, ["copy.hiv.LOG2", "COPY.LOG1"]);
    }

    #[cfg(unix)]
    #[test]
    fn find_logs_refuses_links_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("SYSTEM"), b"").unwrap();
        std::fs::write(dir.path().join("SYSTEM.LOG2"), b"").unwrap();
        std::fs::write(outside.path().join("elsewhere"), b"").unwrap();
        std::os::unix::fs::symlink(outside.path().join("elsewhere"), dir.path().join("SYSTEM.LOG1")).unwrap();
        std::fs::create_dir(dir.path().join("SYSTEM.LOG")).unwrap();
        let beside = find_logs(&dir.path().join("SYSTEM")).unwrap();
        assert_eq!(beside.found, [dir.path().join("SYSTEM.LOG2")]);
        assert_eq!(beside.refused.len(), 2, "{:?}", beside.refused);
        assert!(beside.refused[0].contains("SYSTEM.LOG not read: not a regular file"), "{:?}", beside.refused);
        assert!(beside.refused[1].contains("SYSTEM.LOG1 not read: a symbolic link"), "{:?}", beside.refused);
    }
}
