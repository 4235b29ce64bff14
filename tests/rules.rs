//! Every rule of the table against machines written by the project's hive writer: one
//! positive and one negative case per rule, plus the control-set, case and missing-hive traps.

mod support;

use rebootscan::discover::MachineSpec;
use rebootscan::report::MachineReport;
use rebootscan::rules::{NotEvaluatedReason, Strength, RULES};
use rebootscan::scan::{scan_machine, ScanOptions};
use rebootscan::verdict::Verdict;
use support::hive_writer::{HiveSpec, ValueSpec, REG_MULTI_SZ};

const CS: &str = "ControlSet001";
const CBS: &str = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing";

/// A healthy machine: every indicator key that exists on a clean Windows 10 is there, in its
/// idle state.
struct Machine {
    system: Option<HiveSpec>,
    software: Option<HiveSpec>,
    components: Option<HiveSpec>,
    /// SOFTWARE keys whose node records volatile subkeys, as in a hive rebuilt from memory (the
    /// writer only writes stable keys, so the count is set in the built bytes).
    volatile_parents: Vec<&'static str>,
}

fn baseline_system() -> HiveSpec {
    let mut system = HiveSpec::new("ROOT");
    system.set_value("Select", ValueSpec::dword("Current", 1));
    system.set_value("Select", ValueSpec::dword("Default", 1));
    system.set_value("Select", ValueSpec::dword("LastKnownGood", 1));
    system.set_value("Select", ValueSpec::dword("Failed", 0));
    system.set_value(&format!("{CS}\\Control\\ComputerName\\ComputerName"), ValueSpec::sz("ComputerName", "WKS-01"));
    system.set_value(&format!("{CS}\\Services\\Tcpip\\Parameters"), ValueSpec::sz("Hostname", "wks-01"));
    system.set_value(&format!("{CS}\\Services\\Tcpip\\Parameters"), ValueSpec::sz("NV Hostname", "wks-01"));
    system.set_value(&format!("{CS}\\Control\\Session Manager"), ValueSpec::multi_sz("SetupExecute", &[""]));
    system.key_mut(&format!("{CS}\\Control\\Session Manager\\FileRenameOperations"));
    system.set_value(&format!("{CS}\\Services\\TrustedInstaller"), ValueSpec::dword("Start", 3));
    system.key_mut(&format!("{CS}\\Services\\Netlogon\\Parameters"));
    // Setup finished: the values a normal Windows 10 keeps at the SYSTEM root.
    system.set_value("Setup", ValueSpec::dword("SystemSetupInProgress", 0));
    system.set_value("Setup", ValueSpec::dword("OOBEInProgress", 0));
    system.set_value("Setup", ValueSpec::dword("SetupType", 0));
    system.set_value("Setup", ValueSpec::sz("CmdLine", ""));
    system
}

fn baseline_software() -> HiveSpec {
    let mut software = HiveSpec::new("ROOT");
    let cv = "Microsoft\\Windows NT\\CurrentVersion";
    software.set_value(cv, ValueSpec::sz("ProductName", "Windows 10 Pro"));
    software.set_value(cv, ValueSpec::sz("CurrentBuild", "19045"));
    software.set_value(cv, ValueSpec::dword("UBR", 4291));
    software.set_value(cv, ValueSpec::sz("DisplayVersion", "22H2"));
    software.set_value(CBS, ValueSpec::dword("ExecuteState", 0xFFFF_FFFF));
    software.set_value(&format!("{CBS}\\SessionsPending"), ValueSpec::dword("Exclusive", 0));
    software.set_value(&format!("{CBS}\\SessionsPending\\31012345_1234567890"), ValueSpec::dword("Complete", 1));
    software.set_value(&format!("{CBS}\\Interface"), ValueSpec::dword("ServicingInProgress", 0));
    software.key_mut("Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Services\\Pending");
    software.set_value("Microsoft\\WindowsUpdate\\UX\\StateVariables", ValueSpec::dword("RebootRequired", 0));
    software.key_mut("Microsoft\\Windows\\CurrentVersion\\RunOnce");
    software.key_mut("Microsoft\\Windows\\CurrentVersion\\Uninstall\\{11111111-2222-3333-4444-555555555555}");
    software
}

fn baseline_components() -> HiveSpec {
    let mut components = HiveSpec::new("ROOT");
    components.key_mut("CanonicalData");
    components.key_mut("DerivedData");
    components.set_value("", ValueSpec::dword("StoreDirty", 0));
    components
}

impl Machine {
    fn healthy() -> Machine {
        Machine {
            system: Some(baseline_system()),
            software: Some(baseline_software()),
            components: Some(baseline_components()),
            volatile_parents: Vec::new(),
        }
    }

    fn system(&mut self) -> &mut HiveSpec {
        self.system.as_mut().expect("machine has SYSTEM")
    }

    fn software(&mut self) -> &mut HiveSpec {
        self.software.as_mut().expect("machine has SOFTWARE")
    }

    fn components(&mut self) -> &mut HiveSpec {
        self.components.as_mut().expect("machine has COMPONENTS")
    }

    fn scan(&self) -> MachineReport {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut hives = Vec::new();
        for (name, spec) in [("SYSTEM", &self.system), ("SOFTWARE", &self.software), ("COMPONENTS", &self.components)] {
            if let Some(spec) = spec {
                let path = dir.path().join(name);
                let mut bytes = spec.build();
                if name == "SOFTWARE" {
                    for parent in &self.volatile_parents {
                        mark_volatile_subkeys(&mut bytes, parent);
                    }
                }
                std::fs::write(&path, bytes).expect("write hive");
                hives.push(path);
            }
        }
        let spec = MachineSpec { label: "test".into(), hives, snapshot: None, image: None };
        let report = scan_machine(&spec, &ScanOptions::default());
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report
    }
}

/// Sets the volatile-subkey count (nk offset 24) of the key named `name` (ASCII names sit at
/// nk offset 76).
fn mark_volatile_subkeys(bytes: &mut [u8], name: &str) {
    let needle = name.as_bytes();
    let at = bytes.windows(needle.len()).position(|w| w == needle).expect("key name in hive") - 76;
    assert_eq!(&bytes[at..at + 2], b"nk");
    bytes[at + 24..at + 28].copy_from_slice(&1u32.to_le_bytes());
}

fn fired<'a>(report: &'a MachineReport, rule: &str) -> Vec<&'a rebootscan::rules::Finding> {
    report.findings.iter().filter(|f| f.rule == rule).collect()
}

/// Sets the rule's indicator on a healthy machine (positive) or puts it in a state that must
/// not fire (negative, where the healthy baseline alone would not exercise the condition).
fn set_indicator(rule: &str, machine: &mut Machine, positive: bool) {
    let session_manager = format!("{CS}\\Control\\Session Manager");
    let on = |yes: u32, no: u32| if positive { yes } else { no };
    match rule {
        "pending_file_rename_operations" | "pending_file_rename_operations2" => {
            let value =
                if rule.ends_with('2') { "PendingFileRenameOperations2" } else { "PendingFileRenameOperations" };
            if positive {
                machine.system().set_value(
                    &session_manager,
                    ValueSpec::multi_sz(
                        value,
                        &["\\??\\C:\\Windows\\System32\\SET1.tmp", "!\\??\\C:\\Windows\\System32\\clbcatq.dll"],
                    ),
                );
            } else {
                // Present but empty: context, never pending.
                machine.system().set_value(&session_manager, ValueSpec::multi_sz(value, &[]));
            }
        }
        "session_manager_file_rename_operations" if positive => machine.system().set_value(
            &format!("{session_manager}\\FileRenameOperations"),
            ValueSpec::multi_sz("1", &["\\??\\C:\\old.dll"]),
        ),
        "session_manager_setup_execute" if positive => machine.system().set_value(
            &session_manager,
            ValueSpec::multi_sz(
                "SetupExecute",
                &["C:\\Windows\\System32\\poqexec.exe /display_progress \\SystemRoot\\WinSxS\\pending.xml"],
            ),
        ),
        "netlogon_join_domain" if positive => {
            machine.system().key_mut(&format!("{CS}\\Services\\Netlogon\\JoinDomain"));
        }
        "netlogon_avoid_spn_set" if positive => {
            machine.system().key_mut(&format!("{CS}\\Services\\Netlogon\\AvoidSpnSet"));
        }
        "netlogon_dcpromo_reboot_hint" if positive => machine.system().set_value(
            &format!("{CS}\\Services\\Netlogon\\Parameters"),
            ValueSpec::dword("LocatorDCPromoPreRebootHint", 1),
        ),
        "computer_rename_netbios" => machine.system().set_value(
            &format!("{CS}\\Control\\ComputerName\\ActiveComputerName"),
            ValueSpec::sz("ComputerName", if positive { "OLD-NAME" } else { "wks-01" }),
        ),
        "computer_rename_dns" => machine.system().set_value(
            &format!("{CS}\\Services\\Tcpip\\Parameters"),
            ValueSpec::sz("NV Hostname", if positive { "wks-02" } else { "WKS-01" }),
        ),
        "salt_minion_reboot_witnessed" => machine.system().set_value(
            &format!("{CS}\\Services\\salt-minion\\Volatile-Data"),
            ValueSpec::dword("Reboot required", on(1, 0)),
        ),
        "trustedinstaller_autostart" if positive => {
            machine.system().set_value(&format!("{CS}\\Services\\TrustedInstaller"), ValueSpec::dword("Start", 2))
        }
        "wu_reboot_required" if positive => machine.software().set_value(
            "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired",
            ValueSpec::dword("9306cdfc-c4a1-4a22-9996-848cb67eddc3", 1),
        ),
        "wu_post_reboot_reporting" if positive => {
            machine
                .software()
                .key_mut("Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\PostRebootReporting");
        }
        "wu_services_pending" if positive => {
            machine.software().key_mut(
                "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Services\\Pending\\7971f918-a847-4430-9279-4a52d1efe18d",
            );
        }
        "wu_orchestrator_reboot_required" if positive => {
            machine.software().key_mut("Microsoft\\WindowsUpdate\\Orchestrator\\RebootRequired");
        }
        "wu_ux_reboot_required" if positive => machine
            .software()
            .set_value("Microsoft\\WindowsUpdate\\UX\\StateVariables", ValueSpec::dword("RebootRequired", 1)),
        "cbs_reboot_pending" if positive => {
            machine.software().key_mut(&format!("{CBS}\\RebootPending"));
        }
        "cbs_reboot_in_progress" if positive => {
            machine.software().key_mut(&format!("{CBS}\\RebootInProgress"));
        }
        "cbs_packages_pending" if positive => {
            machine.software().key_mut(&format!("{CBS}\\PackagesPending"));
        }
        "cbs_sessions_pending_incomplete" if positive => machine
            .software()
            .set_value(&format!("{CBS}\\SessionsPending\\31098765_0987654321"), ValueSpec::dword("Complete", 0)),
        "cbs_execute_state" if positive => machine.software().set_value(CBS, ValueSpec::dword("ExecuteState", 1)),
        "cbs_servicing_in_progress" if positive => {
            machine.software().set_value(&format!("{CBS}\\Interface"), ValueSpec::dword("ServicingInProgress", 1))
        }
        "components_pending_transaction" => machine.components().set_value(
            "",
            if positive {
                ValueSpec::sz("PendingXmlIdentifier", "0000000000000001.1")
            } else {
                ValueSpec::dword("NextQueueEntryIndex", 0)
            },
        ),
        "update_exe_volatile" => {
            machine.software().set_value("Microsoft\\Updates\\UpdateExeVolatile", ValueSpec::dword("Flags", on(2, 0)))
        }
        "update_exe_volatile_value_form" => {
            machine.software().set_value("Microsoft\\Updates", ValueSpec::dword("UpdateExeVolatile", on(1, 0)))
        }
        "servermanager_current_reboot_attempts" => machine
            .software()
            .set_value("Microsoft\\ServerManager", ValueSpec::dword("CurrentRebootAttempts", on(1, 0))),
        "servermanager_restart_required" => machine.software().set_value(
            "Microsoft\\ServerManager\\ServicingStorage\\ServerComponentCache",
            ValueSpec::dword("RestartRequired", on(1, 0)),
        ),
        "runonce_dvd_reboot_signal" if positive => machine
            .software()
            .set_value("Microsoft\\Windows\\CurrentVersion\\RunOnce", ValueSpec::sz("DVDRebootSignal", "1")),
        "sccm_reboot_data" if positive => machine.software().set_value(
            "Microsoft\\SMS\\Mobile Client\\Reboot Management\\RebootData",
            ValueSpec::qword("RebootBy", 1_700_000_000),
        ),
        "intune_ime_reboot_flag" if positive => {
            machine.software().key_mut("Microsoft\\IntuneManagementExtension\\RebootSettings\\RebootFlag");
        }
        "appv_pending_tasks" if positive => {
            machine.software().key_mut("Microsoft\\AppV\\Client\\PendingTasks");
        }
        "msi_in_progress" if positive => {
            machine.software().key_mut("Microsoft\\Windows\\CurrentVersion\\Installer\\InProgress");
        }
        "wix_burn_reboot_required" if positive => {
            machine.software().key_mut(
                "Microsoft\\Windows\\CurrentVersion\\Uninstall\\{11111111-2222-3333-4444-555555555555}.RebootRequired",
            );
            machine.volatile_parents.push("Uninstall");
        }
        "cbs_cumulative_update_install_pending" => machine.software().set_value(
            &format!("{CBS}\\Packages\\Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4412.1.9"),
            ValueSpec::dword("CurrentState", on(0x60, 0x70)),
        ),
        "windows_setup_pending" => {
            machine.system().set_value("Setup", ValueSpec::dword("SystemSetupInProgress", on(1, 0)));
            machine.system().set_value("Setup", ValueSpec::dword("SetupType", on(2, 0)));
            // Negative: a leftover command with SetupType 0 runs nothing.
            machine.system().set_value("Setup", ValueSpec::sz("CmdLine", "oobe\\windeploy.exe"));
        }
        _ if positive => panic!("no positive case for rule {rule}"),
        // Negatives of the rules that test a key's existence: the parent is there, holding
        // what a machine without the indicator holds, and the key is not.
        "wu_reboot_required" | "wu_post_reboot_reporting" => machine.software().set_value(
            "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update",
            ValueSpec::dword("AUOptions", 4),
        ),
        "wu_orchestrator_reboot_required" => machine.software().set_value(
            "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Orchestrator",
            ValueSpec::dword("ShutdownFlyoutOptions", 0),
        ),
        "sccm_reboot_data" => {
            machine.software().key_mut("Microsoft\\SMS\\Mobile Client\\Reboot Management");
        }
        "intune_ime_reboot_flag" => {
            machine.software().key_mut("Microsoft\\IntuneManagementExtension\\RebootSettings");
        }
        "appv_pending_tasks" => {
            machine.software().key_mut("Microsoft\\AppV\\Client\\Packages");
        }
        "msi_in_progress" => {
            machine.software().key_mut("Microsoft\\Windows\\CurrentVersion\\Installer\\UserData");
        }
        "runonce_dvd_reboot_signal" => machine.software().set_value(
            "Microsoft\\Windows\\CurrentVersion\\RunOnce",
            ValueSpec::sz("Cleanup", "cleanmgr.exe /autoclean"),
        ),
        "wix_burn_reboot_required" => {
            // Volatile subkeys recorded (a memory hive), so the rule is evaluated, and the
            // bundle's own key has no `.RebootRequired` companion.
            machine.volatile_parents.push("Uninstall");
        }
        _ => {}
    }
}

/// The strength each positive case must be reported with, written out here rather than read
/// from the rule table, so that a changed rating in the table fails this test.
fn expected_strength(rule: &str) -> Strength {
    match rule {
        // Replaces a System32 file.
        "pending_file_rename_operations" | "pending_file_rename_operations2" => Strength::Strong,
        "computer_rename_netbios" | "salt_minion_reboot_witnessed" | "wu_reboot_required" | "cbs_reboot_pending" => {
            Strength::Strong
        }
        "cbs_cumulative_update_install_pending" => Strength::Strong,
        "session_manager_setup_execute"
        | "netlogon_join_domain"
        | "netlogon_avoid_spn_set"
        | "computer_rename_dns"
        | "cbs_reboot_in_progress"
        | "cbs_packages_pending"
        | "cbs_sessions_pending_incomplete"
        | "cbs_execute_state"
        | "components_pending_transaction"
        | "servermanager_current_reboot_attempts"
        | "servermanager_restart_required"
        | "sccm_reboot_data"
        | "wix_burn_reboot_required"
        | "windows_setup_pending" => Strength::Medium,
        // Update.exe flags on Windows 10 are usually stale: the table's medium becomes weak.
        "update_exe_volatile" => Strength::Weak,
        "session_manager_file_rename_operations"
        | "netlogon_dcpromo_reboot_hint"
        | "wu_post_reboot_reporting"
        | "wu_orchestrator_reboot_required"
        | "wu_ux_reboot_required"
        | "cbs_servicing_in_progress"
        | "update_exe_volatile_value_form"
        | "runonce_dvd_reboot_signal"
        | "intune_ime_reboot_flag"
        | "appv_pending_tasks" => Strength::Weak,
        "trustedinstaller_autostart" | "wu_services_pending" | "msi_in_progress" => Strength::Context,
        other => panic!("no expected strength written down for rule {other}"),
    }
}

/// The key at `path` in a hive spec (names compared case-insensitively).
fn spec_key<'a>(spec: &'a HiveSpec, path: &str) -> Option<&'a support::hive_writer::KeySpec> {
    let mut key = &spec.root;
    for name in path.split('\\').filter(|n| !n.is_empty()) {
        key = key.subkeys.iter().find(|k| support::hive_writer::names_equal(&k.name, name))?;
    }
    Some(key)
}

/// The negative machine of a rule is a real negative: the rule's key is there (for rules that
/// test a key's existence, its parent is) and, for rules that compare a value, the value is
/// there in a state that must not fire.
fn assert_negative_is_real(rule: &rebootscan::rules::Rule, machine: &Machine) {
    let hive = match rule.hive {
        rebootscan::load::kind::HiveKind::System => &machine.system,
        rebootscan::load::kind::HiveKind::Software => &machine.software,
        _ => &machine.components,
    };
    let spec = hive.as_ref().expect("the negative machine has the rule's hive");
    let path = rule.keys[0].replace("<CS>", CS);
    let key = spec_key(spec, &path);
    match rule.check {
        rebootscan::rules::Check::KeyExists => {
            assert!(key.is_none(), "{}: {path} exists on the negative machine", rule.id);
            let parent = path.rsplit_once('\\').map_or("", |(parent, _)| parent);
            assert!(spec_key(spec, parent).is_some(), "{}: the parent {parent} is missing", rule.id);
        }
        rebootscan::rules::Check::ValueExists => {
            let key = key.unwrap_or_else(|| panic!("{}: {path} missing", rule.id));
            let value = rule.value.expect("value rule");
            assert!(
                !key.values.iter().any(|v| support::hive_writer::names_equal(&v.name, value)),
                "{}: {value} is set",
                rule.id
            );
        }
        rebootscan::rules::Check::ComponentsTransaction => {
            let key = key.unwrap_or_else(|| panic!("{}: {path} missing", rule.id));
            assert!(!key.values.is_empty(), "{}: no transaction value at all", rule.id);
        }
        _ => {
            let key = key.unwrap_or_else(|| panic!("{}: {path} missing on the negative machine", rule.id));
            if let Some(value) = rule.value {
                assert!(
                    key.values.iter().any(|v| support::hive_writer::names_equal(&v.name, value)),
                    "{}: {value} missing on the negative machine",
                    rule.id
                );
            }
        }
    }
}

#[test]
fn healthy_machine_is_not_pending() {
    let report = Machine::healthy().scan();
    assert_eq!(report.verdict, Verdict::NotPending, "{:#?}", report.findings);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.computer_name.as_deref(), Some("WKS-01"));
    assert_eq!(report.control_set.as_deref(), Some("ControlSet001"));
    // Volatile indicators are never a silent "no".
    for volatile in
        ["wu_reboot_required", "computer_rename_netbios", "salt_minion_reboot_witnessed", "wix_burn_reboot_required"]
    {
        assert!(
            report.not_evaluated.iter().any(|n| n.rule == volatile && n.reason == NotEvaluatedReason::Volatile),
            "{volatile}: {:?}",
            report.not_evaluated
        );
    }
}

#[test]
fn every_rule_fires_on_its_positive_machine() {
    for rule in RULES {
        let mut machine = Machine::healthy();
        set_indicator(rule.id.as_str(), &mut machine, true);
        let report = machine.scan();
        let findings = fired(&report, rule.id.as_str());
        assert_eq!(findings.len(), 1, "{}: {:#?}", rule.id, report.findings);
        let finding = findings[0];
        assert_eq!(finding.strength, expected_strength(rule.id.as_str()), "{}", rule.id);
        assert_eq!(finding.hive, rule.hive, "{}", rule.id);
        assert!(finding.last_write.is_some(), "{}: key last-write time", rule.id);
        let pending = finding.strength.decides();
        assert_eq!(report.verdict == Verdict::Pending, pending, "{}: {:?}", rule.id, report.verdict);
        if !pending {
            assert_eq!(report.verdict, Verdict::NotPending, "{}", rule.id);
        }
        // Only this rule fired.
        assert!(report.findings.iter().all(|f| f.rule == rule.id), "{}: {:#?}", rule.id, report.findings);
    }
}

#[test]
fn every_rule_stays_silent_on_its_negative_machine() {
    for rule in RULES {
        let mut machine = Machine::healthy();
        set_indicator(rule.id.as_str(), &mut machine, false);
        assert_negative_is_real(rule, &machine);
        let report = machine.scan();
        assert!(
            report.not_evaluated.iter().all(|n| n.rule != rule.id || n.reason == NotEvaluatedReason::Volatile),
            "{}: {:#?}",
            rule.id,
            report.not_evaluated
        );
        let decisive: Vec<_> = report.findings.iter().filter(|f| f.strength.decides() || f.rule != rule.id).collect();
        assert!(decisive.is_empty(), "{}: {:#?}", rule.id, report.findings);
        assert_eq!(report.verdict, Verdict::NotPending, "{}", rule.id);
    }
}

#[test]
fn wu_reboot_required_lists_update_ids() {
    let mut machine = Machine::healthy();
    set_indicator("wu_reboot_required", &mut machine, true);
    let report = machine.scan();
    assert_eq!(report.pending_updates.reboot_required_updates, vec!["9306cdfc-c4a1-4a22-9996-848cb67eddc3"]);
    assert!(fired(&report, "wu_reboot_required")[0].notes.iter().any(|n| n.contains("memory")));
}

#[test]
fn update_exe_flags_are_explained() {
    for (flags, meaning) in [(1, "removal"), (2, "installation"), (3, "both")] {
        let mut machine = Machine::healthy();
        machine.software().set_value("Microsoft\\Updates\\UpdateExeVolatile", ValueSpec::dword("Flags", flags));
        let report = machine.scan();
        let finding = fired(&report, "update_exe_volatile")[0];
        assert!(finding.summary.contains(meaning), "{flags}: {}", finding.summary);
    }
}

#[test]
fn temp_only_renames_are_weak_and_not_pending() {
    let mut machine = Machine::healthy();
    machine.system().set_value(
        &format!("{CS}\\Control\\Session Manager"),
        ValueSpec::multi_sz(
            "PendingFileRenameOperations",
            &[
                "\\??\\C:\\Users\\a\\AppData\\Local\\Temp\\nsp9C0.tmp\\nsProcess.dll",
                "",
                "\\??\\C:\\Config.Msi\\1a2b.rbf",
                "",
            ],
        ),
    );
    let report = machine.scan();
    let finding = fired(&report, "pending_file_rename_operations")[0];
    assert_eq!(finding.strength, Strength::Weak);
    let data = serde_json::to_value(&finding.data).unwrap();
    assert_eq!(data["counts"]["temp_cleanup"], 2);
    assert_eq!(data["operations"][0]["op"], "delete");
    assert_eq!(data["operations"][0]["target"], serde_json::Value::Null);
    assert_eq!(report.verdict, Verdict::NotPending);
}

/// A SYSTEM hive whose `Select` points at control set `current` (and `default`), with the
/// rename queued only in `pfro_set`.
fn control_set_machine(current: u32, default: u32, sets: &[u32], pfro_set: u32) -> MachineReport {
    let mut machine = Machine::healthy();
    let mut system = HiveSpec::new("ROOT");
    system.set_value("Select", ValueSpec::dword("Current", current));
    system.set_value("Select", ValueSpec::dword("Default", default));
    for &set in sets {
        let name = format!("ControlSet{set:03}");
        system.set_value(
            &format!("{name}\\Control\\ComputerName\\ComputerName"),
            ValueSpec::sz("ComputerName", "CS-HOST"),
        );
        if set == pfro_set {
            system.set_value(
                &format!("{name}\\Control\\Session Manager"),
                ValueSpec::multi_sz(
                    "PendingFileRenameOperations",
                    &["\\??\\C:\\Windows\\System32\\a.new", "!\\??\\C:\\Windows\\System32\\a.dll"],
                ),
            );
        }
    }
    machine.system = Some(system);
    machine.scan()
}

#[test]
fn control_set_2_and_10_are_resolved_from_select() {
    let report = control_set_machine(2, 2, &[1, 2], 2);
    assert_eq!(report.control_set.as_deref(), Some("ControlSet002"));
    assert_eq!(report.control_set_source.as_deref(), Some("Select\\Current"));
    assert_eq!(fired(&report, "pending_file_rename_operations")[0].key, "ControlSet002\\Control\\Session Manager");
    assert_eq!(report.verdict, Verdict::Pending);

    let report = control_set_machine(10, 10, &[1, 10], 10);
    assert_eq!(report.control_set.as_deref(), Some("ControlSet010"));
    assert_eq!(fired(&report, "pending_file_rename_operations")[0].key, "ControlSet010\\Control\\Session Manager");
    assert_eq!(report.verdict, Verdict::Pending);
}

#[test]
fn rename_only_in_a_non_current_control_set_is_context() {
    let report = control_set_machine(1, 1, &[1, 2], 2);
    let findings = fired(&report, "pending_file_rename_operations");
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].strength, Strength::Context);
    assert!(findings[0].notes.iter().any(|n| n.contains("ControlSet002")), "{:?}", findings[0].notes);
    assert_eq!(report.verdict, Verdict::NotPending);
}

#[test]
fn default_control_set_is_evaluated_when_it_differs() {
    let report = control_set_machine(1, 2, &[1, 2], 2);
    let findings = fired(&report, "pending_file_rename_operations");
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].strength, Strength::Strong);
    assert_eq!(report.verdict, Verdict::Pending);
}

#[test]
fn names_match_in_any_case() {
    let mut machine = Machine::healthy();
    let mut system = HiveSpec::new("ROOT");
    system.set_value("SELECT", ValueSpec::dword("current", 3));
    system.set_value("controlset003\\CONTROL\\computername\\COMPUTERNAME", ValueSpec::sz("computername", "Mixed-Case"));
    system.set_value("controlset003\\Services\\Tcpip\\Parameters", ValueSpec::sz("HostName", "mixed-case"));
    system.set_value("controlset003\\Services\\Tcpip\\Parameters", ValueSpec::sz("NV HostName", "renamed"));
    system.set_value(
        "controlset003\\control\\SESSION MANAGER",
        ValueSpec::raw(
            "pendingFileRenameOperations",
            REG_MULTI_SZ,
            "\\??\\C:\\Program Files\\App\\app.exe.new\0!\\??\\C:\\Program Files\\App\\app.exe\0\0"
                .encode_utf16()
                .flat_map(|u| u.to_le_bytes())
                .collect(),
        ),
    );
    machine.system = Some(system);
    machine.software().key_mut("MICROSOFT\\windows\\CURRENTVERSION\\component based servicing\\REBOOTPENDING");
    let report = machine.scan();
    assert_eq!(report.control_set.as_deref(), Some("controlset003"));
    assert_eq!(report.computer_name.as_deref(), Some("Mixed-Case"));
    let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    for expected in ["pending_file_rename_operations", "computer_rename_dns", "cbs_reboot_pending"] {
        assert!(rules.contains(&expected), "{expected}: {rules:?}");
    }
    let data = serde_json::to_value(&fired(&report, "pending_file_rename_operations")[0].data).unwrap();
    assert_eq!(data["counts"]["program_files"], 1);
}

#[test]
fn a_machine_with_only_system_or_only_software_is_unknown_unless_pending() {
    let mut only_system = Machine::healthy();
    only_system.software = None;
    only_system.components = None;
    let report = only_system.scan();
    assert_eq!(report.verdict, Verdict::Unknown);
    assert!(report.verdict_reason.as_deref().unwrap_or_default().contains("SOFTWARE"));
    assert!(report
        .not_evaluated
        .iter()
        .any(|n| n.rule == "cbs_reboot_pending" && n.reason == NotEvaluatedReason::HiveMissing));

    let mut only_software = Machine::healthy();
    only_software.system = None;
    only_software.components = None;
    let report = only_software.scan();
    assert_eq!(report.verdict, Verdict::Unknown);
    assert!(report.verdict_reason.as_deref().unwrap_or_default().contains("SYSTEM"));

    let mut pending_software = Machine::healthy();
    pending_software.system = None;
    set_indicator("cbs_reboot_pending", &mut pending_software, true);
    assert_eq!(pending_software.scan().verdict, Verdict::Pending);
}

#[test]
fn skipped_rules_are_reported() {
    let mut machine = Machine::healthy();
    set_indicator("cbs_reboot_pending", &mut machine, true);
    let dir = tempfile::tempdir().unwrap();
    let mut hives = Vec::new();
    for (name, spec) in [("SYSTEM", &machine.system), ("SOFTWARE", &machine.software)] {
        let path = dir.path().join(name);
        std::fs::write(&path, spec.as_ref().unwrap().build()).unwrap();
        hives.push(path);
    }
    let mut options = ScanOptions::default();
    options.rules.skip = vec!["cbs_reboot_pending".into()];
    let report = scan_machine(&MachineSpec { label: "skip".into(), hives, snapshot: None, image: None }, &options);
    assert!(fired(&report, "cbs_reboot_pending").is_empty());
    assert!(report
        .not_evaluated
        .iter()
        .any(|n| n.rule == "cbs_reboot_pending" && n.reason == NotEvaluatedReason::Skipped));
    assert_eq!(report.verdict, Verdict::NotPending);
}

#[test]
fn pending_cbs_packages_are_listed_with_kb() {
    let mut machine = Machine::healthy();
    set_indicator("cbs_reboot_pending", &mut machine, true);
    let packages = format!("{CBS}\\Packages");
    let software = machine.software();
    software.set_value(
        &format!("{packages}\\Package_for_KB5034441~31bf3856ad364e35~amd64~~19041.3920.1.2"),
        ValueSpec::dword("CurrentState", 0x60),
    );
    software.set_value(
        &format!("{packages}\\Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.4291.1.10"),
        ValueSpec::dword("CurrentState", 0x70),
    );
    software.set_value(
        &format!("{packages}\\Package_for_KB5001716~31bf3856ad364e35~amd64~~19041.3000.1.1"),
        ValueSpec::dword("CurrentState", 0x05),
    );
    let report = machine.scan();
    let listed: Vec<(Option<&str>, &str)> =
        report.pending_updates.packages.iter().map(|p| (p.kb.as_deref(), p.state_name.as_str())).collect();
    assert_eq!(listed, vec![(Some("KB5001716"), "Uninstall Pending"), (Some("KB5034441"), "Install Pending")]);
}

#[test]
fn finding_written_before_last_shutdown_is_flagged() {
    let mut machine = Machine::healthy();
    set_indicator("pending_file_rename_operations", &mut machine, true);
    // The writer stamps every key with the hive's time (zero by default); put the shutdown
    // after it.
    let shutdown = rebootscan::load::filetime::FileTime::parse_rfc3339("2024-05-01T10:00:00Z").unwrap();
    machine.system().key_mut(&format!("{CS}\\Control\\Session Manager")).last_written =
        rebootscan::load::filetime::FileTime::parse_rfc3339("2024-04-30T09:00:00Z").unwrap().ticks();
    machine.system().set_value(
        &format!("{CS}\\Control\\Windows"),
        ValueSpec::binary("ShutdownTime", &shutdown.ticks().to_le_bytes()),
    );
    let report = machine.scan();
    assert_eq!(report.context.last_shutdown, Some(shutdown));
    let finding = fired(&report, "pending_file_rename_operations")[0];
    assert!(finding.notes.iter().any(|n| n.contains("before the last recorded shutdown")), "{:?}", finding.notes);
}

#[test]
fn wrong_hive_kind_is_warned_and_not_used() {
    // A file named SYSTEM holding a user profile (NTUSER) subtree.
    let mut ntuser = HiveSpec::new("ROOT");
    ntuser.key_mut("Software\\Microsoft");
    ntuser.key_mut("Control Panel\\Desktop");
    ntuser.key_mut("Environment");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("SYSTEM");
    std::fs::write(&path, ntuser.build()).unwrap();
    let report = scan_machine(
        &MachineSpec { label: "wrong".into(), hives: vec![path], snapshot: None, image: None },
        &ScanOptions::default(),
    );
    let warnings: Vec<&String> = report.hives.iter().flat_map(|h| &h.warnings).collect();
    assert!(warnings.iter().any(|w| w.contains("NTUSER")), "{warnings:?}");
    assert_eq!(report.verdict, Verdict::Unknown);
}
