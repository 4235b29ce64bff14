//! The partition table (MBR with its EBR chain, GPT with its backup and CRCs, a bare volume)
//! read from the input as the whole disk, held in memory, and the partitions it gives read.
//! Half of the inputs have their GPT CRCs repaired (common/mod.rs), so that mutations reach
//! the entries.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut disk = data.to_vec();
    if common::repairs(data) {
        common::repair_gpt(&mut disk);
    }
    common::read_disk(&mut &disk[..], data);
});
