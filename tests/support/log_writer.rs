//! The project's writer of synthetic transaction logs, for replay tests.
//!
//! Give it the bytes of a hive BEFORE and AFTER a change (two complete hive files; AFTER may
//! be larger) and it writes what Windows would have logged for that change:
//! - [`new_format_log`]: a type-6 base-block copy and "HvLE" entries with correct Marvin32
//!   hashes, carrying the 4096-byte pages that differ, split over one or several entries;
//! - [`old_format_log`]: a type-1 base-block copy, the "DIRT" bitmap and the 512-byte pages
//!   that differ.
//!
//! [`make_dirty`] turns BEFORE into the dirty primary the logs belong to. Layouts follow
//! Suhanov's "Windows registry file format specification". The Marvin32 hash and the
//! base-block checksum are implemented here again, independently of the library, so that the
//! tests do not check the library against itself.

const BASE_BLOCK_SIZE: usize = 4096;
const LOG_BASE_BLOCK_SIZE: usize = 512;
const PAGE_SIZE: usize = 4096;
const OLD_PAGE_SIZE: usize = 512;
const HVLE_HEADER_SIZE: usize = 40;

pub const FILE_TYPE_OLD_LOG: u32 = 1;
pub const FILE_TYPE_NEW_LOG: u32 = 6;

/// Base-block field offsets used here.
pub const PRIMARY_SEQUENCE: usize = 4;
pub const SECONDARY_SEQUENCE: usize = 8;
pub const LAST_WRITTEN: usize = 12;
pub const FILE_TYPE: usize = 28;
pub const HIVE_BINS_SIZE: usize = 40;
const CHECKSUM: usize = 508;

pub fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap())
}

pub fn put_u32(bytes: &mut [u8], offset: usize, value: u32) {
    bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

/// Hive-bins size from a hive's (or log's) base block.
pub fn hive_bins_size(hive: &[u8]) -> u32 {
    u32_at(hive, HIVE_BINS_SIZE)
}

/// Recomputes the XOR-32 checksum of a base block (first 508 bytes) in place.
pub fn reseal(block: &mut [u8]) {
    let mut sum = 0u32;
    for offset in (0..CHECKSUM).step_by(4) {
        sum ^= u32_at(block, offset);
    }
    let sum = match sum {
        0 => 1,
        u32::MAX => u32::MAX - 1,
        other => other,
    };
    put_u32(block, CHECKSUM, sum);
}

/// Sets a base-block field and recomputes the checksum.
pub fn set_field(block: &mut [u8], offset: usize, value: u32) {
    put_u32(block, offset, value);
    reseal(block);
}

/// Sets the last-written FILETIME of a base block and recomputes the checksum.
pub fn set_last_written(block: &mut [u8], ticks: u64) {
    block[LAST_WRITTEN..LAST_WRITTEN + 8].copy_from_slice(&ticks.to_le_bytes());
    reseal(block);
}

/// Makes a clean hive dirty the way an interrupted write leaves it: the secondary sequence
/// number is `secondary`, the primary one is `secondary + 1`.
pub fn make_dirty(hive: &mut [u8], secondary: u32) {
    put_u32(hive, PRIMARY_SEQUENCE, secondary.wrapping_add(1));
    put_u32(hive, SECONDARY_SEQUENCE, secondary);
    reseal(hive);
}

/// Marvin32 with the regf seed, written from the algorithm's description.
pub fn marvin32(data: &[u8]) -> u64 {
    const SEED: u64 = 0x82EF_4D88_7A4E_55C5;
    let (mut lo, mut hi) = (SEED as u32, (SEED >> 32) as u32);
    let mut round = |word: u32| {
        lo = lo.wrapping_add(word);
        hi ^= lo;
        lo = lo.rotate_left(20).wrapping_add(hi);
        hi = hi.rotate_left(9) ^ lo;
        lo = lo.rotate_left(27).wrapping_add(hi);
        hi = hi.rotate_left(19);
    };
    assert!(data.len().is_multiple_of(4), "regf hashes whole 32-bit words");
    for word in data.chunks(4) {
        round(u32::from_le_bytes(word.try_into().unwrap()));
    }
    round(0x80);
    round(0);
    (u64::from(hi) << 32) | u64::from(lo)
}

/// One "HvLE" entry with correct hashes: `pages` are (hive-bins offset, data) pairs. Exposed
/// so that tests can write hostile entries (absurd sizes) that still pass the hash checks.
pub fn hvle_entry(sequence: u32, hive_bins_size: u32, flags: u32, pages: &[(u32, &[u8])]) -> Vec<u8> {
    let data_len: usize = pages.iter().map(|(_, data)| data.len()).sum();
    let unpadded = HVLE_HEADER_SIZE + 8 * pages.len() + data_len;
    let size = unpadded.div_ceil(512) * 512;
    let mut entry = vec![0u8; size];
    entry[..4].copy_from_slice(b"HvLE");
    put_u32(&mut entry, 4, size as u32);
    put_u32(&mut entry, 8, flags);
    put_u32(&mut entry, 12, sequence);
    put_u32(&mut entry, 16, hive_bins_size);
    put_u32(&mut entry, 20, pages.len() as u32);
    let mut at = HVLE_HEADER_SIZE;
    for (offset, data) in pages {
        put_u32(&mut entry, at, *offset);
        put_u32(&mut entry, at + 4, data.len() as u32);
        at += 8;
    }
    for (_, data) in pages {
        entry[at..at + data.len()].copy_from_slice(data);
        at += data.len();
    }
    rehash_entry(&mut entry);
    entry
}

/// Recomputes Hash-1 and Hash-2 of an entry after a test changed it on purpose.
pub fn rehash_entry(entry: &mut [u8]) {
    let hash1 = marvin32(&entry[HVLE_HEADER_SIZE..]);
    entry[24..32].copy_from_slice(&hash1.to_le_bytes());
    let hash2 = marvin32(&entry[..32]);
    entry[32..40].copy_from_slice(&hash2.to_le_bytes());
}

/// A log's 512-byte base-block copy: AFTER's base block with the given type and sequence
/// numbers, and BEFORE's last-written time (a log is written for the primary's state).
fn log_base_block(before: &[u8], after: &[u8], file_type: u32, sequence: u32) -> Vec<u8> {
    let mut block = after[..LOG_BASE_BLOCK_SIZE].to_vec();
    block[LAST_WRITTEN..LAST_WRITTEN + 8].copy_from_slice(&before[LAST_WRITTEN..LAST_WRITTEN + 8]);
    put_u32(&mut block, PRIMARY_SEQUENCE, sequence);
    put_u32(&mut block, SECONDARY_SEQUENCE, sequence);
    put_u32(&mut block, FILE_TYPE, file_type);
    reseal(&mut block);
    block
}

/// Hive-bins pages of `page_size` bytes that differ between BEFORE and AFTER (pages past the
/// end of BEFORE always differ), as page indexes.
fn changed_pages(before: &[u8], after: &[u8], page_size: usize) -> Vec<usize> {
    let after_bins = &after[BASE_BLOCK_SIZE..BASE_BLOCK_SIZE + hive_bins_size(after) as usize];
    let before_bins = before.get(BASE_BLOCK_SIZE..).unwrap_or(&[]);
    after_bins
        .chunks(page_size)
        .enumerate()
        .filter(|(index, page)| before_bins.get(index * page_size..(index + 1) * page_size) != Some(*page))
        .map(|(index, _)| index)
        .collect()
}

/// A new-format log turning BEFORE into AFTER: entries `first_sequence`,
/// `first_sequence + 1`, … (`entry_count` of them, at least one), each carrying a consecutive
/// share of the changed 4096-byte pages, contiguous pages merged into one page reference.
/// When there are fewer changed pages than entries, pages are repeated (rewriting a page with
/// AFTER's content is harmless).
pub fn new_format_log(before: &[u8], after: &[u8], first_sequence: u32, entry_count: usize) -> Vec<u8> {
    let entry_count = entry_count.max(1);
    let mut pages = changed_pages(before, after, PAGE_SIZE);
    if pages.is_empty() {
        pages.push(0);
    }
    let changed = pages.len();
    for index in 0..entry_count.saturating_sub(changed) {
        pages.push(pages[index % changed]);
    }
    let hive_bins = hive_bins_size(after);
    let mut log = log_base_block(before, after, FILE_TYPE_NEW_LOG, first_sequence);
    for number in 0..entry_count {
        let share = &pages[number * pages.len() / entry_count..(number + 1) * pages.len() / entry_count];
        let runs = merge_runs(share);
        let references: Vec<(u32, &[u8])> = runs
            .iter()
            .map(|&(first, count)| {
                let start = BASE_BLOCK_SIZE + first * PAGE_SIZE;
                ((first * PAGE_SIZE) as u32, &after[start..start + count * PAGE_SIZE])
            })
            .collect();
        log.extend(hvle_entry(first_sequence.wrapping_add(number as u32), hive_bins, 0, &references));
    }
    log
}

/// (first page, page count) runs of consecutive page indexes.
fn merge_runs(pages: &[usize]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &page in pages {
        match runs.last_mut() {
            Some((first, count)) if *first + *count == page => *count += 1,
            _ => runs.push((page, 1)),
        }
    }
    runs
}

/// Byte offsets of the entries in a new-format log written by [`new_format_log`].
pub fn entry_offsets(log: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = LOG_BASE_BLOCK_SIZE;
    while at + HVLE_HEADER_SIZE <= log.len() && &log[at..at + 4] == b"HvLE" {
        offsets.push(at);
        at += u32_at(log, at + 4) as usize;
    }
    offsets
}

/// An old-format log turning BEFORE into AFTER, with base-block sequence numbers `sequence`:
/// the bitmap marks every 512-byte page that differs (least significant bit first).
pub fn old_format_log(before: &[u8], after: &[u8], sequence: u32) -> Vec<u8> {
    let hive_bins = hive_bins_size(after) as usize;
    let mut log = log_base_block(before, after, FILE_TYPE_OLD_LOG, sequence);
    let mut bitmap = vec![0u8; hive_bins / PAGE_SIZE];
    let pages = changed_pages(before, after, OLD_PAGE_SIZE);
    for &page in &pages {
        bitmap[page / 8] |= 1 << (page % 8);
    }
    log.extend(b"DIRT");
    log.extend(&bitmap);
    log.resize(log.len().div_ceil(512) * 512, 0);
    for page in pages {
        let start = BASE_BLOCK_SIZE + page * OLD_PAGE_SIZE;
        log.extend(&after[start..start + OLD_PAGE_SIZE]);
    }
    log
}
