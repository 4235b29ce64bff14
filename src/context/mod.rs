//! Facts about a machine that frame the findings and that both the rules and the patch level
//! use: names, OS build, last shutdown, and the servicing (CBS) package states. Plain data,
//! no registry paths: the rules read these facts from the hives (`rules::context`,
//! `rules::cbs`) and the patch level ([`crate::patch`]) consumes them, so neither depends on
//! the other.

pub mod cbs;
pub mod folders;
pub mod setup;

use serde::Serialize;

use crate::context::folders::MachineFolders;
use crate::context::setup::WindowsSetup;
use crate::load::filetime::FileTime;

/// Operating-system facts from SOFTWARE `Microsoft\Windows NT\CurrentVersion`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OsInfo {
    pub product_name: Option<String>,
    pub edition_id: Option<String>,
    pub installation_type: Option<String>,
    pub display_version: Option<String>,
    pub release_id: Option<String>,
    pub current_build: Option<u32>,
    pub ubr: Option<u32>,
    pub install_date: Option<String>,
}

impl OsInfo {
    /// `19045.4291`, or the build alone when UBR is missing.
    pub fn build_string(&self) -> Option<String> {
        let build = self.current_build?;
        Some(match self.ubr {
            Some(ubr) => format!("{build}.{ubr}"),
            None => build.to_string(),
        })
    }
}

/// Context reported for every machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MachineContext {
    /// NetBIOS name for the next boot (`ComputerName\ComputerName`).
    pub computer_name: Option<String>,
    /// DNS host name (`Tcpip\Parameters\Hostname`).
    pub dns_host_name: Option<String>,
    /// DNS host name for the next boot (`Tcpip\Parameters\NV Hostname`).
    pub nv_host_name: Option<String>,
    pub domain: Option<String>,
    pub os: OsInfo,
    /// `Control\Windows\ShutdownTime`: the last clean shutdown recorded.
    pub last_shutdown: Option<FileTime>,
    /// The folders pending file operations are classified against (from SOFTWARE, else
    /// Windows' defaults).
    pub folders: MachineFolders,
    /// `Control\Session Manager\Environment` `PROCESSOR_ARCHITECTURE` (`AMD64`, `x86`, `ARM64`).
    pub processor_architecture: Option<String>,
    /// Windows Setup state (SYSTEM `Setup`, SOFTWARE `ImageState`): what the next boot runs
    /// when setup has not finished, e.g. a sysprep-generalized image.
    pub windows_setup: WindowsSetup,
}
