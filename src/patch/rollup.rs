//! Cumulative updates as the servicing store records them: the
//! `Package_for_RollupFix~<token>~<arch>~~<servicing build>.<UBR>.<a>.<b>` keys under CBS
//! `Packages`, with their `CurrentState` and install time.
//!
//! The KB number is not in the name; the servicing build and UBR are, and the table turns them
//! into the KB. The trailing `<a>.<b>` vary between releases and are not part of the OS build.

use serde::Serialize;

use crate::context::cbs::state_name;
use crate::load::filetime::FileTime;
use crate::load::reader::{Key, ReadError};

/// Name prefix of cumulative-update packages (compared case-insensitively, as Windows does).
pub const ROLLUP_PREFIX: &str = "Package_for_RollupFix~";

/// CBS `CurrentState` values this module reasons about (TechNet "CBS Servicing States Chart").
pub use crate::context::cbs::{STATE_INSTALLED, STATE_INSTALL_PENDING, STATE_PARTIALLY_INSTALLED, STATE_PERMANENT};

/// One `Package_for_RollupFix` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollupPackage {
    /// Key name as stored.
    pub name: String,
    /// First part of the package version: 19041 on Windows 10 22H2, 22621 on Windows 11 23H2.
    pub servicing_build: u32,
    pub ubr: u32,
    /// `CurrentState`; `None` when the value is missing or not a number.
    pub state: Option<u32>,
    pub state_name: String,
    /// `InstallTimeHigh`/`InstallTimeLow` (UTC): when the package reached its state on this machine.
    pub install_time: Option<FileTime>,
    pub key_last_write: Option<FileTime>,
}

impl RollupPackage {
    /// Installed (0x70) or Permanent (0x80): the patch level the machine runs.
    pub fn is_installed(&self) -> bool {
        matches!(self.state, Some(STATE_INSTALLED | STATE_PERMANENT))
    }

    /// Install Pending (0x60): completes at the next reboot.
    pub fn is_install_pending(&self) -> bool {
        self.state == Some(STATE_INSTALL_PENDING)
    }

    /// `19041.3803`.
    pub fn build_string(&self) -> String {
        format!("{}.{}", self.servicing_build, self.ubr)
    }
}

/// `(servicing build, UBR)` from a RollupFix package name, or `None` for any other package.
pub fn parse_rollup_name(name: &str) -> Option<(u32, u32)> {
    let prefix = name.get(..ROLLUP_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(ROLLUP_PREFIX) {
        return None;
    }
    // The identity is `name~public key token~arch~language~version`: the version is the last
    // field, four dotted numbers.
    let version = name.rsplit('~').next()?;
    let mut parts = version.split('.');
    let servicing_build = parts.next()?.parse().ok()?;
    let ubr = parts.next()?.parse().ok()?;
    Some((servicing_build, ubr))
}

fn dword(key: &Key<'_>, name: &str) -> Result<Option<u32>, ReadError> {
    let Some(value) = key.value(name)? else { return Ok(None) };
    Ok(value.typed()?.as_u64().and_then(|n| u32::try_from(n).ok()))
}

/// Every RollupFix package under CBS `Packages`, ordered by servicing build and UBR.
///
/// A real SOFTWARE hive has some 30,000 package keys, and the RollupFix ones form a single
/// contiguous run of the name-sorted subkey list: a prefix lookup reads about log2(30,000) key
/// nodes to find it instead of every package's node (a few MB).
pub fn rollup_packages(packages: &Key<'_>) -> Result<Vec<RollupPackage>, ReadError> {
    let mut rollups = Vec::new();
    for package in packages.subkeys_with_prefix(ROLLUP_PREFIX)? {
        let name = package.name()?;
        let Some((servicing_build, ubr)) = parse_rollup_name(&name) else { continue };
        let state = dword(&package, "CurrentState")?;
        let install_time = match (dword(&package, "InstallTimeHigh")?, dword(&package, "InstallTimeLow")?) {
            (Some(high), Some(low)) => Some(FileTime::from_u64(u64::from(high) << 32 | u64::from(low))),
            _ => None,
        };
        rollups.push(RollupPackage {
            servicing_build,
            ubr,
            state,
            state_name: state.map_or_else(|| "no CurrentState".to_string(), state_name),
            install_time,
            key_last_write: package.last_write(),
            name,
        });
    }
    rollups.sort_by(|a, b| (a.servicing_build, a.ubr, &a.name).cmp(&(b.servicing_build, b.ubr, &b.name)));
    Ok(rollups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollup_names() {
        assert_eq!(
            parse_rollup_name("Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.3803.1.3"),
            Some((19041, 3803))
        );
        assert_eq!(
            parse_rollup_name("package_for_rollupfix~31bf3856ad364e35~arm64~~26100.2894.1.18"),
            Some((26100, 2894))
        );
        assert_eq!(
            parse_rollup_name("Package_for_RollupFix~31bf3856ad364e35~amd64~~17763.7314.1.18"),
            Some((17763, 7314))
        );
        assert_eq!(parse_rollup_name("Package_for_KB5034441~31bf3856ad364e35~amd64~~19041.3920.1.2"), None);
        assert_eq!(parse_rollup_name("Package_for_ServicingStack_2423~31bf3856ad364e35~amd64~~22621.2423.1.1"), None);
        assert_eq!(parse_rollup_name("Package_for_RollupFix~31bf3856ad364e35~amd64~~garbage"), None);
        assert_eq!(parse_rollup_name("Package_for_RollupFix"), None);
        assert_eq!(parse_rollup_name("Package_for_RollupFix~é"), None);
    }

    #[test]
    fn states() {
        let package = |state| RollupPackage {
            name: String::new(),
            servicing_build: 19041,
            ubr: 1,
            state,
            state_name: String::new(),
            install_time: None,
            key_last_write: None,
        };
        assert!(package(Some(0x70)).is_installed() && package(Some(0x80)).is_installed());
        assert!(!package(Some(0x60)).is_installed() && package(Some(0x60)).is_install_pending());
        assert!(!package(Some(0x50)).is_installed() && !package(None).is_installed());
    }
}
