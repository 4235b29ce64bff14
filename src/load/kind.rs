//! What a hive is, judged from its content (never from its file name alone: collections
//! rename files, and a file called SYSTEM may hold a user's NTUSER.DAT).

use serde::Serialize;

use crate::load::base_block::BaseBlock;
use crate::load::reader::{HiveReader, Key, ReadError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HiveKind {
    System,
    Software,
    Components,
    /// NTUSER.DAT (or DEFAULT): a user profile hive.
    Ntuser,
    /// UsrClass.dat: a user's classes hive.
    Usrclass,
    Sam,
    Security,
    Bcd,
    Other,
}

impl HiveKind {
    pub fn label(self) -> &'static str {
        match self {
            HiveKind::System => "SYSTEM",
            HiveKind::Software => "SOFTWARE",
            HiveKind::Components => "COMPONENTS",
            HiveKind::Ntuser => "NTUSER",
            HiveKind::Usrclass => "USRCLASS",
            HiveKind::Sam => "SAM",
            HiveKind::Security => "SECURITY",
            HiveKind::Bcd => "BCD",
            HiveKind::Other => "OTHER",
        }
    }

    /// The kind a file name suggests (`SYSTEM`, `software.hiv`, `NTUSER.DAT`…), used only as a
    /// hint and to warn when content and name disagree.
    pub fn from_file_name(name: &str) -> Option<HiveKind> {
        let lower = name.to_ascii_lowercase();
        let stem = lower.split('.').next().unwrap_or("");
        Some(match stem {
            "system" => HiveKind::System,
            "software" => HiveKind::Software,
            "components" => HiveKind::Components,
            "ntuser" | "default" => HiveKind::Ntuser,
            "usrclass" => HiveKind::Usrclass,
            "sam" => HiveKind::Sam,
            "security" => HiveKind::Security,
            "bcd" => HiveKind::Bcd,
            _ => return None,
        })
    }
}

/// The detected kind and the content that proved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindDetection {
    pub kind: HiveKind,
    pub evidence: String,
}

fn has_subkey(key: &Key<'_>, name: &str) -> Result<bool, ReadError> {
    Ok(key.subkey(name)?.is_some())
}

fn has_path(key: &Key<'_>, path: &str) -> Result<bool, ReadError> {
    Ok(key.subpath(path)?.is_some())
}

/// `ControlSetNNN` (exactly three digits), the way SYSTEM hives name their control sets.
pub fn control_set_number(name: &str) -> Option<u32> {
    let digits = name.get(..10).filter(|p| p.eq_ignore_ascii_case("ControlSet")).and(name.get(10..))?;
    (digits.len() == 3 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

pub fn detect(reader: &HiveReader<'_>, base_block: &BaseBlock) -> Result<KindDetection, ReadError> {
    let root = reader.root()?;
    let found = |kind, evidence: &str| Ok(KindDetection { kind, evidence: evidence.to_string() });

    if has_subkey(&root, "Select")? {
        let sets: Vec<String> = root.subkey_names()?.into_iter().filter(|n| control_set_number(n).is_some()).collect();
        if !sets.is_empty() {
            return found(HiveKind::System, &format!("Select and {}", sets.join(", ")));
        }
    }
    for path in ["Microsoft\\Windows NT\\CurrentVersion", "Microsoft\\Windows\\CurrentVersion"] {
        if has_path(&root, path)? {
            return found(HiveKind::Software, path);
        }
    }
    if has_subkey(&root, "CanonicalData")? || has_subkey(&root, "DerivedData")? {
        return found(HiveKind::Components, "CanonicalData / DerivedData");
    }
    if has_path(&root, "SAM\\Domains")? {
        return found(HiveKind::Sam, "SAM\\Domains");
    }
    if has_subkey(&root, "Policy")? && has_path(&root, "Policy\\PolAdtEv")? {
        return found(HiveKind::Security, "Policy\\PolAdtEv");
    }
    if has_subkey(&root, "Objects")? && has_subkey(&root, "Description")? {
        return found(HiveKind::Bcd, "Objects and Description");
    }
    if has_subkey(&root, "Software")? && (has_subkey(&root, "Control Panel")? || has_subkey(&root, "Environment")?) {
        return found(HiveKind::Ntuser, "Software with Control Panel / Environment");
    }
    if has_subkey(&root, "Local Settings")? || (has_subkey(&root, "CLSID")? && !has_subkey(&root, "Software")?) {
        return found(HiveKind::Usrclass, "Local Settings / CLSID");
    }
    // A differencing hive holds only the keys its layer changed: trust the name Windows
    // embedded in it, and say so.
    if base_block.is_differencing() {
        let embedded = base_block.embedded_file_name.rsplit('\\').next().unwrap_or("");
        if let Some(kind) = HiveKind::from_file_name(embedded) {
            return found(
                kind,
                &format!("embedded file name {:?} of a differencing hive", base_block.embedded_file_name),
            );
        }
    }
    found(HiveKind::Other, "no known top-level keys")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_set_names() {
        assert_eq!(control_set_number("ControlSet001"), Some(1));
        assert_eq!(control_set_number("controlset010"), Some(10));
        assert_eq!(control_set_number("ControlSet1"), None);
        assert_eq!(control_set_number("ControlSet0001"), None);
        assert_eq!(control_set_number("CurrentControlSet"), None);
    }

    #[test]
    fn file_name_hints() {
        assert_eq!(HiveKind::from_file_name("software.hiv"), Some(HiveKind::Software));
        assert_eq!(HiveKind::from_file_name("NTUSER.DAT"), Some(HiveKind::Ntuser));
        assert_eq!(HiveKind::from_file_name("notes.txt"), None);
    }
}
