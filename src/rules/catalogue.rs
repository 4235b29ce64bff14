//! The rule table: one row per registry pending-reboot indicator of
//! `shared/reference/indicators.md`, with its id. This is the only place that knows registry
//! paths; the evaluator, the `rules` subcommand, the README's rule list and the tests read it.

use serde::Serialize;

use crate::load::kind::HiveKind;

/// How much a finding proves, from the catalogue's confidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    /// Corroboration only; never decides anything by itself.
    Context,
    /// Community-only or contradicted signal (catalogue confidence Low or Low–Med).
    Weak,
    /// One solid implementation or consistent field reports (Med, Med–High).
    Medium,
    /// Documented by Microsoft or several independent implementations (High).
    Strong,
}

impl Strength {
    pub fn label(self) -> &'static str {
        match self {
            Strength::Context => "context",
            Strength::Weak => "weak",
            Strength::Medium => "medium",
            Strength::Strong => "strong",
        }
    }

    /// Strong and medium findings make a machine pending.
    pub fn decides(self) -> bool {
        self >= Strength::Medium
    }
}

/// Whether the indicator's key can reach a hive file saved from disk at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Volatility {
    /// Stored on disk: absent means "no".
    Persistent,
    /// Lives only in memory: absent from a disk hive proves nothing ("not observable").
    Volatile,
    /// No public source says; absent is reported as absent.
    Unknown,
}

/// What must hold for the indicator to fire. Simple conditions are generic; the few that
/// need decoding name their own evaluator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "arg")]
pub enum Check {
    KeyExists,
    KeyHasValues,
    KeyHasSubkeys,
    ValueExists,
    /// A string or string list with at least one non-empty string.
    ValueNonEmpty,
    /// A number other than 0 (or non-empty text for string values).
    ValueNonZero,
    ValueEquals(u64),
    ValueNotEquals(u64),
    ValueIn(&'static [u64]),
    /// PendingFileRenameOperations(2): decoded and classified pairs.
    PendingFileRenames,
    /// `NV Hostname` differs from `Hostname`.
    DnsHostnameRename,
    /// `ComputerName\ComputerName` differs from the volatile `ActiveComputerName`.
    NetbiosRename,
    /// A CBS session without `Complete`=1, or `Exclusive` ≠ 0.
    ServicingSessionsIncomplete,
    /// COMPONENTS root values that record an unfinished servicing transaction.
    ComponentsTransaction,
    /// An `Uninstall\{BundleId}.RebootRequired` key written by WiX Burn.
    BurnRebootKeys,
    /// A `Package_for_RollupFix` (cumulative update) in Install Pending.
    CumulativeUpdatePending,
    /// SYSTEM `Setup`: Windows Setup has not finished (generalized image, OOBE, upgrade).
    WindowsSetup,
}

/// Declares [`RuleId`]: one variant per row of [`RULES`], in table order, with its id.
macro_rules! rule_ids {
    ($($variant:ident => $id:literal,)*) => {
        /// A rule of the table, by name. Code that treats one rule specially names it with
        /// this enum, never with its id string; the string is for users (`--skip-rule`,
        /// reports). Serialises as the id.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum RuleId {
            $($variant,)*
        }

        impl RuleId {
            /// Every rule, in table order.
            pub const ALL: &'static [RuleId] = &[$(RuleId::$variant,)*];

            /// The id users see: `pending_file_rename_operations`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$variant => $id,)*
                }
            }
        }
    };
}

rule_ids! {
    PendingFileRenameOperations => "pending_file_rename_operations",
    PendingFileRenameOperations2 => "pending_file_rename_operations2",
    SessionManagerFileRenameOperations => "session_manager_file_rename_operations",
    SessionManagerSetupExecute => "session_manager_setup_execute",
    NetlogonJoinDomain => "netlogon_join_domain",
    NetlogonAvoidSpnSet => "netlogon_avoid_spn_set",
    NetlogonDcpromoRebootHint => "netlogon_dcpromo_reboot_hint",
    ComputerRenameNetbios => "computer_rename_netbios",
    ComputerRenameDns => "computer_rename_dns",
    SaltMinionRebootWitnessed => "salt_minion_reboot_witnessed",
    TrustedinstallerAutostart => "trustedinstaller_autostart",
    WuRebootRequired => "wu_reboot_required",
    WuPostRebootReporting => "wu_post_reboot_reporting",
    WuServicesPending => "wu_services_pending",
    WuOrchestratorRebootRequired => "wu_orchestrator_reboot_required",
    WuUxRebootRequired => "wu_ux_reboot_required",
    CbsRebootPending => "cbs_reboot_pending",
    CbsRebootInProgress => "cbs_reboot_in_progress",
    CbsPackagesPending => "cbs_packages_pending",
    CbsSessionsPendingIncomplete => "cbs_sessions_pending_incomplete",
    CbsExecuteState => "cbs_execute_state",
    CbsServicingInProgress => "cbs_servicing_in_progress",
    ComponentsPendingTransaction => "components_pending_transaction",
    UpdateExeVolatile => "update_exe_volatile",
    UpdateExeVolatileValueForm => "update_exe_volatile_value_form",
    ServermanagerCurrentRebootAttempts => "servermanager_current_reboot_attempts",
    ServermanagerRestartRequired => "servermanager_restart_required",
    RunonceDvdRebootSignal => "runonce_dvd_reboot_signal",
    SccmRebootData => "sccm_reboot_data",
    IntuneImeRebootFlag => "intune_ime_reboot_flag",
    AppvPendingTasks => "appv_pending_tasks",
    MsiInProgress => "msi_in_progress",
    WixBurnRebootRequired => "wix_burn_reboot_required",
    CbsCumulativeUpdateInstallPending => "cbs_cumulative_update_install_pending",
    WindowsSetupPending => "windows_setup_pending",
}

impl RuleId {
    /// The rule's row of the table.
    pub fn rule(self) -> &'static Rule {
        // `ALL` and `RULES` are in the same order (checked by a test).
        &RULES[self as usize]
    }

    /// The rule with this id, compared case-insensitively as `--skip-rule` does.
    pub fn from_id(id: &str) -> Option<RuleId> {
        RuleId::ALL.iter().copied().find(|rule| rule.as_str().eq_ignore_ascii_case(id))
    }

    /// Servicing-stack rules: when one fires, the CBS package list says which update waits.
    pub fn is_servicing(self) -> bool {
        matches!(
            self,
            RuleId::CbsRebootPending
                | RuleId::CbsRebootInProgress
                | RuleId::CbsPackagesPending
                | RuleId::CbsSessionsPendingIncomplete
                | RuleId::CbsExecuteState
                | RuleId::CbsServicingInProgress
                | RuleId::CbsCumulativeUpdateInstallPending
                | RuleId::ComponentsPendingTransaction
        )
    }
}

impl std::fmt::Display for RuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for RuleId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl PartialEq<str> for RuleId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for RuleId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<RuleId> for &str {
    fn eq(&self, other: &RuleId) -> bool {
        *self == other.as_str()
    }
}

/// One indicator.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub id: RuleId,
    /// Row number in indicators.md.
    pub number: u8,
    pub hive: HiveKind,
    /// Key paths relative to the hive root; `<CS>` stands for the resolved control set. The
    /// first is the main location, the others are alternates checked too (WOW64 view, other
    /// spellings).
    pub keys: &'static [&'static str],
    pub value: Option<&'static str>,
    pub check: Check,
    pub strength: Strength,
    pub volatility: Volatility,
    /// The condition in words.
    pub pending_when: &'static str,
    pub explanation: &'static str,
    pub source: &'static str,
}

const CBS: &str = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing";

/// SOFTWARE key of every CBS package (the per-patch view and the patch level walk it; the
/// `cbs_packages_pending` and cumulative-update rows name it too).
pub const CBS_PACKAGES_KEY: &str = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages";

/// Every indicator a hive can show, in catalogue order.
pub static RULES: &[Rule] = &[
    Rule {
        id: RuleId::PendingFileRenameOperations,
        number: 1,
        hive: HiveKind::System,
        keys: &["<CS>\\Control\\Session Manager"],
        value: Some("PendingFileRenameOperations"),
        check: Check::PendingFileRenames,
        strength: Strength::Strong,
        volatility: Volatility::Persistent,
        pending_when: "at least one (source, target) pair; rated by the classes of its operations (README, Path classes): strong when system or program files change, medium for profiles and unknown places, weak when only temp files and caches are cleaned up",
        explanation: "MoveFileEx(MOVEFILE_DELAY_UNTIL_REBOOT) queues renames and deletes that SMSS performs at the next boot",
        source: "MoveFileEx docs; Windows 2000 Resource Kit cc960241; hansr 2006",
    },
    Rule {
        id: RuleId::PendingFileRenameOperations2,
        number: 2,
        hive: HiveKind::System,
        keys: &["<CS>\\Control\\Session Manager"],
        value: Some("PendingFileRenameOperations2"),
        check: Check::PendingFileRenames,
        strength: Strength::Strong,
        volatility: Volatility::Persistent,
        pending_when: "at least one (source, target) pair (same rating as the first value)",
        explanation: "overflow list of boot-time file operations; SMSS reads it together with the first",
        source: "ReactOS sminit.c / move.c; Windows Internals via Symantec article",
    },
    Rule {
        id: RuleId::SessionManagerFileRenameOperations,
        number: 3,
        hive: HiveKind::System,
        keys: &["<CS>\\Control\\Session Manager\\FileRenameOperations"],
        value: None,
        check: Check::KeyHasValues,
        strength: Strength::Weak,
        volatility: Volatility::Persistent,
        pending_when: "the key has at least one value (the empty key is normal)",
        explanation: "files to delete at restart, per the Windows 2000 registry reference; no modern documentation",
        source: "Windows 2000 Resource Kit registry reference",
    },
    Rule {
        id: RuleId::SessionManagerSetupExecute,
        number: 4,
        hive: HiveKind::System,
        keys: &["<CS>\\Control\\Session Manager"],
        value: Some("SetupExecute"),
        check: Check::ValueNonEmpty,
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "holds a non-empty command (e.g. poqexec.exe … pending.xml)",
        explanation: "servicing operations SMSS retries at boot through poqexec",
        source: "Microsoft servicing blog (joscon); guyrleech part 2",
    },
    Rule {
        id: RuleId::NetlogonJoinDomain,
        number: 5,
        hive: HiveKind::System,
        keys: &["<CS>\\Services\\Netlogon\\JoinDomain"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Medium,
        volatility: Volatility::Unknown,
        pending_when: "the key exists",
        explanation: "a domain join waits for a reboot (whether Netlogon writes it volatile is unknown)",
        source: "Salt #49675; Puppet; Boxstarter",
    },
    Rule {
        id: RuleId::NetlogonAvoidSpnSet,
        number: 6,
        hive: HiveKind::System,
        keys: &["<CS>\\Services\\Netlogon\\AvoidSpnSet"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Medium,
        volatility: Volatility::Unknown,
        pending_when: "the key exists",
        explanation: "deferred SPN / DNS host name writes of a join-with-rename wait for a reboot",
        source: "Salt; Boxstarter; NetJoinDomain NETSETUP_DEFER_SPN_SET",
    },
    Rule {
        id: RuleId::NetlogonDcpromoRebootHint,
        number: 7,
        hive: HiveKind::System,
        keys: &["<CS>\\Services\\Netlogon\\Parameters"],
        value: Some("LocatorDCPromoPreRebootHint"),
        check: Check::ValueExists,
        strength: Strength::Weak,
        volatility: Volatility::Unknown,
        pending_when: "the value exists",
        explanation: "domain controller promotion waiting for a reboot",
        source: "ActiveDirectoryDsc PR #743",
    },
    Rule {
        id: RuleId::ComputerRenameNetbios,
        number: 8,
        hive: HiveKind::System,
        keys: &["<CS>\\Control\\ComputerName\\ComputerName"],
        value: Some("ComputerName"),
        check: Check::NetbiosRename,
        strength: Strength::Strong,
        volatility: Volatility::Volatile,
        pending_when: "ComputerName differs from the running name in ActiveComputerName",
        explanation: "a NetBIOS rename takes effect at the next boot; ActiveComputerName is volatile, so only memory hives can show it",
        source: "Puppet; Chocolatey; ComputerManagementDsc",
    },
    Rule {
        id: RuleId::ComputerRenameDns,
        number: 9,
        hive: HiveKind::System,
        keys: &["<CS>\\Services\\Tcpip\\Parameters"],
        value: Some("NV Hostname"),
        check: Check::DnsHostnameRename,
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "NV Hostname differs from Hostname (case-insensitive)",
        explanation: "the DNS host name configured for the next boot differs from the active one",
        source: "Salt win_system.py",
    },
    Rule {
        id: RuleId::SaltMinionRebootWitnessed,
        number: 10,
        hive: HiveKind::System,
        keys: &["<CS>\\Services\\salt-minion\\Volatile-Data"],
        value: Some("Reboot required"),
        check: Check::ValueEquals(1),
        strength: Strength::Strong,
        volatility: Volatility::Volatile,
        pending_when: "= 1",
        explanation: "the Salt minion saw an install return 3010; volatile key, memory hives only",
        source: "Salt win_system.py",
    },
    Rule {
        id: RuleId::TrustedinstallerAutostart,
        number: 11,
        hive: HiveKind::System,
        keys: &["<CS>\\Services\\TrustedInstaller"],
        value: Some("Start"),
        check: Check::ValueEquals(2),
        strength: Strength::Context,
        volatility: Volatility::Persistent,
        pending_when: "= 2 (automatic) instead of the default 3",
        explanation: "TrustedInstaller set to start automatically while servicing work is queued; corroboration only",
        source: "guyrleech, Reasons for Reboots part 2",
    },
    Rule {
        id: RuleId::WuRebootRequired,
        number: 12,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\RebootRequired"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Strong,
        volatility: Volatility::Volatile,
        pending_when: "the key exists (one DWORD per update GUID)",
        explanation: "Windows Update creates this volatile key when an update returns 3010; memory hives only",
        source: "hansr 2006 (Microsoft); nearly all live tools",
    },
    Rule {
        id: RuleId::WuPostRebootReporting,
        number: 13,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Auto Update\\PostRebootReporting"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Weak,
        volatility: Volatility::Unknown,
        pending_when: "the key exists",
        explanation: "results queued for reporting after a reboot; may linger right after one",
        source: "Salt; A. Bertram",
    },
    Rule {
        id: RuleId::WuServicesPending,
        number: 14,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Services\\Pending"],
        value: None,
        check: Check::KeyHasSubkeys,
        strength: Strength::Context,
        volatility: Volatility::Persistent,
        pending_when: "has at least one GUID subkey",
        explanation: "pending Windows Update service registrations; not a reboot signal by itself",
        source: "Adam the Automator table",
    },
    Rule {
        id: RuleId::WuOrchestratorRebootRequired,
        number: 15,
        hive: HiveKind::Software,
        keys: &[
            "Microsoft\\Windows\\CurrentVersion\\WindowsUpdate\\Orchestrator\\RebootRequired",
            "Microsoft\\WindowsUpdate\\Orchestrator\\RebootRequired",
        ],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Weak,
        volatility: Volatility::Unknown,
        pending_when: "the key exists",
        explanation: "community-reported Update Orchestrator flag; no Microsoft source",
        source: "community scripts",
    },
    Rule {
        id: RuleId::WuUxRebootRequired,
        number: 16,
        hive: HiveKind::Software,
        keys: &["Microsoft\\WindowsUpdate\\UX\\StateVariables"],
        value: Some("RebootRequired"),
        check: Check::ValueEquals(1),
        strength: Strength::Weak,
        volatility: Volatility::Persistent,
        pending_when: "= 1 (Windows 10 20H2 and later)",
        explanation: "Windows Update UX state: a restart is required to finish updates",
        source: "Toast-Notification-Script issue #43",
    },
    Rule {
        id: RuleId::CbsRebootPending,
        number: 17,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Strong,
        volatility: Volatility::Persistent,
        pending_when: "the key exists",
        explanation: "Component Based Servicing has changes that complete at the next boot",
        source: "ConfigMgr prerequisite check (Microsoft); Azure offline repair script; nearly all tools",
    },
    Rule {
        id: RuleId::CbsRebootInProgress,
        number: 18,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootInProgress"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "the key exists",
        explanation: "TrustedInstaller has started a reboot to finish servicing",
        source: "Salt; Azure repair script; LegacyUpdate",
    },
    Rule {
        id: RuleId::CbsPackagesPending,
        number: 19,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\PackagesPending"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "the key exists",
        explanation: "servicing packages wait for the next boot",
        source: "Salt; Azure repair script; LegacyUpdate",
    },
    Rule {
        id: RuleId::CbsSessionsPendingIncomplete,
        number: 20,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\SessionsPending"],
        value: None,
        check: Check::ServicingSessionsIncomplete,
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "a session subkey without Complete=1, or Exclusive ≠ 0 (the key itself is normal)",
        explanation: "a servicing session did not complete",
        source: "Azure win-fix-pending-servicing.ps1",
    },
    Rule {
        id: RuleId::CbsExecuteState,
        number: 21,
        hive: HiveKind::Software,
        keys: &[CBS],
        value: Some("ExecuteState"),
        check: Check::ValueNotEquals(0xFFFF_FFFF),
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "≠ 0xFFFFFFFF (idle)",
        explanation: "TrustedInstaller has work queued or running",
        source: "LegacyUpdate",
    },
    Rule {
        id: RuleId::CbsServicingInProgress,
        number: 22,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Interface"],
        value: Some("ServicingInProgress"),
        check: Check::ValueIn(&[1, 2]),
        strength: Strength::Weak,
        volatility: Volatility::Unknown,
        pending_when: "1 = an update waits for a reboot; 2 = CBS is busy",
        explanation: "undocumented CBS interface state observed by the ansible.windows author",
        source: "ansible.windows win_updates",
    },
    Rule {
        id: RuleId::ComponentsPendingTransaction,
        number: 23,
        hive: HiveKind::Components,
        keys: &[""],
        value: Some("PendingXmlIdentifier"),
        check: Check::ComponentsTransaction,
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "PendingXmlIdentifier, NextQueueEntryIndex, NextQueueEntryIndexBCDB, AdvancedInstallersNeedResolving, ExecutionState or StoreDirty present and non-zero",
        explanation: "an unfinished servicing transaction must complete at the next boot",
        source: "Microsoft Stop 7B article; Microsoft psSDP scripts; Azure repair script",
    },
    Rule {
        id: RuleId::UpdateExeVolatile,
        number: 24,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Updates\\UpdateExeVolatile", "Wow6432Node\\Microsoft\\Updates\\UpdateExeVolatile"],
        value: Some("Flags"),
        check: Check::ValueIn(&[1, 2, 3]),
        strength: Strength::Medium,
        volatility: Volatility::Unknown,
        pending_when: "Flags = 1 (removal), 2 (installation) or 3 (both) awaiting a restart",
        explanation: "Update.exe (KB 832475 era) restart flag; often stale on Vista and later, where it is rated weak",
        source: "Exchange Server Analyzer Cc164360 (Microsoft); CSS-Exchange",
    },
    Rule {
        id: RuleId::UpdateExeVolatileValueForm,
        number: 25,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Updates", "Wow6432Node\\Microsoft\\Updates"],
        value: Some("UpdateExeVolatile"),
        check: Check::ValueNonZero,
        strength: Strength::Weak,
        volatility: Volatility::Persistent,
        pending_when: "≠ 0",
        explanation: "value form read by Salt, Puppet and Chocolatey; probably a misreading of the key form",
        source: "Salt; Puppet; Chocolatey",
    },
    Rule {
        id: RuleId::ServermanagerCurrentRebootAttempts,
        number: 26,
        hive: HiveKind::Software,
        keys: &["Microsoft\\ServerManager"],
        value: Some("CurrentRebootAttempts"),
        check: Check::ValueNonZero,
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "> 0",
        explanation: "Server Manager is rebooting to finish a role or feature change",
        source: "ConfigMgr prerequisite check (Microsoft); Salt",
    },
    Rule {
        id: RuleId::ServermanagerRestartRequired,
        number: 27,
        hive: HiveKind::Software,
        keys: &["Microsoft\\ServerManager\\ServicingStorage\\ServerComponentCache"],
        value: Some("RestartRequired"),
        check: Check::ValueNonZero,
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "truthy",
        explanation: "a server role or feature change needs a restart",
        source: "ansible.windows setup (PR #78)",
    },
    Rule {
        id: RuleId::RunonceDvdRebootSignal,
        number: 28,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\RunOnce"],
        value: Some("DVDRebootSignal"),
        check: Check::ValueExists,
        strength: Strength::Weak,
        volatility: Volatility::Persistent,
        pending_when: "the value exists",
        explanation: "undocumented RunOnce reboot signal",
        source: "Salt; A. Bertram",
    },
    Rule {
        id: RuleId::SccmRebootData,
        number: 29,
        hive: HiveKind::Software,
        keys: &["Microsoft\\SMS\\Mobile Client\\Reboot Management\\RebootData"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "the key exists (RebootBy, HardReboot, …)",
        explanation: "the ConfigMgr client scheduled a restart",
        source: "ConfigMgr client reboot internals (Umair Khan, Microsoft)",
    },
    Rule {
        id: RuleId::IntuneImeRebootFlag,
        number: 30,
        hive: HiveKind::Software,
        keys: &["Microsoft\\IntuneManagementExtension\\RebootSettings\\RebootFlag"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Weak,
        volatility: Volatility::Unknown,
        pending_when: "the key exists",
        explanation: "the Intune Management Extension wants a restart",
        source: "PSAppDeployToolkit Get-ADTPendingReboot",
    },
    Rule {
        id: RuleId::AppvPendingTasks,
        number: 31,
        hive: HiveKind::Software,
        keys: &["Microsoft\\AppV\\Client\\PendingTasks"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Weak,
        volatility: Volatility::Unknown,
        pending_when: "the key exists",
        explanation: "App-V client tasks wait for a restart",
        source: "PSAppDeployToolkit (with corrected path)",
    },
    Rule {
        id: RuleId::MsiInProgress,
        number: 32,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\Installer\\InProgress"],
        value: None,
        check: Check::KeyExists,
        strength: Strength::Context,
        volatility: Volatility::Persistent,
        pending_when: "the key exists",
        explanation: "a Windows Installer transaction is running or was interrupted; not a reboot flag",
        source: "community scripts",
    },
    Rule {
        id: RuleId::WixBurnRebootRequired,
        number: 33,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\Uninstall"],
        value: None,
        check: Check::BurnRebootKeys,
        strength: Strength::Medium,
        volatility: Volatility::Volatile,
        pending_when: "a {BundleId}.RebootRequired subkey exists",
        explanation: "a WiX Burn bundle needs a restart; volatile key, memory hives only",
        source: "wixtoolset/wix3 registration.cpp; wixtoolset/issues #6668",
    },
    // Not in the indicator catalogue: the per-patch view of the servicing store (patch-level
    // reference, section 3.3), reported as evidence of its own with the update's KB.
    Rule {
        id: RuleId::CbsCumulativeUpdateInstallPending,
        number: 34,
        hive: HiveKind::Software,
        keys: &["Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages"],
        value: None,
        check: Check::CumulativeUpdatePending,
        strength: Strength::Strong,
        volatility: Volatility::Persistent,
        pending_when: "a Package_for_RollupFix is in CurrentState 0x60 (Install Pending)",
        explanation: "a cumulative update is installed and completes at the next reboot",
        source: "CBS servicing states chart (Microsoft TechNet); Azure stuck-updating troubleshooting doc",
    },
    // Not in the indicator catalogue (it has no entry for Windows Setup): the next boot runs
    // Windows Setup instead of a normal start. `Setup` sits at the SYSTEM root, outside every
    // control set.
    Rule {
        id: RuleId::WindowsSetupPending,
        number: 35,
        hive: HiveKind::System,
        keys: &["Setup"],
        value: Some("SystemSetupInProgress"),
        check: Check::WindowsSetup,
        strength: Strength::Medium,
        volatility: Volatility::Persistent,
        pending_when: "with SetupType ≠ 0 or SystemSetupInProgress = 1, CmdLine runs oobe\\windeploy.exe (generalized image: specialize, then OOBE) or names $WINDOWS.~BT (upgrade), Upgrade/UpgradeInProgress ≠ 0, OOBEInProgress = 1, SetupType ≠ 0 with a CmdLine, or SystemSetupInProgress = 1",
        explanation: "Windows Setup has not finished: the next boot runs it (specialize/OOBE through windeploy.exe, OOBE, a setup upgrade, or the CmdLine command) instead of a normal start",
        source: "Microsoft KB 939857 (SYSTEM\\Setup CmdLine is the process Setup runs, SetupType tells Winlogon the system is in Setup mode); Microsoft Learn: Windows Setup states (SOFTWARE Setup\\State ImageState, IMAGE_STATE_GENERALIZE_RESEAL_TO_OOBE/AUDIT), Sysprep process overview, How configuration passes work (specialize, oobeSystem); SYSTEM\\Setup values observed in a real generalized Windows 11 SYSTEM (SystemSetupInProgress=1, OOBEInProgress=1, SetupType=2, CmdLine oobe\\windeploy.exe, SetupExecute setupcl.exe); not in the indicator catalogue",
    },
];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| r.id.as_str() == id)
}

/// A rule id that names no rule of the table, with the ids that look like it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{id}: no such rule{}; `rebootscan rules` lists every id", close_ids_hint(.close))]
pub struct UnknownRule {
    pub id: String,
    /// Ids of the table close to `id` (typos, a missing or extra word), closest first.
    pub close: Vec<&'static str>,
}

fn close_ids_hint(close: &[&str]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!(" (close: {})", close.join(", "))
    }
}

/// Checks ids given by a user (`--skip-rule`): each must name a rule, case-insensitively.
pub fn validate_ids(ids: &[String]) -> Result<(), UnknownRule> {
    for id in ids {
        if RuleId::from_id(id).is_none() {
            return Err(UnknownRule { id: id.clone(), close: close_ids(id) });
        }
    }
    Ok(())
}

/// Up to five ids within a small edit distance of `id`, or containing it (or contained in it).
fn close_ids(id: &str) -> Vec<&'static str> {
    const SHOWN: usize = 5;
    let wanted = id.to_ascii_lowercase();
    let allowed = (wanted.chars().count() / 4).max(2);
    let mut scored: Vec<(usize, &'static str)> = RULES
        .iter()
        .filter_map(|rule| {
            let id = rule.id.as_str();
            let distance = edit_distance(&wanted, id);
            let contains = wanted.len() >= 3 && (id.contains(&wanted) || wanted.contains(id));
            (distance <= allowed || contains).then_some((distance, id))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(SHOWN).map(|(_, id)| id).collect()
}

/// Levenshtein distance over characters (ids are a few dozen characters: no need for more).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_numbered_in_order() {
        for (index, rule) in RULES.iter().enumerate() {
            assert_eq!(rule.number as usize, index + 1, "{}", rule.id);
            assert_eq!(RULES.iter().filter(|r| r.id == rule.id).count(), 1, "{}", rule.id);
            assert_eq!(RuleId::ALL[index], rule.id, "RuleId order follows the table");
            assert_eq!(rule.id.rule().number, rule.number);
            assert_eq!(RuleId::from_id(&rule.id.as_str().to_ascii_uppercase()), Some(rule.id));
        }
        // The 33 indicators of the catalogue, plus the cumulative-update and setup rows.
        assert_eq!(RULES.len(), 35);
        assert_eq!(RuleId::ALL.len(), RULES.len());
        assert_eq!(serde_json::to_string(&RuleId::MsiInProgress).unwrap(), "\"msi_in_progress\"");
    }

    #[test]
    fn unknown_ids_are_refused_with_close_ids() {
        assert_eq!(validate_ids(&["CBS_Reboot_Pending".into(), "msi_in_progress".into()]), Ok(()));
        let error = validate_ids(&["cbs_reboot_pendng".into()]).unwrap_err();
        assert_eq!(error.id, "cbs_reboot_pendng");
        assert_eq!(error.close.first(), Some(&"cbs_reboot_pending"));
        assert_eq!(
            error.to_string(),
            format!(
                "cbs_reboot_pendng: no such rule (close: {}); `rebootscan rules` lists every id",
                error.close.join(", ")
            )
        );
        let renames = validate_ids(&["file_rename".into()]).unwrap_err();
        assert!(renames.close.contains(&"session_manager_file_rename_operations"), "{:?}", renames.close);
        let nothing = validate_ids(&["zzzzzzzzzzzz".into()]).unwrap_err();
        assert!(nothing.close.is_empty());
        assert_eq!(nothing.to_string(), "zzzzzzzzzzzz: no such rule; `rebootscan rules` lists every id");
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", "abc"), 0);
    }

    #[test]
    fn control_set_placeholder_only_in_system_rules() {
        for rule in RULES {
            let uses_cs = rule.keys.iter().any(|k| k.contains("<CS>"));
            // SYSTEM\Setup is at the hive root, outside every control set.
            let system_rule_with_control_set = rule.hive == HiveKind::System && rule.id != RuleId::WindowsSetupPending;
            assert_eq!(uses_cs, system_rule_with_control_set, "{}", rule.id);
        }
    }
}
