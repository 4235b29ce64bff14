//! Opening a hive file read-only: memory-map clean hives, judge the base block, replay the
//! transaction logs of dirty ones into a private copy.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use memmap2::{Advice, Mmap, MmapOptions, UncheckedAdvice};
use serde::Serialize;

use crate::load::base_block::{BaseBlock, BaseBlockError, BaseBlockProblem, BASE_BLOCK_SIZE};
use crate::load::kind::{self, HiveKind, KindDetection};
use crate::load::logs;
use crate::load::reader::{HiveReader, PageHint, ReadError};
use crate::load::sigbus;

/// How to load hives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Replay `.LOG1`/`.LOG2` into dirty hives (the default). When off, the primary is read
    /// as it is on disk.
    pub replay_logs: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { replay_logs: true }
    }
}

/// Why a hive file could not be loaded at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read the file: {source}; check that it exists and that you may read it", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {reason}", path.display())]
    NotRegular { path: PathBuf, reason: String },
    #[error("{}: {source}", path.display())]
    TooLarge { path: PathBuf, source: std::io::Error },
    #[error("{}: {problem}", path.display())]
    NotAHive { path: PathBuf, problem: BaseBlockError },
    #[error("{}: {problem}", path.display())]
    Unreadable { path: PathBuf, problem: BaseBlockProblem },
    #[error("{}: {problem}", path.display())]
    Recovery { path: PathBuf, problem: logs::RecoveryError },
    #[error("{}: {problem}", path.display())]
    Corrupt { path: PathBuf, problem: ReadError },
}

impl LoadError {
    pub fn path(&self) -> &Path {
        match self {
            LoadError::Io { path, .. }
            | LoadError::NotRegular { path, .. }
            | LoadError::TooLarge { path, .. }
            | LoadError::NotAHive { path, .. }
            | LoadError::Unreadable { path, .. }
            | LoadError::Recovery { path, .. }
            | LoadError::Corrupt { path, .. } => path,
        }
    }
}

/// The bytes a hive is read from: the evidence file mapped read-only, or a private copy.
enum HiveBytes {
    Mapped(MappedHive),
    Owned(Vec<u8>),
    /// Bytes that already were in memory (extracted from an image, or a test's buffer).
    Shared(Arc<Vec<u8>>),
}

impl HiveBytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            HiveBytes::Mapped(mapped) => &mapped.map,
            HiveBytes::Owned(bytes) => bytes,
            HiveBytes::Shared(bytes) => bytes,
        }
    }
}

/// Which transaction logs a hive should have beside it, and which are there.
///
/// Windows Vista and later keep two logs, `NAME.LOG1` and `NAME.LOG2`, and write them in
/// turn; Windows XP and Server 2003 keep one, `NAME.LOG`. A set with a log missing can still
/// be replayed, but changes held only in the missing log cannot be recovered (yarp refuses
/// such a set; we replay what is there and say what was missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogSet {
    /// The log file names expected, spelled after the hive file's name.
    pub expected: Vec<String>,
    /// The log file names found (as spelled on disk).
    pub found: Vec<String>,
    /// Expected names with no file found.
    pub missing: Vec<String>,
    pub complete: bool,
}

impl LogSet {
    /// The set for a hive called `hive_name` with these log files found beside it. The old
    /// single-log layout is expected only when a `.LOG` is there and no `.LOG1`/`.LOG2`.
    pub fn new(hive_name: &str, found: &[String]) -> LogSet {
        let suffix = |name: &str| name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).unwrap_or_default();
        let suffixes: Vec<String> = found.iter().map(|name| suffix(name)).collect();
        let dual = suffixes.iter().any(|s| s == "log1" || s == "log2");
        let single = suffixes.iter().any(|s| s == "log");
        let wanted: &[&str] = if single && !dual { &["LOG"] } else { &["LOG1", "LOG2"] };
        let expected: Vec<String> = wanted.iter().map(|ext| format!("{hive_name}.{ext}")).collect();
        let missing: Vec<String> = wanted
            .iter()
            .zip(&expected)
            .filter(|(ext, _)| !suffixes.iter().any(|s| s.eq_ignore_ascii_case(ext)))
            .map(|(_, name)| name.clone())
            .collect();
        LogSet { complete: missing.is_empty(), expected, found: found.to_vec(), missing }
    }

    /// One line, e.g. `expected SYSTEM.LOG1, SYSTEM.LOG2; found SYSTEM.LOG2; incomplete: SYSTEM.LOG1 missing`.
    pub fn describe(&self) -> String {
        let found = if self.found.is_empty() { "none".to_string() } else { self.found.join(", ") };
        let mut line = format!("expected {}; found {found}", self.expected.join(", "));
        if self.found.is_empty() {
            line.push_str("; no log at all");
        } else if !self.complete {
            line.push_str(&format!("; incomplete: {} missing", self.missing.join(", ")));
        }
        line
    }
}

/// A mapped hive, registered with the SIGBUS handler for as long as it is mapped.
struct MappedHive {
    // Declared first: dropped (unregistered) before the mapping goes away.
    registration: sigbus::Registration,
    map: Mmap,
}

/// The evidence file a hive was read from, kept open to see whether it changed.
struct SourceFile {
    file: File,
    len: u64,
    modified: Option<SystemTime>,
}

/// What happened to a dirty hive's transaction logs.
#[derive(Debug, Clone, Serialize)]
pub struct LogReplay {
    /// Log files found beside the hive.
    pub logs_found: Vec<PathBuf>,
    /// The logs expected beside the hive, found and missing.
    pub log_set: LogSet,
    /// The replay report (what was applied, what was skipped and why); `None` when replay
    /// was switched off.
    pub report: Option<logs::RecoveryReport>,
    /// True when the hive is read as recovered from the logs.
    pub applied: bool,
}

/// One loaded hive: its judged base block, its kind, and read access to its cells.
pub struct HiveFile {
    pub path: PathBuf,
    pub file_size: u64,
    /// Base block of the file on disk (before any log replay).
    pub base_block: BaseBlock,
    pub kind: KindDetection,
    /// Present for dirty hives.
    pub log_replay: Option<LogReplay>,
    /// Plain-English caveats about this hive (dirty without logs, delta hive, …).
    pub warnings: Vec<String>,
    bytes: HiveBytes,
    /// The primary file as opened (`None` for bytes that were already in memory).
    source: Option<SourceFile>,
}

impl std::fmt::Debug for HiveFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HiveFile").field("path", &self.path).field("kind", &self.kind.kind).finish()
    }
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io { path: path.to_path_buf(), source }
}

/// An open failure: a non-regular file gets its own plain reason.
fn open_error(path: &Path, source: std::io::Error) -> LoadError {
    if source.kind() == std::io::ErrorKind::InvalidInput {
        LoadError::NotRegular { path: path.to_path_buf(), reason: source.to_string() }
    } else {
        LoadError::Io { path: path.to_path_buf(), source }
    }
}

/// Largest hive-bins area mapped for a hive whose base block cannot be trusted (dirty): the
/// same bound log replay uses.
const MAX_UNTRUSTED_HIVE_BINS: u64 = 2 * 1024 * 1024 * 1024;

/// How much of the file is mapped: what the base block says the hive needs (never the whole
/// of an 8 GiB file whose hive is 8 KiB), and never more than the file holds.
fn needed_len(head: &[u8], file_len: u64) -> u64 {
    let declared = match BaseBlock::parse(head) {
        Ok(block) if block.checksum_ok() => u64::from(block.hive_bins_size),
        _ => MAX_UNTRUSTED_HIVE_BINS,
    };
    file_len.min(BASE_BLOCK_SIZE as u64 + declared)
}

/// Maps the first `len` bytes of the file; falls back to reading them when mapping is not
/// possible (some network file systems), with the memory reserved fallibly first.
fn map_or_read(file: &File, path: &Path, len: u64) -> Result<HiveBytes, LoadError> {
    let map_len = usize::try_from(len)
        .map_err(|_| LoadError::TooLarge { path: path.to_path_buf(), source: crate::input::too_large(len) })?;
    // SAFETY: the mapping is read-only and private to this process. If the file is truncated
    // underneath us, the SIGBUS handler of `sigbus` replaces vanished pages with zeros and the
    // hive is reported as changed while being read.
    match unsafe { MmapOptions::new().len(map_len).map(file) } {
        Ok(map) => {
            // Without this the kernel reads megabytes around every page fault; with it a cold
            // lookup in a 100 MB hive touches a few dozen pages. A refused hint changes only
            // speed, never what is read: its result is not evidence.
            let _ = map.advise(Advice::Random);
            let registration = sigbus::register(map.as_ptr(), map.len());
            Ok(HiveBytes::Mapped(MappedHive { registration, map }))
        }
        Err(_) => match crate::input::read_exact_len(file, len) {
            Ok(bytes) => Ok(HiveBytes::Owned(bytes)),
            Err(source) if source.kind() == std::io::ErrorKind::OutOfMemory => {
                Err(LoadError::TooLarge { path: path.to_path_buf(), source })
            }
            Err(source) => Err(LoadError::Io { path: path.to_path_buf(), source }),
        },
    }
}

fn read_logs(paths: &[PathBuf]) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let mut logs = Vec::new();
    let mut warnings = Vec::new();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let read = crate::input::open_regular(path).and_then(|(file, meta)| {
            // No log is larger than the hive-bins bound plus its header pages.
            if meta.len() > 2 * MAX_UNTRUSTED_HIVE_BINS {
                return Err(crate::input::too_large(meta.len()));
            }
            crate::input::read_exact_len(&file, meta.len())
        });
        match read {
            Ok(bytes) => logs.push((name, bytes)),
            Err(error) => warnings.push(format!("transaction log {} could not be read: {error}", path.display())),
        }
    }
    (logs, warnings)
}

/// The base block (or as much of the first 4096 bytes as the file has), read with `pread`.
fn read_base_block(file: &File, file_len: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut head = vec![0u8; BASE_BLOCK_SIZE.min(usize::try_from(file_len).unwrap_or(BASE_BLOCK_SIZE))];
    let mut filled = 0;
    while filled < head.len() {
        let read = file.read_at(&mut head[filled..], filled as u64)?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    head.truncate(filled);
    Ok(head)
}

impl HiveFile {
    /// Opens `path` read-only and prepares it for reading: memory-mapped, with the
    /// `.LOG`/`.LOG1`/`.LOG2` files beside it replayed if it is dirty. Never writes to a file.
    pub fn open(path: &Path, options: LoadOptions) -> Result<HiveFile, LoadError> {
        let (file, meta) = crate::input::open_regular(path).map_err(|e| open_error(path, e))?;
        let file_size = meta.len();
        if file_size == 0 {
            return Err(LoadError::NotAHive { path: path.to_path_buf(), problem: BaseBlockError::Empty });
        }
        let head = read_base_block(&file, file_size).map_err(io_error(path))?;
        let bytes = map_or_read(&file, path, needed_len(&head, file_size))?;
        // A file system without modification times gives `None` both now and at the end of the
        // read (`changed_while_read`), so the size and the mapping checks still apply.
        let source = SourceFile { file, len: file_size, modified: meta.modified().ok() };
        // Logs are looked for only when needed: most hives are clean.
        let find_logs = || {
            let (found, mut warnings) = match logs::find_logs(path) {
                Ok(beside) => (beside.found, beside.refused),
                Err(error) => (
                    Vec::new(),
                    vec![format!(
                        "the folder of this dirty hive could not be listed to find its transaction logs ({error}): recent changes may be missing; check that you may read the folder"
                    )],
                ),
            };
            let (contents, read_warnings) = read_logs(&found);
            warnings.extend(read_warnings);
            (found, contents, warnings)
        };
        let mut hive = HiveFile::prepare(path, bytes, file_size, options, find_logs)?;
        hive.source = Some(source);
        Ok(hive)
    }

    /// Prepares a hive whose bytes are already in memory (from a disk image, or a test), with
    /// its transaction logs as (file name, bytes).
    pub fn from_shared(
        label: &Path,
        bytes: Arc<Vec<u8>>,
        logs: Vec<(String, Vec<u8>)>,
        options: LoadOptions,
    ) -> Result<HiveFile, LoadError> {
        if bytes.is_empty() {
            return Err(LoadError::NotAHive { path: label.to_path_buf(), problem: BaseBlockError::Empty });
        }
        let names = logs.iter().map(|(name, _)| label.with_file_name(name)).collect();
        let len = bytes.len() as u64;
        HiveFile::prepare(label, HiveBytes::Shared(bytes), len, options, move || (names, logs, Vec::new()))
    }

    fn prepare(
        path: &Path,
        mut bytes: HiveBytes,
        file_size: u64,
        options: LoadOptions,
        find_logs: impl FnOnce() -> (Vec<PathBuf>, Vec<(String, Vec<u8>)>, Vec<String>),
    ) -> Result<HiveFile, LoadError> {
        let not_a_hive = |problem| LoadError::NotAHive { path: path.to_path_buf(), problem };
        let base_block = BaseBlock::parse(bytes.as_slice()).map_err(not_a_hive)?;
        if file_size < BASE_BLOCK_SIZE as u64 {
            return Err(not_a_hive(BaseBlockError::TooShort { len: file_size as usize, needed: BASE_BLOCK_SIZE }));
        }

        let mut warnings = Vec::new();
        let mut log_replay = None;
        let mut problems = base_block.problems(file_size);
        if base_block.is_dirty() {
            let (logs_found, log_bytes, read_warnings) = find_logs();
            warnings.extend(read_warnings);
            let hive_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let found_names: Vec<String> = logs_found
                .iter()
                .map(|log| log.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
                .collect();
            let log_set = LogSet::new(&hive_name, &found_names);
            if !log_set.complete && !log_set.found.is_empty() {
                warnings.push(format!(
                    "incomplete transaction log set ({}): the logs found are replayed, but changes held only in {} cannot be recovered",
                    log_set.describe(),
                    log_set.missing.join(", ")
                ));
            }
            let mut replay = LogReplay { logs_found, log_set, report: None, applied: false };
            if options.replay_logs {
                let inputs: Vec<logs::LogInput<'_>> =
                    log_bytes.iter().map(|(name, bytes)| logs::LogInput { name: name.clone(), bytes }).collect();
                let recovered = logs::recover(bytes.as_slice(), &inputs)
                    .map_err(|problem| LoadError::Recovery { path: path.to_path_buf(), problem })?;
                if let Some(recovered) = recovered {
                    warnings.extend(recovered.report.warnings.iter().cloned());
                    replay.report = Some(recovered.report);
                    if let Some(new_bytes) = recovered.bytes {
                        let recovered_block = BaseBlock::parse(&new_bytes).map_err(not_a_hive)?;
                        problems = recovered_block.problems(new_bytes.len() as u64);
                        bytes = HiveBytes::Owned(new_bytes);
                        replay.applied = true;
                    }
                }
            } else {
                warnings.push(format!(
                    "dirty hive read as it is on disk (log replay switched off; {} log file(s) beside it): recent changes may be missing",
                    replay.logs_found.len()
                ));
            }
            log_replay = Some(replay);
        }

        for problem in &problems {
            if problem.blocks_reading() || matches!(problem, BaseBlockProblem::Truncated { .. }) {
                return Err(LoadError::Unreadable { path: path.to_path_buf(), problem: problem.clone() });
            }
        }
        if base_block.is_differencing() {
            warnings.push(
                "format 1.6 differencing (\"delta\") hive from a container layer: a partial view holding only what the layer changed, so absent keys prove nothing; scan the hives of the container's base image for a whole machine"
                    .to_string(),
            );
        }

        let kind = {
            let reader = HiveReader::new(bytes.as_slice())
                .map_err(|problem| LoadError::Corrupt { path: path.to_path_buf(), problem })?;
            kind::detect(&reader, &base_block)
                .map_err(|problem| LoadError::Corrupt { path: path.to_path_buf(), problem })?
        };
        Ok(HiveFile {
            path: path.to_path_buf(),
            file_size,
            base_block,
            kind,
            log_replay,
            warnings,
            bytes,
            source: None,
        })
    }

    /// The bytes as they are read: the mapped file, or the recovered private copy.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// Drops this process's mapping of the hive's pages (`madvise(MADV_DONTNEED)`), so that
    /// a walk over tens of thousands of keys (CBS `Packages`, ~40 MB of a 106 MB SOFTWARE)
    /// does not keep every page it touched resident. The pages stay in the kernel's page
    /// cache; the next read of one maps it again. A no-op for private copies (recovered
    /// hives, bytes from an image), whose memory this would wipe.
    pub fn release_mapped_pages(&self) {
        if let HiveBytes::Mapped(mapped) = &self.bytes {
            // SAFETY: the mapping is read-only (`Mmap`, never written, so no page of it is
            // private), and MADV_DONTNEED on a file mapping only unmaps pages: a later read
            // faults the same file bytes back in, so every slice borrowed from it stays
            // valid and unchanged (a file changed underneath is the risk of mapping at all,
            // see `map_or_read`). Failure (an old kernel) only means the pages stay mapped.
            let _ = unsafe { mapped.map.unchecked_advise(UncheckedAdvice::DontNeed) };
        }
    }

    /// Acts on what a long walk announces ([`PageHint`]): the batch's span is read ahead
    /// (`MADV_WILLNEED`: large reads instead of one page per fault when cold, under the
    /// random-access advice the mapping carries); the walked pages are released once done.
    /// Hints only: a kernel refusing them costs speed, nothing else. (`MADV_POPULATE_READ` was
    /// measured too: it takes the same page faults, so it saves nothing when warm.) Nothing
    /// happens for private copies.
    pub fn page_hint(&self, hint: PageHint) {
        let HiveBytes::Mapped(mapped) = &self.bytes else { return };
        match hint {
            PageHint::WillRead(span) => {
                let end = span.end.min(mapped.map.len());
                let Some(len) = end.checked_sub(span.start).filter(|&len| len > 0) else { return };
                let _ = mapped.map.advise_range(Advice::WillNeed, span.start, len);
            }
            PageHint::Done => self.release_mapped_pages(),
        }
    }

    /// Why the results read from this hive cannot be trusted because the file changed while
    /// it was being read (a mapped page vanished, or its size or modification time differs
    /// from when it was opened); `None` when it did not change.
    pub fn changed_while_read(&self) -> Option<String> {
        let vanished = matches!(&self.bytes, HiveBytes::Mapped(mapped) if mapped.registration.changed());
        let source = self.source.as_ref()?;
        // Metadata that cannot be read now reads as a change (no size to compare), never as
        // "unchanged".
        let now = source.file.metadata().ok();
        let len_now = now.as_ref().map(|m| m.len());
        let modified_now = now.as_ref().and_then(|m| m.modified().ok());
        if vanished || len_now != Some(source.len) || modified_now != source.modified {
            let size = match len_now {
                Some(len) if len != source.len => format!(" (size {} bytes when opened, {len} now)", source.len),
                _ => String::new(),
            };
            return Some(format!(
                "the file changed while being read{size}; another process is writing it: results from it are not reliable, scan a stable copy"
            ));
        }
        None
    }

    /// Read access to keys and values.
    pub fn reader(&self) -> Result<HiveReader<'_>, ReadError> {
        HiveReader::new(self.bytes())
    }

    pub fn kind(&self) -> HiveKind {
        self.kind.kind
    }

    /// The primary file was dirty (bad checksum or sequence numbers differ).
    pub fn is_dirty(&self) -> bool {
        self.base_block.is_dirty()
    }

    /// True when recent changes may be missing: dirty, and no log was applied.
    pub fn is_stale(&self) -> bool {
        self.is_dirty() && !self.log_replay.as_ref().is_some_and(|r| r.applied)
    }
}
