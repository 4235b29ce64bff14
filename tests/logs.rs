//! Transaction-log replay: against Windows' own recovery of real hives (corpus), and against
//! synthetic logs written by `support::log_writer` for every rule and every kind of damage.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use nt_hive::Hive;
use rebootscan::load::logs::{recover, LogFormat, LogInput, LogStatus, Recovered, SkipReason, StopReason};
use support::hive_writer::{HiveSpec, ValueSpec};
use support::log_writer::{self as writer, hive_bins_size, u32_at};

const BASE_BLOCK_SIZE: usize = 4096;

fn read(dir: &Path, relative: &str) -> Vec<u8> {
    std::fs::read(dir.join(relative)).unwrap_or_else(|e| panic!("read {relative}: {e}"))
}

/// Runs `recover` for a dirty primary and returns its result.
fn replay(primary: &[u8], logs: &[(&str, &[u8])]) -> Recovered {
    let inputs: Vec<LogInput<'_>> =
        logs.iter().map(|(name, bytes)| LogInput { name: name.to_string(), bytes }).collect();
    recover(primary, &inputs).expect("no recovery error").expect("the primary is dirty")
}

fn recovered_bytes(result: &Recovered) -> &[u8] {
    result.bytes.as_deref().expect("something was applied")
}

/// The hive-bins area as the base block declares it.
fn hive_bins(hive: &[u8]) -> &[u8] {
    &hive[BASE_BLOCK_SIZE..BASE_BLOCK_SIZE + hive_bins_size(hive) as usize]
}

fn sequences(hive: &[u8]) -> (u32, u32) {
    (u32_at(hive, 4), u32_at(hive, 8))
}

/// Every key (by path) with its values (name, type, data), read with nt-hive.
type Tree = BTreeMap<String, Vec<(String, String, Vec<u8>)>>;

fn tree(hive: &[u8]) -> Tree {
    let hive = Hive::new(hive).expect("nt-hive accepts the hive");
    let mut keys = Tree::new();
    walk(&hive.root_key_node().unwrap(), String::new(), 0, &mut keys);
    keys
}

fn walk(key: &nt_hive::KeyNode<'_, &[u8]>, path: String, depth: usize, keys: &mut Tree) {
    assert!(depth < 64, "key tree deeper than 64 at {path}");
    let mut values = Vec::new();
    if let Some(list) = key.values() {
        for value in list.unwrap() {
            let value = value.unwrap();
            let data = if value.data_size() == 0 { Vec::new() } else { value.data().unwrap().into_vec().unwrap() };
            let data_type = format!("{:?}", value.data_type());
            values.push((value.name().unwrap().to_string_lossy(), data_type, data));
        }
    }
    keys.insert(path.clone(), values);
    if let Some(subkeys) = key.subkeys() {
        for subkey in subkeys.unwrap() {
            let subkey = subkey.unwrap();
            let name = subkey.name().unwrap().to_string_lossy();
            walk(&subkey, format!("{path}\\{name}"), depth + 1, keys);
        }
    }
}

fn utf16_strings(data: &[u8]) -> Vec<String> {
    let units: Vec<u16> = data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    units.split(|&unit| unit == 0).map(String::from_utf16_lossy).filter(|text| !text.is_empty()).collect()
}

fn string_value(hive: &[u8], key: &str, value: &str) -> String {
    let hive = Hive::new(hive).expect("nt-hive accepts the hive");
    let root = hive.root_key_node().unwrap();
    let key = root.subpath(key).expect("key present").unwrap();
    let value = key.value(value).expect("value present").unwrap();
    value.string_data().unwrap()
}

fn has_key(hive: &[u8], path: &str) -> bool {
    let hive = Hive::new(hive).expect("nt-hive accepts the hive");
    let root = hive.root_key_node().unwrap();
    root.subpath(path).is_some_and(|key| key.is_ok())
}

// ------------------------------------------------------------------------------------------
// Real hives: the result must match what Windows itself recovered.

#[test]
fn new_dirty_hive1_matches_windows10_recovery() {
    let Some(dir) = support::corpus::corpus_dir("new_dirty_hive1_matches_windows10_recovery") else {
        return;
    };
    let primary = read(&dir, "logs/NewDirtyHive1/NewDirtyHive");
    let log1 = read(&dir, "logs/NewDirtyHive1/NewDirtyHive.LOG1");
    let log2 = read(&dir, "logs/NewDirtyHive1/NewDirtyHive.LOG2");
    let windows = read(&dir, "logs/NewDirtyHive1/RecoveredHive_Windows10");

    let result = replay(&primary, &[("NewDirtyHive.LOG1", &log1), ("NewDirtyHive.LOG2", &log2)]);
    let bytes = recovered_bytes(&result);
    let n = hive_bins_size(&windows) as usize;
    assert_eq!(n, 20480);
    assert!(bytes[BASE_BLOCK_SIZE..BASE_BLOCK_SIZE + n] == windows[BASE_BLOCK_SIZE..BASE_BLOCK_SIZE + n]);
    Hive::new(bytes).expect("nt-hive accepts the recovered hive");
    assert_eq!(sequences(bytes), (5, 5));

    let report = &result.report;
    assert_eq!((report.primary_sequence, report.secondary_sequence), (3, 2));
    assert_eq!(report.entries_applied, 4);
    assert_eq!(report.sequence_reached, Some(5));
    assert_eq!(report.format_used, Some(LogFormat::New));
    assert_eq!(report.logs[0].entries_applied, 1);
    assert_eq!(report.logs[0].sequences_applied, Some([2, 2]));
    assert_eq!(report.logs[1].entries_applied, 3);
    assert_eq!(report.logs[1].sequences_applied, Some([3, 5]));
    assert!(report.logs.iter().all(|log| log.status == LogStatus::Applied));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(
        report.summary(),
        "dirty (seq 3/2); replayed 4 entries from NewDirtyHive.LOG1, NewDirtyHive.LOG2; now at seq 5"
    );

    // Keys Key1 and Key2 disappear; Key3\Key3_1..3 appear (corpus expected.json).
    let before = tree_without_validation(&primary);
    let after = tree(bytes);
    assert!(before.contains_key("\\Key1") && !after.contains_key("\\Key1"));
    assert!(before.contains_key("\\Key2") && !after.contains_key("\\Key2"));
    for key in ["\\Key3\\Key3_1", "\\Key3\\Key3_2", "\\Key3\\Key3_3"] {
        assert!(!before.contains_key(key) && after.contains_key(key), "{key}");
    }

    // The order in which the caller found the logs does not matter.
    let reversed = replay(&primary, &[("NewDirtyHive.LOG2", &log2), ("NewDirtyHive.LOG1", &log1)]);
    assert_eq!(recovered_bytes(&reversed), bytes);
    assert_eq!(reversed.report.entries_applied, 4);
    assert_eq!(reversed.report.sequence_reached, Some(5));
}

/// The stale primary of a dirty hive, read as it is (for before/after comparisons).
fn tree_without_validation(hive: &[u8]) -> Tree {
    let mut clean = hive.to_vec();
    let (_, secondary) = sequences(hive);
    writer::set_field(&mut clean, writer::PRIMARY_SEQUENCE, secondary);
    tree(&clean)
}

#[test]
fn old_dirty_hive_matches_windows7_recovery_at_key_level() {
    let Some(dir) = support::corpus::corpus_dir("old_dirty_hive_matches_windows7_recovery_at_key_level") else {
        return;
    };
    let primary = read(&dir, "logs/OldDirtyHive/OldDirtyHive");
    let log1 = read(&dir, "logs/OldDirtyHive/OldDirtyHive.LOG1");
    let log2 = read(&dir, "logs/OldDirtyHive/OldDirtyHive.LOG2");
    let windows = read(&dir, "logs/OldDirtyHive/RecoveredHive_Windows7");

    let result = replay(&primary, &[("OldDirtyHive.LOG1", &log1), ("OldDirtyHive.LOG2", &log2)]);
    let report = &result.report;
    assert_eq!(report.format_used, Some(LogFormat::Old));
    assert_eq!(report.pages_applied, 64);
    assert_eq!(report.sequence_reached, Some(5));
    assert_eq!(report.logs[0].status, LogStatus::Applied);
    assert_eq!(report.logs[1].format, LogFormat::Empty);
    assert_eq!(report.logs[1].status, LogStatus::Skipped { reason: SkipReason::Empty });
    assert_eq!(report.summary(), "dirty (seq 5/4); replayed 64 pages from OldDirtyHive.LOG1; now at seq 5");

    // Windows rewrote the first hbin's timestamp and a cached max-name-length byte after
    // loading, so compare keys and values, not bytes.
    let recovered = tree(recovered_bytes(&result));
    let expected = tree(&windows);
    assert_eq!(recovered.len(), expected.len());
    assert!(recovered == expected, "recovered keys and values differ from Windows 7's recovery");

    // The expected change: value V = REG_MULTI_SZ [a, bb, ccc] under ...\4500.
    let holders: Vec<&String> = recovered
        .iter()
        .filter(|(path, values)| path.ends_with("\\4500") && values.iter().any(|(name, _, _)| name == "V"))
        .map(|(path, _)| path)
        .collect();
    assert_eq!(holders.len(), 1, "{holders:?}");
    let path = holders[0];
    assert!(path.starts_with("\\key_with_many_subkeys\\"), "{path}");
    let (_, data_type, data) = recovered[path].iter().find(|(name, _, _)| name == "V").unwrap();
    assert_eq!(data_type, "Ok(RegMultiSZ)");
    assert_eq!(utf16_strings(data), ["a", "bb", "ccc"]);
    let stale = tree_without_validation(&primary);
    assert!(stale.get(path).is_none_or(|values| values.iter().all(|(name, _, _)| name != "V")));
}

#[test]
fn bad_base_block_hive_takes_its_base_block_from_log1() {
    let Some(dir) = support::corpus::corpus_dir("bad_base_block_hive_takes_its_base_block_from_log1") else {
        return;
    };
    let primary = read(&dir, "yarp/BadBaseBlockHive/BadBaseBlockHive");
    let log1 = read(&dir, "yarp/BadBaseBlockHive/BadBaseBlockHive.LOG1");
    let log2 = read(&dir, "yarp/BadBaseBlockHive/BadBaseBlockHive.LOG2");

    let result = replay(&primary, &[("BadBaseBlockHive.LOG1", &log1), ("BadBaseBlockHive.LOG2", &log2)]);
    let report = &result.report;
    assert!(!report.base_block_valid);
    assert_eq!(report.base_block_from_log.as_deref(), Some("BadBaseBlockHive.LOG1"));
    assert_eq!(report.pages_applied, 64);
    assert_eq!(report.sequence_reached, Some(5));
    let bytes = recovered_bytes(&result);
    assert!(has_key(bytes, "key_with_many_subkeys"));
    assert!(report.summary().contains("base block taken from BadBaseBlockHive.LOG1"), "{}", report.summary());
}

#[test]
fn clean_hives_need_nothing() {
    let spec = HiveSpec::new("ROOT");
    let hive = spec.build();
    let log = writer::new_format_log(&hive, &hive, 1, 1);
    let inputs = [LogInput { name: "X.LOG1".into(), bytes: &log }];
    assert!(recover(&hive, &inputs).unwrap().is_none());
    if let Some(dir) = support::corpus::corpus_dir("clean_hives_need_nothing") {
        let windows = read(&dir, "logs/NewDirtyHive1/RecoveredHive_Windows10");
        assert!(recover(&windows, &[]).unwrap().is_none());
    }
}

// ------------------------------------------------------------------------------------------
// Synthetic hives and logs.

/// A hive with three keys holding 6000-byte values, so that a change touches several pages.
fn spec(values: [u8; 3], extra_keys: usize) -> HiveSpec {
    let mut spec = HiveSpec::new("ROOT");
    for (index, fill) in values.into_iter().enumerate() {
        let path = format!("Key{index}");
        spec.set_value(&path, ValueSpec::binary("Blob", &[fill; 6000]));
        spec.set_value(&path, ValueSpec::sz("State", &format!("state {fill}")));
    }
    for index in 0..extra_keys {
        spec.set_value(&format!("Added\\Key{index}"), ValueSpec::sz("Note", &"x".repeat(200)));
    }
    spec
}

/// BEFORE (made dirty with secondary sequence `secondary`) and AFTER of one change.
fn before_after(secondary: u32) -> (Vec<u8>, Vec<u8>) {
    let mut before = spec([1, 2, 3], 0).build();
    let after = spec([4, 5, 6], 0).build();
    assert_eq!(before.len(), after.len());
    writer::make_dirty(&mut before, secondary);
    (before, after)
}

#[test]
fn new_format_log_replays_a_change() {
    let (before, after) = before_after(10);
    let log = writer::new_format_log(&before, &after, 10, 1);
    let result = replay(&before, &[("H.LOG1", &log)]);
    let bytes = recovered_bytes(&result);
    assert_eq!(hive_bins(bytes), hive_bins(&after));
    assert_eq!(sequences(bytes), (10, 10));
    assert_eq!(string_value(bytes, "Key1", "State"), "state 5");
    assert_eq!(result.report.entries_applied, 1);
    assert_eq!(result.report.logs[0].status, LogStatus::Applied);
}

#[test]
fn entries_split_over_two_logs_chain_in_any_order() {
    let (before, after) = before_after(10);
    let middle = spec([4, 2, 3], 0).build();
    let log1 = writer::new_format_log(&before, &middle, 10, 2);
    let log2 = writer::new_format_log(&middle, &after, 12, 3);
    for logs in [[("H.LOG1", &log1), ("H.LOG2", &log2)], [("H.LOG2", &log2), ("H.LOG1", &log1)]] {
        let logs = logs.map(|(name, bytes)| (name, bytes.as_slice()));
        let result = replay(&before, &logs);
        assert_eq!(hive_bins(recovered_bytes(&result)), hive_bins(&after));
        assert_eq!(result.report.entries_applied, 5);
        assert_eq!(result.report.sequence_reached, Some(14));
    }
}

#[test]
fn stale_log1_is_skipped_while_log2_applies() {
    let (before, after) = before_after(20);
    // LOG1 is from an earlier cycle (seq 5 < 20): applying it would write old pages.
    let old = spec([9, 9, 9], 0).build();
    let log1 = writer::new_format_log(&before, &old, 5, 2);
    let log2 = writer::new_format_log(&before, &after, 20, 2);
    let result = replay(&before, &[("H.LOG1", &log1), ("H.LOG2", &log2)]);
    assert_eq!(hive_bins(recovered_bytes(&result)), hive_bins(&after));
    let report = &result.report;
    assert_eq!(
        report.logs[0].status,
        LogStatus::Skipped { reason: SkipReason::Stale { log_sequence: 5, primary_secondary: 20 } }
    );
    assert_eq!(report.logs[1].status, LogStatus::Applied);
    assert_eq!(report.sequence_reached, Some(21));
    assert!(report.logs[0].describe().contains("stale"), "{}", report.logs[0].describe());
}

#[test]
fn a_log_that_does_not_continue_the_first_is_not_applied() {
    let (before, after) = before_after(10);
    let log1 = writer::new_format_log(&before, &after, 10, 2);
    let log2 = writer::new_format_log(&before, &after, 13, 1);
    let result = replay(&before, &[("H.LOG1", &log1), ("H.LOG2", &log2)]);
    assert_eq!(
        result.report.logs[1].status,
        LogStatus::Skipped { reason: SkipReason::SequenceGap { expected: 12, found: 13 } }
    );
    assert_eq!(result.report.sequence_reached, Some(11));
}

#[test]
fn sequence_numbers_wrap_around() {
    let (before, after) = before_after(u32::MAX - 1);
    let middle = spec([4, 2, 3], 0).build();
    // LOG1: MAX-1, MAX; LOG2: 0, 1, 2. LOG2 must come after LOG1 although 0 < MAX.
    let log1 = writer::new_format_log(&before, &middle, u32::MAX - 1, 2);
    let log2 = writer::new_format_log(&middle, &after, 0, 3);
    let result = replay(&before, &[("H.LOG2", &log2), ("H.LOG1", &log1)]);
    assert_eq!(hive_bins(recovered_bytes(&result)), hive_bins(&after));
    assert_eq!(result.report.entries_applied, 5);
    assert_eq!(result.report.sequence_reached, Some(2));
    assert_eq!(result.report.logs[0].sequences_applied, Some([0, 2]));
}

#[test]
fn older_entries_after_the_current_ones_end_the_log_normally() {
    let (before, after) = before_after(10);
    let mut log = writer::new_format_log(&before, &after, 10, 2);
    let page = vec![0xAB; 4096];
    log.extend(writer::hvle_entry(7, hive_bins_size(&after), 0, &[(0, &page)]));
    let result = replay(&before, &[("H.LOG1", &log)]);
    assert_eq!(result.report.logs[0].status, LogStatus::Applied);
    assert_eq!(result.report.entries_applied, 2);
    assert_eq!(hive_bins(recovered_bytes(&result)), hive_bins(&after));
}

/// BEFORE with the pages of the first `count` entries of `log` written over it, decoded
/// here from the entry layout (independently of the library).
fn apply_entries_by_hand(before: &[u8], log: &[u8], count: usize) -> Vec<u8> {
    let mut hive = before.to_vec();
    for &at in &writer::entry_offsets(log)[..count] {
        let pages = u32_at(log, at + 20) as usize;
        let mut data = at + 40 + 8 * pages;
        for page in 0..pages {
            let offset = u32_at(log, at + 40 + 8 * page) as usize;
            let size = u32_at(log, at + 44 + 8 * page) as usize;
            let start = BASE_BLOCK_SIZE + offset;
            hive[start..start + size].copy_from_slice(&log[data..data + size]);
            data += size;
        }
    }
    hive
}

#[test]
fn a_bad_hash_mid_way_keeps_the_entries_before_it() {
    let (before, after) = before_after(10);
    let log = writer::new_format_log(&before, &after, 10, 3);
    let entries = writer::entry_offsets(&log);
    assert_eq!(entries.len(), 3);
    let expected = apply_entries_by_hand(&before, &log, 1);
    assert_ne!(hive_bins(&expected), hive_bins(&after));

    // Page data of entry 2 damaged (Hash-1), then its header (Hash-2).
    for (damage_at, reason) in [
        (entries[1] + 600, StopReason::BadDataHash { entry: 2 }),
        (entries[1] + 12, StopReason::BadHeaderHash { entry: 2 }),
    ] {
        let mut damaged = log.clone();
        damaged[damage_at] ^= 0x01;
        let result = replay(&before, &[("H.LOG1", &damaged)]);
        let bytes = recovered_bytes(&result);
        assert_eq!(hive_bins(bytes), hive_bins(&expected));
        let report = &result.report;
        assert_eq!(report.entries_applied, 1);
        assert_eq!(report.sequence_reached, Some(10));
        assert_eq!(report.logs[0].status, LogStatus::PartiallyApplied { stopped: reason });
        assert!(report.warnings.iter().any(|w| w.contains("bad hash at entry 2")), "{:?}", report.warnings);
        Hive::new(bytes).expect("nt-hive accepts the partly recovered hive");
    }
}

#[test]
fn a_sequence_jump_inside_a_log_stops_it() {
    let (before, after) = before_after(10);
    let mut log = writer::new_format_log(&before, &after, 10, 3);
    let entries = writer::entry_offsets(&log);
    let end = entries[2];
    writer::put_u32(&mut log, entries[1] + 12, 15);
    writer::rehash_entry(&mut log[entries[1]..end]);
    let result = replay(&before, &[("H.LOG1", &log)]);
    assert_eq!(
        result.report.logs[0].status,
        LogStatus::PartiallyApplied { stopped: StopReason::SequenceGap { entry: 2, expected: 11, found: 15 } }
    );
    assert_eq!(result.report.entries_applied, 1);
}

#[test]
fn a_log_can_grow_the_hive() {
    let mut before = spec([1, 2, 3], 0).build();
    let after = spec([1, 2, 3], 40).build();
    assert!(after.len() > before.len());
    writer::make_dirty(&mut before, 3);
    let log = writer::new_format_log(&before, &after, 3, 2);
    let result = replay(&before, &[("H.LOG1", &log)]);
    let bytes = recovered_bytes(&result);
    assert_eq!(hive_bins(bytes), hive_bins(&after));
    let report = &result.report;
    assert_eq!(report.hive_bins_size_before, hive_bins_size(&before));
    assert_eq!(report.hive_bins_size_after, hive_bins_size(&after));
    assert!(report.summary().contains(" -> "), "{}", report.summary());
    assert!(has_key(bytes, "Added\\Key39"));
    assert_eq!(tree(bytes), tree(&after));

    // The old format grows hives the same way.
    let log = writer::old_format_log(&before, &after, 3);
    let result = replay(&before, &[("H.LOG", &log)]);
    assert_eq!(hive_bins(recovered_bytes(&result)), hive_bins(&after));
}

#[test]
fn an_invalid_primary_base_block_is_taken_from_the_log() {
    let (mut before, after) = before_after(10);
    before[100] ^= 0xFF; // reserved byte: only the checksum notices
    let new_log = writer::new_format_log(&before, &after, 10, 2);
    let old_log = writer::old_format_log(&before, &after, 10);
    for (log, format) in [(new_log, LogFormat::New), (old_log, LogFormat::Old)] {
        let result = replay(&before, &[("H.LOG1", &log)]);
        let bytes = recovered_bytes(&result);
        let report = &result.report;
        assert!(!report.base_block_valid);
        assert_eq!(report.format_used, Some(format));
        assert_eq!(report.base_block_from_log.as_deref(), Some("H.LOG1"));
        assert_eq!(hive_bins(bytes), hive_bins(&after));
        assert_eq!(bytes[100], after[100]);
        assert_eq!(string_value(bytes, "Key2", "State"), "state 6");
    }
}

#[test]
fn an_invalid_primary_without_a_usable_log_is_read_as_it_is() {
    let (mut before, _) = before_after(10);
    before[100] ^= 0xFF;
    let result = replay(&before, &[]);
    assert!(result.bytes.is_none());
    assert!(result.report.warnings.iter().any(|w| w.contains("bad checksum")), "{:?}", result.report.warnings);

    // Not even a "regf" signature and no log: nothing usable can come out.
    before[0] = b'X';
    assert!(recover(&before, &[]).is_err());
}

#[test]
fn old_format_log_replays_a_change() {
    let (before, after) = before_after(10);
    let log = writer::old_format_log(&before, &after, 11);
    let result = replay(&before, &[("H.LOG1", &log), ("H.LOG2", &[])]);
    let bytes = recovered_bytes(&result);
    assert_eq!(hive_bins(bytes), hive_bins(&after));
    assert_eq!(sequences(bytes), (11, 11));
    let changed =
        hive_bins(&before).chunks(512).zip(hive_bins(&after).chunks(512)).filter(|(a, b)| a != b).count() as u32;
    assert_eq!(result.report.pages_applied, changed);
    assert_eq!(result.report.logs[0].pages_applied, changed);
}

#[test]
fn old_format_log_with_another_timestamp_is_not_applied() {
    let (before, after) = before_after(10);
    let mut log = writer::old_format_log(&before, &after, 11);
    let ticks = u64::from_le_bytes(before[12..20].try_into().unwrap());
    writer::set_last_written(&mut log, ticks + 10_000_000);
    let result = replay(&before, &[("H.LOG1", &log)]);
    assert!(result.bytes.is_none());
    let status = &result.report.logs[0].status;
    assert!(matches!(status, LogStatus::Skipped { reason: SkipReason::TimestampMismatch { .. } }), "{status:?}");
    assert!(result.report.warnings[0].contains("recent changes may be missing"));
}

#[test]
fn the_most_recent_old_format_log_wins() {
    // With an invalid primary base block, every log at or after the first hive bin's time is
    // eligible, and the most recent one is used.
    let (mut before, after) = before_after(10);
    before[100] ^= 0xFF;
    let middle = spec([4, 2, 3], 0).build();
    let older = writer::old_format_log(&before, &middle, 10);
    let mut newer = writer::old_format_log(&before, &after, 11);
    let ticks = u64::from_le_bytes(before[12..20].try_into().unwrap());
    writer::set_last_written(&mut newer, ticks + 1);
    for logs in [[("H.LOG1", &older), ("H.LOG2", &newer)], [("H.LOG2", &newer), ("H.LOG1", &older)]] {
        let logs = logs.map(|(name, bytes)| (name, bytes.as_slice()));
        let result = replay(&before, &logs);
        assert_eq!(hive_bins(recovered_bytes(&result)), hive_bins(&after));
        assert_eq!(result.report.base_block_from_log.as_deref(), Some("H.LOG2"));
        assert_eq!(result.report.sequence_reached, Some(11));
        let older_report = result.report.logs.iter().find(|log| log.name == "H.LOG1").unwrap();
        assert_eq!(older_report.status, LogStatus::Skipped { reason: SkipReason::Superseded { by: "H.LOG2".into() } });
    }
}

#[test]
fn a_dirty_hive_without_logs_is_reported() {
    let (before, _) = before_after(4316);
    let result = replay(&before, &[]);
    assert!(result.bytes.is_none());
    let report = &result.report;
    assert!(!report.applied);
    assert_eq!(report.summary(), "dirty (seq 4317/4316); no transaction log: reading the stale primary");
    assert_eq!(report.warnings.len(), 1);
    assert!(report.warnings[0].contains("recent changes may be missing"), "{}", report.warnings[0]);
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["primary_sequence"], 4317);
}

#[test]
fn zero_byte_logs_are_skipped() {
    let (before, _) = before_after(10);
    let result = replay(&before, &[("H.LOG1", &[]), ("H.LOG2", &[])]);
    assert!(result.bytes.is_none());
    for log in &result.report.logs {
        assert_eq!(log.format, LogFormat::Empty);
        assert_eq!(log.status, LogStatus::Skipped { reason: SkipReason::Empty });
    }
    assert!(result.report.summary().contains("no usable transaction log among 2"));
    let json = serde_json::to_value(&result.report).unwrap();
    assert_eq!(json["logs"][0]["status"], "skipped");
    assert_eq!(json["logs"][0]["reason"]["kind"], "empty");
}

#[test]
fn hostile_size_claims_are_refused_without_allocating() {
    let (before, after) = before_after(10);
    let four_gib_minus_a_page = u32::MAX - 4095;
    let page = vec![0u8; 4096];

    // An entry with valid hashes claiming a 4 GiB hive.
    let mut log = writer::new_format_log(&before, &after, 10, 1);
    log.truncate(512);
    log.extend(writer::hvle_entry(10, four_gib_minus_a_page, 0, &[(0, &page)]));
    let result = replay(&before, &[("H.LOG1", &log)]);
    assert!(result.bytes.is_none());
    let limit = result.report.hive_bins_limit;
    assert!(limit < 1 << 20, "bound {limit} follows the input size");
    assert_eq!(
        result.report.logs[0].status,
        LogStatus::PartiallyApplied {
            stopped: StopReason::HiveTooLarge { entry: 1, claimed: u64::from(four_gib_minus_a_page), limit }
        }
    );
    let warnings = &result.report.warnings;
    assert!(warnings.iter().any(|w| w.contains("claims a hive of 4294963200 bytes")), "{warnings:?}");

    // A page reference far outside the entry's hive.
    let mut log = writer::new_format_log(&before, &after, 10, 1);
    log.truncate(512);
    log.extend(writer::hvle_entry(10, 8192, 0, &[(u32::MAX - 100, &page)]));
    let result = replay(&before, &[("H.LOG1", &log)]);
    assert!(matches!(
        result.report.logs[0].status,
        LogStatus::PartiallyApplied { stopped: StopReason::PageOutOfRange { entry: 1, page: 1, .. } }
    ));

    // An old-format log and a log base block (for an invalid primary) claiming 4 GiB.
    let mut old = writer::old_format_log(&before, &after, 10);
    writer::set_field(&mut old, writer::HIVE_BINS_SIZE, four_gib_minus_a_page);
    let result = replay(&before, &[("H.LOG1", &old)]);
    assert!(matches!(result.report.logs[0].status, LogStatus::Skipped { reason: SkipReason::HiveTooLarge { .. } }));
    let mut invalid_primary = before.clone();
    invalid_primary[100] ^= 0xFF;
    let mut new = writer::new_format_log(&before, &after, 10, 1);
    writer::set_field(&mut new, writer::HIVE_BINS_SIZE, four_gib_minus_a_page);
    let result = replay(&invalid_primary, &[("H.LOG1", &new)]);
    assert!(result.bytes.is_none());
    assert!(matches!(result.report.logs[0].status, LogStatus::Skipped { reason: SkipReason::HiveTooLarge { .. } }));
}

/// Every damaged variant must give a report (or a recovered hive nt-hive accepts), never a
/// panic.
fn recover_damaged(primary: &[u8], name: &str, log: &[u8]) {
    let inputs = [LogInput { name: name.into(), bytes: log }];
    let result = recover(primary, &inputs).expect("a regf primary always yields a result");
    let result = result.expect("dirty");
    if let Some(bytes) = &result.bytes {
        Hive::new(bytes.as_slice()).expect("a recovered base block is always valid");
    }
    let _ = result.report.summary();
}

#[test]
fn truncated_and_bit_flipped_logs_never_panic() {
    let (before, after) = before_after(10);
    let mut invalid_primary = before.clone();
    invalid_primary[100] ^= 0xFF;
    let logs = [
        ("H.LOG1", writer::new_format_log(&before, &after, 10, 3)),
        ("H.LOG", writer::old_format_log(&before, &after, 10)),
    ];
    for primary in [&before, &invalid_primary] {
        for (name, log) in &logs {
            // Every length near the structure boundaries, and a stride through the rest.
            let mut lengths: Vec<usize> = (0..log.len()).step_by(61).collect();
            for boundary in writer::entry_offsets(log).into_iter().chain([512, 516, 1024]) {
                lengths.extend(boundary.saturating_sub(3)..(boundary + 44).min(log.len()));
            }
            for length in lengths {
                recover_damaged(primary, name, &log[..length]);
            }
            // Every bit of the base block and the headers, then every 251st bit.
            let mut bits: Vec<usize> = (0..(1024 * 8).min(log.len() * 8)).collect();
            for entry in writer::entry_offsets(log) {
                bits.extend(entry * 8..(entry + 64) * 8);
            }
            bits.extend((0..log.len() * 8).step_by(251));
            let mut flipped = log.clone();
            for bit in bits {
                flipped[bit / 8] ^= 1 << (bit % 8);
                recover_damaged(primary, name, &flipped);
                flipped[bit / 8] ^= 1 << (bit % 8);
            }
        }
    }
}

#[test]
fn garbage_logs_never_panic() {
    let (before, _) = before_after(10);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for length in [0, 1, 4, 511, 512, 4096, 9000] {
        let mut garbage: Vec<u8> = (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        recover_damaged(&before, "H.LOG1", &garbage);
        if length >= 4096 {
            // A valid log base block and an entry signature over garbage.
            garbage[..512].copy_from_slice(&writer::new_format_log(&before, &before, 10, 1)[..512]);
            recover_damaged(&before, "H.LOG1", &garbage);
            garbage[512..516].copy_from_slice(b"HvLE");
            recover_damaged(&before, "H.LOG1", &garbage);
        }
    }
}

#[test]
fn the_log_writer_hashes_like_the_reference() {
    assert_eq!(writer::marvin32(b""), 0xb39e_fca4_0396_6e08);
    assert_eq!(writer::marvin32(&[0; 4]), 0x2400_585e_2d11_6fbf);
}
