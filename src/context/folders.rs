//! The machine's own folders (system root, Program Files, ProgramData, user profiles), read
//! from SOFTWARE, and path matching against them: NT and DOS forms, case-insensitive, a prefix
//! match on whole path components, 8.3 short names resolved heuristically.
//!
//! A boot-time file operation is classed by *where* it lands. Matching fragments anywhere
//! (`\Windows\` inside `C:\Users\a\AppData\Local\Microsoft\Windows\INetCache\`) mistakes a
//! browser cache clean-up for a system file; only a prefix of the path that is one of this
//! machine's folders says what the file is.

use serde::Serialize;

use crate::load::reader::{Key, ReadError};

const CURRENT_VERSION_NT: &str = "Microsoft\\Windows NT\\CurrentVersion";
const CURRENT_VERSION: &str = "Microsoft\\Windows\\CurrentVersion";
const PROFILE_LIST: &str = "Microsoft\\Windows NT\\CurrentVersion\\ProfileList";
/// Upper bound on the ProfileList subkeys read (a domain machine has dozens, not thousands).
const PROFILES_READ_LIMIT: usize = 1000;

/// Where the folders came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FolderSource {
    /// Windows' defaults: no SOFTWARE hive was read.
    #[default]
    Defaults,
    /// SOFTWARE `CurrentVersion` and `ProfileList` (defaults for the values it lacks).
    Software,
}

/// The folders paths are classified against, in DOS form (`C:\Windows`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineFolders {
    pub source: FolderSource,
    /// SOFTWARE `Microsoft\Windows NT\CurrentVersion\SystemRoot`.
    pub system_root: String,
    /// `ProgramFilesDir`, `ProgramFilesDir (x86)`, `ProgramW6432Dir`, `ProgramFilesDir (Arm)`.
    pub program_files: Vec<String>,
    /// ProfileList `ProgramData`.
    pub program_data: String,
    /// ProfileList `ProfilesDirectory`: every folder directly below it is a profile.
    pub profiles_directories: Vec<String>,
    /// Each SID's `ProfileImagePath` (service profiles live under the system root).
    pub profiles: Vec<String>,
    /// Values that could not be used, e.g. an unknown `%VARIABLE%`.
    pub notes: Vec<String>,
}

impl Default for MachineFolders {
    fn default() -> Self {
        MachineFolders::defaults("C:\\Windows")
    }
}

impl MachineFolders {
    /// Windows' defaults for a system root (the drive of the others follows it). Both profile
    /// folders are listed because without SOFTWARE the Windows version is not known
    /// (`Documents and Settings` up to XP/2003).
    pub fn defaults(system_root: &str) -> MachineFolders {
        let drive = drive_of(system_root).unwrap_or("C:").to_string();
        MachineFolders {
            source: FolderSource::Defaults,
            system_root: system_root.to_string(),
            program_files: vec![format!("{drive}\\Program Files"), format!("{drive}\\Program Files (x86)")],
            program_data: format!("{drive}\\ProgramData"),
            profiles_directories: vec![format!("{drive}\\Users"), format!("{drive}\\Documents and Settings")],
            profiles: vec![
                format!("{system_root}\\System32\\config\\systemprofile"),
                format!("{system_root}\\ServiceProfiles\\LocalService"),
                format!("{system_root}\\ServiceProfiles\\NetworkService"),
            ],
            notes: Vec::new(),
        }
    }

    /// Reads the folders from SOFTWARE; values it lacks keep their defaults.
    pub fn read(root: &Key<'_>) -> Result<MachineFolders, ReadError> {
        let system_root = match root.subpath(CURRENT_VERSION_NT)? {
            Some(key) => text(&key, "SystemRoot")?,
            None => None,
        };
        let mut folders = MachineFolders::defaults(system_root.as_deref().unwrap_or("C:\\Windows"));
        folders.source = FolderSource::Software;
        if let Some(key) = root.subpath(CURRENT_VERSION)? {
            let mut program_files = Vec::new();
            for name in ["ProgramFilesDir", "ProgramFilesDir (x86)", "ProgramW6432Dir", "ProgramFilesDir (Arm)"] {
                if let Some(dir) = text(&key, name)? {
                    let dir = folders.expand(&dir, name);
                    if !program_files.iter().any(|d: &String| d.eq_ignore_ascii_case(&dir)) {
                        program_files.push(dir);
                    }
                }
            }
            if !program_files.is_empty() {
                folders.program_files = program_files;
            }
        }
        if let Some(list) = root.subpath(PROFILE_LIST)? {
            if let Some(dir) = text(&list, "ProgramData")? {
                folders.program_data = folders.expand(&dir, "ProgramData");
            }
            if let Some(dir) = text(&list, "ProfilesDirectory")? {
                folders.profiles_directories = vec![folders.expand(&dir, "ProfilesDirectory")];
            }
            let mut profiles = Vec::new();
            for profile in list.subkeys()?.into_iter().take(PROFILES_READ_LIMIT) {
                if let Some(path) = text(&profile, "ProfileImagePath")? {
                    let label = format!("{}\\ProfileImagePath", profile.name()?);
                    let path = folders.expand(&path, &label);
                    if !profiles.iter().any(|p: &String| p.eq_ignore_ascii_case(&path)) {
                        profiles.push(path);
                    }
                }
            }
            if !profiles.is_empty() {
                folders.profiles = profiles;
            }
        }
        Ok(folders)
    }

    /// Expands `%SystemDrive%`, `%SystemRoot%`, `%windir%`, `%ProgramFiles%`, `%ProgramData%`
    /// and `%ALLUSERSPROFILE%`; an unknown variable stays as written (and then matches
    /// nothing), with a note.
    fn expand(&mut self, text: &str, value: &str) -> String {
        let drive = drive_of(&self.system_root).unwrap_or("C:").to_string();
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('%') {
            let Some(length) = rest[start + 1..].find('%') else { break };
            let name = &rest[start + 1..start + 1 + length];
            let replacement = match name.to_ascii_lowercase().as_str() {
                "systemdrive" => Some(drive.clone()),
                "systemroot" | "windir" => Some(self.system_root.clone()),
                "programfiles" => self.program_files.first().cloned(),
                "programdata" | "allusersprofile" => Some(self.program_data.clone()),
                _ => None,
            };
            out.push_str(&rest[..start]);
            match replacement {
                Some(value) => out.push_str(&value),
                None => {
                    self.notes.push(format!("{value}: %{name}% is not a machine-wide variable; {text:?} is not used"));
                    out.push_str(&rest[start..start + length + 2]);
                }
            }
            rest = &rest[start + length + 2..];
        }
        out.push_str(rest);
        out.trim_end_matches('\\').to_string()
    }
}

fn text(key: &Key<'_>, name: &str) -> Result<Option<String>, ReadError> {
    Ok(key
        .value(name)?
        .map(|v| v.typed())
        .transpose()?
        .and_then(|d| d.as_str().map(str::to_string))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty()))
}

/// `C:` of `C:\Windows`.
fn drive_of(path: &str) -> Option<&str> {
    let drive = path.get(..2)?;
    (drive.as_bytes()[0].is_ascii_alphabetic() && drive.as_bytes()[1] == b':').then_some(drive)
}

/// A path reduced to what matching needs: its drive and its components, lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPath {
    /// `Some("c:")`; `None` when the form names no drive letter (`\Device\HarddiskVolume2\`,
    /// `\??\Volume{…}\`, a rooted path without drive), which then matches a folder on any drive.
    pub drive: Option<String>,
    pub parts: Vec<String>,
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// Parses a DOS or NT path. `\SystemRoot\` becomes the machine's system root. UNC paths and
/// relative paths give `None`: they are never one of the machine's own folders.
pub fn parse_path(path: &str, system_root: &str) -> Option<ParsedPath> {
    let unified = path.replace('/', "\\");
    let mut rest = unified.as_str();
    for prefix in ["\\??\\", "\\\\?\\", "\\\\.\\", "\\DosDevices\\", "\\GLOBAL??\\"] {
        if let Some(after) = strip_prefix_ignore_case(rest, prefix) {
            rest = after;
            break;
        }
    }
    if strip_prefix_ignore_case(rest, "UNC\\").is_some() || rest.starts_with("\\\\") {
        return None;
    }
    let system_root_tail =
        strip_prefix_ignore_case(rest, "\\SystemRoot").filter(|after| after.is_empty() || after.starts_with('\\'));
    if let Some(after) = system_root_tail {
        let root = parse_path(system_root, "C:\\Windows")?;
        let mut parts = root.parts;
        parts.extend(components(after));
        return Some(ParsedPath { drive: root.drive, parts });
    }
    let (drive, tail) = if let Some(after) = strip_prefix_ignore_case(rest, "\\Device\\") {
        // \Device\HarddiskVolume2\Windows\…: the volume's drive letter is not recorded
        // offline, so the path is compared on any drive.
        let (_volume, after) = after.split_once('\\').unwrap_or((after, ""));
        (None, after)
    } else if strip_prefix_ignore_case(rest, "Volume{").is_some() {
        let (_volume, after) = rest.split_once('\\').unwrap_or((rest, ""));
        (None, after)
    } else if let Some(drive) = drive_of(rest) {
        let after = &rest[2..];
        if !(after.is_empty() || after.starts_with('\\')) {
            return None; // "C:foo" is relative to the drive's current directory
        }
        (Some(drive.to_ascii_lowercase()), after)
    } else if rest.starts_with('\\') {
        (None, rest)
    } else {
        return None;
    };
    Some(ParsedPath { drive, parts: components(tail) })
}

fn components(tail: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for part in tail.split('\\') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other.to_lowercase()),
        }
    }
    parts
}

/// A component that looks like an 8.3 alias: up to 6 characters, `~`, digits, an optional
/// extension of up to 3. Returns (base, number).
fn short_alias(component: &str) -> Option<(&str, usize)> {
    let (stem, _extension) = match component.rsplit_once('.') {
        Some((stem, ext)) if ext.chars().count() <= 3 => (stem, Some(ext)),
        _ => (component, None),
    };
    let (base, number) = stem.rsplit_once('~')?;
    let base_len = base.chars().count();
    if base_len == 0 || base_len > 6 || number.is_empty() || number.len() > 6 {
        return None;
    }
    if !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((base, number.parse().ok()?))
}

/// The characters a long name keeps in its short form: no spaces or dots.
fn short_form_stem(long: &str) -> String {
    let stem = match long.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => stem,
        _ => long,
    };
    stem.chars().filter(|c| *c != ' ' && *c != '.').map(|c| if "+,;=[]".contains(c) { '_' } else { c }).collect()
}

/// Resolves 8.3 aliases in `path` against the known long names. Heuristic (the true mapping is
/// only in the file system): `PROGRA~2` is the 2nd, in alphabetical order, of the known names
/// at that place whose short form starts with `PROGRA` — the order in which a standard
/// installation creates `Program Files`, `Program Files (x86)` and `ProgramData`. An alias
/// with no such candidate is kept as it is (and matches only a `*` component).
pub fn resolve_short_names(path: &mut ParsedPath, known: &[ParsedPath]) {
    for index in 0..path.parts.len() {
        let Some((base, number)) = short_alias(&path.parts[index]) else { continue };
        let mut candidates: Vec<&String> = known
            .iter()
            .filter(|k| k.parts.len() > index)
            .filter(|k| path.drive.is_none() || k.drive.is_none() || k.drive == path.drive)
            .filter(|k| k.parts[..index] == path.parts[..index])
            .map(|k| &k.parts[index])
            .filter(|long| long.as_str() != "*" && short_form_stem(long).starts_with(base))
            .collect();
        candidates.sort();
        candidates.dedup();
        if let Some(long) = number.checked_sub(1).and_then(|n| candidates.get(n)) {
            path.parts[index] = (*long).clone();
        }
    }
}

/// True when `prefix` names `path` or a folder above it: same drive (or either names none),
/// and every component equal, `*` matching any one.
pub fn starts_with(path: &ParsedPath, prefix: &ParsedPath) -> bool {
    let drive_matches = match (&path.drive, &prefix.drive) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    drive_matches
        && prefix.parts.len() <= path.parts.len()
        && prefix.parts.iter().zip(&path.parts).all(|(want, got)| want == "*" || want == got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(path: &str) -> ParsedPath {
        parse_path(path, "C:\\Windows").unwrap()
    }

    #[test]
    fn nt_and_dos_forms_parse_alike() {
        let dos = parsed("C:\\Windows\\System32\\x.dll");
        for form in [
            "\\??\\C:\\Windows\\System32\\x.dll",
            "\\\\?\\c:\\WINDOWS\\system32\\X.DLL",
            "\\DosDevices\\C:\\Windows\\System32\\x.dll",
            "\\SystemRoot\\System32\\x.dll",
            "C:/Windows//System32/./x.dll",
        ] {
            assert_eq!(parsed(form), dos, "{form}");
        }
        let volume = parsed("\\Device\\HarddiskVolume3\\Windows\\System32\\x.dll");
        assert_eq!(volume.drive, None);
        assert_eq!(volume.parts, dos.parts);
        assert_eq!(parse_path("\\??\\UNC\\server\\share\\x", "C:\\Windows"), None);
        assert_eq!(parse_path("relative\\x", "C:\\Windows"), None);
        assert_eq!(parse_path("C:relative", "C:\\Windows"), None);
        assert_eq!(parsed("\\SystemRoot\\x").parts, ["windows", "x"]);
        assert_eq!(parse_path("\\SystemRootX\\x", "C:\\Windows").map(|p| p.drive), Some(None));
    }

    #[test]
    fn prefix_match_is_on_whole_components() {
        let windows = parsed("C:\\Windows");
        assert!(starts_with(&parsed("C:\\WINDOWS\\System32\\x"), &windows));
        assert!(starts_with(&parsed("C:\\Windows"), &windows));
        assert!(!starts_with(&parsed("C:\\Windows.old\\System32\\x"), &windows));
        assert!(!starts_with(&parsed("D:\\Windows\\System32\\x"), &windows));
        assert!(!starts_with(&parsed("C:\\Users\\a\\AppData\\Local\\Microsoft\\Windows\\INetCache\\x"), &windows));
        assert!(starts_with(&parsed("\\Device\\HarddiskVolume2\\Windows\\x"), &windows));
        assert!(starts_with(&parsed("C:\\Users\\bob\\x"), &parsed("C:\\Users\\*")));
        assert!(!starts_with(&parsed("C:\\Users"), &parsed("C:\\Users\\*")));
    }

    #[test]
    fn short_names_resolve_in_alphabetical_order_of_known_folders() {
        let known = vec![
            parsed("C:\\Program Files"),
            parsed("C:\\Program Files (x86)"),
            parsed("C:\\ProgramData"),
            parsed("C:\\Users\\*"),
        ];
        let resolve = |path: &str| {
            let mut p = parsed(path);
            resolve_short_names(&mut p, &known);
            p.parts.join("\\")
        };
        assert_eq!(resolve("C:\\PROGRA~1\\App\\a.dll"), "program files\\app\\a.dll");
        assert_eq!(resolve("C:\\PROGRA~2\\App"), "program files (x86)\\app");
        assert_eq!(resolve("C:\\PROGRA~3\\Microsoft"), "programdata\\microsoft");
        assert_eq!(resolve("C:\\PROGRA~4\\x"), "progra~4\\x");
        // The profile folder's own alias stays as it is: `*` matches it.
        assert_eq!(resolve("C:\\Users\\ADMINI~1\\AppData"), "users\\admini~1\\appdata");
        assert!(short_alias("SET1A01.tmp").is_none());
        assert_eq!(short_alias("docume~1"), Some(("docume", 1)));
    }

    #[test]
    fn environment_variables_expand() {
        let mut folders = MachineFolders::defaults("D:\\WINNT");
        assert_eq!(folders.expand("%SystemDrive%\\Users", "ProfilesDirectory"), "D:\\Users");
        assert_eq!(
            folders.expand("%systemroot%\\ServiceProfiles\\LocalService\\", "p"),
            "D:\\WINNT\\ServiceProfiles\\LocalService"
        );
        assert_eq!(folders.expand("%USERPROFILE%\\x", "p"), "%USERPROFILE%\\x");
        assert_eq!(folders.notes.len(), 1);
        assert_eq!(folders.program_files[0], "D:\\Program Files");
    }
}
