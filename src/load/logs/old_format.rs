//! Old-format logs (Windows NT to 8): a 512-byte base-block copy (file type 1, or 2 from
//! NT 3.x–2000), the signature "DIRT" at offset 512 followed by a bitmap with one bit per
//! 512-byte page of hive bins (least significant bit first; `hive-bins size / 4096` bytes,
//! using the log's own hive-bins size), then, from the next 512-byte boundary, one 512-byte
//! page for each set bit, in bitmap order. Page `n` belongs at hive-bins offset `512 * i`,
//! where `i` is the position of the n-th set bit.
//!
//! An old-format log holds one consistent set of dirty pages, not a history of entries, so
//! it is applied completely or not at all: a truncated log is skipped, never half-applied.

use std::cmp::Reverse;

use super::{
    LogFile, LogFormat, LogReport, LogStatus, PrimaryState, Replayed, SkipReason, Target, LOG_BASE_BLOCK_SIZE,
};

const SIGNATURE: &[u8; 4] = b"DIRT";
const PAGE_SIZE: usize = 512;
/// Bytes of hive bins one bitmap byte describes (8 pages of 512 bytes).
const BYTES_PER_BITMAP_BYTE: u32 = 4096;

/// Applies the most recent eligible old-format log (checked to have a valid base block).
///
/// Eligible means written for the same state as the primary: its last-written time equals
/// the primary's. When the primary's base block is invalid, the backup timestamp in the first
/// hive bin is used instead; Windows does not refresh that copy on every write, so a log at
/// or after it is accepted (as yarp does; the corpus' BadBaseBlockHive needs this). When the
/// chosen log turns out damaged, the next eligible one is tried, as Windows does.
pub(super) fn recover(
    primary: &PrimaryState,
    logs: &[LogFile<'_>],
    target: &mut Target<'_>,
    reports: &mut [LogReport],
) -> Option<Replayed> {
    let mut eligible = Vec::new();
    for log in logs {
        match ineligibility(primary, log) {
            Some(reason) => {
                if let Some(report) = reports.get_mut(log.index) {
                    report.skip(reason);
                }
            }
            None => eligible.push(log),
        }
    }
    // Most recent first; the sort is stable, so equal times keep name order.
    eligible.sort_by_key(|log| Reverse(log.last_written));

    let mut used: Option<(&str, Replayed)> = None;
    for log in eligible {
        let Some(report) = reports.get_mut(log.index) else {
            continue;
        };
        if let Some((name, _)) = &used {
            report.skip(SkipReason::Superseded { by: name.to_string() });
            continue;
        }
        let pages = match DirtyPages::read(log, target) {
            Ok(pages) => pages,
            Err(reason) => {
                report.skip(reason);
                continue;
            }
        };
        if !primary.base_block_valid {
            target.write_base_block(log.bytes);
        }
        let pages_applied = pages.apply(target);
        report.pages_applied = pages_applied;
        report.status = LogStatus::Applied;
        let caveat = (!primary.base_block_valid && primary.first_bin_timestamp.is_none()).then(|| {
            format!(
                "{}: applied without the timestamp check (the primary has neither a valid base \
                 block nor a readable first hive bin)",
                log.name
            )
        });
        used = Some((
            log.name,
            Replayed {
                format: LogFormat::Old,
                base_block_from: (!primary.base_block_valid).then_some(log.index),
                sequence: log.sequence,
                hive_bins_size: log.hive_bins_size,
                ktm_locked: None,
                caveat,
            },
        ));
    }
    used.map(|(_, replayed)| replayed)
}

/// Why the log was not written for the primary's current state, if it was not.
fn ineligibility(primary: &PrimaryState, log: &LogFile<'_>) -> Option<SkipReason> {
    if primary.base_block_valid {
        return (log.last_written != primary.last_written)
            .then_some(SkipReason::TimestampMismatch { log: log.last_written, primary: primary.last_written });
    }
    let first_bin = primary.first_bin_timestamp?;
    (log.last_written < first_bin).then_some(SkipReason::OlderThanHive { log: log.last_written, first_bin })
}

/// A validated dirty-page bitmap and the pages it announces.
struct DirtyPages<'a> {
    hive_bins_size: u32,
    bitmap: &'a [u8],
    /// The page data, exactly one 512-byte page per set bit.
    data: &'a [u8],
}

impl<'a> DirtyPages<'a> {
    fn read(log: &LogFile<'a>, target: &Target<'_>) -> Result<DirtyPages<'a>, SkipReason> {
        let hive_bins_size = log.hive_bins_size;
        if hive_bins_size == 0 || !hive_bins_size.is_multiple_of(BYTES_PER_BITMAP_BYTE) {
            return Err(SkipReason::BadHiveBinsSize { size: hive_bins_size });
        }
        if let Err(too_large) = target.check_size(hive_bins_size) {
            return Err(SkipReason::HiveTooLarge { claimed: u64::from(hive_bins_size), limit: too_large.limit });
        }
        let bitmap_start = LOG_BASE_BLOCK_SIZE + SIGNATURE.len();
        if log.bytes.get(LOG_BASE_BLOCK_SIZE..bitmap_start) != Some(SIGNATURE.as_slice()) {
            return Err(SkipReason::NoDirtyVector);
        }
        // Bounded by the size check above: at most 2 GiB / 4096 = 512 KiB.
        let bitmap_len = (hive_bins_size / BYTES_PER_BITMAP_BYTE) as usize;
        let bitmap_end = bitmap_start + bitmap_len;
        let truncated = |pages: u64, needed: u64| SkipReason::Truncated { pages, needed, size: log.bytes.len() as u64 };
        let Some(bitmap) = log.bytes.get(bitmap_start..bitmap_end) else {
            return Err(truncated(0, bitmap_end as u64));
        };
        let page_count: u64 = bitmap.iter().map(|byte| u64::from(byte.count_ones())).sum();
        let data_start = bitmap_end.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let needed = page_count * PAGE_SIZE as u64 + data_start as u64;
        let data = usize::try_from(needed).ok().and_then(|end| log.bytes.get(data_start..end));
        let Some(data) = data else {
            return Err(truncated(page_count, needed));
        };
        Ok(DirtyPages { hive_bins_size, bitmap, data })
    }

    /// Writes every dirty page into the hive copy; returns how many were written.
    fn apply(&self, target: &mut Target<'_>) -> u32 {
        if target.grow_to(self.hive_bins_size).is_err() {
            // Checked in `read`.
            return 0;
        }
        let mut written: u32 = 0;
        for (position, page) in self.dirty_positions().zip(self.data.chunks_exact(PAGE_SIZE)) {
            if target.write_hive_bins(position * PAGE_SIZE as u64, page) {
                written = written.saturating_add(1);
            }
        }
        written
    }

    /// Page positions (in 512-byte units from the start of the hive bins) whose bit is set.
    fn dirty_positions(&self) -> impl Iterator<Item = u64> + '_ {
        (0u64..).zip(self.bitmap).flat_map(|(byte_index, &byte)| {
            (0..8u64).filter(move |bit| byte & (1 << bit) != 0).map(move |bit| byte_index * 8 + bit)
        })
    }
}
