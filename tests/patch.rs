//! Patch level from SOFTWARE hives written by the project's hive writer: one fixture machine per
//! product line and per trap (enablement package, Windows 11 calling itself Windows 10, a build
//! newer than the table, a hotpatch build, a rollup waiting for the reboot, UBR and servicing
//! store disagreeing). Every expected KB, date and count below was read off Microsoft's update
//! history as carried in `../shared/data/windows-builds`, independently of the code.

mod support;

use rebootscan::load::filetime::FileTime;
use rebootscan::load::reader::HiveReader;
use rebootscan::patch::{
    assess, rollup_packages, table_info, AsOfSource, Editions, PatchAssessment, PatchStatus, ProductLine, ReleaseType,
    RollupCheck, ServicingStatus, VersionSource,
};
use rebootscan::rules::cbs::PACKAGES_KEY;
use rebootscan::rules::context::{read_software, MachineContext};
use support::hive_writer::{HiveSpec, KeySpec, ValueSpec};
use time::macros::date;
use time::Date;

const CURRENT_VERSION: &str = "Microsoft\\Windows NT\\CurrentVersion";
const TOKEN: &str = "31bf3856ad364e35";

const INSTALLED: u32 = 0x70;
const SUPERSEDED: u32 = 0x50;
const INSTALL_PENDING: u32 = 0x60;
const STAGED: u32 = 0x40;

/// A SOFTWARE hive with the CurrentVersion values Windows writes.
struct Software {
    spec: HiveSpec,
}

impl Software {
    fn new(product: &str, edition: &str, installation: &str, build: u32, ubr: u32) -> Software {
        let mut spec = HiveSpec::new("ROOT");
        spec.set_value(CURRENT_VERSION, ValueSpec::sz("ProductName", product));
        spec.set_value(CURRENT_VERSION, ValueSpec::sz("EditionID", edition));
        spec.set_value(CURRENT_VERSION, ValueSpec::sz("InstallationType", installation));
        spec.set_value(CURRENT_VERSION, ValueSpec::sz("CurrentBuild", &build.to_string()));
        spec.set_value(CURRENT_VERSION, ValueSpec::sz("CurrentBuildNumber", &build.to_string()));
        spec.set_value(CURRENT_VERSION, ValueSpec::dword("UBR", ubr));
        spec.set_value(CURRENT_VERSION, ValueSpec::sz("CurrentVersion", "6.3"));
        spec.key_mut(PACKAGES_KEY);
        Software { spec }
    }

    fn display_version(mut self, version: &str) -> Software {
        self.spec.set_value(CURRENT_VERSION, ValueSpec::sz("DisplayVersion", version));
        self
    }

    fn release_id(mut self, release: &str) -> Software {
        self.spec.set_value(CURRENT_VERSION, ValueSpec::sz("ReleaseId", release));
        self
    }

    /// A CBS package key with its state and install time.
    fn package(mut self, name: &str, state: u32, installed: Option<Date>) -> Software {
        let path = format!("{PACKAGES_KEY}\\{name}");
        self.spec.set_value(&path, ValueSpec::dword("CurrentState", state));
        if let Some(day) = installed {
            let ticks = filetime(day);
            self.spec.set_value(&path, ValueSpec::dword("InstallTimeHigh", (ticks >> 32) as u32));
            self.spec.set_value(&path, ValueSpec::dword("InstallTimeLow", ticks as u32));
        }
        self.spec.set_value(&path, ValueSpec::sz("InstallName", &format!("{name}.mum")));
        self
    }

    fn rollup(self, servicing_build: u32, ubr: u32, revision: u32, state: u32, installed: Option<Date>) -> Software {
        self.package(
            &format!("Package_for_RollupFix~{TOKEN}~amd64~~{servicing_build}.{ubr}.1.{revision}"),
            state,
            installed,
        )
    }

    /// Reads the hive the way a scan does, then assesses it.
    fn assess(&self, as_of: Option<Date>) -> PatchAssessment {
        let bytes = self.spec.build();
        let reader = HiveReader::new(&bytes).expect("hive opens");
        let root = reader.root().expect("root key");
        let mut context = MachineContext::default();
        let mut warnings = Vec::new();
        read_software(&root, &mut context, &mut warnings).expect("CurrentVersion reads");
        assert!(warnings.is_empty(), "{warnings:?}");
        let rollups = match root.subpath(PACKAGES_KEY).expect("Packages path") {
            Some(packages) => rollup_packages(&packages).expect("Packages read"),
            None => Vec::new(),
        };
        assess(&context.os, &rollups, as_of)
    }
}

fn filetime(day: Date) -> u64 {
    let at = day.midnight().assume_utc();
    FileTime::from_datetime(at).expect("date after 1601").ticks()
}

fn kb(assessment: &PatchAssessment) -> Option<&str> {
    assessment.kb()
}

fn newest_monthly_kb(assessment: &PatchAssessment) -> Option<&str> {
    assessment.newest_monthly.as_ref().map(|u| u.kb.as_str())
}

fn behind(assessment: &PatchAssessment) -> (Option<u32>, Option<i64>) {
    (assessment.monthly_updates_behind, assessment.days_behind)
}

#[test]
fn windows_10_22h2_on_its_enablement_package() {
    let machine = Software::new("Windows 10 Pro", "Professional", "Client", 19045, 3803)
        .display_version("22H2")
        .release_id("2009")
        .rollup(19041, 3758, 5, SUPERSEDED, Some(date!(2023 - 12 - 01)))
        .rollup(19041, 3803, 3, INSTALLED, Some(date!(2023 - 12 - 13)));
    let a = machine.assess(Some(date!(2024 - 01 - 31)));
    assert_eq!(a.product_line, Some(ProductLine::Win10));
    assert_eq!((a.version.as_deref(), a.version_source), (Some("22H2"), Some(VersionSource::Table)));
    assert_eq!(a.build.as_deref(), Some("19045.3803"));
    assert_eq!((a.servicing_build, a.enablement_package), (Some(19041), true));
    assert_eq!(a.status, PatchStatus::Known);
    assert_eq!(kb(&a), Some("KB5033372"));
    assert_eq!(a.released(), Some(date!(2023 - 12 - 12)));
    assert_eq!(a.update.as_ref().map(|u| u.release_type), Some(ReleaseType::Monthly));
    assert_eq!(newest_monthly_kb(&a), Some("KB5034122"));
    assert_eq!(behind(&a), (Some(1), Some(28)));
    assert_eq!(a.servicing.status, ServicingStatus::InServicing);
    assert_eq!((a.servicing.editions, a.servicing.end), (Some(Editions::HomePro), Some(date!(2025 - 10 - 14))));

    // The servicing store names the same update under the servicing build 19041.
    assert_eq!(a.rollup_check, RollupCheck::MatchesUbr);
    let installed = a.installed_rollup.as_ref().expect("installed rollup");
    assert_eq!(installed.package_build, "19041.3803");
    assert_eq!(installed.update.as_ref().map(|u| (u.kb.as_str(), u.build.as_str())), Some(("KB5033372", "19045.3803")));
    assert_eq!(installed.install_time.and_then(|t| t.to_rfc3339()).as_deref(), Some("2023-12-13T00:00:00Z"));
    assert!(a.pending_rollup.is_none());
    assert_eq!(a.rollup_packages.len(), 2);

    // As of the table date (the default) the same machine is 32 monthly updates behind and its
    // version is out of servicing.
    let today = machine.assess(None);
    assert_eq!(today.as_of, table_info().date);
    assert_eq!(today.as_of_source, AsOfSource::TableDate);
    assert_eq!(newest_monthly_kb(&today), Some("KB5120249"));
    assert_eq!(behind(&today), (Some(32), Some(973)));
    assert_eq!(today.servicing.status, ServicingStatus::Ended);
    assert_eq!(today.servicing_label(), "ended 2025-10-14");
}

#[test]
fn windows_11_23h2_that_calls_itself_windows_10() {
    let machine = Software::new("Windows 10 Enterprise", "Enterprise", "Client", 22631, 2861)
        .display_version("23H2")
        .rollup(22621, 2861, 7, INSTALLED, Some(date!(2023 - 12 - 14)));
    let a = machine.assess(Some(date!(2024 - 04 - 30)));
    assert_eq!((a.product_line, a.product), (Some(ProductLine::Win11), Some("Windows 11")));
    assert_eq!(a.version.as_deref(), Some("23H2"));
    assert_eq!((a.servicing_build, a.enablement_package), (Some(22621), true));
    assert!(a.notes.iter().any(|n| n.contains("Windows 11 keeps that name")), "{:?}", a.notes);
    assert_eq!((kb(&a), a.released()), (Some("KB5033375"), Some(date!(2023 - 12 - 12))));
    assert_eq!(newest_monthly_kb(&a), Some("KB5036893"));
    assert_eq!(behind(&a), (Some(4), Some(119)));
    assert_eq!(a.rollup_check, RollupCheck::MatchesUbr);
    assert_eq!(a.servicing.editions, Some(Editions::EnterpriseEducation));
    assert_eq!((a.servicing.status, a.servicing.end), (ServicingStatus::InServicing, Some(date!(2026 - 11 - 10))));
}

#[test]
fn windows_11_24h2_with_a_rollup_in_install_pending() {
    let machine = Software::new("Windows 10 Pro", "Professional", "Client", 26100, 2605)
        .display_version("24H2")
        .rollup(26100, 2605, 12, INSTALLED, Some(date!(2024 - 12 - 11)))
        .rollup(26100, 2894, 18, INSTALL_PENDING, Some(date!(2025 - 01 - 15)));
    let a = machine.assess(Some(date!(2025 - 01 - 20)));
    assert_eq!((a.product_line, a.version.as_deref()), (Some(ProductLine::Win11), Some("24H2")));
    assert!(!a.enablement_package);
    assert_eq!((kb(&a), a.released()), (Some("KB5048667"), Some(date!(2024 - 12 - 10))));
    assert_eq!(newest_monthly_kb(&a), Some("KB5050009"));
    assert_eq!(behind(&a), (Some(1), Some(35)));

    // The update that completes at the next reboot, with its KB from the table.
    let pending = a.pending_rollup.as_ref().expect("pending rollup");
    assert_eq!(pending.package_build, "26100.2894");
    assert_eq!(pending.state_name, "Install Pending");
    let update = pending.update.as_ref().expect("pending rollup in the table");
    assert_eq!((update.kb.as_str(), update.released), ("KB5050009", date!(2025 - 01 - 14)));
    assert_eq!(a.rollup_check, RollupCheck::MatchesUbr);
    assert!(a.notes.iter().any(|n| n.contains("completes at the next reboot") && n.contains("26100.2605")));
    assert!(a.summary().contains("KB5050009 completes at the next reboot"), "{}", a.summary());
    assert_eq!(a.servicing.end, Some(date!(2026 - 10 - 13)));
}

#[test]
fn ubr_already_showing_the_pending_rollup() {
    // Whether Windows raises UBR before the reboot is not documented: both are shown.
    let machine = Software::new("Windows 10 Pro", "Professional", "Client", 26100, 2894)
        .rollup(26100, 2605, 12, INSTALLED, None)
        .rollup(26100, 2894, 18, INSTALL_PENDING, None);
    let a = machine.assess(Some(date!(2025 - 01 - 20)));
    assert_eq!((kb(&a), behind(&a)), (Some("KB5050009"), (Some(0), Some(0))));
    assert_eq!(a.rollup_check, RollupCheck::DiffersFromUbr);
    assert!(a.notes.iter().any(|n| n.contains("UBR says 26100.2894 (KB5050009)") && n.contains("KB5048667")));
    assert!(a.notes.iter().any(|n| n.contains("UBR already shows this update")));
}

#[test]
fn server_2019_core() {
    let machine = Software::new("Windows Server 2019 Datacenter", "ServerDatacenter", "Server Core", 17763, 7314)
        .release_id("1809")
        .rollup(17763, 7314, 18, INSTALLED, Some(date!(2025 - 05 - 14)));
    let a = machine.assess(Some(date!(2025 - 10 - 31)));
    assert_eq!((a.product_line, a.version.as_deref()), (Some(ProductLine::Server2019), Some("1809")));
    assert_eq!((kb(&a), a.released()), (Some("KB5058392"), Some(date!(2025 - 05 - 13))));
    assert_eq!(newest_monthly_kb(&a), Some("KB5066586"));
    assert_eq!(behind(&a), (Some(5), Some(154)));
    assert_eq!(a.rollup_check, RollupCheck::MatchesUbr);
    assert_eq!(a.servicing.editions, Some(Editions::Server));
    assert_eq!(a.servicing.mainstream_end, Some(date!(2024 - 01 - 09)));
    assert_eq!((a.servicing.status, a.servicing.end), (ServicingStatus::InServicing, Some(date!(2029 - 01 - 09))));
}

#[test]
fn server_2022_whose_ubr_and_servicing_store_disagree() {
    let machine = Software::new("Windows Server 2022 Standard", "ServerStandard", "Server", 20348, 2966)
        .display_version("21H2")
        .rollup(20348, 2762, 4, SUPERSEDED, None)
        .rollup(20348, 2849, 5, INSTALLED, Some(date!(2024 - 11 - 13)));
    let a = machine.assess(Some(date!(2025 - 03 - 31)));
    assert_eq!((a.product_line, a.version.as_deref()), (Some(ProductLine::Server2022), Some("21H2")));
    assert_eq!((kb(&a), a.released()), (Some("KB5048654"), Some(date!(2024 - 12 - 10))));
    assert_eq!(newest_monthly_kb(&a), Some("KB5053603"));
    assert_eq!(behind(&a), (Some(3), Some(91)));
    assert_eq!(a.rollup_check, RollupCheck::DiffersFromUbr);
    let installed = a.installed_rollup.as_ref().and_then(|r| r.update.as_ref()).expect("installed rollup");
    assert_eq!((installed.kb.as_str(), installed.released), ("KB5046616", date!(2024 - 11 - 12)));
    assert!(
        a.notes.iter().any(|n| n.contains("UBR says 20348.2966 (KB5048654)") && n.contains("KB5046616")),
        "{:?}",
        a.notes
    );
    assert_eq!(a.servicing.end, Some(date!(2031 - 10 - 14)));
}

#[test]
fn server_2022_release_missing_from_the_source_is_not_guessed() {
    // 20348.3095 (KB5052819, out-of-band of 2025-01-18) is listed only on Microsoft's
    // release-information page, not in the update history the table is built from.
    let a = Software::new("Windows Server 2022 Standard", "ServerStandard", "Server", 20348, 3095).assess(None);
    assert_eq!(a.status, PatchStatus::NotInTable);
    assert_eq!((kb(&a), behind(&a)), (None, (None, None)));
    assert!(a.notes.iter().any(|n| n.contains("20348.3095 is not in the table") && n.contains("not guessed")));
}

#[test]
fn build_newer_than_the_table() {
    let a = Software::new("Windows 10 Pro", "Professional", "Client", 26100, 9999).display_version("24H2").assess(None);
    assert_eq!(a.product_line, Some(ProductLine::Win11));
    assert_eq!(a.status, PatchStatus::NewerThanTable);
    assert_eq!((kb(&a), behind(&a)), (None, (None, None)));
    assert_eq!(
        a.newest_in_table.as_ref().map(|u| (u.kb.as_str(), u.build.as_str())),
        Some(("KB5121003", "26100.9168"))
    );
    assert!(a.notes.iter().any(|n| n.contains("newer than every release") && n.contains("KB not guessed")));
}

#[test]
fn hotpatch_build() {
    let machine = Software::new("Windows 10 Enterprise", "Enterprise", "Client", 26100, 9106).display_version("24H2");
    let a = machine.assess(None);
    assert_eq!(a.status, PatchStatus::Hotpatch);
    assert_eq!((kb(&a), a.released()), (Some("KB5120994"), Some(date!(2026 - 08 - 11))));
    assert_eq!(a.update.as_ref().map(|u| u.release_type), Some(ReleaseType::Hotpatch));
    // The hotpatch is that month's security update for hotpatch devices: nothing missing,
    // although the month's monthly update (26100.9168) has a higher UBR.
    assert_eq!(newest_monthly_kb(&a), Some("KB5121003"));
    assert_eq!(behind(&a), (Some(0), Some(0)));
    assert!(a.notes.iter().any(|n| n.contains("hotpatch build")));
}

#[test]
fn server_2025_in_its_own_ubr_range() {
    // From January 2026 Server 2025 has its own UBRs: 26100.32230 is Server 2025 only.
    let server = Software::new("Windows Server 2025 Datacenter", "ServerDatacenter", "Server", 26100, 32230);
    let a = server.assess(Some(date!(2026 - 02 - 28)));
    assert_eq!((a.product_line, a.version.as_deref()), (Some(ProductLine::Server2025), Some("24H2")));
    assert_eq!((kb(&a), a.released()), (Some("KB5073379"), Some(date!(2026 - 01 - 13))));
    assert_eq!(behind(&a), (Some(1), Some(28)));
    let client = Software::new("Windows 10 Pro", "Professional", "Client", 26100, 32230).assess(None);
    assert_eq!((client.product_line, client.status), (Some(ProductLine::Win11), PatchStatus::NewerThanTable));
}

#[test]
fn ltsc_and_general_availability_editions_of_one_build() {
    let ltsc =
        Software::new("Windows 10 Enterprise LTSC 2019", "EnterpriseS", "Client", 17763, 9121).release_id("1809");
    let a = ltsc.assess(None);
    assert_eq!((a.product_line, a.version.as_deref()), (Some(ProductLine::Win10), Some("1809")));
    assert_eq!((kb(&a), behind(&a)), (Some("KB5120238"), (Some(0), Some(0))));
    assert_eq!((a.servicing.editions, a.servicing.status), (Some(Editions::Ltsc), ServicingStatus::InServicing));
    assert_eq!(a.servicing.end, Some(date!(2029 - 01 - 09)));

    let enterprise = Software::new("Windows 10 Enterprise", "Enterprise", "Client", 17763, 9121).assess(None);
    assert_eq!(
        (enterprise.servicing.status, enterprise.servicing.end),
        (ServicingStatus::Ended, Some(date!(2021 - 05 - 11)))
    );
}

#[test]
fn rollups_among_thousands_of_packages() {
    // Enough package keys for an index root over several leaves; the RollupFix run sits between
    // other families in name order, and staged or superseded rollups do not set the level.
    let mut machine = Software::new("Windows 10 Pro", "Professional", "Client", 19045, 4291).display_version("22H2");
    // Pushed directly: `set_value` looks siblings up linearly.
    let packages = machine.spec.key_mut(PACKAGES_KEY);
    for n in 0..1500u32 {
        let mut key = KeySpec::new(&format!("Package_{n}_for_KB{}~{TOKEN}~amd64~~10.0.1.{n}", 5_000_000 + n), 0);
        key.values.push(ValueSpec::dword("CurrentState", INSTALLED));
        packages.subkeys.push(key);
    }
    for n in 0..300u32 {
        let mut key = KeySpec::new(&format!("Microsoft-Windows-Feature-{n}-Package~{TOKEN}~amd64~~10.0.19041.1"), 0);
        key.values.push(ValueSpec::dword("CurrentState", INSTALLED));
        packages.subkeys.push(key);
    }
    machine = machine
        .package(&format!("Package_for_DotNetRollup_481~{TOKEN}~amd64~~10.0.9200.1"), INSTALLED, None)
        .package(&format!("Package_for_ServicingStack_4289~{TOKEN}~amd64~~19041.4289.1.1"), INSTALLED, None)
        .package(&format!("Package_for_KB5015684~{TOKEN}~amd64~~19041.1799.1.0"), INSTALLED, None)
        .rollup(19041, 4170, 8, SUPERSEDED, None)
        .rollup(19041, 4291, 10, INSTALLED, None)
        .rollup(19041, 4355, 4, STAGED, None)
        .rollup(19041, 1415, 2, SUPERSEDED, None);
    let a = machine.assess(Some(date!(2024 - 04 - 30)));
    let found: Vec<String> =
        a.rollup_packages.iter().map(|p| format!("{}.{}:{:?}", p.servicing_build, p.ubr, p.state)).collect();
    assert_eq!(found, ["19041.1415:Some(80)", "19041.4170:Some(80)", "19041.4291:Some(112)", "19041.4355:Some(64)"]);
    assert_eq!((kb(&a), a.released()), (Some("KB5036892"), Some(date!(2024 - 04 - 09))));
    assert_eq!(a.rollup_check, RollupCheck::MatchesUbr);
    assert!(a.pending_rollup.is_none());
}

#[test]
fn machine_without_servicing_store_or_build() {
    let mut spec = HiveSpec::new("ROOT");
    spec.set_value(CURRENT_VERSION, ValueSpec::sz("ProductName", "Windows 10 Pro"));
    let machine = Software { spec };
    let a = machine.assess(None);
    assert_eq!(a.status, PatchStatus::NoBuild);
    assert_eq!(a.rollup_check, RollupCheck::NoRollupPackages);
    assert!(a.rollup_packages.is_empty());
}

#[test]
fn json_shape() {
    let a = Software::new("Windows 10 Pro", "Professional", "Client", 19045, 3803)
        .rollup(19041, 3930, 6, INSTALL_PENDING, None)
        .assess(Some(date!(2024 - 01 - 31)));
    let json = serde_json::to_value(&a).expect("serializes");
    assert_eq!(json["product_line"], "win10");
    assert_eq!(json["status"], "known");
    assert_eq!(json["update"]["kb"], "KB5033372");
    assert_eq!(json["update"]["released"], "2023-12-12");
    assert_eq!(json["days_behind"], 28);
    assert_eq!(json["pending_rollup"]["update"]["kb"], "KB5034122");
    assert_eq!(json["rollup_check"], "no_installed_rollup");
    assert_eq!(json["servicing"]["end"], "2025-10-14");
    assert_eq!(json["table_date"], table_info().date.to_string());
}

#[test]
fn table_info_for_the_patch_table_command() {
    let info = table_info();
    assert_eq!(info.date, date!(2026 - 08 - 12));
    assert_eq!(info.rows, 1885);
    assert_eq!(info.newest_release, Some(date!(2026 - 08 - 11)));
    assert!(info.lifecycle_rows >= 40);
}
