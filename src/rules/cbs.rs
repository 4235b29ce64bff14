//! Per-patch view: Component Based Servicing packages whose `CurrentState` means the change
//! completes at the next boot.

use serde::Serialize;

use crate::load::filetime::FileTime;
use crate::load::reader::{Key, ReadError};

pub const PACKAGES_KEY: &str = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages";

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
    matches!(state, 0x05 | 0x60 | 0x65)
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

/// `KB5034441` from names like `Package_for_KB5034441~31bf…` or `Package_1_for_KB5034441~…`.
pub fn kb_from_package_name(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    let start = upper.find("_FOR_KB")? + "_FOR_".len();
    let digits: String = upper[start + 2..].chars().take_while(|c| c.is_ascii_digit()).collect();
    (!digits.is_empty()).then(|| format!("KB{digits}"))
}

fn dword(key: &Key<'_>, name: &str) -> Result<Option<u32>, ReadError> {
    Ok(key.value(name)?.map(|v| v.typed()).transpose()?.and_then(|d| d.as_u64()).map(|n| n as u32))
}

/// Every package whose state waits for a reboot, in stored (name) order.
pub fn pending_packages(packages: &Key<'_>) -> Result<Vec<PendingPackage>, ReadError> {
    let mut pending = Vec::new();
    packages.for_each_subkey(|package| {
        let Some(state) = dword(&package, "CurrentState")? else { return Ok(()) };
        if !waits_for_reboot(state) {
            return Ok(());
        }
        let name = package.name()?;
        let install_time = match (dword(&package, "InstallTimeHigh")?, dword(&package, "InstallTimeLow")?) {
            (Some(high), Some(low)) => Some(FileTime::from_u64((high as u64) << 32 | low as u64)),
            _ => None,
        };
        pending.push(PendingPackage {
            kb: kb_from_package_name(&name),
            package: name,
            state,
            state_name: state_name(state),
            install_time,
            key_last_write: package.last_write(),
        });
        Ok(())
    })?;
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kb_numbers_from_package_names() {
        assert_eq!(
            kb_from_package_name("Package_for_KB5034441~31bf3856ad364e35~amd64~~19041.3920.1.2"),
            Some("KB5034441".into())
        );
        assert_eq!(
            kb_from_package_name("Package_2_for_KB4586864~31bf3856ad364e35~amd64~~10.0.1.3"),
            Some("KB4586864".into())
        );
        assert_eq!(kb_from_package_name("Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4291.1.10"), None);
    }

    #[test]
    fn states() {
        assert_eq!(state_name(0x60), "Install Pending");
        assert_eq!(state_name(0xFFFF_FF90), "Installed (broken)");
        assert!(waits_for_reboot(0x65) && waits_for_reboot(5) && !waits_for_reboot(0x70));
    }
}
