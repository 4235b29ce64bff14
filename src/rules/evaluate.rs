//! Runs the rule table against one machine's hives.

use serde::Serialize;

use crate::load::control_set::{self, ControlSetChoice};
use crate::load::filetime::FileTime;
use crate::load::kind::HiveKind;
use crate::load::pending_renames;
use crate::load::reader::{type_name, HiveReader, Key, ReadError, ValueData};
use crate::load::HiveFile;
use crate::patch::{self, AsOfSource, PatchAssessment};
use crate::rules::catalogue::{Check, Rule, RuleId, Strength, Volatility, RULES};
use crate::rules::cbs::{self, PackageSearch, PackageSearchMode, PendingPackage};
use crate::rules::context::{self, MachineContext};
use crate::rules::data::{
    CumulativeUpdate, DnsHostnameRename, FindingData, IncompleteSessions, KeyContents, NetbiosRename, ServicingProblem,
    SubkeyList, ValueList, ValueMap, ValueShown, WindowsSetupData,
};
use crate::rules::pfro::ClassifiedRenames;
use crate::rules::{Finding, NotEvaluated, NotEvaluatedReason};

/// What the evidence holds for one hive kind.
#[derive(Debug, Clone, Copy)]
pub enum HiveSlot<'a> {
    Missing,
    /// Given, but it could not be loaded; the message says why.
    Unreadable,
    Loaded(&'a HiveFile),
}

/// One machine's hives, by kind.
#[derive(Debug, Clone, Copy)]
pub struct MachineHives<'a> {
    pub system: HiveSlot<'a>,
    pub software: HiveSlot<'a>,
    pub components: HiveSlot<'a>,
}

impl<'a> MachineHives<'a> {
    pub fn slot(&self, kind: HiveKind) -> HiveSlot<'a> {
        match kind {
            HiveKind::System => self.system,
            HiveKind::Software => self.software,
            HiveKind::Components => self.components,
            _ => HiveSlot::Missing,
        }
    }
}

/// When to walk CBS `Packages` (tens of thousands of keys on a real machine) for the
/// per-patch view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PackageScan {
    /// Only when a servicing indicator fired, to say which update waits for the reboot:
    /// every package's state read (the exact list).
    #[default]
    WhenServicingPending,
    /// On every machine, every package read.
    Always,
    /// The same as [`PackageScan::Always`] (the name earlier versions used for it).
    Full,
    /// Only when a servicing indicator fired, and only the packages CBS's records name when
    /// they agree with the store: fast, not exhaustive (see [`PackageSearchMode::Records`]).
    Records,
    Never,
}

#[derive(Debug, Clone, Default)]
pub struct RuleOptions {
    /// Rule ids switched off.
    pub skip: Vec<String>,
    pub package_scan: PackageScan,
    /// The date "how far behind" is measured at; `None` means the patch table's date.
    pub as_of: Option<time::Date>,
}

/// Everything the rules found out about one machine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evidence {
    pub findings: Vec<Finding>,
    pub not_evaluated: Vec<NotEvaluated>,
    pub context: MachineContext,
    pub control_set: Option<ControlSetChoice>,
    /// CBS packages whose state waits for a reboot (per-patch view).
    pub pending_packages: Vec<PendingPackage>,
    /// How they were found; `None` when they were not looked for.
    pub package_search: Option<PackageSearch>,
    /// Update GUIDs listed under WindowsUpdate `Auto Update\RebootRequired`.
    pub reboot_required_updates: Vec<String>,
    /// Patch level from SOFTWARE (`CurrentVersion` and the RollupFix packages).
    pub patch: Option<PatchAssessment>,
    /// The time the evidence describes: the newest of the hives' last-written times and the
    /// last shutdown. Patch lag is measured at this date unless a date is given.
    pub evidence_time: Option<FileTime>,
    /// Read errors, as (hive file, message).
    pub errors: Vec<(String, String)>,
    /// Values read for the context that do not hold what they mean, as (hive file, message):
    /// shown with the hive in the report.
    pub warnings: Vec<(String, String)>,
}

// A transient return value, matched at once: boxing the finding would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Outcome {
    Found(Finding),
    Absent,
    NotEvaluated(NotEvaluatedReason, String),
}

/// One hive ready for lookups.
struct Scope<'k> {
    kind: HiveKind,
    file: &'k HiveFile,
    root: Key<'k>,
    /// For SYSTEM: the control sets whose `<CS>` paths are evaluated.
    control_sets: Vec<String>,
}

impl Scope<'_> {
    fn path(&self) -> String {
        self.file.path.display().to_string()
    }

    fn finding(&self, rule: &Rule, key: &Key<'_>, value: Option<&str>, summary: String, data: FindingData) -> Finding {
        Finding {
            rule: rule.id,
            strength: rule.strength,
            hive: self.kind,
            hive_path: self.path(),
            key: key.path().to_string(),
            value: value.map(str::to_string),
            last_write: key.last_write(),
            summary,
            data,
            notes: Vec::new(),
        }
    }
}

const LISTED_NAMES_LIMIT: usize = 100;

/// The values of a key as shown in a finding. A value whose data cannot be read is listed as
/// unreadable and its error goes to `unreadable`, which becomes a note of the finding: the
/// finding stands (the key is there), but the listing says what it could not show.
fn value_map(key: &Key<'_>, unreadable: &mut Vec<String>) -> Result<ValueMap, ReadError> {
    let mut map = ValueMap::new();
    for value in key.values()?.into_iter().take(LISTED_NAMES_LIMIT) {
        let shown = match value.typed() {
            Ok(data) => data.display(),
            Err(error) => {
                let shown = format!("(unreadable: {})", error.problem);
                unreadable.push(error.to_string());
                shown
            }
        };
        map.insert(value.name().to_string(), shown);
    }
    Ok(map)
}

fn subkey_names(key: &Key<'_>) -> Result<Vec<String>, ReadError> {
    key.subkeys()?.iter().take(LISTED_NAMES_LIMIT).map(|k| k.name()).collect()
}

/// A value a rule reads as text.
enum TextValue {
    Absent,
    Text(String),
    /// The value exists but holds no text (another type): why, with its type and length.
    NotText(String),
}

/// The value `name` of `key` as text: REG_SZ or REG_EXPAND_SZ. A value of another type is
/// neither its text nor its absence (a host name stored as a DWORD is damage or tampering).
fn text_value(key: &Key<'_>, name: &str) -> Result<TextValue, ReadError> {
    let Some(value) = key.value(name)? else { return Ok(TextValue::Absent) };
    Ok(match value.typed()? {
        ValueData::String(text) | ValueData::ExpandString(text) => TextValue::Text(text),
        _ => TextValue::NotText(format!(
            "value \"{name}\" of {} is a {} of {} bytes, not text: neither proof nor absence",
            key.path(),
            type_name(value.data_type()),
            value.data_size()
        )),
    })
}

fn value_data(key: &Key<'_>, name: &str) -> Result<Option<(ValueData, u32)>, ReadError> {
    match key.value(name)? {
        Some(value) => Ok(Some((value.typed()?, value.data_type()))),
        None => Ok(None),
    }
}

/// Why a value cannot answer a rule that compares numbers: a REG_DWORD or REG_QWORD whose
/// size does not fit its type (a 2-byte REG_DWORD), or data that is no number at all. Such a
/// value is neither proof nor absence; `None` when the value is usable.
fn unusable_for_rule(
    check: Check,
    key: &Key<'_>,
    name: &str,
    data_type: u32,
    size: u32,
    data: &ValueData,
) -> Option<String> {
    let compares_numbers =
        matches!(check, Check::ValueEquals(_) | Check::ValueNotEquals(_) | Check::ValueIn(_) | Check::ValueNonZero);
    if !compares_numbers {
        return None;
    }
    let shown = if name.is_empty() { "(default)" } else { name };
    let expected_size = match data_type {
        crate::load::reader::REG_DWORD | crate::load::reader::REG_DWORD_BIG_ENDIAN => Some(4),
        crate::load::reader::REG_QWORD => Some(8),
        _ => None,
    };
    let kind = type_name(data_type);
    let problem = match expected_size {
        Some(expected) if size != expected => format!("a {kind} of {size} bytes (a {kind} holds {expected})"),
        // Text and binary values are tolerated when they hold a number (some writers do
        // that); a value compared as a number that holds none is refused, not read as "no".
        _ if check != Check::ValueNonZero && data.as_u64().is_none() => {
            format!("a {kind} of {size} bytes, not a number ({})", data.display())
        }
        _ => return None,
    };
    Some(format!("value \"{shown}\" of {} is {problem}: neither proof nor absence", key.path()))
}

fn update_exe_meaning(flags: u64) -> &'static str {
    match flags {
        1 => "a software update removal is awaiting a restart",
        2 => "a software update installation is awaiting a restart",
        3 => "both an installation and a removal are awaiting a restart",
        _ => "no pending operation",
    }
}

/// What the rules may consult besides the hive: facts gathered before they run.
struct Facts<'a> {
    context: &'a MachineContext,
    patch: Option<&'a PatchAssessment>,
}

/// Evaluates one rule at one concrete key path.
fn check(rule: &Rule, scope: &Scope<'_>, key_path: &str, facts: &Facts<'_>) -> Result<Outcome, ReadError> {
    let context = facts.context;
    let Some(key) = scope.root.subpath(key_path)? else {
        return Ok(Outcome::Absent);
    };
    let value_name = rule.value.unwrap_or("");
    let mut unreadable = Vec::new();
    let mut outcome = match rule.check {
        Check::KeyExists => {
            let values = value_map(&key, &mut unreadable)?;
            let subkeys = subkey_names(&key)?;
            let summary = match (values.len(), subkeys.len()) {
                (0, 0) => format!("{} exists", key.path()),
                (v, s) => format!("{} exists ({v} value(s), {s} subkey(s))", key.path()),
            };
            Outcome::Found(scope.finding(
                rule,
                &key,
                None,
                summary,
                FindingData::KeyExists(KeyContents { subkeys, values }),
            ))
        }
        Check::KeyHasValues => {
            let values = value_map(&key, &mut unreadable)?;
            if values.is_empty() {
                Outcome::Absent
            } else {
                let summary = format!("{} holds {} value(s)", key.path(), values.len());
                Outcome::Found(scope.finding(
                    rule,
                    &key,
                    None,
                    summary,
                    FindingData::KeyHasValues(ValueList { values }),
                ))
            }
        }
        Check::KeyHasSubkeys => {
            let subkeys = subkey_names(&key)?;
            if subkeys.is_empty() {
                Outcome::Absent
            } else {
                let summary = format!("{} has {} subkey(s): {}", key.path(), subkeys.len(), subkeys.join(", "));
                Outcome::Found(scope.finding(
                    rule,
                    &key,
                    None,
                    summary,
                    FindingData::KeyHasSubkeys(SubkeyList { subkeys }),
                ))
            }
        }
        Check::ValueExists
        | Check::ValueNonEmpty
        | Check::ValueNonZero
        | Check::ValueEquals(_)
        | Check::ValueNotEquals(_)
        | Check::ValueIn(_) => {
            let Some(value) = key.value(value_name)? else {
                return Ok(Outcome::Absent);
            };
            let data = value.typed()?;
            let data_type = value.data_type();
            if let Some(problem) = unusable_for_rule(rule.check, &key, value_name, data_type, value.data_size(), &data)
            {
                return Ok(Outcome::NotEvaluated(NotEvaluatedReason::WrongType, problem));
            }
            let number = data.as_u64();
            let fires = match rule.check {
                Check::ValueExists => true,
                Check::ValueNonEmpty => !data.is_empty_or_zero(),
                Check::ValueNonZero => match number {
                    Some(n) => n != 0,
                    None => !data.is_empty_or_zero(),
                },
                Check::ValueEquals(expected) => number == Some(expected),
                Check::ValueNotEquals(idle) => number.is_some_and(|n| n != idle),
                Check::ValueIn(set) => number.is_some_and(|n| set.contains(&n)),
                _ => false,
            };
            if !fires {
                return Ok(Outcome::Absent);
            }
            let shown = data.display();
            let mut finding = scope.finding(
                rule,
                &key,
                Some(value_name),
                format!("{value_name} = {shown}"),
                FindingData::Value(ValueShown { data_type: type_name(data_type), value: shown }),
            );
            if rule.id == RuleId::UpdateExeVolatile {
                let flags = number.unwrap_or(0);
                finding.summary = format!("{value_name} = {flags}: {}", update_exe_meaning(flags));
                // Written by the XP/2003-era package installer; on Vista and later a value
                // here is usually stale (chef/chef #3909).
                if context.os.current_build.is_some_and(|b| b >= 6000) {
                    finding.strength = Strength::Weak;
                    finding
                        .notes
                        .push("Windows Vista or later: this Update.exe flag is often stale, rated weak".into());
                }
            }
            Outcome::Found(finding)
        }
        Check::PendingFileRenames => {
            let Some(value) = key.value(value_name)? else {
                return Ok(Outcome::Absent);
            };
            let raw = value.data()?;
            let classified = ClassifiedRenames::new(pending_renames::decode(&raw), &context.folders);
            // Data that stops inside a string (no terminating NUL, or half a UTF-16 unit) was
            // cut short: a damaged data size or cell. What it still shows proves a pending
            // operation when one decides; otherwise the lost rest may hold the operation that
            // would, so the value is neither proof nor absence.
            let split = crate::load::multi_sz::split_strings(&raw);
            let strength = classified.strength();
            if (split.unterminated || split.odd_length) && !strength.is_some_and(|s| s.decides()) {
                return Ok(Outcome::NotEvaluated(
                    NotEvaluatedReason::WrongType,
                    format!(
                        "value \"{}\" of {} is a {} of {} bytes that ends inside a string (no terminating NUL): its data is cut short, so the operations it held cannot be read: neither proof nor absence",
                        value.name(),
                        key.path(),
                        type_name(value.data_type()),
                        raw.len()
                    ),
                ));
            }
            let summary = format!("{}: {}", value.name(), classified.summary());
            let data = FindingData::PendingFileRenames(classified.into_data(type_name(value.data_type()), raw.len()));
            let mut finding = scope.finding(rule, &key, Some(value.name()), summary, data);
            match strength {
                Some(strength) => finding.strength = strength,
                None => {
                    finding.strength = Strength::Context;
                    finding.summary = format!("{} is present but holds no operation", value.name());
                }
            }
            if value.data_type() != crate::load::reader::REG_MULTI_SZ {
                finding.notes.push(format!("stored as {}, not REG_MULTI_SZ", type_name(value.data_type())));
            }
            Outcome::Found(finding)
        }
        Check::DnsHostnameRename => {
            let (next, active) = match (text_value(&key, "NV Hostname")?, text_value(&key, "Hostname")?) {
                (TextValue::NotText(problem), _) | (_, TextValue::NotText(problem)) => {
                    return Ok(Outcome::NotEvaluated(NotEvaluatedReason::WrongType, problem));
                }
                (TextValue::Text(next), TextValue::Text(active)) => (next, active),
                _ => {
                    return Ok(Outcome::NotEvaluated(
                        NotEvaluatedReason::Undeterminable,
                        format!("{} lacks NV Hostname or Hostname", key.path()),
                    ))
                }
            };
            if next.eq_ignore_ascii_case(&active) {
                Outcome::Absent
            } else {
                Outcome::Found(scope.finding(
                    rule,
                    &key,
                    Some("NV Hostname"),
                    format!("DNS host name changes from {active:?} to {next:?} at the next boot"),
                    FindingData::DnsHostnameRename(DnsHostnameRename { hostname: active, nv_hostname: next }),
                ))
            }
        }
        Check::NetbiosRename => {
            let next = match text_value(&key, "ComputerName")? {
                TextValue::Text(text) => Some(text),
                TextValue::Absent => None,
                TextValue::NotText(problem) => {
                    return Ok(Outcome::NotEvaluated(NotEvaluatedReason::WrongType, problem))
                }
            };
            let active_path = key_path.replace("\\ComputerName\\ComputerName", "\\ComputerName\\ActiveComputerName");
            let active_key = scope.root.subpath(&active_path)?;
            let active = match &active_key {
                Some(k) => match text_value(k, "ComputerName")? {
                    TextValue::Text(text) => Some(text),
                    TextValue::Absent => None,
                    TextValue::NotText(problem) => {
                        return Ok(Outcome::NotEvaluated(NotEvaluatedReason::WrongType, problem))
                    }
                },
                None => None,
            };
            match (next, active, active_key) {
                (Some(next), Some(active), Some(active_key)) if !next.eq_ignore_ascii_case(&active) => {
                    let mut finding = scope.finding(
                        rule,
                        &key,
                        Some("ComputerName"),
                        format!("computer name changes from {active:?} to {next:?} at the next boot"),
                        FindingData::NetbiosRename(NetbiosRename {
                            active_computer_name: active,
                            active_key: active_key.path().to_string(),
                            computer_name: next,
                        }),
                    );
                    finding.notes.push("ActiveComputerName is volatile: this hive was rebuilt from memory".into());
                    Outcome::Found(finding)
                }
                (Some(_), Some(_), Some(_)) => Outcome::Absent,
                _ => Outcome::NotEvaluated(
                    NotEvaluatedReason::Volatile,
                    "ActiveComputerName is volatile and not in this hive: a rename is not observable in this evidence"
                        .into(),
                ),
            }
        }
        Check::ServicingSessionsIncomplete => {
            let mut problems = Vec::new();
            if let Some((data, _)) = value_data(&key, "Exclusive")? {
                if data.as_u64().is_some_and(|n| n != 0) {
                    problems.push(ServicingProblem::Exclusive {
                        problem: format!("Exclusive = {}", data.display()),
                        session: (),
                    });
                }
            }
            for session in key.subkeys()? {
                let complete = value_data(&session, "Complete")?.and_then(|(d, _)| d.as_u64());
                if complete != Some(1) {
                    let phase = value_data(&session, "LastCommittedPhase")?.map(|(d, _)| d.display());
                    problems.push(ServicingProblem::Session {
                        last_committed_phase: phase,
                        last_write: session.last_write(),
                        problem: match complete {
                            Some(n) => format!("Complete = {n}"),
                            None => "no Complete value".into(),
                        },
                        session: session.name()?,
                    });
                }
            }
            if problems.is_empty() {
                Outcome::Absent
            } else {
                let summary = format!("{} servicing session(s) not complete", problems.len());
                Outcome::Found(scope.finding(
                    rule,
                    &key,
                    None,
                    summary,
                    FindingData::ServicingSessionsIncomplete(IncompleteSessions { incomplete: problems }),
                ))
            }
        }
        Check::ComponentsTransaction => {
            const MARKERS: &[&str] = &[
                "PendingXmlIdentifier",
                "NextQueueEntryIndex",
                "NextQueueEntryIndexBCDB",
                "AdvancedInstallersNeedResolving",
                "ExecutionState",
                "StoreDirty",
            ];
            let mut present = ValueMap::new();
            for marker in MARKERS {
                if let Some((data, _)) = value_data(&key, marker)? {
                    if !data.is_empty_or_zero() {
                        present.insert(marker.to_string(), data.display());
                    }
                }
            }
            if present.is_empty() {
                Outcome::Absent
            } else {
                let names: Vec<&String> = present.keys().collect();
                let summary = format!(
                    "unfinished servicing transaction: {}",
                    names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                );
                Outcome::Found(scope.finding(
                    rule,
                    &key,
                    None,
                    summary,
                    FindingData::ComponentsTransaction(ValueList { values: present }),
                ))
            }
        }
        Check::CumulativeUpdatePending => {
            // The patch level already read these keys; read them here only without it.
            let read_here;
            let rollups: &[patch::RollupPackage] = match facts.patch {
                Some(assessment) => &assessment.rollup_packages,
                None => {
                    read_here = patch::rollup_packages(&key)?;
                    &read_here
                }
            };
            let pending = rollups
                .iter()
                .filter(|p| p.state == Some(patch::STATE_INSTALL_PENDING))
                .max_by_key(|p| (p.servicing_build, p.ubr));
            let Some(package) = pending else { return Ok(Outcome::Absent) };
            let Some(package_key) = key.subkey(&package.name)? else { return Ok(Outcome::Absent) };
            let update = facts.patch.and_then(|p| p.pending_rollup.as_ref()).and_then(|r| r.update.as_ref());
            let build = format!("{}.{}", package.servicing_build, package.ubr);
            let summary = match update {
                Some(update) => format!(
                    "cumulative update {} ({build}, released {}) is installed and completes at the next reboot",
                    update.kb, update.released
                ),
                None => format!(
                    "cumulative update {build} is installed and completes at the next reboot (KB not in the table)"
                ),
            };
            let data = FindingData::CumulativeUpdatePending(CumulativeUpdate {
                install_time: package.install_time,
                kb: update.map(|u| u.kb.clone()),
                package: package.name.clone(),
                package_build: build,
                state: package.state_name.clone(),
            });
            Outcome::Found(scope.finding(rule, &package_key, None, summary, data))
        }
        Check::WindowsSetup => {
            // Read with the context (SYSTEM `Setup` and SOFTWARE `ImageState` together).
            let setup = &context.windows_setup;
            let Some(next_boot) = &setup.next_boot else { return Ok(Outcome::Absent) };
            let mut finding = scope.finding(
                rule,
                &key,
                Some(value_name),
                format!("{next_boot} [{}]", setup.values_line()),
                FindingData::WindowsSetup(WindowsSetupData {
                    values: value_map(&key, &mut unreadable)?,
                    windows_setup: setup.clone(),
                }),
            );
            if setup.generalized {
                finding.notes.push(
                    "a generalized image (a golden image or an installation not yet first-booted), not a machine waiting for a patch reboot"
                        .into(),
                );
            }
            Outcome::Found(finding)
        }
        Check::BurnRebootKeys if key.volatile_subkey_count() == Some(0) => {
            // Burn's key is volatile: with no volatile subkey recorded under Uninstall there is
            // nothing to look for, and listing its hundreds of subkeys would cost more page
            // reads than every other rule together.
            Outcome::NotEvaluated(
                NotEvaluatedReason::Volatile,
                format!(
                    "{} records no volatile subkeys: a WiX Burn restart flag is not observable in this evidence",
                    key.path()
                ),
            )
        }
        Check::BurnRebootKeys => {
            let mut marked = Vec::new();
            for subkey in key.subkeys()? {
                let name = subkey.name()?;
                if name.to_ascii_lowercase().ends_with(".rebootrequired") {
                    marked.push(name);
                }
            }
            if marked.is_empty() {
                Outcome::Absent
            } else {
                let summary = format!("WiX Burn bundle(s) need a restart: {}", marked.join(", "));
                Outcome::Found(scope.finding(
                    rule,
                    &key,
                    None,
                    summary,
                    FindingData::BurnRebootKeys(SubkeyList { subkeys: marked }),
                ))
            }
        }
    };
    if let Outcome::Found(finding) = &mut outcome {
        finding.notes.extend(unreadable);
    }
    Ok(outcome)
}

/// The concrete key paths a rule is evaluated at in this hive.
fn key_paths(rule: &Rule, scope: &Scope<'_>) -> Vec<String> {
    let mut paths = Vec::new();
    for template in rule.keys {
        if template.contains("<CS>") {
            for set in &scope.control_sets {
                paths.push(template.replace("<CS>", set));
            }
        } else {
            paths.push(template.to_string());
        }
    }
    paths
}

/// Of several key paths that could not be evaluated, the report keeps the one that says the
/// evidence itself is damaged (a read error or a mistyped value) over the one that says it is
/// merely not there.
fn keep_most_serious(kept: &mut Option<(NotEvaluatedReason, String)>, reason: NotEvaluatedReason, detail: String) {
    let damaged = |r: NotEvaluatedReason| matches!(r, NotEvaluatedReason::ReadError | NotEvaluatedReason::WrongType);
    if kept.as_ref().is_none_or(|(previous, _)| !damaged(*previous)) {
        *kept = Some((reason, detail));
    }
}

fn evaluate_rule(rule: &Rule, scope: &Scope<'_>, facts: &Facts<'_>, evidence: &mut Evidence) {
    let mut found = Vec::new();
    let mut not_evaluated = None;
    for path in key_paths(rule, scope) {
        match check(rule, scope, &path, facts) {
            Ok(Outcome::Found(finding)) => found.push(finding),
            Ok(Outcome::Absent) => {}
            Ok(Outcome::NotEvaluated(reason, detail)) => {
                if reason == NotEvaluatedReason::WrongType {
                    evidence.errors.push((scope.path(), detail.clone()));
                }
                keep_most_serious(&mut not_evaluated, reason, detail);
            }
            Err(error) => {
                evidence.errors.push((scope.path(), error.to_string()));
                keep_most_serious(&mut not_evaluated, NotEvaluatedReason::ReadError, error.to_string());
            }
        }
    }
    if !found.is_empty() {
        for finding in &mut found {
            if rule.volatility == Volatility::Volatile && finding.notes.is_empty() {
                finding
                    .notes
                    .push("volatile key found in a hive file: the hive was probably rebuilt from memory".into());
            }
        }
        evidence.findings.extend(found);
    } else if let Some((reason, detail)) = not_evaluated {
        evidence.not_evaluated.push(NotEvaluated { rule: rule.id, reason, detail });
    } else if rule.volatility == Volatility::Volatile {
        evidence.not_evaluated.push(NotEvaluated {
            rule: rule.id,
            reason: NotEvaluatedReason::Volatile,
            detail:
                "volatile key: never written to a hive file on disk, so its absence is not observable in this evidence"
                    .into(),
        });
    }
}

/// PendingFileRenameOperations in control sets Windows will not boot from: reported as
/// context, since they cannot run at the next boot.
fn other_control_set_renames(scope: &Scope<'_>, choice: &ControlSetChoice, facts: &Facts<'_>, evidence: &mut Evidence) {
    let others: Vec<&String> = choice.available.iter().filter(|s| !scope.control_sets.contains(s)).collect();
    for rule in RULES.iter().filter(|r| r.check == Check::PendingFileRenames) {
        for set in &others {
            let Some(template) = rule.keys.first() else { continue };
            let path = template.replace("<CS>", set);
            match check(rule, scope, &path, facts) {
                Ok(Outcome::Found(mut finding)) => {
                    finding.strength = Strength::Context;
                    finding.notes.push(format!(
                        "in {set}, which is neither the current nor the default control set: Windows will not run these operations at the next boot"
                    ));
                    evidence.findings.push(finding);
                }
                Ok(Outcome::Absent) => {}
                // Context only (Windows will not boot from this set), but a damaged cell is
                // still reported rather than read as "nothing there".
                Ok(Outcome::NotEvaluated(_, detail)) => {
                    evidence.errors.push((scope.path(), format!("{} in {set}: {detail}", rule.id)))
                }
                Err(error) => evidence.errors.push((scope.path(), format!("{} in {set}: {error}", rule.id))),
            }
        }
    }
}

fn skipped(rule: &Rule, options: &RuleOptions) -> bool {
    options.skip.iter().any(|id| RuleId::from_id(id) == Some(rule.id))
}

fn not_evaluated_for_slot(rule: &Rule, slot: HiveSlot<'_>) -> Option<NotEvaluated> {
    let (reason, detail) = match slot {
        HiveSlot::Missing => {
            (NotEvaluatedReason::HiveMissing, format!("no {} hive in the evidence", rule.hive.label()))
        }
        HiveSlot::Unreadable => {
            (NotEvaluatedReason::HiveUnreadable, format!("the {} hive could not be read", rule.hive.label()))
        }
        HiveSlot::Loaded(_) => return None,
    };
    Some(NotEvaluated { rule: rule.id, reason, detail })
}

fn open_scope<'k>(reader: &'k HiveReader<'k>, file: &'k HiveFile, evidence: &mut Evidence) -> Option<Scope<'k>> {
    match reader.root() {
        Ok(root) => Some(Scope { kind: file.kind(), file, root, control_sets: Vec::new() }),
        Err(error) => {
            evidence.errors.push((file.path.display().to_string(), error.to_string()));
            None
        }
    }
}

/// The patch level, when SOFTWARE names a build. RollupFix packages are found by a prefix
/// lookup, which reads a few key nodes, not the whole `Packages` list.
fn patch_level(
    scope: &Scope<'_>,
    context: &MachineContext,
    as_of: Option<time::Date>,
) -> Result<Option<PatchAssessment>, ReadError> {
    if context.os.current_build.is_none() {
        return Ok(None);
    }
    let rollups = match scope.root.subpath(cbs::PACKAGES_KEY)? {
        Some(packages) => patch::rollup_packages(&packages)?,
        None => Vec::new(),
    };
    Ok(Some(patch::assess(&context.os, &rollups, as_of)))
}

/// The newest of the loaded hives' last-written times and the last shutdown: when the
/// evidence was taken, as far as the hives tell. Zero or invalid times are ignored.
fn evidence_time(hives: &MachineHives<'_>, context: &MachineContext) -> Option<FileTime> {
    [HiveKind::System, HiveKind::Software, HiveKind::Components]
        .into_iter()
        .filter_map(|kind| match hives.slot(kind) {
            HiveSlot::Loaded(file) => Some(file.base_block.last_written),
            _ => None,
        })
        .chain(context.last_shutdown)
        .filter(|t| t.to_datetime().is_some())
        .max()
}

/// Evaluates every rule of the table on one machine.
pub fn evaluate(hives: &MachineHives<'_>, options: &RuleOptions) -> Evidence {
    let mut evidence = Evidence::default();

    let readers: Vec<(HiveKind, &HiveFile, Result<HiveReader<'_>, ReadError>)> =
        [HiveKind::System, HiveKind::Software, HiveKind::Components]
            .into_iter()
            .filter_map(|kind| match hives.slot(kind) {
                HiveSlot::Loaded(file) => Some((kind, file, file.reader())),
                _ => None,
            })
            .collect();
    let mut scopes: Vec<Scope<'_>> = Vec::new();
    for (kind, file, reader) in &readers {
        match reader {
            Ok(reader) => {
                if let Some(mut scope) = open_scope(reader, file, &mut evidence) {
                    scope.kind = *kind;
                    scopes.push(scope);
                }
            }
            Err(error) => evidence.errors.push((file.path.display().to_string(), error.to_string())),
        }
    }

    // Context first: the control set and OS build decide how some rules read.
    let mut system_choice = None;
    for scope in &mut scopes {
        let mut warnings = Vec::new();
        let result = match scope.kind {
            HiveKind::System => context::read_system_setup(&scope.root, &mut evidence.context)
                .and_then(|()| control_set::resolve(&scope.root))
                .and_then(|choice| {
                    if let Some(name) = &choice.name {
                        scope.control_sets.push(name.clone());
                        if let Some(default) = choice.default_if_different() {
                            scope.control_sets.push(default);
                        }
                        context::read_system(&scope.root, name, &mut evidence.context, &mut warnings)?;
                    }
                    system_choice = Some(choice);
                    Ok(())
                }),
            HiveKind::Software => context::read_software(&scope.root, &mut evidence.context, &mut warnings),
            _ => Ok(()),
        };
        if let Err(error) = result {
            evidence.errors.push((scope.path(), error.to_string()));
        }
        evidence.warnings.extend(warnings.into_iter().map(|warning| (scope.path(), warning)));
    }
    evidence.control_set = system_choice.clone();
    // Read-only from here on; one copy lets the rules borrow it while they add findings.
    let context = evidence.context.clone();
    evidence.evidence_time = evidence_time(hives, &context);
    if let Some(scope) = scopes.iter().find(|s| s.kind == HiveKind::Software) {
        let (as_of, source) = match (options.as_of, evidence.evidence_time.and_then(|t| t.to_datetime())) {
            (Some(given), _) => (Some(given), AsOfSource::Given),
            (None, Some(described)) => (Some(described.date()), AsOfSource::EvidenceTime),
            (None, None) => (None, AsOfSource::TableDate),
        };
        match patch_level(scope, &context, as_of) {
            Ok(mut assessment) => {
                if let Some(assessment) = &mut assessment {
                    assessment.as_of_source = source;
                }
                evidence.patch = assessment
            }
            Err(error) => evidence.errors.push((scope.path(), error.to_string())),
        }
    }
    let patch = evidence.patch.clone();
    let facts = Facts { context: &context, patch: patch.as_ref() };

    for rule in RULES {
        if skipped(rule, options) {
            evidence.not_evaluated.push(NotEvaluated {
                rule: rule.id,
                reason: NotEvaluatedReason::Skipped,
                detail: "switched off with --skip-rule".into(),
            });
            continue;
        }
        let Some(scope) = scopes.iter().find(|s| s.kind == rule.hive) else {
            let slot = match hives.slot(rule.hive) {
                // Loaded but no scope: its root could not be read.
                HiveSlot::Loaded(_) => HiveSlot::Unreadable,
                other => other,
            };
            evidence.not_evaluated.extend(not_evaluated_for_slot(rule, slot));
            continue;
        };
        if rule.keys.iter().any(|k| k.contains("<CS>")) && scope.control_sets.is_empty() {
            let detail = match &system_choice {
                Some(choice) if !choice.notes.is_empty() => choice.notes.join("; "),
                _ => "no ControlSetNNN key could be chosen".into(),
            };
            evidence.not_evaluated.push(NotEvaluated {
                rule: rule.id,
                reason: NotEvaluatedReason::NoControlSet,
                detail,
            });
            continue;
        }
        evaluate_rule(rule, scope, &facts, &mut evidence);
    }

    if let (Some(scope), Some(choice)) = (scopes.iter().find(|s| s.kind == HiveKind::System), &system_choice) {
        if !scope.control_sets.is_empty() {
            other_control_set_renames(scope, choice, &facts, &mut evidence);
        }
    }
    // A switched-off rule reports nothing at all, its context findings (renames in other
    // control sets) included.
    evidence.findings.retain(|f| !options.skip.iter().any(|id| RuleId::from_id(id) == Some(f.rule)));

    if context.windows_setup.stage.is_some() {
        for finding in evidence.findings.iter_mut().filter(|f| f.rule == RuleId::SessionManagerSetupExecute) {
            if finding.summary.to_ascii_lowercase().contains("setupcl") {
                finding.notes.push(
                    "setupcl.exe is Windows Setup's specialize-pass tool (it runs after a sysprep generalize), not servicing"
                        .into(),
                );
            }
        }
    }

    if let Some(update_finding) = evidence.findings.iter().find(|f| f.rule == RuleId::WuRebootRequired) {
        if let Some(values) = update_finding.data.values() {
            evidence.reboot_required_updates = values.keys().cloned().collect();
        }
    }

    if let Some(scope) = scopes.iter().find(|s| s.kind == HiveKind::Software) {
        let servicing_fired = evidence.findings.iter().any(|f| f.strength.decides() && f.rule.is_servicing());
        let mode = match options.package_scan {
            PackageScan::Always | PackageScan::Full => Some(PackageSearchMode::FullWalk),
            PackageScan::Never => None,
            PackageScan::WhenServicingPending => servicing_fired.then_some(PackageSearchMode::FullWalk),
            PackageScan::Records => servicing_fired.then_some(PackageSearchMode::Records),
        };
        if let Some(mode) = mode {
            // A full walk touches ~40 MB of a real SOFTWARE: read each batch ahead, let go of
            // its pages once walked.
            let mut pages = |hint| scope.file.page_hint(hint);
            match cbs::find_pending_packages(&scope.root, mode, &mut pages) {
                Ok(Some((packages, search))) => {
                    evidence.pending_packages = packages;
                    evidence.package_search = Some(search);
                }
                Ok(None) => {}
                Err(error) => evidence.errors.push((scope.path(), error.to_string())),
            }
        }
    }

    // One damaged cell on a shared path stops every rule below it: say so once.
    let mut seen = std::collections::HashSet::new();
    evidence.errors.retain(|error| seen.insert(error.clone()));

    if let Some(shutdown) = evidence.context.last_shutdown {
        for finding in &mut evidence.findings {
            if finding.last_write.is_some_and(|written| !written.is_zero() && written < shutdown) {
                finding.notes.push(format!(
                    "key last written {}, before the last recorded shutdown {}: if the machine has booted since, this survived a reboot (often an operation that failed or was queued again)",
                    finding.last_write.map(|t| t.to_string()).unwrap_or_default(),
                    shutdown
                ));
            }
        }
    }
    evidence
}
