//! rebootscan: is a reboot pending on a Windows machine, and what proves it — from offline
//! registry hives (SYSTEM, SOFTWARE, COMPONENTS and their transaction logs).
//!
//! The data flow is one module per stage:
//! [`discover`] (machines and their hive files) → [`load`] (bytes, base block, log replay) →
//! [`rules`] (evidence) → [`verdict`] → [`report`] (text, JSON, CSV). [`scan`] runs the
//! stages for one machine.

pub mod context;
pub mod discover;
pub mod image;
pub mod input;
pub mod inspect;
pub mod load;
pub mod messages;
pub mod output;
pub mod patch;
pub mod report;
pub mod rules;
pub mod scan;
pub mod security;
pub mod source;
pub mod verdict;
