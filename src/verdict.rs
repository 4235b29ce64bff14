//! From findings to one word per machine.

use serde::Serialize;

use crate::load::kind::HiveKind;
use crate::rules::catalogue::Strength;
use crate::rules::{Evidence, HiveSlot, MachineHives, NotEvaluatedReason, RULES};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// At least one strong or medium finding.
    Pending,
    /// No such finding, and both SYSTEM and SOFTWARE were evaluated.
    NotPending,
    /// No such finding, but a hive a strong rule needs is missing or unreadable, or a hive is
    /// a differencing ("delta") hive.
    Unknown,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pending => "pending",
            Verdict::NotPending => "not_pending",
            Verdict::Unknown => "unknown",
        }
    }
}

fn evaluated(slot: HiveSlot<'_>) -> bool {
    matches!(slot, HiveSlot::Loaded(_))
}

/// The verdict and why.
pub fn decide(hives: &MachineHives<'_>, evidence: &Evidence) -> (Verdict, Option<String>) {
    let mut deciding: Vec<String> = Vec::new();
    for finding in evidence.findings.iter().filter(|f| f.strength.decides()) {
        let named = format!("{} ({})", finding.rule, finding.strength.label());
        if !deciding.contains(&named) {
            deciding.push(named);
        }
    }
    if !deciding.is_empty() {
        return (Verdict::Pending, Some(format!("pending because of {}", deciding.join(", "))));
    }
    let mut missing: Vec<String> = Vec::new();
    for kind in [HiveKind::System, HiveKind::Software] {
        let needed_by_strong_rule = RULES.iter().any(|r| r.hive == kind && r.strength == Strength::Strong);
        if needed_by_strong_rule && !evaluated(hives.slot(kind)) {
            missing.push(kind.label().to_string());
        }
    }
    let no_control_set = evidence.not_evaluated.iter().any(|n| n.reason == NotEvaluatedReason::NoControlSet);
    if no_control_set {
        missing.push("a usable SYSTEM control set".to_string());
    }
    // A rule that could make the machine pending but met a damaged cell or a mistyped value
    // proves nothing either way: its indicator may be the one the damage hides.
    let damaged: Vec<String> = evidence
        .not_evaluated
        .iter()
        .filter(|n| matches!(n.reason, NotEvaluatedReason::ReadError | NotEvaluatedReason::WrongType))
        .filter(|n| n.rule.rule().strength.decides())
        .map(|n| format!("{} ({})", n.rule, n.reason.label()))
        .collect();
    if !damaged.is_empty() {
        missing.push(format!("rule {}", damaged.join(", ")));
    }
    let mut reasons = Vec::new();
    if !missing.is_empty() {
        reasons.push(format!("{} could not be evaluated", missing.join(" and ")));
    }
    // A differencing hive holds only what a container layer changed: a key it lacks may well
    // be in the base layer, so its silence is never a "no".
    for kind in [HiveKind::System, HiveKind::Software, HiveKind::Components] {
        if let HiveSlot::Loaded(file) = hives.slot(kind) {
            if file.base_block.is_differencing() {
                reasons.push(format!(
                    "{} {} is a format 1.6 differencing (\"delta\") hive, whose absent keys prove nothing",
                    kind.label(),
                    file.path.display()
                ));
            }
        }
    }
    if reasons.is_empty() {
        (Verdict::NotPending, Some("no strong or medium finding, and SYSTEM and SOFTWARE were evaluated".into()))
    } else {
        (Verdict::Unknown, Some(format!("no strong or medium finding, but {}", reasons.join("; and "))))
    }
}
