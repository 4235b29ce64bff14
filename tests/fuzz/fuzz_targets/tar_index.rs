//! A tar archive, plain or gzip-compressed, indexed and read as discovery and a scan read one:
//! every header (ustar, PAX extended headers and GNU long names included), member names made
//! tree paths, plain members served in place and gzip members decompressed.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let paths = common::write_files(data, &["evidence.tar"]);
    common::open_and_read_archive(&paths[0]);
});
