//! The base-block parser and its judgement of every field, on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rebootscan::load::base_block::BaseBlock;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = BaseBlock::parse(data) {
        let _ = block.problems(data.len() as u64);
        let _ = block.is_dirty();
        let _ = block.format_version();
    }
});
