//! Per-patch view: Component Based Servicing packages whose `CurrentState` means the change
//! completes at the next boot.

use serde::Serialize;

use crate::load::filetime::FileTime;
use crate::load::reader::{name_order_key, DwordCell, Key, PageHint, ReadError};
use crate::patch::ROLLUP_PREFIX;

pub const SERVICING_KEY: &str = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing";
pub use crate::rules::catalogue::CBS_PACKAGES_KEY as PACKAGES_KEY;

pub use crate::context::cbs::{kb_from_package_name, state_name, waits_for_reboot, PendingPackage};

fn dword(key: &Key<'_>, name: &str) -> Result<Option<u32>, ReadError> {
    Ok(key.value(name)?.map(|v| v.typed()).transpose()?.and_then(|d| d.as_u64()).map(|n| n as u32))
}

fn pending_package(package: &Key<'_>, state: u32) -> Result<PendingPackage, ReadError> {
    let name = package.name()?;
    let install_time = match (dword(package, "InstallTimeHigh")?, dword(package, "InstallTimeLow")?) {
        (Some(high), Some(low)) => Some(FileTime::from_u64((high as u64) << 32 | low as u64)),
        _ => None,
    };
    Ok(PendingPackage {
        kb: kb_from_package_name(&name),
        package: name,
        state,
        state_name: state_name(state),
        install_time,
        key_last_write: package.last_write(),
    })
}

/// Every package whose state waits for a reboot, in stored (name) order: reads every
/// package's `CurrentState` (see [`Key::for_each_subkey_dword`]). `pages` hears which bytes
/// each batch of packages spans and when they may be released.
pub fn pending_packages(
    packages: &Key<'_>,
    pages: &mut dyn FnMut(PageHint),
) -> Result<(Vec<PendingPackage>, usize), ReadError> {
    let mut pending = Vec::new();
    let read = packages.for_each_subkey_dword("CurrentState", pages, |entry| {
        let state = match entry.value {
            DwordCell::Absent => return Ok(()),
            DwordCell::Inline(state) if !waits_for_reboot(state) => return Ok(()),
            DwordCell::Inline(state) => Some(state),
            DwordCell::Other => None,
        };
        let name = entry.name(packages.path())?;
        let package = match packages.subkey(&name)? {
            Some(package) => package,
            // The lookup by name is a binary search; a list out of order (never written by
            // Windows) still holds the key: find it the slow way.
            None => {
                let mut found = None;
                packages.for_each_subkey(|key| {
                    if found.is_none() && name_order_key(&key.name()?) == name_order_key(&name) {
                        found = Some(key);
                    }
                    Ok(())
                })?;
                found.ok_or_else(|| ReadError {
                    key: format!("{}\\{name}", packages.path()),
                    problem: "listed in the subkey list but not found by name (corrupt list)".into(),
                })?
            }
        };
        // Values in another form than an inline DWORD are decoded the ordinary way.
        let Some(state) = state.or(dword(&package, "CurrentState")?) else { return Ok(()) };
        if waits_for_reboot(state) {
            pending.push(pending_package(&package, state)?);
        }
        Ok(())
    });
    Ok((pending, read?))
}

/// The servicing store's own records of what waits for the reboot, below
/// [`SERVICING_KEY`]: keys whose subkey and value names are package identities.
/// (`SessionsPending` sessions name no packages in any layout we have a source for.)
const RECORDS: [(&str, FoundBy); 2] =
    [("PackagesPending", FoundBy::PackagesPending), ("RebootPending", FoundBy::RebootPending)];

/// How the packages waiting for the reboot were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FoundBy {
    /// Named by `Component Based Servicing\PackagesPending`, each confirmed by its state.
    #[serde(rename = "PackagesPending")]
    PackagesPending,
    /// Named by `Component Based Servicing\RebootPending`, each confirmed by its state.
    #[serde(rename = "RebootPending")]
    RebootPending,
    /// Named by both records.
    #[serde(rename = "PackagesPending+RebootPending")]
    BothRecords,
    /// Every package's `CurrentState` read.
    #[serde(rename = "full walk")]
    FullWalk,
}

impl FoundBy {
    pub fn label(self) -> &'static str {
        match self {
            FoundBy::PackagesPending => "PackagesPending",
            FoundBy::RebootPending => "RebootPending",
            FoundBy::BothRecords => "PackagesPending+RebootPending",
            FoundBy::FullWalk => "full walk",
        }
    }

    fn and(self, other: FoundBy) -> FoundBy {
        if self == other {
            self
        } else {
            FoundBy::BothRecords
        }
    }
}

/// How to look for the packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageSearchMode {
    /// Every package's `CurrentState` read: the exact list (the default). CBS's records are
    /// compared with it and the detail says what they named.
    FullWalk,
    /// Fast and not exhaustive (`--packages records`): the packages CBS's records name, when
    /// they all wait for the reboot; every package otherwise. A pending package the records do
    /// not name is missed, and the detail says how many packages were not read.
    Records,
}

/// How the packages waiting for the reboot were found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackageSearch {
    pub found_by: FoundBy,
    /// Why this way (which records named what, or why every package was read).
    pub detail: String,
    /// Package keys whose state was read.
    pub packages_read: usize,
    /// Package keys under `Packages` (from its key node).
    pub packages_total: usize,
}

/// A CBS package identity: `name~public key token~architecture~language~version`.
fn is_package_identity(name: &str) -> bool {
    name.split('~').count() == 5 && !name.starts_with('~')
}

/// The packages of the servicing store (SOFTWARE `root`) that wait for the reboot.
///
/// [`PackageSearchMode::FullWalk`] reads every package's `CurrentState` (see
/// [`Key::for_each_subkey_dword`]): nothing CBS records in the hive is a complete list of the
/// packages whose state changes at the next boot. `PackagesPending` and `RebootPending` name
/// what the last servicing session queued (a cumulative update, typically), not a package
/// left Partially Installed by an earlier failure, nor every package a session changed; no
/// value counts the pending packages; `SessionsPending` sessions name none (their package
/// lists live in `Windows\servicing\Sessions\*.xml`, not in the hive). So only the walk is
/// exact; the records are read too (a few small keys) and the detail says how many of the
/// pending packages they named, and which named package does not wait for the reboot.
///
/// [`PackageSearchMode::Records`] trusts the records when they agree with the store (every
/// named package exists and waits for the reboot, every cumulative update waiting for the
/// reboot, found by a prefix lookup, is named) and reads only those packages; otherwise every
/// package. `Ok(None)`: SOFTWARE has no `Packages` key.
pub fn find_pending_packages(
    root: &Key<'_>,
    mode: PackageSearchMode,
    pages: &mut dyn FnMut(PageHint),
) -> Result<Option<(Vec<PendingPackage>, PackageSearch)>, ReadError> {
    let Some(servicing) = root.subpath(SERVICING_KEY)? else { return Ok(None) };
    let Some(packages) = servicing.subkey("Packages")? else { return Ok(None) };
    let packages_total = packages.subkey_count().unwrap_or(0);
    let walk_reason = match mode {
        PackageSearchMode::FullWalk => None,
        PackageSearchMode::Records => match from_records(&servicing, &packages)? {
            Ok((found, found_by, names)) => {
                let detail = format!(
                    "{names} package(s) named by {}, each confirmed by its CurrentState; the other {} packages were not read (--packages records; the default reads them all)",
                    found_by.label(),
                    packages_total.saturating_sub(names)
                );
                return Ok(Some((found, PackageSearch { found_by, detail, packages_read: names, packages_total })));
            }
            Err(reason) => Some(reason),
        },
    };
    let (found, read) = pending_packages(&packages, pages)?;
    let detail = match walk_reason {
        Some(reason) => format!("{read} packages read: {reason}"),
        None => format!(
            "{read} packages read (every package: CBS's records are not a complete list); {}",
            records_compared(&servicing, &found)?
        ),
    };
    let search = PackageSearch { found_by: FoundBy::FullWalk, detail, packages_read: read, packages_total };
    Ok(Some((found, search)))
}

/// The package identities `PackagesPending` and `RebootPending` name (subkey and value
/// names), each with the record(s) naming it, in the order first met.
fn record_names(servicing: &Key<'_>) -> Result<Vec<(String, FoundBy)>, ReadError> {
    let mut named: Vec<(String, FoundBy)> = Vec::new();
    for (record, source) in RECORDS {
        let Some(key) = servicing.subkey(record)? else { continue };
        let mut names: Vec<String> = key.values()?.iter().map(|v| v.name().to_string()).collect();
        key.for_each_subkey(|subkey| {
            names.push(subkey.name()?);
            Ok(())
        })?;
        for name in names.into_iter().filter(|name| is_package_identity(name)) {
            match named.iter_mut().find(|(known, _)| name_order_key(known) == name_order_key(&name)) {
                Some((_, by)) => *by = by.and(source),
                None => named.push((name, source)),
            }
        }
    }
    Ok(named)
}

/// What CBS's records said next to what the walk found, in words.
fn records_compared(servicing: &Key<'_>, found: &[PendingPackage]) -> Result<String, ReadError> {
    let named = record_names(servicing)?;
    if named.is_empty() {
        return Ok("no CBS record (PackagesPending, RebootPending) names a package".into());
    }
    // Sorted keys, so that a hostile record of a million names costs a sort, not a product.
    let mut named_keys: Vec<Vec<u16>> = named.iter().map(|(name, _)| name_order_key(name)).collect();
    named_keys.sort_unstable();
    let mut found_keys: Vec<Vec<u16>> = found.iter().map(|package| name_order_key(&package.package)).collect();
    found_keys.sort_unstable();
    let by = named.iter().map(|(_, by)| *by).reduce(FoundBy::and).unwrap_or(FoundBy::PackagesPending);
    let mut text = format!(
        "{} named {} of the {} pending package(s)",
        by.label(),
        found_keys.iter().filter(|key| named_keys.binary_search(key).is_ok()).count(),
        found.len()
    );
    let stale: Vec<&str> = named
        .iter()
        .filter(|(name, _)| found_keys.binary_search(&name_order_key(name)).is_err())
        .map(|(name, _)| name.as_str())
        .collect();
    if !stale.is_empty() {
        const SHOWN: usize = 5;
        let mut list = stale.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
        if stale.len() > SHOWN {
            list.push_str(&format!(" and {} more", stale.len() - SHOWN));
        }
        text.push_str(&format!("; named but not waiting for the reboot (or not under Packages): {list}"));
    }
    Ok(text)
}

/// The packages the records name, when the records agree with the store; else why not.
#[allow(clippy::type_complexity)]
fn from_records(
    servicing: &Key<'_>,
    packages: &Key<'_>,
) -> Result<Result<(Vec<PendingPackage>, FoundBy, usize), String>, ReadError> {
    let named = record_names(servicing)?;
    if named.is_empty() {
        return Ok(Err("no CBS record (PackagesPending, RebootPending) names a package".into()));
    }
    // A cheap check of completeness: the cumulative updates are found exactly by a prefix
    // lookup (a few key nodes); one waiting for the reboot that the records do not name means
    // they do not list everything.
    for rollup in packages.subkeys_with_prefix(ROLLUP_PREFIX)? {
        let name = rollup.name()?;
        let state = dword(&rollup, "CurrentState")?;
        if state.is_some_and(waits_for_reboot)
            && !named.iter().any(|(known, _)| name_order_key(known) == name_order_key(&name))
        {
            return Ok(Err(format!("the records do not name {name}, which waits for the reboot")));
        }
    }
    let mut found = Vec::new();
    let mut found_by: Option<FoundBy> = None;
    for (name, source) in &named {
        let Some(package) = packages.subkey(name)? else {
            return Ok(Err(format!("{} names {name}, which is not under Packages", source.label())));
        };
        match dword(&package, "CurrentState")? {
            Some(state) if waits_for_reboot(state) => {
                found.push((name_order_key(&package.name()?), pending_package(&package, state)?))
            }
            Some(state) => {
                return Ok(Err(format!(
                    "{} names {name}, whose CurrentState is {}: the records are out of date",
                    source.label(),
                    state_name(state)
                )))
            }
            None => return Ok(Err(format!("{} names {name}, which has no CurrentState", source.label()))),
        }
        found_by = Some(found_by.map_or(*source, |by| by.and(*source)));
    }
    // The order a full walk gives: the store's (upper-cased UTF-16) name order.
    found.sort_by(|left, right| left.0.cmp(&right.0));
    let count = found.len();
    Ok(Ok((
        found.into_iter().map(|(_, package)| package).collect(),
        found_by.unwrap_or(FoundBy::PackagesPending),
        count,
    )))
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
