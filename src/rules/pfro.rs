//! Classification of pending file operations. PendingFileRenameOperations is the noisiest
//! pending-reboot signal (antivirus, browsers and installers queue temp clean-ups at every
//! start), so each operation is classed by what it touches and the finding is rated by the
//! most important class.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::load::pending_renames::{FileOperation, OperationKind, PendingRenames};
use crate::rules::catalogue::Strength;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationClass {
    /// Replaces or deletes a file of Windows itself (System32, SysWOW64, WinSxS, drivers, …).
    WindowsSystem,
    /// Replaces or deletes a file under Program Files.
    ProgramFiles,
    /// Cleans up temporary or installer leftovers (Temp folders, `*.tmp`, `Config.Msi\*.rbf`,
    /// DriverStore\Temp, antivirus definition folders).
    TempCleanup,
    Other,
}

impl OperationClass {
    pub fn label(self) -> &'static str {
        match self {
            OperationClass::WindowsSystem => "windows_system",
            OperationClass::ProgramFiles => "program_files",
            OperationClass::TempCleanup => "temp_cleanup",
            OperationClass::Other => "other",
        }
    }
}

/// Path fragments of housekeeping locations, lower case, with backslashes.
const TEMP_FRAGMENTS: &[&str] = &[
    "\\temp\\",
    "\\tmp\\",
    "\\config.msi\\",
    "\\driverstore\\temp\\",
    "\\softwaredistribution\\download\\",
    "\\definition updates\\",
    "\\windows defender\\scans\\",
    "\\installer\\$patchcache$\\",
];

const TEMP_EXTENSIONS: &[&str] = &[".tmp", ".rbf", ".rbs", ".old", ".bak", ".temp"];

/// Directory fragments of Windows system files, lower case. Matched after the drive.
const SYSTEM_FRAGMENTS: &[&str] = &["\\windows\\"];

const PROGRAM_FRAGMENTS: &[&str] = &["\\program files\\", "\\program files (x86)\\", "\\program files (arm)\\"];

fn normalised(path: &str) -> String {
    let mut lower = path.to_lowercase().replace('/', "\\");
    if !lower.ends_with('\\') {
        lower.push('\\');
    }
    // A leading separator makes "C:\Windows\…" and "\Device\…\Windows\…" match alike.
    if !lower.starts_with('\\') {
        lower.insert(0, '\\');
    }
    lower
}

fn is_temp(path: &str) -> bool {
    let lower = normalised(path);
    let file = lower.trim_end_matches('\\');
    TEMP_FRAGMENTS.iter().any(|f| lower.contains(f)) || TEMP_EXTENSIONS.iter().any(|e| file.ends_with(e))
}

fn path_class(path: &str) -> OperationClass {
    let lower = normalised(path);
    if SYSTEM_FRAGMENTS.iter().any(|f| lower.contains(f)) {
        OperationClass::WindowsSystem
    } else if PROGRAM_FRAGMENTS.iter().any(|f| lower.contains(f)) {
        OperationClass::ProgramFiles
    } else {
        OperationClass::Other
    }
}

/// The class of one operation: what ends up changed at boot.
pub fn classify(operation: &FileOperation) -> OperationClass {
    match operation.op {
        // A delete of a temp file is housekeeping wherever it lives (SET*.tmp in drivers\).
        OperationKind::Delete if is_temp(&operation.source_path) => OperationClass::TempCleanup,
        OperationKind::Delete => path_class(&operation.source_path),
        OperationKind::Rename => {
            let target = operation.target_path.as_deref().unwrap_or_default();
            match path_class(target) {
                OperationClass::Other if is_temp(target) => OperationClass::TempCleanup,
                class => class,
            }
        }
    }
}

/// One operation with its class, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifiedOperation {
    #[serde(flatten)]
    pub operation: FileOperation,
    pub class: OperationClass,
}

/// The decoded value with classes, counts and the resulting strength.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifiedRenames {
    pub operations: Vec<ClassifiedOperation>,
    pub malformed: Vec<String>,
    pub counts: BTreeMap<&'static str, usize>,
    pub deletes: usize,
    pub renames: usize,
    pub replace_existing: usize,
}

impl ClassifiedRenames {
    pub fn new(decoded: PendingRenames) -> ClassifiedRenames {
        let deletes = decoded.deletes();
        let renames = decoded.renames();
        let replace_existing = decoded.replace_existing();
        let mut counts: BTreeMap<&'static str, usize> = [
            OperationClass::WindowsSystem,
            OperationClass::ProgramFiles,
            OperationClass::TempCleanup,
            OperationClass::Other,
        ]
        .iter()
        .map(|c| (c.label(), 0))
        .collect();
        let operations: Vec<ClassifiedOperation> = decoded
            .operations
            .into_iter()
            .map(|operation| {
                let class = classify(&operation);
                *counts.entry(class.label()).or_default() += 1;
                ClassifiedOperation { operation, class }
            })
            .collect();
        ClassifiedRenames { operations, malformed: decoded.malformed, counts, deletes, renames, replace_existing }
    }

    pub fn count(&self, class: OperationClass) -> usize {
        self.counts.get(class.label()).copied().unwrap_or(0)
    }

    /// Strong when system or program files change, weak when only temp files are cleaned up,
    /// medium for anything else; `None` when there is no operation at all.
    pub fn strength(&self) -> Option<Strength> {
        if self.operations.is_empty() {
            return None;
        }
        let touches_installed =
            self.count(OperationClass::WindowsSystem) + self.count(OperationClass::ProgramFiles) > 0;
        Some(if touches_installed {
            Strength::Strong
        } else if self.count(OperationClass::Other) > 0 {
            Strength::Medium
        } else {
            Strength::Weak
        })
    }

    pub fn summary(&self) -> String {
        let mut parts = vec![format!(
            "{} operation(s): {} delete(s), {} rename(s), {} replacing existing files",
            self.operations.len(),
            self.deletes,
            self.renames,
            self.replace_existing
        )];
        let classes: Vec<String> =
            self.counts.iter().filter(|(_, &n)| n > 0).map(|(class, n)| format!("{class} {n}")).collect();
        if !classes.is_empty() {
            parts.push(format!("by class: {}", classes.join(", ")));
        }
        if !self.malformed.is_empty() {
            parts.push(format!("{} encoding problem(s)", self.malformed.len()));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::multi_sz::utf16;
    use crate::load::pending_renames::decode;

    fn classes(text: &str) -> Vec<OperationClass> {
        decode(&utf16(text)).operations.iter().map(classify).collect()
    }

    #[test]
    fn driver_temp_deletes_are_cleanup_but_driver_replacements_are_system() {
        assert_eq!(
            classes("\\??\\C:\\WINDOWS\\System32\\drivers\\SETEAC4.tmp\0\0\\??\\C:\\WINDOWS\\system32\\DRIVERS\\SET1A01.tmp\0!\\??\\C:\\WINDOWS\\system32\\DRIVERS\\vmhgfs.sys\0\0"),
            vec![OperationClass::TempCleanup, OperationClass::WindowsSystem]
        );
    }

    #[test]
    fn program_files_and_user_temp() {
        assert_eq!(
            classes("\\??\\C:\\Program Files\\7-Zip\\7-zip.dll.tmp\0!\\??\\C:\\Program Files\\7-Zip\\7-zip.dll\0\\??\\C:\\Users\\a\\AppData\\Local\\Temp\\nsp9C0.tmp\\nsProcess.dll\0\0\\??\\C:\\Config.Msi\\3c1f.rbf\0\0\\??\\D:\\data\\x.db\0\0"),
            vec![OperationClass::ProgramFiles, OperationClass::TempCleanup, OperationClass::TempCleanup, OperationClass::Other]
        );
    }

    #[test]
    fn strength_follows_the_most_important_class() {
        let temp_only = ClassifiedRenames::new(decode(&utf16("\\??\\C:\\Windows\\Temp\\a.tmp\0\0")));
        assert_eq!(temp_only.strength(), Some(Strength::Weak));
        let other = ClassifiedRenames::new(decode(&utf16("\\??\\D:\\x\0\0\\??\\C:\\Windows\\Temp\\a\0\0")));
        assert_eq!(other.strength(), Some(Strength::Medium));
        let system = ClassifiedRenames::new(decode(&utf16(
            "\\??\\C:\\Windows\\System32\\new.dll\0!\\??\\C:\\Windows\\System32\\x.dll\0\0",
        )));
        assert_eq!(system.strength(), Some(Strength::Strong));
        assert_eq!(system.count(OperationClass::WindowsSystem), 1);
        let empty = ClassifiedRenames::new(decode(&utf16("\0")));
        assert_eq!(empty.strength(), None);
    }
}
