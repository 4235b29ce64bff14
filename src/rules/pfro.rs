//! Classification of pending file operations. PendingFileRenameOperations is the noisiest
//! pending-reboot signal (antivirus, browsers and installers queue temp clean-ups at every
//! start), so each operation is classed by what it touches and the finding is rated by the
//! most important class.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::context::folders::{self, MachineFolders, ParsedPath};
use crate::load::pending_renames::{FileOperation, OperationKind, PendingRenames};
use crate::rules::catalogue::Strength;
use crate::rules::data::{PendingOperation, PendingRenamesData};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationClass {
    /// Replaces or deletes a file under the machine's system root (`SystemRoot`).
    WindowsSystem,
    /// Replaces or deletes a file under one of the machine's Program Files folders.
    ProgramFiles,
    /// Replaces or deletes a file in a user (or service) profile, outside its caches and temp.
    UserProfile,
    /// Cleans up temporary files, caches and installer or AppX leftovers.
    TempCleanup,
    Other,
}

impl OperationClass {
    pub const ALL: [OperationClass; 5] = [
        OperationClass::WindowsSystem,
        OperationClass::ProgramFiles,
        OperationClass::UserProfile,
        OperationClass::TempCleanup,
        OperationClass::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            OperationClass::WindowsSystem => "windows_system",
            OperationClass::ProgramFiles => "program_files",
            OperationClass::UserProfile => "user_profile",
            OperationClass::TempCleanup => "temp_cleanup",
            OperationClass::Other => "other",
        }
    }

    /// The strength a PendingFileRenameOperations finding gets from an operation of this
    /// class (the finding takes the strongest), from [`CLASS_STRENGTHS`].
    pub fn strength(self) -> Strength {
        CLASS_STRENGTHS.iter().find(|c| c.class == self).map_or(Strength::Medium, |c| c.strength)
    }
}

/// What one class proves.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClassStrength {
    pub class: OperationClass,
    pub strength: Strength,
    pub meaning: &'static str,
}

/// The strength each class yields: one row per class.
pub static CLASS_STRENGTHS: &[ClassStrength] = &[
    ClassStrength {
        class: OperationClass::WindowsSystem,
        strength: Strength::Strong,
        meaning: "a file of Windows itself changes at the next boot (servicing, drivers)",
    },
    ClassStrength {
        class: OperationClass::ProgramFiles,
        strength: Strength::Strong,
        meaning: "an installed program's file changes at the next boot (an install or update completes)",
    },
    ClassStrength {
        class: OperationClass::UserProfile,
        strength: Strength::Medium,
        meaning: "a file in a profile changes (per-user programs such as OneDrive or Teams update there)",
    },
    ClassStrength {
        class: OperationClass::TempCleanup,
        strength: Strength::Weak,
        meaning: "housekeeping that needs no reboot to be correct; never pending on its own",
    },
    ClassStrength {
        class: OperationClass::Other,
        strength: Strength::Medium,
        meaning: "a file outside the machine's known folders changes; its importance is not known",
    },
];

/// The machine folder a class row is anchored at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Any profile: each ProfileList `ProfileImagePath`, and any folder directly below
    /// `ProfilesDirectory`.
    Profile,
    /// SOFTWARE `Microsoft\Windows NT\CurrentVersion\SystemRoot`.
    SystemRoot,
    /// Each of `ProgramFilesDir`, `ProgramFilesDir (x86)`, `ProgramW6432Dir`, `ProgramFilesDir (Arm)`.
    ProgramFiles,
    /// ProfileList `ProgramData`.
    ProgramData,
    /// The root of any drive.
    DriveRoot,
}

impl Anchor {
    pub fn label(self) -> &'static str {
        match self {
            Anchor::Profile => "<profile>",
            Anchor::SystemRoot => "<SystemRoot>",
            Anchor::ProgramFiles => "<ProgramFiles>",
            Anchor::ProgramData => "<ProgramData>",
            Anchor::DriveRoot => "<drive>:",
        }
    }
}

/// Which operations a class row applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applies {
    /// Deletes (by their source) and renames (by their target).
    Any,
    /// Deletes only: a rename into the folder is an install, not a clean-up.
    DeleteOnly,
}

/// One row of the path-class table: everything at or below `anchor\under` is `class`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PathClass {
    pub anchor: Anchor,
    /// Components below the anchor; `*` stands for any one folder name.
    pub under: &'static str,
    pub applies: Applies,
    pub class: OperationClass,
    pub why: &'static str,
}

const fn row(anchor: Anchor, under: &'static str, class: OperationClass, why: &'static str) -> PathClass {
    PathClass { anchor, under, applies: Applies::Any, class, why }
}

use OperationClass::{ProgramFiles as PF, TempCleanup as CLEAN, UserProfile as PROFILE, WindowsSystem as SYS};

/// The path classes, most specific first: the first row whose folder is a prefix of the path
/// (component by component) decides. A path under no row is `other`. Profile rows come
/// before the system root because service profiles live under it.
pub static PATH_CLASSES: &[PathClass] = &[
    row(Anchor::Profile, "AppData\\Local\\Temp", CLEAN, "the profile's temp folder"),
    row(Anchor::Profile, "Local Settings\\Temp", CLEAN, "the profile's temp folder (XP/2003)"),
    row(Anchor::Profile, "AppData\\Local\\Microsoft\\Windows\\INetCache", CLEAN, "browser cache"),
    row(Anchor::Profile, "AppData\\Local\\Microsoft\\Windows\\Temporary Internet Files", CLEAN, "browser cache"),
    row(Anchor::Profile, "Local Settings\\Temporary Internet Files", CLEAN, "browser cache (XP/2003)"),
    row(Anchor::Profile, "AppData\\Local\\Microsoft\\Windows\\INetCookies", CLEAN, "browser cookies"),
    row(Anchor::Profile, "AppData\\Local\\Packages\\*\\AC\\INetCache", CLEAN, "an app's browser cache"),
    row(Anchor::Profile, "AppData\\Local\\Packages\\*\\AC\\Temp", CLEAN, "an app's temp folder"),
    row(Anchor::Profile, "AppData\\Local\\Packages\\*\\TempState", CLEAN, "an app's temp state"),
    row(Anchor::Profile, "", PROFILE, "anything else in a profile"),
    row(Anchor::SystemRoot, "Temp", CLEAN, "Windows' temp folder"),
    row(Anchor::SystemRoot, "System32\\DriverStore\\Temp", CLEAN, "driver installation leftovers"),
    row(Anchor::SystemRoot, "SoftwareDistribution\\Download", CLEAN, "Windows Update download cache"),
    row(Anchor::SystemRoot, "Installer\\$PatchCache$", CLEAN, "Windows Installer patch cache"),
    row(Anchor::SystemRoot, "WinSxS\\Temp", CLEAN, "servicing leftovers (PendingDeletes)"),
    row(Anchor::SystemRoot, "", SYS, "anything else under the system root"),
    row(Anchor::ProgramFiles, "WindowsApps", CLEAN, "AppX package housekeeping (packages never update through SMSS)"),
    row(Anchor::ProgramFiles, "Google\\Chrome\\Temp", CLEAN, "Chrome's updater scratch folder"),
    PathClass {
        anchor: Anchor::ProgramFiles,
        under: "Google\\Update",
        applies: Applies::DeleteOnly,
        class: CLEAN,
        why: "old Google Update versions removed after a self-update",
    },
    row(Anchor::ProgramFiles, "", PF, "anything else under Program Files"),
    row(Anchor::ProgramData, "Microsoft\\Windows Defender\\Definition Updates", CLEAN, "old antivirus definitions"),
    row(Anchor::ProgramData, "Microsoft\\Windows Defender\\Scans", CLEAN, "antivirus scan history"),
    row(Anchor::ProgramData, "Microsoft\\Windows\\WER\\Temp", CLEAN, "error reporting temp files"),
    row(Anchor::DriveRoot, "Config.Msi", CLEAN, "Windows Installer rollback files"),
    row(Anchor::DriveRoot, "Temp", CLEAN, "a temp folder at the drive root"),
    row(Anchor::DriveRoot, "Tmp", CLEAN, "a temp folder at the drive root"),
    row(Anchor::DriveRoot, "$Windows.~BT", CLEAN, "Windows Setup (upgrade) leftovers"),
    row(Anchor::DriveRoot, "$Windows.~WS", CLEAN, "Windows Setup (upgrade) leftovers"),
    row(Anchor::DriveRoot, "Windows.old", CLEAN, "the previous Windows installation being removed"),
    row(Anchor::DriveRoot, "$Recycle.Bin", CLEAN, "the recycle bin"),
];

/// File endings of temporary and rollback files. A delete of such a file is clean-up
/// wherever it lives (`SET*.tmp` in `System32\drivers`), and so is a rename to one outside
/// the machine's folders.
pub const TEMP_EXTENSIONS: &[&str] = &[".tmp", ".rbf", ".rbs", ".old", ".bak", ".temp"];

fn has_temp_extension(path: &str) -> bool {
    let lower = path.to_lowercase();
    let file = lower.trim_end_matches(['\\', '/']);
    TEMP_EXTENSIONS.iter().any(|e| file.ends_with(e))
}

/// The class table resolved against one machine's folders.
pub struct Classifier {
    folders: MachineFolders,
    /// (row, the folders it stands for), in table order.
    rows: Vec<(&'static PathClass, Vec<ParsedPath>)>,
    /// Every folder the table names, for 8.3 alias resolution.
    known: Vec<ParsedPath>,
}

impl Classifier {
    pub fn new(folders: &MachineFolders) -> Classifier {
        let parse = |path: &str| folders::parse_path(path, &folders.system_root);
        let profiles: Vec<ParsedPath> = folders
            .profiles
            .iter()
            .filter_map(|p| parse(p))
            .chain(folders.profiles_directories.iter().filter_map(|d| parse(d)).map(|mut d| {
                d.parts.push("*".into());
                d
            }))
            .collect();
        let anchors = |anchor: Anchor| -> Vec<ParsedPath> {
            match anchor {
                Anchor::Profile => profiles.clone(),
                Anchor::SystemRoot => parse(&folders.system_root).into_iter().collect(),
                Anchor::ProgramFiles => folders.program_files.iter().filter_map(|p| parse(p)).collect(),
                Anchor::ProgramData => parse(&folders.program_data).into_iter().collect(),
                Anchor::DriveRoot => vec![ParsedPath { drive: None, parts: Vec::new() }],
            }
        };
        let mut rows = Vec::new();
        let mut known = Vec::new();
        for row in PATH_CLASSES {
            let below: Vec<String> =
                row.under.split('\\').filter(|c| !c.is_empty()).map(|c| c.to_lowercase()).collect();
            let prefixes: Vec<ParsedPath> = anchors(row.anchor)
                .into_iter()
                .map(|mut anchor| {
                    anchor.parts.extend(below.iter().cloned());
                    anchor
                })
                .collect();
            known.extend(prefixes.iter().cloned());
            rows.push((row, prefixes));
        }
        Classifier { folders: folders.clone(), rows, known }
    }

    /// The table row a path falls under, if any.
    pub fn row_for(&self, path: &str, op: OperationKind) -> Option<&'static PathClass> {
        let mut parsed = folders::parse_path(path, &self.folders.system_root)?;
        folders::resolve_short_names(&mut parsed, &self.known);
        self.rows
            .iter()
            .filter(|(row, _)| row.applies == Applies::Any || op == OperationKind::Delete)
            .find(|(_, prefixes)| prefixes.iter().any(|prefix| folders::starts_with(&parsed, prefix)))
            .map(|(row, _)| *row)
    }

    fn path_class(&self, path: &str, op: OperationKind) -> OperationClass {
        self.row_for(path, op).map_or(OperationClass::Other, |row| row.class)
    }

    /// The class of one operation: what ends up changed at boot — the source of a delete, the
    /// target of a rename.
    pub fn classify(&self, operation: &FileOperation) -> OperationClass {
        match operation.op {
            OperationKind::Delete if has_temp_extension(&operation.source) => OperationClass::TempCleanup,
            OperationKind::Delete => self.path_class(&operation.source, OperationKind::Delete),
            OperationKind::Rename => {
                let target = operation.target.as_deref().unwrap_or_default();
                match self.path_class(target, OperationKind::Rename) {
                    OperationClass::Other if has_temp_extension(target) => OperationClass::TempCleanup,
                    class => class,
                }
            }
        }
    }
}

/// The decoded value with classes, counts and the resulting strength.
#[derive(Debug, Clone, Serialize)]
pub struct ClassifiedRenames {
    pub operations: Vec<PendingOperation>,
    pub malformed: Vec<String>,
    pub counts: BTreeMap<&'static str, usize>,
    pub deletes: usize,
    pub renames: usize,
    pub replace_existing: usize,
}

impl ClassifiedRenames {
    pub fn new(decoded: PendingRenames, folders: &MachineFolders) -> ClassifiedRenames {
        let deletes = decoded.deletes();
        let renames = decoded.renames();
        let replace_existing = decoded.replace_existing();
        let mut counts: BTreeMap<&'static str, usize> = OperationClass::ALL.iter().map(|c| (c.label(), 0)).collect();
        let classifier = Classifier::new(folders);
        let operations: Vec<PendingOperation> = decoded
            .operations
            .into_iter()
            .map(|operation| {
                let class = classifier.classify(&operation);
                *counts.entry(class.label()).or_default() += 1;
                PendingOperation { operation, class, on_volume: None }
            })
            .collect();
        ClassifiedRenames { operations, malformed: decoded.malformed, counts, deletes, renames, replace_existing }
    }

    /// The finding's data: these operations and counts with the value's type and size.
    pub fn into_data(self, data_type: String, data_bytes: usize) -> PendingRenamesData {
        PendingRenamesData {
            counts: self.counts,
            data_bytes,
            deletes: self.deletes,
            malformed: self.malformed,
            operations: self.operations,
            renames: self.renames,
            replace_existing: self.replace_existing,
            data_type,
        }
    }

    pub fn count(&self, class: OperationClass) -> usize {
        self.counts.get(class.label()).copied().unwrap_or(0)
    }

    /// The strongest of the operations' classes (see [`CLASS_STRENGTHS`]): strong when system
    /// or program files change, weak when only temp files and caches are cleaned up; `None`
    /// when there is no operation at all.
    pub fn strength(&self) -> Option<Strength> {
        self.operations.iter().map(|o| o.class.strength()).max()
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

    fn classes_on(folders: &MachineFolders, text: &str) -> Vec<OperationClass> {
        let classifier = Classifier::new(folders);
        decode(&utf16(text)).operations.iter().map(|o| classifier.classify(o)).collect()
    }

    fn classes(text: &str) -> Vec<OperationClass> {
        classes_on(&MachineFolders::default(), text)
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
    fn a_windows_folder_inside_a_profile_is_not_the_system_root() {
        assert_eq!(
            classes(
                "\\??\\C:\\Users\\alice\\AppData\\Local\\Microsoft\\Windows\\INetCache\\IE\\X1\\a[1].js\0\0\\??\\C:\\Users\\alice\\AppData\\Local\\Microsoft\\OneDrive\\new.dll\0!\\??\\C:\\Users\\alice\\AppData\\Local\\Microsoft\\OneDrive\\FileSync.dll\0\\??\\D:\\Windows\\System32\\x.dll\0\0\\??\\C:\\Windows.old\\System32\\y.dll\0\0"
            ),
            vec![
                OperationClass::TempCleanup,
                OperationClass::UserProfile,
                OperationClass::Other,
                OperationClass::TempCleanup
            ]
        );
    }

    #[test]
    fn nt_forms_and_short_names_match_the_machine_folders() {
        assert_eq!(
            classes(
                "\\SystemRoot\\System32\\a.dll\0\0\\Device\\HarddiskVolume2\\Windows\\System32\\b.dll\0\0\\??\\C:\\PROGRA~1\\App\\c.dll\0\0\\??\\C:\\PROGRA~3\\Microsoft\\Windows Defender\\Definition Updates\\{1}\\mpengine.dll\0\0\\??\\C:\\Users\\ADMINI~1\\AppData\\Local\\Temp\\x\0\0\\??\\C:\\Program Files\\WindowsApps\\Deleted\\Pkg\\a.dll\0\0"
            ),
            vec![
                OperationClass::WindowsSystem,
                OperationClass::WindowsSystem,
                OperationClass::ProgramFiles,
                OperationClass::TempCleanup,
                OperationClass::TempCleanup,
                OperationClass::TempCleanup
            ]
        );
    }

    #[test]
    fn classes_follow_the_folders_the_machine_names() {
        let mut folders = MachineFolders::defaults("D:\\WINNT");
        folders.profiles_directories = vec!["E:\\Profiles".into()];
        folders.profiles.push("E:\\Special\\svc".into());
        assert_eq!(
            classes_on(
                &folders,
                "\\??\\C:\\Windows\\System32\\a.dll\0\0\\??\\D:\\WINNT\\System32\\a.dll\0\0\\??\\C:\\Users\\x\\a.dll\0\0\\??\\E:\\Profiles\\x\\a.dll\0\0\\??\\E:\\Special\\svc\\AppData\\Local\\Temp\\a\0\0\\SystemRoot\\a.dll\0\0"
            ),
            vec![
                OperationClass::Other,
                OperationClass::WindowsSystem,
                OperationClass::Other,
                OperationClass::UserProfile,
                OperationClass::TempCleanup,
                OperationClass::WindowsSystem
            ]
        );
    }

    #[test]
    fn google_update_folders_are_cleanup_only_when_deleted() {
        assert_eq!(
            classes("\\??\\C:\\Program Files (x86)\\Google\\Update\\1.3.34.11\0\0\\??\\C:\\x.new\0!\\??\\C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe\0\0"),
            vec![OperationClass::TempCleanup, OperationClass::ProgramFiles]
        );
    }

    #[test]
    fn every_class_has_a_strength_row_and_every_row_a_reason() {
        for class in OperationClass::ALL {
            assert_eq!(CLASS_STRENGTHS.iter().filter(|c| c.class == class).count(), 1, "{class:?}");
        }
        for row in PATH_CLASSES {
            assert!(!row.why.is_empty());
        }
        assert_eq!(OperationClass::TempCleanup.strength(), Strength::Weak);
        assert!(!OperationClass::TempCleanup.strength().decides());
    }

    #[test]
    fn strength_follows_the_most_important_class() {
        let folders = MachineFolders::default();
        let rated = |text: &str| ClassifiedRenames::new(decode(&utf16(text)), &folders);
        let temp_only = rated("\\??\\C:\\Windows\\Temp\\a.tmp\0\0");
        assert_eq!(temp_only.strength(), Some(Strength::Weak));
        let other = rated("\\??\\D:\\x\0\0\\??\\C:\\Windows\\Temp\\a\0\0");
        assert_eq!(other.strength(), Some(Strength::Medium));
        let system = rated("\\??\\C:\\Windows\\System32\\new.dll\0!\\??\\C:\\Windows\\System32\\x.dll\0\0");
        assert_eq!(system.strength(), Some(Strength::Strong));
        assert_eq!(system.count(OperationClass::WindowsSystem), 1);
        let cache = rated("\\??\\C:\\Users\\a\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Low\\x.dat\0\0");
        assert_eq!(cache.strength(), Some(Strength::Weak));
        let empty = rated("\0");
        assert_eq!(empty.strength(), None);
    }
}
