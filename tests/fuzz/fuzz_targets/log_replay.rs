//! Transaction-log replay: the input is split into a primary hive and two logs (the first
//! eight bytes give the split points), replayed, and the result, if any, scanned.
#![no_main]

use std::path::PathBuf;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rebootscan::load::logs::{recover, LogInput};
use rebootscan::load::{HiveFile, LoadOptions};

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (header, rest) = data.split_at(8);
    let first = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize % (rest.len() + 1);
    let second =
        first + u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize % (rest.len() - first + 1);
    let (primary, logs) = rest.split_at(first);
    let (log1, log2) = logs.split_at(second - first);
    let inputs =
        [LogInput { name: "SYSTEM.LOG1".into(), bytes: log1 }, LogInput { name: "SYSTEM.LOG2".into(), bytes: log2 }];
    if let Ok(Some(recovered)) = recover(primary, &inputs) {
        let _ = recovered.report.summary();
    }
    // The same through the loader, which also reads the recovered hive.
    let label = PathBuf::from("fuzz/SYSTEM");
    let logs = vec![("SYSTEM.LOG1".to_string(), log1.to_vec()), ("SYSTEM.LOG2".to_string(), log2.to_vec())];
    if let Ok(hive) = HiveFile::from_shared(&label, Arc::new(primary.to_vec()), logs, LoadOptions::default()) {
        if let Ok(reader) = hive.reader() {
            if let Ok(root) = reader.root() {
                let _ = root.subkeys();
            }
        }
    }
});
