//! New-format logs (Windows 8.1 and later): a 512-byte base-block copy (file type 6), then
//! "HvLE" log entries, each a multiple of 512 bytes:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `HvLE` |
//! | 4 | 4 | entry size in bytes |
//! | 8 | 4 | flags (bit 0: copy of the base block's KTM-locked flag) |
//! | 12 | 4 | sequence number the base block gets once the entry is applied |
//! | 16 | 4 | hive-bins size when the entry was written |
//! | 20 | 4 | dirty-page count N |
//! | 24 | 8 | Hash-1: Marvin32 of bytes 40..size |
//! | 32 | 8 | Hash-2: Marvin32 of bytes 0..32 (so it covers Hash-1) |
//! | 40 | 8·N | page references {hive-bins offset, size} |
//! | … | | page data, in reference order, unpadded |
//!
//! A log is rewritten from offset 512 after the primary catches up, so older, already
//! applied entries (and garbage) may follow the current ones.

use super::marvin32::{marvin32, REGF_SEED};
use super::{
    read_u32, read_u64, sequence_at_or_after, LogFile, LogFormat, LogReport, LogStatus, PrimaryState, Replayed,
    SkipReason, StopReason, Target, LOG_BASE_BLOCK_SIZE,
};

const SIGNATURE: &[u8; 4] = b"HvLE";
const HEADER_SIZE: usize = 40;
const PAGE_REFERENCE_SIZE: usize = 8;
const ENTRY_ALIGNMENT: u32 = 512;
const HIVE_BINS_ALIGNMENT: u32 = 4096;

/// Replays the new-format logs (already checked to have a valid base block) into `target`.
///
/// With a valid primary base block, a log is eligible when its base-block sequence number is
/// at or after the primary's secondary sequence number; the earliest eligible log is replayed
/// first, and each further log only if it starts exactly where the previous one ended. With an
/// invalid primary base block, the most recent log supplies the base block and its entries.
pub(super) fn recover(
    primary: &PrimaryState,
    logs: &[LogFile<'_>],
    target: &mut Target<'_>,
    reports: &mut [LogReport],
) -> Option<Replayed> {
    if primary.base_block_valid {
        recover_onto_primary(primary, logs, target, reports)
    } else {
        recover_with_log_base_block(logs, target, reports)
    }
}

fn recover_onto_primary(
    primary: &PrimaryState,
    logs: &[LogFile<'_>],
    target: &mut Target<'_>,
    reports: &mut [LogReport],
) -> Option<Replayed> {
    let reference = primary.secondary_sequence;
    let mut eligible: Vec<&LogFile<'_>> = Vec::new();
    for log in logs {
        if sequence_at_or_after(log.sequence, reference) {
            eligible.push(log);
        } else if let Some(report) = reports.get_mut(log.index) {
            report.skip(SkipReason::Stale { log_sequence: log.sequence, primary_secondary: reference });
        }
    }
    // Distance from the primary is a total order even across a wrap of the counter; the sort
    // is stable, so equal sequence numbers keep their name order.
    eligible.sort_by_key(|log| log.sequence.wrapping_sub(reference));

    let mut replayed: Option<Replayed> = None;
    let mut next_expected: Option<u32> = None;
    for log in eligible {
        if let Some(expected) = next_expected {
            if log.sequence != expected {
                if let Some(report) = reports.get_mut(log.index) {
                    report.skip(SkipReason::SequenceGap { expected, found: log.sequence });
                }
                continue;
            }
        }
        let outcome = replay_entries(log, target, reports);
        next_expected = Some(outcome.next_expected);
        if let Some(last) = outcome.last_entry {
            replayed = Some(Replayed {
                format: LogFormat::New,
                base_block_from: None,
                sequence: last.sequence,
                hive_bins_size: last.hive_bins_size,
                ktm_locked: Some(last.ktm_locked),
                caveat: None,
            });
        }
    }
    replayed
}

fn recover_with_log_base_block(
    logs: &[LogFile<'_>],
    target: &mut Target<'_>,
    reports: &mut [LogReport],
) -> Option<Replayed> {
    // The most recent log: one that no other log is (wrap-aware) after. Ties keep name order.
    let latest = logs.iter().fold(None::<&LogFile<'_>>, |latest, log| match latest {
        Some(current) if !is_after(log.sequence, current.sequence) => Some(current),
        _ => Some(log),
    })?;
    let mut ordered: Vec<&LogFile<'_>> = logs.iter().collect();
    ordered.sort_by_key(|log| latest.sequence.wrapping_sub(log.sequence));

    let mut used: Option<(&str, Replayed)> = None;
    for log in ordered {
        let Some(report) = reports.get_mut(log.index) else {
            continue;
        };
        if let Some((name, _)) = &used {
            report.skip(SkipReason::Superseded { by: name.to_string() });
            continue;
        }
        // The log's base block must describe a hive we are willing to build.
        if log.hive_bins_size == 0 || log.hive_bins_size % HIVE_BINS_ALIGNMENT != 0 {
            report.skip(SkipReason::BadHiveBinsSize { size: log.hive_bins_size });
            continue;
        }
        if let Err(too_large) = target.grow_to(log.hive_bins_size) {
            report.skip(SkipReason::HiveTooLarge { claimed: u64::from(log.hive_bins_size), limit: too_large.limit });
            continue;
        }
        target.write_base_block(log.bytes);
        let outcome = replay_entries(log, target, reports);
        if let Some(report) = reports.get_mut(log.index) {
            // The base block alone is a use of the log even when no entry applies.
            if report.entries_applied == 0 && !report.was_used() {
                report.status = LogStatus::Applied;
            }
        }
        let replayed = match outcome.last_entry {
            Some(last) => Replayed {
                format: LogFormat::New,
                base_block_from: Some(log.index),
                sequence: last.sequence,
                hive_bins_size: last.hive_bins_size,
                ktm_locked: Some(last.ktm_locked),
                caveat: None,
            },
            None => Replayed {
                format: LogFormat::New,
                base_block_from: Some(log.index),
                sequence: log.sequence,
                hive_bins_size: log.hive_bins_size,
                ktm_locked: Some(log.flags & 1 != 0),
                caveat: None,
            },
        };
        used = Some((log.name, replayed));
    }
    used.map(|(_, replayed)| replayed)
}

/// `a` is strictly after `b`, wrap-aware.
fn is_after(a: u32, b: u32) -> bool {
    a != b && sequence_at_or_after(a, b)
}

/// The state the last applied entry leaves the hive in.
struct LastEntry {
    sequence: u32,
    hive_bins_size: u32,
    ktm_locked: bool,
}

struct LogOutcome {
    last_entry: Option<LastEntry>,
    /// Sequence number the next log must start with to continue this one.
    next_expected: u32,
}

/// Applies the entries of one log, in order, starting with the log's base-block sequence
/// number, until the log ends or an entry is unusable; records the result in the log's report.
fn replay_entries(log: &LogFile<'_>, target: &mut Target<'_>, reports: &mut [LogReport]) -> LogOutcome {
    let mut expected = log.sequence;
    let mut offset = LOG_BASE_BLOCK_SIZE;
    let mut entry_number: u32 = 1;
    let mut last_entry = None;
    let mut entries_applied: u32 = 0;
    let mut pages_applied: u32 = 0;
    let mut first_sequence = None;
    let stopped = loop {
        let entry = match read_entry(log.bytes, offset, entry_number, expected, target) {
            Step::Entry(entry) => entry,
            Step::End => break None,
            Step::Stop(reason) => break Some(reason),
        };
        if let Some(reason) = apply(&entry, entry_number, target) {
            break Some(reason);
        }
        entries_applied = entries_applied.saturating_add(1);
        pages_applied = pages_applied.saturating_add(entry.page_count());
        first_sequence.get_or_insert(entry.sequence);
        last_entry = Some(LastEntry {
            sequence: entry.sequence,
            hive_bins_size: entry.hive_bins_size,
            ktm_locked: entry.flags & 1 != 0,
        });
        expected = entry.sequence.wrapping_add(1);
        entry_number = entry_number.saturating_add(1);
        match offset.checked_add(entry.size) {
            Some(next) => offset = next,
            None => break None,
        }
    };

    if let Some(report) = reports.get_mut(log.index) {
        report.entries_applied = entries_applied;
        report.pages_applied = pages_applied;
        report.sequences_applied = first_sequence.zip(last_entry.as_ref()).map(|(first, last)| [first, last.sequence]);
        report.status = match stopped {
            Some(stopped) => LogStatus::PartiallyApplied { stopped },
            None if entries_applied > 0 => LogStatus::Applied,
            None => LogStatus::Skipped { reason: SkipReason::NoEntries },
        };
    }
    LogOutcome { last_entry, next_expected: expected }
}

/// One validated log entry.
struct Entry<'a> {
    size: usize,
    flags: u32,
    sequence: u32,
    hive_bins_size: u32,
    /// (hive-bins offset, data) for each dirty page, all checked to lie inside the entry and
    /// inside the entry's hive-bins size.
    pages: Vec<(u32, &'a [u8])>,
}

impl Entry<'_> {
    fn page_count(&self) -> u32 {
        u32::try_from(self.pages.len()).unwrap_or(u32::MAX)
    }
}

enum Step<'a> {
    Entry(Entry<'a>),
    /// The log's current entries end here (end of file, no signature, or an older entry
    /// left over from before the log was last reused).
    End,
    Stop(StopReason),
}

/// Reads and fully validates the entry at `offset` before anything of it is applied, so
/// that an entry is applied either completely or not at all.
fn read_entry<'a>(log: &'a [u8], offset: usize, entry: u32, expected: u32, target: &Target<'_>) -> Step<'a> {
    let Some(header) = offset.checked_add(HEADER_SIZE).and_then(|end| log.get(offset..end)) else {
        return Step::End;
    };
    if !header.starts_with(SIGNATURE) {
        return Step::End;
    }
    let field = |at| read_u32(header, at).unwrap_or(0);
    let size = field(4);
    let flags = field(8);
    let sequence = field(12);
    let hive_bins_size = field(16);
    let page_count = field(20);
    let file_offset = offset as u64;

    if size < ENTRY_ALIGNMENT || size % ENTRY_ALIGNMENT != 0 {
        return Step::Stop(StopReason::BadEntrySize { entry, offset: file_offset, size });
    }
    let available = log.len().saturating_sub(offset);
    let bytes = usize::try_from(size).ok().and_then(|size| log.get(offset..offset.checked_add(size)?));
    let Some(bytes) = bytes else {
        return Step::Stop(StopReason::TruncatedEntry {
            entry,
            offset: file_offset,
            size,
            available: available as u64,
        });
    };
    let (Some(head), Some(body)) = (bytes.get(..32), bytes.get(HEADER_SIZE..)) else {
        return Step::Stop(StopReason::BadEntrySize { entry, offset: file_offset, size });
    };
    if read_u64(header, 32) != Some(marvin32(REGF_SEED, head)) {
        return Step::Stop(StopReason::BadHeaderHash { entry });
    }
    if read_u64(header, 24) != Some(marvin32(REGF_SEED, body)) {
        return Step::Stop(StopReason::BadDataHash { entry });
    }
    if sequence != expected {
        // An intact entry from before the log was last reused marks the end of the current
        // entries; a jump forward means entries are missing.
        if is_after(expected, sequence) {
            return Step::End;
        }
        return Step::Stop(StopReason::SequenceGap { entry, expected, found: sequence });
    }
    if hive_bins_size == 0 || hive_bins_size % HIVE_BINS_ALIGNMENT != 0 {
        return Step::Stop(StopReason::BadHiveBinsSize { entry, size: hive_bins_size });
    }
    if let Err(too_large) = target.check_size(hive_bins_size) {
        return Step::Stop(StopReason::HiveTooLarge {
            entry,
            claimed: u64::from(hive_bins_size),
            limit: too_large.limit,
        });
    }
    match read_pages(bytes, page_count, hive_bins_size, entry) {
        Ok(pages) => Step::Entry(Entry { size: bytes.len(), flags, sequence, hive_bins_size, pages }),
        Err(reason) => Step::Stop(reason),
    }
}

/// Splits the entry's page data along its page references, checking every bound.
fn read_pages(
    entry_bytes: &[u8],
    page_count: u32,
    hive_bins_size: u32,
    entry: u32,
) -> Result<Vec<(u32, &[u8])>, StopReason> {
    let size = u32::try_from(entry_bytes.len()).unwrap_or(u32::MAX);
    let bad_count = StopReason::BadPageCount { entry, count: page_count, size };
    let references_end = usize::try_from(page_count)
        .ok()
        .and_then(|count| count.checked_mul(PAGE_REFERENCE_SIZE))
        .and_then(|length| length.checked_add(HEADER_SIZE))
        .filter(|&end| page_count > 0 && end <= entry_bytes.len());
    let Some(references_end) = references_end else {
        return Err(bad_count);
    };
    let references = entry_bytes.get(HEADER_SIZE..references_end).ok_or(bad_count)?;
    let mut data_offset = references_end;
    let mut pages = Vec::with_capacity(references.len() / PAGE_REFERENCE_SIZE);
    for (page, reference) in (1u32..).zip(references.chunks_exact(PAGE_REFERENCE_SIZE)) {
        let offset = read_u32(reference, 0).unwrap_or(u32::MAX);
        let page_size = read_u32(reference, 4).unwrap_or(u32::MAX);
        if u64::from(offset) + u64::from(page_size) > u64::from(hive_bins_size) {
            return Err(StopReason::PageOutOfRange { entry, page, offset, size: page_size, hive_bins_size });
        }
        let data = usize::try_from(page_size)
            .ok()
            .and_then(|length| data_offset.checked_add(length))
            .and_then(|end| Some((end, entry_bytes.get(data_offset..end)?)));
        let Some((end, data)) = data else {
            return Err(StopReason::PageDataOverrun {
                entry,
                needed: needed_page_data(references),
                available: entry_bytes.len().saturating_sub(references_end) as u64,
            });
        };
        pages.push((offset, data));
        data_offset = end;
    }
    Ok(pages)
}

/// Total page data the references announce (for the error message).
fn needed_page_data(references: &[u8]) -> u64 {
    references.chunks_exact(PAGE_REFERENCE_SIZE).map(|reference| u64::from(read_u32(reference, 4).unwrap_or(0))).sum()
}

/// Writes a validated entry into the hive copy.
fn apply(entry: &Entry<'_>, entry_number: u32, target: &mut Target<'_>) -> Option<StopReason> {
    if let Err(too_large) = target.grow_to(entry.hive_bins_size) {
        return Some(StopReason::HiveTooLarge {
            entry: entry_number,
            claimed: u64::from(entry.hive_bins_size),
            limit: too_large.limit,
        });
    }
    for (page, (offset, data)) in (1u32..).zip(&entry.pages) {
        if !target.write_hive_bins(u64::from(*offset), data) {
            // Unreachable after `read_pages` and `grow_to`, but never worth a panic.
            return Some(StopReason::PageOutOfRange {
                entry: entry_number,
                page,
                offset: *offset,
                size: u32::try_from(data.len()).unwrap_or(u32::MAX),
                hive_bins_size: entry.hive_bins_size,
            });
        }
    }
    None
}
