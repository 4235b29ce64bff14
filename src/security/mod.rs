//! Missing security fixes offline, the job MBSA did: which vulnerabilities are fixed by updates
//! the machine does not have, and which of them are exploited in the wild.
//!
//! # Inputs
//!
//! - The product as MSRC names it, built from the hive: the product line and version of the
//!   patch level ([`crate::patch`]), the architecture from SYSTEM
//!   `<CS>\Control\Session Manager\Environment` `PROCESSOR_ARCHITECTURE` (assumed x64, and said
//!   so, when absent) and Server Core from `InstallationType`.
//! - The installed security level: the cumulative update `CurrentBuild.UBR` names (or, without
//!   it, the highest installed RollupFix package), and the one waiting for the reboot.
//! - The embedded table ([`table`]): per product, the (CVE, fixing KB) pairs of MSRC's data as
//!   WES-NG collects it, with severity, impact and the CISA KEV listing.
//! - An as-of date: by default the machine's evidence time (the newest of its hives' last-written
//!   times and its last shutdown), so that the answer is the machine's state when it was
//!   collected; `--as-of` moves it.
//!
//! # The rule
//!
//! A KB of the product is judged by the build table: when it is a cumulative update of the
//! machine's build it has a release date and UBR there. A CVE is missing when the newest of its
//! cumulative-update fixes released by the as-of date is later than the installed update (the
//! latest revision of a fix is the one that closes it; MSRC revises a CVE's KB when a fix was
//! incomplete). It is "fixed after the reboot" when the pending rollup is at least that fix. A
//! CVE whose only fixes are other updates (servicing stack, Safe OS, Windows RE, Azure Edition
//! hotpatches the build table lacks) cannot be judged from the build and is counted apart.
//!
//! # Limits
//!
//! The hives show the operating system's updates only: Office, .NET, browsers and other
//! products are not assessed. Windows 7, 8.1, Server 2008 R2 and 2012 R2 are in the table, but
//! the build table has no build → KB rows for them, so their installed level is not read.

pub mod table;

use serde::Serialize;
use time::Date;

use crate::load::filetime::FileTime;
use crate::patch::{self, Build, PatchAssessment, PatchStatus, ProductLine, Release, VersionSource};
use crate::rules::context::MachineContext;
pub use table::{Impact, Severity, Vulnerability};

/// Where the as-of date came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AsOfSource {
    /// Given by the caller (`--as-of`).
    Given,
    /// The machine's evidence time (the newest of its hives' last-written times and its last
    /// shutdown: `MachineReport::evidence_time`).
    EvidenceTime,
    /// No hive time: the data's date.
    DataDate,
}

/// Whether the assessment could be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityStatus {
    /// The missing CVEs were computed.
    Assessed,
    /// The product is known and in the data, but its installed update level is not.
    NoPatchLevel,
    /// The product could not be named from the hive.
    UnknownProduct,
    /// The product is not in the data (not an OS product the table covers).
    ProductNotInData,
}

/// An update, by KB and date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpdateRef {
    pub kb: String,
    #[serde(serialize_with = "serialize_option_date")]
    pub released: Option<Date>,
    /// OS build it brings, for cumulative updates of the machine's build.
    pub build: Option<String>,
}

/// Counts by severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    pub critical: u32,
    pub important: u32,
    pub moderate: u32,
    pub low: u32,
    pub unrated: u32,
}

impl SeverityCounts {
    fn add(&mut self, severity: Severity) {
        let slot = match severity {
            Severity::Critical => &mut self.critical,
            Severity::Important => &mut self.important,
            Severity::Moderate => &mut self.moderate,
            Severity::Low => &mut self.low,
            Severity::Unrated => &mut self.unrated,
        };
        *slot += 1;
    }
}

/// One missing CVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingCve {
    pub id: &'static str,
    /// The update that closes it: its newest cumulative-update fix released by the as-of date
    /// (a number here, `"KB5034122"` in JSON: one String per missing CVE was most of the
    /// assessment's cost).
    #[serde(serialize_with = "serialize_kb")]
    pub kb: u32,
    #[serde(serialize_with = "serialize_date")]
    pub released: Date,
    pub severity: Severity,
    pub impact: Impact,
    /// Listed in CISA's Known Exploited Vulnerabilities catalogue.
    pub kev: bool,
    pub kev_ransomware: bool,
    pub public_exploit: bool,
    /// The cumulative update waiting for the reboot contains the fix.
    pub fixed_after_reboot: bool,
}

/// The security assessment of one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityAssessment {
    pub status: SecurityStatus,
    /// The product as MSRC names it (`Windows 10 Version 22H2 for x64-based Systems`).
    pub product: Option<String>,
    /// `AMD64`, `x86`, `ARM64` as SYSTEM states it, or the assumed `AMD64`.
    pub architecture: Option<String>,
    pub architecture_assumed: bool,
    pub server: Option<bool>,
    pub server_core: bool,
    /// The installed cumulative update the assessment starts from.
    pub installed: Option<UpdateRef>,
    /// The cumulative update waiting for the reboot.
    pub pending: Option<UpdateRef>,
    #[serde(serialize_with = "serialize_date")]
    pub as_of: Date,
    pub as_of_source: AsOfSource,
    /// Date of the MSRC data: fixes released later are not known.
    #[serde(serialize_with = "serialize_date")]
    pub data_date: Date,
    /// Date of the KEV catalogue: CVEs added later are not flagged.
    #[serde(serialize_with = "serialize_date")]
    pub kev_date: Date,
    /// CVEs fixed by updates the machine lacks (including those fixed after the reboot).
    pub missing_cves: u32,
    pub by_severity: SeverityCounts,
    /// KEV-listed missing CVEs.
    pub exploited_missing: Vec<&'static str>,
    pub public_exploit_missing: u32,
    /// Missing CVEs the pending cumulative update fixes at the next reboot.
    pub fixed_after_reboot: u32,
    /// Missing CVEs still missing after the reboot.
    pub missing_after_reboot: u32,
    /// The oldest missing fix (the update the machine should have had first).
    pub oldest_missing_fix: Option<UpdateRef>,
    /// The update that closes every missing CVE (cumulative: its newest missing fix).
    pub closing_update: Option<UpdateRef>,
    /// CVEs of the product whose only fixes are updates the build does not tell (servicing stack,
    /// Safe OS, Windows RE, hotpatch KBs the build table lacks): not judged.
    pub not_judged: u32,
    /// Their KBs.
    pub not_judged_kbs: Vec<String>,
    pub missing: Vec<MissingCve>,
    pub notes: Vec<String>,
}

impl SecurityAssessment {
    /// `oldest_missing_fix` for the CSV: `KB5034122 2024-01-09`.
    pub fn oldest_missing_fix_label(&self) -> String {
        self.oldest_missing_fix.as_ref().map_or_else(String::new, UpdateRef::label)
    }

    /// One line for the text report.
    pub fn summary(&self) -> String {
        let assumed = if self.architecture_assumed { " (architecture assumed x64)" } else { "" };
        let product = format!("{}{assumed}", self.product.as_deref().unwrap_or("product unknown"));
        match self.status {
            SecurityStatus::Assessed => {}
            _ => return format!("{product}: {}", self.notes.first().map_or("not assessed", String::as_str)),
        }
        if self.missing_cves == 0 {
            return format!(
                "{product}: no missing security fix known as of {} (MSRC data of {})",
                self.as_of, self.data_date
            );
        }
        let mut line = format!(
            "{product}: {} CVEs missing as of {} ({} critical, {} important), {} exploited (KEV)",
            self.missing_cves,
            self.as_of,
            self.by_severity.critical,
            self.by_severity.important,
            self.exploited_missing.len()
        );
        if let Some(oldest) = &self.oldest_missing_fix {
            line.push_str(&format!("; oldest missing fix {}", oldest.label()));
        }
        if let Some(closing) = &self.closing_update {
            line.push_str(&format!("; {} closes them all", closing.kb));
        }
        if self.fixed_after_reboot > 0 {
            line.push_str(&format!(
                "; {} fixed after the reboot, {} still missing then",
                self.fixed_after_reboot, self.missing_after_reboot
            ));
        }
        line
    }
}

impl UpdateRef {
    fn label(&self) -> String {
        match self.released {
            Some(date) => format!("{} {date}", self.kb),
            None => self.kb.clone(),
        }
    }
}

fn serialize_kb<S: serde::Serializer>(kb: &u32, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("KB{kb}"))
}

fn serialize_date<S: serde::Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(date)
}

fn serialize_option_date<S: serde::Serializer>(date: &Option<Date>, serializer: S) -> Result<S::Ok, S::Error> {
    match date {
        Some(date) => serializer.collect_str(date),
        None => serializer.serialize_none(),
    }
}

/// MSRC's architecture words for `PROCESSOR_ARCHITECTURE`.
fn msrc_architecture(processor: &str) -> Option<&'static str> {
    match processor.trim().to_ascii_uppercase().as_str() {
        "AMD64" | "X64" => Some("x64-based"),
        "X86" => Some("32-bit"),
        "ARM64" => Some("ARM64-based"),
        _ => None,
    }
}

/// The MSRC product name for the machine.
fn product_name(
    line: Option<ProductLine>,
    version: Option<&str>,
    build: Option<u32>,
    server: Option<bool>,
    core: bool,
    arch: &str,
) -> Option<String> {
    let core_suffix = if core { " (Server Core installation)" } else { "" };
    // Windows 7 / Server 2008 R2 (6.1, build 7601) and 8.1 / Server 2012 R2 (6.3, build 9600)
    // are older than the build table; the build number and the server flag name them.
    match (build, server) {
        (Some(7601), Some(false)) => return Some(format!("Windows 7 for {arch} Systems Service Pack 1")),
        (Some(7601), Some(true)) => {
            return Some(format!("Windows Server 2008 R2 for x64-based Systems Service Pack 1{core_suffix}"))
        }
        (Some(9600), Some(false)) => return Some(format!("Windows 8.1 for {arch} Systems")),
        (Some(9600), Some(true)) => return Some(format!("Windows Server 2012 R2{core_suffix}")),
        (Some(number), _) if number < 10240 => return None,
        _ => {}
    }
    Some(match line? {
        ProductLine::Win10 if build == Some(10240) => format!("Windows 10 for {arch} Systems"),
        ProductLine::Win10 => format!("Windows 10 Version {} for {arch} Systems", version?),
        ProductLine::Win11 => format!("Windows 11 Version {} for {arch} Systems", version?),
        ProductLine::Server2016 => format!("Windows Server 2016{core_suffix}"),
        ProductLine::Server2019 => format!("Windows Server 2019{core_suffix}"),
        ProductLine::Server2022 => format!("Windows Server 2022{core_suffix}"),
        // Server 23H2 (Annual Channel) exists only as Server Core.
        ProductLine::ServerAnnual => "Windows Server 2022, 23H2 Edition (Server Core installation)".to_string(),
        ProductLine::Server2025 => format!("Windows Server 2025{core_suffix}"),
    })
}

/// A cumulative update of the machine's build: release date and UBR.
#[derive(Debug, Clone, Copy)]
struct Level {
    kb: u32,
    released: Date,
    ubr: u32,
    hotpatch: bool,
}

impl Level {
    fn of(release: &Release) -> Level {
        Level {
            kb: release.kb,
            released: release.released,
            ubr: release.ubr,
            hotpatch: release.release_type.is_hotpatch(),
        }
    }

    /// Released after `installed`: later day, or the same day with a higher UBR (the monthly
    /// update that came out alongside an out-of-band one). Hotpatch and baseline releases of
    /// the same day carry the same fixes.
    fn later_than(&self, installed: &Level) -> bool {
        self.kb != installed.kb
            && (self.released > installed.released
                || (self.released == installed.released
                    && self.ubr > installed.ubr
                    && !self.hotpatch
                    && !installed.hotpatch))
    }

    fn update_ref(&self, build: &Build) -> UpdateRef {
        UpdateRef {
            kb: format!("KB{}", self.kb),
            released: Some(self.released),
            build: Some(format!("{}.{}", build.build, self.ubr)),
        }
    }
}

/// The build table's release for a KB of the machine's build (the earliest when one KB has
/// several UBRs, as KB5055518 has 19045.5736 and .5737).
fn cumulative_update(build: &Build, kb: u32) -> Option<Level> {
    build.releases.iter().filter(|r| r.kb == kb).min_by_key(|r| (r.released, r.ubr)).map(Level::of)
}

/// The installed level: the release `UBR` names; for a UBR between table rows, the highest
/// release below it (a lower bound, said in a note); for a UBR above the table, the newest.
fn installed_level(build: &Build, patch: &PatchAssessment, ubr: Option<u32>, notes: &mut Vec<String>) -> Option<Level> {
    let ubr = ubr?;
    if let Some(release) = build.release(ubr) {
        return Some(Level::of(release));
    }
    match patch.status {
        PatchStatus::NewerThanTable => {
            let newest = build.releases.iter().filter(|r| r.ubr < ubr).max_by_key(|r| (r.released, r.ubr))?;
            notes.push(format!(
                "UBR {ubr} is newer than the build table: counted as at least KB{} ({})",
                newest.kb, newest.released
            ));
            Some(Level::of(newest))
        }
        _ => {
            let below =
                build.releases.iter().filter(|r| r.ubr < ubr && !r.release_type.is_hotpatch()).max_by_key(|r| r.ubr)?;
            notes.push(format!(
                "UBR {ubr} is not in the build table: counted as at least KB{} ({}.{}, {}), the release below it",
                below.kb, build.build, below.ubr, below.released
            ));
            Some(Level::of(below))
        }
    }
}

/// Assesses one machine. `as_of` is the caller's date (`--as-of`); without it the evidence
/// time, else the data date.
pub fn assess(
    context: &MachineContext,
    patch: Option<&PatchAssessment>,
    as_of: Option<Date>,
    evidence: Option<FileTime>,
) -> SecurityAssessment {
    let mut notes = Vec::new();
    let (data_date, kev_date, table) = match table::table() {
        Ok(table) => (table.data_date(), table.kev_date(), Some(table)),
        Err(problem) => {
            notes.push(format!("the embedded security table is damaged ({problem}): rebuild rebootscan"));
            (Date::MIN, Date::MIN, None)
        }
    };
    let evidence_date = evidence.and_then(|t| t.to_datetime()).map(|t| t.date());
    let (as_of, as_of_source) = match (as_of, evidence_date) {
        (Some(date), _) => (date, AsOfSource::Given),
        (None, Some(date)) => (date, AsOfSource::EvidenceTime),
        (None, None) => (data_date, AsOfSource::DataDate),
    };
    if as_of > data_date {
        notes.push(format!(
            "as of {as_of}, after the MSRC data of {data_date}: fixes released since then are not known, so more \
             may be missing"
        ));
    }
    if as_of > kev_date {
        notes.push(format!("KEV catalogue of {kev_date}: CVEs CISA listed after it are not flagged"));
    }

    let os = &context.os;
    let server = os.installation_type.as_deref().map(|t| t.to_ascii_lowercase().contains("server")).or_else(|| {
        patch
            .and_then(|p| p.product_line)
            .map(ProductLine::is_server)
            .or_else(|| os.product_name.as_deref().map(|name| name.to_ascii_lowercase().contains("windows server")))
    });
    let installation = os.installation_type.as_deref().unwrap_or("").trim().to_ascii_lowercase();
    let server_core = installation == "server core" || installation == "nano server";
    if installation == "nano server" {
        notes.push("Nano Server: assessed as Server Core, the closest product MSRC lists".into());
    }
    let stated = context.processor_architecture.as_deref();
    let (arch, architecture, architecture_assumed) = match stated.and_then(|s| msrc_architecture(s).map(|a| (s, a))) {
        Some((stated, arch)) => (arch, Some(stated.trim().to_string()), false),
        None => {
            notes.push(match stated {
                Some(other) => format!("PROCESSOR_ARCHITECTURE {other:?} is not one MSRC lists: assumed AMD64 (x64)"),
                None => "no PROCESSOR_ARCHITECTURE in SYSTEM (Session Manager\\Environment): architecture assumed \
                         AMD64 (x64)"
                    .into(),
            });
            ("x64-based", Some("AMD64".to_string()), true)
        }
    };
    let line = patch.and_then(|p| p.product_line);
    // Only the build table's version: a `DisplayVersion` for a build the table lacks names no
    // assessable product, and registry text never goes into a product name.
    let version = patch.filter(|p| p.version_source == Some(VersionSource::Table)).and_then(|p| p.version.as_deref());
    let product = product_name(line, version, os.current_build, server, server_core, arch);

    let mut assessment = SecurityAssessment {
        status: SecurityStatus::UnknownProduct,
        product: product.clone(),
        architecture,
        architecture_assumed,
        server,
        server_core,
        installed: None,
        pending: None,
        as_of,
        as_of_source,
        data_date,
        kev_date,
        missing_cves: 0,
        by_severity: SeverityCounts::default(),
        exploited_missing: Vec::new(),
        public_exploit_missing: 0,
        fixed_after_reboot: 0,
        missing_after_reboot: 0,
        oldest_missing_fix: None,
        closing_update: None,
        not_judged: 0,
        not_judged_kbs: Vec::new(),
        missing: Vec::new(),
        notes,
    };
    let Some(name) = product else {
        assessment.notes.insert(0, "product not identified from the hive: security fixes not assessed".into());
        return assessment;
    };
    let Some(product) = table.and_then(|t| t.find_product(&name)) else {
        assessment.status = SecurityStatus::ProductNotInData;
        assessment.notes.insert(0, format!("{name} is not in the MSRC data: security fixes not assessed"));
        return assessment;
    };
    let build = line.zip(os.current_build).and_then(|(line, number)| patch::find_build(line, number));
    let installed = match (build, patch) {
        (Some(build), Some(patch)) => installed_level(build, patch, os.ubr, &mut assessment.notes).or_else(|| {
            // No usable UBR: the highest installed RollupFix package.
            let update = patch.installed_rollup.as_ref()?.update.as_ref()?;
            let kb = update.kb.strip_prefix("KB")?.parse().ok()?;
            assessment.notes.push(format!("installed level from the RollupFix package {}", update.build));
            cumulative_update(build, kb)
        }),
        _ => None,
    };
    let (Some(build), Some(installed)) = (build, installed) else {
        assessment.status = SecurityStatus::NoPatchLevel;
        let detail = if os.current_build.is_some_and(|b| b < 10240) {
            "the build table has no build → KB rows for this product, so the installed update is not known from the \
             hive"
        } else {
            "the installed cumulative update is not known (no UBR or build in the build table)"
        };
        assessment
            .notes
            .insert(0, format!("{name}: {detail}; {} CVE rows in the data for it, not assessed", product.row_count()));
        return assessment;
    };
    assessment.status = SecurityStatus::Assessed;
    assessment.installed = Some(installed.update_ref(build));
    if installed.released > as_of {
        assessment
            .notes
            .push(format!("the installed update was released on {}, after the as-of date {as_of}", installed.released));
    }
    let pending = patch
        .and_then(|p| p.pending_rollup.as_ref())
        .and_then(|r| r.update.as_ref())
        .and_then(|u| u.kb.strip_prefix("KB")?.parse().ok())
        .and_then(|kb| cumulative_update(build, kb))
        .filter(|p| p.later_than(&installed));
    assessment.pending = pending.map(|p| p.update_ref(build));

    // Each KB of the product: a cumulative update of this build, or not.
    // The build's cumulative updates by KB (the earliest release when one KB has several UBRs,
    // as `cumulative_update` picks), looked up by binary search for each KB of the product.
    let mut by_kb: Vec<Level> = build.releases.iter().map(Level::of).collect();
    by_kb.sort_unstable_by_key(|level| (level.kb, level.released, level.ubr));
    by_kb.dedup_by_key(|level| level.kb);
    let kbs: Vec<Option<Level>> = product
        .kbs()
        .map(|entry| by_kb.binary_search_by_key(&entry.kb, |level| level.kb).ok().and_then(|i| by_kb.get(i).copied()))
        .collect();
    let Some(table) = table else { return assessment };
    let mut not_judged_kbs: Vec<u32> = Vec::new();
    let mut oldest: Option<Level> = None;
    let mut closing: Option<Level> = None;
    // Each missing CVE with the key of the order an auditor reads (see the sort below).
    let mut missing: Vec<MissingCve> = Vec::new();
    let mut order: Vec<u64> = Vec::new();
    let mut rows = product.rows().peekable();
    while let Some(first) = rows.next() {
        // One vulnerability's rows are consecutive.
        let mut newest_fix: Option<Level> = None;
        let mut has_cumulative_fix = false;
        let mut other_kbs: Vec<u32> = Vec::new();
        let mut severity = first.severity;
        let mut impact = first.impact;
        let mut row = Some(first);
        while let Some(current) = row {
            severity = severity.max(current.severity);
            if impact == Impact::Unknown {
                impact = current.impact;
            }
            match kbs.get(usize::from(current.kb)).copied().flatten() {
                Some(level) => {
                    has_cumulative_fix = true;
                    if level.released <= as_of
                        && newest_fix.is_none_or(|n| (level.released, level.ubr) > (n.released, n.ubr))
                    {
                        newest_fix = Some(level);
                    }
                }
                None => other_kbs
                    .extend(product.kb(current.kb).filter(|k| k.date.is_some_and(|d| d <= as_of)).map(|k| k.kb)),
            }
            row = rows.next_if(|next| next.id == first.id);
        }
        let Some(fix) = newest_fix else {
            if !has_cumulative_fix && !other_kbs.is_empty() {
                assessment.not_judged += 1;
                not_judged_kbs.extend(other_kbs);
            }
            continue;
        };
        if !fix.later_than(&installed) {
            continue;
        }
        let Some(vulnerability) = table.vulnerability(first.id) else { continue };
        let fixed_after_reboot = pending.is_some_and(|p| !fix.later_than(&p));
        assessment.missing_cves += 1;
        assessment.by_severity.add(severity);
        if vulnerability.kev {
            assessment.exploited_missing.push(vulnerability.id);
        }
        if vulnerability.public_exploit {
            assessment.public_exploit_missing += 1;
        }
        if fixed_after_reboot {
            assessment.fixed_after_reboot += 1;
        }
        if oldest.is_none_or(|o| (fix.released, fix.ubr) < (o.released, o.ubr)) {
            oldest = Some(fix);
        }
        if closing.is_none_or(|c| (fix.released, fix.ubr) > (c.released, c.ubr)) {
            closing = Some(fix);
        }
        // Rows come in id order, so the position in `missing` orders the ids as the strings would.
        order.push(order_key(vulnerability.kev, severity, fix.released, missing.len()));
        missing.push(MissingCve {
            id: vulnerability.id,
            kb: fix.kb,
            released: fix.released,
            severity,
            impact,
            kev: vulnerability.kev,
            kev_ransomware: vulnerability.ransomware,
            public_exploit: vulnerability.public_exploit,
            fixed_after_reboot,
        });
    }
    // Most severe first, then newest fix: the order an auditor reads. Sorting one integer key
    // per CVE instead of comparing tuples of dates and strings (the sort was a third of the
    // cost), then gathering the CVEs in that order.
    order.sort_unstable();
    assessment.missing = order.iter().filter_map(|key| missing.get((key & 0xFFFF) as usize).cloned()).collect();
    assessment.missing_after_reboot = assessment.missing_cves - assessment.fixed_after_reboot;
    if let Some(end) =
        patch.filter(|p| p.servicing.status == patch::ServicingStatus::Ended).and_then(|p| p.servicing.end)
    {
        let after_end = assessment.missing.iter().filter(|m| m.released > end).count();
        if after_end > 0 {
            assessment.notes.push(format!(
                "servicing of this version ended {end}: {after_end} of the missing CVEs are fixed only by later updates, \
                 which reach devices entitled to them (Extended Security Updates, LTSC or Server editions)"
            ));
        }
    }
    assessment.oldest_missing_fix = oldest.map(|l| l.update_ref(build));
    assessment.closing_update = closing.map(|l| l.update_ref(build));
    not_judged_kbs.sort_unstable();
    not_judged_kbs.dedup();
    assessment.not_judged_kbs = not_judged_kbs.iter().map(|kb| format!("KB{kb}")).collect();
    assessment
}

/// Sort key for a missing CVE: KEV-listed first, then the most severe, then the newest fix,
/// then the id; the low 16 bits are the CVE's position in the list of missing CVEs, which is
/// in id order (a product has at most 65,535 ids: the table's indices are u16).
fn order_key(kev: bool, severity: Severity, released: Date, position: usize) -> u64 {
    let not_kev = u64::from(!kev);
    let less_severe = 7 - severity as u64;
    // Julian day numbers of the dates MSRC uses are positive and far below 2^32; newer first.
    let older = u64::from(u32::MAX - u32::try_from(released.to_julian_day()).unwrap_or(0));
    not_kev << 63 | less_severe << 56 | older << 16 | (position as u64 & 0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_names() {
        let name = |line, version, build, server, core, arch| product_name(line, version, build, server, core, arch);
        assert_eq!(
            name(Some(ProductLine::Win10), Some("22H2"), Some(19045), Some(false), false, "x64-based").as_deref(),
            Some("Windows 10 Version 22H2 for x64-based Systems")
        );
        assert_eq!(
            name(Some(ProductLine::Server2019), Some("1809"), Some(17763), Some(true), true, "x64-based").as_deref(),
            Some("Windows Server 2019 (Server Core installation)")
        );
        assert_eq!(
            name(Some(ProductLine::Win10), None, Some(7601), Some(false), false, "32-bit").as_deref(),
            Some("Windows 7 for 32-bit Systems Service Pack 1")
        );
        assert_eq!(
            name(None, None, Some(9600), Some(true), true, "x64-based").as_deref(),
            Some("Windows Server 2012 R2 (Server Core installation)")
        );
        assert_eq!(name(None, None, Some(6002), Some(true), false, "x64-based"), None);
        assert_eq!(msrc_architecture("amd64"), Some("x64-based"));
        assert_eq!(msrc_architecture("x86"), Some("32-bit"));
        assert_eq!(msrc_architecture("IA64"), None);
    }

    #[test]
    fn every_generated_product_name_is_one_the_table_has() {
        let table = table::table().unwrap();
        for (line, version) in [
            (ProductLine::Win10, "22H2"),
            (ProductLine::Win10, "1809"),
            (ProductLine::Win11, "23H2"),
            (ProductLine::Win11, "24H2"),
            (ProductLine::Win11, "25H2"),
        ] {
            for arch in ["x64-based", "ARM64-based"] {
                let name = product_name(Some(line), Some(version), Some(20000), Some(false), false, arch).unwrap();
                assert!(table.find_product(&name).is_some(), "{name}");
            }
        }
        for line in [ProductLine::Server2016, ProductLine::Server2019, ProductLine::Server2022, ProductLine::Server2025]
        {
            for core in [false, true] {
                let name = product_name(Some(line), None, Some(20000), Some(true), core, "x64-based").unwrap();
                assert!(table.find_product(&name).is_some(), "{name}");
            }
        }
        let annual = product_name(Some(ProductLine::ServerAnnual), None, Some(25398), Some(true), true, "x64-based");
        assert!(annual.is_some_and(|name| table.find_product(&name).is_some()));
    }
}
