//! The partition table (MBR with its EBR chain, GPT with its backup and CRCs, a bare volume)
//! read from the input as the whole disk, held in memory, and the partitions it gives read.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut disk: &[u8] = data;
    common::read_disk(&mut disk, data);
});
