//! A QCOW2 image opened and read as a scan reads a disk: the header and its extensions, the
//! refusals (backing file, encryption, external data), the L1 and L2 tables, standard,
//! compressed (deflate, zstd) and subclustered clusters. The input is the file (see
//! common/mod.rs for the file-set form the seeds use).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::open_and_read_image(data, &["disk.qcow2"]);
});
