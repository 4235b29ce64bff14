//! Rules: from a machine's hives to evidence. Knows registry paths and what they mean for a
//! reboot; knows nothing about bytes on disk (that is `load`).

pub mod catalogue;
pub mod cbs;
pub mod context;
pub mod data;
pub mod evaluate;
pub mod pfro;
pub mod setup;

/// The machine context the rules read and the patch level uses lives outside `rules`.
pub use crate::context::folders;

use serde::Serialize;

use crate::load::filetime::FileTime;
use crate::load::kind::HiveKind;

pub use catalogue::{validate_ids, Check, Rule, RuleId, Strength, UnknownRule, Volatility, RULES};
pub use data::FindingData;
pub use evaluate::{evaluate, Evidence, HiveSlot, MachineHives, RuleOptions};

/// One piece of evidence: a rule that fired, where, and what the registry holds.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: RuleId,
    pub strength: Strength,
    pub hive: HiveKind,
    /// Path of the hive file the finding came from.
    pub hive_path: String,
    /// Hive-relative key path, spelled as stored.
    pub key: String,
    pub value: Option<String>,
    pub last_write: Option<FileTime>,
    /// One line for people.
    pub summary: String,
    /// Rule-specific details, one shape per kind of check (for PendingFileRenameOperations:
    /// `operations`, `malformed`, `counts`).
    pub data: FindingData,
    /// Caveats: a volatile key seen in a file, survived the last shutdown, …
    pub notes: Vec<String>,
}

/// Why a rule could not be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotEvaluatedReason {
    /// The indicator lives in a volatile key: a hive saved from disk cannot show it.
    Volatile,
    /// The hive the rule needs was not among the evidence.
    HiveMissing,
    /// The hive was given but could not be read.
    HiveUnreadable,
    /// A corrupt cell stopped the lookup.
    ReadError,
    /// The SYSTEM hive has no usable control set.
    NoControlSet,
    /// The values to compare are not in the hive.
    Undeterminable,
    /// The value is there but its type or size does not fit the rule (a 2-byte REG_DWORD, text
    /// where a number is compared): neither proof nor absence. Also listed in `errors`.
    WrongType,
    /// Switched off with `--skip-rule`.
    Skipped,
}

impl NotEvaluatedReason {
    pub fn label(self) -> &'static str {
        match self {
            NotEvaluatedReason::Volatile => "volatile",
            NotEvaluatedReason::HiveMissing => "hive_missing",
            NotEvaluatedReason::HiveUnreadable => "hive_unreadable",
            NotEvaluatedReason::ReadError => "read_error",
            NotEvaluatedReason::NoControlSet => "no_control_set",
            NotEvaluatedReason::Undeterminable => "undeterminable",
            NotEvaluatedReason::WrongType => "wrong_type",
            NotEvaluatedReason::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NotEvaluated {
    pub rule: RuleId,
    pub reason: NotEvaluatedReason,
    pub detail: String,
}
