//! An EWF (E01) set opened through the ewf crate wrapper and read as a scan reads a disk: the
//! segment set check, sections, tables, compressed and stored chunks, case metadata and
//! hashes. File 0 is `disk.E01`, file 1 `disk.E02` (a file-set input, see common/mod.rs).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::open_and_read_image(data, &["disk.E01", "disk.E02"]);
});
