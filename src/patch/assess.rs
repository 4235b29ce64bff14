//! One machine's patch level: which cumulative update it runs, how far behind it is, whether its
//! version is still serviced, and what the servicing store says about it.

use serde::Serialize;
use time::Date;

use super::identify::{identify, Identity, VersionSource};
use super::rollup::{RollupPackage, STATE_PARTIALLY_INSTALLED};
use super::table::{self, Build, Editions, Lifecycle, ProductLine, Release, ReleaseType};
use super::{serialize_date, serialize_option_date};
use crate::context::OsInfo;
use crate::load::filetime::FileTime;

/// How the machine's `CurrentBuild.UBR` matched the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatchStatus {
    /// An exact row: the KB, date and type are known.
    Known,
    /// An exact row of a hotpatch release.
    Hotpatch,
    /// The UBR is above every release the table has for this build: released after the table
    /// date, or a private build. Not guessed.
    NewerThanTable,
    /// The UBR is within the table's range for this build but has no row (a release the source
    /// lacks, or a private build). Not guessed.
    NotInTable,
    /// The build itself (or the product line) is not in the table.
    UnknownBuild,
    /// `CurrentBuild` or `UBR` is missing from the registry.
    NoBuild,
}

impl PatchStatus {
    pub fn label(self) -> &'static str {
        match self {
            PatchStatus::Known => "known",
            PatchStatus::Hotpatch => "hotpatch build",
            PatchStatus::NewerThanTable => "build newer than the table",
            PatchStatus::NotInTable => "build not in table",
            PatchStatus::UnknownBuild => "build unknown to the table",
            PatchStatus::NoBuild => "no build number in the registry",
        }
    }
}

/// A cumulative update from the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateInfo {
    /// `KB5033372`.
    pub kb: String,
    /// OS build it brings (`19045.3803`).
    pub build: String,
    #[serde(serialize_with = "serialize_date")]
    pub released: Date,
    pub release_type: ReleaseType,
}

impl UpdateInfo {
    fn new(build: &Build, release: &Release) -> UpdateInfo {
        UpdateInfo {
            kb: release.kb_name(),
            build: format!("{}.{}", build.build, release.ubr),
            released: release.released,
            release_type: release.release_type,
        }
    }

    /// `KB5033372 (19045.3803, 2023-12-12, monthly (B))`.
    pub fn describe(&self) -> String {
        format!("{} ({}, {}, {})", self.kb, self.build, self.released, self.release_type.label())
    }
}

/// A RollupFix package of the servicing store with the update the table says it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollupUpdate {
    pub package: String,
    /// `<servicing build>.<UBR>` as in the package name (`19041.3803`).
    pub package_build: String,
    pub state_name: String,
    pub install_time: Option<FileTime>,
    /// From the table via the package's servicing build and UBR; `None` when not in the table.
    pub update: Option<UpdateInfo>,
}

impl RollupUpdate {
    fn describe(&self) -> String {
        match &self.update {
            Some(update) => format!("RollupFix {} = {}", self.package_build, update.describe()),
            None => format!("RollupFix {} (not in the table)", self.package_build),
        }
    }
}

/// Whether the servicing store's installed cumulative update agrees with `UBR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RollupCheck {
    /// The highest installed RollupFix has the machine's UBR.
    MatchesUbr,
    /// It has another UBR: both are reported.
    DiffersFromUbr,
    /// RollupFix packages exist but none is Installed or Permanent.
    NoInstalledRollup,
    /// No RollupFix package was given (CBS `Packages` not read, or none there).
    NoRollupPackages,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServicingStatus {
    InServicing,
    Ended,
    Unknown,
}

/// Whether the machine's version still receives updates on the assessment date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Servicing {
    pub status: ServicingStatus,
    /// Edition group whose lifecycle applies.
    pub editions: Option<Editions>,
    /// Last day of servicing.
    #[serde(serialize_with = "serialize_option_date")]
    pub end: Option<Date>,
    /// End of mainstream support, where the source gives one (Server, LTSC).
    #[serde(serialize_with = "serialize_option_date")]
    pub mainstream_end: Option<Date>,
    /// One line for people.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AsOfSource {
    /// No date was given: the table's date.
    TableDate,
    /// Given by the caller (`--as-of`).
    Given,
    /// The time the evidence describes (newest hive write or last shutdown).
    EvidenceTime,
}

/// The patch level of one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchAssessment {
    pub product_line: Option<ProductLine>,
    /// `Windows 11`, `Windows Server 2019`.
    pub product: Option<&'static str>,
    /// `23H2`; from the table for known builds (see `version_source`).
    pub version: Option<String>,
    pub version_source: Option<VersionSource>,
    pub editions: Option<Editions>,
    /// `CurrentBuild.UBR` (`22631.2861`).
    pub build: Option<String>,
    /// Build in the servicing packages' names (22621 on 23H2), when the table knows the build.
    pub servicing_build: Option<u32>,
    /// The version is an enablement package on top of `servicing_build`.
    pub enablement_package: bool,
    pub status: PatchStatus,
    /// The cumulative update `UBR` names (exact table match only).
    pub update: Option<UpdateInfo>,
    /// Newest monthly (B) update the table has for this build on or before `as_of`.
    pub newest_monthly: Option<UpdateInfo>,
    /// Newest release of any type the table has for this build.
    pub newest_in_table: Option<UpdateInfo>,
    /// Monthly (B) updates released after `update` up to `as_of` (distinct KBs).
    pub monthly_updates_behind: Option<u32>,
    /// Days from `update`'s release to `newest_monthly`'s when any monthly update is missing.
    pub days_behind: Option<i64>,
    #[serde(serialize_with = "serialize_date")]
    pub as_of: Date,
    pub as_of_source: AsOfSource,
    #[serde(serialize_with = "serialize_date")]
    pub table_date: Date,
    pub servicing: Servicing,
    /// Highest-UBR RollupFix in state Installed (0x70) or Permanent (0x80).
    pub installed_rollup: Option<RollupUpdate>,
    /// The update that completes at the next reboot: the highest-UBR RollupFix in Install
    /// Pending (0x60).
    pub pending_rollup: Option<RollupUpdate>,
    pub rollup_check: RollupCheck,
    pub rollup_packages: Vec<RollupPackage>,
    pub notes: Vec<String>,
}

impl PatchAssessment {
    /// KB of the cumulative update `UBR` names (CSV "patch KB").
    pub fn kb(&self) -> Option<&str> {
        self.update.as_ref().map(|u| u.kb.as_str())
    }

    /// Its release date (CSV "patch date").
    pub fn released(&self) -> Option<Date> {
        self.update.as_ref().map(|u| u.released)
    }

    /// `in servicing`, `ended 2025-10-14` or `unknown` (CSV "servicing status").
    pub fn servicing_label(&self) -> String {
        match (self.servicing.status, self.servicing.end) {
            (ServicingStatus::InServicing, _) => "in servicing".into(),
            (ServicingStatus::Ended, Some(end)) => format!("ended {end}"),
            (ServicingStatus::Ended, None) => "ended".into(),
            (ServicingStatus::Unknown, _) => "unknown".into(),
        }
    }

    /// The date patch lag is measured at and where it came from, e.g. `2024-01-31 (evidence
    /// time)`.
    pub fn as_of_label(&self) -> String {
        let source = match self.as_of_source {
            AsOfSource::TableDate => "patch table date",
            AsOfSource::Given => "--as-of",
            AsOfSource::EvidenceTime => "evidence time",
        };
        format!("{} ({source})", self.as_of)
    }

    /// One line for the text report.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        let product = match (self.product, &self.version, &self.build) {
            (Some(product), Some(version), Some(build)) => format!("{product} {version} {build}"),
            (Some(product), None, Some(build)) => format!("{product} {build}"),
            (None, _, Some(build)) => format!("build {build}"),
            _ => "no build".to_string(),
        };
        match &self.update {
            Some(update) => {
                parts.push(format!("{product}: {} ({}, {})", update.kb, update.released, update.release_type.label()))
            }
            None => parts.push(format!("{product}: {}", self.status.label())),
        }
        if let (Some(behind), Some(days)) = (self.monthly_updates_behind, self.days_behind) {
            match (behind, &self.newest_monthly) {
                (0, _) => parts.push(format!("no monthly update missing as of {}", self.as_of_label())),
                (n, Some(newest)) => parts.push(format!(
                    "{n} monthly update{} behind ({days} days; newest {} of {}) as of {}",
                    if n == 1 { "" } else { "s" },
                    newest.kb,
                    newest.released,
                    self.as_of_label()
                )),
                (n, None) => parts.push(format!("{n} monthly updates behind as of {}", self.as_of_label())),
            }
        }
        parts.push(self.servicing.detail.clone());
        if let Some(pending) = &self.pending_rollup {
            let what = pending.update.as_ref().map_or_else(|| pending.package_build.clone(), |u| u.kb.clone());
            parts.push(format!("{what} completes at the next reboot"));
        }
        parts.join("; ")
    }
}

/// The monthly updates a machine at `installed` lacks on `on`, the newest of them, and the days
/// between its release and the installed one's.
fn behind(build: &Build, installed: &Release, on: Date) -> (Option<&'static Release>, u32, i64) {
    let releases: &'static [Release] = build.releases;
    let monthly = || releases.iter().filter(move |r| r.release_type == ReleaseType::Monthly && r.released <= on);
    let newest = monthly().max_by_key(|r| (r.released, r.ubr));
    let missed = |r: &&Release| {
        // Another build of the installed KB (19045.5736 and .5737) is not a missing update.
        r.kb != installed.kb
            && (r.released > installed.released
                // Same day, higher UBR: the monthly update that came out alongside an
                // out-of-band fix. A hotpatch of that day is the monthly update for hotpatch devices.
                || (r.released == installed.released
                    && r.ubr > installed.ubr
                    && !installed.release_type.is_hotpatch()))
    };
    let mut kbs: Vec<u32> = monthly().filter(missed).map(|r| r.kb).collect();
    kbs.sort_unstable();
    kbs.dedup();
    let count = u32::try_from(kbs.len()).unwrap_or(u32::MAX);
    let days = match newest {
        Some(newest) if count > 0 => (newest.released - installed.released).whole_days().max(0),
        _ => 0,
    };
    (newest, count, days)
}

fn servicing(identity: &Identity, build: Option<&Build>, on: Date) -> Servicing {
    let unknown = |detail: String| Servicing {
        status: ServicingStatus::Unknown,
        editions: identity.editions,
        end: None,
        mainstream_end: None,
        detail,
    };
    let (Some(line), Some(version)) = (identity.line, identity.version.as_deref()) else {
        return unknown("servicing unknown: version not identified".into());
    };
    let lifecycle: Option<&Lifecycle> = match identity.editions {
        Some(editions) => table::find_lifecycle(line, version, editions),
        None => {
            // Client without a known edition: answer only when both edition groups end together.
            let enterprise = table::find_lifecycle(line, version, Editions::EnterpriseEducation);
            let home = table::find_lifecycle(line, version, Editions::HomePro);
            match (enterprise, home) {
                (Some(e), Some(h)) if e.end == h.end => Some(e),
                (Some(e), Some(h)) => {
                    return unknown(format!(
                        "servicing unknown: edition not identified ({} {version} Enterprise/Education until {}, \
                         Home/Pro until {})",
                        line.name(),
                        e.end,
                        h.end
                    ))
                }
                _ => None,
            }
        }
    };
    let Some(lifecycle) = lifecycle else {
        let editions = identity.editions.map_or(String::new(), |e| format!(" {}", e.label()));
        return unknown(format!("servicing unknown: no lifecycle data for {} {version}{editions}", line.name()));
    };
    let editions = identity.editions.map_or_else(|| "all editions".to_string(), |e| e.label().to_string());
    let (status, mut detail) = if on <= lifecycle.end {
        (ServicingStatus::InServicing, format!("in servicing until {} ({editions})", lifecycle.end))
    } else {
        (ServicingStatus::Ended, format!("servicing ended {} ({editions})", lifecycle.end))
    };
    if let Some(mainstream) = lifecycle.mainstream_end.filter(|_| lifecycle.editions == Editions::Ltsc) {
        // The LTSC source gives one pair of dates per release; which applies (5-year Enterprise
        // or 10-year IoT) depends on the edition, so both are shown.
        detail.push_str(&format!(", mainstream support until {mainstream}"));
    }
    if status == ServicingStatus::Ended {
        if let Some(build) = build {
            let later = build
                .releases
                .iter()
                .filter(|r| r.release_type == ReleaseType::Monthly && r.released > lifecycle.end && r.released <= on)
                .count();
            if later > 0 {
                detail.push_str(&format!(
                    "; the table lists {later} later monthly update{} for build {}, which reach only devices still \
                     entitled to them (Extended Security Updates, LTSC or Server editions of the build)",
                    if later == 1 { "" } else { "s" },
                    build.build
                ));
            }
        }
    }
    Servicing {
        status,
        editions: identity.editions,
        end: Some(lifecycle.end),
        mainstream_end: lifecycle.mainstream_end,
        detail,
    }
}

fn rollup_update(package: &RollupPackage, identity: &Identity, current_build: Option<u32>) -> RollupUpdate {
    let found = table::find_by_servicing_build(identity.line, package.servicing_build, package.ubr, current_build);
    RollupUpdate {
        package: package.name.clone(),
        package_build: package.build_string(),
        state_name: package.state_name.clone(),
        install_time: package.install_time,
        update: found.map(|(build, release)| UpdateInfo::new(build, release)),
    }
}

/// Assesses one machine's patch level from its `CurrentVersion` values and its RollupFix
/// packages, on `as_of` (default: the table date; never the wall clock, so that reports are
/// reproducible).
pub fn assess(os: &OsInfo, rollups: &[RollupPackage], as_of: Option<Date>) -> PatchAssessment {
    let identity = identify(os);
    let mut notes = identity.notes.clone();
    let table_date = table::table_date();
    let on = as_of.unwrap_or(table_date);
    if on > table_date {
        notes.push(format!(
            "as of {on}, after the table date {table_date}: updates released since then are not in the table, \
             so the machine may be further behind than shown"
        ));
    }
    let build = identity.build;

    let mut update = None;
    let (mut monthly_updates_behind, mut days_behind, mut newest_monthly) = (None, None, None);
    let status = match (os.current_build, os.ubr, build) {
        (None, _, _) | (_, None, _) => {
            notes.push("CurrentBuild or UBR missing: the patch level cannot be looked up".into());
            PatchStatus::NoBuild
        }
        (Some(number), Some(_), None) => {
            notes.push(match identity.line {
                Some(line) => {
                    format!("build {number} of {} is not in the table: patch level not looked up", line.name())
                }
                None => format!("product line of build {number} not identified: patch level not looked up"),
            });
            PatchStatus::UnknownBuild
        }
        (Some(_), Some(ubr), Some(build)) => match build.release(ubr) {
            Some(release) => {
                let (newest, behind_count, days) = behind(build, release, on);
                newest_monthly = newest.map(|r| UpdateInfo::new(build, r));
                monthly_updates_behind = Some(behind_count);
                days_behind = Some(days);
                update = Some(UpdateInfo::new(build, release));
                if release.released > on {
                    notes.push(format!(
                        "the installed update was released on {}, after the as-of date {on}",
                        release.released
                    ));
                }
                if release.release_type.is_hotpatch() {
                    notes.push(format!(
                        "hotpatch build: {} was installed without a restart on a hotpatch-enrolled device",
                        release.kb_name()
                    ));
                    PatchStatus::Hotpatch
                } else {
                    PatchStatus::Known
                }
            }
            None => {
                newest_monthly = build
                    .releases
                    .iter()
                    .filter(|r| r.release_type == ReleaseType::Monthly && r.released <= on)
                    .max_by_key(|r| (r.released, r.ubr))
                    .map(|r| UpdateInfo::new(build, r));
                let newest = build.newest().map(|r| UpdateInfo::new(build, r).describe()).unwrap_or_default();
                if build.max_ubr().is_some_and(|max| ubr > max) {
                    notes.push(format!(
                        "{}.{ubr} is newer than every release the table has for build {} (newest: {newest}): released \
                         after the table date {table_date}, or a private build; KB not guessed",
                        build.build, build.build
                    ));
                    PatchStatus::NewerThanTable
                } else {
                    notes.push(format!(
                        "{}.{ubr} is not in the table (a release the source lacks, or a private build); KB not guessed",
                        build.build
                    ));
                    PatchStatus::NotInTable
                }
            }
        },
    };

    let servicing = servicing(&identity, build, on);

    // Cross-check with the servicing store.
    let by_version = |p: &&RollupPackage| (p.servicing_build, p.ubr);
    let installed_package = rollups.iter().filter(|p| p.is_installed()).max_by_key(by_version);
    let pending_packages: Vec<&RollupPackage> = rollups.iter().filter(|p| p.is_install_pending()).collect();
    let pending_package = pending_packages.iter().copied().max_by_key(by_version);
    let installed_rollup = installed_package.map(|p| rollup_update(p, &identity, os.current_build));
    let pending_rollup = pending_package.map(|p| rollup_update(p, &identity, os.current_build));
    let registry_build = os.build_string().unwrap_or_else(|| "unknown".into());
    let registry_update = update.as_ref().map_or(String::new(), |u| format!(" ({})", u.kb));
    let same_stream = |p: &RollupPackage| build.is_none_or(|b| b.servicing_build == p.servicing_build);
    let rollup_check = match installed_package {
        _ if rollups.is_empty() => RollupCheck::NoRollupPackages,
        None => {
            notes.push("no RollupFix package is Installed or Permanent".into());
            RollupCheck::NoInstalledRollup
        }
        Some(package) if Some(package.ubr) == os.ubr && same_stream(package) => RollupCheck::MatchesUbr,
        Some(_) => {
            if let Some(installed) = &installed_rollup {
                notes.push(format!(
                    "UBR says {registry_build}{registry_update} but the highest installed {}",
                    installed.describe()
                ));
            }
            RollupCheck::DiffersFromUbr
        }
    };
    if let Some(pending) = &pending_rollup {
        let mut note = format!("{} is Install Pending: it completes at the next reboot", pending.describe());
        match (pending_package, &installed_rollup) {
            (Some(package), _) if Some(package.ubr) == os.ubr && same_stream(package) => {
                note.push_str("; UBR already shows this update");
            }
            (_, Some(installed)) => {
                note.push_str(&format!("; until then the installed update is {}", installed.package_build));
            }
            _ => {}
        }
        notes.push(note);
        if pending_packages.len() > 1 {
            notes.push(format!(
                "{} RollupFix packages are Install Pending; the highest is shown",
                pending_packages.len()
            ));
        }
    }
    for package in rollups.iter().filter(|p| !same_stream(p)) {
        notes.push(format!(
            "RollupFix {} is not of this build's servicing stream ({})",
            package.build_string(),
            build.map_or(0, |b| b.servicing_build)
        ));
    }
    for package in rollups.iter().filter(|p| p.state == Some(STATE_PARTIALLY_INSTALLED)) {
        notes.push(format!(
            "RollupFix {} is Partially Installed (0x65): the install failed part-way",
            package.build_string()
        ));
    }

    PatchAssessment {
        product_line: identity.line,
        product: identity.line.map(ProductLine::name),
        version: identity.version.clone(),
        version_source: identity.version_source,
        editions: identity.editions,
        build: os.build_string(),
        servicing_build: build.map(|b| b.servicing_build),
        enablement_package: build.is_some_and(Build::is_enablement_package),
        status,
        update,
        newest_monthly,
        newest_in_table: build.and_then(|b| b.newest().map(|r| UpdateInfo::new(b, r))),
        monthly_updates_behind,
        days_behind,
        as_of: on,
        as_of_source: if as_of.is_some() { AsOfSource::Given } else { AsOfSource::TableDate },
        table_date,
        servicing,
        installed_rollup,
        pending_rollup,
        rollup_check,
        rollup_packages: rollups.to_vec(),
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn win10(ubr: u32) -> OsInfo {
        OsInfo {
            product_name: Some("Windows 10 Pro".into()),
            edition_id: Some("Professional".into()),
            installation_type: Some("Client".into()),
            display_version: Some("22H2".into()),
            current_build: Some(19045),
            ubr: Some(ubr),
            ..OsInfo::default()
        }
    }

    fn rollup(servicing_build: u32, ubr: u32, state: u32) -> RollupPackage {
        RollupPackage {
            name: format!("Package_for_RollupFix~31bf3856ad364e35~amd64~~{servicing_build}.{ubr}.1.3"),
            servicing_build,
            ubr,
            state: Some(state),
            state_name: crate::context::cbs::state_name(state),
            install_time: None,
            key_last_write: None,
        }
    }

    #[test]
    fn preview_then_monthly() {
        // 19045.3758 is the 2023-11-30 preview; the December B (3803) and the January B (3930)
        // come after it.
        let a = assess(&win10(3758), &[], Some(date!(2024 - 01 - 31)));
        assert_eq!(a.kb(), Some("KB5032278"));
        assert_eq!(a.update.as_ref().map(|u| u.release_type), Some(ReleaseType::Preview));
        assert_eq!(a.monthly_updates_behind, Some(2));
        assert_eq!(a.newest_monthly.as_ref().map(|u| u.kb.as_str()), Some("KB5034122"));
        assert_eq!(a.days_behind, Some(40));
    }

    #[test]
    fn one_kb_two_builds_counts_once() {
        // KB5055518 is both 19045.5736 and .5737: one monthly update, not two.
        let a = assess(&win10(5679), &[], Some(date!(2025 - 04 - 30)));
        assert_eq!(a.kb(), Some("KB5053643"));
        assert_eq!(a.monthly_updates_behind, Some(1));
        let same = assess(&win10(5736), &[], Some(date!(2025 - 04 - 30)));
        assert_eq!((same.kb(), same.monthly_updates_behind, same.days_behind), (Some("KB5055518"), Some(0), Some(0)));
    }

    #[test]
    fn out_of_band_on_patch_tuesday_misses_that_days_monthly_update() {
        // 19045.6466 (out-of-band) and 19045.6575 (the B) both came out on 2025-11-11.
        let a = assess(&win10(6466), &[], Some(date!(2025 - 11 - 30)));
        assert_eq!(a.update.as_ref().map(|u| u.release_type), Some(ReleaseType::OutOfBand));
        assert_eq!((a.monthly_updates_behind, a.days_behind), (Some(1), Some(0)));
    }

    #[test]
    fn servicing_end_and_later_updates() {
        let a = assess(&win10(6456), &[], Some(date!(2026 - 01 - 31)));
        assert_eq!(a.servicing.status, ServicingStatus::Ended);
        assert_eq!(a.servicing.end, Some(date!(2025 - 10 - 14)));
        assert_eq!(a.servicing_label(), "ended 2025-10-14");
        assert!(a.servicing.detail.contains("Extended Security Updates"), "{}", a.servicing.detail);
        let in_time = assess(&win10(6456), &[], Some(date!(2025 - 10 - 14)));
        assert_eq!(in_time.servicing.status, ServicingStatus::InServicing);
    }

    #[test]
    fn unknown_edition_with_different_ends() {
        let mut os = win10(2861);
        os.current_build = Some(22631);
        os.edition_id = None;
        let a = assess(&os, &[], Some(date!(2025 - 12 - 01)));
        assert_eq!(a.servicing.status, ServicingStatus::Unknown);
        assert!(a.servicing.detail.contains("2025-11-11") && a.servicing.detail.contains("2026-11-10"));
    }

    #[test]
    fn no_build() {
        let a = assess(&OsInfo::default(), &[], None);
        assert_eq!(a.status, PatchStatus::NoBuild);
        assert_eq!(a.as_of, table::table_date());
        assert_eq!(a.as_of_source, AsOfSource::TableDate);
        assert_eq!(a.servicing.status, ServicingStatus::Unknown);
    }

    #[test]
    fn rollup_cross_check() {
        let rollups = [rollup(19041, 3693, 0x50), rollup(19041, 3803, 0x70), rollup(19041, 3930, 0x60)];
        let a = assess(&win10(3803), &rollups, Some(date!(2024 - 01 - 31)));
        assert_eq!(a.rollup_check, RollupCheck::MatchesUbr);
        let pending = a.pending_rollup.as_ref().and_then(|p| p.update.as_ref()).map(|u| u.kb.as_str());
        assert_eq!(pending, Some("KB5034122"));
        assert!(a.summary().contains("KB5034122 completes at the next reboot"), "{}", a.summary());

        let differs = assess(&win10(3930), &rollups[..2], None);
        assert_eq!(differs.rollup_check, RollupCheck::DiffersFromUbr);
        assert!(differs.notes.iter().any(|n| n.contains("19045.3930 (KB5034122)") && n.contains("KB5033372")));

        let none_installed = assess(&win10(3803), &[rollup(19041, 3803, 0x40)], None);
        assert_eq!(none_installed.rollup_check, RollupCheck::NoInstalledRollup);
        assert_eq!(assess(&win10(3803), &[], None).rollup_check, RollupCheck::NoRollupPackages);
    }

    #[test]
    fn serializes_dates_as_iso_text() {
        let a = assess(&win10(3803), &[], Some(date!(2024 - 01 - 31)));
        let json = serde_json::to_value(&a).unwrap_or_default();
        assert_eq!(json["update"]["released"], "2023-12-12");
        assert_eq!(json["as_of"], "2024-01-31");
        assert_eq!(json["product_line"], "win10");
        assert_eq!(json["update"]["release_type"], "monthly");
        assert_eq!(json["servicing"]["status"], "in_servicing");
    }
}
