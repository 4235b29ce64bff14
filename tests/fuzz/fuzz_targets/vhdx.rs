//! A VHDX opened and read as a scan reads a disk: the headers, region table, metadata, the
//! BAT pages and payload blocks (src/image/vhdx.rs), and for a dirty file its log replay
//! (log entries, descriptors, data sectors) into memory. Half of the inputs have their CRCs
//! repaired (common/mod.rs), so that mutations reach the log entries' contents.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::open_and_read_image_repaired(data, &["disk.vhdx"], common::repair_vhdx);
});
