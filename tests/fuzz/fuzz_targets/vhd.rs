//! A VHD opened and read as a scan reads a disk: the footer at the end and its copy at byte 0,
//! the dynamic header, the BAT, block bitmaps and blocks; fixed and dynamic disks, the
//! differencing refusal. Half of the inputs have their checksums repaired (common/mod.rs).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::open_and_read_image_repaired(data, &["disk.vhd"], common::repair_vhd);
});
