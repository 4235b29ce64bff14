//! Missing security fixes of machines written by the project's hive writer (SYSTEM with
//! `PROCESSOR_ARCHITECTURE`, SOFTWARE with `CurrentVersion` and RollupFix packages), scanned end
//! to end.
//!
//! Every expected number below was computed independently of the code by
//! `tests/security/expected.py`, a short Python pass straight over `../shared/data` (WES-NG's
//! `CVEs_20260628.csv` inside definitions.zip, CISA's KEV JSON, the DataForGeeks build list):
//! it keeps the rows whose `AffectedProduct` is the machine's MSRC name, takes the KBs the build
//! list has for the machine's build as its cumulative updates, and counts the CVEs whose newest
//! cumulative-update fix released by the as-of date is later than the installed update. Its
//! output for these machines:
//!
//! ```text
//! win10_22h2: installed KB5033372 (19045.3803, 2023-12-12); missing 107, critical 5, fixed after reboot 72,
//!   not judged 0, KEV 4 [CVE-2024-21338, CVE-2024-21351, CVE-2024-21412, CVE-2024-26169],
//!   oldest (KB5034122, 2024-01-09), closing (KB5035845, 2024-03-12)
//! win11_23h2: installed KB5033375 (22631.2861, 2023-12-12); missing 251, critical 7, not judged 0, KEV 10,
//!   oldest (KB5034123, 2024-01-09), closing (KB5039212, 2024-06-11)
//! win11_24h2_arm64: installed KB5050009 (26100.2894, 2025-01-14); missing 137, critical 10, not judged 3,
//!   KEV 9, oldest (KB5051987, 2025-02-11), closing (KB5055523, 2025-04-08)
//! server2019_core: installed KB5058392 (17763.7314, 2025-05-13); missing 188, critical 11, not judged 36,
//!   KEV 1 [CVE-2025-33053], oldest (KB5060531, 2025-06-10), closing (KB5063877, 2025-08-12)
//! server2022: installed KB5033118 (20348.2159, 2023-12-12); missing 357, critical 11, not judged 2, KEV 12,
//!   oldest (KB5034129, 2024-01-09), closing (KB5040437, 2024-07-09)
//! win10_22h2_newest: installed KB5094127 (19045.7417, 2026-06-09); missing 0, not judged 2
//! ```

mod support;

use rebootscan::discover::MachineSpec;
use rebootscan::load::filetime::FileTime;
use rebootscan::report::MachineReport;
use rebootscan::scan::{scan_machine, ScanOptions};
use rebootscan::security::{AsOfSource, SecurityAssessment, SecurityStatus, Severity};
use support::hive_writer::{HiveSpec, ValueSpec};
use time::macros::date;
use time::Date;

const CS: &str = "ControlSet001";
const CURRENT_VERSION: &str = "Microsoft\\Windows NT\\CurrentVersion";
const PACKAGES: &str = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages";
const INSTALLED: u32 = 0x70;
const INSTALL_PENDING: u32 = 0x60;

fn ticks(day: Date) -> u64 {
    FileTime::from_datetime(day.midnight().assume_utc()).map_or(0, FileTime::ticks)
}

struct Machine {
    system: HiveSpec,
    software: HiveSpec,
    as_of: Option<Date>,
}

impl Machine {
    /// A machine collected on `collected` (both hives last written that day).
    fn new(product: &str, installation: &str, build: u32, ubr: u32, arch: Option<&str>, collected: Date) -> Machine {
        let mut system = HiveSpec::new("ROOT");
        system.last_written = ticks(collected);
        system.set_value("Select", ValueSpec::dword("Current", 1));
        system.set_value(&format!("{CS}\\Control\\ComputerName\\ComputerName"), ValueSpec::sz("ComputerName", "M"));
        let environment = format!("{CS}\\Control\\Session Manager\\Environment");
        system.set_value(&environment, ValueSpec::sz("OS", "Windows_NT"));
        if let Some(arch) = arch {
            system.set_value(&environment, ValueSpec::sz("PROCESSOR_ARCHITECTURE", arch));
        }
        let mut software = HiveSpec::new("ROOT");
        software.last_written = ticks(collected);
        software.set_value(CURRENT_VERSION, ValueSpec::sz("ProductName", product));
        software.set_value(CURRENT_VERSION, ValueSpec::sz("EditionID", "Professional"));
        software.set_value(CURRENT_VERSION, ValueSpec::sz("InstallationType", installation));
        software.set_value(CURRENT_VERSION, ValueSpec::sz("CurrentBuild", &build.to_string()));
        software.set_value(CURRENT_VERSION, ValueSpec::dword("UBR", ubr));
        software.key_mut(PACKAGES);
        Machine { system, software, as_of: None }
    }

    fn rollup(mut self, servicing_build: u32, ubr: u32, state: u32) -> Machine {
        let name = format!("{PACKAGES}\\Package_for_RollupFix~31bf3856ad364e35~amd64~~{servicing_build}.{ubr}.1.7");
        self.software.set_value(&name, ValueSpec::dword("CurrentState", state));
        self
    }

    fn scan(&self) -> MachineReport {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut hives = Vec::new();
        for (name, spec) in [("SYSTEM", &self.system), ("SOFTWARE", &self.software)] {
            let path = dir.path().join(name);
            std::fs::write(&path, spec.build()).expect("write hive");
            hives.push(path);
        }
        let spec = MachineSpec { label: "m".into(), hives, snapshot: None, image: None };
        let mut options = ScanOptions::default();
        options.rules.as_of = self.as_of;
        let report = scan_machine(&spec, &options);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report
    }

    fn security(&self) -> SecurityAssessment {
        self.scan().security.expect("security assessment")
    }
}

/// What the Python pass prints: missing, critical, fixed after reboot, not judged, KEV ids,
/// oldest missing fix, closing update.
struct Expected {
    missing: u32,
    critical: u32,
    after_reboot: u32,
    not_judged: u32,
    kev: &'static [&'static str],
    kev_count: usize,
    oldest: (&'static str, Date),
    closing: (&'static str, Date),
}

fn check(a: &SecurityAssessment, product: &str, installed: &str, expected: Expected) {
    assert_eq!(a.status, SecurityStatus::Assessed, "{:?}", a.notes);
    assert_eq!(a.product.as_deref(), Some(product));
    assert_eq!(a.installed.as_ref().map(|u| u.kb.as_str()), Some(installed));
    assert_eq!(a.missing_cves, expected.missing, "missing");
    assert_eq!(a.missing.len() as u32, a.missing_cves);
    assert_eq!(a.by_severity.critical, expected.critical, "critical");
    assert_eq!(a.missing.iter().filter(|m| m.severity == Severity::Critical).count() as u32, expected.critical);
    assert_eq!(a.fixed_after_reboot, expected.after_reboot, "fixed after reboot");
    assert_eq!(a.missing_after_reboot, expected.missing - expected.after_reboot);
    assert_eq!(a.not_judged, expected.not_judged, "not judged: {:?}", a.not_judged_kbs);
    assert_eq!(a.exploited_missing.len(), expected.kev_count, "{:?}", a.exploited_missing);
    for id in expected.kev {
        assert!(a.exploited_missing.contains(id), "{id} not in {:?}", a.exploited_missing);
        assert!(a.missing.iter().any(|m| m.id == *id && m.kev), "{id}");
    }
    let pair = |u: &Option<rebootscan::security::UpdateRef>| u.as_ref().map(|u| (u.kb.clone(), u.released));
    assert_eq!(pair(&a.oldest_missing_fix), Some((expected.oldest.0.to_string(), Some(expected.oldest.1))));
    assert_eq!(pair(&a.closing_update), Some((expected.closing.0.to_string(), Some(expected.closing.1))));
}

#[test]
fn windows_10_22h2_with_a_rollup_waiting_for_the_reboot() {
    let machine = Machine::new("Windows 10 Pro", "Client", 19045, 3803, Some("AMD64"), date!(2024 - 03 - 20))
        .rollup(19041, 3803, INSTALLED)
        .rollup(19041, 4046, INSTALL_PENDING);
    let report = machine.scan();
    let a = report.security.as_ref().expect("assessed");
    assert_eq!((a.as_of, a.as_of_source), (date!(2024 - 03 - 20), AsOfSource::EvidenceTime));
    assert_eq!((a.architecture.as_deref(), a.architecture_assumed, a.server), (Some("AMD64"), false, Some(false)));
    assert_eq!(a.pending.as_ref().map(|p| p.kb.as_str()), Some("KB5034763"));
    check(
        a,
        "Windows 10 Version 22H2 for x64-based Systems",
        "KB5033372",
        Expected {
            missing: 107,
            critical: 5,
            after_reboot: 72,
            not_judged: 0,
            kev: &["CVE-2024-21338", "CVE-2024-21351", "CVE-2024-21412", "CVE-2024-26169"],
            kev_count: 4,
            oldest: ("KB5034122", date!(2024 - 01 - 09)),
            closing: ("KB5035845", date!(2024 - 03 - 12)),
        },
    );
    // KEV-listed first; CVE-2024-21338 (AppLocker driver, ransomware use known) is fixed by
    // February's update, so the pending rollup closes it.
    assert!(a.missing[..4].iter().all(|m| m.kev));
    let kernel = a.missing.iter().find(|m| m.id == "CVE-2024-21338").expect("listed");
    assert!(kernel.kev_ransomware && kernel.fixed_after_reboot);
    assert_eq!(kernel.kb, 5034763);
    let json = serde_json::to_value(kernel).unwrap();
    assert_eq!(json["kb"], "KB5034763", "{json}");
    // The auditor's order: KEV first, then severity, then the newest fix, then the id.
    assert!(
        a.missing.windows(2).all(|w| {
            let key = |m: &rebootscan::security::MissingCve| {
                (!m.kev, std::cmp::Reverse(m.severity), std::cmp::Reverse(m.released), m.id)
            };
            key(&w[0]) < key(&w[1])
        }),
        "missing CVEs out of order"
    );

    let text = rebootscan::report::text::render(&report);
    assert!(
        text.contains(
            "security: Windows 10 Version 22H2 for x64-based Systems: 107 CVEs missing as of 2024-03-20 (5 critical"
        ),
        "{text}"
    );
    assert!(text.contains("72 fixed after the reboot, 35 still missing then"), "{text}");
    let row = rebootscan::report::csv::machine_row(&report);
    let column = |name: &str| {
        let index = rebootscan::report::csv::MACHINE_COLUMNS.iter().position(|c| *c == name).expect("column");
        row[index].clone()
    };
    assert_eq!(column("missing_cves"), "107");
    assert_eq!(column("missing_critical"), "5");
    assert_eq!(column("exploited_missing").split(' ').count(), 4);
    assert_eq!(column("oldest_missing_fix"), "KB5034122 2024-01-09");
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["security"]["missing_cves"], 107);
    assert_eq!(json["security"]["oldest_missing_fix"]["kb"], "KB5034122");
    assert_eq!(json["security"]["missing"][0]["kev"], true);
}

#[test]
fn windows_11_23h2_measured_at_a_given_date() {
    let mut machine = Machine::new("Windows 10 Pro", "Client", 22631, 2861, Some("AMD64"), date!(2025 - 01 - 15));
    machine.as_of = Some(date!(2024 - 06 - 30));
    let a = machine.security();
    assert_eq!(a.as_of_source, AsOfSource::Given);
    check(
        &a,
        "Windows 11 Version 23H2 for x64-based Systems",
        "KB5033375",
        Expected {
            missing: 251,
            critical: 7,
            after_reboot: 0,
            not_judged: 0,
            kev: &["CVE-2024-30051", "CVE-2024-38213"],
            kev_count: 10,
            oldest: ("KB5034123", date!(2024 - 01 - 09)),
            closing: ("KB5039212", date!(2024 - 06 - 11)),
        },
    );
}

#[test]
fn windows_11_24h2_on_arm64() {
    let machine = Machine::new("Windows 10 Pro", "Client", 26100, 2894, Some("ARM64"), date!(2025 - 04 - 30));
    check(
        &machine.security(),
        "Windows 11 Version 24H2 for ARM64-based Systems",
        "KB5050009",
        Expected {
            missing: 137,
            critical: 10,
            after_reboot: 0,
            not_judged: 3,
            kev: &["CVE-2025-29824", "CVE-2025-24054"],
            kev_count: 9,
            oldest: ("KB5051987", date!(2025 - 02 - 11)),
            closing: ("KB5055523", date!(2025 - 04 - 08)),
        },
    );
}

#[test]
fn server_2019_core() {
    let machine = Machine::new(
        "Windows Server 2019 Datacenter",
        "Server Core",
        17763,
        7314,
        Some("AMD64"),
        date!(2025 - 09 - 01),
    );
    let a = machine.security();
    assert!(a.server_core);
    check(
        &a,
        "Windows Server 2019 (Server Core installation)",
        "KB5058392",
        Expected {
            missing: 188,
            critical: 11,
            after_reboot: 0,
            not_judged: 36,
            kev: &["CVE-2025-33053"],
            kev_count: 1,
            oldest: ("KB5060531", date!(2025 - 06 - 10)),
            closing: ("KB5063877", date!(2025 - 08 - 12)),
        },
    );
    // The KEV catalogue is of 2025-08-25: a later as-of date says so.
    assert!(a.notes.iter().any(|n| n.contains("KEV catalogue of 2025-08-25")), "{:?}", a.notes);
}

#[test]
fn server_2022_desktop_experience() {
    let machine =
        Machine::new("Windows Server 2022 Standard", "Server", 20348, 2159, Some("AMD64"), date!(2024 - 08 - 01));
    check(
        &machine.security(),
        "Windows Server 2022",
        "KB5033118",
        Expected {
            missing: 357,
            critical: 11,
            after_reboot: 0,
            not_judged: 2,
            kev: &["CVE-2024-38080", "CVE-2024-38112", "CVE-2024-21412"],
            kev_count: 12,
            oldest: ("KB5034129", date!(2024 - 01 - 09)),
            closing: ("KB5040437", date!(2024 - 07 - 09)),
        },
    );
}

#[test]
fn newest_build_of_the_data_lacks_nothing() {
    let machine = Machine::new("Windows 10 Pro", "Client", 19045, 7417, Some("AMD64"), date!(2026 - 06 - 28));
    let a = machine.security();
    assert_eq!(a.status, SecurityStatus::Assessed);
    assert_eq!(a.installed.as_ref().map(|u| u.kb.as_str()), Some("KB5094127"));
    assert_eq!((a.missing_cves, a.exploited_missing.len(), a.not_judged), (0, 0, 2));
    assert!(a.oldest_missing_fix.is_none() && a.closing_update.is_none());
    assert!(a.summary().contains("no missing security fix known as of 2026-06-28"), "{}", a.summary());
    assert!(!a.notes.iter().any(|n| n.contains("after the MSRC data")), "{:?}", a.notes);

    // Evidence newer than the data: said so.
    let later = Machine::new("Windows 10 Pro", "Client", 19045, 7417, Some("AMD64"), date!(2026 - 08 - 01)).security();
    assert!(later.notes.iter().any(|n| n.contains("after the MSRC data of 2026-06-28")), "{:?}", later.notes);
}

#[test]
fn architecture_missing_is_assumed_and_said() {
    let machine = Machine::new("Windows 10 Pro", "Client", 19045, 3803, None, date!(2024 - 03 - 20));
    let a = machine.security();
    assert!(a.architecture_assumed);
    assert_eq!(a.product.as_deref(), Some("Windows 10 Version 22H2 for x64-based Systems"));
    assert!(a.notes.iter().any(|n| n.contains("architecture assumed AMD64")), "{:?}", a.notes);
    // Without the pending rollup the count is the same 107.
    assert_eq!((a.missing_cves, a.fixed_after_reboot), (107, 0));
}

#[test]
fn windows_7_is_named_but_its_level_is_not_known() {
    let machine = Machine::new("Windows 7 Professional", "Client", 7601, 24544, Some("x86"), date!(2020 - 01 - 20));
    let report = machine.scan();
    let a = report.security.as_ref().expect("named");
    assert_eq!(a.status, SecurityStatus::NoPatchLevel);
    assert_eq!(a.product.as_deref(), Some("Windows 7 for 32-bit Systems Service Pack 1"));
    assert!(a.notes[0].contains("no build → KB rows"), "{:?}", a.notes);
    // Not assessed: the CSV leaves the columns empty rather than claiming 0.
    let row = rebootscan::report::csv::machine_row(&report);
    let index = rebootscan::report::csv::MACHINE_COLUMNS.iter().position(|c| *c == "missing_cves").expect("column");
    assert_eq!(row[index], "");
}
