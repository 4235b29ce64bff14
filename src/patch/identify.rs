//! Product line, version and edition group from SOFTWARE `Microsoft\Windows NT\CurrentVersion`.
//!
//! The build number decides, not the marketing name: Windows 11 still says "Windows 10 …" in
//! `ProductName`, `ReleaseId` stays "2009" from Windows 10 20H2 on, and the same build can be a
//! client or a server (14393, 17763, 26100), which `InstallationType` tells apart.

use serde::Serialize;

use super::table::{self, Build, Editions, ProductLine};
use crate::context::OsInfo;

/// First Windows 11 build; every client build below it is Windows 10.
const FIRST_WINDOWS_11_BUILD: u32 = 22000;

/// Where the reported version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// The table's version for the machine's build (the reliable source).
    Table,
    /// The build is not in the table: `DisplayVersion` as the registry states it.
    DisplayVersion,
    /// The build is not in the table and there is no `DisplayVersion`: `ReleaseId`.
    ReleaseId,
}

/// What the registry values say the machine is.
#[derive(Debug, Clone)]
pub struct Identity {
    pub line: Option<ProductLine>,
    pub version: Option<String>,
    pub version_source: Option<VersionSource>,
    pub editions: Option<Editions>,
    pub build: Option<&'static Build>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Client,
    Server,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Client => "client",
            Kind::Server => "server",
        }
    }
}

fn contains_ignore_case(text: &str, needle: &str) -> bool {
    text.to_ascii_lowercase().contains(&needle.to_ascii_lowercase())
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len()).is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// Client or server: `InstallationType` ("Client", "Server", "Server Core", "Nano Server"),
/// else `ProductName` (every server's starts "Windows Server"), else the build when only one
/// kind has it in the table.
fn kind(os: &OsInfo, notes: &mut Vec<String>) -> Option<Kind> {
    if let Some(installation) = &os.installation_type {
        if installation.trim().eq_ignore_ascii_case("client") {
            return Some(Kind::Client);
        }
        if contains_ignore_case(installation, "server") {
            return Some(Kind::Server);
        }
        notes.push(format!("InstallationType {installation:?} is neither client nor server"));
    }
    if let Some(product) = &os.product_name {
        let kind = if contains_ignore_case(product, "windows server") { Kind::Server } else { Kind::Client };
        notes.push(format!("no usable InstallationType: {} according to ProductName {product:?}", kind.name()));
        return Some(kind);
    }
    let build = os.current_build?;
    let mut kinds =
        table::lines_with_build(build).map(|b| if b.line.is_server() { Kind::Server } else { Kind::Client });
    let first = kinds.next()?;
    if kinds.all(|k| k == first) {
        notes.push(format!("no InstallationType or ProductName: build {build} is only a {} build", first.name()));
        return Some(first);
    }
    notes.push(format!("no InstallationType or ProductName: build {build} is both a client and a server build"));
    None
}

/// Edition group for the lifecycle, from `EditionID`.
fn editions(os: &OsInfo, kind: Kind) -> Option<Editions> {
    if kind == Kind::Server {
        return Some(Editions::Server);
    }
    let edition = os.edition_id.as_deref()?.trim();
    let starts = |prefix: &str| starts_with_ignore_case(edition, prefix);
    // LTSC editions end in "S" (EnterpriseS, EnterpriseSN, IoTEnterpriseS, IoTEnterpriseSK):
    // test them before their General Availability Channel namesakes.
    if starts("EnterpriseS") || starts("IoTEnterpriseS") {
        Some(Editions::Ltsc)
    } else if starts("Enterprise") || starts("Education") || starts("IoTEnterprise") || starts("ServerRdsh") {
        // ServerRdsh is Windows 10/11 Enterprise multi-session (InstallationType "Client").
        Some(Editions::EnterpriseEducation)
    } else if starts("Core") || starts("Professional") {
        // Core* are the Home editions; Professional* include Pro Education and Pro for Workstations.
        Some(Editions::HomePro)
    } else {
        None
    }
}

/// Identifies product line, version and edition group.
pub fn identify(os: &OsInfo) -> Identity {
    let mut notes = Vec::new();
    let kind = kind(os, &mut notes);
    let line = match (kind, os.current_build) {
        (_, None) => None,
        (Some(Kind::Client), Some(build)) => {
            Some(if build >= FIRST_WINDOWS_11_BUILD { ProductLine::Win11 } else { ProductLine::Win10 })
        }
        (Some(Kind::Server), Some(build)) => {
            let line = table::lines_with_build(build).map(|b| b.line).find(|l| l.is_server());
            if line.is_none() {
                notes.push(format!("server build {build} is not in the build table: product line unknown"));
            }
            line
        }
        (None, Some(_)) => None,
    };
    if let (Some(ProductLine::Win11), Some(product)) = (line, &os.product_name) {
        if contains_ignore_case(product, "windows 10") {
            notes.push(format!(
                "ProductName says {product:?}: Windows 11 keeps that name; build {} is Windows 11",
                os.current_build.unwrap_or_default()
            ));
        }
    }
    let build = match (line, os.current_build) {
        (Some(line), Some(build)) => table::find_build(line, build),
        _ => None,
    };
    let display_version = os.display_version.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let release_id = os.release_id.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let (version, version_source) = if let Some(build) = build {
        if let Some(stated) = display_version.filter(|v| !v.eq_ignore_ascii_case(build.version)) {
            notes.push(format!("DisplayVersion says {stated} but build {} is version {}", build.build, build.version));
        }
        (Some(build.version.to_string()), Some(VersionSource::Table))
    } else if let Some(stated) = display_version {
        (Some(stated.to_string()), Some(VersionSource::DisplayVersion))
    } else if let Some(stated) = release_id {
        (Some(stated.to_string()), Some(VersionSource::ReleaseId))
    } else {
        (None, None)
    };
    let editions = kind.and_then(|kind| editions(os, kind));
    if kind == Some(Kind::Client) && editions.is_none() {
        match &os.edition_id {
            Some(edition) => notes.push(format!("EditionID {edition:?} is not a known edition group")),
            None => notes.push("no EditionID: edition group (and so the end of servicing) unknown".into()),
        }
    }
    Identity { line, version, version_source, editions, build, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(product: &str, installation: Option<&str>, edition: &str, build: u32) -> OsInfo {
        OsInfo {
            product_name: Some(product.into()),
            edition_id: Some(edition.into()),
            installation_type: installation.map(str::to_string),
            current_build: Some(build),
            ..OsInfo::default()
        }
    }

    #[test]
    fn windows_11_by_build_whatever_the_product_name() {
        let id = identify(&os("Windows 10 Pro", Some("Client"), "Professional", 22631));
        assert_eq!(id.line, Some(ProductLine::Win11));
        assert_eq!(id.version.as_deref(), Some("23H2"));
        assert_eq!(id.editions, Some(Editions::HomePro));
        assert!(id.notes.iter().any(|n| n.contains("Windows 11 keeps that name")));
    }

    #[test]
    fn client_or_server_by_installation_type() {
        let server = identify(&os("Windows Server 2019 Datacenter", Some("Server Core"), "ServerDatacenter", 17763));
        assert_eq!((server.line, server.version.as_deref()), (Some(ProductLine::Server2019), Some("1809")));
        let ltsc = identify(&os("Windows 10 Enterprise LTSC 2019", Some("Client"), "EnterpriseS", 17763));
        assert_eq!((ltsc.line, ltsc.editions), (Some(ProductLine::Win10), Some(Editions::Ltsc)));
        let no_type = identify(&os("Windows Server 2022 Standard", None, "ServerStandard", 20348));
        assert_eq!(no_type.line, Some(ProductLine::Server2022));
        let multi_session = identify(&os("Windows 10 Enterprise multi-session", Some("Client"), "ServerRdsh", 19045));
        assert_eq!(
            (multi_session.line, multi_session.editions),
            (Some(ProductLine::Win10), Some(Editions::EnterpriseEducation))
        );
    }

    #[test]
    fn shared_build_without_any_kind_hint_stays_unknown() {
        let bare = OsInfo { current_build: Some(17763), ..OsInfo::default() };
        assert_eq!(identify(&bare).line, None);
        let only_client = OsInfo { current_build: Some(22631), ..OsInfo::default() };
        assert_eq!(identify(&only_client).line, Some(ProductLine::Win11));
    }

    #[test]
    fn unknown_build_takes_the_stated_version() {
        let mut insider = os("Windows 10 Pro", Some("Client"), "Professional", 27881);
        insider.display_version = Some("26H2".into());
        let id = identify(&insider);
        assert_eq!(id.line, Some(ProductLine::Win11));
        assert_eq!((id.version.as_deref(), id.version_source), (Some("26H2"), Some(VersionSource::DisplayVersion)));
        assert!(id.build.is_none());
    }

    #[test]
    fn edition_groups() {
        let group = |edition: &str| editions(&os("x", Some("Client"), edition, 19045), Kind::Client);
        assert_eq!(group("Core"), Some(Editions::HomePro));
        assert_eq!(group("CoreSingleLanguage"), Some(Editions::HomePro));
        assert_eq!(group("ProfessionalWorkstation"), Some(Editions::HomePro));
        assert_eq!(group("Education"), Some(Editions::EnterpriseEducation));
        assert_eq!(group("EnterpriseN"), Some(Editions::EnterpriseEducation));
        assert_eq!(group("IoTEnterprise"), Some(Editions::EnterpriseEducation));
        assert_eq!(group("EnterpriseSN"), Some(Editions::Ltsc));
        assert_eq!(group("IoTEnterpriseS"), Some(Editions::Ltsc));
        assert_eq!(group("Cloud"), None);
    }
}
