//! Load: from a file on disk to a trustworthy, read-only view of one hive.
//!
//! Knows about bytes, cells and transaction logs; knows nothing about reboots.

pub mod base_block;
pub mod cells;
pub mod control_set;
pub mod filetime;
pub mod guard;
pub mod kind;
pub mod logs;
pub mod multi_sz;
pub mod open;
pub mod pending_renames;
pub mod reader;
pub mod sigbus;

pub use open::{HiveFile, LoadError, LoadOptions, LogSet};
