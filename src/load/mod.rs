//! Load: from a file on disk to a trustworthy, read-only view of one hive.
//!
//! Knows about bytes, cells and transaction logs; knows nothing about reboots.

pub mod base_block;
pub mod filetime;
pub mod logs;
