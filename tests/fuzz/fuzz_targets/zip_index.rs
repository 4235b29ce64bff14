//! A ZIP archive indexed and read as discovery and a scan read one: the end record and the
//! central-directory walk (member count, sizes and expansion checked here, then the zip
//! crate), member names made tree paths, and members inflated and read.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let paths = common::write_files(data, &["evidence.zip"]);
    common::open_and_read_archive(&paths[0]);
});
