//! Component Based Servicing package states: what a package's `CurrentState` means and which
//! states wait for a reboot.

use serde::Serialize;

use crate::load::filetime::FileTime;

/// `CurrentState` of a package installed, waiting for the reboot that completes it.
pub const STATE_INSTALL_PENDING: u32 = 0x60;
/// `CurrentState` of a package partly installed (retried at the next boot).
pub const STATE_PARTIALLY_INSTALLED: u32 = 0x65;
/// `CurrentState` of an installed package.
pub const STATE_INSTALLED: u32 = 0x70;
/// `CurrentState` of a package that can no longer be removed.
pub const STATE_PERMANENT: u32 = 0x80;

/// Name of a CBS `CurrentState` value (TechNet "CBS Servicing States Chart"; CbsApi headers).
pub fn state_name(state: u32) -> String {
    match state {
        0x00 => "Absent".into(),
        0x05 => "Uninstall Pending".into(),
        0x10 => "Resolving".into(),
        0x20 => "Resolved".into(),
        0x30 => "Staging".into(),
        0x40 => "Staged".into(),
        0x50 => "Superseded".into(),
        0x60 => "Install Pending".into(),
        0x65 => "Partially Installed".into(),
        0x70 => "Installed".into(),
        0x80 => "Permanent".into(),
        0xFFFF_FFE0 | 0xFFFF_FFC0 | 0xFFFF_FF90 | 0xFFFF_FF80 => {
            format!("{} (broken)", state_name(state.wrapping_neg()))
        }
        other => format!("unknown state {other:#x}"),
    }
}

/// States in which the package's change completes (or is retried) at the next boot.
pub fn waits_for_reboot(state: u32) -> bool {
    matches!(state, 0x05 | STATE_INSTALL_PENDING | STATE_PARTIALLY_INSTALLED)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingPackage {
    pub package: String,
    pub kb: Option<String>,
    pub state: u32,
    pub state_name: String,
    pub install_time: Option<FileTime>,
    pub key_last_write: Option<FileTime>,
}

impl PendingPackage {
    /// `KB5034441 (Package_for_RollupFix~…)` when the KB is known, else the package name: the
    /// one way text, CSV and HTML name a pending package.
    pub fn label(&self) -> String {
        match &self.kb {
            Some(kb) => format!("{kb} ({})", self.package),
            None => self.package.clone(),
        }
    }
}

/// `KB5034441` from names like `Package_for_KB5034441~31bf…` or `Package_1_for_KB5034441~…`.
pub fn kb_from_package_name(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let start = upper.find("_FOR_KB")? + "_FOR_".len();
    let digits: String = upper[start + 2..].chars().take_while(|c| c.is_ascii_digit()).collect();
    (!digits.is_empty()).then(|| format!("KB{digits}"))
}
