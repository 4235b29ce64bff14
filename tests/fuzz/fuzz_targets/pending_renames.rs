//! PendingFileRenameOperations decoding and classification on arbitrary value data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rebootscan::context::folders::MachineFolders;
use rebootscan::load::pending_renames::decode;
use rebootscan::rules::pfro::ClassifiedRenames;

fuzz_target!(|data: &[u8]| {
    let classified = ClassifiedRenames::new(decode(data), &MachineFolders::default());
    let _ = classified.strength();
    let _ = classified.summary();
});
