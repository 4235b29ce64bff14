//! A VMDK opened and read as a scan reads a disk: a hosted sparse or streamOptimized extent
//! (header, embedded descriptor, grain directory and tables, compressed grain markers), or a
//! descriptor file (file 0) with its extents: file 1 is `disk-s001.vmdk` (SPARSE), file 2
//! `disk-flat.vmdk` (FLAT), as a file-set input names them (see common/mod.rs).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use rebootscan::image::vmdk::Descriptor;

fuzz_target!(|data: &[u8]| {
    // The descriptor parser on its own too (it also reads embedded and separate descriptors).
    if let Ok(descriptor) = Descriptor::parse(&String::from_utf8_lossy(data)) {
        let _ = descriptor.parent();
    }
    common::open_and_read_image(data, &["disk.vmdk", "disk-s001.vmdk", "disk-flat.vmdk"]);
});
