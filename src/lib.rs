//! rebootscan: is a reboot pending on a Windows machine, and what proves it — from offline
//! registry hives.

pub mod inspect;
pub mod load;
